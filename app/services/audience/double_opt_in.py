"""Double opt-in: a list may require that a new subscriber confirms by email before campaigns reach them.

How a confirmation travels:

    signup (form, API, dashboard) on a double opt-in list
      -> subscriber `pending`, consent {method: form|api|dashboard}      (audience/signups.py)
      -> send_confirmation: one transactional message (delivery/transactional.py) from the list's
         confirmation template, or Herald's wording, with `confirm_url` = BASE_URL/confirm/<token>
      -> GET /confirm/<token> shows a page with a button; nothing changes on a GET, since mail
         scanners open links                                                      (look_up)
      -> POST confirms: `active`, confirmed_at, consent {method: "double opt-in", at, ip}  (confirm)
    never confirmed -> deleted after the workspace's unconfirmed_purge_days      (purge_unconfirmed)

The token carries the subscriber's id and the second it was issued. A person who unsubscribed and
signs up again through a form also gets a confirmation (a form cannot prove who typed the address);
their link resubscribes them only when it is newer than their unsubscribe, so an old link can never
undo a later unsubscribe. Imports never ask: imported people are taken as already consented.

Every function flushes; the caller commits, and the message is queued once it does.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import MailingList, Message, Subscriber, Template, Workspace
from app.services.audience import consent
from app.services.audience.contacts import get_list, normalize_email, resubscribe
from app.services.content import templates
from app.services.delivery import transactional
from app.services.errors import ValidationError
from app.services.ids import parse_int
from app.services.platform import audit
from app.services.platform.alerts import owner_addresses, system_sender
from app.services.tokens import make_token, read_token

log = logging.getLogger(__name__)

PURPOSE = "confirm"
MIN_PURGE_DAYS, MAX_PURGE_DAYS = 1, 365
BUILTIN_SLUG = "herald-subscription-confirmation"
BUILTIN_NAME = "Subscription confirmation (Herald's wording)"

# Herald's own wording: sent when a list has no confirmation template of its own, and the text a
# "Customise" starts from. `confirm_url`, `workspace_name` and `list_names` are filled in per message.
DEFAULT_SUBJECT = "Please confirm your subscription to {{ workspace_name }}"
DEFAULT_HTML = """<!doctype html>
<html><body style="margin:0;padding:0;background:#f4f6fa;font-family:Arial,Helvetica,sans-serif;color:#1d273b">
<div style="max-width:520px;margin:0 auto;padding:24px 16px">
<div style="background:#ffffff;border-radius:8px;padding:24px">
<h1 style="font-size:20px;margin:0 0 12px">Confirm your subscription</h1>
<p>Hi {{ subscriber.name or 'there' }},</p>
<p>Someone, we hope you, asked for emails from {{ workspace_name }}{% if list_names %} ({{ list_names }}){% endif %}
to be sent to {{ subscriber.email }}. Please confirm that this is you:</p>
<p style="margin:24px 0"><a href="{{ confirm_url }}" style="background:#206bc4;color:#ffffff;padding:12px 20px;border-radius:6px;text-decoration:none;font-weight:bold;display:inline-block">Confirm my subscription</a></p>
<p style="color:#667382;font-size:14px">If you did not ask for this, ignore this email: you will not hear from us again.</p>
</div></div>
</body></html>
"""
DEFAULT_TEXT = """Hi {{ subscriber.name or 'there' }},

Someone, we hope you, asked for emails from {{ workspace_name }}{% if list_names %} ({{ list_names }}){% endif %} to be sent to {{ subscriber.email }}.

Confirm that this is you: {{ confirm_url }}

If you did not ask for this, ignore this email: you will not hear from us again.
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Lists ----------------------------------------------------------------------------------------


def requires_confirmation(workspace_id: int, list_ids) -> bool:
    """True when any of these lists of the workspace asks new subscribers to confirm."""
    ids = [i for i in (list_ids or []) if isinstance(i, int)]
    if not ids:
        return False
    found = db.session.scalar(
        select(MailingList.id)
        .where(MailingList.workspace_id == workspace_id, MailingList.id.in_(ids), MailingList.double_opt_in)
        .limit(1)
    )
    return found is not None


def customise_confirmation(workspace_id: int, list_id: int, user_id: int | None = None) -> Template:
    """The list's own confirmation template, created from Herald's wording the first time."""
    lst = get_list(workspace_id, list_id)
    current = _template(workspace_id, lst.confirmation_template_id)
    if current is not None:
        return current
    tpl = templates.create_template(
        workspace_id,
        {
            "name": f"Confirmation: {lst.name}"[:200],
            "subject": DEFAULT_SUBJECT,
            "body_html": DEFAULT_HTML,
            "body_text": DEFAULT_TEXT,
            "category": "transactional",
            "template_type": "code",
        },
        user_id,
        "Created from Herald's confirmation wording",
    )
    lst.confirmation_template_id = tpl.id
    db.session.flush()
    return tpl


def use_builtin_confirmation(workspace_id: int, list_id: int) -> MailingList:
    """Send Herald's wording for this list again (the list's own template is kept among the templates)."""
    lst = get_list(workspace_id, list_id)
    lst.confirmation_template_id = None
    db.session.flush()
    return lst


def confirmation_template_of(lst: MailingList) -> Template | None:
    """The list's own confirmation template (None: Herald's wording)."""
    return _template(lst.workspace_id, lst.confirmation_template_id)


def _template(workspace_id: int, template_id: int | None) -> Template | None:
    if template_id is None:
        return None
    return db.session.scalar(select(Template).where(Template.id == template_id, Template.workspace_id == workspace_id))


def _builtin_template(workspace_id: int) -> Template:
    """The workspace's copy of Herald's wording, made the first time a confirmation needs it.

    A transactional message is rendered from a stored template by the worker, so Herald's wording
    lives in one template per workspace; editing it changes the wording of every list without its own.
    """
    found = db.session.scalar(
        select(Template).where(Template.workspace_id == workspace_id, Template.slug == BUILTIN_SLUG)
    )
    if found is not None:
        return found
    data = {
        "name": BUILTIN_NAME,
        "slug": BUILTIN_SLUG,
        "subject": DEFAULT_SUBJECT,
        "body_html": DEFAULT_HTML,
        "body_text": DEFAULT_TEXT,
        "category": "transactional",
        "template_type": "code",
    }
    try:
        with db.session.begin_nested():  # two first signups at once: one creates it, the other reads it
            return templates.create_template(workspace_id, data, None, "Herald's confirmation wording")
    except IntegrityError:
        return db.session.scalar(
            select(Template).where(Template.workspace_id == workspace_id, Template.slug == BUILTIN_SLUG)
        )


def _template_for(workspace_id: int, list_ids) -> Template:
    """The first of the lists' own confirmation templates (double opt-in lists first), else Herald's wording."""
    ids = [i for i in (list_ids or []) if isinstance(i, int)]
    if ids:
        row = db.session.execute(
            select(MailingList.double_opt_in, Template)
            .join(Template, Template.id == MailingList.confirmation_template_id)
            .where(MailingList.workspace_id == workspace_id, MailingList.id.in_(ids))
            .order_by(MailingList.double_opt_in.desc(), MailingList.id)
            .limit(1)
        ).first()
        if row is not None:
            return row[1]
    return _builtin_template(workspace_id)


# Sending --------------------------------------------------------------------------------------


def confirm_url(subscriber_id: int, issued_at: int | None = None) -> str:
    """The link in the confirmation email: BASE_URL/confirm/<token of the id and the second of issue>."""
    token = make_token(PURPOSE, subscriber_id, int(issued_at if issued_at is not None else time.time()))
    return f"{current_app.config['BASE_URL']}/confirm/{token}"


def send_confirmation(subscriber: Subscriber, list_ids=None) -> Message | None:
    """Queue the confirmation email (sent once the caller commits); None when it cannot go (no provider,
    a template that does not render): the person stays as they are and the reason is logged."""
    workspace = db.session.get(Workspace, subscriber.workspace_id)
    tpl = _template_for(workspace.id, list_ids)
    context = {
        "confirm_url": confirm_url(subscriber.id),
        "workspace_name": workspace.name,
        "list_names": ", ".join(_list_names(workspace.id, list_ids)),
    }
    try:
        with db.session.begin_nested():
            accepted = transactional.create_message(
                workspace.id,
                tpl.id,
                subscriber.email,
                context,
                from_email=None if tpl.identity_id else _sender(workspace.id),
                from_name=None if tpl.identity_id else workspace.name,
            )
    except ValidationError as exc:
        log.warning("workspace %s: confirmation to subscriber %s not sent: %s", workspace.id, subscriber.id, exc)
        return None
    # A signup that asks again restarts the wait before unconfirmed people are deleted.
    subscriber.updated_at = _now()
    db.session.flush()
    return accepted.message


def _sender(workspace_id: int) -> str | None:
    """The From of a confirmation whose template names no identity: the workspace's system sender (a verified
    identity, the latest campaign's, herald@ the public host), else an owner's address, for a Herald on a
    development host (herald@localhost is no address a message can carry)."""
    for candidate in (system_sender(workspace_id), *owner_addresses(workspace_id)):
        try:
            return normalize_email(candidate)
        except ValidationError:
            continue
    return None


def _list_names(workspace_id: int, list_ids) -> list[str]:
    ids = [i for i in (list_ids or []) if isinstance(i, int)]
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(MailingList.name)
            .where(MailingList.workspace_id == workspace_id, MailingList.id.in_(ids))
            .order_by(MailingList.name)
        )
    )


# Confirming -----------------------------------------------------------------------------------


@dataclass
class Confirmation:
    """What a confirmation link leads to. state: `ready` (a press confirms), `done` (this press confirmed),
    `already` (confirmed before), `closed` (bounced, complained, or unsubscribed after this link was sent)."""

    subscriber: Subscriber
    workspace: Workspace
    state: str


def look_up(token: str) -> Confirmation | None:
    """The confirmation a link stands for, changing nothing; None for a link that is not one (or whose
    person was deleted)."""
    ids = read_token(PURPOSE, token, 2)
    if ids is None:
        return None
    subscriber_id, issued_at = ids
    sub = db.session.get(Subscriber, subscriber_id)
    if sub is None or sub.erased_at is not None:
        return None
    return Confirmation(sub, db.session.get(Workspace, sub.workspace_id), _state(sub, issued_at))


def _state(sub: Subscriber, issued_at: int) -> str:
    if sub.status == "pending":
        return "ready"
    if sub.status == "active":
        return "already"
    if sub.status == "unsubscribed" and (
        sub.unsubscribed_at is None or issued_at >= int(sub.unsubscribed_at.timestamp())
    ):
        return "ready"  # they signed up again through a form after unsubscribing, and this is that link
    return "closed"


def confirm(token: str, ip: str | None) -> Confirmation | None:
    """Confirm the subscription a link stands for: `active`, confirmed now, consent by double opt-in from `ip`.
    Pressing again changes nothing (state `already`)."""
    found = look_up(token)
    if found is None or found.state != "ready":
        return found
    sub, now = found.subscriber, _now()
    expected = "pending"
    if sub.status == "unsubscribed":
        resubscribe(sub)
        expected = "active"
    # Guarded on the status: two presses at once confirm once.
    done = db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == sub.id, Subscriber.status == expected, Subscriber.erased_at.is_(None))
        .values(status="active", confirmed_at=now, consent=consent.confirmed(sub.consent, ip, now), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    db.session.refresh(sub)
    found.state = "done" if done.rowcount else "already"
    return found


# Purging --------------------------------------------------------------------------------------


def purge_unconfirmed(now: datetime | None = None) -> int:
    """Delete the people who never confirmed, in every workspace, once they have been pending longer than
    its unconfirmed_purge_days (since their last signup); returns how many. One DELETE per distinct
    setting, whatever the number of people (periodic; safe to run twice)."""
    now = now or _now()
    purged = 0
    for days in list(db.session.scalars(select(Workspace.unconfirmed_purge_days).distinct())):
        cutoff = now - timedelta(days=max(MIN_PURGE_DAYS, days or 0))
        due = (
            Subscriber.status == "pending",
            Subscriber.updated_at < cutoff,
            Subscriber.workspace_id.in_(select(Workspace.id).where(Workspace.unconfirmed_purge_days == days)),
        )
        counts = db.session.execute(
            select(Subscriber.workspace_id, func.count()).where(*due).group_by(Subscriber.workspace_id)
        ).all()
        if not counts:
            continue
        db.session.execute(delete(Subscriber).where(*due).execution_options(synchronize_session=False))
        for workspace_id, n in counts:
            audit.record(workspace_id, "subscriber.purge_unconfirmed", None, None, {"count": n, "days": days})
            purged += n
    db.session.flush()
    return purged


def set_purge_days(workspace: Workspace, days) -> Workspace:
    """How many days a pending (unconfirmed) subscriber is kept before being deleted."""
    value = parse_int(days if not isinstance(days, str) else days.strip())
    if value is None or not MIN_PURGE_DAYS <= value <= MAX_PURGE_DAYS:
        message = f"Give a number of days from {MIN_PURGE_DAYS} to {MAX_PURGE_DAYS}."
        raise ValidationError(message, {"unconfirmed_purge_days": message})
    if value != workspace.unconfirmed_purge_days:
        before = workspace.unconfirmed_purge_days
        workspace.unconfirmed_purge_days = value
        audit.record(workspace.id, "settings.unconfirmed_purge_days", "workspace", workspace.id,
                     {"from": before, "to": value})  # fmt: skip
    db.session.flush()
    return workspace
