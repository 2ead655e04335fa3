"""The workspace's performance at a glance: the last 30 days against the 30 before (sends, people's
opens and clicks, bounces, complaints, unsubscribes, conversions and revenue), and the campaigns that
did best and worst. Read from the hourly rollups and the orders, never the event log."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.models import Campaign, InsightHour, Order
from app.services.events import reads, rollups
from app.services.events.attribution import NO_ORDERS, campaign_revenues
from app.services.events.insights import METRICS, STORED, csv_cell, rates_of

DAYS = 30
MIN_REACH = 50  # a campaign is ranked once this many messages were delivered (or sent): fewer tell nothing
RANKED = 3  # best and worst
CHANGES = ("sent", "delivered", "human_unique_opens", "human_unique_clicks", "bounced", "complaints", "unsubscribes",
           "conversions")  # fmt: skip
RATE_CHANGES = ("open_rate", "click_rate", "bounce_rate", "complaint_rate", "unsubscribe_rate")


def overview(workspace_id: int, now: datetime | None = None, days: int = DAYS) -> dict:
    """{"from", "to", "current", "previous", "changes", "rate_changes", "best", "worst"}: `current` and
    `previous` are totals with rates (each with its denominator) and revenue per currency."""
    end = rollups.hour_of(now or datetime.now(timezone.utc)) + timedelta(hours=1)
    mid, start = end - timedelta(days=days), end - timedelta(days=2 * days)
    current, previous = _period(workspace_id, mid, end), _period(workspace_id, start, mid)
    changes = {m: _change(current[m], previous[m]) for m in CHANGES}
    rate_changes = {
        r: {"current": current["rates"][r]["value"], "previous": previous["rates"][r]["value"],
            "points": _difference(current["rates"][r]["value"], previous["rates"][r]["value"])}
        for r in RATE_CHANGES
    }  # fmt: skip
    best, worst = _ranked(workspace_id, mid, end)
    return {"from": mid, "to": end, "previous_from": start, "current": current, "previous": previous,
            "changes": changes, "rate_changes": rate_changes, "best": best, "worst": worst}  # fmt: skip


def _period(workspace_id: int, start: datetime, end: datetime) -> dict:
    ih = InsightHour
    sums = (
        reads.session()
        .execute(
            select(*(func.coalesce(func.sum(getattr(ih, m)), 0) for m in STORED)).where(
                ih.workspace_id == workspace_id, ih.hour >= start, ih.hour < end, rollups.TOTALS
            )
        )
        .one()
    )
    out = dict.fromkeys(METRICS, 0) | {m: int(n) for m, n in zip(STORED, sums, strict=True)}
    out["soft_bounced"] = out["bounced"] - out["hard_bounced"]
    revenue = reads.session().execute(
        select(Order.currency, func.count(), func.coalesce(func.sum(Order.amount), 0))
        .where(Order.workspace_id == workspace_id, Order.campaign_id.is_not(None),
               Order.placed_at >= start, Order.placed_at < end)
        .group_by(Order.currency)
        .order_by(func.count().desc(), Order.currency)
    ).all()  # fmt: skip
    out["conversions"] = sum(n for _, n, _ in revenue)
    out["revenue"] = [{"currency": c, "orders": n, "amount": float(a)} for c, n, a in revenue]
    return {**out, "rates": rates_of(out)}


def _change(now: int, before: int) -> dict:
    return {"current": now, "previous": before, "change": (now - before) / before if before else None}


def _difference(now, before):
    return None if now is None or before is None else now - before


def _ranked(workspace_id: int, start: datetime, end: datetime) -> tuple[list, list]:
    """Campaigns that sent in the period, by their whole life's human open rate (then click rate): the
    best and the worst, each only among those that reached MIN_REACH people."""
    ih = InsightHour
    recent = (
        select(ih.campaign_id)
        .where(ih.workspace_id == workspace_id, ih.hour >= start, ih.hour < end, ih.sent > 0, rollups.TOTALS)
        .distinct()
        .scalar_subquery()
    )
    figures = ("sent", "delivered", "human_unique_opens", "human_unique_clicks", "bounced", "complaints",
               "unsubscribes")  # fmt: skip
    rows = (
        reads.session()
        .execute(
            select(Campaign.id, Campaign.name, *(func.sum(getattr(ih, m)) for m in figures))
            .join(Campaign, Campaign.id == ih.campaign_id)
            .where(ih.workspace_id == workspace_id, ih.campaign_id.in_(recent), rollups.TOTALS)
            .group_by(Campaign.id, Campaign.name)
        )
        .all()
    )
    orders = campaign_revenues([r[0] for r in rows], reads.session())
    ranked = []
    for campaign_id, name, *sums in rows:
        out = dict.fromkeys(METRICS, 0) | {m: int(n or 0) for m, n in zip(figures, sums, strict=True)}
        reach = out["delivered"] or out["sent"]
        if reach < MIN_REACH:
            continue
        rates = rates_of(out)
        ranked.append({"id": campaign_id, "name": name, "sent": out["sent"], "reach": reach,
                       "open_rate": rates["open_rate"]["value"], "click_rate": rates["click_rate"]["value"],
                       "human_unique_opens": out["human_unique_opens"],
                       "human_unique_clicks": out["human_unique_clicks"], **orders.get(campaign_id, NO_ORDERS)})  # fmt: skip
    for c in ranked:  # what each message earned, in the campaign's commonest currency
        c["revenue_per_recipient"] = round(c["revenue"] / c["reach"], 4) if c["conversions"] else 0.0
    ranked.sort(key=lambda c: (c["open_rate"] or 0, c["click_rate"] or 0, -c["id"]), reverse=True)
    best = ranked[:RANKED]
    worst = [c for c in reversed(ranked[RANKED:])][:RANKED]
    return best, worst


def ranked_csv_rows(o: dict):
    """The best and worst campaigns as CSV rows (a name a spreadsheet would run as a formula is quoted)."""
    yield ["list", "campaign_id", "name", "reached", "open_rate", "click_rate", "conversions", "revenue",
           "revenue_currency", "revenue_per_recipient"]  # fmt: skip
    for which in ("best", "worst"):
        for c in o[which]:
            yield [which, c["id"], csv_cell(c["name"]), c["reach"], c["open_rate"], c["click_rate"], c["conversions"], c["revenue"],
                   c["revenue_currency"] or "", c["revenue_per_recipient"]]  # fmt: skip
