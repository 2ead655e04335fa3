"""JSON Schemas (2020-12) of the API: request bodies are validated against them and the
OpenAPI document publishes them as its components, so the two cannot disagree."""

from app.event_types import EVENT_TYPES
from app.models.audience import SUBSCRIBER_STATUSES
from app.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES
from app.models.content import TEMPLATE_CATEGORIES
from app.models.message import MESSAGE_STATUSES
from app.services.designs.schema import describe_block_types
from app.services.ids import MAX_ID
from app.services.outbound_webhooks import DELIVERY_STATUSES

PROVIDER_TYPES = ("smtp", "ses", "sendgrid", "mailgun", "postmark")
# sending.py also writes "unknown" (a hand-off whose outcome is unclear after a crash).
RECIPIENT_FILTER = tuple(dict.fromkeys((*RECIPIENT_STATUSES, "unknown")))
MAX_IMPORT_ROWS = 50_000


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


# Errors and pages -----------------------------------------------------------------------------

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


# Providers ----------------------------------------------------------------------------------------

SMTP_SETTINGS = obj(
    {
        "host": text(255, "The SMTP server's host name."),
        "port": integer("587 for STARTTLS, 465 for TLS.", minimum=1, maximum=65535),
        "use_tls": {"enum": [False, "starttls", "ssl"], "description": 'false, "starttls" or "ssl".'},
        "return_path_domain": text(
            253, "Optional: send with a VERP return path on this domain (its MX points at `mailin`).", nullable=True
        ),
    },
    additional=True,
    description=(
        "Settings by provider_type. smtp: {host, port, use_tls, return_path_domain?}. "
        "ses: {region, configuration_set?, endpoint_url?, topic_arns?: [SNS topic ARNs allowed to post events]}. "
        "sendgrid: {api_base_url?, webhook_public_key?}. mailgun: {domain, api_base_url?}. "
        "postmark: {api_base_url?, message_stream?}. api_base_url and endpoint_url are https:// (http:// only "
        "to this machine) with no credentials, query or fragment; no host (SMTP host included) may be a "
        "link-local, cloud metadata, unspecified or multicast address, in any spelling."
    ),
)

PROVIDER_CREDENTIALS = obj(
    {
        "username": text(320, nullable=True),
        "password": text(1000, nullable=True),
        "access_key_id": text(200, nullable=True),
        "secret_access_key": text(200, nullable=True),
        "api_key": text(1000, nullable=True),
        "webhook_signing_key": text(500, nullable=True),
        "server_token": text(500, nullable=True),
        "webhook_username": text(200, nullable=True),
        "webhook_password": text(500, nullable=True),
    },
    description=(
        "Stored encrypted; never returned. smtp: {username?, password?}; ses: {access_key_id, secret_access_key}; "
        "sendgrid: {api_key}; mailgun: {api_key, webhook_signing_key}; "
        "postmark: {server_token, webhook_username, webhook_password}. On update, a field left out keeps its value."
    ),
)

PROVIDER_CREATE = obj(
    {
        "name": text(200, min_length=1),
        "provider_type": {"enum": ["smtp", "ses", "sendgrid", "mailgun", "postmark"]},
        "settings": ref("SmtpSettings"),
        "credentials": ref("ProviderCredentials"),
        "is_default": {"type": "boolean", "default": False},
        "priority": integer("Lower goes first when routing by priority.", minimum=0, maximum=10_000),
        "max_sends_per_second": integer(minimum=1, maximum=1_000_000, nullable=True),
        "max_sends_per_day": integer(minimum=1, maximum=MAX_ID, nullable=True),
        "sandbox_mode": {
            "type": "boolean",
            "default": False,
            "description": "The provider validates but delivers nothing (SendGrid sandbox, Mailgun test mode; "
            "SES and Postmark: Herald does not hand the message off).",
        },
        "provider_tracking": {
            "type": "boolean",
            "default": False,
            "description": "The provider's own open/click tracking (Herald tracks itself: both on count twice).",
        },
    },
    required=("name", "provider_type", "settings"),
)

PROVIDER_UPDATE = obj(
    {k: v for k, v in PROVIDER_CREATE["properties"].items() if k not in ("provider_type", "is_default")},
    required=("name", "settings"),
    description="Replaces the settings and limits; credentials left out keep their stored values.",
)

PROVIDER = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "provider_type": {
            "type": "string",
            "description": "smtp, ses, sendgrid, mailgun, postmark, or outbox for the development mail catcher.",
        },
        "settings": {"type": "object"},
        "credentials": {
            "type": "object",
            "description": "Which credentials are stored (`<field>_set`) and the user names; never a secret.",
        },
        "sandbox_mode": {"type": "boolean"},
        "provider_tracking": {"type": "boolean"},
        "webhook_url": {
            "type": ["string", "null"],
            "description": "The URL to paste into the provider's event webhook settings (null for SMTP: VERP).",
        },
        "sent_today": {"type": "integer", "description": "Messages handed off since midnight UTC."},
        "is_default": {"type": "boolean"},
        "priority": {"type": "integer"},
        "max_sends_per_second": {"type": ["integer", "null"]},
        "max_sends_per_day": {"type": ["integer", "null"]},
        "last_check_at": MAYBE_TIMESTAMP,
        "last_check_status": {"type": ["string", "null"]},
        "last_error": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
    }
)

PROVIDER_CHECK = response(
    {
        "ok": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "provider": ref("Provider"),
    },
    "The outcome of connecting (and authenticating) to the provider.",
)

# Audience ------------------------------------------------------------------------------------------

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

ATTRIBUTES = {
    "type": ["object", "null"],
    "maxProperties": 200,
    "description": 'Your own fields, e.g. {"plan": "gold"}; used in templates as subscriber.attributes.',
}

SUBSCRIBER_CREATE = obj(
    {
        "email": text(320, min_length=1),
        "name": text(200, nullable=True),
        "attributes": ATTRIBUTES,
        "list_ids": ID_LIST,
        "timezone": text(64, "An IANA name, e.g. Europe/Berlin.", nullable=True),
    },
    required=("email",),
)

_SUBSCRIBER_FIELDS = {
    "id": ID,
    "email": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "status": {"enum": list(SUBSCRIBER_STATUSES)},
    "attributes": {"type": "object"},
    "timezone": {"type": ["string", "null"]},
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "unsubscribed_at": MAYBE_TIMESTAMP,
}
SUBSCRIBER_SUMMARY = response(_SUBSCRIBER_FIELDS)
SUBSCRIBER = response(
    {**_SUBSCRIBER_FIELDS, "lists": {"type": "array", "items": ID, "description": "Ids of the lists they are on."}}
)

IMPORT_ROW = obj(
    {
        "email": text(320),
        "name": text(200, nullable=True),
        "attributes": ATTRIBUTES,
        "timezone": text(
            64, "An IANA name, e.g. Europe/Berlin; another value is left out and reported.", nullable=True
        ),
    },
    required=("email",),
    description="One person to create, or to update (name, timezone and attributes; tags add up).",
)
IMPORT_REQUEST = obj(
    {
        "rows": {
            "type": "array",
            "maxItems": MAX_IMPORT_ROWS,
            "items": {
                "description": "An ImportRow. A row that is not one is reported in the summary's errors "
                "(rows count from 1) and the others are imported."
            },
        },
        "list_ids": ID_LIST,
    },
    required=("rows",),
)
IMPORT_UPLOAD = obj(
    {
        "file": {
            "type": "string",
            "contentMediaType": "text/csv",
            "description": "A CSV with a header row (comma, semicolon or tab). Without a mapping the columns are "
            "guessed: email, name, First Name/Last Name, timezone, tags as Mailchimp, listmonk, Mautic, Klaviyo and "
            "Brevo export them; any other column becomes an attribute. "
            "Rows count like a spreadsheet: the first data row is row 2.",
        },
        "list_ids": {"type": "string", "description": "Comma-separated list ids, e.g. 3,7."},
        "mapping": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON object naming, for each column to import, what it becomes: email, name, "
            "first_name, last_name (together the name, and attributes), timezone, tags (a list attribute), "
            "attributes (a JSON object merged in), attribute (named after the column), attribute:<name>, or "
            'ignore. Columns left out are ignored; exactly one must be email. E.g. {"E-Mail": "email", '
            '"Vorname": "first_name", "Plan": "attribute:plan"}.',
        },
    },
    required=("file",),
)
IMPORT_SUMMARY = response(
    {
        "created": COUNT,
        "updated": COUNT,
        "skipped": COUNT,
        "added_to_lists": COUNT,
        "errors": {"type": "array", "items": response({"row": integer(minimum=1), "error": {"type": "string"}})},
    }
)

# Templates ----------------------------------------------------------------------------------------

_TEMPLATE_INPUT = {
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
    _TEMPLATE_INPUT,
    required=("name", "subject"),
    description="A code template needs body_html; a visual template needs design.",
)
TEMPLATE_PATCH = obj(_TEMPLATE_INPUT, minProperties=1, description="Only the fields given change.")
_TEMPLATE_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "slug": {"type": ["string", "null"], "description": "What POST /messages can name the template by."},
    "subject": {"type": "string"},
    "preview_text": {"type": ["string", "null"]},
    "category": {"enum": list(TEMPLATE_CATEGORIES)},
    "template_type": {"enum": ["code", "visual"]},
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

# Visual designs: the builder's compiler, and visual templates stored as designs -----------------

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
        "name": _TEMPLATE_INPUT["name"],
        "subject": _TEMPLATE_INPUT["subject"],
        "preview_text": _TEMPLATE_INPUT["preview_text"],
        "category": _TEMPLATE_INPUT["category"],
        "design": _DESIGN_JSON,
    },
    required=("name", "subject", "design"),
    description="A marketing design (any category but transactional) must carry an unsubscribe link.",
)
DESIGN_UPDATE = obj(
    {
        "design": _DESIGN_JSON,
        "name": _TEMPLATE_INPUT["name"],
        "subject": _TEMPLATE_INPUT["subject"],
        "preview_text": _TEMPLATE_INPUT["preview_text"],
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

# Saved blocks -------------------------------------------------------------------------------------

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

# Images -------------------------------------------------------------------------------------------

IMAGE_UPLOAD = obj(
    {
        "file": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "A PNG, JPEG, GIF or WebP image (5 MB at most unless the server says otherwise). The "
            "format is read from the bytes, not from the name: SVG, HTML and anything else is refused.",
        },
    },
    required=("file",),
)
IMAGE = response(
    {
        "id": ID,
        "url": {"type": "string", "format": "uri", "description": "Public and permanent; use it in emails."},
        "filename": {"type": "string"},
        "content_type": {"enum": ["image/png", "image/jpeg", "image/gif", "image/webp"]},
        "size_bytes": COUNT,
        "width": integer(minimum=1, nullable=True),
        "height": integer(minimum=1, nullable=True),
        "created_at": TIMESTAMP,
    }
)

# Campaigns ----------------------------------------------------------------------------------------

WEEKDAYS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 6},
    "minItems": 1,
    "maxItems": 7,
    "description": "Days of the week, Monday = 0 … Sunday = 6.",
}
SEND_WINDOW = obj(
    {
        "days": WEEKDAYS | {"description": "Days the window opens on, Monday = 0 … Sunday = 6; every day when absent."},
        "start": text(8, "Local time it opens, HH:MM, e.g. 09:00.", min_length=1),
        "end": text(
            8,
            "Local time it closes, HH:MM (24:00 for midnight); before the start it wraps past midnight.",
            min_length=1,
        ),
        "timezone": text(
            64,
            'An IANA name such as Europe/Berlin, or "recipient" for each recipient\'s own timezone (else the '
            "workspace's). The workspace's timezone when absent.",
        ),
    },
    required=("start", "end"),
    description="Messages go out only inside this window; outside it recipients wait (pending) for its next "
    "opening, which counts as neither a failure nor a retry. null: any time.",
) | {"type": ["object", "null"]}
RECURRENCE = obj(
    {
        "frequency": {"enum": ["daily", "weekly", "monthly"]},
        "days": WEEKDAYS | {"description": "Weekly: the days it runs on, Monday = 0 … Sunday = 6."},
        "day_of_month": integer("Monthly: the day it runs on (in shorter months, their last day).", 1, 31),
        "time": text(8, "Local time of each run, HH:MM; it stays at this wall-clock time across DST.", min_length=1),
        "timezone": text(64, "An IANA name such as Europe/Berlin; the workspace's timezone when absent."),
        "until": {"type": ["string", "null"], "format": "date", "description": "The last day a run may start on."},
    },
    required=("frequency", "time"),
    description="Makes the campaign the parent of a series: POST …/start-recurring, then the scheduler starts "
    "a run (a child campaign with its own figures) at each due time. null: sent once.",
) | {"type": ["object", "null"]}

# A/B tests (app/services/campaigns/ab_tests.py) ---------------------------------------------------------------

AB_TEST_SETTINGS = obj(
    {
        "test_percent": integer("Share of the audience in the test, split evenly across the variants.", 2, 50)
        | {"default": 20},
        "metric": {
            "enum": ["opens", "clicks"],
            "default": "opens",
            "description": "Unique opens or unique clicks per delivered message decides the winner.",
        },  # fmt: skip
        "wait_minutes": integer("How long after the test is sent the winner is picked.", 5, 7 * 24 * 60)
        | {"default": 240},
        "auto_pick": {
            "type": "boolean",
            "default": True,
            "description": "Send the leader to the rest when the wait is over; false: the marketer picks.",
        },
    },
    description="An A/B test: `test_percent`% of the audience gets the variants; after `wait_minutes` the rest "
    "gets the winner.",
)
VARIANT_INPUT = obj(
    {
        "subject": text(500, "This variant's subject (Jinja); the template's when absent.", nullable=True),
        "from_name": text(200, "This variant's sender name; the campaign's when absent.", nullable=True),
        "preview_text": text(500, "This variant's preview text; the template's when absent.", nullable=True),
        "template_id": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "Content: another template of the workspace; the campaign's when absent.",
        },
    },
    description="One variant (labelled A-D in order); it must differ from the others in at least one field.",
)
_AB_INPUT = {
    "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"], "description": "null: no A/B test."},
    "variants": {
        "type": "array",
        "items": ref("VariantInput"),
        "maxItems": 4,
        "description": "2 to 4 variants, with `ab_test`. Errors name the field, e.g. variants.1.subject.",
    },
}
_COMPARISON = response(
    {
        "enough_data": {"type": "boolean", "description": "false: too few opens or clicks to test yet."},
        "z": {"type": ["number", "null"]},
        "p_value": {"type": ["number", "null"], "description": "Two-sided two-proportion z-test."},
        "significant": {"type": "boolean", "description": "p < 0.05."},
    },
    description="The leader against this variant; null for the leader itself.",
)
VARIANT = response(
    {
        "id": ID,
        "label": {"enum": list("ABCD")},
        "subject": {"type": ["string", "null"]},
        "from_name": {"type": ["string", "null"]},
        "preview_text": {"type": ["string", "null"]},
        "template_id": {"type": ["integer", "null"]},
        "sent_subject": {"type": ["string", "null"], "description": "The subject frozen at start."},
        "sent_from_name": {"type": ["string", "null"], "description": "The sender name frozen at start."},
        "recipients": COUNT,
        "sent": COUNT,
        "delivered": COUNT,
        "unique_opens": COUNT,
        "unique_clicks": COUNT,
        "open_rate": {"type": "number", "description": "unique_opens / delivered."},
        "click_rate": {"type": "number", "description": "unique_clicks / delivered."},
        "leader": {"type": "boolean", "description": "Best rate on the test's metric so far."},
        "winner": {"type": "boolean"},
        "vs_leader": _COMPARISON | {"type": ["object", "null"]},
    },
    description="A variant with the figures of its test group.",
)
CAMPAIGN_VARIANTS = response(
    {
        "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"]},
        "phase": {
            "enum": [None, "testing", "waiting", "decided"],
            "description": "testing: the test is going out; waiting: until wait_until; decided: the rest gets "
            "the winner.",
        },
        "wait_until": MAYBE_TIMESTAMP | {"description": "When the winner is picked (set once the test is sent)."},
        "winner_variant_id": {"type": ["integer", "null"]},
        "picked_by": {"enum": [None, "auto", "marketer"]},
        "variants": {"type": "array", "items": ref("Variant")},
        "rest": response(
            {k: COUNT for k in ("recipients", "held", "sent", "delivered", "unique_opens", "unique_clicks")},
            description="The rest of the audience: held during the test, then sent the winner.",
        )
        | {"type": ["object", "null"]},
    }
)

CAMPAIGN_CREATE = obj(
    {
        "name": text(200, min_length=1),
        "template_id": ID,
        "list_ids": {**ID_LIST, "minItems": 1},
        "from_name": text(200, min_length=1),
        "from_email": text(320, min_length=1),
        "reply_to": text(320, nullable=True),
        "routing_config": {
            "type": ["object", "null"],
            "properties": {
                "strategy": {"enum": ["priority", "round_robin", "weighted"]},
                "providers": {"type": "array", "items": ID, "maxItems": 10},
                "weights": {"type": "object", "additionalProperties": {"type": "number"}},
                "fallback": {"type": "boolean"},
            },
            "additionalProperties": False,
            "description": "Which providers carry the send: the strategy's pick per message; with fallback, a "
            "provider that errors (refused connection, 5xx, throttling) fails over to the next. null: the "
            "campaign's provider or the workspace default.",
        },
        "provider_id": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "The workspace's default provider when absent.",
        },
        "track_opens": {"type": "boolean", "default": True},
        "track_clicks": {"type": "boolean", "default": True},
        "send_window": ref("SendWindow"),
        "recurrence": ref("Recurrence"),
        **_AB_INPUT,
    },
    required=("name", "template_id", "list_ids", "from_name", "from_email"),
)
CAMPAIGN_PATCH = obj(
    CAMPAIGN_CREATE["properties"], minProperties=1, description="Only the fields given change (drafts only)."
)

CAMPAIGN_STATS = response(
    {
        k: COUNT
        for k in (
            "total_recipients",
            "sent",
            "delivered",
            "failed",
            "bounced",
            "complained",
            "unsubscribed",
            "opens",
            "unique_opens",
            "clicks",
            "unique_clicks",
            "suppressed",
            "unknown",
            "pending",
            "held",
        )
    }
)
_CAMPAIGN_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "status": {"enum": list(CAMPAIGN_STATUSES)},
    "category": {"type": "string"},
    "total_recipients": COUNT,
    "created_at": TIMESTAMP,
    "started_at": MAYBE_TIMESTAMP,
    "completed_at": MAYBE_TIMESTAMP,
    "scheduled_at": MAYBE_TIMESTAMP,
    "paused_at": MAYBE_TIMESTAMP,
    "send_window": ref("SendWindow"),
    "recurrence": ref("Recurrence"),
    "parent_id": {"type": ["integer", "null"], "description": "For a run of a recurring campaign: its parent."},
    "next_run_at": MAYBE_TIMESTAMP | {"description": "A recurring campaign's next run (while scheduled)."},
}
CAMPAIGN_SUMMARY = response(_CAMPAIGN_FIELDS)
CAMPAIGN = response(
    {
        **_CAMPAIGN_FIELDS,
        "template_id": ID,
        "list_ids": {"type": "array", "items": ID},
        "provider_id": {"type": ["integer", "null"]},
        "from_name": {"type": "string"},
        "from_email": {"type": "string"},
        "reply_to": {"type": ["string", "null"]},
        "track_opens": {"type": "boolean"},
        "track_clicks": {"type": "boolean"},
        "last_error": {"type": ["string", "null"]},
        "updated_at": TIMESTAMP,
        "stats": ref("CampaignStats"),
        "waiting_for_window": COUNT | {"description": "Recipients waiting for the send window to open."},
        "window_resumes_at": MAYBE_TIMESTAMP
        | {"description": "While recipients wait for the send window: when sending resumes."},
        "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"]},
        "ab_phase": {"enum": [None, "testing", "waiting", "decided"], "description": "See GET …/variants."},
        "routing_config": {"type": ["object", "null"], "description": "See CampaignCreate.routing_config."},
        "replies": {"type": "integer", "description": "Replies that came back to the VERP return path."},
    }
)
CAMPAIGN_RUN = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "status": {"enum": list(CAMPAIGN_STATUSES)},
        "started_at": MAYBE_TIMESTAMP,
        "completed_at": MAYBE_TIMESTAMP,
        "total_recipients": COUNT,
        "sent": COUNT,
        "unique_opens": COUNT,
        "unique_clicks": COUNT,
        "pending": COUNT,
    },
    description="One run of a recurring campaign with its figures.",
)
CAMPAIGN_SENDING = response({"id": ID, "status": {"const": "sending"}})
CAMPAIGN_SCHEDULE = obj(
    {
        "scheduled_at": {
            "type": "string",
            "description": "ISO 8601 date-time at least a minute from now (422 otherwise); without an offset "
            "it is read in the workspace's timezone.",
        }
    },
    required=("scheduled_at",),
)
RESEND_RESULT = response({"requeued": COUNT})
RECIPIENT = response(
    {
        "email": {"type": "string"},
        "status": {"enum": list(RECIPIENT_FILTER)},
        "reason": {"type": ["string", "null"], "description": "Why it failed, e.g. suppressed:unsubscribed."},
        "sent_at": MAYBE_TIMESTAMP,
        "opened_at": MAYBE_TIMESTAMP,
        "clicked_at": MAYBE_TIMESTAMP,
    }
)

# Transactional messages ---------------------------------------------------------------------------

MESSAGE_CREATE = obj(
    {
        "template": {
            "type": ["integer", "string"],
            "minimum": 1,
            "maximum": MAX_ID,
            "minLength": 1,
            "maxLength": 100,
            "description": "The template's id or slug (e.g. order-confirmation); another workspace's answers 404.",
        },
        "to": text(320, "The recipient's address.", min_length=1),
        "to_name": text(200, "The recipient's name (else a known subscriber's).", nullable=True),
        "context": {
            "type": ["object", "null"],
            "maxProperties": 200,
            "description": "Data for the template, at most 64 KB as JSON: each name is a template variable beside "
            "`subscriber` (the known subscriber with this address, else just the address), e.g. "
            "{order: {number, items: [...]}} for {{ order.number }}. Herald's own names (subscriber, campaign, "
            "unsubscribe_url, preferences_url, view_in_browser_url, assets_url) are refused.",
        },
        "category": {"enum": ["transactional"], "default": "transactional"},
        "from_email": text(320, "The sender; defaults to the latest campaign's.", nullable=True),
        "from_name": text(200, nullable=True),
        "reply_to": text(320, nullable=True),
        "provider_id": {**ID, "type": ["integer", "null"], "description": "Defaults to the workspace's default."},
        "track_opens": {"type": "boolean", "default": False, "description": "An open pixel (off by default)."},
        "track_clicks": {"type": "boolean", "default": False, "description": "Tracked links (off by default)."},
        "idempotency_key": text(
            255,
            "Your key for this request (or send an Idempotency-Key header): the same key again returns the first "
            "message and sends nothing.",
            nullable=True,
            min_length=1,
        ),
    },
    required=("template", "to"),
    description="One message, sent at once on the transactional queue.",
)
_MESSAGE_FIELDS = {
    "id": ID,
    "status": {
        "enum": list(MESSAGE_STATUSES),
        "description": "queued, sending, then sent, failed or unknown (the hand-off was interrupted); "
        "suppressed when the address hard-bounced or complained.",
    },
    "reason": {"type": ["string", "null"], "description": "The server's reply or the suppression reason."},
    "to": {"type": "string"},
    "to_name": {"type": ["string", "null"]},
    "subscriber_id": {"type": ["integer", "null"], "description": "The subscriber with this address, if any."},
    "template_id": {"type": ["integer", "null"], "description": "null once the template is deleted."},
    "template_name": {"type": ["string", "null"]},
    "subject": {"type": ["string", "null"], "description": "As rendered for this recipient."},
    "category": {"const": "transactional"},
    "from_email": {"type": "string"},
    "from_name": {"type": ["string", "null"]},
    "reply_to": {"type": ["string", "null"]},
    "provider_id": {"type": ["integer", "null"]},
    "message_id": {"type": ["string", "null"], "description": "The Message-ID header, once handed off."},
    "track_opens": {"type": "boolean"},
    "track_clicks": {"type": "boolean"},
    "idempotency_key": {"type": ["string", "null"]},
    "created_at": TIMESTAMP,
    "sent_at": MAYBE_TIMESTAMP,
    "opened_at": MAYBE_TIMESTAMP,
    "clicked_at": MAYBE_TIMESTAMP,
}
MESSAGE_SUMMARY = response(_MESSAGE_FIELDS)
MESSAGE = response({**_MESSAGE_FIELDS, "context": {"type": "object", "description": "The context given."}})

SCHEMAS: dict[str, dict] = {
    "Error": ERROR,
    "SmtpSettings": SMTP_SETTINGS,
    "ProviderCreate": PROVIDER_CREATE,
    "ProviderUpdate": PROVIDER_UPDATE,
    "ProviderCredentials": PROVIDER_CREDENTIALS,
    "Provider": PROVIDER,
    "ProviderCheck": PROVIDER_CHECK,
    "ListCreate": LIST_CREATE,
    "List": LIST,
    "SubscriberCreate": SUBSCRIBER_CREATE,
    "Subscriber": SUBSCRIBER,
    "SubscriberSummary": SUBSCRIBER_SUMMARY,
    "ImportRow": IMPORT_ROW,
    "ImportRequest": IMPORT_REQUEST,
    "ImportUpload": IMPORT_UPLOAD,
    "ImportSummary": IMPORT_SUMMARY,
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
    "DesignInput": DESIGN_INPUT,
    "DesignCheck": DESIGN_CHECK,
    "DesignRender": DESIGN_RENDER,
    "DesignCreate": DESIGN_CREATE,
    "DesignUpdate": DESIGN_UPDATE,
    "Design": DESIGN,
    "DesignSummary": DESIGN_SUMMARY,
    "DesignPreviewRequest": DESIGN_PREVIEW_REQUEST,
    "DesignPreview": DESIGN_PREVIEW,
    "SavedBlockCreate": SAVED_BLOCK_CREATE,
    "SavedBlockPatch": SAVED_BLOCK_PATCH,
    "SavedBlock": SAVED_BLOCK,
    "ImageUpload": IMAGE_UPLOAD,
    "Image": IMAGE,
    "SendWindow": SEND_WINDOW,
    "Recurrence": RECURRENCE,
    "CampaignCreate": CAMPAIGN_CREATE,
    "AbTestSettings": AB_TEST_SETTINGS,
    "VariantInput": VARIANT_INPUT,
    "Variant": VARIANT,
    "CampaignVariants": CAMPAIGN_VARIANTS,
    "CampaignPatch": CAMPAIGN_PATCH,
    "CampaignRun": CAMPAIGN_RUN,
    "Campaign": CAMPAIGN,
    "CampaignSummary": CAMPAIGN_SUMMARY,
    "CampaignStats": CAMPAIGN_STATS,
    "CampaignSending": CAMPAIGN_SENDING,
    "CampaignSchedule": CAMPAIGN_SCHEDULE,
    "ResendResult": RESEND_RESULT,
    "Recipient": RECIPIENT,
    "MessageCreate": MESSAGE_CREATE,
    "Message": MESSAGE,
    "MessageSummary": MESSAGE_SUMMARY,
}

# Query parameters -----------------------------------------------------------------------------------

PAGE = integer("Page number, from 1.", minimum=1, maximum=10_000_000) | {"default": 1}
PER_PAGE = integer("Items per page.", minimum=1, maximum=200) | {"default": 50}

# Outbound webhooks ---------------------------------------------------------------------------------

_WEBHOOK_EVENT_TYPES = {
    "type": ["array", "null"],
    "items": {"enum": list(EVENT_TYPES)},
    "minItems": 1,
    "maxItems": len(EVENT_TYPES),
    "description": "The event types this endpoint receives; null (the default) for every type, including new ones.",
}
_WEBHOOK_INPUT = {
    "url": text(2000, "http:// or https://, without credentials; it receives signed JSON POSTs.", min_length=1),
    "description": text(200, nullable=True),
    "event_types": _WEBHOOK_EVENT_TYPES,
}
_WEBHOOK_ENDPOINT_FIELDS = {
    "id": ID,
    "url": {"type": "string"},
    "description": {"type": ["string", "null"]},
    "event_types": {"type": ["array", "null"], "items": {"type": "string"}, "description": "null: every type."},
    "is_active": {"type": "boolean", "description": "A disabled endpoint receives nothing; its queue fails."},
    "created_at": TIMESTAMP,
    "last_success_at": MAYBE_TIMESTAMP,
    "last_failure_at": MAYBE_TIMESTAMP,
    "consecutive_failures": COUNT,
}
SCHEMAS.update(
    {
        "WebhookEndpointCreate": obj(_WEBHOOK_INPUT, required=("url",)),
        "WebhookEndpointUpdate": obj(
            {**_WEBHOOK_INPUT, "is_active": {"type": "boolean"}},
            minProperties=1,
            description="The fields given change; the others keep their value.",
        ),
        "WebhookEndpoint": response(_WEBHOOK_ENDPOINT_FIELDS),
        "WebhookEndpointCreated": response(
            {
                **_WEBHOOK_ENDPOINT_FIELDS,
                "secret": {
                    "type": "string",
                    "description": "The signing secret (whsec_...), answered only here: keep it to verify "
                    "X-Herald-Signature.",
                },
            }
        ),
        "WebhookDelivery": response(
            {
                "id": ID,
                "endpoint_id": ID,
                "event_id": {"type": ["integer", "null"], "description": "null for a test event."},
                "event_type": {"type": "string"},
                "status": {"enum": list(DELIVERY_STATUSES)},
                "attempts": COUNT,
                "next_attempt_at": MAYBE_TIMESTAMP | {"description": "When it is tried next (pending, retrying)."},
                "response_code": {"type": ["integer", "null"]},
                "response_body": {"type": ["string", "null"], "description": "The first 1 KB of the answer."},
                "error": {"type": ["string", "null"]},
                "duration_ms": {"type": ["integer", "null"]},
                "created_at": TIMESTAMP,
                "delivered_at": MAYBE_TIMESTAMP,
                "payload": {"type": "object", "description": "The JSON body sent."},
                "history": {
                    "type": "array",
                    "description": "Every attempt, oldest first (the last 10).",
                    "items": {
                        "type": "object",
                        "properties": {
                            "at": TIMESTAMP,
                            "code": {"type": ["integer", "null"], "description": "null: no answer."},
                            "error": {"type": ["string", "null"]},
                            "ms": {"type": ["integer", "null"]},
                            "delivered": {"type": "boolean"},
                        },
                    },
                },
            }
        ),
    }
)
