"""The audit log: who did what and when (sends, deletes, exports, erasures, settings, roles, overrides).

A service that changes something worth auditing calls `record` in the same transaction, so an
entry exists exactly when the change does. The actor is whoever the request acts as: the
signed-in user, or the API key (API keys have no person behind them, so their name is kept).
"""

from dataclasses import dataclass

from flask import g, has_request_context, request
from flask_login import current_user

from app.extensions import db
from app.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    label: str  # the user's email, "API key 'name'", or "system"
    user_id: int | None = None
    api_key_id: int | None = None
    ip: str | None = None


SYSTEM = Actor("system")


def current_actor() -> Actor:
    """Who the current request acts as; outside a request (jobs, the CLI), the system."""
    if not has_request_context():
        return SYSTEM
    ip = request.remote_addr
    if getattr(g, "api_key_id", None) is not None:
        return Actor(f"API key '{g.api_key_name}'", api_key_id=g.api_key_id, ip=ip)
    if current_user and current_user.is_authenticated:
        return Actor(current_user.email, user_id=current_user.id, ip=ip)
    return Actor("anonymous", ip=ip)


def record(
    workspace_id: int,
    action: str,
    subject_type: str | None = None,
    subject_id: int | None = None,
    detail: dict | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """Add one entry (flushed with the caller's transaction). `action` is `<thing>.<verb>`,
    e.g. `campaign.send`, `subscriber.erase`, `member.role`."""
    who = actor or current_actor()
    entry = AuditEntry(
        workspace_id=workspace_id,
        user_id=who.user_id,
        api_key_id=who.api_key_id,
        actor=who.label[:320],
        action=action[:60],
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or None,
        ip=who.ip,
    )
    db.session.add(entry)
    db.session.flush()
    return entry
