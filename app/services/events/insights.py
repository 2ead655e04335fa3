"""Figures over time, for a campaign or the whole workspace: hourly or daily buckets, split by mailbox
provider, sending identity, sending domain (and across the workspace by campaign or list), raw and
human side by side, and totals whose rates carry their denominators.

Everything is read from the hourly rollups (events/rollups.py), never from the event log: one grouped
query on `insight_hours`, whatever the audience's size. Hours are UTC hours; days are the workspace's
days (its timezone; an hour is given to the day its start falls in, which only matters in the few
timezones whose offset is not a whole number of hours). The series add up to the totals.
"""

from collections import defaultdict
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select

from app.models import Campaign, CampaignList, Event, InsightHour, Link, MailingList, SendingDomain, SendingIdentity
from app.services.delivery.mailbox_providers import group_label
from app.services.errors import ValidationError
from app.services.events import reads, rollups
from app.services.events.verdicts import HONEYPOT_POSITION, HUMAN_CLICK
from app.services.platform.workspaces import workspace_timezone
from app.services.time_buckets import parse_iso

INTERVALS = ("hour", "day")
GROUPS = ("mailbox_provider", "identity", "domain")
WORKSPACE_GROUPS = ("campaign", "list", *GROUPS)
STORED = rollups.METRICS
METRICS = (*STORED[:5], "soft_bounced", *STORED[5:])
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
DEFAULT_DAYS = 30  # the workspace's range when none is given


def campaign_series(campaign: Campaign, interval: str = "hour", group_by: str | None = None,
                    start=None, end=None) -> dict:  # fmt: skip
    """{"interval", "group_by", "series": [{"key", "label", "points": [{"t", metric: n}]}], "totals"}."""
    group_by = _check(interval, group_by, GROUPS)
    start, end = _range(start, end)
    result = _series(campaign.workspace_id, [InsightHour.campaign_id == campaign.id], interval, group_by, start, end)
    for s in result["series"]:
        if group_by == "identity" and s["key"] is None:
            s["label"] = f"{campaign.from_email} (the campaign's own From)"
    return result


def workspace_series(workspace_id: int, interval: str = "day", group_by: str | None = None,
                     start=None, end=None) -> dict:  # fmt: skip
    """The same across every campaign of the workspace; without `from`, the last 30 days. By list, a
    campaign counts under each list it was sent to."""
    group_by = _check(interval, group_by, WORKSPACE_GROUPS)
    start, end = _range(start, end)
    if start is None:
        start = rollups.hour_of((end or datetime.now(timezone.utc)) - timedelta(days=DEFAULT_DAYS))
    result = _series(workspace_id, [InsightHour.workspace_id == workspace_id], interval, group_by, start, end)
    return {**result, "from": start, "to": end}


def _check(interval: str, group_by: str | None, allowed: tuple) -> str | None:
    if interval not in INTERVALS:
        raise ValidationError("interval is hour or day.", {"interval": "hour or day."})
    if group_by not in (None, "", *allowed):
        raise ValidationError(f"group_by is one of: {', '.join(allowed)}.", {"group_by": "Unknown grouping."})
    return group_by or None


def _range(start, end) -> tuple:
    start, end = parse_iso(start, "from"), parse_iso(end, "to")
    if start and end and end <= start:
        raise ValidationError("to comes after from.", {"to": "Before from."})
    return start, end


def _series(workspace_id: int, where: list, interval: str, group_by: str | None, start, end) -> dict:
    ih = InsightHour
    group = _group_columns(group_by)
    when, bucket = _bucket(interval, workspace_timezone(workspace_id))
    rows = rollups.SPLIT if group_by in GROUPS else rollups.TOTALS  # split only to split by what is split
    stmt = select(*group, when, *(func.sum(getattr(ih, m)) for m in STORED)).where(*where, rows)
    if group_by == "list":
        stmt = stmt.join(CampaignList, CampaignList.campaign_id == ih.campaign_id)
    if start is not None:
        stmt = stmt.where(ih.hour >= rollups.hour_of(start))
    if end is not None:
        stmt = stmt.where(ih.hour < end)
    counts: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(METRICS, 0)))  # group -> t -> metrics
    for row in reads.session().execute(stmt.group_by(*group, when)):
        g = tuple(row[: len(group)]) if len(group) > 1 else (row[0] or None) if group else None  # "", 0: none
        hour, sums = row[len(group)], row[len(group) + 1 :]
        point = counts[g][bucket(hour)]
        for m, n in zip(STORED, sums, strict=True):
            point[m] += int(n or 0)
    if group_by == "domain":
        counts = _by_domain(counts, workspace_id)
    labels = _labels(group_by, list(counts), workspace_id)
    series = []
    for g, points in counts.items():
        for p in points.values():
            p["soft_bounced"] = p["bounced"] - p["hard_bounced"]
        series.append({"key": g, "label": labels.get(g, str(g)),
                       "points": [{"t": t, **m} for t, m in sorted(points.items())][-MAX_BUCKETS:]})  # fmt: skip
    series.sort(key=lambda s: -sum(p["sent"] for p in s["points"]))
    return {"interval": interval, "group_by": group_by, "series": series, "totals": totals_of(series)}


def _group_columns(group_by: str | None) -> list:
    ih = InsightHour
    if group_by == "domain":  # the campaign's own From or an identity's: named after the query
        return [ih.campaign_id, ih.identity_id]
    column = {"mailbox_provider": ih.mailbox_provider, "identity": ih.identity_id, "campaign": ih.campaign_id,
              "list": CampaignList.list_id}.get(group_by)  # fmt: skip
    return [column] if column is not None else []


def _bucket(interval: str, tz: str):
    """(what to group the hours by, its key -> the start of the bucket): the hour itself, or its day in the
    workspace's zone (named by PostgreSQL, so a month by campaign is a few hundred rows, not thousands)."""
    if interval == "hour":
        return InsightHour.hour, rollups.hour_of
    zone = ZoneInfo(tz)
    if reads.session().get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, InsightHour.hour)), lambda day: datetime.combine(day, time(0), zone)
    return InsightHour.hour, lambda hour: datetime.combine(rollups.hour_of(hour).astimezone(zone).date(), time(0), zone)


def _by_domain(counts: dict, workspace_id: int) -> dict:
    """Per (campaign, identity) into per sending domain: the identity's, or the campaign's own From's."""
    pairs = list(counts)
    froms = dict(reads.session().execute(select(Campaign.id, Campaign.from_email).where(
        Campaign.id.in_({c for c, _ in pairs}), Campaign.workspace_id == workspace_id)).all())  # fmt: skip
    domains = dict(reads.session().execute(
        select(SendingIdentity.id, SendingDomain.domain)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingIdentity.id.in_({i for _, i in pairs if i}))
    ).all())  # fmt: skip
    out: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(METRICS, 0)))
    for key, points in counts.items():
        campaign_id, identity_id = key
        own = (froms.get(campaign_id) or "").rpartition("@")[2].lower() or None
        domain = domains.get(identity_id) if identity_id else own
        for t, metrics in points.items():
            for m, n in metrics.items():
                out[domain][t][m] += n
    return out


def _labels(group_by: str | None, keys: list, workspace_id: int) -> dict:
    if group_by is None:
        return {None: "All recipients"}
    if group_by == "mailbox_provider":
        return {k: group_label(k or None) for k in keys}
    if group_by == "domain":
        return {k: k or "—" for k in keys}
    if group_by == "identity":
        named = dict(reads.session().execute(select(SendingIdentity.id, SendingIdentity.email).where(
            SendingIdentity.id.in_([k for k in keys if k]))).all())  # fmt: skip
        return {k: named.get(k, f"identity {k} (deleted)") if k else "Each campaign's own From" for k in keys}
    model = Campaign if group_by == "campaign" else MailingList
    named = dict(reads.session().execute(select(model.id, model.name).where(
        model.id.in_(keys), model.workspace_id == workspace_id)).all())  # fmt: skip
    return {k: named.get(k, f"{group_by} {k} (deleted)") for k in keys}


def totals_of(series: list[dict]) -> dict:
    """Every metric summed over the series, and each rate {value, numerator, denominator, of}."""
    out = dict.fromkeys(METRICS, 0)
    for s in series:
        for p in s["points"]:
            for m in METRICS:
                out[m] += p[m]
    return {**out, "rates": rates_of(out)}


def rates_of(out: dict) -> dict:
    """Each rate of summed metrics: {value, numerator, denominator, of}."""
    base = out["delivered"] or out["sent"]
    rates = {}
    for name, (num, den) in RATES.items():
        of = base if den == "delivered_or_sent" else out[den]
        rates[name] = {"value": out[num] / of if of else None, "numerator": out[num], "denominator": of,
                       "of": ("delivered" if out["delivered"] else "sent") if den == "delivered_or_sent" else den}  # fmt: skip
    if not out["delivered"]:  # nobody reported a delivery (an SMTP relay does not): unknown, not 0%
        rates["delivery_rate"]["value"] = None
    return rates


def csv_rows(result: dict):
    """The series as CSV rows: a header, then one row per group and bucket."""
    yield ["group", "t", *METRICS]
    for s in result["series"]:
        label = csv_cell(s["label"])
        for p in s["points"]:
            yield [label, p["t"].isoformat(), *(p[m] for m in METRICS)]


def csv_cell(value: str) -> str:
    """A cell a spreadsheet would run as a formula (a campaign named "=HYPERLINK(…)") is quoted."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def links_csv_rows(links: dict):
    """A campaign's links as CSV rows: a header, then one row per link in the order the message shows."""
    yield ["position", "url", "clicked_by_people", "clicks_by_people", "clicks", "clickers"]
    for link in links["links"]:
        yield [link["position"], csv_cell(link["url"]), link["human_clickers"], link["human_clicks"], link["clicks"],
               link["clickers"]]  # fmt: skip


def devices_csv_rows(devices: dict):
    """Where people read a campaign as CSV rows: what (mail program, system, device), name, opens."""
    yield ["what", "name", "opens_by_people"]
    for key, what in (("clients", "mail program"), ("systems", "system"), ("kinds", "device")):
        for name, n in devices[key]:
            yield [what, csv_cell(name), n]


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
    rows = reads.session().execute(
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
