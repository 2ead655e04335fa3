"""A real DNS server on loopback (dnslib) playing whatever zone a test sets.

    with ZoneServer() as dns_server:
        dns_server.set("gmail.com. 300 IN MX 5 gmail-smtp-in.l.google.com.")
        app.config["DNS_NAMESERVERS"] = dns_server.address   # "127.0.0.1:<port>"

Names not in the zone answer NXDOMAIN; a name with records of other types answers NOERROR with
no records; a CNAME is followed to its target within the zone (what a recursive resolver hands a
stub); a name given to `refuse` answers REFUSED (a lookup that fails). `queries` counts what
reached the server, so a test can see the cache at work.
"""

import threading
from collections import Counter

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support import free_port


class _Zone(BaseResolver):
    def __init__(self):
        self.records: list[RR] = []
        self.refused: set[str] = set()
        self.queries: Counter = Counter()
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        name = str(qname).rstrip(".").lower()
        with self.lock:
            self.queries[(name, qtype)] += 1
            same_name = [rr for rr in self.records if rr.rname == qname]
            refused = name in self.refused
        if refused:
            reply.header.rcode = RCODE.REFUSED
            return reply
        if not same_name:
            reply.header.rcode = RCODE.NXDOMAIN
        for _ in range(8):  # a CNAME chain is followed inside the zone, as a recursive resolver would
            cname = next((rr for rr in same_name if QTYPE[rr.rtype] == "CNAME"), None)
            if cname is None or qtype == "CNAME" or any(QTYPE[rr.rtype] == qtype for rr in same_name):
                break
            reply.add_answer(cname)
            with self.lock:
                same_name = [rr for rr in self.records if rr.rname == cname.rdata.label]
            if not same_name:
                reply.header.rcode = RCODE.NXDOMAIN
        for rr in same_name:
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
        return reply


class ZoneServer:
    """A UDP DNS server on 127.0.0.1 answering from records set by the test."""

    def __init__(self):
        self.zone = _Zone()
        self.port = free_port()
        self.server = DNSServer(
            self.zone, port=self.port, address="127.0.0.1", logger=DNSLogger(log="-request,-reply,-truncated")
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> Counter:
        return self.zone.queries

    def set(self, *zone_lines: str) -> None:
        """Replace the zone with these records (zone-file lines)."""
        records = [rr for line in zone_lines for rr in RR.fromZone(line)]
        with self.zone.lock:
            self.zone.records = records

    def refuse(self, *names: str) -> None:
        """Answer REFUSED for these names (in DNS form: `xn--…` for an IDN), whatever the zone holds."""
        with self.zone.lock:
            self.zone.refused = {n.rstrip(".").lower() for n in names}

    def __enter__(self):
        # dnslib's start_thread polls for shutdown every 0.5 s, which every stop then waits out.
        self.server.thread = threading.Thread(
            target=self.server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.server.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.server.server.server_close()
