"""What followed an applied fix, kept on the recommendation as its `outcome` so a marketer sees whether
pressing the button helped.

    A list-health fix (suppress the hard-bounced or the complainers, re-engage a stale list, sunset
    people who never engage) is judged by the next campaign that finished after it: its rate beside
    the rate before (the campaign's own, or the workspace's last 30 days).
    Any other fix (re-verify a domain, check a blocklist again, start warming) is judged by its check:
    the finding gone at a later review, or still there.

    baseline(rec)          when the fix is applied: {"state": "waiting", metric, before…}
    follow_up(workspace)   after each campaign finishes and daily: fills "after" from the next campaign
    settle(rec, found)     from engine.record: a state check's finding gone or still there
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, InsightHour, Recommendation
from app.services.advisor import checks

# check -> (the count, its denominator, what it is called): measured on the next campaign.
NEXT_CAMPAIGN = {
    "hard_bounce_rate": ("hard_bounced", "sent", "hard bounces"),
    "complaint_rate": ("complaints", "sent", "complaints"),
    "stale_list": ("hard_bounced", "sent", "hard bounces"),
    "never_engaged": ("human_unique_opens", "delivered", "people's opens"),
}
BEFORE_DAYS = 30


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rate(totals: dict, part: str, whole: str) -> float | None:
    base = totals[whole] or (totals["sent"] if whole == "delivered" else 0)
    return round(totals[part] / base, 5) if base else None


def baseline(rec: Recommendation) -> dict:
    """What to compare with later, taken when the fix is applied."""
    metric = NEXT_CAMPAIGN.get(rec.check)
    if metric is None:
        return {"state": "waiting", "judged_by": "check"}
    part, whole, label = metric
    if rec.subject_type == "campaign":
        where, scope = [InsightHour.campaign_id == rec.subject_id], "the campaign"
    else:
        since = _now() - timedelta(days=BEFORE_DAYS)
        where, scope = [InsightHour.workspace_id == rec.workspace_id, InsightHour.hour >= since], "the last 30 days"
    before = checks.totals(where)
    return {"state": "waiting", "judged_by": "next_campaign", "metric": label, "part": part, "whole": whole,
            "before": _rate(before, part, whole), "before_scope": scope}  # fmt: skip


def follow_up(workspace_id: int) -> int:
    """Fill the outcome of applied list-health fixes from the first campaign that finished after them."""
    waiting = db.session.scalars(
        select(Recommendation).where(Recommendation.workspace_id == workspace_id, Recommendation.status == "applied")
    )
    done = 0
    for rec in waiting:
        outcome = rec.outcome or {}
        if outcome.get("state") != "waiting" or outcome.get("judged_by") != "next_campaign":
            continue
        found = _next_campaign(rec)
        if found is None:
            continue
        camp, totals = found
        after = _rate(totals, outcome["part"], outcome["whole"])
        rec.outcome = outcome | {"state": "measured", "after": after, "campaign_id": camp.id,
                                 "campaign_name": camp.name, "sent": totals["sent"],
                                 "measured_at": _now().isoformat()}  # fmt: skip
        done += 1
    db.session.flush()
    return done


def _next_campaign(rec: Recommendation):
    """The first campaign of the workspace that finished after the fix and sent something, with its totals."""
    rows = db.session.scalars(
        select(Campaign).where(
            Campaign.workspace_id == rec.workspace_id,
            Campaign.status == "sent",
            Campaign.completed_at > rec.applied_at,
            Campaign.id != (rec.subject_id if rec.subject_type == "campaign" else 0),
        ).order_by(Campaign.completed_at, Campaign.id).limit(20)
    )  # fmt: skip
    for camp in rows:
        totals = checks.totals([InsightHour.campaign_id == camp.id])
        if totals["sent"]:
            return camp, totals
    return None


def settle(rec: Recommendation, still_found: bool) -> None:
    """A state check's applied fix: its finding gone at a later review (the fix worked), or still there."""
    outcome = rec.outcome or {}
    if outcome.get("judged_by") != "check":
        return
    state = "still_found" if still_found else "gone"
    if outcome.get("state") != state:
        rec.outcome = outcome | {"state": state, "measured_at": _now().isoformat()}


def describe(outcome: dict | None) -> str | None:
    """The outcome in a sentence for the page."""
    if not outcome:
        return None
    state = outcome.get("state")
    if state == "waiting":
        if outcome.get("judged_by") == "next_campaign":
            return f"Waiting for the next campaign to measure {outcome.get('metric')}."
        return "Waiting for the next review to see whether the problem is gone."
    if state == "gone":
        return "Since the fix, the check no longer finds the problem."
    if state == "still_found":
        return "The check still finds the problem after the fix: follow the steps above."
    before, after = outcome.get("before"), outcome.get("after")
    was = f" (was {before:.2%} over {outcome.get('before_scope')})" if before is not None else ""
    shown = f"{after:.2%}" if after is not None else "no measurable"
    return f"The next campaign, “{outcome.get('campaign_name')}”, had {shown} {outcome.get('metric')}{was}."
