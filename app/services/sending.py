"""The send pipeline (DESIGN.md §3): materialize, batch, claim, render, hand off, record.

A recipient row moves pending -> sending (claimed, committed before any hand-off) ->
sent | failed | unknown. A crash after the claim leaves the row `sending`, never
`pending`, so nothing is handed off twice; rows whose hand-off was interrupted are
marked `unknown` for the marketer to review rather than silently resent.
"""

import random
import secrets
import time
from collections import OrderedDict
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, case, exists, func, insert, literal, or_, select, update

from app.extensions import db
from app.models import Campaign, CampaignList, CampaignRecipient, Event, Link, ListSubscriber, Subscriber, Suppression
from app.providers import TransportUnavailable
from app.redis_client import get_redis
from app.services import send_progress
from app.services.mime import MessageSkeleton
from app.services.providers import default_provider, get_provider, transport_for
from app.services.ratelimit import PerSecondLimiter
from app.services.rendering import CompiledMessage, build_context, extract_links
from app.services.tokens import TokenMaker

CLAIM_CHUNK = 100
STATUS_CHECK_SECONDS = 0.25  # how often a worker looks for a pause or cancel, between two messages
CLAIM_TTL_SECONDS = 600  # a claim older than this belongs to a worker that died mid-hand-off
MAX_ATTEMPTS = 4  # a recipient refused for now (4xx) is tried this many times in all
_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def materialize_recipients(campaign: Campaign) -> int:
    """Write the audience as recipient rows in one INSERT … SELECT; suppressed people become
    `failed` rows with their reason, so reports show what suppression saved."""
    list_ids = select(CampaignList.list_id).where(CampaignList.campaign_id == campaign.id)
    sup = Suppression.__table__
    on_lists = select(ListSubscriber.subscriber_id).where(ListSubscriber.list_id.in_(list_ids))
    status = case((_sub.c.status != "active", "failed"), (sup.c.id.is_not(None), "failed"), else_="pending")
    reason = case(
        (_sub.c.status != "active", literal("suppressed:").concat(_sub.c.status)),
        (sup.c.id.is_not(None), literal("suppressed:").concat(sup.c.reason)),
        else_=None,
    )
    audience = (
        select(
            literal(campaign.id),
            _sub.c.id,
            _sub.c.email,
            status,
            reason,
            literal(_now(), type_=CampaignRecipient.created_at.type),
        )
        .select_from(_sub.outerjoin(sup, (sup.c.workspace_id == _sub.c.workspace_id) & (sup.c.email == _sub.c.email)))
        .where(_sub.c.workspace_id == campaign.workspace_id, _sub.c.id.in_(on_lists))
        .order_by(_sub.c.id)
    )
    db.session.execute(
        insert(_cr).from_select(["campaign_id", "subscriber_id", "email", "status", "reason", "created_at"], audience)
    )
    return db.session.scalar(select(func.count()).where(_cr.c.campaign_id == campaign.id)) or 0


def _create_links(campaign: Campaign) -> None:
    if not campaign.track_clicks:
        return
    urls = extract_links(campaign.snapshot["body_html"])
    if urls:
        db.session.execute(
            insert(Link), [{"campaign_id": campaign.id, "position": i, "url": u} for i, u in enumerate(urls, 1)]
        )


def batch_ranges(campaign_id: int, size: int) -> list[tuple[int, int]]:
    """Id ranges of at most `size` pending recipients, computed in SQL."""
    numbered = (
        select(_cr.c.id, func.row_number().over(order_by=_cr.c.id).label("rn"))
        .where(_cr.c.campaign_id == campaign_id, _cr.c.status == "pending")
        .subquery()
    )
    bounds = list(
        db.session.execute(
            select(numbered.c.id, numbered.c.rn)
            .where(((numbered.c.rn - 1) % size == 0) | (numbered.c.rn % size == 0))
            .order_by(numbered.c.rn)
        ).all()
    )
    last = db.session.scalar(
        select(func.max(_cr.c.id)).where(_cr.c.campaign_id == campaign_id, _cr.c.status == "pending")
    )
    starts = [i for i, rn in bounds if (rn - 1) % size == 0]
    ends = [i for i, rn in bounds if rn % size == 0]
    if len(ends) < len(starts):
        ends.append(last)
    return list(zip(starts, ends, strict=True))


def prepare_campaign(campaign_id: int) -> list[tuple[int, int]]:
    """Materialize the audience once and return the batches to queue (the caller commits first)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return []
    already = db.session.scalar(select(exists().where(_cr.c.campaign_id == campaign_id)))
    if not already:
        campaign.total_recipients = materialize_recipients(campaign)
        _create_links(campaign)
    db.session.flush()
    ranges = batch_ranges(campaign_id, current_app.config["SEND_BATCH_SIZE"])
    if not ranges:
        finish_if_done(campaign_id)
    return ranges


def enqueue_batches(campaign_id: int, ranges: list[tuple[int, int]], redis_url: str, send_round: int = 0) -> None:
    from workers.queues import SEND_RETRY, SENDS, get_queue

    q = get_queue(SENDS, redis_url)
    # A resume queues the batches again: new ids, as the first round's jobs have finished.
    suffix = f"-r{send_round}" if send_round else ""
    jobs = [
        q.prepare_data(
            "workers.jobs.send_batch",
            (campaign_id, a, b),
            retry=SEND_RETRY,
            job_id=f"send-{campaign_id}-{a}-{b}{suffix}",
        )
        for a, b in ranges
    ]
    for i in range(0, len(jobs), 1000):
        q.enqueue_many(jobs[i : i + 1000])


def current_round(campaign_id: int) -> int:
    return db.session.scalar(select(Campaign.send_round).where(Campaign.id == campaign_id)) or 0


def recover_stale_claims(ttl_seconds: int = CLAIM_TTL_SECONDS) -> int:
    """Rows a dead worker had claimed: the provider may or may not have them, so they are
    reported as 'unknown' (never resent blindly; the marketer may resend them by hand)."""
    cutoff = datetime.fromtimestamp(time.time() - ttl_seconds, timezone.utc)
    stale = db.session.execute(
        update(_cr)
        .where(_cr.c.status == "sending", _cr.c.claimed_at < cutoff)
        .values(status="unknown", reason="hand-off unknown: the worker stopped while sending")
        .returning(_cr.c.campaign_id)
    ).all()
    for campaign_id in {r.campaign_id for r in stale}:
        finish_if_done(campaign_id)
    return len(stale)


def finish_if_done(campaign_id: int) -> bool:
    """Mark the campaign sent once no recipient is pending or mid-hand-off."""
    open_rows = select(_cr.c.id).where(_cr.c.campaign_id == campaign_id, _cr.c.status.in_(("pending", "sending")))
    result = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "sending", ~exists(open_rows))
        .values(status="sent", completed_at=_now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# One worker process sends many batches of the same campaign: compile once per campaign.
_compiled: "OrderedDict[tuple, CompiledMessage]" = OrderedDict()


def compiled_for(campaign: Campaign) -> CompiledMessage:
    key = (campaign.id, campaign.started_at)
    hit = _compiled.get(key)
    if hit is not None:
        _compiled.move_to_end(key)
        return hit
    snap = campaign.snapshot
    links = dict(db.session.execute(select(Link.url, Link.id).where(Link.campaign_id == campaign.id)).all())
    compiled = CompiledMessage(
        snap["subject"],
        snap["body_html"],
        snap.get("body_text"),
        snap.get("preview_text"),
        link_ids=links,
        track_opens=campaign.track_opens,
    )
    _compiled[key] = compiled
    while len(_compiled) > 32:
        _compiled.popitem(last=False)
    return compiled


class MessageFactory:
    """Everything per message that is not the hand-off: context, render, MIME."""

    def __init__(self, campaign: Campaign, extra_headers: dict):
        cfg = current_app.config
        self.campaign = campaign
        self.base = cfg["BASE_URL"]
        self.tokens = TokenMaker(cfg["SECRET_KEY"])
        self.compiled = compiled_for(campaign)
        self.skeleton = MessageSkeleton(campaign.from_name, campaign.from_email, campaign.reply_to, extra_headers)
        self.mailto = cfg.get("UNSUBSCRIBE_MAILBOX")

    def urls(self, recipient_id: int) -> dict:
        t = self.tokens.make
        return {
            "unsubscribe": f"{self.base}/u/{t('unsubscribe', recipient_id)}",
            "preferences": f"{self.base}/preferences/{t('preferences', recipient_id)}",
            "view": f"{self.base}/v/{t('view', recipient_id)}",
        }

    def render(self, recipient_id: int, subscriber: dict, for_browser: bool = False):
        u = self.urls(recipient_id)
        ctx = build_context(
            subscriber, self.campaign.name, u["unsubscribe"], u["preferences"], u["view"], base_url=self.base
        )
        t = self.tokens.make
        pixel = None if for_browser else f"{self.base}/t/o/{t('open', recipient_id)}.gif"
        signed: dict[int, str] = {}  # each link appears in the HTML and the text part: sign it once

        def link_url(lid: int) -> str:
            url = signed.get(lid)
            if url is None:
                url = signed[lid] = f"{self.base}/t/c/{t('click', recipient_id, lid)}"
            return url

        return self.compiled.render(ctx, link_url=link_url, pixel_url=pixel), u

    def build(self, recipient_id: int, subscriber: dict) -> tuple[bytes, str]:
        rendered, u = self.render(recipient_id, subscriber)
        message_id = f"<{self.campaign.id}.{recipient_id}.{secrets.token_hex(6)}@{self.skeleton.domain}>"
        unsub = f"<{u['unsubscribe']}>" + (f", <mailto:{self.mailto}?subject=unsubscribe>" if self.mailto else "")
        raw = self.skeleton.build(
            subscriber.get("name"),
            subscriber["email"],
            rendered.subject,
            rendered.html,
            rendered.text,
            message_id,
            {"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        return raw, message_id


def _claim(campaign_id: int, first_id: int, last_id: int, limit: int) -> list:
    ids = (
        select(_cr.c.id)
        .where(
            _cr.c.campaign_id == campaign_id,
            _cr.c.status == "pending",
            _cr.c.id >= first_id,
            _cr.c.id <= last_id,
            or_(_cr.c.retry_at.is_(None), _cr.c.retry_at <= _now()),
        )
        .order_by(_cr.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = db.session.execute(
        update(_cr)
        .where(_cr.c.id.in_(ids.scalar_subquery()), _cr.c.status == "pending")
        .values(status="sending", claimed_at=_now())
        .returning(_cr.c.id, _cr.c.subscriber_id)
    ).all()
    return sorted(rows)


def _subscribers(ids: list[int]) -> dict[int, dict]:
    rows = db.session.execute(
        select(_sub.c.id, _sub.c.email, _sub.c.name, _sub.c.attributes).where(_sub.c.id.in_(ids))
    ).all()
    return {r.id: {"id": r.id, "email": r.email, "name": r.name, "attributes": r.attributes or {}} for r in rows}


def _campaign_status(campaign_id: int) -> str:
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


_mark_sent = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status="sent", sent_at=bindparam("ts"), message_id=bindparam("mid"), reason=None)
)
_mark_failed = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status=bindparam("st"), reason=bindparam("why"), message_id=bindparam("mid"))
)
_release = update(_cr).where(_cr.c.id == bindparam("rid")).values(status="pending", claimed_at=None)
_defer = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(
        status="pending", claimed_at=None, attempts=bindparam("n"), retry_at=bindparam("at"), reason=bindparam("why")
    )
)


def _retry_or_fail(deferred: list[tuple[int, str]], failed: list) -> list:
    """Temporary refusals: back to pending after a growing, jittered wait, or failed for good
    once MAX_ATTEMPTS tries are spent (with the server's last reply as the reason)."""
    if not deferred:
        return []
    attempts = dict(
        db.session.execute(select(_cr.c.id, _cr.c.attempts).where(_cr.c.id.in_([r for r, _ in deferred]))).all()
    )
    base = current_app.config.get("SEND_RETRY_BASE_SECONDS", 60)
    retries = []
    for rid, why in deferred:
        n = (attempts.get(rid) or 0) + 1
        if n >= MAX_ATTEMPTS:
            failed.append({"rid": rid, "st": "failed", "why": f"{why} (gave up after {n} attempts)"[:500], "mid": None})
            continue
        wait = base * 2 ** (n - 1) * (1 + random.random() * 0.3)  # jitter: retries of many do not collide
        at = datetime.fromtimestamp(time.time() + wait, timezone.utc)
        retries.append({"rid": rid, "n": n, "at": at, "why": f"{why} (attempt {n} of {MAX_ATTEMPTS}; retrying)"[:500]})
    return retries


def requeue_due_retries() -> int:
    """Queue a batch for every sending campaign whose deferred recipients are due again (periodic)."""
    now = _now()
    rows = db.session.execute(
        select(_cr.c.campaign_id, func.min(_cr.c.id), func.max(_cr.c.id))
        .join(Campaign, Campaign.id == _cr.c.campaign_id)
        .where(Campaign.status == "sending", _cr.c.status == "pending", _cr.c.retry_at <= now)
        .group_by(_cr.c.campaign_id)
    ).all()
    from workers.queues import SEND_RETRY, SENDS, get_queue

    q = get_queue(SENDS, current_app.config["REDIS_URL"])
    for campaign_id, first, last in rows:
        # Claims are atomic: should a regular batch of the range still be queued, they share the rows.
        q.enqueue(
            "workers.jobs.send_batch",
            campaign_id,
            first,
            last,
            retry=SEND_RETRY,
            job_id=f"retry-{campaign_id}-{first}-{last}-{int(now.timestamp())}",
        )
    return len(rows)


def _record(sent: list, failed: list, released: list, retries: list | None = None) -> None:
    if retries:
        db.session.execute(_defer, retries)
    if sent:
        db.session.execute(_mark_sent, sent)
    if failed:
        db.session.execute(_mark_failed, failed)
    if released:
        db.session.execute(_release, released)


def _suppress_hard_bounces(campaign: Campaign, bounces: list[tuple[int, int, str, str]]) -> None:
    """A 5.1.x reply means the mailbox does not exist: never send to it again."""
    from app.services.audience import suppress_address

    now = _now()
    for recipient_id, subscriber_id, email, detail in bounces:
        suppress_address(campaign.workspace_id, email, "bounced", detail)
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id, Subscriber.status == "active")
            .values(status="bounced", updated_at=now)
        )
        db.session.execute(
            insert(Event).values(
                workspace_id=campaign.workspace_id,
                event_key=f"smtp-bounce:{recipient_id}",
                event_type="bounce",
                campaign_id=campaign.id,
                recipient_id=recipient_id,
                subscriber_id=subscriber_id,
                data={"bounce_type": "hard", "diagnostic": detail},
                occurred_at=now,
                created_at=now,
            )
        )


def send_batch(campaign_id: int, first_id: int, last_id: int) -> dict:
    """Send the pending recipients with ids in [first_id, last_id]; safe to run again.

    Commits at each checkpoint (claim, then results) so progress survives a crash.
    """
    campaign = db.session.get(Campaign, campaign_id)
    counts = {"sent": 0, "failed": 0, "unknown": 0}
    if campaign is None or campaign.status != "sending":
        return counts
    provider = (
        get_provider(campaign.workspace_id, campaign.provider_id)
        if campaign.provider_id
        else default_provider(campaign.workspace_id)
    )
    if provider is None:
        campaign.last_error = "No sending provider is configured."
        db.session.commit()
        raise TransportUnavailable(campaign.last_error)
    transport, extra_headers = transport_for(provider)
    factory = MessageFactory(campaign, extra_headers)
    limiter = PerSecondLimiter(get_redis(), f"herald:rate:provider:{provider.id}", provider.max_sends_per_second)
    envelope_from = campaign.from_email
    next_check = time.monotonic() + STATUS_CHECK_SECONDS
    try:
        while _campaign_status(campaign_id) == "sending":
            claimed = _claim(campaign_id, first_id, last_id, CLAIM_CHUNK)
            db.session.commit()
            if not claimed:
                break
            subs = _subscribers([s for _, s in claimed])
            sent, failed, released, bounces, deferred = [], [], [], [], []
            halted, waited, reported = False, 0.0, 0
            try:
                for rid, sid in claimed:
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + STATUS_CHECK_SECONDS
                        handled = len(sent) + len(failed) + len(deferred)
                        send_progress.record(campaign_id, handled - reported, waited)
                        reported, waited = handled, 0.0
                        if _campaign_status(campaign_id) != "sending":
                            halted = True  # paused or cancelled: stop between two messages
                            break
                    sub = subs.get(sid)
                    if sub is None:  # deleted since materialization
                        failed.append({"rid": rid, "st": "failed", "why": "subscriber deleted", "mid": None})
                        continue
                    try:
                        raw, mid = factory.build(rid, sub)
                    except Exception as exc:  # a marketer's template failing for this person's data
                        failed.append(
                            {
                                "rid": rid,
                                "st": "failed",
                                "why": f"render: {type(exc).__name__}: {exc}"[:500],
                                "mid": None,
                            }
                        )
                        continue
                    waited += limiter.acquire()
                    result = transport.send(envelope_from, sub["email"], raw)
                    if result.ok:
                        sent.append({"rid": rid, "ts": _now(), "mid": mid})
                    elif result.failure == "unknown":
                        failed.append(
                            {"rid": rid, "st": "unknown", "why": f"hand-off unknown: {result.detail}"[:500], "mid": mid}
                        )
                    else:
                        why = f"smtp {'deferred' if result.failure == 'temporary' else 'rejected'}: {result.detail}"
                        if result.failure == "temporary":
                            deferred.append((rid, why))
                            continue
                        hard = result.failure == "permanent" and (result.enhanced or "").startswith("5.1.")
                        failed.append(
                            {"rid": rid, "st": "bounced" if hard else "failed", "why": why[:500], "mid": None}
                        )
                        if hard:
                            bounces.append((rid, sid, sub["email"], result.detail))
            except TransportUnavailable as exc:
                # Nothing of the rest was handed off: back to pending, and RQ retries the batch later.
                retries = _retry_or_fail(deferred, failed)
                done = {r["rid"] for r in sent} | {r["rid"] for r in failed} | {r for r, _ in deferred}
                released = [{"rid": rid} for rid, _ in claimed if rid not in done]
                _record(sent, failed, released, retries)
                campaign.last_error = f"Cannot reach “{provider.name}”: {exc}. Sending retries automatically."[:2000]
                db.session.commit()
                raise
            retries = _retry_or_fail(deferred, failed)
            if halted:
                done = {r["rid"] for r in sent} | {r["rid"] for r in failed} | {r for r, _ in deferred}
                released = [{"rid": rid} for rid, _ in claimed if rid not in done]
            _record(sent, failed, released, retries)
            if campaign.last_error and sent:
                campaign.last_error = None  # the provider answers again
            if bounces:
                _suppress_hard_bounces(campaign, bounces)
            db.session.commit()
            send_progress.record(campaign_id, len(sent) + len(failed) + len(deferred) - reported, waited)
            counts["sent"] += len(sent)
            counts["failed"] += sum(1 for f in failed if f["st"] in ("failed", "bounced"))
            counts["unknown"] += sum(1 for f in failed if f["st"] == "unknown")
            if halted:
                break
    finally:
        transport.close()
    finish_if_done(campaign_id)
    db.session.commit()
    return counts


def recipient_view(recipient_id: int) -> tuple[str, Campaign] | None:
    """The message as this recipient received it, for the view-in-browser page (no pixel)."""
    rec = db.session.get(CampaignRecipient, recipient_id)
    if rec is None:
        return None
    campaign = db.session.get(Campaign, rec.campaign_id)
    if campaign is None or not campaign.snapshot:
        return None
    sub = _subscribers([rec.subscriber_id]).get(rec.subscriber_id) or {
        "id": 0,
        "email": rec.email,
        "name": None,
        "attributes": {},
    }
    rendered, _ = MessageFactory(campaign, {}).render(rec.id, sub, for_browser=True)
    return rendered.html, campaign


def wait_until_sent(campaign_id: int, timeout: float = 30.0) -> str:
    """Poll the campaign's status (tests and the CLI use it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        db.session.expire_all()
        status = _campaign_status(campaign_id)
        if status != "sending":
            return status
        time.sleep(0.1)
    return _campaign_status(campaign_id)
