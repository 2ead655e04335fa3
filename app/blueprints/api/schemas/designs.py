"""Visual designs: the builder's compiler, and visual templates stored as designs."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, integer, obj, response
from app.blueprints.api.schemas.email_templates import PREVIEW, TEMPLATE_INPUT
from app.models.content import TEMPLATE_CATEGORIES
from app.services.designs.schema import describe_block_types

_DESIGN_JSON = {
    "type": "object",
    "description": "Visual design JSON: {version: 1, settings: {backgroundColor, width, fontFamily}, blocks: "
    "[{id, type, props, children?, else?}]}. " + describe_block_types(),
}
DESIGN_INPUT = obj(
    {
        "design": _DESIGN_JSON,
        "category": {
            "enum": list(TEMPLATE_CATEGORIES),
            "description": "When given and not transactional, the design must carry an unsubscribe link.",
        },
    },
    required=["design"],
)
DESIGN_CHECK = response({"valid": {"type": "boolean"}, "design": {"type": "object"}})
DESIGN_RENDER = response(
    {
        "html": {"type": "string", "description": "Responsive HTML (MJML), CSS inlined; sandboxed Jinja inside."},
        "text": {"type": "string", "description": "The plain-text part, made from the design."},
        "mjml": {"type": "string"},
        "size_bytes": COUNT,
        "warnings": {"type": "array", "items": {"type": "string"}},
    }
)

DESIGN_CREATE = obj(
    {
        "name": TEMPLATE_INPUT["name"],
        "subject": TEMPLATE_INPUT["subject"],
        "preview_text": TEMPLATE_INPUT["preview_text"],
        "category": TEMPLATE_INPUT["category"],
        "design": _DESIGN_JSON,
    },
    required=("name", "subject", "design"),
    description="A marketing design (any category but transactional) must carry an unsubscribe link.",
)
DESIGN_UPDATE = obj(
    {
        "design": _DESIGN_JSON,
        "name": TEMPLATE_INPUT["name"],
        "subject": TEMPLATE_INPUT["subject"],
        "preview_text": TEMPLATE_INPUT["preview_text"],
        "category": {"enum": list(TEMPLATE_CATEGORIES)},
    },
    required=("design",),
    description="The design replaces the stored one; the other fields change only when given.",
)
_DESIGN_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "slug": {"type": ["string", "null"], "description": "What POST /messages can name the template by."},
    "subject": {"type": "string"},
    "preview_text": {"type": ["string", "null"]},
    "category": {"enum": list(TEMPLATE_CATEGORIES)},
    "template_type": {"const": "visual"},
    "identity_id": {"type": ["integer", "null"], "description": "The sending identity of its transactional sends."},
    "pool_id": {"type": ["integer", "null"], "description": "The sending pool of its transactional sends."},
    "version": integer("The number of the current version."),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
DESIGN_SUMMARY = response(_DESIGN_FIELDS)
DESIGN = response(
    {
        **_DESIGN_FIELDS,
        "design": {"type": "object", "description": "The stored design, normalized (every default filled in)."},
        "size_bytes": {**COUNT, "description": "Size of the compiled HTML."},
        "warnings": {
            "type": "array",
            "items": {"type": "string"},
            "description": "E.g. images without alt text, or an email Gmail would clip.",
        },
    }
)
DESIGN_PREVIEW_REQUEST = obj(
    {
        "subscriber_id": {
            **ID,
            "type": ["integer", "null"],
            "description": "Personalize as this subscriber of the workspace; a sample subscriber when absent.",
        },
        "context": {
            "type": ["object", "null"],
            "description": "More data: subscriber (merged over the subscriber) and any other names, e.g. cart. "
            "Sample cart and order data fill in what is not given.",
        },
    }
)
DESIGN_PREVIEW = response({**PREVIEW["properties"], "size_bytes": COUNT})

SCHEMAS: dict[str, dict] = {
    "DesignInput": DESIGN_INPUT,
    "DesignCheck": DESIGN_CHECK,
    "DesignRender": DESIGN_RENDER,
    "DesignCreate": DESIGN_CREATE,
    "DesignUpdate": DESIGN_UPDATE,
    "Design": DESIGN,
    "DesignSummary": DESIGN_SUMMARY,
    "DesignPreviewRequest": DESIGN_PREVIEW_REQUEST,
    "DesignPreview": DESIGN_PREVIEW,
}
