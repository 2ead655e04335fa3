"""Alerts: what needs a person in the workspace (a DNS record that broke, a paused warming plan)."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response
from app.services.platform.alerts import SEVERITIES, STATUSES, SUBJECT_TYPES

SCHEMAS: dict[str, dict] = {
    "Alert": response(
        {
            "id": ID,
            "kind": {"type": "string", "description": "What happened, e.g. dns_record_failed, warming_paused."},
            "severity": {"enum": list(SEVERITIES)},
            "subject": obj(
                {"type": {"enum": list(SUBJECT_TYPES)}, "id": ID},
                required=("type", "id"),
                description="What the alert is about: a sending domain, a dedicated IP or a campaign.",
            ),
            "message": {"type": "string"},
            "evidence": {
                "type": "object",
                "additionalProperties": True,
                "description": "What was found, by name (e.g. the DNS answer against the record expected).",
            },
            "action": {
                "oneOf": [
                    obj(
                        {"label": {"type": ["string", "null"]}, "url": {"type": "string"}},
                        required=("label", "url"),
                    ),
                    {"type": "null"},
                ],
                "description": "Where to fix it (an absolute URL), or null.",
            },
            "status": {"enum": list(STATUSES)},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP | {"description": "When it was last raised again (or resolved)."},
            "resolved_at": MAYBE_TIMESTAMP,
        },
        description="One open alert per kind and subject: raising it again refreshes it.",
    ),
}
