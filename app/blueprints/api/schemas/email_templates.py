"""Email templates (code or visual), their versions, previews and test sends. TEMPLATE_INPUT is
shared: a design (designs.py) takes the same name, subject, preview text and category."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, integer, obj, response, text
from app.models.content import TEMPLATE_CATEGORIES
from app.services.ids import MAX_ID

TEMPLATE_INPUT = {
    "name": text(200, min_length=1),
    "slug": text(
        100,
        "What POST /messages can name the template by, e.g. order-confirmation: lower-case letters, digits and "
        "single hyphens, unique in the workspace. Made from the name when left out; kept when empty on a change.",
        nullable=True,
    ),
    "subject": text(500, "One line; may use Jinja, e.g. Hello {{ subscriber.name }}.", min_length=1),
    "body_html": text(1_000_000, "Sandboxed Jinja HTML; marketing email must link {{ unsubscribe_url }}."),
    "body_text": text(1_000_000, "Plain-text part; made from the HTML when empty.", nullable=True),
    "preview_text": text(500, nullable=True),
    "category": {"enum": list(TEMPLATE_CATEGORIES), "default": "marketing"},
    "identity_id": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_ID,
        "description": "A sending identity (GET /identities): a transactional send of this template (POST "
        "/messages) that gives no from_email comes from it, with its display name and reply-to.",
    },
    "pool_id": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_ID,
        "description": "A sending pool (GET /pools) its transactional sends go through; null: the workspace's "
        "transactional lane, else its default provider.",
    },
    "template_type": {
        "enum": ["code", "visual"],
        "default": "code",
        "description": "code: you write body_html. visual: built from `design`, which Herald compiles to "
        "body_html and body_text (any given are ignored).",
    },
    "design": {
        "type": ["object", "null"],
        "description": "A visual template's design JSON {version: 1, settings, blocks}; its errors answer 422 "
        "with `fields` naming block and prop (e.g. blocks.b1.props.color). Ignored for a code template.",
    },
}
TEMPLATE_CREATE = obj(
    TEMPLATE_INPUT,
    required=("name", "subject"),
    description="A code template needs body_html; a visual template needs design.",
)
TEMPLATE_PATCH = obj(TEMPLATE_INPUT, minProperties=1, description="Only the fields given change.")
_TEMPLATE_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "slug": {"type": ["string", "null"], "description": "What POST /messages can name the template by."},
    "subject": {"type": "string"},
    "preview_text": {"type": ["string", "null"]},
    "category": {"enum": list(TEMPLATE_CATEGORIES)},
    "template_type": {"enum": ["code", "visual"]},
    "identity_id": {"type": ["integer", "null"], "description": "The sending identity of its transactional sends."},
    "pool_id": {"type": ["integer", "null"], "description": "The sending pool of its transactional sends."},
    "version": integer("The number of the current version; every save that changes the content adds one."),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
TEMPLATE_SUMMARY = response(_TEMPLATE_FIELDS)
TEMPLATE = response(
    {
        **_TEMPLATE_FIELDS,
        "body_html": {"type": "string"},
        "body_text": {"type": ["string", "null"]},
        "design": {
            "type": ["object", "null"],
            "description": "A visual template's design; a template converted to code keeps its design, frozen; "
            "null for a template written as code.",
        },
    }
)
_VERSION_FIELDS = {
    "number": integer(minimum=1),
    "note": {"type": ["string", "null"], "description": "What made it, e.g. Saved, Restored version 2."},
    "created_at": TIMESTAMP,
    "created_by": {"type": ["integer", "null"], "description": "The user who saved it; null through the API."},
    "template_type": {"enum": ["code", "visual"]},
    "subject": {"type": "string"},
}
TEMPLATE_VERSION_SUMMARY = response(_VERSION_FIELDS)
TEMPLATE_VERSION = response(
    {
        **_VERSION_FIELDS,
        "preview_text": {"type": ["string", "null"]},
        "body_html": {"type": "string"},
        "body_text": {"type": ["string", "null"]},
        "design": {"type": ["object", "null"]},
    }
)
PREVIEW_REQUEST = obj(
    {
        "context": {
            "type": ["object", "null"],
            "description": "Data to render with: subscriber (merged over a sample subscriber) and any other names.",
        }
    }
)
PREVIEW = response(
    {
        "subject": {"type": "string"},
        "preview_text": {"type": ["string", "null"], "description": "The preheader, rendered."},
        "html": {"type": "string"},
        "text": {"type": "string"},
    }
)
TEST_SEND_REQUEST = obj(
    {
        "emails": {"type": "array", "items": text(320), "minItems": 1, "maxItems": 10},
        "from_email": text(320, "The sender; the latest campaign's when absent.", nullable=True),
        "from_name": text(200, nullable=True),
        "subscriber_id": {**ID, "type": ["integer", "null"], "description": "Personalize as this subscriber."},
        "provider_id": {**ID, "type": ["integer", "null"], "description": "The default provider when absent."},
    },
    required=("emails",),
)
CAMPAIGN_TEST_REQUEST = obj(
    {
        "emails": TEST_SEND_REQUEST["properties"]["emails"],
        "subscriber_id": TEST_SEND_REQUEST["properties"]["subscriber_id"],
    },
    required=("emails",),
)
TEST_SEND_RESULT = response(
    {
        "results": {
            "type": "array",
            "items": response(
                {
                    "email": {"type": "string"},
                    "ok": {"type": "boolean"},
                    "detail": {"type": ["string", "null"], "description": "Why the provider refused it."},
                }
            ),
        }
    },
    "One result per address: a test is marked [Test], is not tracked and counts nowhere.",
)

SCHEMAS: dict[str, dict] = {
    "TemplateCreate": TEMPLATE_CREATE,
    "TemplatePatch": TEMPLATE_PATCH,
    "Template": TEMPLATE,
    "TemplateSummary": TEMPLATE_SUMMARY,
    "PreviewRequest": PREVIEW_REQUEST,
    "Preview": PREVIEW,
    "TemplateVersion": TEMPLATE_VERSION,
    "TemplateVersionSummary": TEMPLATE_VERSION_SUMMARY,
    "TestSendRequest": TEST_SEND_REQUEST,
    "TestSendResult": TEST_SEND_RESULT,
    "CampaignTestRequest": CAMPAIGN_TEST_REQUEST,
}
