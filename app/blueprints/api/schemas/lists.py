"""Mailing lists."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response, text

LIST_CREATE = obj({"name": text(200, min_length=1), "description": text(1000, nullable=True)}, required=("name",))
LIST = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "subscriber_count": COUNT,
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "ListCreate": LIST_CREATE,
    "List": LIST,
}
