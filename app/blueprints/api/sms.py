"""SMS: campaigns through Twilio (the email campaign's lifecycle), a text's preview, texts people sent
back, and the workspace's SMS settings."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas.common import PAGE
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.models import SmsCampaign
from app.models.campaign import CAMPAIGN_STATUSES
from app.models.sms import SMS_RECIPIENT_STATUSES
from app.services.platform.workspaces import workspace_timezone
from app.services.sms import campaigns, lifecycle, reads, settings, test_sends

TAG = "SMS"
INBOUND_KEYWORDS = ("reply", "stop", "start", "help")
RECIPIENT_FIELDS = ("id", "subscriber_id", "email", "name", "phone", "status", "skip_reason", "twilio_status",
                    "message_sid", "segments", "encoding", "error_code", "error_message")  # fmt: skip
INBOUND_FIELDS = ("id", "provider_id", "from_phone", "to_phone", "body", "subscriber_id", "email", "name", "keyword",
                  "answer")  # fmt: skip


# Serializers --------------------------------------------------------------------------------------


def campaign_summary_json(c: SmsCampaign) -> dict:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "provider_id": c.provider_id,
        "total_recipients": c.total_recipients or 0,
        "created_at": iso(c.created_at),
        "scheduled_at": iso(c.scheduled_at),
        "started_at": iso(c.started_at),
        "completed_at": iso(c.completed_at),
    }


def figures_json(f: reads.CampaignFigures) -> dict:
    return {
        "total": f.total,
        "counts": f.counts,
        "handed_off": f.handed_off,
        "delivered": f.delivered,
        "failed": f.failed,
        "skipped": f.skipped,
        "segments": f.segments,
        "cost": str(f.cost),
        "currency": f.currency,
        "delivery_rate": f.delivery_rate,
        "progress": f.progress,
        "errors": [{"error": meaning, "count": n} for meaning, n in f.errors],
        "held_until": iso(f.held_until),
    }


def campaign_json(c: SmsCampaign) -> dict:
    audience = c.audience or {}
    return {
        **campaign_summary_json(c),
        "body": c.body or "",
        "quiet_hours": bool(c.quiet_hours),
        **{
            name: list(audience.get(name) or [])
            for name in ("list_ids", "segment_ids", "exclude_list_ids", "exclude_segment_ids")
        },  # fmt: skip
        "paused_at": iso(c.paused_at),
        "updated_at": iso(c.updated_at),
        "last_error": c.last_error,
        "flow_id": c.flow_id,
        "estimate": c.estimate,
        "figures": figures_json(reads.figures(c)),
    }


def estimate_json(e: campaigns.Estimate) -> dict:
    return {
        "recipients": e.recipients,
        "skipped": e.skipped,
        "segments_each": e.segments_each,
        "segments": e.segments,
        "price": str(e.price),
        "currency": e.currency,
        "encoding": e.encoding,
    }


def preview_json(p: campaigns.Preview) -> dict:
    m = p.measure
    return {
        "text": p.text,
        "encoding": m.encoding,
        "segments": m.segments,
        "units": m.units,
        "per_segment": m.per_segment,
        "unicode_chars": list(m.unicode_chars),
        "problem": p.problem,
        "warnings": list(p.warnings),
    }


def recipient_json(row: dict) -> dict:
    times = {k: iso(row[k]) for k in ("not_before", "sent_at", "delivered_at")}
    return {**{k: row[k] for k in RECIPIENT_FIELDS}, **times}


def inbound_json(row: dict) -> dict:
    return {**{k: row[k] for k in INBOUND_FIELDS}, "received_at": iso(row["received_at"])}


def _page(items: list[dict], total: int, page: int) -> dict:
    return page_json(items, total, {"page": page, "per_page": reads.PAGE})


def _full(campaign_id: int) -> dict:
    return campaign_json(campaigns.get_campaign(workspace_id(), campaign_id))


# Campaigns ----------------------------------------------------------------------------------------


@operation(
    "POST", "/sms-campaigns", "Create an SMS campaign", tag=TAG, body="SmsCampaignCreate", response="SmsCampaign",
    status=201,
)  # fmt: skip
def create_sms_campaign(body: dict):
    """A draft text to lists and segments; nothing is sent until POST …/send. 422 names every wrong field
    (an empty or too long body, personalization that does not compile, a provider that is not one of the
    workspace's Twilio providers, a list of another workspace)."""
    campaign = campaigns.create_campaign(workspace_id(), body)
    commit()
    return _full(campaign.id)


@operation(
    "GET", "/sms-campaigns", "List SMS campaigns", tag=TAG, response="SmsCampaignSummary", paginated=True,
    query=(Param("status", {"enum": list(CAMPAIGN_STATUSES)}),),
)  # fmt: skip
def list_sms_campaigns(query: dict):
    """Newest first, optionally only those in one status (a flow's SMS steps are not listed)."""
    items = [c for c in campaigns.list_campaigns(workspace_id()) if query.get("status") in (None, c.status)]
    start = (query["page"] - 1) * query["per_page"]
    shown = items[start : start + query["per_page"]]
    return page_json([campaign_summary_json(c) for c in shown], len(items), query)


@operation("GET", "/sms-campaigns/{campaign_id}", "Show an SMS campaign", tag=TAG, response="SmsCampaign")
def show_sms_campaign(campaign_id: int):
    """The campaign with its figures: delivered, failed, skipped by reason, segments and cost so far."""
    return _full(campaign_id)


@operation(
    "PATCH", "/sms-campaigns/{campaign_id}", "Change an SMS campaign", tag=TAG, body="SmsCampaignPatch",
    response="SmsCampaign", errors=(409,),
)  # fmt: skip
def update_sms_campaign(campaign_id: int, body: dict):
    """Only the fields given change; 409 unless the campaign is a draft or scheduled."""
    campaigns.update_campaign(workspace_id(), campaign_id, body)
    commit()
    return _full(campaign_id)


@operation(
    "DELETE", "/sms-campaigns/{campaign_id}", "Delete an SMS campaign", tag=TAG, status=204, errors=(409,)
)  # fmt: skip
def delete_sms_campaign(campaign_id: int):
    """With its recipients; 409 while it is sending (pause or cancel it first)."""
    campaigns.delete_campaign(workspace_id(), campaign_id)
    commit()
    return Response(status=204)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/send", "Send an SMS campaign now", tag=TAG, response="SmsCampaign",
    status=202, errors=(409, 422),
)  # fmt: skip
def send_sms_campaign(campaign_id: int):
    """Writes the recipients (and who is skipped, why), records the estimate and queues the send; 409 (with
    `fields.status`) unless a draft, 422 naming what is missing (provider, body, an audience anyone can be
    texted in)."""
    lifecycle.send_now(workspace_id(), campaign_id)
    commit()  # the jobs are queued once the commit makes the campaign visible to workers
    return _full(campaign_id)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/schedule", "Schedule an SMS campaign", tag=TAG, body="SmsSchedule",
    response="SmsCampaign", errors=(409, 422),
)  # fmt: skip
def schedule_sms_campaign(campaign_id: int, body: dict):
    """A draft (or a scheduled campaign, to move it) starts at `scheduled_at`."""
    ws = workspace_id()
    lifecycle.schedule(ws, campaign_id, body["scheduled_at"], workspace_timezone(ws))
    commit()
    return _full(campaign_id)


def _transition(action, campaign_id: int) -> dict:
    action(workspace_id(), campaign_id)
    commit()
    return _full(campaign_id)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/unschedule", "Unschedule an SMS campaign", tag=TAG,
    response="SmsCampaign", errors=(409,),
)  # fmt: skip
def unschedule_sms_campaign(campaign_id: int):
    """A scheduled campaign becomes a draft again; 409 (with `fields.status`) otherwise."""
    return _transition(lifecycle.unschedule, campaign_id)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/pause", "Pause an SMS campaign", tag=TAG, response="SmsCampaign",
    errors=(409,),
)  # fmt: skip
def pause_sms_campaign(campaign_id: int):
    """From scheduled or sending: the jobs stop within seconds and put back what they had not handed off."""
    return _transition(lifecycle.pause, campaign_id)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/resume", "Resume an SMS campaign", tag=TAG, response="SmsCampaign",
    errors=(409, 422),
)  # fmt: skip
def resume_sms_campaign(campaign_id: int):
    """A paused send goes on where it stopped; a paused schedule is scheduled again (or starts, if due)."""
    return _transition(lifecycle.resume, campaign_id)


@operation(
    "POST", "/sms-campaigns/{campaign_id}/cancel", "Cancel an SMS campaign", tag=TAG, response="SmsCampaign",
    errors=(409,),
)  # fmt: skip
def cancel_sms_campaign(campaign_id: int):
    """From scheduled or paused, for good: whoever was not texted yet is skipped, reason `cancelled`."""
    return _transition(lifecycle.cancel, campaign_id)


@operation(
    "GET", "/sms-campaigns/{campaign_id}/recipients", "List an SMS campaign's recipients", tag=TAG,
    response="SmsRecipientPage",
    query=(Param("status", {"enum": list(SMS_RECIPIENT_STATUSES)}), Param("page", PAGE)),
)  # fmt: skip
def list_sms_recipients(campaign_id: int, query: dict):
    """Fifty a page: each person's number, status, Twilio's word, error and segments."""
    campaign = campaigns.get_campaign(workspace_id(), campaign_id)
    rows, total = reads.recipients(campaign.id, query.get("status"), query["page"])
    return _page([recipient_json(r) for r in rows], total, query["page"])


@operation(
    "GET", "/sms-campaigns/{campaign_id}/estimate", "Estimate an SMS campaign", tag=TAG, response="SmsEstimate"
)  # fmt: skip
def estimate_sms_campaign(campaign_id: int):
    """Who it would text now, who would be skipped and why, and the segments and price (the workspace's
    price per segment). A body with any character outside the GSM alphabet is UCS-2: 70 characters a segment."""
    ws = workspace_id()
    return estimate_json(campaigns.estimate(ws, campaigns.get_campaign(ws, campaign_id)))


# A text's preview, texts received, settings -------------------------------------------------------


@operation(
    "POST", "/sms-preview", "Preview a text", tag=TAG, body="SmsPreviewRequest", response="SmsPreview",
    permission="read",  # renders, stores nothing
)  # fmt: skip
def preview_sms(body: dict):
    """The text for a sample person, its encoding and segments, the characters that make it Unicode and
    what to fix (`problem`: it cannot be sent as written; `warnings`: it can, but should it)."""
    return preview_json(campaigns.preview(workspace_id(), body["body"]))


@operation(
    "POST", "/sms-campaigns/{campaign_id}/test", "Send a test text", tag=TAG, body="SmsTestRequest",
    response="SmsTest", errors=(409,),
)  # fmt: skip
def test_sms_campaign(campaign_id: int, body: dict):
    """The campaign's text, now, to one number (personalized for the subscriber with it, else a sample
    person), through its provider within the sender's rate; no consent needed, counted nowhere. `ok`
    false with `problem` when Twilio refused it; 409 for a number that replied STOP."""
    sent = test_sends.send_test(workspace_id(), campaign_id, body["phone"])
    return {"ok": sent.ok, "phone": sent.phone, "body": sent.body, "segments": sent.segments, "sid": sent.sid,
            "problem": sent.problem}  # fmt: skip


@operation(
    "GET", "/sms-inbound", "List texts received", tag=TAG, response="SmsInboundPage",
    query=(Param("keyword", {"enum": list(INBOUND_KEYWORDS)}, "reply: texts that are no keyword."),
           Param("page", PAGE)),
)  # fmt: skip
def list_sms_inbound(query: dict):
    """Newest first, fifty a page: replies and STOP / START / HELP, with the person who sent them when
    Herald knows the number. The inbound URL to give Twilio is /webhooks/twilio/<provider_id>/inbound."""
    rows, total = reads.inbound(workspace_id(), query["page"], query.get("keyword"))
    return _page([inbound_json(r) for r in rows], total, query["page"])


@operation("GET", "/sms-settings", "Show the SMS settings", tag=TAG, response="SmsSettings")
def show_sms_settings():
    """HELP's answer, quiet hours, the price per segment for estimates, the default country of numbers."""
    return settings.settings_of(workspace_id()).as_dict()


@operation(
    "PUT", "/sms-settings", "Set the SMS settings", tag=TAG, body="SmsSettingsInput", response="SmsSettings",
    permission="admin",  # the workspace's settings, as the frequency cap
)  # fmt: skip
def update_sms_settings(body: dict):
    """Replaces them; a field left out takes its default (quiet hours 21:00–08:00, USD 0.0083, US)."""
    saved = settings.update_settings(workspace_id(), body)
    commit()
    return saved.as_dict()
