"""Warming a sending domain: a daily cap that holds exactly across every worker, the most engaged
recipients first, the rest waiting for the next day, thresholds that pause, and the figures.

How the cap holds: a campaign from a warming domain does not hand its recipients straight to the
send batches. At preparation every pending row is *held* (`pending`, reason "waiting for warming
capacity", `retry_at` = HELD, which no claim ever reaches); then, under a lock on the plan's row,
as many as today's capacity allows are *released* in engagement order (opened or clicked within
90 days first, then by latest engagement). A periodic job releases more when a new day starts.
So the cap is counted once, in the database, when rows are released — never per message by
racing workers — and nobody is handed off twice or past the cap.

A paused plan (by a person or by a threshold) holds every row not yet claimed, and releases
nothing until a person resumes it; the day then continues at the volume it had.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, DeliveryStat, SendingDomain, WarmingDay, WarmingPlan
from app.models import WarmingSchedule as CustomSchedule
from app.services.delivery.warming_schedules import BUILT_IN, Schedule, clean_steps, limit_for_day
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.platform import alerts
from app.services.platform.workspaces import workspace_timezone

WARMING_WAIT = "waiting for warming capacity"
PAUSED_WAIT = "waiting: the sending domain is paused"
HELD = datetime(9999, 12, 31, tzinfo=timezone.utc)  # retry_at of a held row: no claim reaches it
ENGAGED_DAYS = 90
# Thresholds over the warming window (deliverability.md, seed 001): a breach pauses the plan.
MAX_BOUNCE_RATE = 0.05
MAX_COMPLAINT_RATE = 0.001
MIN_DELIVERY_RATE = 0.90
MIN_SAMPLE = 50  # messages sent before rates mean anything (day 1 of STANDARD)
STARTABLE = ("verified", "active", "warming")
_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def local_today(workspace_id: int) -> date:
    return datetime.now(ZoneInfo(workspace_timezone(workspace_id))).date()


def next_local_midnight(workspace_id: int) -> datetime:
    tz = ZoneInfo(workspace_timezone(workspace_id))
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tz).astimezone(timezone.utc)


# ---- schedules -----------------------------------------------------------------------------


def schedule_for(workspace_id: int, key) -> Schedule:
    """A built-in schedule by name, or one of the workspace's by id (`7`, `"7"` or `"custom:7"`)."""
    if isinstance(key, str) and key.lower() in BUILT_IN:
        return BUILT_IN[key.lower()]
    raw = key.removeprefix("custom:") if isinstance(key, str) else key
    try:
        schedule_id = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(
            f"Unknown schedule; choose {', '.join(BUILT_IN)} or the id of one of your schedules.",
            {"schedule": "Unknown schedule."},
        ) from None
    row = db.session.get(CustomSchedule, schedule_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("No such warming schedule.")
    return Schedule(f"custom:{row.id}", row.name, tuple((s["day"], s["volume"]) for s in row.steps))


def create_schedule(workspace_id: int, name, steps) -> CustomSchedule:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError("Give the schedule a name of up to 100 characters.", {"name": "Required."})
    cleaned = clean_steps(steps)
    if db.session.scalar(
        select(CustomSchedule.id).where(CustomSchedule.workspace_id == workspace_id, CustomSchedule.name == name)
    ):
        raise ValidationError(f"A schedule called “{name}” exists already.", {"name": "Taken."})
    row = CustomSchedule(workspace_id=workspace_id, name=name, steps=[{"day": d, "volume": v} for d, v in cleaned])
    db.session.add(row)
    db.session.flush()
    return row


def list_schedules(workspace_id: int) -> list[Schedule]:
    custom = db.session.scalars(
        select(CustomSchedule).where(CustomSchedule.workspace_id == workspace_id).order_by(CustomSchedule.name)
    )
    return [*BUILT_IN.values(), *(schedule_for(workspace_id, f"custom:{c.id}") for c in custom)]


# ---- plans ---------------------------------------------------------------------------------


def plan_of(domain: SendingDomain) -> WarmingPlan | None:
    return db.session.scalar(
        select(WarmingPlan).where(WarmingPlan.subject_type == "domain", WarmingPlan.subject_id == domain.id)
    )


def day_of(plan: WarmingPlan, today: date) -> int:
    """The plan's day number on `today` (a paused plan stays on the day it paused)."""
    until = plan.paused_on if plan.status == "paused" and plan.paused_on else today
    return (until - plan.start_date).days + plan.start_day


def start(workspace_id: int, domain: SendingDomain, schedule_key, start_day=1) -> WarmingPlan:
    """Start (or restart) warming the domain at `start_day` of the schedule (a half-warmed
    domain moved from another platform starts at, say, day 9)."""
    if domain.status not in STARTABLE:
        raise InvalidState(f"{domain.domain} is {domain.status}: verify it before warming it.")
    if not isinstance(start_day, int) or isinstance(start_day, bool) or not 1 <= start_day <= 365:
        raise ValidationError("start_day is a whole number from 1 to 365.", {"start_day": "From 1 to 365."})
    schedule = schedule_for(workspace_id, schedule_key)
    plan = plan_of(domain) or WarmingPlan(workspace_id=workspace_id, subject_type="domain", subject_id=domain.id)
    plan.schedule, plan.steps, plan.interpolate = schedule.key, schedule.steps_json(), schedule.interpolate
    plan.start_date, plan.start_day = local_today(workspace_id), start_day
    plan.status, plan.paused_reason, plan.paused_on = "warming", None, None
    db.session.add(plan)
    domain.status, domain.status_reason = "warming", None
    db.session.flush()
    return plan


def limit_on(plan: WarmingPlan, today: date) -> int | None:
    """The plan's cap on `today`; None: no cap (the schedule is over)."""
    return limit_for_day(_steps(plan), plan.interpolate, day_of(plan, today))


def _steps(plan: WarmingPlan) -> list[tuple[int, int]]:
    return [(s["day"], s["volume"]) for s in plan.steps]


def _domain_of(plan: WarmingPlan) -> SendingDomain:
    return db.session.get(SendingDomain, plan.subject_id)


def pause(plan: WarmingPlan, reason: str) -> None:
    """Hold everything not yet claimed; nothing goes out until a person resumes."""
    if plan.status == "paused":
        return
    plan.status, plan.paused_reason = "paused", reason[:1000]
    plan.paused_on = local_today(plan.workspace_id)
    domain = _domain_of(plan)
    domain.status, domain.status_reason = "paused", reason[:1000]
    _hold(plan.workspace_id, domain.domain, PAUSED_WAIT, everything=True)
    db.session.flush()


def resume(plan: WarmingPlan) -> None:
    """Continue where the plan paused: the start date moves on by the days the pause lasted."""
    if plan.status != "paused":
        raise InvalidState("The plan is not paused.")
    today = local_today(plan.workspace_id)
    if plan.paused_on:
        plan.start_date += timedelta(days=(today - plan.paused_on).days)
    plan.status, plan.paused_reason, plan.paused_on = "warming", None, None
    domain = _domain_of(plan)
    domain.status, domain.status_reason = "warming", None
    db.session.execute(
        update(_cr)
        .where(_cr.c.reason == PAUSED_WAIT, _cr.c.status == "pending", _cr.c.campaign_id.in_(_campaigns_from(
            plan.workspace_id, domain.domain)))
        .values(reason=WARMING_WAIT)
    )  # fmt: skip
    alerts.resolve_alert(plan.workspace_id, "warming_paused", "domain", domain.id)
    db.session.flush()


# ---- holding and releasing recipients ------------------------------------------------------


def _campaigns_from(workspace_id: int, domain: str):
    """Ids of the workspace's sending campaigns whose From address is on `domain`."""
    return select(Campaign.id).where(
        Campaign.workspace_id == workspace_id,
        Campaign.status == "sending",
        func.lower(Campaign.from_email).endswith("@" + domain, autoescape=True),
    )


def _hold(workspace_id: int, domain: str, reason: str, campaign_id: int | None = None, everything=False) -> int:
    """Hold pending rows: a new campaign's (all of them), or on a pause every row not yet claimed."""
    campaigns = [campaign_id] if campaign_id else _campaigns_from(workspace_id, domain)
    cond = [_cr.c.campaign_id.in_(campaigns), _cr.c.status == "pending"]
    if not everything:
        cond.append(_cr.c.retry_at.is_(None))
    return db.session.execute(update(_cr).where(*cond).values(reason=reason, retry_at=HELD)).rowcount


def _engagement_order(rows):
    """Most engaged first: opened or clicked within ENGAGED_DAYS, then by latest engagement
    (`rows`: the recipients table, aliased, being ordered)."""
    past = _cr.alias("past")
    last = (
        select(func.max(func.coalesce(past.c.clicked_at, past.c.opened_at)))
        .where(past.c.subscriber_id == rows.c.subscriber_id, past.c.campaign_id != rows.c.campaign_id)
        .scalar_subquery()
    )
    recent = _now() - timedelta(days=ENGAGED_DAYS)
    return (case((last >= recent, 0), else_=1), last.desc().nulls_last(), rows.c.id)


def hold_for_warming(campaign: Campaign) -> bool:
    """At preparation: a campaign from a warming or paused domain holds its rows and releases
    what today's capacity allows. False: the From domain is not warming (nothing done)."""
    plan = _plan_for_from(campaign.workspace_id, campaign.from_email)
    if plan is None:
        return False
    domain = _domain_of(plan)
    _hold(campaign.workspace_id, domain.domain, WARMING_WAIT if plan.status == "warming" else PAUSED_WAIT,
          campaign_id=campaign.id)  # fmt: skip
    if plan.status == "warming":
        release(plan)
    return True


def _plan_for_from(workspace_id: int, from_email: str) -> WarmingPlan | None:
    domain = (from_email or "").rpartition("@")[2].strip().lower()
    return db.session.scalar(
        select(WarmingPlan)
        .join(SendingDomain, (WarmingPlan.subject_type == "domain") & (WarmingPlan.subject_id == SendingDomain.id))
        .where(
            SendingDomain.workspace_id == workspace_id,
            SendingDomain.domain == domain,
            WarmingPlan.status.in_(("warming", "paused")),
        )
    )


def release(plan: WarmingPlan) -> dict[int, int]:
    """Let today's remaining capacity out, most engaged first, under a lock on the plan's row
    (every worker and the periodic job agree). Returns {campaign id: rows released}."""
    locked = db.session.scalar(select(WarmingPlan).where(WarmingPlan.id == plan.id).with_for_update())
    if locked is None or locked.status != "warming":
        return {}
    today = local_today(locked.workspace_id)
    limit = limit_on(locked, today)
    domain = _domain_of(locked)
    if limit is None:  # the schedule is over: the domain is warm
        locked.status = "done"
        domain.status = "active"
    day = _day_row(locked.id, today, limit)
    room = None if limit is None else max(0, limit - day.released)
    if room == 0:
        return {}
    rows = _cr.alias("held")  # an alias: the subquery must not correlate with the UPDATE's table
    held = select(rows.c.id).where(
        rows.c.campaign_id.in_(_campaigns_from(locked.workspace_id, domain.domain)),
        rows.c.status == "pending",
        rows.c.reason == WARMING_WAIT,
    )
    if room is not None:
        held = held.order_by(*_engagement_order(rows)).limit(room)
    released = db.session.execute(
        update(_cr)
        .where(_cr.c.id.in_(select(held.subquery().c.id)))
        .values(reason=None, retry_at=None)
        .returning(_cr.c.campaign_id)
    ).all()
    if released:
        db.session.execute(
            update(WarmingDay)
            .where(WarmingDay.plan_id == locked.id, WarmingDay.day == today)
            .values(released=WarmingDay.released + len(released))
        )
    out: dict[int, int] = {}
    for (campaign_id,) in released:
        out[campaign_id] = out.get(campaign_id, 0) + 1
    db.session.flush()
    return out


def _day_row(plan_id: int, today: date, limit: int | None) -> WarmingDay:
    row = db.session.get(WarmingDay, (plan_id, today))
    if row is None:
        row = WarmingDay(plan_id=plan_id, day=today, limit=limit, released=0)
        db.session.add(row)
        db.session.flush()  # the plan's row lock serializes creators: no duplicate
    elif row.limit != limit:
        row.limit = limit
    return row


def release_due() -> dict[int, int]:
    """The periodic job: each warming plan lets out what its day allows (a new day, a resume).
    Returns {campaign id: rows released} for the caller to queue their batches."""
    out: dict[int, int] = {}
    plan_ids = db.session.scalars(select(WarmingPlan.id).where(WarmingPlan.status == "warming")).all()
    for plan_id in plan_ids:
        plan = db.session.get(WarmingPlan, plan_id)
        for campaign_id, n in release(plan).items():
            out[campaign_id] = out.get(campaign_id, 0) + n
        db.session.commit()
    return out


# ---- thresholds ----------------------------------------------------------------------------


def window_totals(plan: WarmingPlan) -> dict:
    """What the domain sent and got back since its plan started (delivery_stats, by UTC day)."""
    domain = _domain_of(plan)
    since = plan.start_date - timedelta(days=1)  # UTC days overlapping the first local day
    cols = (DeliveryStat.sent, DeliveryStat.delivered, DeliveryStat.bounced_hard, DeliveryStat.bounced_soft,
            DeliveryStat.complained)  # fmt: skip
    row = db.session.execute(
        select(*(func.coalesce(func.sum(c), 0) for c in cols)).where(
            DeliveryStat.workspace_id == plan.workspace_id,
            DeliveryStat.sending_domain == domain.domain,
            DeliveryStat.day >= since,
        )
    ).one()
    sent, delivered, hard, soft, complained = (int(v) for v in row)
    return {"sent": sent, "delivered": delivered, "bounced": hard + soft, "complained": complained}


def breach(totals: dict) -> str | None:
    """The first threshold the figures cross, in words; None when within all of them."""
    sent = totals["sent"]
    if sent < MIN_SAMPLE:
        return None
    bounce, complaint = totals["bounced"] / sent, totals["complained"] / sent
    if bounce > MAX_BOUNCE_RATE:
        return f"bounce rate {bounce:.1%} ({totals['bounced']} of {sent}) is over {MAX_BOUNCE_RATE:.0%}"
    if complaint > MAX_COMPLAINT_RATE:
        return f"complaint rate {complaint:.2%} ({totals['complained']} of {sent}) is over {MAX_COMPLAINT_RATE:.1%}"
    # Only providers that report deliveries (webhooks) say what was delivered; SMTP relays do not.
    if totals["delivered"]:
        delivery = totals["delivered"] / sent
        if delivery < MIN_DELIVERY_RATE:
            return f"delivery rate {delivery:.1%} ({totals['delivered']} of {sent}) is under {MIN_DELIVERY_RATE:.0%}"
    return None


def check_thresholds() -> list[int]:
    """The hourly job: pause every warming plan whose window crosses a threshold, with an alert.
    Returns the paused plans' ids; safe to run twice (a paused plan is not checked)."""
    paused = []
    for plan in db.session.scalars(select(WarmingPlan).where(WarmingPlan.status == "warming")).all():
        totals = window_totals(plan)
        why = breach(totals)
        if why is None:
            continue
        domain = _domain_of(plan)
        pause(plan, f"Warming paused: {why}.")
        alerts.raise_alert(
            plan.workspace_id,
            "warming_paused",
            "critical",
            "domain",
            domain.id,
            f"Warming of {domain.domain} paused: {why}. Nothing is sent from it until you resume.",
            evidence={"sent": totals["sent"], "bounced": totals["bounced"], "complained": totals["complained"],
                      "delivered": totals["delivered"], "day": day_of(plan, local_today(plan.workspace_id))},
            action_label="Review and resume",
            action_url=f"/domains/{domain.id}/warming",
        )  # fmt: skip
        db.session.commit()
        paused.append(plan.id)
    return paused


# ---- what the pages and the API show -------------------------------------------------------


def waiting(plan: WarmingPlan) -> int:
    domain = _domain_of(plan)
    return (
        db.session.scalar(
            select(func.count()).where(
                _cr.c.campaign_id.in_(_campaigns_from(plan.workspace_id, domain.domain)),
                _cr.c.status == "pending",
                or_(_cr.c.reason == WARMING_WAIT, _cr.c.reason == PAUSED_WAIT),
            )
        )
        or 0
    )


def summary(plan: WarmingPlan) -> dict:
    """{status, day, daily_limit, sent_today, waiting, paused_reason, schedule, next_release}."""
    today = local_today(plan.workspace_id)
    day = db.session.get(WarmingDay, (plan.id, today))
    limit = limit_on(plan, today) if plan.status != "done" else None
    return {
        "status": plan.status,
        "schedule": plan.schedule,
        "day": day_of(plan, today),
        "daily_limit": limit,
        "sent_today": day.released if day else 0,
        "waiting": waiting(plan),
        "paused_reason": plan.paused_reason,
        "next_release": next_local_midnight(plan.workspace_id) if plan.status == "warming" else None,
    }


def days(plan: WarmingPlan) -> list[dict]:
    """Per day since the plan started: the cap, what was let out, and (by UTC day) what the
    domain sent, bounced and complained — for the chart and the API."""
    domain = _domain_of(plan)
    today = local_today(plan.workspace_id)
    caps = {r.day: r for r in db.session.scalars(select(WarmingDay).where(WarmingDay.plan_id == plan.id))}
    stats = {
        r.day: r
        for r in db.session.execute(
            select(
                DeliveryStat.day,
                func.sum(DeliveryStat.sent).label("sent"),
                func.sum(DeliveryStat.bounced_hard + DeliveryStat.bounced_soft).label("bounced"),
                func.sum(DeliveryStat.complained).label("complained"),
            )
            .where(
                DeliveryStat.workspace_id == plan.workspace_id,
                DeliveryStat.sending_domain == domain.domain,
                DeliveryStat.day >= plan.start_date,
            )
            .group_by(DeliveryStat.day)
        )
    }
    out = []
    first = min([plan.start_date, *caps])
    steps = _steps(plan)
    for n in range((today - first).days + 1):
        d = first + timedelta(days=n)
        row, stat = caps.get(d), stats.get(d)
        plan_day = (d - plan.start_date).days + plan.start_day
        out.append(
            {
                "date": d.isoformat(),
                "day": plan_day,
                "limit": row.limit if row else limit_for_day(steps, plan.interpolate, plan_day),
                "released": row.released if row else 0,
                "sent": int(stat.sent) if stat else 0,
                "bounced": int(stat.bounced) if stat else 0,
                "complained": int(stat.complained) if stat else 0,
            }
        )
    return out


def campaign_wait(campaign: Campaign) -> dict | None:
    """For the campaign page: {recipients, paused, reason, next_release, domain, domain_id, daily_limit}
    when some of its recipients wait for warming capacity (or for a paused domain); else None."""
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
    plan = _plan_for_from(campaign.workspace_id, campaign.from_email)
    domain = _domain_of(plan) if plan else None
    paused = bool(counts.get(PAUSED_WAIT)) or (plan is not None and plan.status == "paused")
    return {
        "recipients": sum(counts.values()),
        "paused": paused,
        "reason": plan.paused_reason if plan and paused else None,
        "next_release": next_local_midnight(campaign.workspace_id) if plan and not paused else None,
        "daily_limit": limit_on(plan, local_today(plan.workspace_id)) if plan else None,
        "domain": domain.domain if domain else None,
        "domain_id": domain.id if domain else None,
    }


def ahead(plan: WarmingPlan, horizon: int = 120) -> list[dict]:
    """The plan's caps from tomorrow to its last day (at most `horizon` days): the chart's line ahead."""
    if plan.status == "done":
        return []
    today = local_today(plan.workspace_id)
    steps = _steps(plan)
    first_day = day_of(plan, today) + 1
    last_day = min(steps[-1][0], first_day + horizon - 1)
    return [
        {"date": (today + timedelta(days=d - first_day + 1)).isoformat(), "day": d,
         "limit": limit_for_day(steps, plan.interpolate, d)}
        for d in range(first_day, last_day + 1)
    ]  # fmt: skip
