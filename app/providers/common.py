"""Small pieces every HTTP provider module shares: reading webhook fields and network failures."""

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from app.providers import SendResult, TransportUnavailable
from app.providers.netguard import BlockedDestination, base_url_problem, checked_pool_manager

CONNECT_TIMEOUT = 5.0  # seconds to open a connection; the read timeout is the caller's


def pool(timeout: float) -> urllib3.PoolManager:
    """One reused connection pool per transport, refusing link-local and metadata addresses (netguard).

    retries=False: an automatic retry after a read timeout could send a message twice; the
    send engine decides about retries and failover. Redirects are not followed either.
    """
    return checked_pool_manager(
        num_pools=2,
        maxsize=4,
        retries=False,
        timeout=urllib3.Timeout(connect=min(timeout, CONNECT_TIMEOUT), read=timeout),
    )


class ApiBase:
    """A transport's API base URL, whether it may be used, and whether its error answers may be shown.

    An answer's text is shown (in Test results and send failures) only from the provider's own
    API host, or a host the operator listed: from any other host it could be an internal
    service's page that the base URL was pointed at to read it.
    """

    def __init__(self, url: str | None, default: str, official_hosts, answer_hosts=()):
        self.url = (url or default).rstrip("/")
        self.refusal = base_url_problem(self.url)
        host = (urlsplit(self.url).hostname or "") if not self.refusal else ""
        self.host = host
        self.shows_answers = bool(host) and (host in official_hosts or host in set(answer_hosts or ()))

    def require_usable(self, provider: str) -> None:
        """Raise TransportUnavailable when the saved base URL breaks the rules (e.g. saved before them)."""
        if self.refusal:
            raise TransportUnavailable(f"the {provider} API base URL is not usable: {self.refusal}")


def hidden_answer(resp: urllib3.BaseHTTPResponse, provider: str) -> str:
    """What is said of an error answer from a host that is not the provider's own API host."""
    return f"HTTP {resp.status} (the answer's text is shown only from {provider}'s own API host)"


def header(headers: Mapping, name: str) -> str | None:
    """A request header by name, whatever its case (werkzeug Headers, or a plain dict)."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def as_str(value) -> str | None:
    """A scalar field as text; None for a missing value or a nested object."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def angle(message_id: str | None) -> str | None:
    """A Message-ID in its header form, "<id@host>"."""
    if not message_id or not message_id.strip():
        return None
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value}>"


def epoch_time(timestamp) -> datetime | None:
    """Unix seconds (an int, a float or their text) as an aware UTC datetime; None if unreadable."""
    try:
        return datetime.fromtimestamp(float(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


_UNIX_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?")


def signed_timestamp(value) -> float | None:
    """A webhook signature's Unix time, written as plain digits; None for anything else.

    float() alone would take "nan", "inf" and "1e400", and NaN compares False with every bound,
    so a signature made over "nan" would look fresh forever.
    """
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _UNIX_SECONDS.fullmatch(text):
        return None
    stamp = float(text)
    return stamp if math.isfinite(stamp) else None


def digest(obj) -> str:
    """A stable id for an event that carries none: the same payload always gives the same id."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def loads_or_none(data: bytes):
    """JSON, or None for a body that is not JSON (an error page, an empty answer)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def describe(exc: Exception) -> str:
    """A network failure in words a person can act on, not urllib3's object reprs."""
    text = str(exc)
    if isinstance(exc, BlockedDestination):
        return text
    if isinstance(exc, NameResolutionError):
        return f"the host name does not resolve ({exc.conn.host})"
    if isinstance(exc, NewConnectionError):  # (a ConnectTimeoutError subclass: test it first)
        if "refused" in text.lower():
            return f"connection refused by {exc.conn.host}:{exc.conn.port}"
        return f"cannot connect to {exc.conn.host}:{exc.conn.port}"
    if isinstance(exc, ConnectTimeoutError):
        return "no connection within the timeout"
    if isinstance(exc, SSLError):
        return f"TLS failed: {exc}"
    return text


def lost(exc: Exception, timeout: float, provider: str) -> SendResult:
    """A network failure during a send: TransportUnavailable if nothing can have left, else an unknown result.

    Connect errors (refused, DNS, connect timeout) and TLS handshake errors happen before the
    request is written. After that, a read timeout or a dropped connection leaves the hand-off
    unknown: the provider may have queued the message, so it must not be sent again.
    """
    if isinstance(exc, ConnectTimeoutError | SSLError | LocationValueError | BlockedDestination):
        raise TransportUnavailable(f"cannot reach {provider}: {describe(exc)}") from exc
    if isinstance(exc, ReadTimeoutError):
        detail = f"no answer from {provider} within {timeout:g} s: it may have accepted the message"
    else:
        # (urllib3's ProtocolError reads as nested reprs: the words below say all a person can act on)
        detail = f"the connection to {provider} was lost during the hand-off: it may have accepted the message"
    return SendResult(False, failure="unknown", detail=detail)
