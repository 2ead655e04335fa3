"""A real DNS server on loopback (dnslib) playing whatever zone a test sets.

    with ZoneServer() as dns_server:
        dns_server.set("gmail.com. 300 IN MX 5 gmail-smtp-in.l.google.com.")
        app.config["DNS_NAMESERVERS"] = dns_server.address   # "127.0.0.1:<port>"

Names not in the zone answer NXDOMAIN; a name with records of other types answers NOERROR with
no records. `queries` counts what reached the server, so a test can see the cache at work.
"""

import threading
from collections import Counter

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support import free_port


class _Zone(BaseResolver):
    def __init__(self):
        self.records: list[RR] = []
        self.queries: Counter = Counter()
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        with self.lock:
            self.queries[(str(qname).rstrip(".").lower(), qtype)] += 1
            same_name = [rr for rr in self.records if rr.rname == qname]
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

    def __enter__(self):
        self.server.start_thread()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.server.server.server_close()
