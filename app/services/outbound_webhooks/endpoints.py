"""Endpoints: a workspace's webhook URLs, the event types each subscribes to, and their signing secrets."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app.event_types import EVENT_TYPES
from app.extensions import db
from app.models import WebhookEndpoint
from app.providers.netguard import host_refusal
from app.services.crypto import decrypt_json, encrypt_json
from app.services.errors import NotFound, ValidationError
from app.services.outbound_webhooks.shared import deliveries_table
from app.services.platform import audit

SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION = 200
MAX_ENDPOINTS = 20  # per workspace: each one multiplies every event by one delivery
_UNSET = object()


def clean_url(url) -> str:
    """The endpoint URL, or ValidationError naming `url`: http(s), a host, no credentials, ≤ 2000 chars."""

    def bad(message: str):
        return ValidationError(f"The URL is not usable: {message}", {"url": message})

    if not isinstance(url, str) or not url.strip():
        raise bad("Give the URL that should receive the events, e.g. https://example.com/herald-events.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise bad(f"At most {MAX_URL_LENGTH:,} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad("A URL contains no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        raise bad("This is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("Only http:// and https:// URLs can receive webhooks.")
    if parts.username is not None or parts.password is not None:
        raise bad("Leave credentials out of the URL: verify the X-Herald-Signature header instead.")
    if not parts.hostname:
        raise bad("The URL needs a host name, e.g. https://example.com/hooks.")
    if port == 0:
        raise bad("The port must be a number from 1 to 65535.")
    refusal = host_refusal(parts.hostname)
    if refusal:
        raise bad(refusal)
    return url


def clean_event_types(event_types) -> list[str] | None:
    """None (every type, including types added later) or a non-empty subset of EVENT_TYPES, in their order."""
    if event_types is None:
        return None
    if isinstance(event_types, str) or not isinstance(event_types, (list, tuple, set)):
        raise ValidationError("Event types are a list of event types, or null for all.", {"event_types": "A list."})
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        message = f"Unknown event type {str(unknown[0])[:40]!r}; choose from: {', '.join(EVENT_TYPES)}."
        raise ValidationError(message, {"event_types": message})
    if not event_types:
        message = "Choose at least one event type, or all of them."
        raise ValidationError(message, {"event_types": message})
    chosen = set(event_types)
    return [t for t in EVENT_TYPES if t in chosen]


def _clean_description(description) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise ValidationError("The description is text.", {"description": "Text."})
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION:
        message = f"At most {MAX_DESCRIPTION} characters."
        raise ValidationError(message, {"description": message})
    return description or None


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_endpoint(
    workspace_id: int, url: str, description: str | None = None, event_types: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register a URL; answers the endpoint and its signing secret (stored encrypted)."""
    clean = clean_url(url)
    description = _clean_description(description)
    types = clean_event_types(event_types)
    count = db.session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
    )
    if count >= MAX_ENDPOINTS:
        raise ValidationError(
            f"A workspace has at most {MAX_ENDPOINTS} webhook endpoints: delete one you no longer use.",
            {"url": "Too many endpoints."},
        )
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        url=clean,
        description=description,
        event_types=types,
        secret_encrypted=encrypt_json({"secret": secret}),
        is_active=True,
        consecutive_failures=0,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(workspace_id, "webhook_endpoint.create", "webhook_endpoint", endpoint.id, {"url": clean})
    return endpoint, secret


def get_endpoint(workspace_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.workspace_id == workspace_id)
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def list_endpoints(workspace_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id).order_by(WebhookEndpoint.id)
        )
    )


def reveal_secret(workspace_id: int, endpoint_id: int) -> str:
    return secret_of(get_endpoint(workspace_id, endpoint_id))


def rotate_secret(workspace_id: int, endpoint_id: int) -> str:
    """A new signing secret; the old one stops being used at once (deliveries are signed when sent)."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    secret = _new_secret()
    endpoint.secret_encrypted = encrypt_json({"secret": secret})
    db.session.flush()
    return secret


def update_endpoint(
    workspace_id: int,
    endpoint_id: int,
    *,
    url=_UNSET,
    description=_UNSET,
    event_types=_UNSET,
    is_active=_UNSET,
) -> WebhookEndpoint:
    """Change the fields given; the others keep their value."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    if url is not _UNSET:
        endpoint.url = clean_url(url)
    if description is not _UNSET:
        endpoint.description = _clean_description(description)
    if event_types is not _UNSET:
        endpoint.event_types = clean_event_types(event_types)
    if is_active is not _UNSET:
        if not isinstance(is_active, bool):
            raise ValidationError("is_active is true or false.", {"is_active": "true or false."})
        if is_active and not endpoint.is_active:
            endpoint.consecutive_failures = 0  # a fresh start: the streak described the old outage
        endpoint.is_active = is_active
    db.session.flush()
    return endpoint


def delete_endpoint(workspace_id: int, endpoint_id: int) -> None:
    """The endpoint and its delivery log go (deleted here rather than left to the foreign key's cascade,
    which SQLite applies only with its foreign_keys pragma on)."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    audit.record(workspace_id, "webhook_endpoint.delete", "webhook_endpoint", endpoint.id, {"url": endpoint.url})
    db.session.execute(deliveries_table.delete().where(deliveries_table.c.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def secret_of(endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, decrypted."""
    return decrypt_json(endpoint.secret_encrypted)["secret"]
