"""Deciding an A/B test: the winner picked by the metric when the wait is over, or by the
marketer, and the held part of the audience released to it (a new send round).

The test itself (variants, the test portion, the figures) is ab_tests.py; this module sits above
the lifecycle because releasing the winner starts work.
"""

from datetime import datetime, timezone

from sqlalchemy import exists, literal, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, CampaignVariant, Subscriber, Suppression
from app.services.campaigns import ab_stats
from app.services.campaigns.ab_tests import METRICS, report
from app.services.campaigns.dispatch import enqueue_prepare
from app.services.campaigns.lifecycle import lock_campaign
from app.services.delivery import warming_holds
from app.services.errors import InvalidState, NotFound

_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Deciding ----------------------------------------------------------------------------------------


def _release(campaign: Campaign, variant: CampaignVariant, picked_by: str, figures: list[dict]) -> bool:
    """Record the winner and release the held rows to it; False if the test was decided already."""
    decided_at = _now()
    result = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.ab_phase == "waiting")
        .values(
            ab_phase="decided",
            winner_variant_id=variant.id,
            ab_result={
                "picked_by": picked_by,
                "at": decided_at.isoformat(),
                "label": variant.label,
                "metric": campaign.ab_test["metric"],
                "figures": {
                    r["label"]: {k: r[k] for k in ("delivered", "unique_opens", "unique_clicks")} for r in figures
                },
            },
            send_round=Campaign.send_round + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False  # the other scheduler, or a second click, got there first
    _skip_people_who_left(campaign)
    db.session.execute(
        update(_cr).where(_cr.c.campaign_id == campaign.id, _cr.c.status == "held").values(status="pending")
    )
    warming_holds.hold_for_warming(campaign)  # from a warming domain, the winner's rows wait for capacity too
    db.session.refresh(campaign)
    if campaign.status == "sending":  # a paused campaign's batches are queued when it resumes
        enqueue_prepare(campaign.id, campaign.send_round)
    return True


def _skip_people_who_left(campaign: Campaign) -> None:
    """Whoever unsubscribed, bounced or was suppressed during the test is not sent the winner:
    they become failed rows with the reason, as at materialization."""
    held = (_cr.c.campaign_id == campaign.id) & (_cr.c.status == "held")
    sub = Subscriber.__table__
    sub_status = select(sub.c.status).where(sub.c.id == _cr.c.subscriber_id).scalar_subquery()
    db.session.execute(
        update(_cr)
        .where(held, exists(select(sub.c.id).where(sub.c.id == _cr.c.subscriber_id, sub.c.status != "active")))
        .values(status="failed", reason=literal("suppressed:").concat(sub_status))
    )
    sup = Suppression.__table__
    match = (sup.c.workspace_id == campaign.workspace_id) & (sup.c.email == _cr.c.email)
    db.session.execute(
        update(_cr)
        .where(held, exists(select(sup.c.id).where(match)))
        .values(
            status="failed",
            reason=literal("suppressed:").concat(select(sup.c.reason).where(match).limit(1).scalar_subquery()),
        )
    )


def decide_due_tests(now: datetime | None = None) -> list[int]:
    """Pick and send the winner of every test whose wait is over and that picks automatically
    (the scheduler calls this). Paused campaigns wait for their resume."""
    now = now or _now()
    due = list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.ab_phase == "waiting", Campaign.status == "sending", Campaign.ab_wait_until <= now)
            .order_by(Campaign.ab_wait_until)
            .limit(100)
        )
    )
    decided = []
    for campaign in due:
        if not campaign.ab_test.get("auto_pick"):
            continue  # the page asks the marketer
        summary = report(campaign)
        rows = summary["variants"]
        best = ab_stats.leader(rows, METRICS[campaign.ab_test["metric"]])
        variant = db.session.get(CampaignVariant, best["id"])
        if _release(campaign, variant, "auto", rows):
            decided.append(campaign.id)
    db.session.flush()
    return decided


def pick_winner(workspace_id: int, campaign_id: int, variant_id: int) -> Campaign:
    """The marketer's pick, any time during the wait (also when auto-pick is on)."""
    campaign = lock_campaign(workspace_id, campaign_id)
    variant = db.session.scalar(
        select(CampaignVariant).where(CampaignVariant.id == variant_id, CampaignVariant.campaign_id == campaign.id)
    )
    if variant is None:
        raise NotFound("No such variant.")
    if campaign.ab_phase != "waiting" or campaign.status not in ("sending", "paused"):
        raise InvalidState(_why_no_pick(campaign), {"ab_phase": campaign.ab_phase, "status": campaign.status})
    if not _release(campaign, variant, "marketer", report(campaign)["variants"]):
        raise InvalidState("The winner was picked a moment ago.", {"ab_phase": "decided"})
    return campaign


def _why_no_pick(campaign: Campaign) -> str:
    if campaign.ab_phase == "testing":
        return "The test is still going out: pick the winner once it is sent."
    if campaign.ab_phase == "decided":
        label = db.session.scalar(select(CampaignVariant.label).where(CampaignVariant.id == campaign.winner_variant_id))
        return f"Variant {label} was already picked: the rest of the audience gets it."
    if campaign.ab_phase is None:
        return "This campaign's test has not started: send it first."
    return f"This campaign is {campaign.status}: the winner can no longer be picked."
