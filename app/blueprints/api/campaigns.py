"""Campaigns: drafts, sending, statistics and recipients."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import RECIPIENT_FILTER
from app.blueprints.api.serializers import campaign_json, page_json, recipient_json
from app.blueprints.helpers import commit
from app.models.campaign import CAMPAIGN_STATUSES
from app.services import campaign_lifecycle, campaigns, test_sends
from app.services.pagination import paginate

TAG = "Campaigns"


def _full(campaign) -> dict:
    return campaign_json(campaign, campaigns.campaign_list_ids(campaign.id), campaigns.campaign_stats(campaign.id))


@operation("POST", "/campaigns", "Create a campaign", tag=TAG, body="CampaignCreate", response="Campaign", status=201)
def create_campaign(body: dict):
    """A draft of a template to one or more lists; nothing is sent until POST …/send."""
    campaign = campaigns.create_campaign(workspace_id(), body)
    commit()
    return _full(campaign)


@operation(
    "GET",
    "/campaigns",
    "List campaigns",
    tag=TAG,
    response="CampaignSummary",
    paginated=True,
    query=(Param("status", {"enum": list(CAMPAIGN_STATUSES)}),),
)
def list_campaigns(query: dict):
    """Newest first, optionally only those in one status."""
    stmt = campaigns.list_campaigns(workspace_id(), query.get("status"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([campaign_json(c) for c in items], total, query)


@operation("GET", "/campaigns/{campaign_id}", "Show a campaign", tag=TAG, response="Campaign")
def show_campaign(campaign_id: int):
    """The campaign with its delivery and engagement statistics."""
    return _full(campaigns.get_campaign(workspace_id(), campaign_id))


@operation(
    "POST",
    "/campaigns/{campaign_id}/send",
    "Send a campaign now",
    tag=TAG,
    response="CampaignSending",
    status=202,
    errors=(409, 422),
)
def send_campaign(campaign_id: int):
    """Freezes the content and queues the send; 409 (with `fields.status`) unless the campaign is a draft."""
    campaign = campaigns.send_campaign(workspace_id(), campaign_id)
    commit()  # the job is queued once the commit makes the campaign visible to workers
    return {"id": campaign.id, "status": "sending"}


def _workspace_timezone() -> str:
    from app.models import Workspace
    from app.extensions import db

    ws = db.session.get(Workspace, workspace_id())
    return ws.timezone if ws else "UTC"


@operation(
    "POST",
    "/campaigns/{campaign_id}/schedule",
    "Schedule a campaign",
    tag=TAG,
    body="CampaignSchedule",
    response="Campaign",
    errors=(409, 422),
)
def schedule_campaign(campaign_id: int, body: dict):
    """A draft (or a scheduled campaign, to move it) is sent at `scheduled_at`; the content is frozen then."""
    campaign = campaign_lifecycle.schedule(workspace_id(), campaign_id, body["scheduled_at"], _workspace_timezone())
    commit()
    return _full(campaign)


def _transition(action, campaign_id: int) -> dict:
    campaign = action(workspace_id(), campaign_id)
    commit()
    return _full(campaign)


@operation("POST", "/campaigns/{campaign_id}/pause", "Pause a campaign", tag=TAG, response="Campaign", errors=(409,))
def pause_campaign(campaign_id: int):
    """From scheduled or sending; workers stop between two messages. 409 (with `fields.status`) otherwise."""
    return _transition(campaign_lifecycle.pause, campaign_id)


@operation("POST", "/campaigns/{campaign_id}/resume", "Resume a campaign", tag=TAG, response="Campaign", errors=(409,))
def resume_campaign(campaign_id: int):
    """A paused send goes on where it stopped; a paused schedule is scheduled again (or starts, if due)."""
    return _transition(campaign_lifecycle.resume, campaign_id)


@operation("POST", "/campaigns/{campaign_id}/cancel", "Cancel a campaign", tag=TAG, response="Campaign", errors=(409,))
def cancel_campaign(campaign_id: int):
    """From paused or scheduled; whoever was not sent yet is listed as failed, "cancelled before sending"."""
    return _transition(campaign_lifecycle.cancel, campaign_id)


@operation(
    "POST",
    "/campaigns/{campaign_id}/resend-unknown",
    "Resend where the hand-off is unknown",
    tag=TAG,
    response="ResendResult",
    errors=(409,),
)
def resend_unknown(campaign_id: int):
    """Recipients whose hand-off was interrupted (the provider may have the message) are sent again, by decision."""
    count = campaign_lifecycle.resend_unknown(workspace_id(), campaign_id)
    commit()
    return {"requeued": count}


@operation(
    "POST",
    "/campaigns/{campaign_id}/test",
    "Send a test of a campaign",
    tag=TAG,
    body="CampaignTestRequest",
    response="TestSendResult",
    errors=(422,),
)
def send_campaign_test(campaign_id: int, body: dict):
    """To 1-10 addresses, from the campaign's sender through its provider; marked [Test], untracked, in no stats."""
    results = test_sends.send_campaign_test(workspace_id(), campaign_id, body["emails"], body.get("subscriber_id"))
    return {"results": [{"email": r.email, "ok": r.ok, "detail": r.detail} for r in results]}


@operation(
    "GET",
    "/campaigns/{campaign_id}/recipients",
    "List a campaign's recipients",
    tag=TAG,
    response="Recipient",
    paginated=True,
    query=(Param("status", {"enum": list(RECIPIENT_FILTER)}),),
)
def list_recipients(campaign_id: int, query: dict):
    """Each person the campaign was for, with what happened and why (e.g. suppressed:unsubscribed)."""
    campaign = campaigns.get_campaign(workspace_id(), campaign_id)
    stmt = campaigns.recipients_query(campaign.id, query.get("status"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([recipient_json(r) for r in items], total, query)
