"""Holdouts: what a campaign earned, measured against the share of its audience that never got it.

A campaign with `holdout_percent` keeps that share of its eligible audience back (recipients.hold_out:
status `held_out`, never sent). Both groups are then read the same way over the same days: people who
placed an order (any currency) from the campaign's start for the workspace's attribution window, and
their revenue in the commonest currency of those orders. Every eligible recipient counts in their group
whether or not their message arrived (intention to treat); suppressed people were never eligible.

The report gives each group's conversion rate and revenue per recipient, the differences (sent − held
out) with 95% confidence intervals — Newcombe's hybrid score interval for the difference of two
proportions (Wilson intervals of each, combined), Welch's interval for the difference of mean revenue
(the t quantile from the table, or the Cornish–Fisher expansion past 30 degrees of freedom) — and a verdict in words. Under MIN_GROUP recipients
in a group, or with the rate interval wider than MAX_WIDTH, it says "too few recipients to tell".
"""

import math
from datetime import timedelta

from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Order, Workspace
from app.models.campaign import skipped

Z = 1.959963984540054  # the standard normal's 97.5% quantile
MIN_GROUP = 100
MAX_WIDTH = 0.2  # a rate interval wider than 20 points says nothing a marketer can use
TOO_FEW = "too few recipients to tell"


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    """(p1 − p2, low, high): Newcombe's hybrid score interval (his method 10)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


# Student's t 97.5% quantiles for 1 … 30 degrees of freedom (the usual table); Welch's are fractional.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)  # fmt: skip


def t_quantile(df: float, z: float = Z) -> float:
    """Student's t 97.5% quantile: the table up to 30 degrees of freedom (linear in 1/df between two
    rows), then the Cornish–Fisher expansion around the normal quantile z (within 0.001 there)."""
    if math.isinf(df):
        return z
    if df <= 1:
        return _T975[0]
    if df <= len(_T975):
        lo, hi = math.floor(df), math.ceil(df)
        if lo == hi:
            return _T975[lo - 1]
        share = (1 / df - 1 / hi) / (1 / lo - 1 / hi)
        return _T975[hi - 1] + share * (_T975[lo - 1] - _T975[hi - 1])
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def welch(sum1: float, sq1: float, n1: int, sum2: float, sq2: float, n2: int) -> tuple[float, float, float]:
    """(mean1 − mean2, low, high) from each group's sum and sum of squares (Welch's interval)."""
    m1, m2 = sum1 / n1, sum2 / n2
    v1 = max(0.0, (sq1 - n1 * m1 * m1) / (n1 - 1)) if n1 > 1 else 0.0
    v2 = max(0.0, (sq2 - n2 * m2 * m2) / (n2 - 1)) if n2 > 1 else 0.0
    a, b = v1 / n1, v2 / n2
    se = math.sqrt(a + b)
    if se == 0:
        return m1 - m2, m1 - m2, m1 - m2
    df = (a + b) ** 2 / ((a * a / (n1 - 1) if n1 > 1 else 0) + (b * b / (n2 - 1) if n2 > 1 else 0) or 1e-300)
    t = t_quantile(df)
    return m1 - m2, m1 - m2 - t * se, m1 - m2 + t * se


def report(campaign: Campaign) -> dict | None:
    """Sent against held out, or None when the campaign holds nobody out or has not started."""
    if not campaign.holdout_percent or campaign.started_at is None:
        return None
    days = db.session.get(Workspace, campaign.workspace_id).attribution_click_days
    since, until = campaign.started_at, campaign.started_at + timedelta(days=days)
    currency = _currency(campaign, since, until)
    groups = _groups(campaign, since, until, currency)
    sent, held = groups.get(False, _EMPTY), groups.get(True, _EMPTY)
    out = {"window_days": days, "currency": currency, "sent": _figures(sent), "held_out": _figures(held),
           "conversion_rate_difference": None, "revenue_per_recipient_difference": None, "verdict": TOO_FEW}  # fmt: skip
    if min(sent["n"], held["n"]) < 2:
        return out
    d, low, high = newcombe(sent["conv"], sent["n"], held["conv"], held["n"])
    rd, rlow, rhigh = welch(sent["rev"], sent["sq"], sent["n"], held["rev"], held["sq"], held["n"])
    out["conversion_rate_difference"] = {"value": d, "low": low, "high": high}
    out["revenue_per_recipient_difference"] = {"value": rd, "low": rlow, "high": rhigh}
    out["verdict"] = _verdict(min(sent["n"], held["n"]), low, high)
    return out


_EMPTY = {"n": 0, "conv": 0, "rev": 0.0, "sq": 0.0}


def _verdict(smallest: int, low: float, high: float) -> str:
    if smallest < MIN_GROUP or high - low > MAX_WIDTH:
        return TOO_FEW
    if low > 0:
        return "the campaign brought more conversions"
    if high < 0:
        return "those held out converted more"
    return "no clear difference"


def _figures(g: dict) -> dict:
    n = g["n"]
    return {"recipients": n, "conversions": g["conv"], "conversion_rate": g["conv"] / n if n else None,
            "revenue": round(g["rev"], 2), "revenue_per_recipient": g["rev"] / n if n else None}  # fmt: skip


def _eligible(campaign: Campaign):
    cr = CampaignRecipient
    return and_(cr.campaign_id == campaign.id, ~skipped(cr.reason))


def _orders(campaign: Campaign, since, until):
    return and_(Order.workspace_id == campaign.workspace_id, Order.placed_at >= since, Order.placed_at < until)


def _currency(campaign: Campaign, since, until) -> str | None:
    """The commonest currency of the audience's orders in the window (revenue sums only that one)."""
    cr = CampaignRecipient
    return db.session.scalar(
        select(Order.currency)
        .where(_orders(campaign, since, until), Order.subscriber_id.in_(select(cr.subscriber_id).where(_eligible(campaign))))
        .group_by(Order.currency)
        .order_by(func.count().desc(), Order.currency)
        .limit(1)
    )  # fmt: skip


def _groups(campaign: Campaign, since, until, currency: str | None) -> dict[bool, dict]:
    """{held out?: {n, conv, rev, sq}}: per subscriber's orders in the window, summed per group (set-based)."""
    cr = CampaignRecipient
    per = (
        select(Order.subscriber_id, func.sum(case((Order.currency == currency, Order.amount), else_=0)).label("rev"))
        .where(_orders(campaign, since, until), Order.subscriber_id.is_not(None))
        .group_by(Order.subscriber_id)
        .subquery()
    )
    held = cr.status == "held_out"
    rows = db.session.execute(
        select(held, func.count(), func.count(per.c.subscriber_id), func.coalesce(func.sum(per.c.rev), 0),
               func.coalesce(func.sum(per.c.rev * per.c.rev), 0))
        .select_from(cr)
        .outerjoin(per, per.c.subscriber_id == cr.subscriber_id)
        .where(_eligible(campaign))
        .group_by(held)
    ).all()  # fmt: skip
    return {bool(h): {"n": n, "conv": conv, "rev": float(rev), "sq": float(sq)} for h, n, conv, rev, sq in rows}
