"""Sending providers: configuration, credentials at rest, health checks, transports.

What a provider type is (its label and form, its checks, its transport, its webhooks) is its
module's spec, collected in app/providers/registry.py; pages and the API read the specs here.
"""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models import DedicatedIP, Provider
from app.providers import TransportUnavailable, registry
from app.providers.spec import InvalidSettings, ProviderSpec, TransportOptions
from app.redis_client import get_redis
from app.services.crypto import decrypt_json, encrypt_json
from app.services.delivery import outbox, ratelimit
from app.services.errors import NotFound, ValidationError
from app.services.platform import audit

SPECS = registry.PROVIDERS  # every type's spec, in the order pages and the API list them
DEFAULT_TYPE = registry.DEFAULT_TYPE  # what a provider form posted without a type means
CREATABLE_TYPES = tuple(t for t, spec in SPECS.items() if spec.creatable)
# The development mail catcher: delivers nothing, so it is no real provider, never probed nor a fallback.
DEVELOPMENT_TYPES = tuple(t for t, spec in SPECS.items() if spec.development)
# Email goes only through these: an SMS provider (Twilio) is never a default, a route, a pool's or an IP's.
EMAIL_TYPES = tuple(t for t, spec in SPECS.items() if spec.channel == "email")
SMS_TYPES = tuple(t for t, spec in SPECS.items() if spec.channel == "sms")
TYPE_LABELS = {t: spec.label for t, spec in SPECS.items()}
# Credentials that may be shown again (user names); every other one is a secret, never sent back.
SHOWN_CREDENTIALS = tuple(dict.fromkeys(name for spec in SPECS.values() for name in spec.shown_credentials))
SECRET_CREDENTIALS = frozenset(
    f.name for spec in SPECS.values() for f in spec.credential_fields if f.name not in SHOWN_CREDENTIALS
)
FIELD_NAMES = frozenset(f.name for spec in SPECS.values() for f in spec.fields)  # every type's form inputs


def spec_of(provider: Provider) -> ProviderSpec:
    """The provider's type, as its module declares it."""
    return registry.provider_spec(provider.provider_type)


def is_development(provider: Provider) -> bool:
    """The development outbox (delivers nothing) rather than a real provider."""
    return provider.provider_type in DEVELOPMENT_TYPES


def _check_limits(per_second, per_day) -> None:
    for field, value in (("max_sends_per_second", per_second), ("max_sends_per_day", per_day)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**9):
            raise ValidationError(f"{field} is a whole number from 1 to 1,000,000,000.", {field: "Out of range."})


def _clean(provider_type: str, settings, credentials) -> tuple[dict, dict]:
    if not isinstance(settings or {}, dict) or not isinstance(credentials or {}, dict):
        raise ValidationError("settings and credentials are objects.", {"settings": "An object."})
    try:
        return registry.provider_spec(provider_type).clean(settings or {}, credentials or {})
    except InvalidSettings as exc:
        raise ValidationError(exc.message, exc.fields) from None


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
    if is_default and (refusal := not_email(provider)):
        raise refusal
    db.session.add(provider)
    db.session.flush()
    if is_default:
        make_default(workspace_id, provider.id)
    audit.record(workspace_id, "provider.create", "provider", provider.id, {"name": name, "type": provider_type})
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
    spec = spec_of(provider)
    if spec.development:
        raise ValidationError("The development outbox has nothing to configure.")
    if not isinstance(credentials or {}, dict):
        raise ValidationError("credentials is an object.", {"credentials": "An object."})
    stored = decrypt_json(provider.credentials_encrypted)
    merged = {f.name: (credentials or {}).get(f.name) or stored.get(f.name) for f in spec.credential_fields}
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


def create_development_outbox(workspace_id: int) -> Provider:
    """A new workspace's first provider, and its default: the development outbox, which delivers nothing."""
    spec = SPECS[DEVELOPMENT_TYPES[0]]  # there is one: the outbox
    provider = Provider(
        workspace_id=workspace_id,
        name=spec.label,
        provider_type=spec.type,
        settings={},
        is_default=True,
        priority=1000,
    )
    db.session.add(provider)
    return provider


def has_development_outbox(workspace_id: int) -> bool:
    """Whether the workspace still has its development outbox (the navigation then shows the Outbox)."""
    return bool(
        db.session.scalar(
            select(Provider.id)
            .where(Provider.workspace_id == workspace_id, Provider.provider_type.in_(DEVELOPMENT_TYPES))
            .limit(1)
        )
    )


def not_email(provider: Provider) -> ValidationError | None:
    """Why the provider cannot carry email (an SMS provider), as the error to raise; None when it can."""
    spec = spec_of(provider)
    if spec.channel == "email":
        return None
    name = spec.label.partition(" (")[0]  # "Twilio (SMS)" -> "Twilio"
    why = f"A {name} provider sends texts, not email."
    return ValidationError(why, {"provider_id": why})


def make_default(workspace_id: int, provider_id: int) -> None:
    """Make it the provider email goes through unless a campaign names another; an SMS provider is refused."""
    if refusal := not_email(get_provider(workspace_id, provider_id)):
        raise refusal
    db.session.execute(
        update(Provider).where(Provider.workspace_id == workspace_id).values(is_default=(Provider.id == provider_id))
    )
    db.session.flush()


def get_provider(workspace_id: int, provider_id: int) -> Provider:
    p = db.session.scalar(select(Provider).where(Provider.id == provider_id, Provider.workspace_id == workspace_id))
    if p is None:
        raise NotFound("No such provider.")
    return p


def get_email_provider(workspace_id: int, provider_id: int) -> Provider:
    """A provider named to carry email: NotFound outside the workspace, ValidationError for an SMS provider."""
    provider = get_provider(workspace_id, provider_id)
    if refusal := not_email(provider):
        raise refusal
    return provider


def list_providers(workspace_id: int, channel: str | None = None) -> list[Provider]:
    """The workspace's providers, the default first, then by priority: every one (the Providers page and
    API), or those of one channel ("email", "sms")."""
    query = select(Provider).where(Provider.workspace_id == workspace_id)
    if channel is not None:
        query = query.where(Provider.provider_type.in_([t for t, spec in SPECS.items() if spec.channel == channel]))
    return list(db.session.scalars(query.order_by(Provider.is_default.desc(), Provider.priority, Provider.id)))


def email_providers(workspace_id: int) -> list[Provider]:
    """The providers email may go through (routing, pools, IPs): never an SMS provider."""
    return list_providers(workspace_id, "email")


def sms_providers(workspace_id: int) -> list[Provider]:
    """The workspace's SMS providers (Twilio), by priority."""
    return list_providers(workspace_id, "sms")


def default_provider(workspace_id: int) -> Provider | None:
    """The provider email goes through when nothing names another: the default, else the first by priority;
    an SMS provider never, whatever its priority."""
    return db.session.scalar(
        select(Provider)
        .where(Provider.workspace_id == workspace_id, Provider.provider_type.in_(EMAIL_TYPES))
        .order_by(Provider.is_default.desc(), Provider.priority, Provider.id)
        .limit(1)
    )


def credentials_summary(provider: Provider) -> dict:
    """What may be shown about stored credentials: which are set, and the user names; never a secret."""
    creds = decrypt_json(provider.credentials_encrypted)
    spec = SPECS.get(provider.provider_type)
    out = {f"{f.name}_set": bool(creds.get(f.name)) for f in (spec.credential_fields if spec else ())}
    for f in SHOWN_CREDENTIALS:
        if creds.get(f):
            out[f] = creds[f]
    out["password_set"] = bool(creds.get("password"))  # the SMTP form's wording
    out.setdefault("username", creds.get("username"))
    return out


def webhook_url(provider: Provider) -> str | None:
    """The URL to paste into the provider's event webhook settings (None for SMTP: it uses VERP)."""
    spec = SPECS.get(provider.provider_type)
    if spec is None or not spec.supports_webhooks:
        return None
    return f"{current_app.config['BASE_URL'].rstrip('/')}/webhooks/{provider.provider_type}/{provider.id}"


def sent_today(provider: Provider) -> int:
    """Messages handed to the provider since midnight UTC (the daily quota's count)."""
    try:
        return ratelimit.sent_today(get_redis(), provider.id)
    except Exception:
        return 0


def bound_address(provider: Provider) -> str | None:
    """The dedicated IP bound to the provider (app.services.delivery.ips keeps it to one), if any."""
    return db.session.scalar(
        select(DedicatedIP.ip_address).where(DedicatedIP.provider_id == provider.id).order_by(DedicatedIP.id).limit(1)
    )


def bound_pool(provider: Provider) -> str | None:
    """The IP pool name of the dedicated IP bound to an API provider, if any."""
    return db.session.scalar(
        select(DedicatedIP.pool_name)
        .where(DedicatedIP.provider_id == provider.id, DedicatedIP.pool_name.is_not(None))
        .order_by(DedicatedIP.id)
        .limit(1)
    )


def transport_for(provider: Provider):
    """A transport for the provider and the headers it adds to each message.

    Every transport has check() and close(); an email provider's has send(mail_from, rcpt, raw, ref=None)
    -> SendResult, an SMS provider's send_sms(to, body, sender, status_callback) -> SmsResult.
    """
    spec, cfg = spec_of(provider), current_app.config
    options = TransportOptions(
        sandbox=provider.sandbox_mode,
        tracking=provider.provider_tracking,
        timeout=float(cfg.get("PROVIDER_HTTP_TIMEOUT", 15.0)),
        answer_hosts=tuple(cfg.get("PROVIDER_ANSWER_HOSTS") or ()),
        catcher_host=cfg["MAILCATCHER_HOST"],
        catcher_port=cfg["MAILCATCHER_PORT"],
        source_address=bound_address(provider) if spec.binds_source_address else None,
        ip_pool=bound_pool(provider) if spec.ip_pools else None,
    )
    if spec.development:
        # The catcher files each message under its workspace by this signed header.
        return spec.make_transport({}, {}, options), outbox.catcher_headers(provider.workspace_id)
    creds = decrypt_json(provider.credentials_encrypted)
    return spec.make_transport(provider.settings or {}, creds, options), {}


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
    real = Provider.provider_type.not_in(DEVELOPMENT_TYPES)
    ids = list(db.session.scalars(select(Provider.id).where(real).order_by(Provider.id)))
    for pid in ids:
        provider = db.session.get(Provider, pid)
        if provider is None:
            continue
        check(provider)
        counts["ok" if provider.last_check_status == "ok" else "failed"] += 1
        db.session.commit()
    return counts
