"""Saved blocks: blocks a workspace keeps for reuse in its designs."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, obj, response, text

_BLOCK_LIST = {
    "type": "array",
    "items": {"type": "object"},
    "maxItems": 500,
    "description": "Blocks as they would stand at the top of a design (no column at the top level).",
}
SAVED_BLOCK_CREATE = obj(
    {
        "name": text(200, min_length=1),
        "blocks": _BLOCK_LIST,
        "block": {"type": "object", "description": "One block: the same as blocks with one item."},
    },
    required=("name",),
    description="Give blocks, or block.",
)
SAVED_BLOCK_PATCH = obj(
    {"name": text(200, min_length=1), "blocks": _BLOCK_LIST, "block": {"type": "object"}},
    minProperties=1,
    description="Only the fields given change.",
)
SAVED_BLOCK = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "blocks": {"type": "array", "items": {"type": "object"}, "description": "Normalized, defaults filled in."},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "SavedBlockCreate": SAVED_BLOCK_CREATE,
    "SavedBlockPatch": SAVED_BLOCK_PATCH,
    "SavedBlock": SAVED_BLOCK,
}
