"""The team (members and pending invitations) and the audit log."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, obj, ref, response
from app.models.workspace import ROLES

ROLE = {"enum": list(ROLES), "description": "owner, admin, marketer (builds and sends) or analyst (reads)."}

SCHEMAS: dict[str, dict] = {
    "Member": response(
        {
            "id": ID | {"description": "The membership's id."},
            "user_id": ID,
            "email": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "role": ROLE,
        }
    ),
    "PendingInvitation": response(
        {
            "id": ID,
            "email": {"type": "string"},
            "role": ROLE,
            "created_at": TIMESTAMP,
            "expires_at": TIMESTAMP,
        },
        description="An invitation not yet accepted, revoked or expired (its link is never shown again).",
    ),
    "Team": response(
        {
            "members": {"type": "array", "items": ref("Member")},
            "invitations": {"type": "array", "items": ref("PendingInvitation")},
        }
    ),
    "AuditEntry": response(
        {
            "id": ID,
            "created_at": TIMESTAMP,
            "actor": {"type": "string", "description": "The person's address, \"API key '<name>'\", or system."},
            "user_id": {"type": ["integer", "null"]},
            "api_key_id": {"type": ["integer", "null"]},
            "action": {"type": "string", "description": "<thing>.<verb>, e.g. campaign.send, member.role."},
            "subject": {
                "oneOf": [
                    obj({"type": {"type": "string"}, "id": {"type": ["integer", "null"]}}, required=("type", "id")),
                    {"type": "null"},
                ],  # fmt: skip
                "description": "What it was done to (it may no longer exist).",
            },
            "detail": {"type": "object", "additionalProperties": True},
            "ip": {"type": ["string", "null"]},
        },
        description="Who did what and when.",
    ),
}
