"""A campaign's figures over time: hourly or daily buckets, split by mailbox provider, sending identity
or sending domain, raw and human side by side, and totals whose rates carry their denominators.

Everything is read for one campaign through its indexes (recipient rows by campaign, events by
campaign and type): a handful of grouped queries whatever the campaign's size. What a recipient row
holds is bucketed by its own time (sent_at, delivered_at, the first opens and clicks); what comes back
as events by when it happened. Hours are UTC hours; days are the workspace's days (its timezone).
The series add up to the totals, and the totals to the campaign's stats.
"""

from collections import defaultdict
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, null, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, Link, SendingDomain, SendingIdentity
from app.services.delivery.mailbox_providers import group_label
from app.services.errors import ValidationError
from app.services.events.verdicts import HONEYPOT_POSITION, HUMAN_CLICK, HUMAN_OPEN
from app.services.platform.workspaces import workspace_timezone
from app.services.time_buckets import local_day, parse_iso, utc_hour

INTERVALS = ("hour", "day")
GROUPS = ("mailbox_provider", "identity", "domain")
# From the recipient rows: each metric is the rows whose column falls in the bucket.
ROW_METRICS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "unique_opens": "opened_at",
    "human_unique_opens": "human_opened_at",
    "unique_clicks": "clicked_at",
    "human_unique_clicks": "human_clicked_at",
}
# From the event log: (event type, only a person's?) per metric.
EVENT_METRICS = {
    "opens": ("open", False),
    "human_opens": ("open", True),
    "clicks": ("click", False),
    "human_clicks": ("click", True),
    "bounced": ("bounce", False),
    "deferred": ("delivery_delay", False),
    "complaints": ("complaint", False),
    "unsubscribes": ("unsubscribe", False),
    "replies": ("reply", False),
}
METRICS = (*ROW_METRICS, *EVENT_METRICS)
# Each rate: (numerator, denominator); a rate is given with its denominator's count.
RATES = {
    "delivery_rate": ("delivered", "sent"),
    "open_rate": ("human_unique_opens", "delivered_or_sent"),
    "raw_open_rate": ("unique_opens", "delivered_or_sent"),
    "click_rate": ("human_unique_clicks", "delivered_or_sent"),
    "click_to_open_rate": ("human_unique_clicks", "human_unique_opens"),
    "bounce_rate": ("bounced", "sent"),
    "complaint_rate": ("complaints", "delivered_or_sent"),
    "unsubscribe_rate": ("unsubscribes", "delivered_or_sent"),
}
MAX_BUCKETS = 24 * 93  # three months of hours


def campaign_series(campaign: Campaign, interval: str = "hour", group_by: str | None = None,
                    start=None, end=None) -> dict:  # fmt: skip
    """{"interval", "group_by", "series": [{"key", "label", "points": [{"t", metric: n}]}], "totals"}."""
    if interval not in INTERVALS:
        raise ValidationError("interval is hour or day.", {"interval": "hour or day."})
    if group_by not in (None, "", *GROUPS):
        raise ValidationError(f"group_by is one of: {', '.join(GROUPS)}.", {"group_by": "Unknown grouping."})
    start, end = parse_iso(start, "from"), parse_iso(end, "to")
    if start and end and end <= start:
        raise ValidationError("to comes after from.", {"to": "Before from."})
    tz = workspace_timezone(campaign.workspace_id)
    counts: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(METRICS, 0)))  # group -> t -> metrics
    for metric, column in ROW_METRICS.items():
        for group, t, n in _row_counts(campaign, column, interval, tz, group_by or None, start, end):
            counts[group][t][metric] += n
    for group, t, metric, n in _event_counts(campaign, interval, tz, group_by or None, start, end):
        counts[group][t][metric] += n
    series = [
        {"key": group, "label": _label(group_by, group, campaign),
         "points": [{"t": t, **m} for t, m in sorted(points.items())][-MAX_BUCKETS:]}
        for group, points in counts.items()
    ]  # fmt: skip
    series.sort(key=lambda s: -sum(p["sent"] for p in s["points"]))
    return {"interval": interval, "group_by": group_by or None, "series": series, "totals": totals_of(series)}


def totals_of(series: list[dict]) -> dict:
    """Every metric summed over the series, and each rate {value, numerator, denominator, of}."""
    out = dict.fromkeys(METRICS, 0)
    for s in series:
        for p in s["points"]:
            for m in METRICS:
                out[m] += p[m]
    out["delivered_or_sent"] = out["delivered"] or out["sent"]
    rates = {}
    for name, (num, den) in RATES.items():
        of = out[den]
        rates[name] = {"value": out[num] / of if of else None, "numerator": out[num], "denominator": of,
                       "of": ("delivered" if out["delivered"] else "sent") if den == "delivered_or_sent" else den}  # fmt: skip
    out.pop("delivered_or_sent")
    if not out["delivered"]:  # nobody reported a delivery (an SMTP relay does not): unknown, not 0%
        rates["delivery_rate"]["value"] = None
    return {**out, "rates": rates}


def _bucket(column, interval: str, tz: str):
    """(SQL expression, key -> start of the bucket as an aware datetime): the UTC hour, or the day in
    the workspace's timezone (time_buckets)."""
    if interval == "hour":
        return utc_hour(column)
    day, read_day = local_day(column, tz)
    zone = ZoneInfo(tz)
    return day, lambda key: datetime.combine(read_day(key), time(0), zone)


def _group_column(group_by: str | None, campaign: Campaign):
    cr = CampaignRecipient
    if group_by == "mailbox_provider":
        return cr.mailbox_provider
    if group_by == "identity":
        return cr.identity_id
    if group_by == "domain":
        own = campaign.from_email.rpartition("@")[2].lower()
        return func.coalesce(SendingDomain.domain, own)
    return None


def _with_group(stmt, group_by: str | None):
    if group_by == "domain":
        cr = CampaignRecipient
        stmt = stmt.outerjoin(SendingIdentity, SendingIdentity.id == cr.identity_id).outerjoin(
            SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id
        )
    return stmt


def _row_counts(campaign, column_name: str, interval, tz, group_by, start, end):
    cr = CampaignRecipient
    column = getattr(cr, column_name)
    bucket, read = _bucket(column, interval, tz)
    group = _group_column(group_by, campaign)
    cols = [group if group is not None else null(), bucket, func.count()]
    stmt = _with_group(select(*cols).select_from(cr), group_by).where(
        cr.campaign_id == campaign.id, column.is_not(None)
    )
    stmt = _in_range(stmt, column, start, end).group_by(*([group] if group is not None else []), bucket)
    merged: dict = defaultdict(int)
    for g, key, n in db.session.execute(stmt):
        merged[(g, read(key))] += n
    return [(g, t, n) for (g, t), n in merged.items()]


def _event_counts(campaign, interval, tz, group_by, start, end):
    cr = CampaignRecipient
    bucket, read = _bucket(Event.occurred_at, interval, tz)
    group = _group_column(group_by, campaign)
    types = sorted({t for t, _ in EVENT_METRICS.values()})
    human = case(
        (and_(Event.event_type == "open", Event.verdict.in_(HUMAN_OPEN) | Event.verdict.is_(None)), 1),
        (and_(Event.event_type == "click", Event.verdict.in_(HUMAN_CLICK) | Event.verdict.is_(None)), 1),
        else_=0,
    )
    cols = [group if group is not None else null(), bucket, Event.event_type,
            func.count(), func.coalesce(func.sum(human), 0)]  # fmt: skip
    stmt = select(*cols).select_from(Event)
    if group is not None:
        stmt = _with_group(stmt.outerjoin(cr, cr.id == Event.recipient_id), group_by)
    stmt = stmt.where(Event.campaign_id == campaign.id, Event.event_type.in_(types))
    stmt = _in_range(stmt, Event.occurred_at, start, end).group_by(
        *([group] if group is not None else []), bucket, Event.event_type
    )
    merged: dict = defaultdict(int)
    for g, key, event_type, n, people in db.session.execute(stmt):
        t = read(key)
        for metric, (wanted, only_people) in EVENT_METRICS.items():
            if wanted == event_type:
                merged[(g, t, metric)] += people if only_people else n
    return [(g, t, m, n) for (g, t, m), n in merged.items()]


def _in_range(stmt, column, start, end):
    if start is not None:
        stmt = stmt.where(column >= start)
    if end is not None:
        stmt = stmt.where(column < end)
    return stmt


def _label(group_by: str | None, key, campaign: Campaign) -> str:
    if group_by == "mailbox_provider":
        return group_label(key)
    if group_by == "identity":
        if key is None:
            return f"{campaign.from_email} (the campaign's own From)"
        identity = db.session.get(SendingIdentity, key)
        return identity.email if identity else f"identity {key} (deleted)"
    if group_by == "domain":
        return key or "—"
    return "All recipients"


def csv_rows(result: dict):
    """The series as CSV rows: a header, then one row per group and bucket."""
    yield ["group", "t", *METRICS]
    for s in result["series"]:
        for p in s["points"]:
            yield [s["label"], p["t"].isoformat(), *(p[m] for m in METRICS)]


def campaign_links(campaign: Campaign) -> dict:
    """Clicks per link in the order the message shows them, raw and by people (one grouped query):
    {"links": [{link_id, position, url, clicks, human_clicks, clickers, human_clickers}], "trap": n}.
    The hidden honeypot (position 0) is not a link anyone sees: its clicks are given apart."""
    human = (Event.verdict.in_(HUMAN_CLICK) | Event.verdict.is_(None)).label("human")
    per_click = (
        select(Event.link_id, Event.recipient_id, human)
        .where(Event.campaign_id == campaign.id, Event.event_type == "click", Event.link_id.is_not(None))
        .subquery()
    )
    rows = db.session.execute(
        select(
            Link.id, Link.position, Link.url, func.count(per_click.c.link_id),
            func.coalesce(func.sum(case((per_click.c.human, 1), else_=0)), 0),
            func.count(func.distinct(per_click.c.recipient_id)),
            func.count(func.distinct(case((per_click.c.human, per_click.c.recipient_id)))),
        )
        .select_from(Link)
        .outerjoin(per_click, per_click.c.link_id == Link.id)
        .where(Link.campaign_id == campaign.id)
        .group_by(Link.id, Link.position, Link.url)
        .order_by(Link.position)
    ).all()  # fmt: skip
    links, trap = [], 0
    for link_id, position, url, clicks, people, clickers, human_clickers in rows:
        if position == HONEYPOT_POSITION:
            trap = clicks
            continue
        links.append({"link_id": link_id, "position": position, "url": url, "clicks": clicks,
                      "human_clicks": int(people), "clickers": clickers, "human_clickers": human_clickers})  # fmt: skip
    return {"links": links, "trap": trap}
