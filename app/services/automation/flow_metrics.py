"""A flow's figures, for its page and the API: people (entered, active, completed, goal, exited), and
per step what it did (waiting there now, done, each outcome) and — for email steps — what its
messages did, from the campaigns' hourly rollups and orders (attribution credits a flow's email like
any campaign's: the last one a person clicked) — and for SMS steps what their texts did (one GROUP BY
over the flow's SMS recipients).

Recovered revenue (an abandoned cart's, or any flow with an order goal): orders people placed within
7 days after the flow's first email to them — what the reminders brought back, whether or not the
buyer clicked.

    report(flow)            FlowReport
    daily(flow, days)       entered, finished and emails sent per UTC day (the charts)
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Flow, FlowEnrollment, InsightHour, Order, SmsCampaign, SmsRecipient
from app.services.automation import flows
from app.services.events import attribution, rollups
from app.services.sms import reads as sms_reads
from app.services.time_buckets import local_day

RECOVERY_DAYS = 7  # an order this long after the flow's first email to the buyer counts as recovered
EMAIL_FIGURES = ("sent", "delivered", "hard_bounced", "human_unique_opens", "human_unique_clicks", "unsubscribes",
                 "complaints")  # fmt: skip
TEXT_FIGURES = ("queued", "sent", "delivered", "failed", "skipped")  # sent: handed to Twilio, whatever came after


@dataclass
class FlowReport:
    people: dict
    steps: dict  # step id -> {waiting, done, outcomes; an email step: sent, opens… revenue; an SMS step: texts}
    emails: dict  # the flow's emails together
    revenue: dict  # {"conversions", "revenue", "revenue_currency"} credited to its emails
    recovered: dict  # {"orders", "revenue", "currency"}
    campaign_ids: list = field(default_factory=list)
    texts: dict = field(default_factory=lambda: dict.fromkeys(TEXT_FIGURES, 0))  # the flow's texts together


def _email_figures(campaign_ids: list[int]) -> dict[int, dict]:
    ih = InsightHour
    rows = db.session.execute(
        select(ih.campaign_id, *(func.coalesce(func.sum(getattr(ih, f)), 0) for f in EMAIL_FIGURES))
        .where(ih.campaign_id.in_(campaign_ids), rollups.TOTALS)
        .group_by(ih.campaign_id)
    )
    return {cid: dict(zip(EMAIL_FIGURES, map(int, values), strict=True)) for cid, *values in rows}


def report(flow: Flow) -> FlowReport:
    steps = flows.step_counts(flow)
    campaigns = db.session.execute(select(Campaign.id, Campaign.flow_step_id).where(Campaign.flow_id == flow.id)).all()
    ids = [cid for cid, _ in campaigns]
    figures = _email_figures(ids) if ids else {}
    revenues = attribution.campaign_revenues(ids)
    emails = dict.fromkeys(EMAIL_FIGURES, 0)
    for cid, step_id in campaigns:
        entry = steps.setdefault(step_id, {"waiting": 0, "done": 0, "outcomes": {}})
        for name, value in figures.get(cid, {}).items():
            entry[name] = entry.get(name, 0) + value
            emails[name] += value
        money = revenues.get(cid)
        if money:
            entry["conversions"] = entry.get("conversions", 0) + money["conversions"]
            entry["revenue"] = entry.get("revenue", 0.0) + money["revenue"]
    texts = dict.fromkeys(TEXT_FIGURES, 0)
    for step_id, counted in text_figures(flow).items():
        steps.setdefault(step_id, {"waiting": 0, "done": 0, "outcomes": {}})["texts"] = counted
        for name, value in counted.items():
            texts[name] += value
    return FlowReport(flows.enrollment_counts(flow), steps, emails, _credited(revenues), recovered(flow), ids, texts)


def _text_figure(status: str) -> str:
    """Where a row's status counts, as the SMS campaign's page counts it (sent: handed to Twilio)."""
    return "sent" if status in sms_reads.DONE else ("skipped" if status == "skipped" else "queued")


def text_figures(flow: Flow) -> dict[str, dict]:
    """{SMS step id: {queued, sent, delivered, failed, skipped}}, every cycle and version together, in one
    grouped query (failed: Twilio or the carrier refused it, undelivered included)."""
    rows = db.session.execute(
        select(SmsCampaign.flow_step_id, SmsRecipient.status, func.count())
        .join(SmsCampaign, SmsCampaign.id == SmsRecipient.campaign_id)
        .where(SmsCampaign.flow_id == flow.id)
        .group_by(SmsCampaign.flow_step_id, SmsRecipient.status)
    )
    out: dict[str, dict] = {}
    for step_id, status, n in rows:
        entry = out.setdefault(step_id, dict.fromkeys(TEXT_FIGURES, 0))
        entry[_text_figure(status)] += n
        if status == "delivered":
            entry["delivered"] += n
        elif status in ("failed", "undelivered"):
            entry["failed"] += n
    return out


def _credited(revenues: dict) -> dict:
    if not revenues:
        return {"conversions": 0, "revenue": 0.0, "revenue_currency": None}
    by_currency: dict[str, float] = defaultdict(float)
    for r in revenues.values():
        by_currency[r["revenue_currency"]] += r["revenue"]
    currency = max(by_currency, key=lambda c: (by_currency[c], c))
    return {"conversions": sum(r["conversions"] for r in revenues.values()), "revenue": round(by_currency[currency], 2),
            "revenue_currency": currency}  # fmt: skip


def recovered(flow: Flow) -> dict:
    """Orders placed within RECOVERY_DAYS after the flow's first email to the buyer."""
    return recovered_by_flow(flow.workspace_id, [flow.id]).get(flow.id, {"orders": 0, "revenue": 0.0, "currency": None})


def recovered_by_flow(workspace_id: int, flow_ids: list[int]) -> dict[int, dict]:
    """Orders placed within RECOVERY_DAYS after a flow's first email to the buyer, for many flows in one
    query (the index; a flow's page asks for one): {flow id: {orders, revenue, currency}}. The window is
    applied here, where date arithmetic is the same on every database."""
    fe, cr = FlowEnrollment, CampaignRecipient
    first_sent = (
        select(func.min(cr.sent_at))
        .join(Campaign, Campaign.id == cr.campaign_id)
        .where(Campaign.flow_id == fe.flow_id, cr.subscriber_id == fe.subscriber_id, cr.sent_at >= fe.entered_at)
        .correlate(fe)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(fe.flow_id, Order.id, Order.currency, Order.amount, Order.placed_at, first_sent)
        .join(fe, and_(fe.subscriber_id == Order.subscriber_id, fe.flow_id.in_(flow_ids)))
        .where(Order.workspace_id == workspace_id, Order.placed_at >= first_sent)
    ).all()
    seen: dict[int, set] = defaultdict(set)
    money: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    window = timedelta(days=RECOVERY_DAYS)
    for flow_id, order_id, currency, amount, placed_at, sent_at in rows:
        if order_id in seen[flow_id] or _aware(placed_at) > _aware(sent_at) + window:
            continue
        seen[flow_id].add(order_id)
        money[flow_id][currency] += float(amount)
    out = {}
    for flow_id, by_currency in money.items():
        currency = max(by_currency, key=lambda c: (by_currency[c], c))
        out[flow_id] = {"orders": len(seen[flow_id]), "revenue": round(by_currency[currency], 2), "currency": currency}
    return out


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def daily(flow: Flow, days: int = 30, tz: str = "UTC", now: datetime | None = None) -> list[dict]:
    """Per day: people who entered, reached a goal, finished otherwise, and emails sent (zeros included)."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=days)
    out: dict = {}
    fe = FlowEnrollment
    for column, name in ((fe.entered_at, "entered"), (fe.finished_at, "finished")):
        bucket, read = local_day(column, tz)
        stmt = select(bucket, fe.status, func.count()).where(
            fe.flow_id == flow.id, column >= since, fe.status != "baseline"
        )
        for key, status, n in db.session.execute(stmt.group_by(bucket, fe.status)):
            label = name if name == "entered" else ("goal" if status == "goal" else "finished")
            day = out.setdefault(read(key), {"entered": 0, "goal": 0, "finished": 0, "sent": 0})
            day[label] += n
    cr = CampaignRecipient
    bucket, read = local_day(cr.sent_at, tz)
    stmt = (
        select(bucket, func.count())
        .join(Campaign, Campaign.id == cr.campaign_id)
        .where(Campaign.flow_id == flow.id, cr.sent_at >= since)
        .group_by(bucket)
    )
    for key, n in db.session.execute(stmt):
        out.setdefault(read(key), {"entered": 0, "goal": 0, "finished": 0, "sent": 0})["sent"] += n
    start = since.date()
    return [{"day": (start + timedelta(days=k)).isoformat(), **out.get(start + timedelta(days=k),
             {"entered": 0, "goal": 0, "finished": 0, "sent": 0})} for k in range(days + 1)]  # fmt: skip
