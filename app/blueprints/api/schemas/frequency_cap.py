"""The workspace's frequency cap across campaigns and flows."""

from app.blueprints.api.schemas.common import obj

CAP = {
    "type": ["object", "null"],
    "properties": {
        "max": {"type": "integer", "description": "Marketing emails at most (1–100)…"},
        "hours": {"type": "integer", "description": "…per this many hours (1–720)."},
    },
    "required": ["max", "hours"],
    "additionalProperties": False,
    "description": "null: no cap.",
}

SCHEMAS: dict[str, dict] = {
    "FrequencyCap": obj({"frequency_cap": CAP}, required=("frequency_cap",)),
}
