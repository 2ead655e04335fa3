"""Provider webhooks in: verify, store durably, queue, then process (DESIGN.md "Events").

The request path does only what must happen before a provider may be told "got it":
prove the request is the provider's (a bad signature changes nothing and is logged), write
the raw payload to the provider event log and commit, then queue its processing on the
`webhooks` queue. A provider's retry is therefore never lost (the 2xx comes after the
commit) and never double counted (processing is idempotent on each event's provider id).
Should the queue be unreachable, the stored payload is picked up by `requeue_stuck`.
"""

import json
import time
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import Headers

from app.extensions import db
from app.models import Provider, WebhookPayload
from app.providers import BadPayload, WebhookRejected  # noqa: F401  (verify() raises it; the view catches it here)
from app.providers.registry import PROVIDERS
from app.providers.spec import ProviderSpec
from app.queueing import WEBHOOKS, enqueue
from app.redis_client import get_redis
from app.services.crypto import decrypt_json
from app.services.errors import NotFound
from app.services.events import provider_events
from app.services.ids import as_id

MAX_BODY = 5 * 1024 * 1024  # SendGrid batches up to ~1,000 events (a few hundred KB); 5 MB is generous
STUCK_AFTER_SECONDS = 60
TRANSIENT_TRIES = 3  # processing a payload, when PostgreSQL undoes it for a deadlock or serialization failure
_TRANSIENT_SQLSTATES = ("40P01", "40001")
_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-amz-sns-message-type",
    "x-amz-sns-message-id",
    "x-amz-sns-topic-arn",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
)
_REJECTS = "herald:webhook-rejects:{}"
_REPLAY_TOKENS = "herald:{}-token:{}:{}"  # type, provider id, token


def webhook_spec(provider_type: str) -> ProviderSpec:
    """The spec of an email type that takes event webhooks (it verifies and parses them); NotFound for any
    other. An SMS provider's callbacks (Twilio's status and inbound texts) have routes of their own."""
    spec = PROVIDERS.get(provider_type)
    if spec is None or spec.channel != "email" or not spec.supports_webhooks:
        raise NotFound("No such webhook.")
    return spec


def provider_for(provider_type: str, provider_id: int) -> Provider:
    """The provider a webhook URL names; the type must match too (404 otherwise)."""
    provider_id = as_id(provider_id)  # a 20-digit id in the URL is a 404, not a database error
    provider = db.session.get(Provider, provider_id) if provider_id else None
    if provider is None or provider.provider_type != provider_type:
        raise NotFound("No such webhook.")
    webhook_spec(provider_type)
    return provider


def _verifier(spec: ProviderSpec):
    """The type's stateful webhook checker for this configuration, or None when it needs none."""
    if spec.webhook_verifier is None:
        return None
    values = tuple(current_app.config.get(name) for name in spec.webhook_verifier_config)
    key = (spec.type, values)
    verifier = _verifiers.get(key)
    if verifier is None:
        verifier = _verifiers[key] = spec.webhook_verifier(*values)
    return verifier


_verifiers: dict = {}  # one per configuration: each keeps its certificate cache and connection pool


def verify(provider: Provider, headers, body: bytes) -> None:
    """Raise WebhookRejected unless the request is proven to come from the provider."""
    spec = webhook_spec(provider.provider_type)
    settings, creds = provider.settings or {}, decrypt_json(provider.credentials_encrypted)
    verifier = _verifier(spec)
    extra = {} if verifier is None else {"verifier": verifier}
    spec.verify_webhook(headers, body, settings, creds, time.time(), **extra)


def record_rejection(provider_id: int, reason: str, remote_addr: str | None) -> None:
    """Keep the last 20 refused requests per provider for its page (and log each one)."""
    current_app.logger.warning("webhook refused for provider %s from %s: %s", provider_id, remote_addr, reason)
    entry = json.dumps({"at": time.time(), "reason": reason[:300], "ip": (remote_addr or "")[:64]})
    try:
        r = get_redis()
        key = _REJECTS.format(provider_id)
        r.lpush(key, entry)
        r.ltrim(key, 0, 19)
        r.expire(key, 30 * 86400)
    except Exception:  # the log line above is enough when Redis is away
        pass


def recent_rejections(provider_id: int) -> list[dict]:
    try:
        raw = get_redis().lrange(_REJECTS.format(provider_id), 0, 19)
    except Exception:
        return []
    out = []
    for item in raw:
        entry = json.loads(item)
        entry["at"] = datetime.fromtimestamp(entry["at"], timezone.utc)
        out.append(entry)
    return out


def _replay_token(provider: Provider, headers, body: bytes) -> str | None:
    spec = PROVIDERS.get(provider.provider_type)
    return spec.replay_token(headers, body) if spec is not None and spec.replay_token else None


def seen_before(provider: Provider, headers, body: bytes) -> bool:
    """Replay protection (Mailgun's): a token already stored is a replay (answered 200, ignored)."""
    token = _replay_token(provider, headers, body)
    if not token:
        return False
    try:
        return bool(get_redis().exists(_REPLAY_TOKENS.format(provider.provider_type, provider.id, token)))
    except RedisError as exc:  # store it: its events count once anyway (they dedupe on their ids)
        current_app.logger.warning(
            "%s replay check skipped for provider %s: %s", provider.provider_type, provider.id, exc
        )
        return False


def _remember_token(provider: Provider, headers, body: bytes) -> None:
    token = _replay_token(provider, headers, body)
    if token:  # the replay window is 10 minutes: a token older than that fails the signature check anyway
        get_redis().set(_REPLAY_TOKENS.format(provider.provider_type, provider.id, token), "1", ex=1200)


def store(provider: Provider, headers, body: bytes) -> WebhookPayload:
    """Write the verified request to the provider event log (the caller commits, then queues)."""
    kept = {k.lower(): v[:500] for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
    payload = WebhookPayload(
        workspace_id=provider.workspace_id,
        provider_id=provider.id,
        provider_type=provider.provider_type,
        content_type=(headers.get("Content-Type") or "")[:200] or None,
        headers=kept,
        body=body,
        status="received",
    )
    db.session.add(payload)
    db.session.flush()
    return payload


def after_commit(provider: Provider, headers, body: bytes, payload_id: int) -> None:
    """Once the payload is durable: remember a replay token and queue the processing."""
    try:
        _remember_token(provider, headers, body)
        # The payload is committed already (the view calls this after its commit): queue it now.
        job_id = f"webhook-payload-{payload_id}"
        enqueue("process_webhook_payload", payload_id, queue=WEBHOOKS, job_id=job_id, after_commit=False)
    except Exception as exc:  # stored is what matters; requeue_stuck queues it within a minute
        current_app.logger.warning("webhook payload %s stored but not queued: %s", payload_id, exc)


def process(payload_id: int) -> WebhookPayload | None:
    """Parse a stored payload and ingest its events; safe to run again (events count once).

    A deadlock with another writer of the same rows (the open-pixel drain, the send pipeline)
    undoes the whole transaction: it is tried again, and fails the payload only the last time.
    """
    for attempt in range(1, TRANSIENT_TRIES + 1):
        try:
            return _process(payload_id, last_try=attempt == TRANSIENT_TRIES)
        except _TryAgain:
            db.session.rollback()
            time.sleep(0.05 * attempt)
    return None  # not reached: the last try records any failure on the payload


class _TryAgain(Exception):
    """The database undid the transaction for a reason that passes (a deadlock): run it again."""


def _transient(exc: Exception) -> bool:
    return isinstance(exc, OperationalError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _process(payload_id: int, last_try: bool) -> WebhookPayload | None:
    # Locked: a second job for the same payload (requeue_stuck queues one while the first may still
    # wait in a long queue) waits here, then finds it processed and leaves its counts alone.
    payload = db.session.get(WebhookPayload, payload_id, with_for_update=True)
    if payload is None:
        return None
    if payload.status == "processed":
        return payload
    try:
        spec = webhook_spec(payload.provider_type)
        headers = payload.headers or {}
        if spec.handle_control and _handled_as_control(spec, payload):
            return payload
        events = spec.parse_webhook(Headers(headers), bytes(payload.body))
        result = provider_events.ingest(
            payload.workspace_id, payload.provider_id, events, source=f"{payload.provider_type}"
        )
    except BadPayload as exc:
        return _failed(payload, f"Not readable as {payload.provider_type} events: {exc}")
    except Exception as exc:
        if not last_try and _transient(exc):
            raise _TryAgain from exc
        db.session.rollback()
        payload = db.session.get(WebhookPayload, payload_id)
        current_app.logger.exception("webhook payload %s failed", payload_id)
        return _failed(payload, f"{type(exc).__name__}: {exc}")
    payload.status = "processed"
    payload.events_total = result.total
    payload.events_new = result.new
    payload.events_unmatched = result.unmatched
    payload.summary = result.by_type or None
    payload.error = None
    payload.processed_at = datetime.now(timezone.utc)
    db.session.flush()
    return payload


def _failed(payload: WebhookPayload, why: str) -> WebhookPayload:
    payload.status = "failed"
    payload.error = why[:2000]
    payload.processed_at = datetime.now(timezone.utc)
    db.session.flush()
    return payload


def _handled_as_control(spec: ProviderSpec, payload: WebhookPayload) -> bool:
    """A payload about the subscription, not events (SNS confirmations): handled by the spec, recorded here."""
    control = spec.handle_control(bytes(payload.body), _verifier(spec))
    if control is None:
        return False
    summary, note = control
    payload.status, payload.summary, payload.error = "processed", summary, None
    if note:
        current_app.logger.info("provider %s webhook: %s", payload.provider_id, note)
    payload.processed_at = datetime.now(timezone.utc)
    db.session.flush()
    return True


def requeue_stuck(older_than: float = STUCK_AFTER_SECONDS, limit: int = 1000) -> int:
    """Queue again payloads stored but never processed (the queue was down, or Redis lost them)."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than)
    ids = list(
        db.session.scalars(
            select(WebhookPayload.id)
            .where(WebhookPayload.status == "received", WebhookPayload.received_at < cutoff)
            .order_by(WebhookPayload.id)
            .limit(limit)
        )
    )
    for pid in ids:
        job_id = f"webhook-payload-{pid}-r{int(time.time())}"
        enqueue("process_webhook_payload", pid, queue=WEBHOOKS, job_id=job_id, after_commit=False)
    return len(ids)


def reprocess(workspace_id: int, payload_id: int) -> WebhookPayload:
    """ "Process again" for a failed payload (after a fix); its events still count once."""
    payload = get_payload(workspace_id, payload_id)
    return process(payload.id)


def get_payload(workspace_id: int, payload_id: int) -> WebhookPayload:
    payload = db.session.scalar(
        select(WebhookPayload).where(WebhookPayload.id == payload_id, WebhookPayload.workspace_id == workspace_id)
    )
    if payload is None:
        raise NotFound("No such webhook payload.")
    return payload


def list_payloads(workspace_id: int, provider_id: int | None = None, status: str | None = None, limit: int = 50):
    stmt = select(WebhookPayload).where(WebhookPayload.workspace_id == workspace_id)
    if provider_id is not None:
        stmt = stmt.where(WebhookPayload.provider_id == provider_id)
    if status:
        stmt = stmt.where(WebhookPayload.status == status)
    return list(db.session.scalars(stmt.order_by(WebhookPayload.id.desc()).limit(limit)))


def payload_counts(workspace_id: int, provider_id: int) -> dict:
    rows = db.session.execute(
        select(WebhookPayload.status, func.count(), func.coalesce(func.sum(WebhookPayload.events_new), 0))
        .where(WebhookPayload.workspace_id == workspace_id, WebhookPayload.provider_id == provider_id)
        .group_by(WebhookPayload.status)
    ).all()
    return {"by_status": {s: n for s, n, _ in rows}, "events": sum(int(e) for _, _, e in rows)}
