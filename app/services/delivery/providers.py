"""Sending providers: configuration, credentials at rest, health checks, transports."""

import importlib
import re
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models import Provider
from app.providers import TransportUnavailable, sendgrid
from app.providers.netguard import base_url_problem, host_refusal
from app.providers.smtp import SMTPSettings, SMTPTransport
from app.redis_client import get_redis
from app.services.crypto import decrypt_json, encrypt_json
from app.services.delivery import ratelimit
from app.services.errors import NotFound, ValidationError
from app.services.tokens import make_token

CREATABLE_TYPES = ("smtp", "ses", "sendgrid", "mailgun", "postmark")
TYPE_LABELS = {
    "smtp": "SMTP",
    "ses": "Amazon SES",
    "sendgrid": "SendGrid",
    "mailgun": "Mailgun",
    "postmark": "Postmark",
    "outbox": "Development outbox",
}
TLS_MODES = {False: False, "false": False, "none": False, "": False, "starttls": "starttls", "ssl": "ssl"}
# Which credential fields each type keeps (all encrypted; the *_username ones may be shown).
CREDENTIAL_FIELDS = {
    "smtp": ("username", "password"),
    "ses": ("access_key_id", "secret_access_key"),
    "sendgrid": ("api_key",),
    "mailgun": ("api_key", "webhook_signing_key"),
    "postmark": ("server_token", "webhook_username", "webhook_password"),
}
SHOWN_CREDENTIALS = ("username", "webhook_username", "access_key_id")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
_TOPIC_ARN = re.compile(r"^arn:aws(?:-[a-z]+)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


def _text(value, limit: int = 500) -> str:
    return str(value or "").strip()[:limit] if not isinstance(value, (dict, list)) else ""


def _url(errors: dict, field: str, value) -> str | None:
    """An optional API base URL (a regional endpoint, or a server on this machine), without a trailing
    slash: https, no credentials, query or fragment, and never a link-local or metadata address (netguard)."""
    if isinstance(value, str) and len(value.strip()) > 500:
        errors[field] = "At most 500 characters."
        return None
    raw = _text(value, 500)
    if not raw:
        return None
    problem = base_url_problem(raw)
    if problem:
        errors[field] = problem
        return None
    return raw.rstrip("/")


def _required(errors: dict, field: str, value, message: str) -> str:
    text = _text(value, 2000)
    if not text:
        errors[field] = message
    return text


def _clean_smtp(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors = {}
    host = str(settings.get("host") or "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        errors["settings.host"] = "Give the SMTP server's host name."
    elif refusal := host_refusal(host):
        errors["settings.host"] = refusal
    try:
        port = int(settings.get("port") or 0)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # 1e999 in JSON is infinity
        errors["settings.port"] = "The port is a number between 1 and 65535 (587 for STARTTLS, 465 for TLS)."
        port = None
    tls = settings.get("use_tls", False)
    if isinstance(tls, str):
        tls = tls.lower()
    if not isinstance(tls, (str, bool)) or tls not in TLS_MODES:
        errors["settings.use_tls"] = "TLS mode is one of: none (false), starttls, ssl."
        tls = False
    return_path = _text(settings.get("return_path_domain"), 253).lower() or None
    if return_path and not _HOST.match(return_path):
        errors["settings.return_path_domain"] = (
            "A domain name whose MX points at Herald's mailin, e.g. bounces.example.com."
        )
    username = (credentials or {}).get("username") or None
    password = (credentials or {}).get("password") or None
    if password and not username:
        errors["credentials.username"] = "A password needs a username."
    if errors:
        raise ValidationError("Please correct the SMTP settings.", errors)
    clean = {"host": host, "port": port, "use_tls": TLS_MODES[tls]}
    if return_path:
        clean["return_path_domain"] = return_path
    return clean, {"username": username, "password": password}


def _clean_ses(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors = {}
    region = _text(settings.get("region"), 40).lower()
    if not _REGION.match(region):
        errors["settings.region"] = "An AWS region, e.g. us-east-1 or eu-west-1."
    clean = {"region": region}
    if cs := _text(settings.get("configuration_set"), 64):
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", cs):
            errors["settings.configuration_set"] = "Letters, digits, _ and - (the SES configuration set's name)."
        clean["configuration_set"] = cs
    if url := _url(errors, "settings.endpoint_url", settings.get("endpoint_url")):
        clean["endpoint_url"] = url
    topics = settings.get("topic_arns") or []
    if isinstance(topics, str):
        topics = [t.strip() for t in re.split(r"[\s,]+", topics) if t.strip()]
    if not isinstance(topics, list) or not all(isinstance(t, str) and _TOPIC_ARN.match(t) for t in topics):
        errors["settings.topic_arns"] = "SNS topic ARNs, e.g. arn:aws:sns:us-east-1:123456789012:ses-events."
    elif topics:
        clean["topic_arns"] = topics[:20]
    creds = {
        "access_key_id": _required(errors, "credentials.access_key_id", credentials.get("access_key_id"), "Required."),
        "secret_access_key": _required(
            errors, "credentials.secret_access_key", credentials.get("secret_access_key"), "Required."
        ),
    }
    if errors:
        raise ValidationError("Please correct the Amazon SES settings.", errors)
    return clean, creds


def _clean_sendgrid(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors, clean = {}, {}
    if url := _url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    if key := _text(settings.get("webhook_public_key"), 4000):
        if sendgrid.public_key(key) is None:
            errors["settings.webhook_public_key"] = (
                "Paste the verification key SendGrid shows under Mail Settings → Signed Event Webhook."
            )
        clean["webhook_public_key"] = key
    creds = {"api_key": _required(errors, "credentials.api_key", credentials.get("api_key"), "Required.")}
    if errors:
        raise ValidationError("Please correct the SendGrid settings.", errors)
    return clean, creds


def _clean_mailgun(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors = {}
    domain = _text(settings.get("domain"), 253).lower()
    if not _HOST.match(domain or "-"):
        errors["settings.domain"] = "Your Mailgun sending domain, e.g. mg.example.com."
    clean = {"domain": domain}
    if url := _url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    creds = {
        "api_key": _required(errors, "credentials.api_key", credentials.get("api_key"), "Required."),
        "webhook_signing_key": _text(credentials.get("webhook_signing_key"), 500) or None,
    }
    if errors:
        raise ValidationError("Please correct the Mailgun settings.", errors)
    return clean, creds


def _clean_postmark(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors, clean = {}, {}
    if url := _url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    stream = _text(settings.get("message_stream"), 100) or "outbound"
    if not re.match(r"^[a-z0-9-]{1,100}$", stream):
        errors["settings.message_stream"] = "The message stream's ID, e.g. outbound or broadcast."
    clean["message_stream"] = stream
    creds = {
        "server_token": _required(errors, "credentials.server_token", credentials.get("server_token"), "Required."),
        "webhook_username": _text(credentials.get("webhook_username"), 200) or None,
        "webhook_password": _text(credentials.get("webhook_password"), 500) or None,
    }
    if bool(creds["webhook_username"]) != bool(creds["webhook_password"]):
        errors["credentials.webhook_password"] = "Give both the webhook username and password, or neither."
    if errors:
        raise ValidationError("Please correct the Postmark settings.", errors)
    return clean, creds


_CLEANERS = {
    "smtp": _clean_smtp,
    "ses": _clean_ses,
    "sendgrid": _clean_sendgrid,
    "mailgun": _clean_mailgun,
    "postmark": _clean_postmark,
}


def _check_limits(per_second, per_day) -> None:
    for field, value in (("max_sends_per_second", per_second), ("max_sends_per_day", per_day)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**9):
            raise ValidationError(f"{field} is a whole number from 1 to 1,000,000,000.", {field: "Out of range."})


def _clean(provider_type: str, settings, credentials) -> tuple[dict, dict]:
    if not isinstance(settings or {}, dict) or not isinstance(credentials or {}, dict):
        raise ValidationError("settings and credentials are objects.", {"settings": "An object."})
    return _CLEANERS[provider_type](settings or {}, credentials or {})


def _clean_all(name, provider_type: str, settings, credentials) -> tuple[str, dict, dict]:
    """The name, settings and credentials checked together, so one answer names every wrong field."""
    errors = {}
    name = " ".join(str(name or "").split())
    if not name:
        errors["name"] = "Required."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    try:
        clean_settings, clean_creds = _clean(provider_type, settings, credentials)
    except ValidationError as exc:
        errors.update(exc.fields or {"settings": exc.message})
        if len(errors) == 1 and "name" not in errors:
            raise
    if errors:
        raise ValidationError(
            errors["name"] if list(errors) == ["name"] else "Please correct the highlighted fields.", errors
        )
    return name, clean_settings, clean_creds


def _check_priority(priority) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 10_000:
        raise ValidationError(
            "priority is a whole number from 0 to 10,000 (lower goes first).", {"priority": "Out of range."}
        )
    return priority


def create_provider(
    workspace_id: int,
    name: str,
    provider_type: str,
    settings: dict | None,
    credentials: dict | None,
    is_default: bool = False,
    max_sends_per_second: int | None = None,
    max_sends_per_day: int | None = None,
    priority: int = 100,
    sandbox_mode: bool = False,
    provider_tracking: bool = False,
) -> Provider:
    """Add a provider; its credentials are stored encrypted and never shown again."""
    if provider_type not in CREATABLE_TYPES:
        raise ValidationError(
            f"Provider type '{str(provider_type)[:40]}' is not available; choose one of: {', '.join(CREATABLE_TYPES)}.",
            {"provider_type": "Unsupported."},
        )
    name, clean_settings, clean_creds = _clean_all(name, provider_type, settings, credentials)
    _check_limits(max_sends_per_second, max_sends_per_day)
    provider = Provider(
        workspace_id=workspace_id,
        name=name,
        provider_type=provider_type,
        settings=clean_settings,
        credentials_encrypted=encrypt_json(clean_creds),
        is_default=False,
        priority=_check_priority(priority),
        max_sends_per_second=max_sends_per_second,
        max_sends_per_day=max_sends_per_day,
        sandbox_mode=bool(sandbox_mode),
        provider_tracking=bool(provider_tracking),
    )
    db.session.add(provider)
    db.session.flush()
    if is_default:
        make_default(workspace_id, provider.id)
    return provider


def update_provider(
    workspace_id: int,
    provider_id: int,
    name: str,
    settings: dict,
    credentials: dict | None,
    max_sends_per_second=None,
    max_sends_per_day=None,
    priority: int | None = None,
    sandbox_mode: bool | None = None,
    provider_tracking: bool | None = None,
) -> Provider:
    """Change a provider; credentials left empty keep the stored ones."""
    provider = get_provider(workspace_id, provider_id)
    if provider.provider_type == "outbox":
        raise ValidationError("The development outbox has nothing to configure.")
    if not isinstance(credentials or {}, dict):
        raise ValidationError("credentials is an object.", {"credentials": "An object."})
    stored = decrypt_json(provider.credentials_encrypted)
    merged = {f: (credentials or {}).get(f) or stored.get(f) for f in CREDENTIAL_FIELDS[provider.provider_type]}
    name, clean_settings, clean_creds = _clean_all(name, provider.provider_type, settings, merged)
    _check_limits(max_sends_per_second, max_sends_per_day)
    provider.name = name
    provider.settings = clean_settings
    provider.credentials_encrypted = encrypt_json(clean_creds)
    provider.max_sends_per_second = max_sends_per_second
    provider.max_sends_per_day = max_sends_per_day
    if priority is not None:
        provider.priority = _check_priority(priority)
    if sandbox_mode is not None:
        provider.sandbox_mode = bool(sandbox_mode)
    if provider_tracking is not None:
        provider.provider_tracking = bool(provider_tracking)
    db.session.flush()
    return provider


def make_default(workspace_id: int, provider_id: int) -> None:
    get_provider(workspace_id, provider_id)
    db.session.execute(
        update(Provider).where(Provider.workspace_id == workspace_id).values(is_default=(Provider.id == provider_id))
    )
    db.session.flush()


def get_provider(workspace_id: int, provider_id: int) -> Provider:
    p = db.session.scalar(select(Provider).where(Provider.id == provider_id, Provider.workspace_id == workspace_id))
    if p is None:
        raise NotFound("No such provider.")
    return p


def list_providers(workspace_id: int) -> list[Provider]:
    return list(
        db.session.scalars(
            select(Provider)
            .where(Provider.workspace_id == workspace_id)
            .order_by(Provider.is_default.desc(), Provider.priority, Provider.id)
        )
    )


def default_provider(workspace_id: int) -> Provider | None:
    return db.session.scalar(
        select(Provider)
        .where(Provider.workspace_id == workspace_id)
        .order_by(Provider.is_default.desc(), Provider.priority, Provider.id)
        .limit(1)
    )


def credentials_summary(provider: Provider) -> dict:
    """What may be shown about stored credentials: which are set, and the user names; never a secret."""
    creds = decrypt_json(provider.credentials_encrypted)
    out = {f"{f}_set": bool(creds.get(f)) for f in CREDENTIAL_FIELDS.get(provider.provider_type, ())}
    for f in SHOWN_CREDENTIALS:
        if creds.get(f):
            out[f] = creds[f]
    out["password_set"] = bool(creds.get("password"))  # the SMTP form's wording
    out.setdefault("username", creds.get("username"))
    return out


def webhook_url(provider: Provider) -> str | None:
    """The URL to paste into the provider's event webhook settings (None for SMTP: it uses VERP)."""
    if provider.provider_type not in ("ses", "sendgrid", "mailgun", "postmark"):
        return None
    return f"{current_app.config['BASE_URL'].rstrip('/')}/webhooks/{provider.provider_type}/{provider.id}"


def sent_today(provider: Provider) -> int:
    """Messages handed to the provider since midnight UTC (the daily quota's count)."""
    try:
        return ratelimit.sent_today(get_redis(), provider.id)
    except Exception:
        return 0


def transport_for(provider: Provider):
    """A transport for the provider and the headers it adds to each message.

    Every transport has send(mail_from, rcpt, raw, ref=None) -> SendResult, check() and close().
    """
    cfg = current_app.config
    if provider.provider_type == "outbox":
        # The catcher files each message under its workspace by this signed header.
        headers = {"X-Herald-Outbox": make_token("outbox", provider.workspace_id)}
        return SMTPTransport(SMTPSettings(cfg["MAILCATCHER_HOST"], cfg["MAILCATCHER_PORT"], timeout=10)), headers
    creds = decrypt_json(provider.credentials_encrypted)
    s = provider.settings or {}
    if provider.provider_type == "smtp":
        return SMTPTransport(
            SMTPSettings(
                s["host"], int(s["port"]), s.get("use_tls") or False, creds.get("username"), creds.get("password")
            )
        ), {}
    module, cls = _HTTP_TRANSPORTS[provider.provider_type]
    transport_class = getattr(importlib.import_module(f"app.providers.{module}"), cls)
    timeout = float(cfg.get("PROVIDER_HTTP_TIMEOUT", 15.0))
    return transport_class(
        s,
        creds,
        sandbox=provider.sandbox_mode,
        tracking=provider.provider_tracking,
        timeout=timeout,
        answer_hosts=tuple(cfg.get("PROVIDER_ANSWER_HOSTS") or ()),
    ), {}


_HTTP_TRANSPORTS = {
    "ses": ("ses", "SESTransport"),
    "sendgrid": ("sendgrid", "SendGridTransport"),
    "mailgun": ("mailgun", "MailgunTransport"),
    "postmark": ("postmark", "PostmarkTransport"),
}


def check(provider: Provider) -> Provider:
    """Connect and authenticate for real; the outcome is recorded on the provider."""
    provider.last_check_at = datetime.now(timezone.utc)
    try:
        transport, _ = transport_for(provider)
        try:
            transport.check()
        finally:
            transport.close()
    except TransportUnavailable as exc:
        provider.last_check_status = "failed"
        provider.last_error = str(exc)[:2000]
    except Exception as exc:  # a provider library's surprise must read as a failed check, not a 500
        provider.last_check_status = "failed"
        current_app.logger.exception("provider check %s failed unexpectedly", provider.id)
        provider.last_error = f"The check failed on an unexpected error ({' '.join(str(exc).split())[:300]})."
    else:
        provider.last_check_status = "ok"
        provider.last_error = None
    db.session.flush()
    return provider


def test_provider(workspace_id: int, provider_id: int) -> Provider:
    """ "Test": the real check, for one of the workspace's providers."""
    return check(get_provider(workspace_id, provider_id))


def probe_all() -> dict:
    """The scheduled health probe: check every provider, committing each result as it comes."""
    counts = {"ok": 0, "failed": 0}
    ids = list(db.session.scalars(select(Provider.id).where(Provider.provider_type != "outbox").order_by(Provider.id)))
    for pid in ids:
        provider = db.session.get(Provider, pid)
        if provider is None:
            continue
        check(provider)
        counts["ok" if provider.last_check_status == "ok" else "failed"] += 1
        db.session.commit()
    return counts
