"""Transactional messages: one message, sent at once on the transactional queue."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response, text
from app.models.message import MESSAGE_STATUSES
from app.services.ids import MAX_ID

MESSAGE_CREATE = obj(
    {
        "template": {
            "type": ["integer", "string"],
            "minimum": 1,
            "maximum": MAX_ID,
            "minLength": 1,
            "maxLength": 100,
            "description": "The template's id or slug (e.g. order-confirmation); another workspace's answers 404.",
        },
        "to": text(320, "The recipient's address.", min_length=1),
        "to_name": text(200, "The recipient's name (else a known subscriber's).", nullable=True),
        "context": {
            "type": ["object", "null"],
            "maxProperties": 200,
            "description": "Data for the template, at most 64 KB as JSON: each name is a template variable beside "
            "`subscriber` (the known subscriber with this address, else just the address), e.g. "
            "{order: {number, items: [...]}} for {{ order.number }}. Herald's own names (subscriber, campaign, "
            "unsubscribe_url, preferences_url, view_in_browser_url, assets_url) are refused.",
        },
        "category": {"enum": ["transactional"], "default": "transactional"},
        "from_email": text(
            320,
            "The sender; defaults to the template's identity (with its display name and reply-to), else to the "
            "latest campaign's.",
            nullable=True,
        ),
        "from_name": text(200, nullable=True),
        "reply_to": text(320, nullable=True),
        "provider_id": {**ID, "type": ["integer", "null"], "description": "Defaults to the workspace's default."},
        "track_opens": {"type": "boolean", "default": False, "description": "An open pixel (off by default)."},
        "track_clicks": {"type": "boolean", "default": False, "description": "Tracked links (off by default)."},
        "idempotency_key": text(
            255,
            "Your key for this request (or send an Idempotency-Key header): the same key again returns the first "
            "message and sends nothing.",
            nullable=True,
            min_length=1,
        ),
    },
    required=("template", "to"),
    description="One message, sent at once on the transactional queue.",
)
_MESSAGE_FIELDS = {
    "id": ID,
    "status": {
        "enum": list(MESSAGE_STATUSES),
        "description": "queued, sending, then sent, failed or unknown (the hand-off was interrupted); "
        "suppressed when the address hard-bounced or complained.",
    },
    "reason": {"type": ["string", "null"], "description": "The server's reply or the suppression reason."},
    "to": {"type": "string"},
    "to_name": {"type": ["string", "null"]},
    "subscriber_id": {"type": ["integer", "null"], "description": "The subscriber with this address, if any."},
    "template_id": {"type": ["integer", "null"], "description": "null once the template is deleted."},
    "template_name": {"type": ["string", "null"]},
    "subject": {"type": ["string", "null"], "description": "As rendered for this recipient."},
    "category": {"const": "transactional"},
    "from_email": {"type": "string"},
    "from_name": {"type": ["string", "null"]},
    "reply_to": {"type": ["string", "null"]},
    "provider_id": {"type": ["integer", "null"]},
    "message_id": {"type": ["string", "null"], "description": "The Message-ID header, once handed off."},
    "track_opens": {"type": "boolean"},
    "track_clicks": {"type": "boolean"},
    "idempotency_key": {"type": ["string", "null"]},
    "created_at": TIMESTAMP,
    "sent_at": MAYBE_TIMESTAMP,
    "opened_at": MAYBE_TIMESTAMP,
    "clicked_at": MAYBE_TIMESTAMP,
}
MESSAGE_SUMMARY = response(_MESSAGE_FIELDS)
MESSAGE = response({**_MESSAGE_FIELDS, "context": {"type": "object", "description": "The context given."}})

SCHEMAS: dict[str, dict] = {
    "MessageCreate": MESSAGE_CREATE,
    "Message": MESSAGE,
    "MessageSummary": MESSAGE_SUMMARY,
}
