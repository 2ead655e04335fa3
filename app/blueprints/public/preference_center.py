"""The preference center: a person's lists, their choice per category, unsubscribe, re-subscribe.

Two doors to the same page. /preferences/<token> comes from a campaign's message (a recipient token:
an unsubscribe is recorded against that campaign); /p/<token> is a person's own link outside any
campaign (confirmation emails, the dashboard's "Open preference center"). No JavaScript: each action
is one plain form POST, and nothing on a GET changes anything (link scanners open pages too).
"""

import json
from dataclasses import dataclass

from flask import Response, abort, redirect, render_template, request, url_for

from app.blueprints.helpers import category_changes, commit, int_list
from app.blueprints.public import bp
from app.extensions import db
from app.models import CampaignRecipient, Subscriber, Workspace
from app.services.audience import contacts, preferences, privacy
from app.services.errors import DomainError
from app.services.events import tracking

_UNDELIVERABLE = ("bounced", "complained")  # never re-subscribed from here, so never unsubscribed either
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
# What a page says after an action redirected to it (the state itself is always read afresh).
NOTICES = {
    "unsubscribed": "Done: you will get no more emails from us. This took effect immediately.",
    "resubscribed": "Welcome back: you are subscribed again.",
}


@dataclass(frozen=True)
class Door:
    """Who the link is for, and how it came: `recipient` for a campaign's link, None for /p/."""

    subscriber: Subscriber
    recipient: CampaignRecipient | None
    endpoint: str  # the page's endpoint; its actions are `<endpoint>_<action>`
    token: str

    def url(self, action: str = "", **args) -> str:
        return url_for(f"public.{self.endpoint}{'_' + action if action else ''}", token=self.token, **args)


def _door(kind: str, token: str) -> Door:
    recipient = None
    if kind == "campaign":
        recipient = tracking.recipient_for_token("preferences", token)
        subscriber = db.session.get(Subscriber, recipient.subscriber_id) if recipient else None
    else:
        subscriber = preferences.subscriber_for_token(token)
    if subscriber is None or subscriber.erased_at is not None:
        abort(404)
    return Door(subscriber, recipient, "preferences" if kind == "campaign" else "person_preferences", token)


def _page(door: Door, notice: str | None = None, error: str | None = None, status: int = 200):
    sub = door.subscriber
    body = render_template(
        "public/preferences.html",
        door=door,
        subscriber=sub,
        page=preferences.center_page(sub),
        frequencies=preferences.FREQUENCY_LABELS,
        workspace=db.session.get(Workspace, sub.workspace_id),
        notice=notice,
        error=error,
    )
    return body, status, NO_STORE  # a person's own page: no cache keeps it


def _kept_lists(form) -> list[int] | None:
    # Unticking every list sends no list_ids at all: `lists_shown` says the lists were on the form.
    if "lists_shown" not in form and "list_ids" not in form:
        return None
    return int_list(form.getlist("list_ids"))


def center(kind: str, token: str):
    """The page (GET) and its save (POST): lists left, categories and frequencies chosen."""
    door = _door(kind, token)
    if request.method == "GET":
        return _page(door, notice=NOTICES.get(request.args.get("done", "")))
    try:
        preferences.save_center(door.subscriber, _kept_lists(request.form), category_changes(request.form))
        commit()
    except DomainError:
        db.session.rollback()
        return _page(door, error="That choice is not available: reload the page and try again.", status=422)
    return _page(door, notice="Your preferences are saved.")


def unsubscribe(kind: str, token: str):
    """Unsubscribe from everything, at once; the page then offers to subscribe again."""
    door = _door(kind, token)
    if door.subscriber.status in _UNDELIVERABLE:
        return redirect(door.url(), code=303)  # already mailed nothing; a re-subscribe must not follow
    if door.recipient is not None:
        tracking.unsubscribe_recipient(door.recipient, preferences.CENTER_SOURCE)
    else:
        preferences.unsubscribe_everything(door.subscriber)
    commit()
    return redirect(door.url(done="unsubscribed"), code=303)


def resubscribe(kind: str, token: str):
    """Undo the person's own unsubscribe (never a bounce or a complaint: contacts.resubscribe refuses)."""
    door = _door(kind, token)
    if request.method == "POST" and door.subscriber.status == "unsubscribed":
        contacts.resubscribe(door.subscriber)
        commit()
        return redirect(door.url(done="resubscribed"), code=303)
    return redirect(door.url(), code=303)  # a reloaded result page, or nothing to undo: the current state


def export(kind: str, token: str):
    """The person's data as a JSON download (a POST: each export is recorded in the audit log)."""
    door = _door(kind, token)
    sub = door.subscriber
    document = privacy.export_subscriber(sub.workspace_id, sub.id)
    commit()
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-email-data.json"', **NO_STORE})  # fmt: skip


def _at_door(view, kind: str):
    """`view` for one door (a named function: the rate limiter keys views by name)."""

    def door_view(token):
        return view(kind, token)

    door_view.__name__ = door_view.__qualname__ = f"{kind}_{view.__name__}"
    return door_view


# One rule per door and action; endpoints `preferences[_<action>]` and `person_preferences[_<action>]`.
_ACTIONS = (("", center, ["GET", "POST"]), ("unsubscribe", unsubscribe, ["POST"]),
            ("resubscribe", resubscribe, ["GET", "POST"]), ("export", export, ["POST"]))  # fmt: skip
for _prefix, _endpoint, _kind in (("/preferences", "preferences", "campaign"), ("/p", "person_preferences", "person")):
    for _action, _view, _methods in _ACTIONS:
        _suffix = f"_{_action}" if _action else ""
        _path = f"/{_action}" if _action else ""
        bp.add_url_rule(f"{_prefix}/<token>{_path}", _endpoint + _suffix, _at_door(_view, _kind), methods=_methods)
