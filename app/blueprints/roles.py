"""The role policy (services/platform/roles.py) on every dashboard request, and the helpers
templates use to hide what a role cannot use.

The check runs once, before any dashboard view, from the endpoint and the method: views never
check roles themselves, so a new page is covered the day it is added. Hidden buttons are a
courtesy; this check is the authority.
"""

from urllib.parse import urlsplit

from flask import Flask, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from app.services.platform import roles

FORBIDDEN_TITLE = "Not allowed for your role"


def register_role_policy(app: Flask) -> None:
    """Registered after the session's before_request, which sets g.role."""
    app.before_request(enforce_role)
    # Globals, not a context processor: macros imported from components/ see globals only.
    app.jinja_env.globals.update(can=can, may_post=may_post, role_labels=roles.ROLE_LABELS)


def enforce_role():
    role = getattr(g, "role", None)
    if role is None:  # not signed in, or no workspace: the view's own sign-in check answers
        return None
    permission = roles.dashboard_permission(request.endpoint, request.method)
    if permission is None or roles.allows(role, permission):
        return None
    return forbidden_page(role)


def forbidden_page(role: str | None):
    """403 with the sentence, on a page that keeps the navigation."""
    message = roles.refusal(role)
    if request.headers.get("HX-Request") == "true":
        return message, 403
    return render_template("errors/error.html", code=403, title=FORBIDDEN_TITLE, message=message), 403


def can(permission: str) -> bool:
    """May the signed-in member take actions of this kind ("write", "admin", "owner")?"""
    return roles.allows(getattr(g, "role", None), permission)


def may_post(url: str) -> bool:
    """May the signed-in member post to this dashboard URL? (A URL no route matches: yes; the
    request will say what is wrong.)"""
    role = getattr(g, "role", None)
    if role is None or role == "owner":  # outside a workspace the view decides; an owner may do all
        return True
    try:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        endpoint, _ = adapter.match(urlsplit(url).path, method="POST")
    except HTTPException:
        return True
    permission = roles.dashboard_permission(endpoint, "POST")
    return permission is None or can(permission)
