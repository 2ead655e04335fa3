"""HTTP: one signed POST through a connection pool that refuses link-local and metadata addresses
(app.providers.netguard: the same rule as the providers' connections)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import urllib3

from app.providers.netguard import BlockedDestination, checked_pool_manager, host_refusal
from app.providers.netguard import is_blocked_address as is_blocked_address  # the package's surface
from app.services.outbound_webhooks.shared import SEND_THREADS
from app.services.outbound_webhooks.signing import payload_bytes, sign

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RESPONSE_KEEP = 1024  # bytes of the answer kept for the log
DRAIN_LIMIT = 64 * 1024  # read at most this much more so the connection can be reused
USER_AGENT = "Herald-Webhooks/1"


@cache
def http_pool() -> urllib3.PoolManager:
    """One PoolManager per process, shared by every delivery (and thread): connections are kept alive."""
    return checked_pool_manager(num_pools=64, maxsize=SEND_THREADS, block=False, retries=False)


os.register_at_fork(after_in_child=http_pool.cache_clear)  # a forked job must not share its parent's sockets


@dataclass
class Outcome:
    """What one POST came to."""

    delivered: bool = False
    code: int | None = None
    body: str | None = None
    error: str | None = None
    duration_ms: int | None = None
    unreachable: bool = False  # no answer at all: the endpoint's other deliveries in this run need not try
    permanent: bool = False  # never worth retrying (a refused destination)


def storable_text(value: str | bytes | None, limit: int = 2000) -> str | None:
    """Text the database can store: decoded, without NUL, bounded."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.replace("\x00", "\ufffd")[:limit]


def _refusal(url: str) -> str | None:
    """Why a URL is never sent to, checked before connecting (the peer check covers names)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "The URL is not valid."
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "Only http:// and https:// URLs receive webhooks."
    return host_refusal(host)


def post(url: str, secret: str, delivery_id: int, event_type: str, payload: dict) -> Outcome:
    """POST one signed payload; never raises for a network problem. Safe to call from any thread."""
    refusal = _refusal(url)
    if refusal:
        return Outcome(error=refusal, unreachable=True, permanent=True)
    body = payload_bytes(payload)
    headers = _signed_headers(secret, delivery_id, event_type, body)
    started = time.monotonic()
    try:
        resp = _send(url, body, headers)
    except Exception as exc:  # noqa: BLE001  (every failure to get an answer is an outcome to record)
        return Outcome(
            error=_describe_failure(exc, url),
            duration_ms=_ms(started),
            unreachable=True,
            permanent=isinstance(exc, BlockedDestination),
        )
    try:
        answer = _read_answer(resp)
    except Exception as exc:  # noqa: BLE001
        resp.close()
        return Outcome(code=resp.status, error=_describe_failure(exc, url), duration_ms=_ms(started))
    return _answered(resp, answer, _ms(started))


def _signed_headers(secret: str, delivery_id: int, event_type: str, body: bytes) -> dict:
    ts = int(time.time())  # the real clock, whatever `now` drives the schedule: receivers check it
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Herald-Event": event_type,
        "X-Herald-Delivery": str(delivery_id),
        "X-Herald-Timestamp": str(ts),
        "X-Herald-Signature": sign(secret, ts, body),
    }


def _send(url: str, body: bytes, headers: dict):
    """One attempt, no redirects, the answer left unread (so only its start is read)."""
    return http_pool().request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        retries=False,
        redirect=False,
        preload_content=False,
    )


def _answered(resp, answer: bytes, duration_ms: int) -> Outcome:
    """The outcome of a request the endpoint answered: delivered on 2xx, else why not."""
    outcome = Outcome(code=resp.status, body=storable_text(answer[:RESPONSE_KEEP]), duration_ms=duration_ms)
    if 200 <= resp.status < 300:
        outcome.delivered = True
    elif 300 <= resp.status < 400:
        where = resp.headers.get("Location")
        outcome.error = f"The endpoint answered HTTP {resp.status}" + (
            f" (to {storable_text(where, 300)})" if where else ""
        )
        outcome.error += ": redirects are not followed, update the URL."
    else:
        outcome.error = f"The endpoint answered HTTP {resp.status}."
    return outcome


def _read_answer(resp) -> bytes:
    """The start of the answer; the connection goes back to the pool unless the answer is large."""
    data = resp.read(RESPONSE_KEEP)
    if not resp.closed:
        resp.read(DRAIN_LIMIT)  # a small remainder is read so the connection can be reused
    if not resp.closed:
        resp.close()  # a large answer: drop the connection rather than read it all
    resp.release_conn()
    return data


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe_failure(exc: Exception, url: str) -> str:
    host = urlsplit(url).hostname or url
    if isinstance(exc, BlockedDestination):
        return str(exc)
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
        exc, urllib3.exceptions.NewConnectionError
    ):
        return f"Timed out connecting to {host} (after {CONNECT_TIMEOUT:g} s)."
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return f"Timed out: {host} sent no answer within {READ_TIMEOUT:g} s."
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return f"Could not resolve {host}."
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"Could not connect to {host}: {exc.__cause__ or exc}"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS with {host} failed: {exc}"
    return f"The connection to {host} failed: {exc}"
