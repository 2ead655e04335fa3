"""Sending providers: configuration, credentials at rest, health checks, transports."""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models import Provider
from app.providers import TransportUnavailable
from app.providers.smtp import SMTPSettings, SMTPTransport
from app.services.crypto import decrypt_json, encrypt_json
from app.services.errors import NotFound, ValidationError
from app.services.tokens import make_token

CREATABLE_TYPES = ("smtp",)
TLS_MODES = {False: False, "false": False, "none": False, "": False, "starttls": "starttls", "ssl": "ssl"}


def _clean_smtp(settings: dict, credentials: dict) -> tuple[dict, dict]:
    errors = {}
    host = str(settings.get("host") or "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        errors["settings.host"] = "Give the SMTP server's host name."
    try:
        port = int(settings.get("port") or 0)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError):
        errors["settings.port"] = "The port is a number between 1 and 65535 (587 for STARTTLS, 465 for TLS)."
        port = None
    tls = settings.get("use_tls", False)
    if isinstance(tls, str):
        tls = tls.lower()
    if tls not in TLS_MODES:
        errors["settings.use_tls"] = "TLS mode is one of: none (false), starttls, ssl."
    username = (credentials or {}).get("username") or None
    password = (credentials or {}).get("password") or None
    if password and not username:
        errors["credentials.username"] = "A password needs a username."
    if errors:
        raise ValidationError("Please correct the SMTP settings.", errors)
    return {"host": host, "port": port, "use_tls": TLS_MODES[tls]}, {"username": username, "password": password}


def _check_limits(per_second, per_day) -> None:
    for field, value in (("max_sends_per_second", per_second), ("max_sends_per_day", per_day)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**9):
            raise ValidationError(f"{field} is a whole number from 1 to 1,000,000,000.", {field: "Out of range."})


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
) -> Provider:
    """Add a provider; its credentials are stored encrypted and never shown again."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the provider a name.", {"name": "Required."})
    if provider_type not in CREATABLE_TYPES:
        raise ValidationError(
            f"Provider type '{provider_type}' is not available; choose one of: {', '.join(CREATABLE_TYPES)}.",
            {"provider_type": "Unsupported."},
        )
    if not isinstance(settings or {}, dict) or not isinstance(credentials or {}, dict):
        raise ValidationError("settings and credentials are objects.")
    clean_settings, clean_creds = _clean_smtp(settings or {}, credentials or {})
    _check_limits(max_sends_per_second, max_sends_per_day)
    provider = Provider(
        workspace_id=workspace_id,
        name=name[:200],
        provider_type=provider_type,
        settings=clean_settings,
        credentials_encrypted=encrypt_json(clean_creds),
        is_default=False,
        priority=priority,
        max_sends_per_second=max_sends_per_second,
        max_sends_per_day=max_sends_per_day,
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
) -> Provider:
    """Change a provider; credentials left empty keep the stored ones."""
    provider = get_provider(workspace_id, provider_id)
    if provider.provider_type == "outbox":
        raise ValidationError("The development outbox has nothing to configure.")
    stored = decrypt_json(provider.credentials_encrypted)
    merged = {
        "username": (credentials or {}).get("username") or stored.get("username"),
        "password": (credentials or {}).get("password") or stored.get("password"),
    }
    clean_settings, clean_creds = _clean_smtp(settings or {}, merged)
    _check_limits(max_sends_per_second, max_sends_per_day)
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the provider a name.", {"name": "Required."})
    provider.name = name[:200]
    provider.settings = clean_settings
    provider.credentials_encrypted = encrypt_json(clean_creds)
    provider.max_sends_per_second = max_sends_per_second
    provider.max_sends_per_day = max_sends_per_day
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
    """What may be shown about stored credentials: whether they exist, never their values."""
    creds = decrypt_json(provider.credentials_encrypted)
    return {"username": creds.get("username"), "password_set": bool(creds.get("password"))}


def transport_for(provider: Provider) -> tuple[SMTPTransport, dict]:
    """A transport for the provider and the headers it adds to each message."""
    cfg = current_app.config
    if provider.provider_type == "outbox":
        # The catcher files each message under its workspace by this signed header.
        headers = {"X-Herald-Outbox": make_token("outbox", provider.workspace_id)}
        return SMTPTransport(SMTPSettings(cfg["MAILCATCHER_HOST"], cfg["MAILCATCHER_PORT"], timeout=10)), headers
    creds = decrypt_json(provider.credentials_encrypted)
    s = provider.settings or {}
    return SMTPTransport(
        SMTPSettings(s["host"], int(s["port"]), s.get("use_tls") or False, creds.get("username"), creds.get("password"))
    ), {}


def test_provider(workspace_id: int, provider_id: int) -> Provider:
    """Connect and authenticate for real; the outcome is recorded on the provider."""
    provider = get_provider(workspace_id, provider_id)
    transport, _ = transport_for(provider)
    provider.last_check_at = datetime.now(timezone.utc)
    try:
        transport.check()
    except TransportUnavailable as exc:
        provider.last_check_status = "failed"
        provider.last_error = str(exc)[:2000]
    else:
        provider.last_check_status = "ok"
        provider.last_error = None
    db.session.flush()
    return provider
