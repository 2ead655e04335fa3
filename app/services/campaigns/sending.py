"""The send engine (DESIGN.md §3): claim a chunk, build each message, hand it off, file the answer, record.

    send_batch(campaign, first, last)   the `send_batch` job: one range of recipient rows
      BatchRun.send_all                 claim chunks while the campaign is sending and its window open
        BatchRun.send_chunk             one claimed chunk: deliver each row, then settle the chunk
          BatchRun.deliver_one          build one message, hand it to the router, file its answer
        BatchRun.settle                 record the chunk's answers (outcomes.py) and their cascades
        BatchRun.abandon                whatever stopped the loop: untried rows back to pending

A row is claimed (status `sending`) and committed before any hand-off, so a crash never hands
a message off twice; the recipient rows themselves are recipients.py, the jobs dispatch.py,
the message building messages.py and the meaning of each answer outcomes.py.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, text, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, LoyaltyAccount, Subscriber
from app.models.base import UTCDateTime
from app.providers import TransportUnavailable
from app.redis_client import get_redis
from app.services.campaigns import dispatch, outcomes, send_progress, send_windows
from app.services.campaigns.messages import FLOW_CONTEXT, MessageFactory
from app.services.campaigns.outcomes import GONE, INTERRUPTED, ChunkOutcome
from app.services.campaigns.recipients import LIMIT_WAIT, campaign_status, finish_if_done
from app.services.campaigns.send_checks import loyalty_of, pause_if_template_fails, render_failure, subscriber_rows
from app.services.delivery import health, routing
from app.services.delivery.ratelimit import Halted, LimitReached
from app.services.delivery.throttle import THROTTLED, PairThrottle, ThrottlePolicy, pair_of
from app.services.events.provider_events import campaign_ref

CLAIM_CHUNK = 100
STATUS_CHECK_SECONDS = 0.25  # how often a worker looks for a pause or cancel, between two messages
HELD_WAIT_SECONDS = 10.0  # a batch with nothing else to do waits this long for its throttled recipients
_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def claim_chunk(per_second: int | None) -> int:
    """Rows claimed at a time: about two seconds' worth at a slow rate, so a crash leaves few
    rows 'unknown' and a claim never outlives the stale-claim timeout while it is being sent."""
    if not per_second:
        return CLAIM_CHUNK
    return max(5, min(CLAIM_CHUNK, per_second * 2))


def _claim(campaign_id: int, first_id: int, last_id: int, limit: int) -> list:
    """Claim up to `limit` due pending rows of the range: [(recipient id, subscriber id, mailbox provider,
    identity id)]."""
    rows = db.session.execute(
        update(_cr)
        .where(_cr.c.id.in_(_due(campaign_id, first_id, last_id, limit).scalar_subquery()), _cr.c.status == "pending")
        .values(status="sending", claimed_at=_now())
        .returning(_cr.c.id, _cr.c.subscriber_id, _cr.c.mailbox_provider, _cr.c.identity_id)
    ).all()
    return sorted(rows, key=lambda r: r[0])


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
    " AND status = 'pending' RETURNING id, subscriber_id, mailbox_provider, identity_id)"
    " SELECT c.id, c.subscriber_id, c.mailbox_provider, c.identity_id, s.email, s.name, s.attributes, s.timezone,"
    " la.balance, la.tier"
    " FROM claimed c LEFT JOIN subscribers s ON s.id = c.subscriber_id"
    " LEFT JOIN loyalty_accounts la ON la.subscriber_id = c.subscriber_id ORDER BY c.id"
)
_CLAIM_WITH_SUBSCRIBERS = _CLAIM_WITH_SUBSCRIBERS.bindparams(bindparam("now", type_=UTCDateTime)).columns(
    _cr.c.id,
    _cr.c.subscriber_id,
    _cr.c.mailbox_provider,
    _cr.c.identity_id,
    _sub.c.email,
    _sub.c.name,
    _sub.c.attributes,
    _sub.c.timezone,
    LoyaltyAccount.__table__.c.balance,
    LoyaltyAccount.__table__.c.tier,
)


def _claim_with_subscribers(campaign_id: int, first_id: int, last_id: int, limit: int) -> "_Chunk":
    """`_claim`, with the claimed people's details and each row's mailbox provider group and identity."""
    if db.session.get_bind().dialect.name != "postgresql":
        rows = _claim(campaign_id, first_id, last_id, limit)
        subs = subscriber_rows([r[1] for r in rows]) if rows else {}
        return _Chunk([(r[0], r[1]) for r in rows], subs, {r[0]: r[2] for r in rows}, _chosen(rows))
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
            "loyalty": loyalty_of(r.balance, r.tier),
        }
        for r in rows
        if r.email is not None  # None: the subscriber was deleted since materialization
    }
    claimed = [(r.id, r.subscriber_id) for r in rows]
    return _Chunk(claimed, subs, {r.id: r.mailbox_provider for r in rows}, _chosen(rows))


def add_flow_context(chunk: "_Chunk") -> None:
    """Each claimed flow recipient's context, beside the person (messages.FLOW_CONTEXT), in one query."""
    ids = [rid for rid, _sid in chunk.claimed]
    if not ids:
        return
    for sid, context in db.session.execute(select(_cr.c.subscriber_id, _cr.c.context).where(_cr.c.id.in_(ids))):
        if sid in chunk.subs:
            chunk.subs[sid] = {**chunk.subs[sid], FLOW_CONTEXT: context or {}}


def _chosen(rows) -> dict:
    """{recipient id: identity id} of the rows a pool gave an identity."""
    return {r[0]: r.identity_id for r in rows if r.identity_id is not None}


def _held_due(campaign_id: int, first_id: int, last_id: int) -> datetime | None:
    """When the first of the range's recipients held back by a throttled pair is due again."""
    due = db.session.scalar(
        select(func.min(_cr.c.retry_at)).where(
            _cr.c.campaign_id == campaign_id,
            _cr.c.status == "pending",
            _cr.c.id >= first_id,
            _cr.c.id <= last_id,
            _cr.c.reason.startswith(THROTTLED),
        )
    )
    if due is not None and due.tzinfo is None:  # SQLite drops the offset of an aggregate
        due = due.replace(tzinfo=timezone.utc)
    return due


@dataclass
class _Chunk:
    """One claimed chunk on its way through: the answers so far and why the loop stopped."""

    claimed: list
    subs: dict
    groups: dict = field(default_factory=dict)  # recipient id -> mailbox provider group (None: unknown)
    identities: dict = field(default_factory=dict)  # recipient id -> the identity a pool chose (absent: none)
    out: ChunkOutcome = field(default_factory=ChunkOutcome)
    halted: bool = False  # paused or cancelled, or the router was told to stop
    held: LimitReached | None = None  # a daily quota is spent: this row and the rest wait
    attempting: int | None = None  # the row being handed off right now: its fate is unknown on a crash
    waited: float = 0.0  # seconds spent waiting for a rate limit since the last progress report
    reported: int = 0  # rows already counted in the live progress


class BatchRun:
    """One `send_batch` job: a range of one campaign's recipients, sent chunk by chunk."""

    def __init__(self, campaign: Campaign, first_id: int, last_id: int):
        self.campaign, self.first_id, self.last_id = campaign, first_id, last_id
        self.router = _open_router(campaign)
        self.factory = MessageFactory(campaign, self.router.headers)
        self.windows = send_windows.gate_for(campaign)  # None: the campaign may send at any time
        policy = ThrottlePolicy.from_config(current_app.config)
        # Pairs are (the dedicated IP its connections leave from, else the From domain) × mailbox provider.
        self.policy, self.ip = policy, routing.source_ip(self.router.primary.provider)
        self.throttle = PairThrottle(get_redis(), campaign.workspace_id, campaign.from_email, policy, self.ip)
        self.throttles = {None: self.throttle}  # per From a pool chose (by identity id)
        self.chosen_from: dict[int, str] = {}  # recipient id -> the From a pool chose, for the day's counters
        self.chunk_size = claim_chunk(self.router.primary.limits.second.limit)
        self.next_check = time.monotonic() + STATUS_CHECK_SECONDS
        self.counts = {"sent": 0, "failed": 0, "unknown": 0}

    def sending(self) -> bool:
        return campaign_status(self.campaign.id) == "sending"

    def send_all(self) -> None:
        """Claim and send chunks until the range is done, the campaign stops or a limit holds it."""
        cid, first, last = self.campaign.id, self.first_id, self.last_id
        while self.sending():
            if self.windows is not None and self.windows.hold_back(first, last):
                break  # the send window is closed for the whole range: it waits, set in one UPDATE
            chunk = _claim_with_subscribers(cid, first, last, self.chunk_size)
            if self.campaign.flow_id:  # a flow's email shows what the flow knows (a cart's items)
                add_flow_context(chunk)
            db.session.commit()
            if not chunk.claimed:
                if self.wait_for_held():
                    continue
                break
            if self.send_chunk(chunk):
                break

    def wait_for_held(self) -> bool:
        """Nothing of the range is due: True once recipients a throttled mailbox provider held back are due,
        when that is soon and no other job waits for a worker; else a batch is queued for when they are due."""
        due = _held_due(self.campaign.id, self.first_id, self.last_id)
        db.session.commit()
        if due is None:
            return False
        deadline = time.monotonic() + due.timestamp() - time.time()
        while time.monotonic() < deadline:
            if deadline - time.monotonic() > HELD_WAIT_SECONDS or dispatch.other_work_waiting():
                dispatch.enqueue_batch_at(self.campaign.id, self.first_id, self.last_id, due)
                return False
            time.sleep(max(0.0, min(STATUS_CHECK_SECONDS, deadline - time.monotonic())))
            if not self.sending():
                return False
        return True

    def send_chunk(self, chunk: _Chunk) -> bool:
        """Deliver every row of the chunk and record them; True when the batch must stop here."""
        self.factory.prefetch([rid for rid, _ in chunk.claimed])
        try:
            for rid, sid in chunk.claimed:
                if self._stopped(chunk) or not self.deliver_one(chunk, rid, sid):
                    break
        except Exception as exc:
            self.abandon(chunk, exc)
            raise
        self.settle(chunk)
        return chunk.held is not None or chunk.halted

    def _stopped(self, chunk: _Chunk) -> bool:
        """Between two messages, now and then: report progress and look for a pause or cancel."""
        if time.monotonic() < self.next_check:
            return False
        self.next_check = time.monotonic() + STATUS_CHECK_SECONDS
        handled = chunk.out.handled()
        send_progress.record(self.campaign.id, handled - chunk.reported, chunk.waited)
        chunk.reported, chunk.waited = handled, 0.0
        chunk.halted = not self.sending()
        return chunk.halted

    def deliver_one(self, chunk: _Chunk, rid: int, sid: int) -> bool:
        """Build and hand off one message; False when the chunk must stop before the next."""
        out, sub = chunk.out, chunk.subs.get(sid)
        if sub is None:  # deleted since materialization
            out.fail(rid, GONE)
            return True
        if self.windows is not None and (wait := self.windows.closed_for(sub)):
            out.window_waits.append({"rid": rid, **wait})
            return True
        chosen = self.factory.sender(chunk.identities.get(rid))  # None: the campaign's own From
        throttle = self._throttle(chosen)
        pair = pair_of(chunk.groups.get(rid), sub["email"])
        if (hold := throttle.hold(pair)) is not None:  # its mailbox provider defers: the others go on
            out.held.append({"rid": rid, "at": hold.at, "why": hold.why})
            return True
        try:
            raw, mid = self.factory.build(rid, sub, chosen)
        except Exception as exc:  # a marketer's template failing for this person's data
            out.fail(rid, render_failure(exc))
            return True
        chunk.attempting = rid
        try:
            route, result, waited = self.router.send(
                sub["email"],
                raw,
                campaign_ref(self.campaign.id, rid),
                lambda: not self.sending(),
                chunk.groups.get(rid),
                chosen.email if chosen else None,
            )
        except Halted:
            chunk.halted = True
            return False
        except LimitReached as exc:
            chunk.held = exc
            return False
        chunk.waited += waited
        chunk.attempting = None
        out.take(rid, sid, sub["email"], mid, route.provider, result)
        throttle.observe(pair, result)
        if chosen is not None:
            self.chosen_from[rid] = chosen.email
        return True

    def _throttle(self, chosen) -> PairThrottle:
        """The pairs of the row's sender: the bound IP's (shared by every From), else its From domain's."""
        if chosen is None or self.ip:
            return self.throttle
        if chosen.identity_id not in self.throttles:
            self.throttles[chosen.identity_id] = PairThrottle(
                get_redis(), self.campaign.workspace_id, chosen.email, self.policy
            )
        return self.throttles[chosen.identity_id]

    def abandon(self, chunk: _Chunk, exc: Exception) -> None:
        """Whatever stopped the loop (the provider unreachable, Redis or the database gone), rows
        not yet tried go back to pending; only the one mid-hand-off is unknown. RQ retries the
        batch, and a lost job is re-queued by the scheduler."""
        out = chunk.out
        retries = outcomes.retry_or_fail(out.deferred, out.failed)
        if chunk.attempting is not None and self.router.in_flight:
            # (TransportUnavailable means the message never reached DATA: not handed off.)
            current_app.logger.exception(
                "hand-off interrupted: campaign %s recipient %s", self.campaign.id, chunk.attempting
            )
            out.fail(chunk.attempting, INTERRUPTED, "unknown")
        out.released = out.untried(chunk.claimed)
        db.session.rollback()
        outcomes.record(out, retries)
        if isinstance(exc, TransportUnavailable):
            names = ", ".join(f"“{r.provider.name}”" for r in self.router.routes)
            self.campaign.last_error = f"Cannot reach {names}: {exc}. Sending retries automatically."[:2000]
        db.session.commit()

    def settle(self, chunk: _Chunk) -> None:
        """Record the chunk's answers and what follows from them, then commit."""
        campaign, out = self.campaign, chunk.out
        retries = outcomes.retry_or_fail(out.deferred, out.failed)
        waiting = []
        if chunk.held is not None:
            why = f"{LIMIT_WAIT}{chunk.held.reason}"[:500]
            waiting = [{"rid": r["rid"], "at": chunk.held.resume_at, "why": why} for r in out.untried(chunk.claimed)]
        elif chunk.halted:
            out.released = out.untried(chunk.claimed)
        send_windows.defer(out.window_waits)
        outcomes.record(out, retries, waiting)
        if campaign.last_error and out.sent:
            campaign.last_error = None  # the provider answers again
        if out.bounces:
            outcomes.sync_refusals(campaign, out.bounces)
        if out.blocks:
            outcomes.sender_blocked(campaign, out.blocks)
        outcomes.count_sent(campaign, out.sent, self.chosen_from)
        self.chosen_from.clear()
        db.session.commit()
        if not out.sent:
            pause_if_template_fails(campaign.id, out.failed)
        send_progress.record(campaign.id, out.handled() - chunk.reported, chunk.waited)
        self._count(out)

    def _count(self, out: ChunkOutcome) -> None:
        self.counts["sent"] += len(out.sent)
        self.counts["failed"] += sum(1 for f in out.failed if f["st"] in ("failed", "bounced"))
        self.counts["unknown"] += sum(1 for f in out.failed if f["st"] == "unknown")


def _open_router(campaign: Campaign) -> routing.Router:
    """The campaign's providers, connected; unreachable: say so on the campaign, and RQ retries."""
    try:
        return routing.Router.for_campaign(campaign, health.route_affinity(campaign.workspace_id))
    except TransportUnavailable as exc:
        campaign.last_error = str(exc)
        db.session.commit()
        raise


def send_batch(campaign_id: int, first_id: int, last_id: int) -> dict:
    """Send the pending recipients with ids in [first_id, last_id]; safe to run again.

    Commits at each checkpoint (claim, then results) so progress survives a crash.
    """
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return {"sent": 0, "failed": 0, "unknown": 0}
    run = BatchRun(campaign, first_id, last_id)
    try:
        run.send_all()
    finally:
        run.router.close()
    finish_if_done(campaign_id)
    db.session.commit()
    return run.counts
