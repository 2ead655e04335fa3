"""What a warming plan is about and where it stands: its subject (a sending domain or a dedicated
IP), its day and today's cap in the workspace's timezone, and which campaigns it gates.

A domain's plan gates the sending campaigns whose From address is on the domain; an IP's plan
gates those whose first provider (the route every message tries first) is the provider bound to
the IP. A campaign gated by both waits for the smaller room of the two.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, DedicatedIP, SendingDomain, WarmingPlan
from app.services.delivery import dkim, routing
from app.services.delivery.warming_schedules import limit_for_day
from app.services.platform.workspaces import workspace_timezone

ACTIVE = ("warming", "paused")  # plans that gate campaigns
SUBJECT_MODELS = {"domain": SendingDomain, "ip": DedicatedIP}


def local_today(workspace_id: int) -> date:
    return datetime.now(ZoneInfo(workspace_timezone(workspace_id))).date()


def next_local_midnight(workspace_id: int) -> datetime:
    tz = ZoneInfo(workspace_timezone(workspace_id))
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tz).astimezone(timezone.utc)


def plan_of(subject) -> WarmingPlan | None:
    """The plan of a SendingDomain or a DedicatedIP (None: never warmed)."""
    kind = "ip" if isinstance(subject, DedicatedIP) else "domain"
    return db.session.scalar(
        select(WarmingPlan).where(WarmingPlan.subject_type == kind, WarmingPlan.subject_id == subject.id)
    )


def subject_of(plan: WarmingPlan):
    return db.session.get(SUBJECT_MODELS[plan.subject_type], plan.subject_id)


def subject_name(plan: WarmingPlan) -> str:
    subject = subject_of(plan)
    return subject.domain if plan.subject_type == "domain" else subject.ip_address


def steps(plan: WarmingPlan) -> list[tuple[int, int]]:
    return [(s["day"], s["volume"]) for s in plan.steps]


def day_of(plan: WarmingPlan, today: date) -> int:
    """The plan's day number on `today` (a paused plan stays on the day it paused)."""
    until = plan.paused_on if plan.status == "paused" and plan.paused_on else today
    return (until - plan.start_date).days + plan.start_day


def limit_on(plan: WarmingPlan, today: date) -> int | None:
    """The plan's cap on `today`; None: no cap (the schedule is over)."""
    return limit_for_day(steps(plan), plan.interpolate, day_of(plan, today))


def gated_campaign_ids(plan: WarmingPlan) -> list[int]:
    """The workspace's sending campaigns this plan gates."""
    sending = select(Campaign).where(Campaign.workspace_id == plan.workspace_id, Campaign.status == "sending")
    subject = subject_of(plan)
    if plan.subject_type == "domain":
        on_domain = sending.where(func.lower(Campaign.from_email).endswith("@" + subject.domain, autoescape=True))
        return list(db.session.scalars(on_domain.with_only_columns(Campaign.id)))
    if subject.provider_id is None:
        return []
    return [c.id for c in db.session.scalars(sending) if _first_provider_id(c) == subject.provider_id]


def _first_provider_id(campaign: Campaign) -> int | None:
    first = routing.providers_for(campaign)[:1]
    return first[0].id if first else None


def gating_plans(campaign: Campaign) -> list[WarmingPlan]:
    """The warming or paused plans that gate this campaign: its From domain's, its first provider's IP's."""
    plans = []
    domain_plan = db.session.scalar(
        select(WarmingPlan)
        .join(SendingDomain, (WarmingPlan.subject_type == "domain") & (WarmingPlan.subject_id == SendingDomain.id))
        .where(
            SendingDomain.workspace_id == campaign.workspace_id,
            SendingDomain.domain == dkim.from_domain(campaign.from_email),  # IDNA, as domains are stored
            WarmingPlan.status.in_(ACTIVE),
        )
    )
    if domain_plan is not None:
        plans.append(domain_plan)
    ip_plans = db.session.scalars(
        select(WarmingPlan)
        .join(DedicatedIP, (WarmingPlan.subject_type == "ip") & (WarmingPlan.subject_id == DedicatedIP.id))
        .where(DedicatedIP.workspace_id == campaign.workspace_id, WarmingPlan.status.in_(ACTIVE))
    ).all()
    if ip_plans:
        first = _first_provider_id(campaign)
        plans += [p for p in ip_plans if subject_of(p).provider_id == first]
    return plans
