"""Warming a sending domain or a dedicated IP: a daily cap that grows on a schedule, thresholds
that pause it, and the figures the warming pages and the API show.

The plan's day is computed from its start date in the workspace's timezone, so a missed job never
stalls it; a pause moves the start date on by the days it lasted, so a resumed plan continues at
the volume it paused on. How the cap holds across every worker (holding recipients and letting
today's capacity out under a lock) is warming_holds; which campaigns a plan gates, warming_plans.
"""

from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import DedicatedIP, DeliveryStat, WarmingDay, WarmingPlan
from app.models import WarmingSchedule as CustomSchedule
from app.services.delivery import warming_counts, warming_holds
from app.services.delivery.warming_plans import (
    day_of,
    limit_on,
    local_today,
    next_local_midnight,
    plan_of,
    steps,
    subject_name,
    subject_of,
)
from app.services.delivery.warming_schedules import BUILT_IN, Schedule, clean_steps, limit_for_day
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.platform import alerts

# Thresholds over the warming window (deliverability.md, seeds 001 and 002): a breach pauses the plan.
MAX_BOUNCE_RATE = 0.05
MAX_IP_BOUNCE_RATE = 0.03  # an IP's reputation is stricter (seed 002)
MAX_COMPLAINT_RATE = 0.001
MIN_DELIVERY_RATE = 0.90
MIN_SAMPLE = 50  # messages sent before rates mean anything (day 1 of STANDARD)
STARTABLE = {"domain": ("verified", "active", "warming"), "ip": ("active", "warming")}


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


def create_schedule(workspace_id: int, name, schedule_steps) -> CustomSchedule:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError("Give the schedule a name of up to 100 characters.", {"name": "Required."})
    cleaned = clean_steps(schedule_steps)
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


def start(workspace_id: int, subject, schedule_key, start_day=1) -> WarmingPlan:
    """Start (or restart) warming a SendingDomain or DedicatedIP at `start_day` of the schedule (a
    half-warmed domain moved from another platform starts at, say, day 9)."""
    kind = "ip" if isinstance(subject, DedicatedIP) else "domain"
    if subject.status not in STARTABLE[kind]:
        what = "verify it" if kind == "domain" else "resume it"
        raise InvalidState(f"{_name(subject)} is {subject.status}: {what} before warming it.")
    if not isinstance(start_day, int) or isinstance(start_day, bool) or not 1 <= start_day <= 365:
        raise ValidationError("start_day is a whole number from 1 to 365.", {"start_day": "From 1 to 365."})
    schedule = schedule_for(workspace_id, schedule_key)
    plan = plan_of(subject) or WarmingPlan(workspace_id=workspace_id, subject_type=kind, subject_id=subject.id)
    plan.schedule, plan.steps, plan.interpolate = schedule.key, schedule.steps_json(), schedule.interpolate
    plan.start_date, plan.start_day = local_today(workspace_id), start_day
    plan.status, plan.paused_reason, plan.paused_on = "warming", None, None
    db.session.add(plan)
    subject.status, subject.status_reason = "warming", None
    db.session.flush()
    return plan


def _name(subject) -> str:
    return subject.ip_address if isinstance(subject, DedicatedIP) else subject.domain


def pause(plan: WarmingPlan, reason: str) -> None:
    """Hold everything not yet claimed; nothing goes out until a person resumes."""
    if plan.status == "paused":
        return
    plan.status, plan.paused_reason = "paused", reason[:1000]
    plan.paused_on = local_today(plan.workspace_id)
    subject = subject_of(plan)
    subject.status, subject.status_reason = "paused", reason[:1000]
    warming_holds.hold_paused(plan)
    db.session.flush()


def resume(plan: WarmingPlan) -> None:
    """Continue where the plan paused: the start date moves on by the days the pause lasted."""
    if plan.status != "paused":
        raise InvalidState("The plan is not paused.")
    today = local_today(plan.workspace_id)
    if plan.paused_on:
        plan.start_date += timedelta(days=(today - plan.paused_on).days)
    plan.status, plan.paused_reason, plan.paused_on = "warming", None, None
    subject = subject_of(plan)
    subject.status, subject.status_reason = "warming", None
    warming_holds.reopen(plan)
    alerts.resolve_alert(plan.workspace_id, "warming_paused", plan.subject_type, plan.subject_id)
    db.session.flush()


# ---- thresholds ----------------------------------------------------------------------------


def _stats_of(plan: WarmingPlan):
    """The delivery_stats rows that are the plan's subject's mail: a domain's by sending domain; an
    IP's by the provider bound to it (an SMTP relay bound to one address carries only that IP's mail)."""
    subject = subject_of(plan)
    if plan.subject_type == "domain":
        return DeliveryStat.sending_domain == subject.domain
    return DeliveryStat.provider_id == (subject.provider_id or -1)


def window_totals(plan: WarmingPlan) -> dict:
    """What the subject sent and got back since its plan started (delivery_stats, by UTC day)."""
    since = plan.start_date - timedelta(days=1)  # UTC days overlapping the first local day
    cols = (DeliveryStat.sent, DeliveryStat.delivered, DeliveryStat.bounced_hard, DeliveryStat.bounced_soft,
            DeliveryStat.complained)  # fmt: skip
    row = db.session.execute(
        select(*(func.coalesce(func.sum(c), 0) for c in cols)).where(
            DeliveryStat.workspace_id == plan.workspace_id,
            _stats_of(plan),
            DeliveryStat.day >= since,
        )
    ).one()
    sent, delivered, hard, soft, complained = (int(v) for v in row)
    return {"sent": sent, "delivered": delivered, "bounced": hard + soft, "complained": complained}


def breach(totals: dict, max_bounce_rate: float = MAX_BOUNCE_RATE) -> str | None:
    """The first threshold the figures cross, in words; None when within all of them."""
    sent = totals["sent"]
    if sent < MIN_SAMPLE:
        return None
    bounce, complaint = totals["bounced"] / sent, totals["complained"] / sent
    if bounce > max_bounce_rate:
        return f"bounce rate {bounce:.1%} ({totals['bounced']} of {sent}) is over {max_bounce_rate:.0%}"
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
        why = breach(totals, MAX_IP_BOUNCE_RATE if plan.subject_type == "ip" else MAX_BOUNCE_RATE)
        if why is None:
            continue
        pause(plan, f"Warming paused: {why}.")
        page = f"/{'ips' if plan.subject_type == 'ip' else 'domains'}/{plan.subject_id}/warming"
        alerts.raise_alert(
            plan.workspace_id,
            "warming_paused",
            "critical",
            plan.subject_type,
            plan.subject_id,
            f"Warming of {subject_name(plan)} paused: {why}. Nothing is sent from it until you resume.",
            evidence={"sent": totals["sent"], "bounced": totals["bounced"], "complained": totals["complained"],
                      "delivered": totals["delivered"], "day": day_of(plan, local_today(plan.workspace_id))},
            action_label="Review and resume",
            action_url=page,
        )  # fmt: skip
        db.session.commit()
        paused.append(plan.id)
    return paused


# ---- what the pages and the API show -------------------------------------------------------


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
        "waiting": warming_holds.waiting(plan),
        "paused_reason": plan.paused_reason,
        "next_release": next_local_midnight(plan.workspace_id) if plan.status == "warming" else None,
    }


def days(plan: WarmingPlan) -> list[dict]:
    """Per day since the plan started, each a day in the workspace's timezone: the cap, what was let
    out, and what the subject sent, bounced and complained that day — for the chart and the API.
    Every figure uses the same local day (warming_counts), so a day's bars stand under its own cap."""
    today = local_today(plan.workspace_id)
    caps = {r.day: r for r in db.session.scalars(select(WarmingDay).where(WarmingDay.plan_id == plan.id))}
    first = min([plan.start_date, *caps])
    counts = warming_counts.per_local_day(plan, first)
    out = []
    plan_steps = steps(plan)
    for n in range((today - first).days + 1):
        d = first + timedelta(days=n)
        row, count = caps.get(d), counts.get(d, {})
        plan_day = (d - plan.start_date).days + plan.start_day
        out.append(
            {
                "date": d.isoformat(),
                "day": plan_day,
                "limit": row.limit if row else limit_for_day(plan_steps, plan.interpolate, plan_day),
                "released": row.released if row else 0,
                "sent": count.get("sent", 0),
                "bounced": count.get("bounced", 0),
                "complained": count.get("complained", 0),
            }
        )
    return out


def ahead(plan: WarmingPlan, horizon: int = 120) -> list[dict]:
    """The plan's caps from tomorrow to its last day (at most `horizon` days): the chart's line ahead."""
    if plan.status == "done":
        return []
    today = local_today(plan.workspace_id)
    plan_steps = steps(plan)
    first_day = day_of(plan, today) + 1
    last_day = min(plan_steps[-1][0], first_day + horizon - 1)
    return [
        {"date": (today + timedelta(days=d - first_day + 1)).isoformat(), "day": d,
         "limit": limit_for_day(plan_steps, plan.interpolate, d)}
        for d in range(first_day, last_day + 1)
    ]  # fmt: skip
