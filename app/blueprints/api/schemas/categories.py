"""Categories (the kinds of campaign people can opt out of or get less often) and a person's choices."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response, text
from app.models.audience import FREQUENCIES
from app.services.audience.preferences import DESCRIPTION_LENGTH, NAME_LENGTH

CATEGORY_CREATE = obj(
    {
        "name": text(NAME_LENGTH, "Unique in the workspace, whatever its case.", min_length=1),
        "description": text(DESCRIPTION_LENGTH, "Shown to people in the preference center.", nullable=True),
    },
    required=("name",),
)
CATEGORY_PATCH = obj(CATEGORY_CREATE["properties"], minProperties=1, description="Only the fields given change.")
CATEGORY_COUNTS = response(
    {
        "opted_out": COUNT,
        "immediate": COUNT | {"description": "Including everyone who never chose (the default)."},
        "daily": COUNT,
        "weekly": COUNT,
        "monthly": COUNT,
    },
    description="Among the workspace's active subscribers: who opted out, and who gets it how often.",
)
CATEGORY = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "counts": CATEGORY_COUNTS,
        "created_at": TIMESTAMP,
    }
)
PREFERENCE = obj(
    {
        "subscribed": {"type": "boolean", "description": "false: they opted out of the category."},
        "frequency": {
            "enum": list(FREQUENCIES),
            "description": "immediate, or at most one of the category's campaigns a day, week or month.",
        },
    },
    minProperties=1,
)
# Keyed by category id (JSON object names are text).
PREFERENCES = {
    "type": "object",
    "propertyNames": {"pattern": "^[1-9][0-9]{0,9}$"},
    "additionalProperties": PREFERENCE,
    "maxProperties": 1000,
    "description": 'Per category id, e.g. {"3": {"subscribed": false}, "4": {"frequency": "weekly"}}. '
    "A category left out (or a field of one) stays as it was; another workspace's category is refused (422).",
}
PREFERENCES_SHOWN = {
    "type": "object",
    "additionalProperties": response({"subscribed": {"type": "boolean"}, "frequency": {"enum": list(FREQUENCIES)}}),
    "description": "Every category of the workspace by id: subscribed (true unless they opted out) and frequency "
    "(immediate unless they chose otherwise).",
}

SCHEMAS: dict[str, dict] = {
    "CategoryCreate": CATEGORY_CREATE,
    "CategoryPatch": CATEGORY_PATCH,
    "Category": CATEGORY,
    "CategoryCounts": CATEGORY_COUNTS,
    "PreferencesInput": PREFERENCES,
    "Preferences": PREFERENCES_SHOWN,
}
