"""Segments (saved rule trees, evaluated when used) and the field registry that types attributes."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response, text
from app.models.audience import FIELD_TYPES

RULES = {
    "type": "object",
    "description": 'A rule tree: {"all"|"any": [node, …]}, {"not": node}, a condition {"field": '
    '"email"|"name"|"status"|"source"|"created_at"|"timezone"|"tags"|"list"|"mailbox_provider"|'
    '"order_count"|"lifetime_value"|"last_order_at"|"loyalty_points"|"loyalty_tier"|"phone" (is_set, not_set, '
    'starts_with "+44")|"sms_status" (none|subscribed|opted_out)|"attributes.<name>", '
    '"op": "eq"|"ne"|"contains"|'
    '"starts_with"|"ends_with"|"gt"|"gte"|"lt"|"lte"|"between"|"in"|"is_set"|"not_set"|"before"|"after"|'
    '"within_days", "value": …} or an engagement condition {"event": "opened"|"clicked"|"received", '
    '"campaign_id"?, "within_days"?, "count_gte"?, "negate"?} (opens and clicks are people\'s, not '
    'machines\'), or a customer event condition {"did": "cart_updated", "within_days"?, "count_gte"?, '
    '"negate"?} (POST /events, and price_dropped/back_in_stock). Groups nest at most 5 deep, with at most 50 '
    "conditions. Dates are YYYY-MM-DD, days in "
    "the workspace's timezone. An attribute compares as its declared type (POST /fields), else as the "
    "values stored say (JSON numbers and numbers written as text: number; true/false: boolean; ISO "
    "dates: date; else text, case-insensitively). Errors name the place, e.g. rules.all.2.value.",
    "additionalProperties": True,
}
SCHEMAS: dict[str, dict] = {
    "SegmentInput": obj({"name": text(200, min_length=1), "rules": RULES}, required=("name", "rules")),
    "SegmentPatch": obj({"name": text(200, min_length=1), "rules": RULES}, minProperties=1),
    "Segment": response(
        {
            "id": ID,
            "name": {"type": "string"},
            "rules": {"type": "object", "additionalProperties": True},
            "count": COUNT | {"description": "Subscribers matching now (an estimate when `estimated`)."},
            "estimated": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "SegmentCountInput": obj({"rules": RULES}, required=("rules",)),
    "SegmentCount": response(
        {
            "count": COUNT,
            "estimated": {
                "type": "boolean",
                "description": "True when the exact count ran past the time limit and this is an estimate "
                "from an even sample of the workspace.",
            },
        }
    ),
    "SegmentFreezeInput": obj({"list_name": text(200, nullable=True)}),
    "FrozenList": response({"list_id": ID, "name": {"type": "string"}, "subscribers": COUNT}),
    "FieldInput": obj(
        {
            "key": text(100, "The attribute's name (attributes.<key>).", min_length=1),
            "type": {"enum": list(FIELD_TYPES)},
        },
        required=("key", "type"),
    ),
    "Field": response(
        {"id": ID, "key": {"type": "string"}, "type": {"enum": list(FIELD_TYPES)}, "created_at": TIMESTAMP}
    ),
}
