"""Where Herald may connect: no link-local, cloud metadata, unspecified or multicast address.

A provider's API base URL, an SES endpoint, an SMTP host and a webhook endpoint URL are typed
by people; each could point Herald (with the provider's credentials) at the cloud metadata
service. This module is the one rule for all of them, applied twice: when a URL or host is
saved (every spelling of an address is normalised first), and on the address actually
connected to, since a name can resolve elsewhere after it was saved.

Loopback and private networks stay allowed: they are the operator's own machines (a local
relay, a mail catcher, a test server), as for outbound webhooks.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

LINK_LOCAL = "a link-local/metadata address"
METADATA = "a cloud metadata address"
UNSPECIFIED = "the unspecified address (it means this machine)"
MULTICAST = "a multicast or broadcast address"
# (network, what it is). IPv4 forms embedded in IPv6 are unwrapped before this is read.
BLOCKED_NETWORKS = tuple(
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("169.254.0.0/16", LINK_LOCAL),  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle metadata
        ("fe80::/10", LINK_LOCAL),
        ("100.100.100.200/32", METADATA),  # Alibaba Cloud
        ("192.0.0.192/32", METADATA),  # Oracle Cloud (classic)
        ("fd00:ec2::254/128", METADATA),  # AWS over IPv6
        ("0.0.0.0/8", UNSPECIFIED),
        ("::/128", UNSPECIFIED),
        ("224.0.0.0/4", MULTICAST),
        ("255.255.255.255/32", MULTICAST),
        ("ff00::/8", MULTICAST),
    )
)
# Names the cloud providers give their metadata service.
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# An IPv4 address in any spelling inet_aton takes: 1 to 4 parts, each decimal, octal (0...) or hex (0x...).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*"
)
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?")


class BlockedDestination(urllib3.exceptions.HTTPError):
    """The destination is a link-local, metadata, unspecified or multicast address: nothing is sent."""


def _unwrap(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address inside an IPv6 one (mapped, NAT64, 6to4, IPv4-compatible), else the address."""
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: and ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_kind(address) -> str | None:
    """What kind of refused address this is (e.g. "a link-local/metadata address"), or None if allowed."""
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    for candidate in {ip, _unwrap(ip)}:
        for net, kind in BLOCKED_NETWORKS:
            if candidate.version == net.version and candidate in net:
                return kind
    return None


def is_blocked_address(address) -> bool:
    """True for a link-local, metadata, unspecified or multicast IP address, in IPv4 or IPv6 form."""
    return address_kind(address) is not None


def host_address(host: str):
    """The IP address a host string stands for, however it is spelled (0xA9FEA9FE, 2852039166,
    0251.0376.0251.0376, [::ffff:169.254.169.254]); None for a name. ValueError for a host
    that looks numeric but is no address (the resolver could read it either way)."""
    text = host.strip().strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(text) or _DIGITS.fullmatch(text.rsplit(".", 1)[-1]):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            raise ValueError(host) from None
    return None


def is_loopback_host(host: str) -> bool:
    """localhost (and *.localhost), 127.0.0.0/8 or ::1 in any spelling: this machine."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = host_address(name)
    except ValueError:
        return False
    return ip is not None and _unwrap(ip).is_loopback


def host_refusal(host: str) -> str | None:
    """Why Herald refuses to connect to this host (a sentence), or None. Names are checked again
    on the address they resolve to when Herald connects."""
    if not host or not host.strip():
        return "Give a host name."
    if not host.isascii():
        return "Write the host name in ASCII (an international name in its xn-- form)."
    try:
        ip = host_address(host)
    except ValueError:
        return f"{host} looks like an IP address but is not a valid one."
    if ip is not None:
        kind = address_kind(ip)
        return f"{host} is {kind}; connections there are refused." if kind else None
    name = host.strip().rstrip(".").lower()
    if name in METADATA_NAMES:
        return f"{host} is {METADATA}; connections there are refused."
    if not _HOST_NAME.fullmatch(name):
        return f"{host} is not a valid host name."
    return None


def base_url_problem(url: str) -> str | None:
    """Why an API base URL is refused (a sentence), or None: https (http only to this machine),
    a host that passes host_refusal, no user or password, no ?query or #fragment, a plain path."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "A URL contains no spaces or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return "This is not a valid URL, e.g. https://api.eu.mailgun.net."
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "An https:// URL with a host name, e.g. https://api.eu.mailgun.net."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "Leave any user or password out of the URL: the credentials have their own fields."
    if port == 0:
        return "The port is a number from 1 to 65535."
    if "?" in url or "#" in url:
        return "The URL ends with its path: no ?query or #fragment (Herald adds the API's own paths)."
    if not _PLAIN_PATH.fullmatch(parts.path):
        return "The path, if any, is a plain prefix such as /v3 (letters, digits, - _ . ~ between slashes)."
    refusal = host_refusal(parts.hostname)
    if refusal:
        return refusal
    if parts.scheme.lower() != "https" and not is_loopback_host(parts.hostname):
        return "Use https:// (plain http:// is allowed only for a server on this machine, such as 127.0.0.1)."
    return None


def check_resolved(host: str, port: int) -> None:
    """Raise BlockedDestination if the name resolves to a refused address (before any packet is sent).
    A name that does not resolve is left to the connection, which reports it in its own words."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    for info in infos:
        _refuse(host, info[4][0])


def check_peer(sock: socket.socket, host: str) -> None:
    """Raise BlockedDestination (closing the socket) if it is connected to a refused address.
    The backstop for DNS that answers differently from one lookup to the next."""
    try:
        _refuse(host, sock.getpeername()[0])
    except BlockedDestination:
        sock.close()
        raise


def _refuse(host: str, address: str) -> None:
    kind = address_kind(address)
    if kind:
        raise BlockedDestination(f"{host} resolves to {address}, {kind}: refused.")


class PeerCheck:
    """Mixin for urllib3 connections: the destination is checked before connecting and on the peer."""

    def _new_conn(self):
        check_resolved(self.host, self.port)
        sock = super()._new_conn()
        check_peer(sock, self.host)
        return sock


class CheckedHTTPConnection(PeerCheck, HTTPConnection):
    pass


class CheckedHTTPSConnection(PeerCheck, HTTPSConnection):
    pass


class CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


def checked_pool_manager(**kwargs) -> urllib3.PoolManager:
    """A urllib3 PoolManager whose every connection passes check_resolved and check_peer."""
    manager = urllib3.PoolManager(**kwargs)
    manager.pool_classes_by_scheme = {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}
    return manager
