"""Sending identities: From addresses on a sending domain, with their display name and reply-to."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, obj, response, text
from app.services.delivery.identities import NAME_LENGTH

_EMAIL = text(
    320,
    "The From address, on the domain: `marketing` alone means marketing@<domain>; a full address must be on "
    "the domain.",
    min_length=1,
)
_DISPLAY_NAME = text(NAME_LENGTH, "The name recipients see beside the address; one line.", min_length=1)
_REPLY_TO = text(320, "Where replies go; null: to the From address.", nullable=True)

IDENTITY_CREATE = obj(
    {"domain_id": ID | {"description": "One of the workspace's sending domains."}, "email": _EMAIL,
     "display_name": _DISPLAY_NAME, "reply_to": _REPLY_TO},
    required=("domain_id", "email", "display_name"),
)  # fmt: skip
IDENTITY_PATCH = obj(
    {"email": _EMAIL, "display_name": _DISPLAY_NAME, "reply_to": _REPLY_TO},
    minProperties=1,
    description="Only the fields given change; the domain stays. Campaigns keep the From they copied.",
)
IDENTITY = response(
    {
        "id": ID,
        "domain_id": ID,
        "domain": {"type": "string", "description": "The sending domain's name."},
        "domain_status": {
            "enum": ["pending", "verifying", "verified", "failed", "warming", "active", "paused"],
            "description": "Mail from the identity is DKIM-signed once the domain is verified (or warming, "
            "active, paused).",
        },
        "email": {"type": "string"},
        "display_name": {"type": "string"},
        "reply_to": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "IdentityCreate": IDENTITY_CREATE,
    "IdentityPatch": IDENTITY_PATCH,
    "Identity": IDENTITY,
}
