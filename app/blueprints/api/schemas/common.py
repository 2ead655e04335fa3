"""The building blocks every resource's schemas are made of: the small constructors (`obj`,
`response`, `text`, `integer`, `ref`), the shared fields (ids, timestamps, counts), the one error
shape, pages of results and the pagination query parameters."""

from app.services.ids import MAX_ID


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int, description: str = "", nullable: bool = False, min_length: int = 0, **extra) -> dict:
    schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length, **extra}
    if min_length:
        schema["minLength"] = min_length
    if description:
        schema["description"] = description
    return schema


def integer(description: str = "", minimum: int | None = 0, maximum: int | None = None, nullable=False) -> dict:
    schema = {"type": ["integer", "null"] if nullable else "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if description:
        schema["description"] = description
    return schema


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ID_LIST = {"type": "array", "items": ID, "maxItems": 1000}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO 8601 with offset."}
MAYBE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time", "description": "ISO 8601 with offset."}
COUNT = {"type": "integer", "minimum": 0}


def obj(properties: dict, required=(), additional: bool = False, description: str = "", **extra) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": additional, **extra}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def response(properties: dict, description: str = "") -> dict:
    """A response object: every property is always present."""
    return obj(properties, required=properties, additional=False, description=description)


ERROR = obj(
    {
        "error": obj(
            {
                "code": {
                    "type": "string",
                    "description": "Machine-readable, e.g. invalid, not_found, conflict, invalid_state.",
                },
                "message": {"type": "string", "description": "What went wrong, for a person."},
                "fields": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per field (dotted path, e.g. settings.port or rows.3.email) what to fix.",
                },
            },
            required=("code", "message", "fields"),
        ),
    },
    required=("error",),
    description="Every 4xx (and 5xx) answer has this shape.",
)


def page_of(item_schema: str) -> dict:
    return response(
        {
            "items": {"type": "array", "items": ref(item_schema)},
            "page": integer(minimum=1),
            "per_page": integer(minimum=1, maximum=200),
            "total": integer(description="Items matching, over every page."),
        },
        description=f"One page of {item_schema} items.",
    )


PAGE = integer("Page number, from 1.", minimum=1, maximum=10_000_000) | {"default": 1}
PER_PAGE = integer("Items per page.", minimum=1, maximum=200) | {"default": 50}

SCHEMAS: dict[str, dict] = {
    "Error": ERROR,
}
