"""One DNS resolver for every lookup Herald makes (MX, and later SPF, DKIM, DMARC, PTR, blocklists).

It asks the servers in `DNS_NAMESERVERS` (comma-separated `host[:port]`; empty: the system's
resolver) and keeps answers for their TTL, so a send to 20,000 Gmail addresses asks about
gmail.com once. A name that does not exist, or has no record of that type, is an empty answer;
a server that does not answer is `DnsUnavailable`, never "no record" (a verification must not
fail a domain because the resolver was down).
"""

import threading
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.resolver
from flask import current_app

_lock = threading.Lock()
_resolvers: dict[tuple, dns.resolver.Resolver] = {}


class DnsUnavailable(Exception):
    """No DNS server answered in time (or every one refused): the answer is not known."""


@dataclass(frozen=True)
class Answer:
    """The records of one name and type, as text (`10 mx.example.com.` for MX), with their TTL."""

    name: str
    rdtype: str
    records: tuple
    ttl: int


def parse_nameservers(value: str) -> list[tuple[str, int]]:
    """`"10.0.0.2, 127.0.0.1:5353, [::1]:53"` -> [(host, port), ...]; raises ValueError on a bad entry."""
    servers = []
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            if rest:
                port = _port(rest.removeprefix(":"), item)
        elif item.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
            host, raw = item.split(":")
            port = _port(raw, item)
        if not host:
            raise ValueError(f"DNS_NAMESERVERS: {item!r} has no host.")
        servers.append((host, port))
    return servers


def _port(raw: str, item: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"DNS_NAMESERVERS: {item!r} has no valid port.")
    return int(raw)


def make_resolver(nameservers: str = "", timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver asking `nameservers` (or the system's), caching answers for their TTL."""
    servers = parse_nameservers(nameservers)
    resolver = dns.resolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [host for host, _ in servers]
        resolver.nameserver_ports = {host: port for host, port in servers}
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    resolver.cache = dns.resolver.LRUCache(50_000)
    return resolver


def resolver() -> dns.resolver.Resolver:
    """The process's resolver for the app's settings (one per setting, shared by every thread)."""
    cfg = current_app.config
    key = (cfg.get("DNS_NAMESERVERS", ""), float(cfg.get("DNS_TIMEOUT", 5.0)))
    found = _resolvers.get(key)
    if found is None:
        with _lock:
            found = _resolvers.setdefault(key, make_resolver(*key))
    return found


def fresh_resolver() -> dns.resolver.Resolver:
    """A resolver with the app's settings and a cache of its own, for one verification: a record an
    operator has just published is seen now, not once an earlier answer's TTL has run out."""
    cfg = current_app.config
    return make_resolver(cfg.get("DNS_NAMESERVERS", ""), float(cfg.get("DNS_TIMEOUT", 5.0)))


def lookup(name: str, rdtype: str, using: dns.resolver.Resolver | None = None) -> Answer:
    """The `rdtype` records of `name`; empty when the name or the type does not exist."""
    name = name.strip().rstrip(".").lower()
    try:
        result = (using or resolver()).resolve(dns.name.from_text(name), rdtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Answer(name, rdtype, (), 0)
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise DnsUnavailable(f"No DNS answer for {name} ({rdtype}): {exc}") from None
    except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong) as exc:
        raise ValueError(f"{name!r} is not a domain name: {exc}") from None
    return Answer(name, rdtype, tuple(r.to_text() for r in result), result.rrset.ttl)
