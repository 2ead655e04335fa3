"""Alerts: what needs a person (a DNS record that broke, a warming plan that paused, a blocklist
listing) as one row per (workspace, kind, subject), under the bell of every dashboard page.

Raisers call `raise_alert` whenever they see the condition and `resolve_alert` once it clears;
both are cheap to call on every check. Only a new alert (or one raised again after it was
resolved, which makes a new row) notifies: the `alert.raised` outbound webhook, written in the
raiser's transaction, and a short email to the workspace's owners, queued on `transactional`
once that transaction commits. Raising an open alert again only refreshes it. A rolled back
raiser sends nothing; a mail that cannot go (no provider, Redis or the provider away) is logged,
never the raiser's failure. Functions flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from datetime import datetime, timezone
from urllib.parse import urlsplit

import redis
from flask import current_app
from markupsafe import escape
from sqlalchemy import case, func, select, text

from app.extensions import db
from app.models import Alert, Membership, SendingDomain, SendingIdentity, User, Workspace
from app.providers import TransportUnavailable
from app.queueing import TRANSACTIONAL, TRANSACTIONAL_RETRY, enqueue
from app.redis_client import get_redis
from app.services import outbound_webhooks
from app.services.content.mime import MessageSkeleton
from app.services.delivery import providers
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform.workspaces import default_sender
from app.transactions import on_commit

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")
SUBJECT_TYPES = ("domain", "ip", "campaign")
STATUSES = ("open", "resolved")
EVENT_TYPE = "alert.raised"
MAX_MESSAGE = 2000
_KIND = re.compile(r"[a-z][a-z0-9_.]{0,39}")  # dns_record_failed, dkim_key_mismatch, warming_paused, ...
_SEVERITY_ORDER = case({"critical": 0, "warning": 1}, value=Alert.severity, else_=2)
MAIL_CLAIM_SECONDS = 7 * 86400  # an owner is mailed about one alert once, however often its job runs
SENDER_DOMAIN_STATUSES = ("verified", "warming", "active")


class MailLater(Exception):
    """The provider could not be reached: RQ runs the mail job again (owners already mailed are skipped)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check(kind, severity, subject_type, subject_id, message, evidence, action_label, action_url) -> int:
    """The subject's id, once every value is one an alert can hold (raisers are code: a bad value is a bug)."""
    problems = {
        "kind": not (isinstance(kind, str) and _KIND.fullmatch(kind)),
        "severity": severity not in SEVERITIES,
        "subject_type": subject_type not in SUBJECT_TYPES,
        "subject_id": as_id(subject_id) is None,
        "message": not (isinstance(message, str) and message.strip()),
        "evidence": evidence is not None and not isinstance(evidence, dict),
        "action_label": action_label is not None and not (isinstance(action_label, str) and action_label.strip()),
        "action_url": action_url is not None and not _usable_url(action_url),
    }
    wrong = [name for name, bad in problems.items() if bad]
    if wrong:
        raise ValidationError(f"An alert cannot hold this {wrong[0]}.", {name: "Not valid." for name in wrong})
    return as_id(subject_id)


def _usable_url(url) -> bool:
    """A path of this site ("/domains/3") or an http(s) URL: nothing a link could run."""
    if not isinstance(url, str) or not 0 < len(url) <= 500 or any(c.isspace() for c in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    return urlsplit(url).scheme in ("http", "https")


def _lock(workspace_id: int, kind: str, subject_type: str, subject_id: int) -> None:
    """PostgreSQL: serialize raisers of one (workspace, kind, subject) until commit, so two checks
    running at once cannot both open an alert (the table has no unique index to say so)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite runs one writer at a time
    name = f"alert:{workspace_id}:{kind}:{subject_type}:{subject_id}".encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
    db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _open_alert(workspace_id: int, kind: str, subject_type: str, subject_id: int) -> Alert | None:
    return db.session.scalar(
        select(Alert)
        .where(
            Alert.workspace_id == workspace_id,
            Alert.status == "open",
            Alert.kind == kind,
            Alert.subject_type == subject_type,
            Alert.subject_id == subject_id,
        )
        .order_by(Alert.id)
        .limit(1)
    )


def raise_alert(
    workspace_id: int,
    kind: str,
    severity: str,
    subject_type: str,
    subject_id: int,
    message: str,
    evidence: dict | None = None,
    action_label: str | None = None,
    action_url: str | None = None,
) -> Alert:
    """The open alert for (workspace, kind, subject), refreshed with these values; a new one
    notifies (webhook and owners' email, after the commit), an open one raised again does not."""
    subject_id = _check(kind, severity, subject_type, subject_id, message, evidence, action_label, action_url)
    _lock(workspace_id, kind, subject_type, subject_id)
    values = {
        "severity": severity,
        "message": message.strip()[:MAX_MESSAGE],
        "evidence": dict(evidence or {}),
        "action_label": action_label.strip()[:80] if action_url and action_label else None,
        "action_url": action_url,
    }
    now = _now()
    alert = _open_alert(workspace_id, kind, subject_type, subject_id)
    if alert is not None:
        for name, value in values.items():
            setattr(alert, name, value)
        alert.updated_at = now
        db.session.flush()
        return alert
    alert = Alert(
        workspace_id=workspace_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        status="open",
        created_at=now,
        updated_at=now,
        **values,
    )
    db.session.add(alert)
    db.session.flush()
    _notify(alert)
    return alert


def _notify(alert: Alert) -> None:
    if outbound_webhooks.fan_out_notice(alert.workspace_id, alert_payload(alert)):
        outbound_webhooks.run_soon_after_commit()
    alert_id = alert.id
    on_commit(lambda: enqueue_owner_mail(alert_id))


def enqueue_owner_mail(alert_id: int) -> None:
    """Queue the owners' email on `transactional` (one job per alert); Redis away: logged, not raised."""
    try:
        enqueue(
            "send_alert_email",
            alert_id,
            queue=TRANSACTIONAL,
            job_id=f"alert-mail-{alert_id}",
            retry=TRANSACTIONAL_RETRY,
            after_commit=False,
        )
    except redis.RedisError as exc:
        log.warning("alert %s: the owners' email was not queued (%s)", alert_id, exc)


def resolve_alert(workspace_id: int, kind: str, subject_type: str, subject_id: int) -> Alert | None:
    """The condition cleared: its open alert (if any) becomes resolved."""
    subject_id = as_id(subject_id)
    alert = _open_alert(workspace_id, kind, subject_type, subject_id) if subject_id else None
    return _mark_resolved(alert) if alert is not None else None


def resolve(workspace_id: int, alert_id) -> Alert:
    """A person dismissed the alert (already resolved: unchanged); another workspace's id is NotFound."""
    alert = get_alert(workspace_id, alert_id)
    return _mark_resolved(alert) if alert.status == "open" else alert


def _mark_resolved(alert: Alert) -> Alert:
    alert.status = "resolved"
    alert.resolved_at = alert.updated_at = _now()
    db.session.flush()
    return alert


def get_alert(workspace_id: int, alert_id) -> Alert:
    alert_id = as_id(alert_id)
    alert = (
        db.session.scalar(select(Alert).where(Alert.id == alert_id, Alert.workspace_id == workspace_id))
        if alert_id
        else None
    )
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def list_alerts(workspace_id: int, status: str = "open", limit: int = 50, offset: int = 0) -> tuple[list[Alert], int]:
    """(alerts, total): open ones most severe and most recent first; resolved ones latest resolved first."""
    if status not in STATUSES:
        message = f"Must be one of: {', '.join(STATUSES)}."
        raise ValidationError(f"status: {message}", {"status": message})
    where = (Alert.workspace_id == workspace_id, Alert.status == status)
    if status == "open":
        order = (_SEVERITY_ORDER, Alert.updated_at.desc(), Alert.id.desc())
    else:
        order = (Alert.resolved_at.desc(), Alert.id.desc())
    total = db.session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
    items = list(db.session.scalars(select(Alert).where(*where).order_by(*order).limit(limit).offset(offset)))
    return items, total


def open_count(workspace_id: int) -> int:
    """How many alerts are open (the bell's badge): one count on the (workspace_id, status) index."""
    return (
        db.session.scalar(
            select(func.count()).select_from(Alert).where(Alert.workspace_id == workspace_id, Alert.status == "open")
        )
        or 0
    )


def evidence_items(evidence: dict | None) -> list[tuple[str, str]]:
    """The evidence as (name, text) pairs for a page or an email: lists joined, objects as JSON."""

    def as_text(value) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return ", ".join(str(v) for v in value)
        return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)

    return [(str(name), as_text(value)) for name, value in (evidence or {}).items()]


def alerts_url() -> str:
    return f"{current_app.config['BASE_URL']}/alerts"


def action_link(alert: Alert) -> str | None:
    """The action's URL as a link outside the dashboard needs it (absolute)."""
    if not alert.action_url:
        return None
    return current_app.config["BASE_URL"] + alert.action_url if alert.action_url.startswith("/") else alert.action_url


def alert_payload(alert: Alert) -> dict:
    """The `alert.raised` webhook body: the event payload's keys, the alert in `data`."""
    created = alert.created_at.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return {
        "id": f"evt_alert_{alert.id}",
        "type": EVENT_TYPE,
        "occurred_at": created,
        "created_at": created,
        "campaign_id": alert.subject_id if alert.subject_type == "campaign" else None,
        "recipient_id": None,
        "message_id": None,
        "email": None,
        "subscriber_id": None,
        "provider_id": None,
        "verdict": None,
        "data": {
            "alert_id": alert.id,
            "kind": alert.kind,
            "severity": alert.severity,
            "subject": {"type": alert.subject_type, "id": alert.subject_id},
            "message": alert.message,
            "evidence": alert.evidence or {},
            "action": {"label": alert.action_label, "url": action_link(alert)} if alert.action_url else None,
            "url": alerts_url(),
        },
    }


# -- The owners' email (a job on `transactional`) --------------------------------------------------


def owner_addresses(workspace_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
            .order_by(User.id)
        )
    )


def system_sender(workspace_id: int) -> str:
    """A verified identity's address, else the latest campaign's, else herald@ the dashboard's host."""
    identity = db.session.scalar(
        select(SendingIdentity.email)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingIdentity.workspace_id == workspace_id, SendingDomain.status.in_(SENDER_DOMAIN_STATUSES))
        .order_by(SendingIdentity.id)
        .limit(1)
    )
    if identity:
        return identity
    _, campaign_sender = default_sender(workspace_id)
    if campaign_sender:
        return campaign_sender
    host = urlsplit(current_app.config["BASE_URL"]).hostname or ""
    return f"herald@{host if '.' in host and not host.replace('.', '').isdigit() else 'localhost'}"


def _mail_bodies(alert: Alert, workspace: Workspace) -> tuple[str, str, str]:
    """(subject, text, html): what happened, the evidence, and where to act."""
    # One line whatever the message holds: a line break in a header would start a header of its own.
    subject = " ".join(f"[{workspace.name}] {alert.severity.capitalize()}: {alert.message}".split())
    subject = subject if len(subject) <= 160 else subject[:159] + "…"
    evidence = evidence_items(alert.evidence)
    lines = [alert.message, "", *(f"{k}: {v}" for k, v in evidence)]
    if alert.action_url:
        lines += ["", f"{alert.action_label or 'Act on it'}: {action_link(alert)}"]
    footer = f"Herald, for the {workspace.name} workspace: you are one of its owners."
    lines += ["", f"See and resolve it: {alerts_url()}", "", footer]
    rows = "".join(f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in evidence)
    action = (
        f'<p><a href="{escape(action_link(alert))}">{escape(alert.action_label or "Act on it")}</a></p>'
        if alert.action_url
        else ""
    )
    html = (
        f"<!doctype html><html><body><p>{escape(alert.message)}</p>"
        f"{f'<table cellpadding=4>{rows}</table>' if rows else ''}{action}"
        f'<p><a href="{escape(alerts_url())}">See and resolve it</a></p>'
        f"<p style='color:#667382'>{escape(footer)}</p></body></html>"
    )
    return subject, "\n".join(lines), html


def mail_owners(alert_id: int, final_attempt: bool = True) -> dict:
    """Mail the alert to its workspace's owners through the default provider; each owner once, even
    when the job runs twice. Skipped (and logged) without a provider, or when the alert was resolved
    before the mail went. An unreachable provider raises MailLater unless this is the final attempt."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.status != "open":
        return {"sent": 0, "skipped": "resolved" if alert else "missing"}
    provider = providers.default_provider(alert.workspace_id)
    if provider is None:
        log.warning("alert %s: no sending provider, the owners were not mailed", alert_id)
        return {"sent": 0, "skipped": "no provider"}
    subject, body_text, body_html = _mail_bodies(alert, db.session.get(Workspace, alert.workspace_id))
    sender = system_sender(alert.workspace_id)
    r, sent, refused = get_redis(), 0, 0
    transport, headers = providers.transport_for(provider)
    skeleton = MessageSkeleton("Herald", sender, None, {**headers, "X-Herald-Alert": str(alert.id)})
    try:
        for rcpt in owner_addresses(alert.workspace_id):
            claim = f"herald:alert-mail:{alert.id}:{rcpt}"
            if not r.set(claim, 1, nx=True, ex=MAIL_CLAIM_SECONDS):
                continue
            mid = f"<alert.{alert.id}.{secrets.token_hex(6)}@{skeleton.domain}>"
            raw = skeleton.build(None, rcpt, subject, body_html, body_text, mid)
            try:
                result = transport.send(sender, rcpt, raw)
            except TransportUnavailable as exc:
                r.delete(claim)
                log.warning("alert %s: cannot reach %s to mail the owners (%s)", alert_id, provider.name, exc)
                if final_attempt:
                    return {"sent": sent, "refused": refused, "skipped": "provider unreachable"}
                raise MailLater(str(exc)) from None
            if result.ok:
                sent += 1
            else:
                refused += 1
                log.warning("alert %s: %s refused the mail to %s (%s)", alert_id, provider.name, rcpt, result.detail)
    finally:
        transport.close()
    return {"sent": sent, "refused": refused}
