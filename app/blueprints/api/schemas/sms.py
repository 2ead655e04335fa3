"""SMS: campaigns through Twilio with their figures, recipients and estimate, the preview of a text
(encoding and segments), texts people sent back, and the workspace's SMS settings."""

from app.blueprints.api.schemas.common import (
    COUNT,
    ID,
    ID_LIST,
    MAYBE_TIMESTAMP,
    TIMESTAMP,
    obj,
    page_of,
    ref,
    response,
)
from app.models.campaign import CAMPAIGN_STATUSES
from app.models.sms import SMS_RECIPIENT_STATUSES

MONEY = {"type": "string", "description": 'A decimal amount in `currency`, e.g. "0.17".'}
ENCODING = {"enum": ["GSM-7", "UCS-2"], "description": "GSM-7: 160 characters a segment (153 once split); "
            "UCS-2 (any character outside the GSM alphabet): 70 (67)."}  # fmt: skip
BY_NAME = {"type": "object", "additionalProperties": COUNT}
SKIPPED = BY_NAME | {
    "description": "People left out, by reason: opted_out, no_consent, duplicate_number, no_phone, cancelled, "
    "invalid_number, render_failed."
}
_TARGETS = {
    "list_ids": ID_LIST | {"description": "Lists whose people (with a number and consent) are texted."},
    "segment_ids": ID_LIST | {"description": "Segments whose people are texted."},
    "exclude_list_ids": ID_LIST | {"description": "People on these lists are left out."},
    "exclude_segment_ids": ID_LIST | {"description": "People in these segments are left out."},
}
# Types only: Herald checks the values itself, so that one answer names every field to fix.
_INPUT = {
    "name": {"type": "string", "description": "Required on create; at most 200 characters."},
    "body": {
        "type": "string",
        "description": "Required on create: the text, at most 1,600 characters, with Jinja personalization "
        "({{ subscriber.name }}, {{ subscriber.attributes.plan }}).",
    },
    "provider_id": {
        "type": ["integer", "null"],
        "description": "One of the workspace's Twilio providers; absent or null on create: the first of them.",
    },
    "quiet_hours": {
        "type": "boolean",
        "description": "Hold texts that would arrive in the recipient's quiet hours (the workspace's SMS "
        "settings) until they end; true when absent.",
    },
    **_TARGETS,
}
SMS_CAMPAIGN_CREATE = obj(_INPUT, description="A draft; every wrong field is named at once (422).")
SMS_CAMPAIGN_PATCH = obj(_INPUT, minProperties=1, description="Only the fields given change (draft or scheduled).")

SMS_FIGURES = response(
    {
        "total": COUNT | {"description": "Recipient rows written at the start (skipped people included)."},
        "counts": BY_NAME | {"description": "Rows by status: " + ", ".join(SMS_RECIPIENT_STATUSES) + "."},
        "handed_off": COUNT | {"description": "Texts Twilio accepted (every status after it)."},
        "delivered": COUNT,
        "failed": COUNT | {"description": "Failed or undelivered, by the carrier's word."},
        "skipped": SKIPPED,
        "segments": COUNT | {"description": "Segments handed off so far (what Twilio bills)."},
        "cost": MONEY | {"description": "segments × the workspace's price per segment."},
        "currency": {"type": "string"},
        "delivery_rate": {
            "type": ["number", "null"],
            "description": "delivered / (delivered + failed), in percent; null until one is known.",
        },
        "progress": {"type": "number", "description": "Percent of the rows handed off or skipped."},
        "errors": {
            "type": "array",
            "items": response({"error": {"type": "string"}, "count": COUNT}),
            "description": "Twilio's error codes with their meaning, most frequent first.",
        },
        "held_until": MAYBE_TIMESTAMP
        | {"description": "While sending: when the first text held for quiet hours may go."},
    },
    description="What happened so far.",
)
_SUMMARY_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "status": {"enum": list(CAMPAIGN_STATUSES)},
    "provider_id": {"type": ["integer", "null"]},
    "total_recipients": COUNT,
    "created_at": TIMESTAMP,
    "scheduled_at": MAYBE_TIMESTAMP,
    "started_at": MAYBE_TIMESTAMP,
    "completed_at": MAYBE_TIMESTAMP,
}
SMS_CAMPAIGN_SUMMARY = response(_SUMMARY_FIELDS)
SMS_CAMPAIGN = response(
    {
        **_SUMMARY_FIELDS,
        "body": {"type": "string"},
        "quiet_hours": {"type": "boolean"},
        **{name: {"type": "array", "items": ID} for name in _TARGETS},
        "paused_at": MAYBE_TIMESTAMP,
        "updated_at": TIMESTAMP,
        "last_error": {"type": ["string", "null"], "description": "Why Herald paused it, when it did."},
        "flow_id": {"type": ["integer", "null"], "description": "A flow's SMS step: the flow it belongs to."},
        "estimate": {
            "type": ["object", "null"],
            "description": "What the start found: recipients, segments, price, currency, encoding.",
        },
        "figures": ref("SmsCampaignFigures"),
    }
)
SMS_ESTIMATE = response(
    {
        "recipients": COUNT | {"description": "People it would text now."},
        "skipped": SKIPPED,
        "segments_each": COUNT | {"description": "Segments of the text for a sample person."},
        "segments": COUNT,
        "price": MONEY,
        "currency": {"type": "string"},
        "encoding": ENCODING,
    },
    description="Who the campaign would text and what it would cost, from the audience as it is now.",
)
SMS_RECIPIENT = response(
    {
        "id": ID,
        "subscriber_id": ID,
        "email": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "phone": {"type": "string", "description": "E.164."},
        "status": {"enum": list(SMS_RECIPIENT_STATUSES)},
        "skip_reason": {"type": ["string", "null"]},
        "twilio_status": {"type": ["string", "null"], "description": "Twilio's last word: queued, sent, delivered…"},
        "message_sid": {"type": ["string", "null"]},
        "segments": {"type": ["integer", "null"]},
        "encoding": {"type": ["string", "null"]},
        "error_code": {"type": ["integer", "null"]},
        "error_message": {"type": ["string", "null"]},
        "not_before": MAYBE_TIMESTAMP | {"description": "Held for quiet hours until then."},
        "sent_at": MAYBE_TIMESTAMP,
        "delivered_at": MAYBE_TIMESTAMP,
    }
)
SMS_PREVIEW = response(
    {
        "text": {"type": "string", "description": "The text for a sample person."},
        "encoding": ENCODING,
        "segments": COUNT,
        "units": COUNT | {"description": "GSM-7 septets or UTF-16 code units."},
        "per_segment": COUNT | {"description": "What one segment holds at this length."},
        "unicode_chars": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The characters that make the text UCS-2.",
        },
        "problem": {"type": ["string", "null"], "description": "Why the text cannot be sent as written."},
        "warnings": {"type": "array", "items": {"type": "string"}},
    }
)
SMS_INBOUND = response(
    {
        "id": ID,
        "provider_id": {"type": ["integer", "null"]},
        "from_phone": {"type": "string"},
        "to_phone": {"type": "string"},
        "body": {"type": "string"},
        "subscriber_id": {"type": ["integer", "null"], "description": "The person with that number, if known."},
        "email": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "keyword": {"enum": [None, "stop", "start", "help"], "description": "null: a reply."},
        "answer": {"type": ["string", "null"], "description": "What Herald answered (HELP's text)."},
        "received_at": TIMESTAMP,
    }
)
_SETTINGS = {
    "help_text": {"type": "string", "description": "HELP's answer (at most 320 characters); empty: Herald's."},
    "quiet_start": {"type": "string", "description": "HH:MM: no marketing text arrives from then…"},
    "quiet_end": {"type": "string", "description": "…until then, in the recipient's local time."},
    "price_per_segment": {"type": "string", "description": "For estimates and costs, e.g. 0.0083."},
    "currency": {"type": "string", "description": "ISO 4217, e.g. USD."},
    "default_region": {"type": "string", "description": "The country of a number typed without +, e.g. US."},
}
SMS_SETTINGS = response(_SETTINGS)
SMS_SETTINGS_INPUT = obj(
    {**_SETTINGS, "price_per_segment": {"type": ["string", "number"], "description": "0 to 10, e.g. 0.0083."}},
    description="Replaces the settings: a field left out takes its default.",
)

SCHEMAS: dict[str, dict] = {
    "SmsCampaignCreate": SMS_CAMPAIGN_CREATE,
    "SmsCampaignPatch": SMS_CAMPAIGN_PATCH,
    "SmsCampaignSummary": SMS_CAMPAIGN_SUMMARY,
    "SmsCampaign": SMS_CAMPAIGN,
    "SmsCampaignFigures": SMS_FIGURES,
    "SmsSchedule": obj(
        {
            "scheduled_at": {
                "type": "string",
                "description": "ISO 8601 date-time at least a minute from now; without an offset it is read in "
                "the workspace's timezone.",
            }
        },
        required=("scheduled_at",),
    ),
    "SmsEstimate": SMS_ESTIMATE,
    "SmsRecipient": SMS_RECIPIENT,
    # Pages of 50 (`per_page` is always 50): the same pages the dashboard shows.
    "SmsRecipientPage": page_of("SmsRecipient"),
    "SmsPreviewRequest": obj({"body": {"type": "string"}}, required=("body",)),
    "SmsTestRequest": obj(
        {"phone": {"type": "string", "maxLength": 40, "description": "Any usual format (the SMS settings' country)."}},
        required=("phone",),
    ),
    "SmsTest": obj(
        {
            "ok": {"type": "boolean"},
            "phone": {"type": "string", "description": "E.164"},
            "body": {"type": "string", "description": "The text as sent"},
            "segments": {"type": "integer"},
            "sid": {"type": ["string", "null"], "description": "Twilio's message SID"},
            "problem": {"type": ["string", "null"], "description": "Why Twilio did not take it"},
        },
        required=("ok", "phone", "body", "segments", "sid", "problem"),
    ),
    "SmsPreview": SMS_PREVIEW,
    "SmsInbound": SMS_INBOUND,
    "SmsInboundPage": page_of("SmsInbound"),
    "SmsSettings": SMS_SETTINGS,
    "SmsSettingsInput": SMS_SETTINGS_INPUT,
}
