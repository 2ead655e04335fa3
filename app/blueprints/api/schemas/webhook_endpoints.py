"""Outbound webhooks: endpoints that receive the workspace's signed events, and their deliveries."""

from app.blueprints.api.schemas.common import COUNT, ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response, text
from app.event_types import EVENT_TYPES
from app.services.outbound_webhooks import DELIVERY_STATUSES

_WEBHOOK_EVENT_TYPES = {
    "type": ["array", "null"],
    "items": {"enum": list(EVENT_TYPES)},
    "minItems": 1,
    "maxItems": len(EVENT_TYPES),
    "description": "The event types this endpoint receives; null (the default) for every type, including new ones.",
}
_WEBHOOK_INPUT = {
    "url": text(2000, "http:// or https://, without credentials; it receives signed JSON POSTs.", min_length=1),
    "description": text(200, nullable=True),
    "event_types": _WEBHOOK_EVENT_TYPES,
}
_WEBHOOK_ENDPOINT_FIELDS = {
    "id": ID,
    "url": {"type": "string"},
    "description": {"type": ["string", "null"]},
    "event_types": {"type": ["array", "null"], "items": {"type": "string"}, "description": "null: every type."},
    "is_active": {"type": "boolean", "description": "A disabled endpoint receives nothing; its queue fails."},
    "created_at": TIMESTAMP,
    "last_success_at": MAYBE_TIMESTAMP,
    "last_failure_at": MAYBE_TIMESTAMP,
    "consecutive_failures": COUNT,
}

SCHEMAS: dict[str, dict] = {
    "WebhookEndpointCreate": obj(_WEBHOOK_INPUT, required=("url",)),
    "WebhookEndpointUpdate": obj(
        {**_WEBHOOK_INPUT, "is_active": {"type": "boolean"}},
        minProperties=1,
        description="The fields given change; the others keep their value.",
    ),
    "WebhookEndpoint": response(_WEBHOOK_ENDPOINT_FIELDS),
    "WebhookEndpointCreated": response(
        {
            **_WEBHOOK_ENDPOINT_FIELDS,
            "secret": {
                "type": "string",
                "description": "The signing secret (whsec_...), answered only here: keep it to verify "
                "X-Herald-Signature.",
            },
        }
    ),
    "WebhookDelivery": response(
        {
            "id": ID,
            "endpoint_id": ID,
            "event_id": {"type": ["integer", "null"], "description": "null for a test event."},
            "event_type": {"type": "string"},
            "status": {"enum": list(DELIVERY_STATUSES)},
            "attempts": COUNT,
            "next_attempt_at": MAYBE_TIMESTAMP | {"description": "When it is tried next (pending, retrying)."},
            "response_code": {"type": ["integer", "null"]},
            "response_body": {"type": ["string", "null"], "description": "The first 1 KB of the answer."},
            "error": {"type": ["string", "null"]},
            "duration_ms": {"type": ["integer", "null"]},
            "created_at": TIMESTAMP,
            "delivered_at": MAYBE_TIMESTAMP,
            "payload": {"type": "object", "description": "The JSON body sent."},
            "history": {
                "type": "array",
                "description": "Every attempt, oldest first (the last 10).",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": TIMESTAMP,
                        "code": {"type": ["integer", "null"], "description": "null: no answer."},
                        "error": {"type": ["string", "null"]},
                        "ms": {"type": ["integer", "null"]},
                        "delivered": {"type": "boolean"},
                    },
                },
            },
        }
    ),
}
