"""Providers: where email is handed off (SMTP, SES, SendGrid, Mailgun, Postmark), with their
settings and write-only credentials."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, integer, obj, ref, response, text
from app.services.delivery import providers
from app.services.ids import MAX_ID

# The types the API creates: the development mail catcher (outbox) is made by Herald itself.
PROVIDER_TYPES = providers.CREATABLE_TYPES
_CREATABLE = [providers.SPECS[t] for t in PROVIDER_TYPES]


def _field_schemas(fields) -> dict:
    """The JSON Schemas the specs give their fields, first one per name (types share names such as api_key)."""
    out = {}
    for f in fields:
        if f.schema is not None:
            out.setdefault(f.name, f.schema)
    return out


# One settings object for every type: only SMTP's fields carry a schema (hence its name), the text
# describes each type's.
SMTP_SETTINGS = obj(
    _field_schemas(f for spec in _CREATABLE for f in spec.settings_fields),
    additional=True,
    description=(
        "Settings by provider_type. "
        + " ".join(f"{spec.type}: {spec.settings_doc}." for spec in _CREATABLE)
        + " api_base_url and endpoint_url are https:// (http:// only "
        "to this machine) with no credentials, query or fragment; no host (SMTP host included) may be a "
        "link-local, cloud metadata, unspecified or multicast address, in any spelling."
    ),
)

PROVIDER_CREDENTIALS = obj(
    _field_schemas(f for spec in _CREATABLE for f in spec.credential_fields),
    description=(
        "Stored encrypted; never returned. "
        + "; ".join(f"{spec.type}: {spec.credentials_doc}" for spec in _CREATABLE)
        + ". On update, a field left out keeps its value."
    ),
)

PROVIDER_CREATE = obj(
    {
        "name": text(200, min_length=1),
        "provider_type": {"enum": list(PROVIDER_TYPES)},
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
            "description": f"{', '.join(PROVIDER_TYPES)}, or {' or '.join(providers.DEVELOPMENT_TYPES)} "
            "for the development mail catcher.",
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
            "description": "The URL to paste into the provider's event webhook settings (null for SMTP: VERP; "
            "and for Twilio, whose status and inbound callbacks have URLs of their own).",
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

SCHEMAS: dict[str, dict] = {
    "SmtpSettings": SMTP_SETTINGS,
    "ProviderCreate": PROVIDER_CREATE,
    "ProviderUpdate": PROVIDER_UPDATE,
    "ProviderCredentials": PROVIDER_CREDENTIALS,
    "Provider": PROVIDER,
    "ProviderCheck": PROVIDER_CHECK,
}
