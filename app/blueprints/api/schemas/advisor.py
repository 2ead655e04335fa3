"""The advisor's recommendations: a check's finding about a campaign, a domain, a list or the workspace."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response, text
from app.models.advisor import RECOMMENDATION_STATUSES, SEVERITIES

SCHEMAS: dict[str, dict] = {
    "Recommendation": response(
        {
            "id": ID,
            "check": {
                "type": "string",
                "description": "e.g. hard_bounce_rate, complaint_rate, from_domain_unverified; an A/B variant's "
                "content check ends in its label (content_subject_caps:b).",
            },
            "severity": {"enum": list(SEVERITIES)},
            "message": {"type": "string"},
            "evidence": {
                "type": "object",
                "additionalProperties": True,
                "description": "The numbers with their denominators, the record found, the rule hit.",
            },  # fmt: skip
            "fix": {
                "type": ["object", "null"],
                "additionalProperties": True,
                "description": "{action, label}: what POST …/apply does; null: follow the message's steps.",
            },  # fmt: skip
            "status": {"enum": list(RECOMMENDATION_STATUSES)},
            "subject": obj({"type": {"type": "string"}, "id": {"type": "integer"}}, required=("type", "id")),
            "dismissed_reason": {"type": ["string", "null"]},
            "applied_at": MAYBE_TIMESTAMP,
            "effect": {"type": ["object", "null"], "additionalProperties": True},
            "outcome": {
                "type": ["object", "null"],
                "additionalProperties": True,
                "description": "What followed an applied fix. `state`: waiting, measured (a list-health fix: "
                "`metric`, `before` and `after` rates, the next campaign's `campaign_id`), gone or still_found "
                "(any other fix: whether its check still finds the problem). Null before a fix is applied.",
            },
            "updated_at": TIMESTAMP,
        }
    ),
    "RecommendationDismiss": obj({"reason": text(500, min_length=1)}, required=("reason",)),
}
