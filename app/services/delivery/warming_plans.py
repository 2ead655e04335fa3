"""What a warming plan is about and where it stands: its subject (a sending domain or a dedicated
IP), its day and today's cap in the workspace's timezone, and which campaigns it gates.

A domain's plan gates the recipients sent from the domain: those a pool gave an identity on it, and
those of campaigns whose own From is on it (senders.rows_from). An IP's plan gates every recipient of
the campaigns whose first provider (the route every message tries first) is the provider bound to
the IP. A campaign's rows fall into lanes, one per From domain it sends from, each gated by that
domain's plan and the IP's: a row gated by both waits for the smaller room of the two.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, DedicatedIP, SendingDomain, WarmingPlan
from app.services.delivery import dkim, routing, senders
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
    """The workspace's sending campaigns this plan gates (some of whose rows, for a domain's plan)."""
    sending = select(Campaign).where(Campaign.workspace_id == plan.workspace_id, Campaign.status == "sending")
    subject = subject_of(plan)
    if plan.subject_type == "domain":
        cr = CampaignRecipient
        chosen = exists().where(
            cr.campaign_id == Campaign.id, cr.identity_id.in_(senders.identities_on(plan.workspace_id, subject.domain))
        )
        own = func.lower(Campaign.from_email).endswith("@" + subject.domain, autoescape=True)
        return list(db.session.scalars(sending.where(or_(own, chosen)).with_only_columns(Campaign.id)))
    if subject.provider_id is None:
        return []
    return [c.id for c in db.session.scalars(sending) if _first_provider_id(c) == subject.provider_id]


def _first_provider_id(campaign: Campaign) -> int | None:
    first = routing.providers_for(campaign)[:1]
    return first[0].id if first else None


@dataclass(frozen=True)
class Lane:
    """The rows of one campaign sent from one domain, and the plans that gate them (its domain's, the IP's)."""

    plans: tuple
    identity_ids: tuple | None = None  # rows a pool gave one of these; None: the campaign has no pool choice
    own: bool = True  # with the rows left with the campaign's own From

    def rows(self, table=None):
        """The lane's rows as a condition on `table` (campaign_recipients or an alias); None: every row."""
        if self.identity_ids is None:
            return None
        table = CampaignRecipient.__table__ if table is None else table
        chosen = table.c.identity_id.in_(self.identity_ids)
        if not self.own:
            return chosen
        return or_(chosen, table.c.identity_id.is_(None)) if self.identity_ids else table.c.identity_id.is_(None)


def _domain_plan(workspace_id: int, domain: str | None) -> WarmingPlan | None:
    return db.session.scalar(
        select(WarmingPlan)
        .join(SendingDomain, (WarmingPlan.subject_type == "domain") & (WarmingPlan.subject_id == SendingDomain.id))
        .where(
            SendingDomain.workspace_id == workspace_id,
            SendingDomain.domain == domain,
            WarmingPlan.status.in_(ACTIVE),
        )
    )


def _ip_plans(campaign: Campaign) -> list[WarmingPlan]:
    ip_plans = db.session.scalars(
        select(WarmingPlan)
        .join(DedicatedIP, (WarmingPlan.subject_type == "ip") & (WarmingPlan.subject_id == DedicatedIP.id))
        .where(DedicatedIP.workspace_id == campaign.workspace_id, WarmingPlan.status.in_(ACTIVE))
    ).all()
    if not ip_plans:
        return []
    first = _first_provider_id(campaign)
    return [p for p in ip_plans if subject_of(p).provider_id == first]


def lanes_of(campaign: Campaign) -> list[Lane]:
    """The campaign's lanes that some warming or paused plan gates (empty: nothing gates it)."""
    ip_plans = _ip_plans(campaign)
    own = dkim.from_domain(campaign.from_email)  # IDNA, as domains are stored
    chosen = senders.assigned(campaign.id)
    by_domain = senders.domains_of(chosen)
    if gone := set(chosen) - {i for ids in by_domain.values() for i in ids}:
        # Identities deleted since: their rows go out as the campaign's own From (messages.py), so they
        # are the own domain's to gate.
        by_domain.setdefault(own, []).extend(sorted(gone))
    lanes = []
    for domain in dict.fromkeys([*by_domain, own]):
        domain_plan = _domain_plan(campaign.workspace_id, domain) if domain else None
        plans = ([domain_plan] if domain_plan else []) + ip_plans
        if plans:
            identity_ids = tuple(by_domain.get(domain, ())) if by_domain else None
            lanes.append(Lane(tuple(plans), identity_ids, own=domain == own))
    return lanes


def gating_plans(campaign: Campaign) -> list[WarmingPlan]:
    """The warming or paused plans that gate some of this campaign's rows."""
    return list({p.id: p for lane in lanes_of(campaign) for p in lane.plans}.values())
