"""Subscribers, one at a time and imported in bulk (JSON rows or a CSV upload)."""

from app.blueprints.api.schemas.common import (
    COUNT,
    ID,
    ID_LIST,
    MAYBE_TIMESTAMP,
    TIMESTAMP,
    integer,
    obj,
    ref,
    response,
    text,
)
from app.models.audience import SUBSCRIBER_SOURCES, SUBSCRIBER_STATUSES
from app.models.sms import SMS_STATUSES

MAX_IMPORT_ROWS = 50_000

ATTRIBUTES = {
    "type": ["object", "null"],
    "maxProperties": 200,
    "description": 'Your own fields, e.g. {"plan": "gold"}; used in templates as subscriber.attributes.',
}

TAGS = {
    "type": "array",
    "maxItems": 100,
    "items": {"type": "string", "maxLength": 100},
    "description": 'Tags, e.g. ["vip", "spring fair"]: stored trimmed and lower-cased (at most 100 characters '
    "each, no control characters).",
}
CONSENT = {
    "type": ["object", "null"],
    "additionalProperties": True,
    "description": 'How they agreed to be mailed: {"at", "ip", "method": form|referral|double opt-in|import|api|'
    'dashboard, "form_id"? (a signup form\'s), "program_id"? (a referral program\'s landing page)}; after a '
    'confirmed double opt-in also "signed_up_at" and "signup_ip".',
}

PHONE_INPUT = text(
    40,
    "Their mobile number in any usual form, e.g. +44 7911 123456 or (415) 555-0123; without a country code it "
    "is read as the workspace's default country's (SMS settings). Stored in E.164; an invalid number answers 422 "
    "naming phone. Empty or null takes it away (and their consent with it); a new number starts without consent.",
    nullable=True,
)
SMS_STATUS_INPUT = {
    "enum": list(SMS_STATUSES),
    "description": "subscribed: they agreed to texts (recorded with method api; needs a phone; a number that "
    "replied STOP answers 409); opted_out: stop texting them (their number joins the opted-out numbers); none.",
}
SMS_CONSENT = {
    "type": ["object", "null"],
    "additionalProperties": True,
    "description": 'How they agreed to texts: {"at", "method": api|dashboard|import|keyword|…, "ip"}.',
}

SUBSCRIBER_CREATE = obj(
    {
        "email": text(320, min_length=1),
        "name": text(200, nullable=True),
        "attributes": ATTRIBUTES,
        "list_ids": ID_LIST,
        "timezone": text(64, "An IANA name, e.g. Europe/Berlin.", nullable=True),
        "tags": TAGS,
        "phone": PHONE_INPUT,
        "sms_status": SMS_STATUS_INPUT,
    },
    required=("email",),
    description="A new subscriber (source `api`). On a list that requires double opt-in they are `pending` and get "
    "the confirmation email; otherwise `active`.",
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
    "tags": {"type": "array", "items": {"type": "string"}, "description": "Sorted."},
    "source": {
        "enum": [*SUBSCRIBER_SOURCES, None],
        "description": "Where they came from (null: before Herald kept it).",
    },
    "consent": CONSENT,
    "confirmed_at": {**MAYBE_TIMESTAMP, "description": "When they confirmed a double opt-in."},
    "phone": {"type": ["string", "null"], "description": "Their mobile number in E.164, e.g. +14155550123."},
    "sms_status": {
        "enum": list(SMS_STATUSES),
        "description": "Texts: subscribed (they agreed), opted_out (they or their number said stop) or none.",
    },
    "sms_consent": SMS_CONSENT,
}
SUBSCRIBER_SUMMARY = response(_SUBSCRIBER_FIELDS)
SUBSCRIBER = response(
    {
        **_SUBSCRIBER_FIELDS,
        "lists": {"type": "array", "items": ID, "description": "Ids of the lists they are on."},
        "preferences": ref("Preferences"),
    }
)

IMPORT_ROW = obj(
    {
        "email": text(320),
        "name": text(200, nullable=True),
        "attributes": ATTRIBUTES,
        "timezone": text(
            64, "An IANA name, e.g. Europe/Berlin; another value is left out and reported.", nullable=True
        ),
        "tags": {
            "type": ["array", "string"],
            "items": {"type": "string"},
            "description": "Tags (a list, or text separated by commas or semicolons); they add to those the person "
            "has. A tag that cannot be stored is left out and reported.",
        },
        "phone": text(
            200,
            "Their mobile number in any usual form (the workspace's default country when it has no country code); "
            "an invalid one is left out and reported, and a new number starts without consent.",
            nullable=True,
        ),
        "sms_consent": {
            "type": ["string", "boolean", "integer", "null"],
            "description": "Whether they agreed to texts: yes, true, 1 or subscribed records their consent (method "
            "import) when they have a number; a number that replied STOP stays opted out, and says so.",
        },
    },
    required=("email",),
    description="One person to create, or to update (name, timezone and attributes; tags add up). Imported people "
    "are taken as already consented: they are `active` at once, with no confirmation email, even on a double "
    "opt-in list.",
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
            "guessed: email, name, First Name/Last Name, timezone, tags, phone (phone, Phone Number, mobile, cell, "
            "SMS…) and sms_consent (sms_opt_in, SMS subscribed…) as Mailchimp, listmonk, Mautic, Klaviyo and "
            "Brevo export them; any other column becomes an attribute. "
            "Rows count like a spreadsheet: the first data row is row 2.",
        },
        "list_ids": {"type": "string", "description": "Comma-separated list ids, e.g. 3,7."},
        "mapping": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON object naming, for each column to import, what it becomes: email, name, "
            "first_name, last_name (together the name, and attributes), timezone, tags (added to the person's tags), "
            "phone, sms_consent (yes/no: agreed to texts), "
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

SCHEMAS: dict[str, dict] = {
    "SubscriberCreate": SUBSCRIBER_CREATE,
    "Subscriber": SUBSCRIBER,
    "SubscriberSummary": SUBSCRIBER_SUMMARY,
    "ImportRow": IMPORT_ROW,
    "ImportRequest": IMPORT_REQUEST,
    "ImportUpload": IMPORT_UPLOAD,
    "ImportSummary": IMPORT_SUMMARY,
}
