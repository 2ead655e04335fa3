"""The message trail: a message's whole history, searched by address or Message-ID."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response

VERDICT = {
    "enum": ["human", "proxy", "apple_mpp", "scanner", "unknown", None],
    "description": "An open's or a click's: a person (human; proxy, Gmail's or Yahoo's image proxy fetching "
    "as a person opens) or a machine (apple_mpp, scanner, unknown). Null for other steps.",
}
STEP = obj(
    {
        "t": TIMESTAMP,
        "type": {
            "type": "string",
            "description": "queued, handed off, not handed off, hand-off unknown, skipped, waiting, delivered, "
            "deferred, bounced, complained, rejected by the provider, opened, clicked, unsubscribed, replied, …",
        },
        "detail": {"type": ["string", "null"], "description": "The diagnostic, the clicked URL, why it was skipped."},
        "smtp_code": {"type": ["integer", "null"]},
        "smtp_reply": {"type": ["string", "null"], "description": "The server's exact reply, e.g. 250 2.0.0 Ok."},
        "verdict": VERDICT,
        "signals": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": "What an open's or click's verdict rests on: rule, method, seconds since the hand-off.",
        },
    },
    required=("t", "type", "detail", "smtp_code", "smtp_reply", "verdict", "signals"),
)
SCHEMAS: dict[str, dict] = {
    "Delivery": response(
        {
            "kind": {"enum": ["campaign", "transactional"]},
            "id": ID | {"description": "The campaign recipient's id, or the transactional message's."},
            "to": {"type": "string"},
            "subject": {
                "type": ["string", "null"],
                "description": "A transactional message's subject as sent; a "
                "campaign's subject line as written (before personalization).",
            },
            "campaign_id": {"type": ["integer", "null"]},
            "campaign_name": {"type": ["string", "null"]},
            "message_id": {"type": ["string", "null"], "description": "The Message-ID header Herald gave it."},
            "provider": {"type": ["string", "null"], "description": "The provider that carried it."},
            "provider_message_id": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "sent_at": MAYBE_TIMESTAMP,
            "trail": {"type": "array", "items": STEP, "description": "Every step, the oldest first."},
        },
        description="One message and what happened to it.",
    ),
    "DeliveryList": response({"items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}),
}
