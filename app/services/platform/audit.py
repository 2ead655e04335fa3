"""The audit log: who did what and when (sends, deletes, exports, erasures, settings, roles, overrides).

A service that changes something worth auditing calls `record` in the same transaction, so an
entry exists exactly when the change does. The actor is whoever the request acts as: the
signed-in user, or the API key (API keys have no person behind them, so their name is kept).

Reading: `find_entries` is the read model of the audit log page, the API and the CSV export
(filters by action, actor and a date range read in the workspace's timezone); it also says which
subjects still exist, so a page links only to those.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import (
    ApiKey,
    AuditEntry,
    Campaign,
    Invitation,
    MailingList,
    Membership,
    Provider,
    Segment,
    SendingDomain,
    SignupForm,
    Subscriber,
    Suppression,
    Template,
    WebhookEndpoint,
    Workspace,
)
from app.services.errors import ValidationError
from app.services.pagination import MAX_PAGE, MAX_PER_PAGE, paginate


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


# Reading ------------------------------------------------------------------------------------------

# What the log's actions mean, for the filter and the page (an action not listed shows as itself).
ACTIONS = {
    "campaign.send": "Campaign sent",
    "campaign.schedule": "Campaign scheduled",
    "campaign.cancel": "Campaign cancelled",
    "campaign.delete": "Campaign deleted",
    "template.delete": "Template deleted",
    "list.delete": "List deleted",
    "subscriber.delete": "Subscriber deleted",
    "subscriber.import": "Subscribers imported",
    "subscriber.export": "Subscriber exported",
    "subscriber.erase": "Subscriber erased",
    "subscriber.purge_unconfirmed": "Unconfirmed subscribers purged",
    "segment.delete": "Segment deleted",
    "segment.freeze": "Segment frozen into a list",
    "signup_form.delete": "Signup form deleted",
    "referral_program.archive": "Referral program archived",
    "suppression.add": "Suppression added",
    "suppression.remove": "Suppression removed",
    "suppression.import": "Suppressions imported",
    "suppression.export": "Suppressions exported",
    "api_key.create": "API key created",
    "api_key.revoke": "API key revoked",
    "provider.create": "Provider added",
    "provider.delete": "Provider deleted",
    "domain.delete": "Domain deleted",
    "webhook_endpoint.create": "Webhook endpoint added",
    "webhook_endpoint.delete": "Webhook endpoint deleted",
    "workspace.settings": "Workspace settings changed",
    "settings.unconfirmed_purge_days": "Unconfirmed purge changed",
    "member.invite": "Teammate invited",
    "member.join": "Teammate joined",
    "member.role": "Role changed",
    "member.remove": "Member removed",
    "invitation.revoke": "Invitation revoked",
}
# The model behind each kind of subject: a subject that still exists gets a link.
SUBJECT_MODELS = {
    "campaign": Campaign,
    "template": Template,
    "list": MailingList,
    "subscriber": Subscriber,
    "segment": Segment,
    "signup_form": SignupForm,
    "suppression": Suppression,
    "provider": Provider,
    "domain": SendingDomain,
    "webhook_endpoint": WebhookEndpoint,
    "api_key": ApiKey,
    "member": Membership,
    "invitation": Invitation,
    "workspace": Workspace,
}
MAX_EXPORT_ROWS = 100_000


@dataclass(frozen=True)
class Filters:
    action: str | None = None
    actor: str | None = None
    date_from: date | None = None  # inclusive, in the workspace's timezone
    date_to: date | None = None  # inclusive


@dataclass
class EntryPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int
    live: set = field(default_factory=set)  # (subject_type, subject_id) of the subjects that still exist


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


def parse_filters(action=None, actor=None, date_from=None, date_to=None) -> Filters:
    """Filters from what a form or a query string holds; a date that is not one is a field error."""
    errors, dates = {}, {}
    for name, raw in (("from", date_from), ("to", date_to)):
        if isinstance(raw, date):
            dates[name] = raw
            continue
        text = str(raw or "").strip()
        if not text:
            dates[name] = None
            continue
        try:
            dates[name] = date.fromisoformat(text[:10])
        except ValueError:
            errors[name] = "A date like 2026-03-31."
    if errors:
        raise ValidationError("Give dates as YYYY-MM-DD.", errors)
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        raise ValidationError("The range ends before it starts.", {"to": "Before the start."})
    return Filters(
        action=(str(action).strip()[:60] or None) if action else None,
        actor=(str(actor).strip()[:320] or None) if actor else None,
        date_from=dates["from"],
        date_to=dates["to"],
    )


def _statement(workspace_id: int, filters: Filters, tz_name: str):
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.actor:
        stmt = stmt.where(AuditEntry.actor == filters.actor)
    tz = ZoneInfo(tz_name or "UTC")
    # A day is the workspace's day: midnight to midnight where the team works, not in UTC.
    if filters.date_from:
        stmt = stmt.where(AuditEntry.created_at >= datetime.combine(filters.date_from, time(), tz))
    if filters.date_to:
        stmt = stmt.where(AuditEntry.created_at < datetime.combine(filters.date_to + timedelta(days=1), time(), tz))
    # Newest first; the id breaks ties between entries of one transaction.
    return stmt.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())


def find_entries(workspace_id: int, filters: Filters, page: int = 1, per_page: int = 50, tz_name: str = "UTC"):
    """One page of the workspace's log, newest first, with which subjects still exist."""
    page = max(1, min(page, MAX_PAGE))
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    entries, total = paginate(_statement(workspace_id, filters, tz_name), page, per_page)
    return EntryPage(entries, total, page, per_page, live_subjects(workspace_id, entries))


def live_subjects(workspace_id: int, entries: list[AuditEntry]) -> set:
    """(type, id) of the entries' subjects that still exist in the workspace: one query per kind."""
    wanted: dict[str, set[int]] = {}
    for e in entries:
        if e.subject_type in SUBJECT_MODELS and e.subject_id is not None:
            wanted.setdefault(e.subject_type, set()).add(e.subject_id)
    live = set()
    for kind, ids in wanted.items():
        model = SUBJECT_MODELS[kind]
        scope = model.id == workspace_id if model is Workspace else model.workspace_id == workspace_id
        found = db.session.scalars(select(model.id).where(model.id.in_(ids), scope))
        live.update((kind, i) for i in found)
    return live


def actions_in_use(workspace_id: int) -> list[str]:
    """The actions the workspace's log holds, for the filter."""
    rows = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.workspace_id == workspace_id).distinct().order_by(AuditEntry.action)
    )
    return list(rows)


def actors_in_use(workspace_id: int) -> list[str]:
    """Everyone (and every key) the workspace's log names, for the filter."""
    rows = db.session.scalars(
        select(AuditEntry.actor).where(AuditEntry.workspace_id == workspace_id).distinct().order_by(AuditEntry.actor)
    )
    return list(rows)


def detail_text(detail: dict | None) -> str:
    """An entry's detail as one readable line: `key: value` pairs, nested values as JSON."""
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def entry_json(entry: AuditEntry) -> dict:
    """One entry as the API answers it."""
    return {
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "actor": entry.actor,
        "user_id": entry.user_id,
        "api_key_id": entry.api_key_id,
        "action": entry.action,
        "subject": {"type": entry.subject_type, "id": entry.subject_id} if entry.subject_type else None,
        "detail": entry.detail or {},
        "ip": entry.ip,
    }


def csv_rows(workspace_id: int, filters: Filters, tz_name: str = "UTC"):
    """The filtered log as CSV rows (a header first), newest first; every cell is formula-safe."""
    from app.services.events.insights import csv_cell

    tz = ZoneInfo(tz_name or "UTC")
    yield ["time", "time_utc", "actor", "action", "subject_type", "subject_id", "detail", "ip"]
    stmt = _statement(workspace_id, filters, tz_name).limit(MAX_EXPORT_ROWS)
    for e in db.session.scalars(stmt):
        cells = [
            e.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            e.created_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.subject_type or "",
            "" if e.subject_id is None else str(e.subject_id),
            json.dumps(e.detail, ensure_ascii=False, default=str) if e.detail else "",
            e.ip or "",
        ]
        yield [csv_cell(c) for c in cells]
