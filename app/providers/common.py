"""Small pieces every HTTP provider module shares: reading webhook fields and network failures."""

import hashlib
import json

import urllib3
from collections.abc import Mapping
from datetime import UTC, datetime

from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from app.providers import SendResult, TransportUnavailable


CONNECT_TIMEOUT = 5.0  # seconds to open a connection; the read timeout is the caller's


def pool(timeout: float) -> urllib3.PoolManager:
    """One reused connection pool per transport.

    retries=False: an automatic retry after a read timeout could send a message twice; the
    send engine decides about retries and failover. Redirects are not followed either.
    """
    return urllib3.PoolManager(
        num_pools=2,
        maxsize=4,
        retries=False,
        timeout=urllib3.Timeout(connect=min(timeout, CONNECT_TIMEOUT), read=timeout),
    )


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
    if isinstance(exc, ConnectTimeoutError | SSLError | LocationValueError):
        raise TransportUnavailable(f"cannot reach {provider}: {describe(exc)}") from exc
    if isinstance(exc, ReadTimeoutError):
        detail = f"no answer from {provider} within {timeout:g} s: it may have accepted the message"
    else:
        detail = f"connection to {provider} lost during the hand-off ({exc}): it may have accepted the message"
    return SendResult(False, failure="unknown", detail=detail)
