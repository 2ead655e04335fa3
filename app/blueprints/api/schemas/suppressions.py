"""The suppression list: addresses and @domains no campaign sends to, with why and where from."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, obj, response, text
from app.models.audience import SUPPRESSION_SOURCES
from app.services.audience.suppression import MANUAL_REASONS, MAX_DETAIL, REASONS

SUPPRESSION_CREATE = obj(
    {
        "email": text(320, "An address, or a whole domain as @example.com.", min_length=1),
        "reason": {"enum": list(MANUAL_REASONS), "default": "manual", "description": "Why (manual unless said)."},
        "detail": text(MAX_DETAIL, "A note for the team, e.g. 'asked by phone'.", nullable=True),
    },
    required=("email",),
)
SUPPRESSION = response(
    {
        "id": ID,
        "email": {
            "type": "string",
            "description": "An address, @domain, or erased:<sha256> for a person erased on request.",
        },
        "reason": {"enum": list(REASONS)},
        "source": {
            "enum": [*SUPPRESSION_SOURCES, None],
            "description": "Where it came from; null for entries made before sources were kept.",
        },
        "detail": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "SuppressionCreate": SUPPRESSION_CREATE,
    "Suppression": SUPPRESSION,
}
