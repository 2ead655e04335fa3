"""Transactional messages: one email to one person (an order confirmation, a one-time code),
accepted by the API, queued on its own `transactional` queue and sent at once.

A message moves queued -> sending (claimed and committed before the hand-off) -> sent |
failed | unknown, like a campaign recipient, so a crash never sends it twice. It goes to
people who unsubscribed from marketing (they still need their password reset) but never to
an address that hard-bounced or complained: such a request is recorded as `suppressed`.
It renders with the campaign path's code (CompiledMessage, build_context) and takes its
rate token from the provider's shared per-second window, ahead of bulk sends.
"""

import json
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, Provider, Subscriber, Suppression, Template
from app.providers import TransportUnavailable
from app.queueing import TRANSACTIONAL, TRANSACTIONAL_RETRY, enqueue
from app.redis_client import get_redis
from app.services.audience.contacts import normalize_email, suppress_address
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import (
    CompiledMessage,
    TemplateProblem,
    build_context,
    extract_links,
    render_problem,
    time_limit,
)
from app.services.delivery import dkim, domains, identities, pools, providers
from app.services.delivery.ratelimit import reserve_priority_send
from app.services.delivery.verp import envelope_sender
from app.services.errors import NotFound, ValidationError
from app.services.events.event_log import insert_events
from app.services.events.provider_events import message_ref
from app.services.ids import as_id, parse_int
from app.services.platform.workspaces import default_sender
from app.services.tokens import make_token
from app.transactions import on_commit

MAX_CONTEXT_BYTES = 64 * 1024  # the context as JSON; a receipt with a hundred lines is ~20 KB
MAX_IDEMPOTENCY_KEY = 255
CLAIM_TTL_SECONDS = 600  # a claim older than this belongs to a worker that died mid-hand-off
RENDER_SECONDS = 2.0
BLOCKING_SUPPRESSIONS = ("bounced", "complained")  # marketing unsubscribes do not stop transactional mail
# Names build_context fills in itself: a context may not replace them.
RESERVED_CONTEXT = ("subscriber", "campaign", "unsubscribe_url", "preferences_url", "view_in_browser_url", "assets_url")
OPEN_PURPOSE = "message-open"
CLICK_PURPOSE = "message-click"


class RetryLater(Exception):
    """Nothing was handed off (provider unreachable, or a 4xx): RQ runs the job again later."""


@dataclass
class Accepted:
    message: Message
    created: bool  # False when an idempotency key returned an earlier message


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- Accepting a request ------------------------------------------------------------------------


def resolve_template(workspace_id: int, ref) -> Template:
    """A template of this workspace by id (a number) or slug; another workspace's answers NotFound."""
    template_id = as_id(parse_int(ref))
    if template_id is not None:
        where = Template.id == template_id
    elif isinstance(ref, str) and ref.strip():
        where = Template.slug == ref.strip().lower()
    else:
        raise ValidationError("Name the template by its id or slug.", {"template": "Required."})
    tpl = db.session.scalar(select(Template).where(where, Template.workspace_id == workspace_id))
    if tpl is None:
        raise NotFound(f"There is no template {str(ref)[:100]!r} in this workspace.", {"template": "Not found."})
    return tpl


def _clean_context(context) -> dict:
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise ValidationError("The context is an object of names and values.", {"context": "Must be an object."})
    size = len(json.dumps(context, separators=(",", ":"), default=str).encode("utf-8"))
    if size > MAX_CONTEXT_BYTES:
        message = f"The context is {size:,} bytes; the limit is {MAX_CONTEXT_BYTES:,}."
        raise ValidationError(message, {"context": message})
    for name in context:
        if name in RESERVED_CONTEXT:
            message = f"'{name}' is filled in by Herald; give your data another name."
            raise ValidationError(message, {f"context.{name}": message})
    return context


def _address(field: str, value, required: bool = True) -> str | None:
    if not required and (value is None or value == ""):
        return None
    try:
        return normalize_email(value)
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message}", {field: exc.message}) from None


def _sender(workspace_id: int, tpl: Template, from_email, from_name, reply_to) -> tuple[str, str | None, str | None]:
    """(from, name, reply-to): the From given, else the template's identity, else the latest campaign's."""
    if from_email:
        return _address("from_email", from_email), from_name, reply_to
    identity = identities.template_identity(tpl)
    if identity is not None:
        name, email, identity_reply_to = identities.from_fields(identity)
        return email, from_name if from_name is not None else name, reply_to or identity_reply_to
    last_name, last_email = default_sender(workspace_id)
    if not last_email:
        message = "Say which address the message comes from (no campaign has set one yet)."
        raise ValidationError(message, {"from_email": message})
    return last_email, from_name if from_name is not None else last_name, reply_to


def blocking_suppression(workspace_id: int, email: str) -> str | None:
    """`bounced` or `complained` when the address must not get even transactional mail."""
    reason = db.session.scalar(
        select(Suppression.reason).where(Suppression.workspace_id == workspace_id, Suppression.email == email)
    )
    if reason in BLOCKING_SUPPRESSIONS:
        return reason
    status = db.session.scalar(
        select(Subscriber.status).where(Subscriber.workspace_id == workspace_id, Subscriber.email == email)
    )
    return status if status in BLOCKING_SUPPRESSIONS else None


def _by_idempotency_key(workspace_id: int, key: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.workspace_id == workspace_id, Message.idempotency_key == key)
    )


def create_message(
    workspace_id: int,
    template,
    to,
    context=None,
    *,
    to_name: str | None = None,
    category: str = "transactional",
    from_email: str | None = None,
    from_name: str | None = None,
    reply_to: str | None = None,
    provider_id: int | None = None,
    track_opens: bool = False,
    track_clicks: bool = False,
    idempotency_key: str | None = None,
) -> Accepted:
    """Check and record one message, queued for the `transactional` worker once the caller commits.

    An address that hard-bounced or complained is recorded `suppressed` and nothing is queued; the
    same `idempotency_key` again returns the first message (whatever became of it) and sends nothing.
    """
    if idempotency_key is not None:
        idempotency_key = str(idempotency_key).strip()[:MAX_IDEMPOTENCY_KEY] or None
        earlier = _by_idempotency_key(workspace_id, idempotency_key) if idempotency_key else None
        if earlier is not None:
            return Accepted(earlier, False)
    if category != "transactional":
        raise ValidationError(
            "Only transactional messages are sent one by one.", {"category": "Must be transactional."}
        )
    tpl = resolve_template(workspace_id, template)
    email = _address("to", to)
    ctx = _clean_context(context)
    sender, sender_name, reply_to = _sender(workspace_id, tpl, from_email, from_name, reply_to)
    reply = _address("reply_to", reply_to, required=False)
    provider = _provider(workspace_id, provider_id, tpl)
    msg = Message(
        workspace_id=workspace_id,
        template_id=tpl.id,
        template_name=tpl.name,
        template_version=tpl.version,
        to_email=email,
        from_email=sender,
        from_name=(" ".join(str(sender_name or "").split())[:200] or None),
        reply_to=reply,
        context=ctx,
        category=category,
        provider_id=provider.id,
        track_opens=bool(track_opens),
        track_clicks=bool(track_clicks),
        idempotency_key=idempotency_key,
        status="queued",
    )
    return _record(msg, tpl, to_name)


def _provider(workspace_id: int, provider_id: int | None, tpl: Template):
    """The provider named; else one of the template's pool (or the workspace's transactional lane);
    else the workspace's default."""
    if provider_id:
        return providers.get_email_provider(workspace_id, provider_id)
    lane = pools.pool_for(workspace_id, tpl.pool_id, "transactional")
    picked = pools.pick_provider(lane) if lane else None
    provider = db.session.get(Provider, picked) if picked else providers.default_provider(workspace_id)
    if provider is None:
        raise ValidationError("Add a sending provider first.", {"provider_id": "No provider is configured."})
    return provider


def _record(msg: Message, tpl, to_name: str | None) -> Accepted:
    """Render the subject, mark a suppressed address, store the row and queue it after the commit."""
    workspace_id, email = msg.workspace_id, msg.to_email
    sub = db.session.scalar(
        select(Subscriber).where(Subscriber.workspace_id == workspace_id, Subscriber.email == email)
    )
    msg.to_name = " ".join(str(to_name or "").split())[:200] or (sub.name if sub else None)
    msg.subscriber_id = sub.id if sub else None
    # A template that fails for this context is the caller's error to see now, not a failed message later.
    msg.subject = _render(msg, tpl, _recipient(msg, sub)).subject[:998]
    blocked = blocking_suppression(workspace_id, email)
    if blocked:
        msg.status, msg.reason = "suppressed", f"suppressed:{blocked}"
    try:
        with db.session.begin_nested():  # two requests racing with one key: the second gets the first's row
            db.session.add(msg)
            db.session.flush()
    except IntegrityError:
        earlier = _by_idempotency_key(workspace_id, msg.idempotency_key) if msg.idempotency_key else None
        if earlier is None:
            raise
        return Accepted(earlier, False)
    if msg.status == "queued":
        message_id = msg.id
        on_commit(lambda: enqueue_message(message_id))
    return Accepted(msg, True)


def enqueue_message(message_id: int) -> None:
    """Queue the send on `transactional`, which its own worker listens to (never behind a bulk batch).

    The message is already committed: should Redis not answer, requeue_lost_messages queues it
    later, so the caller still gets its 202 and nothing is lost.
    """
    try:
        enqueue(
            "send_message",
            message_id,
            queue=TRANSACTIONAL,
            job_id=f"message-{message_id}",
            retry=TRANSACTIONAL_RETRY,
            after_commit=False,
        )
    except redis.RedisError as exc:
        current_app.logger.warning("message %s not queued (%s); the scheduler will queue it", message_id, exc)


LOST_AFTER_SECONDS = 30  # a queued message older than this with no job in Redis lost its job


def requeue_lost_messages(min_age_seconds: float = LOST_AFTER_SECONDS, limit: int = 500) -> list[int]:
    """Queue again the queued messages whose job Redis does not have (periodic): Redis was
    away when they were accepted, or restarted without its data. A job id per message keeps
    a message from being queued twice while its job exists."""
    from rq.job import Job

    r = get_redis()
    cutoff = _now() - timedelta(seconds=min_age_seconds)
    ids = db.session.scalars(
        select(Message.id)
        .where(Message.status == "queued", Message.claimed_at.is_(None), Message.created_at <= cutoff)
        .order_by(Message.id)
        .limit(limit)
    ).all()
    lost = [i for i in ids if not Job.exists(f"message-{i}", connection=r)]
    for message_id in lost:
        enqueue_message(message_id)
    return lost


def get_message(workspace_id: int, message_id) -> Message:
    msg = db.session.scalar(
        select(Message).where(Message.id == as_id(message_id), Message.workspace_id == workspace_id)
    )
    if msg is None:
        raise NotFound("No such message.")
    return msg


def list_messages(workspace_id: int, status: str | None = None, to: str | None = None):
    """Newest first, optionally in one status or to one address (a select, for paginate())."""
    query = select(Message).where(Message.workspace_id == workspace_id)
    if status:
        query = query.where(Message.status == status)
    if to:
        query = query.where(Message.to_email == to.strip().lower())
    return query.order_by(Message.created_at.desc(), Message.id.desc())


# -- Rendering ----------------------------------------------------------------------------------

# One worker sends many messages of the same template: compile once per template version.
_compiled: "OrderedDict[tuple, tuple[CompiledMessage, list[str]]]" = OrderedDict()


def compiled_for(tpl: Template, track_opens: bool, track_clicks: bool) -> tuple[CompiledMessage, list[str]]:
    """The template compiled (and its tracked links, in placeholder order), cached per version in the process."""
    # updated_at too: ids and version numbers start again in a fresh database (tests), a save time does not.
    key = (tpl.id, tpl.version, tpl.updated_at, bool(track_opens), bool(track_clicks))
    hit = _compiled.get(key)
    if hit is not None:
        _compiled.move_to_end(key)
        return hit
    links = extract_links(tpl.body_html) if track_clicks else []
    compiled = CompiledMessage(
        tpl.subject,
        tpl.body_html,
        tpl.body_text,
        tpl.preview_text,
        link_ids={url: i for i, url in enumerate(links, 1)},
        track_opens=track_opens,
    )
    _compiled[key] = (compiled, links)
    while len(_compiled) > 64:
        _compiled.popitem(last=False)
    return compiled, links


def _recipient(msg: Message, sub: Subscriber | None) -> dict:
    if sub is not None:
        return {"id": sub.id, "email": sub.email, "name": msg.to_name or sub.name, "attributes": sub.attributes or {}}
    return {"id": None, "email": msg.to_email, "name": msg.to_name, "attributes": {}}


def _render(msg: Message, tpl: Template, recipient: dict, message_id: int | None = None):
    """Render with the campaign path's code; `context` names sit beside `subscriber`.

    A transactional message carries no unsubscribe, preferences or view-in-browser link: those
    names are empty. Tracking URLs are filled only once the message has an id to sign.
    """
    base = current_app.config["BASE_URL"]
    ctx = build_context(recipient, tpl.name, "", "", "", extra=msg.context or {}, base_url=base)
    try:
        compiled, _ = compiled_for(tpl, msg.track_opens, msg.track_clicks)
        with time_limit(RENDER_SECONDS):
            if message_id is None:
                return compiled.render(ctx, link_url=lambda lid: "", pixel_url=None)
            return compiled.render(
                ctx,
                link_url=lambda lid: f"{base}/t/m/c/{make_token(CLICK_PURPOSE, message_id, lid)}",
                pixel_url=f"{base}/t/m/o/{make_token(OPEN_PURPOSE, message_id)}.gif",
            )
    except TemplateProblem as exc:
        raise ValidationError(f"The template cannot be rendered: {exc.message}", {"context": exc.message}) from None
    except Exception as exc:  # a template expression failing on this data (e.g. a missing number)
        message = f"The template cannot be rendered with this context: {render_problem(exc)}."[:500]
        raise ValidationError(message, {"context": message}) from None


def message_preview(msg: Message):
    """The message rendered again as it was sent (untracked), for its page; None once its template is gone
    or when it no longer renders (the template changed since)."""
    tpl = db.session.get(Template, msg.template_id) if msg.template_id else None
    if tpl is None:
        return None
    sub = db.session.get(Subscriber, msg.subscriber_id) if msg.subscriber_id else None
    untracked = Message(context=msg.context, to_email=msg.to_email, to_name=msg.to_name)
    untracked.track_opens = untracked.track_clicks = False
    try:
        return _render(untracked, tpl, _recipient(msg, sub))
    except ValidationError:
        return None


# -- Rate limit ---------------------------------------------------------------------------------


def take_send_token(r: redis.Redis, provider: Provider) -> float:
    """One slot of the provider's per-second limit, shared with campaigns; returns the seconds waited.

    The slot is the earliest free one however far ahead, while campaign workers book at most
    a second ahead: the message waits at most about a second behind a campaign, whatever
    its size (see ratelimit.reserve_priority_send).
    """
    return reserve_priority_send(r, provider.id, provider.max_sends_per_second)


# -- Sending ------------------------------------------------------------------------------------


def _claim(message_id: int) -> bool:
    claimed = db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "queued")
        .values(status="sending", claimed_at=_now(), attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


# Names whose values are keys to someone's account or money (a reset link, a one-time code, a
# gift card's code): kept only until the message is out, so the log never hands them to a reader.
SECRET_NAME_PARTS = frozenset(
    "password passcode passwd token secret otp code reset pin key magic verify verification confirm "
    "confirmation redeem auth login session signature sig credential credentials".split()
)
REDACTED = "[removed after sending]"


def _is_secret_name(name: str) -> bool:
    words = re.findall(r"[a-z]+|[0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name)).lower())
    return any(w in SECRET_NAME_PARTS for w in words)


def redact_secrets(value):
    """A copy of a context with the values of secret-looking names replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if _is_secret_name(k) else redact_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    return value


def _finish(msg: Message, status: str, reason: str | None = None, **values) -> str:
    msg.status = status
    if status != "queued" and msg.context:
        msg.context = redact_secrets(msg.context)
    msg.reason = reason[:2000] if reason else None
    for k, v in values.items():
        setattr(msg, k, v)
    db.session.commit()
    return status


def _suppress_hard_bounce(msg: Message, detail: str) -> None:
    """A 5.1.x reply: the mailbox does not exist, so nothing of any kind goes there again."""
    suppress_address(msg.workspace_id, msg.to_email, "bounced", detail, source="bounce")
    if msg.subscriber_id:
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == msg.subscriber_id, Subscriber.status.in_(("active", "unsubscribed")))
            .values(status="bounced", updated_at=_now())
        )
    now = _now()
    insert_events([{"workspace_id": msg.workspace_id, "event_key": f"smtp-bounce:message:{msg.id}",
                    "event_type": "bounce", "subscriber_id": msg.subscriber_id,
                    "data": {"bounce_type": "hard", "diagnostic": detail, "message_id": msg.id},
                    "occurred_at": now, "created_at": now}])  # fmt: skip


def deliver_message(message_id: int, final_attempt: bool = True) -> str:
    """Send one queued message and record the outcome; safe to run twice (only a queued message is sent).

    When nothing was handed off (provider unreachable, a 4xx) the message goes back to `queued` and
    RetryLater asks RQ to run the job again, unless this is the `final_attempt`: then it fails.
    """
    if not _claim(message_id):
        db.session.rollback()
        return db.session.scalar(select(Message.status).where(Message.id == message_id)) or "missing"
    db.session.commit()  # the claim is durable before any hand-off
    msg = db.session.get(Message, message_id)
    tpl = db.session.get(Template, msg.template_id) if msg.template_id else None
    if tpl is None:
        return _finish(msg, "failed", "The template was deleted before the message was sent.")
    provider = db.session.get(Provider, msg.provider_id) if msg.provider_id else None
    provider = provider or providers.default_provider(msg.workspace_id)
    if provider is None:
        return _finish(msg, "failed", "No sending provider is configured.")
    sub = db.session.get(Subscriber, msg.subscriber_id) if msg.subscriber_id else None
    try:
        rendered = _render(msg, tpl, _recipient(msg, sub), message_id=msg.id)
    except ValidationError as exc:
        return _finish(msg, "failed", f"render: {exc.message}")
    transport, headers = providers.transport_for(provider)
    skeleton = MessageSkeleton(msg.from_name, msg.from_email, msg.reply_to, headers)
    mid = f"<m{msg.id}.{secrets.token_hex(6)}@{skeleton.domain}>"
    raw = skeleton.build(msg.to_name, msg.to_email, rendered.subject, rendered.html, rendered.text, mid)
    signer = dkim.signer_for(msg.workspace_id, msg.from_email)
    if signer is not None:
        raw = signer.sign(raw)
    _, links = compiled_for(tpl, msg.track_opens, msg.track_clicks)
    take_send_token(get_redis(), provider)
    try:
        ref = message_ref(msg.id)  # comes back in the provider's events (custom args, tags) or the VERP address
        bounce = domains.bounce_domain(msg.workspace_id, msg.from_email)  # SPF aligns with a verified domain
        envelope = envelope_sender(provider, msg.from_email, ref, current_app.config["SECRET_KEY"], bounce)
        # An API provider uses its own bounce domain (None here); SMTP's envelope is what was just made.
        envelope_at = envelope.rpartition("@")[2].lower() if providers.spec_of(provider).verp else None
        msg.authentication = domains.alignment(msg.from_email, signer.domain if signer else None, envelope_at)
        result = transport.send(envelope, msg.to_email, raw, ref)
    except TransportUnavailable as exc:
        return _not_handed_off(msg, f"Cannot reach “{provider.name}”: {exc}", final_attempt)
    finally:
        transport.close()
    common = {"subject": rendered.subject[:998], "provider_id": provider.id, "links": links or None}
    if result.ok:
        return _finish(
            msg, "sent", None, message_id=mid, sent_at=_now(), provider_message_id=result.provider_message_id,
            handoff_reply=result.reply(), **common
        )  # fmt: skip
    if result.failure == "unknown":
        return _finish(msg, "unknown", f"hand-off unknown: {result.detail}", message_id=mid, **common)
    if result.failure == "temporary":
        return _not_handed_off(msg, f"smtp deferred: {result.detail}", final_attempt)
    if (result.enhanced or "").startswith("5.1."):
        _suppress_hard_bounce(msg, result.detail or "")
    return _finish(msg, "failed", f"smtp rejected: {result.detail}", **common)


def _not_handed_off(msg: Message, why: str, final_attempt: bool) -> str:
    if final_attempt:
        return _finish(msg, "failed", f"{why} (gave up after {msg.attempts} attempts)")
    _finish(msg, "queued", f"{why} (attempt {msg.attempts}; retrying)", claimed_at=None)
    raise RetryLater(why)


def recover_stale_messages(ttl_seconds: int = CLAIM_TTL_SECONDS) -> int:
    """Messages a dead worker had claimed: the provider may have them, so they become `unknown`, never resent."""
    cutoff = _now() - timedelta(seconds=ttl_seconds)
    result = db.session.execute(
        update(Message)
        .where(Message.status == "sending", Message.claimed_at < cutoff)
        .values(status="unknown", reason="hand-off unknown: the worker stopped while sending")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def wait_until_done(message_id: int, timeout: float = 30.0) -> str:
    """Poll a message until it leaves queued/sending (tests and scripts use it)."""
    deadline = time.monotonic() + timeout
    status = "missing"
    while time.monotonic() < deadline:
        db.session.expire_all()
        status = db.session.scalar(select(Message.status).where(Message.id == message_id)) or "missing"
        if status not in ("queued", "sending"):
            break
        time.sleep(0.05)
    return status
