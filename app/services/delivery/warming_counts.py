"""What a warming plan's subject sent, bounced and complained, per day in the workspace's timezone.

A plan's caps are per local day (warming_plans), so the figures beside them are too: by UTC day, a
message sent at 23:30 in New York would stand under the next day's cap. delivery_stats keeps UTC
days only and cannot be split, so these come from the rows that carry a time, aggregated in the
database: campaign_recipients.sent_at (what went out) and events.occurred_at (what came back).

Whose mail it is follows delivery_stats: a domain's is what went out from it (a recipient row's
From, as senders.rows_from reads it, or a transactional message's From); an IP's is what the
provider bound to it carried. Sent counts campaign mail only, as delivery_stats does.
"""

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, Message, WarmingPlan
from app.services.delivery import senders
from app.services.delivery.warming_plans import subject_of
from app.services.platform.workspaces import workspace_timezone
from app.services.time_buckets import local_day

# A cancelled campaign's last hand-offs may finish a moment after its completed_at.
_LATE_HAND_OFF = timedelta(hours=1)
_BACK = ("bounced", "complained")


def per_local_day(plan: WarmingPlan, first: date) -> dict[date, Counter]:
    """{local day: Counter(sent=, bounced=, complained=)} for the plan's subject, from `first` (a
    local day) until now; days with nothing are missing."""
    tz = workspace_timezone(plan.workspace_id)
    # In UTC: SQLite stores a timestamp's wall time without its offset.
    since = datetime.combine(first, time(0), ZoneInfo(tz)).astimezone(timezone.utc)
    out: dict[date, Counter] = defaultdict(Counter)
    for stmt, read_day, names in (_sent(plan, since, tz), _came_back(plan, since, tz)):
        for key, *counts in db.session.execute(stmt):
            out[read_day(key)].update(dict(zip(names, (int(n) for n in counts), strict=True)))
    return out


def _sent(plan: WarmingPlan, since: datetime, tz: str):
    cr = CampaignRecipient.__table__
    day, read_day = local_day(cr.c.sent_at, tz)
    # Only campaigns that may have sent since `since`: their recipients are read through the
    # campaign index, never the whole table.
    recent = select(Campaign.id).where(
        Campaign.workspace_id == plan.workspace_id,
        Campaign.status != "draft",
        or_(Campaign.completed_at.is_(None), Campaign.completed_at >= since - _LATE_HAND_OFF),
    )
    subject = subject_of(plan)
    theirs = (
        senders.rows_from(plan.workspace_id, subject.domain, cr)
        if plan.subject_type == "domain"
        else cr.c.provider_id == (subject.provider_id or -1)
    )
    stmt = select(day, func.count()).where(cr.c.campaign_id.in_(recent), cr.c.sent_at >= since, theirs).group_by(day)
    return stmt, read_day, ("sent",)


def _came_back(plan: WarmingPlan, since: datetime, tz: str):
    day, read_day = local_day(Event.occurred_at, tz)
    # delivery_stats' bounced is hard + soft: a block (5.7.x, the sender refused) is counted apart.
    bounced = and_(Event.event_type == "bounce", func.coalesce(Event.data["bounce_type"].as_string(), "") != "block")
    stmt = (
        select(day, func.count().filter(bounced), func.count().filter(Event.event_type == "complaint"))
        .select_from(Event)
        .where(
            Event.workspace_id == plan.workspace_id,
            Event.occurred_at >= since,
            Event.event_type.in_(("bounce", "complaint")),
        )
        .group_by(day)
    )
    subject = subject_of(plan)
    if plan.subject_type == "ip":  # events for nobody Herald knows count against no one, as in delivery_stats
        known = or_(Event.recipient_id.is_not(None), Event.message_id.is_not(None))
        return stmt.where(Event.provider_id == (subject.provider_id or -1), known), read_day, _BACK
    cr = CampaignRecipient.__table__
    on_domain = func.lower(Message.from_email).endswith("@" + subject.domain, autoescape=True)
    stmt = (
        stmt.outerjoin(cr, cr.c.id == Event.recipient_id)
        .outerjoin(Message, Message.id == Event.message_id)
        .where(or_(senders.rows_from(plan.workspace_id, subject.domain, cr), on_domain))
    )
    return stmt, read_day, _BACK
