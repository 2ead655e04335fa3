"""Small things every dashboard view needs."""

import csv
import io
from functools import wraps

from flask import Response, abort, flash, g, request
from flask_login import current_user, login_required

from app.extensions import db
from app.services.errors import DomainError
from app.services.ids import as_id
from app.services.pagination import page_from


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def workspace_view(fn):
    """Signed in, with a current workspace in g.workspace (and its id in g.ws_id)."""

    @login_required
    @wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(g, "workspace", None) is None:
            abort(403)
        return fn(*args, **kwargs)

    return wrapper


def commit() -> None:
    db.session.commit()


def attempt(action, *args, **kwargs):
    """Run a service action for a form and commit it: (result, {}) when it worked,
    (None, field errors) after rolling back and flashing the message when it did not."""
    try:
        result = action(*args, **kwargs)
        db.session.commit()
        return result, {}
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return None, dict(exc.fields) or {"form": exc.message}


def attempt_quietly(action, *args, **kwargs):
    """`attempt` for HTMX fragments: the error is shown in the fragment, not flashed for a later page."""
    try:
        result = action(*args, **kwargs)
        db.session.commit()
        return result, {}
    except DomainError as exc:
        db.session.rollback()
        return None, dict(exc.fields) or {"form": exc.message}


def page_number() -> int:
    """The list page asked for in ?page=, clamped (a huge, negative or unreadable value is not an error)."""
    return page_from(request.args.get("page"))


def int_list(values) -> list[int]:
    """The usable ids among form values (others are dropped: a form cannot name them)."""
    return [i for i in (as_id(v) for v in values) if i is not None]


def category_changes(form) -> dict[int, dict]:
    """A preferences form's category fields (preference center, subscriber page) as
    preferences.set_preferences takes them: for each category the form showed (`category_ids`),
    ticked or not (`subscribed-<id>`) and how often (`frequency-<id>`)."""
    changes = {}
    for category_id in int_list(form.getlist("category_ids")):
        choice = {"subscribed": form.get(f"subscribed-{category_id}") == "on"}
        if form.get(f"frequency-{category_id}"):
            choice["frequency"] = form.get(f"frequency-{category_id}")
        changes[category_id] = choice
    return changes


def role_allows(*roles: str) -> bool:
    """Is the signed-in member's role one of `roles`? For a data-dependent choice inside a view (an
    owner-only override); which pages and posts a role may use at all is the one policy's
    (services/platform/roles.py, applied before every view by blueprints/roles.py)."""
    return getattr(g, "role", None) in roles and current_user.is_authenticated


def csv_response(rows, filename: str) -> Response:
    """Rows (a header first) as a CSV download."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})  # fmt: skip
