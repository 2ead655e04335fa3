"""Outbound webhooks: a workspace's URLs receive its normalized events as signed JSON.

How an event travels:

1. `fan_out(workspace_id, event_ids)` (called by the event ingestion after it stored the events)
   writes one pending WebhookDelivery per event and active endpoint subscribed to its type, in
   one INSERT ... SELECT on PostgreSQL. The payload is a snapshot: it does not change when the
   event row does, and a redelivery sends the same bytes' worth of data.
2. `deliver_due()` (the `webhooks` queue: every 10 s from the scheduler, and promptly after
   `enqueue_delivery_run`) claims due deliveries with FOR UPDATE SKIP LOCKED, commits the claim,
   POSTs them and records each outcome. Delivery is at least once: a worker that dies between
   the POST and the record leaves its claim to expire (LEASE), and the delivery is sent again.
   Receivers deduplicate on the payload's `id` (or on X-Herald-Delivery for one attempt chain).

Payload (the JSON body of every POST):

    {"id": "evt_123", "type": "bounce",
     "occurred_at": "2025-05-01T10:00:00.000000+00:00", "created_at": "2025-05-01T10:00:01.250000+00:00",
     "campaign_id": 7, "recipient_id": 42, "message_id": null, "email": "ann@example.com",
     "subscriber_id": 9, "provider_id": 1, "data": {...}}

`type` is one of app.providers.EVENT_TYPES (or `test` for "Send test event", whose id is
`evt_test_<hex>`); `message_id` is Herald's transactional message id (null for campaign mail);
`data` is the event's details as stored (bounce diagnostic, clicked URL, ...). Times are UTC.

Headers: `Content-Type: application/json`, `User-Agent: Herald-Webhooks/1`, `X-Herald-Event:
<type>`, `X-Herald-Delivery: <delivery id>`, `X-Herald-Timestamp: <unix seconds>` and
`X-Herald-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + raw body)>`. A receiver
recomputes the HMAC over the raw bytes it received, compares in constant time and refuses a
timestamp more than 5 minutes away from its clock (`verify_signature` is the reference).

Outcome: a 2xx answer within the timeouts (connect 5 s, read 10 s) is `delivered`. Anything else
(another status, a redirect — never followed —, a timeout, a refused connection) is `retrying`
after 30 s, 2 min, 10 min, 1 h, 6 h and 24 h (plus up to 10 % jitter), and `failed` after the
7th attempt. A delivery whose endpoint was disabled fails with "endpoint disabled".

Destinations: only http(s). Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
their IPv4-mapped forms, 100.100.100.200, fd00:ec2::254) are refused, checked on the address
actually connected to, so a name re-pointed there after the endpoint was saved is refused too.
Loopback and private networks stay allowed: a self-hosted receiver on the same machine or LAN is
a normal setup (and the tests' receiver listens on 127.0.0.1).

Transactions: functions here flush and the caller commits, except `deliver_due`, which must
commit its claim before the HTTP calls and so commits its own work.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from urllib.parse import urlsplit

import urllib3
from sqlalchemy import Integer, and_, bindparam, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from app.extensions import db
from app.models import Event, WebhookDelivery, WebhookEndpoint
from app.models.base import UTCDateTime
from app.providers import EVENT_TYPES
from app.services.crypto import decrypt_json, encrypt_json
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.pagination import paginate

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION = 200
MAX_ENDPOINTS = 20  # per workspace: each one multiplies every event by one delivery
DELIVERY_STATUSES = ("pending", "sending", "retrying", "delivered", "failed")
DUE_STATUSES = ("pending", "sending", "retrying")  # `sending` is due again only once its lease expired
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600, 24 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
JITTER = 0.1
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RESPONSE_KEEP = 1024  # bytes of the answer kept for the log
DRAIN_LIMIT = 64 * 1024  # read at most this much more so the connection can be reused
LEASE = timedelta(minutes=5)  # a claim outlives the longest run (ENDPOINT_BUDGET + one request)
ENDPOINT_BUDGET = 20.0  # seconds one run spends on one endpoint; the rest waits for the next run
SEND_THREADS = 8
USER_AGENT = "Herald-Webhooks/1"
SIGNATURE_TOLERANCE = 300
PAYLOAD_KEYS = (
    "id",
    "type",
    "occurred_at",
    "created_at",
    "campaign_id",
    "recipient_id",
    "message_id",
    "email",
    "subscriber_id",
    "provider_id",
    "data",
)

_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "64:ff9b::a9fe:0/112")
)
_UNSET = object()
_wd = WebhookDelivery.__table__


# Endpoints ----------------------------------------------------------------------------------------


def is_blocked_address(address: str) -> bool:
    """True for a link-local or cloud metadata address (IPv4, IPv6, or IPv4 mapped into IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _BLOCKED_NETWORKS)


def clean_url(url) -> str:
    """The endpoint URL, or ValidationError naming `url`: http(s), a host, no credentials, ≤ 2000 chars."""

    def bad(message: str):
        return ValidationError(f"url: {message}", {"url": message})

    if not isinstance(url, str) or not url.strip():
        raise bad("Give the URL that should receive the events, e.g. https://example.com/herald-events.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise bad(f"At most {MAX_URL_LENGTH:,} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad("A URL contains no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        raise bad("This is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise bad("Leave credentials out of the URL: verify the X-Herald-Signature header instead.")
    if not parts.hostname:
        raise bad("The URL needs a host name, e.g. https://example.com/hooks.")
    if port == 0:
        raise bad("The port must be a number from 1 to 65535.")
    if is_blocked_address(parts.hostname):
        raise bad("Link-local and cloud metadata addresses (169.254.x.x) cannot receive webhooks.")
    return url


def clean_event_types(event_types) -> list[str] | None:
    """None (every type, including types added later) or a non-empty subset of EVENT_TYPES, in their order."""
    if event_types is None:
        return None
    if isinstance(event_types, str) or not isinstance(event_types, (list, tuple, set)):
        raise ValidationError("event_types: a list of event types, or null for all.", {"event_types": "A list."})
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        message = f"Unknown event type {str(unknown[0])[:40]!r}; choose from: {', '.join(EVENT_TYPES)}."
        raise ValidationError(f"event_types: {message}", {"event_types": message})
    if not event_types:
        message = "Choose at least one event type, or all of them."
        raise ValidationError(f"event_types: {message}", {"event_types": message})
    chosen = set(event_types)
    return [t for t in EVENT_TYPES if t in chosen]


def _clean_description(description) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise ValidationError("description: text.", {"description": "Text."})
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION:
        message = f"At most {MAX_DESCRIPTION} characters."
        raise ValidationError(f"description: {message}", {"description": message})
    return description or None


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_endpoint(
    workspace_id: int, url: str, description: str | None = None, event_types: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register a URL; answers the endpoint and its signing secret (stored encrypted)."""
    clean = clean_url(url)
    description = _clean_description(description)
    types = clean_event_types(event_types)
    count = db.session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
    )
    if count >= MAX_ENDPOINTS:
        raise ValidationError(
            f"A workspace has at most {MAX_ENDPOINTS} webhook endpoints: delete one you no longer use.",
            {"url": "Too many endpoints."},
        )
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        url=clean,
        description=description,
        event_types=types,
        secret_encrypted=encrypt_json({"secret": secret}),
        is_active=True,
        consecutive_failures=0,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def get_endpoint(workspace_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.workspace_id == workspace_id)
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def list_endpoints(workspace_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id).order_by(WebhookEndpoint.id)
        )
    )


def reveal_secret(workspace_id: int, endpoint_id: int) -> str:
    return _secret_of(get_endpoint(workspace_id, endpoint_id))


def rotate_secret(workspace_id: int, endpoint_id: int) -> str:
    """A new signing secret; the old one stops being used at once (deliveries are signed when sent)."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    secret = _new_secret()
    endpoint.secret_encrypted = encrypt_json({"secret": secret})
    db.session.flush()
    return secret


def update_endpoint(
    workspace_id: int,
    endpoint_id: int,
    *,
    url=_UNSET,
    description=_UNSET,
    event_types=_UNSET,
    is_active=_UNSET,
) -> WebhookEndpoint:
    """Change the fields given; the others keep their value."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    if url is not _UNSET:
        endpoint.url = clean_url(url)
    if description is not _UNSET:
        endpoint.description = _clean_description(description)
    if event_types is not _UNSET:
        endpoint.event_types = clean_event_types(event_types)
    if is_active is not _UNSET:
        if not isinstance(is_active, bool):
            raise ValidationError("is_active: true or false.", {"is_active": "true or false."})
        if is_active and not endpoint.is_active:
            endpoint.consecutive_failures = 0  # a fresh start: the streak described the old outage
        endpoint.is_active = is_active
    db.session.flush()
    return endpoint


def delete_endpoint(workspace_id: int, endpoint_id: int) -> None:
    """The endpoint and its delivery log go (deleted here rather than left to the foreign key's cascade,
    which SQLite applies only with its foreign_keys pragma on)."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    db.session.execute(_wd.delete().where(_wd.c.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def _secret_of(endpoint: WebhookEndpoint) -> str:
    return decrypt_json(endpoint.secret_encrypted)["secret"]


# Deliveries: the log ------------------------------------------------------------------------------


def list_deliveries(
    workspace_id: int, endpoint_id: int, status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[WebhookDelivery], int]:
    """One page of an endpoint's delivery log, newest first, and the total."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status:
        if status not in DELIVERY_STATUSES:
            message = f"Must be one of: {', '.join(DELIVERY_STATUSES)}."
            raise ValidationError(f"status: {message}", {"status": message})
        stmt = stmt.where(WebhookDelivery.status == status)
    stmt = stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return paginate(stmt, page, per_page)


def get_delivery(workspace_id: int, delivery_id: int, endpoint_id: int | None = None) -> WebhookDelivery:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.workspace_id == workspace_id
    )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    delivery = db.session.scalar(stmt)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def redeliver(workspace_id: int, delivery_id: int) -> WebhookDelivery:
    """A new pending delivery of the same payload (same event id: receivers may deduplicate on it)."""
    original = get_delivery(workspace_id, delivery_id)
    endpoint = get_endpoint(workspace_id, original.endpoint_id)
    if not endpoint.is_active:
        raise InvalidState("This endpoint is disabled: enable it first, then redeliver.")
    copy = WebhookDelivery(
        workspace_id=workspace_id,
        endpoint_id=endpoint.id,
        event_id=original.event_id,
        event_type=original.event_type,
        payload=original.payload,
        status="pending",
        attempts=0,
        next_attempt_at=_now(),
    )
    db.session.add(copy)
    db.session.flush()
    return copy


def has_pending(workspace_id: int, endpoint_id: int) -> bool:
    """Whether a delivery of the endpoint is about to go out (the log refreshes itself while so);
    a retry hours away does not count."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.workspace_id == workspace_id,
                    WebhookDelivery.status.in_(("pending", "sending")),
                )
            )
        )
    )


# Fan-out ------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds") if value is not None else None


def event_payload(event) -> dict:
    """The JSON body for one event row (an Event or a row with the same columns)."""
    return {
        "id": f"evt_{event.id}",
        "type": event.event_type,
        "occurred_at": _iso(event.occurred_at),
        "created_at": _iso(event.created_at),
        "campaign_id": event.campaign_id,
        "recipient_id": event.recipient_id,
        "message_id": event.message_id,
        "email": event.email,
        "subscriber_id": event.subscriber_id,
        "provider_id": event.provider_id,
        "data": event.data,
    }


# The same payload as event_payload, built by PostgreSQL, so a flood of events never travels
# through Python: one statement for the whole batch, subscriptions matched by the jsonb `?`.
# event_types may be SQL NULL or JSON null (SQLAlchemy stores Python None as JSON null).
_ISO_SQL = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
_FAN_OUT_SQL = text(
    "INSERT INTO webhook_deliveries"
    " (workspace_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at)"
    " SELECT e.workspace_id, w.id, e.id, e.event_type, jsonb_build_object("
    "  'id', 'evt_' || e.id, 'type', e.event_type,"
    f"  'occurred_at', {_ISO_SQL.format('e.occurred_at')}, 'created_at', {_ISO_SQL.format('e.created_at')},"
    "  'campaign_id', e.campaign_id, 'recipient_id', e.recipient_id, 'message_id', e.message_id,"
    "  'email', e.email, 'subscriber_id', e.subscriber_id, 'provider_id', e.provider_id, 'data', e.data),"
    "  'pending', 0, :now, :now"
    " FROM events e JOIN webhook_endpoints w ON w.workspace_id = e.workspace_id AND w.is_active"
    "  AND (w.event_types IS NULL OR jsonb_typeof(w.event_types) = 'null' OR w.event_types ? e.event_type)"
    " WHERE e.workspace_id = :ws AND e.id = ANY(:ids)"
    " ORDER BY e.id, w.id"
).bindparams(bindparam("ids", type_=ARRAY(Integer)), bindparam("now", type_=UTCDateTime))


def fan_out(workspace_id: int, event_ids: list[int]) -> int:
    """Queue the workspace's events for its subscribed active endpoints; answers how many deliveries.

    Set based: a workspace without endpoints costs one EXISTS; with endpoints, PostgreSQL
    builds every delivery in one INSERT ... SELECT. Ids of another workspace's events are ignored.
    """
    ids = sorted({int(i) for i in event_ids})
    if not ids:
        return 0
    has_endpoints = db.session.scalar(
        select(exists().where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.is_active.is_(True)))
    )
    if not has_endpoints:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        result = db.session.execute(_FAN_OUT_SQL, {"ws": workspace_id, "ids": ids, "now": _now()})
        return result.rowcount
    return _fan_out_portable(workspace_id, ids)


def _fan_out_portable(workspace_id: int, ids: list[int], chunk: int = 5000) -> int:
    """fan_out for SQLite: the payloads are built here and inserted with one executemany per chunk."""
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.is_active.is_(True)
        )
    ).all()
    now, created = _now(), 0
    columns = [getattr(Event, name) for name in ("id", "event_type", "occurred_at", "created_at", "data")]
    columns += [Event.campaign_id, Event.recipient_id, Event.message_id, Event.email]
    columns += [Event.subscriber_id, Event.provider_id]
    for start in range(0, len(ids), chunk):
        events = db.session.execute(
            select(*columns)
            .where(Event.workspace_id == workspace_id, Event.id.in_(ids[start : start + chunk]))
            .order_by(Event.id)
        ).all()
        rows = [
            {
                "workspace_id": workspace_id,
                "endpoint_id": ep.id,
                "event_id": e.id,
                "event_type": e.event_type,
                "payload": event_payload(e),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for e in events
            for ep in endpoints
            if ep.event_types is None or e.event_type in ep.event_types
        ]
        if rows:
            db.session.execute(_wd.insert(), rows)
            created += len(rows)
    return created


def enqueue_delivery_run(redis_url: str) -> bool:
    """Ask a worker to deliver now (after the commit that made deliveries visible). One job per 2 s
    bucket: a flood of calls queues one run. A lost enqueue is harmless: the scheduler runs every 10 s."""
    from rq.exceptions import DuplicateJobError

    from workers.queues import WEBHOOKS, get_queue

    job_id = f"deliver-webhooks-{int(time.time() // 2)}"
    try:
        get_queue(WEBHOOKS, redis_url).enqueue(
            # result_ttl=0: a finished run leaves no job behind to refuse the next one of its bucket.
            "workers.jobs.deliver_webhooks",
            job_id=job_id,
            unique=True,
            result_ttl=0,
            failure_ttl=3600,
        )
    except DuplicateJobError:
        return False
    except Exception:  # Redis away: the periodic run delivers them a few seconds later
        log.warning("could not queue a webhook delivery run", exc_info=True)
        return False
    return True


def run_soon_after_commit() -> None:
    """Queue a delivery run once the current transaction commits (its deliveries visible to workers)."""
    from flask import current_app

    from app.services.transactions import on_commit

    url = current_app.config["REDIS_URL"]
    on_commit(lambda: enqueue_delivery_run(url))


# Signing ------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Herald-Signature value for a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE
) -> bool:
    """What a receiver does: recompute the HMAC over the raw body and refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = sign(secret, ts, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _ordered(payload: dict) -> dict:
    # The documented key order: JSONB stores keys its own way.
    ordered = {k: payload[k] for k in PAYLOAD_KEYS if k in payload}
    ordered.update((k, v) for k, v in payload.items() if k not in ordered)
    return ordered


def _body(payload: dict) -> bytes:
    """The bytes POSTed (and signed): compact UTF-8 JSON in the documented key order."""
    return json.dumps(_ordered(payload), separators=(",", ":"), ensure_ascii=False, default=str).encode()


def pretty_payload(payload: dict | None) -> str:
    """The payload as the delivery log shows it: the body sent, indented."""
    return json.dumps(_ordered(payload or {}), indent=2, ensure_ascii=False, default=str)


# HTTP ---------------------------------------------------------------------------------------------


class BlockedDestination(urllib3.exceptions.HTTPError):
    """The URL leads to a link-local or metadata address: nothing is sent."""


class _PeerCheck:
    """Checks the address actually connected to, before a byte is sent: a name that resolves (or is
    re-pointed after a check) to a metadata address is refused whatever DNS said earlier."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if is_blocked_address(peer):
            sock.close()
            raise BlockedDestination(f"{self.host} resolves to {peer}, a link-local/metadata address: refused.")
        return sock


class _CheckedHTTPConnection(_PeerCheck, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_PeerCheck, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


@cache
def _http() -> urllib3.PoolManager:
    """One PoolManager per process, shared by every delivery (and thread): connections are kept alive."""
    manager = urllib3.PoolManager(num_pools=64, maxsize=SEND_THREADS, block=False, retries=False)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


os.register_at_fork(after_in_child=_http.cache_clear)  # a forked job must not share its parent's sockets


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


@dataclass
class _Target:
    id: int
    url: str
    secret: str
    is_active: bool


def _text(value: str | bytes | None, limit: int = 2000) -> str | None:
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
    if is_blocked_address(host):
        return f"{host} is a link-local/metadata address: refused."
    return None


def post(url: str, secret: str, delivery_id: int, event_type: str, payload: dict) -> Outcome:
    """POST one signed payload; never raises for a network problem. Safe to call from any thread."""
    refusal = _refusal(url)
    if refusal:
        return Outcome(error=refusal, unreachable=True, permanent=True)
    body = _body(payload)
    ts = int(time.time())  # the real clock, whatever `now` drives the schedule: receivers check it
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Herald-Event": event_type,
        "X-Herald-Delivery": str(delivery_id),
        "X-Herald-Timestamp": str(ts),
        "X-Herald-Signature": sign(secret, ts, body),
    }
    started = time.monotonic()
    try:
        resp = _http().request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            retries=False,
            redirect=False,
            preload_content=False,
        )
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
    outcome = Outcome(code=resp.status, body=_text(answer[:RESPONSE_KEEP]), duration_ms=_ms(started))
    if 200 <= resp.status < 300:
        outcome.delivered = True
    elif 300 <= resp.status < 400:
        where = resp.headers.get("Location")
        outcome.error = f"The endpoint answered HTTP {resp.status}" + (f" (to {_text(where, 300)})" if where else "")
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


# Delivering ---------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _claim(limit: int, now: datetime) -> list:
    """Take due deliveries for this run: their lease makes them invisible to other workers."""
    due = and_(_wd.c.status.in_(DUE_STATUSES), _wd.c.next_attempt_at <= now)
    ids = list(
        db.session.scalars(
            select(_wd.c.id)
            .where(due)
            .order_by(_wd.c.next_attempt_at, _wd.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: two workers never claim one row
        )
    )
    if not ids:
        return []
    claimed = db.session.execute(
        update(_wd)
        .where(_wd.c.id.in_(ids), due)
        .values(status="sending", next_attempt_at=now + LEASE)
        .returning(_wd.c.id, _wd.c.endpoint_id, _wd.c.event_type, _wd.c.payload, _wd.c.attempts, _wd.c.error)
    ).all()
    return sorted(claimed, key=lambda r: r.id)


def _targets(endpoint_ids: set[int]) -> dict[int, _Target]:
    rows = db.session.execute(
        select(
            WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret_encrypted, WebhookEndpoint.is_active
        ).where(WebhookEndpoint.id.in_(endpoint_ids))
    ).all()
    return {
        r.id: _Target(r.id, r.url, decrypt_json(r.secret_encrypted)["secret"] if r.is_active else "", r.is_active)
        for r in rows
    }


def _send_group(target: _Target, jobs: list) -> list[tuple]:
    """One endpoint's deliveries, one after another (a receiver gets one request at a time from a
    worker). Once it gave no answer at all, its other deliveries of this run count as failed
    attempts without trying; past the time budget, the rest wait for the next run (None)."""
    started, results, down = time.monotonic(), [], None
    for job in jobs:
        if down is not None:
            results.append((job, Outcome(error=f"Not sent: the endpoint was unreachable a moment before ({down})")))
        elif time.monotonic() - started > ENDPOINT_BUDGET:
            results.append((job, None))
        else:
            outcome = post(target.url, target.secret, job.id, job.event_type, job.payload)
            if outcome.unreachable and not outcome.permanent:
                down = outcome.error
            results.append((job, outcome))
    return results


def _send_all(jobs: list, targets: dict[int, _Target]) -> list[tuple]:
    groups: dict[int, list] = {}
    for job in jobs:
        groups.setdefault(job.endpoint_id, []).append(job)
    work = [(targets[eid], group) for eid, group in groups.items()]
    if len(work) == 1:
        return _send_group(*work[0])
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(work)), thread_name_prefix="webhooks") as pool:
        return [pair for results in pool.map(lambda w: _send_group(*w), work) for pair in results]


def _next_state(attempts: int, outcome: Outcome, now: datetime) -> tuple[str, datetime | None]:
    """Status and next attempt after `attempts` attempts ended with `outcome`."""
    if outcome.delivered:
        return "delivered", None
    if outcome.permanent or attempts >= MAX_ATTEMPTS:
        return "failed", None
    delay = BACKOFF_SECONDS[attempts - 1]
    return "retrying", now + timedelta(seconds=delay + random.uniform(0, delay * JITTER))


def _record(results: list[tuple], disabled: list, now: datetime) -> dict:
    """Write every outcome (one executemany per kind) and each endpoint's health."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "released": 0}
    attempted, released, health = [], [], {}
    for job, outcome in results:
        if outcome is None:
            released.append({"b_id": job.id, "b_status": "retrying" if job.attempts else "pending", "b_next": now})
            counts["released"] += 1
            continue
        attempts = job.attempts + 1
        status, next_at = _next_state(attempts, outcome, now)
        counts[status] += 1
        attempted.append(
            {
                "b_id": job.id,
                "b_status": status,
                "b_attempts": attempts,
                "b_next": next_at,
                "b_code": outcome.code,
                "b_body": outcome.body,
                "b_error": _text(outcome.error if not outcome.delivered else _earlier(job)),
                "b_ms": outcome.duration_ms,
                "b_delivered": now if outcome.delivered else None,
            }
        )
        health.setdefault(job.endpoint_id, []).append(outcome.delivered)
    by_id = _wd.c.id == bindparam("b_id")
    if attempted:
        db.session.execute(
            update(_wd)
            .where(by_id)
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                response_code=bindparam("b_code"),
                response_body=bindparam("b_body"),
                error=bindparam("b_error"),
                duration_ms=bindparam("b_ms"),
                delivered_at=bindparam("b_delivered"),
            ),
            attempted,
        )
    if released:
        db.session.execute(
            update(_wd).where(by_id).values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next")),
            released,
        )
    if disabled:
        db.session.execute(
            update(_wd)
            .where(_wd.c.id.in_([j.id for j in disabled]))
            .values(status="failed", next_attempt_at=None, error="endpoint disabled")
        )
        counts["failed"] += len(disabled)
    for endpoint_id, delivered in health.items():
        _record_health(endpoint_id, delivered, now)
    return counts


def _earlier(job) -> str | None:
    """On a delivered row, the previous attempt's failure, so the log still shows why it took more than one."""
    if not job.attempts or not job.error:
        return None
    return f"Delivered on attempt {job.attempts + 1}; attempt {job.attempts}: {job.error}"


def _record_health(endpoint_id: int, delivered: list[bool], now: datetime) -> None:
    """last_success_at / last_failure_at and the failure streak, from this run's outcomes in order."""
    values: dict = {}
    if any(delivered):
        values["last_success_at"] = now
        last_success = len(delivered) - 1 - delivered[::-1].index(True)
        values["consecutive_failures"] = len(delivered) - 1 - last_success
    else:
        values["consecutive_failures"] = WebhookEndpoint.consecutive_failures + len(delivered)
    if not all(delivered):
        values["last_failure_at"] = now
    db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def deliver_due(limit: int = 200, now: datetime | None = None) -> dict:
    """Send up to `limit` due deliveries and record how each went; answers the counts.

    Commits twice: the claim (before any HTTP call, so another worker skips these rows even if
    this run takes long) and the outcomes. `now` drives the schedule (tests pass a later time).
    """
    now = now or _now()
    jobs = _claim(limit, now)
    if not jobs:
        db.session.commit()
        return {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0, "released": 0}
    targets = _targets({j.endpoint_id for j in jobs})
    db.session.commit()
    live = [j for j in jobs if j.endpoint_id in targets and targets[j.endpoint_id].is_active]
    disabled = [j for j in jobs if j.endpoint_id in targets and not targets[j.endpoint_id].is_active]
    results = _send_all(live, targets) if live else []
    counts = _record(results, disabled, now)
    db.session.commit()
    return {"claimed": len(jobs), **counts}


def send_test_event(workspace_id: int, endpoint_id: int) -> WebhookDelivery:
    """Send a synthetic `test` event at once and log it; a failed test is not retried."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    now = _now()
    payload = {
        "id": f"evt_test_{secrets.token_hex(8)}",
        "type": "test",
        "occurred_at": _iso(now),
        "created_at": _iso(now),
        "campaign_id": None,
        "recipient_id": None,
        "message_id": None,
        "email": "test@example.com",
        "subscriber_id": None,
        "provider_id": None,
        "data": {"message": "A test event from Herald: this endpoint is reachable.", "endpoint_id": endpoint.id},
    }
    delivery = WebhookDelivery(
        workspace_id=workspace_id,
        endpoint_id=endpoint.id,
        event_type="test",
        payload=payload,
        status="sending",
        attempts=0,
    )
    db.session.add(delivery)
    db.session.flush()  # its id goes in X-Herald-Delivery
    outcome = post(endpoint.url, _secret_of(endpoint), delivery.id, "test", payload)
    delivery.attempts = 1
    delivery.status = "delivered" if outcome.delivered else "failed"
    delivery.response_code = outcome.code
    delivery.response_body = outcome.body
    delivery.error = _text(outcome.error)
    delivery.duration_ms = outcome.duration_ms
    delivery.delivered_at = now if outcome.delivered else None
    db.session.flush()
    _record_health(endpoint.id, [outcome.delivered], now)
    db.session.refresh(endpoint)
    return delivery
