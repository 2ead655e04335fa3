"""Holding a warming campaign's recipients and letting today's capacity out, exactly.

A campaign gated by a warming plan (its From domain's, its first provider's IP's) does not hand its
recipients straight to the send batches. At preparation every pending row of a gated lane (the rows
sent from one domain, warming_plans.lanes_of) is *held* (`pending`, reason "waiting for warming
capacity", `retry_at` = HELD, which no claim ever reaches); then, under locks on its plans' rows, as
many as the smallest room left today of the lane's plans allows are *released* in engagement order
(opened or clicked within 90 days first, then by latest engagement). A periodic
job releases more when a new day starts. So the cap is counted once, in the database, when rows
are released — never per message by racing workers — and nobody goes out twice or past the cap.
A paused plan holds every row of its lanes not yet claimed, and nothing of them is released until a
person resumes it; the campaign's other lanes (other domains a pool chose) go on.
"""

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, func, or_, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, WarmingDay, WarmingPlan
from app.services.delivery.warming_plans import (
    Lane,
    gated_campaign_ids,
    gating_plans,
    lanes_of,
    limit_on,
    local_today,
    next_local_midnight,
    subject_name,
    subject_of,
)

WARMING_WAIT = "waiting for warming capacity"
PAUSED_WAIT = "waiting: the sending domain or IP is paused"
HELD = datetime(9999, 12, 31, tzinfo=timezone.utc)  # retry_at of a held row: no claim reaches it
ENGAGED_DAYS = 90
_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def hold(campaign_ids: list[int], reason: str, everything: bool = False, rows=None) -> int:
    """Hold pending rows (of a lane: `rows`): a new campaign's (all not yet released), or on a pause
    every row not yet claimed."""
    if not campaign_ids:
        return 0
    cond = [_cr.c.campaign_id.in_(campaign_ids), _cr.c.status == "pending"]
    if not everything:
        cond.append(_cr.c.retry_at.is_(None))
    if rows is not None:
        cond.append(rows)
    return db.session.execute(update(_cr).where(*cond).values(reason=reason, retry_at=HELD)).rowcount


def _lanes_with(plan: WarmingPlan):
    """(campaign id, lane) for each lane of a sending campaign that the plan gates."""
    for campaign_id in gated_campaign_ids(plan):
        for lane in lanes_of(db.session.get(Campaign, campaign_id)):
            if any(p.id == plan.id for p in lane.plans):
                yield campaign_id, lane


def hold_paused(plan: WarmingPlan) -> None:
    """A plan paused: every row it gates that is not yet claimed waits for a person to resume it.
    Rows let out today but not sent go back into today's room of the lane's plans, so a resumed plan
    still sends the day's volume."""
    today = local_today(plan.workspace_id)
    for campaign_id, lane in list(_lanes_with(plan)):
        let_out = or_(_cr.c.reason.is_(None), _cr.c.reason.not_in((WARMING_WAIT, PAUSED_WAIT)))
        rows = let_out if lane.rows() is None else and_(lane.rows(), let_out)
        given_back = hold([campaign_id], PAUSED_WAIT, everything=True, rows=rows)
        hold([campaign_id], PAUSED_WAIT, everything=True, rows=lane.rows())
        for p in lane.plans if given_back else ():
            day = db.session.get(WarmingDay, (p.id, today))
            if day is not None:
                day.released = max(0, day.released - given_back)


def reopen(plan: WarmingPlan) -> None:
    """After a resume: rows held by the pause wait for capacity again (unless another plan of their lane is paused)."""
    for campaign_id, lane in list(_lanes_with(plan)):
        if any(p.status == "paused" for p in lane.plans):
            continue
        cond = [_cr.c.campaign_id == campaign_id, _cr.c.status == "pending", _cr.c.reason == PAUSED_WAIT]
        if lane.rows() is not None:
            cond.append(lane.rows())
        db.session.execute(update(_cr).where(*cond).values(reason=WARMING_WAIT))


def hold_for_warming(campaign: Campaign) -> bool:
    """At preparation (and when an A/B winner is released): a gated campaign holds the rows of its
    gated lanes and lets out what today allows. False: nothing gates it (nothing done)."""
    lanes = lanes_of(campaign)
    if not lanes:
        return False
    for lane in lanes:
        paused = any(p.status == "paused" for p in lane.plans)
        hold([campaign.id], PAUSED_WAIT if paused else WARMING_WAIT, rows=lane.rows())
    release_campaign(campaign, lanes)
    return True


def engagement_order(rows):
    """Most engaged first: opened or clicked within ENGAGED_DAYS, then by latest engagement
    (`rows`: the recipients table, aliased, being ordered)."""
    past = _cr.alias("past")
    last = (
        select(func.max(func.coalesce(past.c.human_clicked_at, past.c.human_opened_at)))  # people's, not machines
        .where(past.c.subscriber_id == rows.c.subscriber_id, past.c.campaign_id != rows.c.campaign_id)
        .scalar_subquery()
    )
    recent = _now() - timedelta(days=ENGAGED_DAYS)
    return (case((last >= recent, 0), else_=1), last.desc().nulls_last(), rows.c.id)


def _room(plan: WarmingPlan, today: date) -> int | None:
    """What the plan lets out today still (None: no cap). A plan past its schedule is done."""
    limit = limit_on(plan, today)
    if limit is None:
        plan.status = "done"
        subject_of(plan).status = "active"
    day = db.session.get(WarmingDay, (plan.id, today))
    if day is None:
        day = WarmingDay(plan_id=plan.id, day=today, limit=limit, released=0)
        db.session.add(day)
        db.session.flush()  # the plan's row lock serializes creators: no duplicate
    elif day.limit != limit:
        day.limit = limit
    return None if limit is None else max(0, limit - day.released)


def release_campaign(campaign: Campaign, lanes: list[Lane] | None = None) -> int:
    """Let out what every plan gating each lane of the campaign still allows today, most engaged
    first, under locks on those plans' rows (taken in id order: no deadlock). Returns how many were
    released."""
    lanes = lanes_of(campaign) if lanes is None else lanes
    ids = sorted({p.id for lane in lanes for p in lane.plans})
    plans = {
        p.id: p
        for p in db.session.scalars(
            select(WarmingPlan).where(WarmingPlan.id.in_(ids)).order_by(WarmingPlan.id).with_for_update()
        )
    }
    today = local_today(campaign.workspace_id)
    rooms = {i: _room(p, today) for i, p in plans.items() if p.status == "warming"}
    released: dict[int, int] = {}
    total = 0
    for lane in lanes:
        lane_plans = [plans[p.id] for p in lane.plans if p.id in plans]
        if any(p.status == "paused" for p in lane_plans):
            continue
        capped = [rooms[p.id] for p in lane_plans if rooms.get(p.id) is not None]
        n = _release(campaign.id, lane, min(capped) if capped else None)
        total += n
        for p in lane_plans:
            if n and p.id in rooms:
                released[p.id] = released.get(p.id, 0) + n
                rooms[p.id] = None if rooms[p.id] is None else rooms[p.id] - n
    for plan_id, n in released.items():
        db.session.execute(
            update(WarmingDay)
            .where(WarmingDay.plan_id == plan_id, WarmingDay.day == today)
            .values(released=WarmingDay.released + n)
        )
    db.session.flush()
    return total


def _release(campaign_id: int, lane: Lane, room: int | None) -> int:
    """Let out up to `room` (None: all) of a lane's rows waiting for capacity, most engaged first."""
    if room == 0:
        return 0
    rows = _cr.alias("held")  # an alias: the subquery must not correlate with the UPDATE's table
    held = select(rows.c.id).where(
        rows.c.campaign_id == campaign_id, rows.c.status == "pending", rows.c.reason == WARMING_WAIT
    )
    if lane.rows(rows) is not None:
        held = held.where(lane.rows(rows))
    if room is not None:
        held = held.order_by(*engagement_order(rows)).limit(room)
    return db.session.execute(
        update(_cr).where(_cr.c.id.in_(select(held.subquery().c.id))).values(reason=None, retry_at=None)
    ).rowcount


def release_for(plan: WarmingPlan) -> dict[int, int]:
    """A plan just started or resumed: each campaign it gates lets out what today allows."""
    out = {}
    for campaign_id in gated_campaign_ids(plan):
        n = release_campaign(db.session.get(Campaign, campaign_id))
        if n:
            out[campaign_id] = n
    return out


def release_due() -> dict[int, int]:
    """The periodic job: every campaign with held rows lets out what its plans allow today (a new
    day, a resume), the earliest started first; committed per campaign. {campaign id: released}."""
    out: dict[int, int] = {}
    waiting = (
        select(Campaign.id)
        .where(Campaign.status == "sending")
        .where(select(_cr.c.id).where(_cr.c.campaign_id == Campaign.id, _cr.c.reason == WARMING_WAIT).exists())
        .order_by(Campaign.started_at, Campaign.id)
    )
    for campaign_id in db.session.scalars(waiting).all():
        n = release_campaign(db.session.get(Campaign, campaign_id))
        db.session.commit()
        if n:
            out[campaign_id] = n
    return out


def waiting(plan: WarmingPlan) -> int:
    """Recipients the plan holds in its campaigns' lanes (for capacity or for a resume)."""
    total = 0
    for campaign_id, lane in list(_lanes_with(plan)):
        cond = [_cr.c.campaign_id == campaign_id, _cr.c.status == "pending",
                or_(_cr.c.reason == WARMING_WAIT, _cr.c.reason == PAUSED_WAIT)]  # fmt: skip
        if lane.rows() is not None:
            cond.append(lane.rows())
        total += db.session.scalar(select(func.count()).where(*cond)) or 0
    return total


def campaign_wait(campaign: Campaign) -> dict | None:
    """For the campaign page: {recipients, paused, reason, next_release, subject, domain_id, daily_limit}
    when some of its recipients wait for warming capacity (or for a resume); else None."""
    counts = dict(
        db.session.execute(
            select(_cr.c.reason, func.count())
            .where(_cr.c.campaign_id == campaign.id, _cr.c.status == "pending",
                   _cr.c.reason.in_((WARMING_WAIT, PAUSED_WAIT)))
            .group_by(_cr.c.reason)
        ).all()
    )  # fmt: skip
    if not counts:
        return None
    plans = gating_plans(campaign)
    paused = [p for p in plans if p.status == "paused"]
    shown = (paused or plans or [None])[0]
    today = local_today(campaign.workspace_id)
    limits = [limit for p in plans if (limit := limit_on(p, today)) is not None]
    return {
        "recipients": sum(counts.values()),
        "paused": bool(paused) or bool(counts.get(PAUSED_WAIT)),
        "reason": paused[0].paused_reason if paused else None,
        "next_release": next_local_midnight(campaign.workspace_id) if plans and not paused else None,
        "daily_limit": min(limits) if limits else None,
        "domain": subject_name(shown) if shown else None,
        "domain_id": shown.subject_id if shown and shown.subject_type == "domain" else None,
        "ip_id": shown.subject_id if shown and shown.subject_type == "ip" else None,
    }
