"""Mailing lists."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response, text

DOUBLE_OPT_IN = {
    "type": "boolean",
    "description": "Require confirmation: people who join through a signup form, the API or the dashboard are "
    "`pending` until they press the link in the confirmation email (imports are taken as already consented).",
}
LIST_CREATE = obj(
    {"name": text(200, min_length=1), "description": text(1000, nullable=True), "double_opt_in": DOUBLE_OPT_IN},
    required=("name",),
)
LIST_PATCH = obj(
    {"name": text(200, min_length=1), "description": text(1000, nullable=True), "double_opt_in": DOUBLE_OPT_IN},
    minProperties=1,
    description="Only the fields given change; people already on the list keep their status.",
)
LIST = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "subscriber_count": COUNT,
        "created_at": TIMESTAMP,
        "double_opt_in": {"type": "boolean"},
        "confirmation_template_id": {
            **ID,
            "type": ["integer", "null"],
            "description": "The template of the confirmation email (null: Herald's wording).",
        },
    }
)

SCHEMAS: dict[str, dict] = {
    "ListCreate": LIST_CREATE,
    "ListPatch": LIST_PATCH,
    "List": LIST,
}
