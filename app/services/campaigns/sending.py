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
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, case, exists, func, insert, literal, or_, select, text, update

from app.extensions import db
from app.models import Campaign, CampaignList, CampaignRecipient, Link, ListSubscriber, Subscriber, Suppression
from app.models.base import UTCDateTime
from app.providers import TransportUnavailable
from app.providers.addresses import UNSUPPORTED
from app.queueing import SEND_RETRY, SENDS, connection, get_queue
from app.redis_client import get_redis
from app.services.campaigns import ab_tests, send_progress, send_windows
from app.services.campaigns.send_checks import pause_if_template_fails, render_failure, subscriber_rows
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import CompiledMessage, build_context, extract_links
from app.services.delivery import routing
from app.services.delivery.ratelimit import Halted, LimitReached, slow_down, slowed_rate
from app.services.events.provider_events import campaign_ref
from app.services.tokens import TokenMaker
from app.services.transactions import on_commit

CLAIM_CHUNK = 100
STATUS_CHECK_SECONDS = 0.25  # how often a worker looks for a pause or cancel, between two messages
CLAIM_TTL_SECONDS = 600  # a claim older than this belongs to a worker that died mid-hand-off
QUEUED_MARK_SECONDS = 7 * 86400  # outlives any send; refreshed whenever batches are queued
STALL_SECONDS = 600  # due rows unclaimed this long while the jobs should be queued: queue again
MAX_ATTEMPTS = 4  # a recipient refused for now (4xx) is tried this many times in all
SENDER_BLOCKED = "blocked by the receiving server's policy"  # 5.7.x: the sender, not the address
GAVE_UP = "smtp deferred"  # 4xx until MAX_ATTEMPTS were spent
GONE = "The subscriber was deleted before this message was sent."
INTERRUPTED = (
    "hand-off unknown: sending stopped on an unexpected error while this message was with the provider, "
    "which may or may not have it"
)
# Failures that were not the recipient's: the marketer may send to them again with one click.
RESENDABLE_REASONS = (SENDER_BLOCKED, GAVE_UP)
LIMIT_WAIT = "waiting: "  # held back by the provider's daily quota (not a failure, not a retry)
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
        if campaign.ab_test:  # send the test portion only; the rest is held for the winner
            ab_tests.split_audience(campaign)
    db.session.flush()
    ranges = batch_ranges(campaign_id, current_app.config["SEND_BATCH_SIZE"])
    if not ranges:
        finish_if_done(campaign_id)
    return ranges


def prepare_and_queue(campaign_id: int) -> int:
    """Materialize the campaign's recipients and queue its batches once the rows are committed
    (a fast worker must find them); returns the batch count. The `prepare_campaign` job."""
    ranges = prepare_campaign(campaign_id)
    send_round = current_round(campaign_id)
    url = current_app.config["REDIS_URL"]
    on_commit(lambda: enqueue_batches(campaign_id, ranges, url, send_round))
    return len(ranges)


def enqueue_batches(
    campaign_id: int, ranges: list[tuple[int, int]], redis_url: str, send_round: int = 0, suffix: str = ""
) -> None:
    q = get_queue(SENDS, redis_url)
    # A resume queues the batches again: new ids, as the first round's jobs have finished.
    suffix = suffix or (f"-r{send_round}" if send_round else "")
    mark_queued(connection(redis_url), campaign_id)
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


def _queued_key(campaign_id: int) -> str:
    return f"herald:campaign:{campaign_id}:queued"


def mark_queued(r, campaign_id: int) -> None:
    """Note in Redis that the campaign's jobs are queued. Should Redis lose its data (and the
    queue with it), the mark goes too, and requeue_stalled_campaigns queues the work again."""
    r.set(_queued_key(campaign_id), "1", ex=QUEUED_MARK_SECONDS)


def requeue_stalled_campaigns(stall_seconds: float = STALL_SECONDS) -> list[int]:
    """Queue again the work of sending campaigns whose jobs are gone (periodic).

    Jobs vanish when Redis restarts without its data, or when a batch spent all its RQ
    retries while the provider was down. The rows say what is left, and claims are atomic,
    so a job queued twice only shares the rows: nobody receives a message twice.
    """
    from app.services.campaigns.lifecycle import enqueue_prepare

    r = get_redis()
    url = current_app.config["REDIS_URL"]
    now = time.time()
    cutoff = datetime.fromtimestamp(now - stall_seconds, timezone.utc)
    requeued = []
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status == "sending")).all():
        due = select(_cr.c.id).where(
            _cr.c.campaign_id == campaign.id,
            _cr.c.status == "pending",
            or_(_cr.c.retry_at.is_(None), _cr.c.retry_at <= _now()),
        )
        if r.exists(_queued_key(campaign.id)):
            last_claim = db.session.scalar(select(func.max(_cr.c.claimed_at)).where(_cr.c.campaign_id == campaign.id))
            idle_since = last_claim or campaign.started_at
            if idle_since is None or idle_since >= cutoff or not db.session.scalar(select(due.exists())):
                continue  # queued and moving (or nothing left to send): leave it
        if not db.session.scalar(select(exists().where(_cr.c.campaign_id == campaign.id))):
            enqueue_prepare(url, campaign.id, f"x{int(now)}")
            mark_queued(r, campaign.id)
            requeued.append(campaign.id)
            continue
        ranges = batch_ranges(campaign.id, current_app.config["SEND_BATCH_SIZE"])
        if not ranges:
            finish_if_done(campaign.id)
            continue
        enqueue_batches(campaign.id, ranges, url, suffix=f"-x{int(now)}")
        requeued.append(campaign.id)
    return requeued


def current_round(campaign_id: int) -> int:
    return db.session.scalar(select(Campaign.send_round).where(Campaign.id == campaign_id)) or 0


def recover_stale_claims(ttl_seconds: float | None = None) -> int:
    """Rows a dead worker had claimed: the provider may or may not have them, so they are
    reported as 'unknown' (never resent blindly; the marketer may resend them by hand)."""
    if ttl_seconds is None:
        ttl_seconds = current_app.config.get("SEND_CLAIM_TTL_SECONDS", CLAIM_TTL_SECONDS)
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
    ab_tests.start_waiting_if_test_sent(campaign_id, open_rows)  # an A/B test's portion is out: wait
    result = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "sending", ab_tests.NOT_HOLDING, ~exists(open_rows))
        .values(status="sent", completed_at=_now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# One worker process sends many batches of the same campaign: compile once per campaign.
_compiled: "OrderedDict[tuple, CompiledMessage]" = OrderedDict()


def compiled_for(campaign: Campaign, variant=None) -> CompiledMessage:
    """The campaign's message compiled, or one A/B variant's (`variant`: a CampaignVariant)."""
    # send_round: a campaign resumed after its template failed may carry new content.
    key = (campaign.id, campaign.started_at, campaign.send_round, variant.id if variant else None)
    hit = _compiled.get(key)
    if hit is not None:
        _compiled.move_to_end(key)
        return hit
    snap = variant.snapshot if variant else campaign.snapshot
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
        # An A/B test: each recipient gets their variant's message and from name, built once per variant.
        self.variants = None
        if campaign.ab_test:
            self.variants = ab_tests.MessageVariants(
                campaign,
                lambda v: (
                    compiled_for(campaign, v),
                    MessageSkeleton(v.snapshot["from_name"], campaign.from_email, campaign.reply_to, extra_headers),
                ),
            )

    def _parts(self, recipient_id: int) -> tuple[CompiledMessage, MessageSkeleton]:
        default = (self.compiled, self.skeleton)
        return self.variants.parts(recipient_id, default) if self.variants else default

    def prefetch(self, recipient_ids: list[int]) -> None:
        """Look up a claimed chunk's A/B variants in one query."""
        if self.variants:
            self.variants.prefetch(recipient_ids)

    def urls(self, recipient_id: int) -> dict:
        t = self.tokens.make
        return {
            "unsubscribe": f"{self.base}/u/{t('unsubscribe', recipient_id)}",
            "preferences": f"{self.base}/preferences/{t('preferences', recipient_id)}",
            "view": f"{self.base}/v/{t('view', recipient_id)}",
        }

    def render(self, recipient_id: int, subscriber: dict, for_browser: bool = False, encoded: bool = False):
        """The message for one recipient; `encoded`: its parts quoted-printable, for MessageSkeleton.build."""
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

        compiled = self._parts(recipient_id)[0]
        render = compiled.render_encoded if encoded else compiled.render
        return render(ctx, link_url=link_url, pixel_url=pixel), u

    def build(self, recipient_id: int, subscriber: dict) -> tuple[bytes, str]:
        rendered, u = self.render(recipient_id, subscriber, encoded=True)
        message_id = f"<{self.campaign.id}.{recipient_id}.{secrets.token_hex(6)}@{self.skeleton.domain}>"
        unsub = f"<{u['unsubscribe']}>" + (f", <mailto:{self.mailto}?subject=unsubscribe>" if self.mailto else "")
        raw = self._parts(recipient_id)[1].build(
            subscriber.get("name"),
            subscriber["email"],
            rendered.subject,
            rendered.html,
            rendered.text,
            message_id,
            {"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        return raw, message_id


def claim_chunk(per_second: int | None) -> int:
    """Rows claimed at a time: about two seconds' worth at a slow rate, so a crash leaves few
    rows 'unknown' and a claim never outlives the stale-claim timeout while it is being sent."""
    if not per_second:
        return CLAIM_CHUNK
    return max(5, min(CLAIM_CHUNK, per_second * 2))


def _claim(campaign_id: int, first_id: int, last_id: int, limit: int) -> list:
    """Claim up to `limit` due pending rows of the range: [(recipient id, subscriber id)]."""
    rows = db.session.execute(
        update(_cr)
        .where(_cr.c.id.in_(_due(campaign_id, first_id, last_id, limit).scalar_subquery()), _cr.c.status == "pending")
        .values(status="sending", claimed_at=_now())
        .returning(_cr.c.id, _cr.c.subscriber_id)
    ).all()
    return sorted(rows)


def _due(campaign_id: int, first_id: int, last_id: int, limit: int):
    return (
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


# PostgreSQL: the claim and the claimed people's details in one statement (one round trip).
_CLAIM_WITH_SUBSCRIBERS = text(
    "WITH claimed AS ("
    " UPDATE campaign_recipients SET status = 'sending', claimed_at = :now"
    " WHERE id IN (SELECT id FROM campaign_recipients"
    "  WHERE campaign_id = :cid AND status = 'pending' AND id BETWEEN :first AND :last"
    "  AND (retry_at IS NULL OR retry_at <= :now) ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED)"
    " AND status = 'pending' RETURNING id, subscriber_id)"
    " SELECT c.id, c.subscriber_id, s.email, s.name, s.attributes, s.timezone"
    " FROM claimed c LEFT JOIN subscribers s ON s.id = c.subscriber_id ORDER BY c.id"
)
_CLAIM_WITH_SUBSCRIBERS = _CLAIM_WITH_SUBSCRIBERS.bindparams(bindparam("now", type_=UTCDateTime)).columns(
    _cr.c.id, _cr.c.subscriber_id, _sub.c.email, _sub.c.name, _sub.c.attributes, _sub.c.timezone
)


def _claim_with_subscribers(campaign_id: int, first_id: int, last_id: int, limit: int) -> tuple[list, dict]:
    """`_claim` and `_subscribers` of what it claimed."""
    if db.session.get_bind().dialect.name != "postgresql":
        claimed = _claim(campaign_id, first_id, last_id, limit)
        return claimed, (subscriber_rows([s for _, s in claimed]) if claimed else {})
    rows = db.session.execute(
        _CLAIM_WITH_SUBSCRIBERS, {"now": _now(), "cid": campaign_id, "first": first_id, "last": last_id, "n": limit}
    ).all()
    subs = {
        r.subscriber_id: {
            "id": r.subscriber_id,
            "email": r.email,
            "name": r.name,
            "attributes": r.attributes or {},
            "timezone": r.timezone,
        }
        for r in rows
        if r.email is not None  # None: the subscriber was deleted since materialization
    }
    return [(r.id, r.subscriber_id) for r in rows], subs


def _campaign_status(campaign_id: int) -> str:
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


_mark_sent = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(
        status="sent",
        sent_at=bindparam("ts"),
        message_id=bindparam("mid"),
        reason=None,
        provider_id=bindparam("pid"),
        provider_message_id=bindparam("pmid"),
    )
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


# Held back by a limit (not the recipient's fault): no attempt is counted.
_wait = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status="pending", claimed_at=None, retry_at=bindparam("at"), reason=bindparam("why"))
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


def limit_wait(campaign_id: int) -> dict:
    """{"recipients": how many wait for a quota to renew, "resumes_at", "reason"} for the page."""
    row = db.session.execute(
        select(func.count(), func.min(_cr.c.retry_at), func.min(_cr.c.reason)).where(
            _cr.c.campaign_id == campaign_id, _cr.c.status == "pending", _cr.c.reason.startswith(LIMIT_WAIT)
        )
    ).one()
    resumes_at = row[1]
    if resumes_at is not None and resumes_at.tzinfo is None:  # SQLite drops the offset of an aggregate
        resumes_at = resumes_at.replace(tzinfo=timezone.utc)
    reason = row[2][len(LIMIT_WAIT) :] if row[2] else None
    return {"recipients": row[0] or 0, "resumes_at": resumes_at, "reason": reason}


def requeue_due_retries() -> int:
    """Queue a batch for every sending campaign whose deferred recipients are due again (periodic)."""
    now = _now()
    rows = db.session.execute(
        select(_cr.c.campaign_id, func.min(_cr.c.id), func.max(_cr.c.id))
        .join(Campaign, Campaign.id == _cr.c.campaign_id)
        .where(Campaign.status == "sending", _cr.c.status == "pending", _cr.c.retry_at <= now)
        .group_by(_cr.c.campaign_id)
    ).all()
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


def _record(sent: list, failed: list, released: list, retries: list | None = None, waiting: list | None = None) -> None:
    if retries:
        db.session.execute(_defer, retries)
    if waiting:
        db.session.execute(_wait, waiting)
    if sent:
        _record_sent(sent)
    if failed:
        db.session.execute(_mark_failed, failed)
    if released:
        db.session.execute(_release, released)


_MARK_SENT_MANY = text(
    "UPDATE campaign_recipients AS cr SET status = 'sent', sent_at = v.ts, message_id = v.mid, reason = NULL,"
    " provider_id = v.pid, provider_message_id = v.pmid"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:ts AS timestamptz[]), CAST(:mids AS text[]),"
    " CAST(:pids AS integer[]), CAST(:pmids AS text[])) AS v(id, ts, mid, pid, pmid)"
    " WHERE cr.id = v.id"
)


def _record_sent(sent: list) -> None:
    """A chunk's successes in one UPDATE … FROM unnest() on PostgreSQL (a statement per row elsewhere)."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(_mark_sent, sent)
        return
    db.session.execute(
        _MARK_SENT_MANY,
        {
            "ids": [r["rid"] for r in sent],
            "ts": [r["ts"] for r in sent],
            "mids": [r["mid"] for r in sent],
            "pids": [r["pid"] for r in sent],
            "pmids": [r["pmid"] for r in sent],
        },
    )


def _sync_refusals(campaign: Campaign, refusals: list) -> None:
    """The server's synchronous refusals become provider events, with the same cascade as a
    webhook's: a 5.1.x suppresses the address, a 5.7.x counts against the sender, not the address."""
    from app.providers import ProviderEvent
    from app.providers.bounces import classify
    from app.services.events import provider_events

    by_provider: dict[int, list] = {}
    now = _now()
    for rid, _sid, email, result, pid in refusals:
        by_provider.setdefault(pid, []).append(
            ProviderEvent(
                event_id=f"{campaign.id}-{rid}",
                event_type="bounce",
                raw_type="smtp/refused",
                email=email,
                occurred_at=now,
                ref=campaign_ref(campaign.id, rid),
                bounce_type=classify(result.code, result.enhanced, result.detail),
                smtp_code=result.code,
                enhanced=result.enhanced,
                diagnostic=result.detail,
            )
        )
    for pid, events in by_provider.items():
        provider_events.ingest(campaign.workspace_id, pid, events, source="sync")


def _count_sent(campaign: Campaign, sent: list) -> None:
    if sent:
        from collections import Counter

        from app.services.delivery import delivery_stats

        delivery_stats.add_sent(campaign.workspace_id, Counter(r["pid"] for r in sent), campaign.from_email)


def _untried(claimed: list, sent: list, failed: list, deferred: list) -> list[dict]:
    """Claimed rows no hand-off was attempted for: safe to put back to pending."""
    done = {r["rid"] for r in sent} | {r["rid"] for r in failed} | {r for r, _ in deferred}
    return [{"rid": rid} for rid, _ in claimed if rid not in done]


def _sender_blocked(campaign: Campaign, blocks: list) -> None:
    """Receiving servers refuse this sender (5.7.x): alert the marketer and send slower."""
    r = get_redis()
    provider, last = blocks[-1]
    for p in {p.id: p for p, _ in blocks}.values():
        slow_down(r, p.id, last)
    rate = slowed_rate(provider.max_sends_per_second)
    campaign.last_error = (
        f"Receiving servers are refusing mail from this sender ({len(blocks)} just now; last reply: "
        f"{last}). Herald sends through “{provider.name}” at {rate}/s for the next 15 minutes. "
        "Check the sending domain's SPF, DKIM and DMARC and its reputation; the refused recipients "
        "were not suppressed and can be sent again from this page."
    )[:2000]
    current_app.logger.warning("sender blocked: campaign %s provider %s: %s", campaign.id, provider.id, last)


@dataclass
class ChunkOutcome:
    """What the rows of one claimed chunk came to, kept until they are recorded in one go."""

    sent: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # failed, bounced and unknown rows, with the reason
    released: list = field(default_factory=list)  # back to pending, untried
    bounces: list = field(default_factory=list)  # permanent refusals, for the event log's cascade
    deferred: list = field(default_factory=list)  # 4xx: tried again later
    blocks: list = field(default_factory=list)  # 5.7.x: the server refused the sender, not the address
    window_waits: list = field(default_factory=list)  # the window closed before their hand-off

    def take(self, rid: int, sid: int, email: str, mid: str, provider, result) -> None:
        """File one hand-off's answer: sent, not taken (an address the provider cannot carry),
        unknown, deferred (4xx), or refused (5.1.x bounces the address; 5.7.x blocks the sender)."""
        if result.ok:
            self.sent.append(
                {"rid": rid, "ts": _now(), "mid": mid, "pid": provider.id, "pmid": result.provider_message_id}
            )
        elif result.failure == UNSUPPORTED:  # the provider cannot take the address: no bounce
            self.failed.append({"rid": rid, "st": "failed", "why": (result.detail or "")[:500], "mid": None})
        elif result.failure == "unknown":
            why = f"hand-off unknown: {result.detail}"[:500]
            self.failed.append({"rid": rid, "st": "unknown", "why": why, "mid": mid})
        elif result.failure == "temporary":
            self.deferred.append((rid, f"smtp deferred: {result.detail}"))
        else:
            self._refused(rid, sid, email, provider, result)

    def _refused(self, rid: int, sid: int, email: str, provider, result) -> None:
        enhanced = result.enhanced or ""
        why = f"smtp rejected: {result.detail}"
        permanent = result.failure == "permanent"
        if permanent and enhanced.startswith(
            "5.7."
        ):  # the server refuses the sender, not the address: never suppress it
            why = f"{SENDER_BLOCKED}: {result.detail}"
            self.blocks.append((provider, result.detail))
        status = "bounced" if permanent and enhanced.startswith("5.1.") else "failed"
        self.failed.append({"rid": rid, "st": status, "why": why[:500], "mid": None})
        # Every permanent refusal is a bounce event too (classified hard, soft or block).
        self.bounces.append((rid, sid, email, result, provider.id))


def send_batch(campaign_id: int, first_id: int, last_id: int) -> dict:
    """Send the pending recipients with ids in [first_id, last_id]; safe to run again.

    Commits at each checkpoint (claim, then results) so progress survives a crash.
    """
    campaign = db.session.get(Campaign, campaign_id)
    counts = {"sent": 0, "failed": 0, "unknown": 0}
    if campaign is None or campaign.status != "sending":
        return counts
    try:
        router = routing.Router.for_campaign(campaign)
    except TransportUnavailable as exc:
        campaign.last_error = str(exc)
        db.session.commit()
        raise
    factory = MessageFactory(campaign, router.headers)
    windows = send_windows.gate_for(campaign)  # None: the campaign may send at any time
    chunk = claim_chunk(router.primary.limits.second.limit)
    next_check = time.monotonic() + STATUS_CHECK_SECONDS
    try:
        while _campaign_status(campaign_id) == "sending":
            if windows is not None and windows.hold_back(first_id, last_id):
                break  # the send window is closed for the whole range: it waits, set in one UPDATE
            claimed, subs = _claim_with_subscribers(campaign_id, first_id, last_id, chunk)
            db.session.commit()
            if not claimed:
                break
            factory.prefetch([rid for rid, _ in claimed])
            out = ChunkOutcome()
            halted, waited, reported = False, 0.0, 0
            attempting = None  # the row being handed off right now: its fate is unknown on a crash
            held: LimitReached | None = None
            try:
                for rid, sid in claimed:
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + STATUS_CHECK_SECONDS
                        handled = len(out.sent) + len(out.failed) + len(out.deferred)
                        send_progress.record(campaign_id, handled - reported, waited)
                        reported, waited = handled, 0.0
                        if _campaign_status(campaign_id) != "sending":
                            halted = True  # paused or cancelled: stop between two messages
                            break
                    sub = subs.get(sid)
                    if sub is None:  # deleted since materialization
                        out.failed.append({"rid": rid, "st": "failed", "why": GONE, "mid": None})
                        continue
                    if windows is not None and (wait := windows.closed_for(sub)):
                        out.window_waits.append({"rid": rid, **wait})
                        continue
                    try:
                        raw, mid = factory.build(rid, sub)
                    except Exception as exc:  # a marketer's template failing for this person's data
                        out.failed.append({"rid": rid, "st": "failed", "why": render_failure(exc), "mid": None})
                        continue
                    attempting = rid
                    try:
                        route, result, w = router.send(
                            sub["email"],
                            raw,
                            campaign_ref(campaign_id, rid),
                            lambda: _campaign_status(campaign_id) != "sending",
                        )
                        waited += w
                    except Halted:
                        halted = True
                        break
                    except LimitReached as exc:
                        held = exc  # this row and the rest wait for the quota to renew
                        break
                    attempting = None
                    out.take(rid, sid, sub["email"], mid, route.provider, result)
            except Exception as exc:
                # Whatever stopped the loop (the provider unreachable, Redis or the database
                # gone), rows not yet tried go back to pending; only the one mid-hand-off is
                # unknown. RQ retries the batch, and a lost job is re-queued by the scheduler.
                retries = _retry_or_fail(out.deferred, out.failed)
                if attempting is not None and router.in_flight:
                    # (TransportUnavailable means the message never reached DATA: not handed off.)
                    current_app.logger.exception(
                        "hand-off interrupted: campaign %s recipient %s", campaign_id, attempting
                    )
                    out.failed.append({"rid": attempting, "st": "unknown", "why": INTERRUPTED, "mid": None})
                out.released = _untried(claimed, out.sent, out.failed, out.deferred)
                db.session.rollback()
                _record(out.sent, out.failed, out.released, retries)
                if isinstance(exc, TransportUnavailable):
                    names = ", ".join(f"“{r.provider.name}”" for r in router.routes)
                    why = f"Cannot reach {names}: {exc}. Sending retries automatically."
                    campaign.last_error = why[:2000]
                db.session.commit()
                raise
            retries = _retry_or_fail(out.deferred, out.failed)
            waiting = []
            if held is not None:
                waiting = [
                    {"rid": r["rid"], "at": held.resume_at, "why": f"{LIMIT_WAIT}{held.reason}"[:500]}
                    for r in _untried(claimed, out.sent, out.failed, out.deferred)
                ]
            elif halted:
                out.released = _untried(claimed, out.sent, out.failed, out.deferred)
            send_windows.defer(out.window_waits)
            _record(out.sent, out.failed, out.released, retries, waiting)
            if campaign.last_error and out.sent:
                campaign.last_error = None  # the provider answers again
            if out.bounces:
                _sync_refusals(campaign, out.bounces)
            if out.blocks:
                _sender_blocked(campaign, out.blocks)
            _count_sent(campaign, out.sent)
            db.session.commit()
            if not out.sent:
                pause_if_template_fails(campaign_id, out.failed)
            send_progress.record(campaign_id, len(out.sent) + len(out.failed) + len(out.deferred) - reported, waited)
            counts["sent"] += len(out.sent)
            counts["failed"] += sum(1 for f in out.failed if f["st"] in ("failed", "bounced"))
            counts["unknown"] += sum(1 for f in out.failed if f["st"] == "unknown")
            if held is not None:
                break
            if halted:
                break
    finally:
        router.close()
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
    sub = subscriber_rows([rec.subscriber_id]).get(rec.subscriber_id) or {
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
