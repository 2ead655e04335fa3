"""The send job of an SMS campaign: a few minutes of `sending.SendRun`, then the campaign finishes,
or the job queues its own continuation (lifecycle.enqueue_send)."""

import time

from app.extensions import db
from app.models import Provider, SmsCampaign
from app.services.sms import campaigns, lifecycle, sending


def send_campaign(campaign_id: int, seconds: float = sending.JOB_SECONDS) -> dict:
    """The job: send what is due for `seconds`, then let the campaign finish or queue the rest."""
    campaign = db.session.get(SmsCampaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return {"campaign": campaign_id, "status": getattr(campaign, "status", None), "sent": 0}
    provider = db.session.get(Provider, campaign.provider_id) if campaign.provider_id else None
    if provider is None or provider.provider_type != campaigns.TWILIO:
        lifecycle.halt(campaign, "The campaign's Twilio provider is gone: choose another and resume.")
        db.session.commit()
        return {"campaign": campaign_id, "status": "paused", "sent": 0}
    run = sending.SendRun(campaign, provider)
    try:
        outcome = run.run(time.monotonic() + seconds)
    finally:
        run.client.close()
    if outcome == "more":
        lifecycle.enqueue_send(campaign_id, after_commit=False, continuation=True)
    elif outcome == "done":
        lifecycle.finish_if_done(campaign_id)
        db.session.commit()
    return {"campaign": campaign_id, "outcome": outcome, **run.counts}
