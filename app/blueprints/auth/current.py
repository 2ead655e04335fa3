"""Who is signed in and which workspace they are working in."""

import re

from flask import g, request, session
from flask_login import current_user

from app.extensions import db, login_manager
from app.models import User

_IDENTITY = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")


def user_for_identity(identity) -> User | None:
    """The user a session or remember cookie names, if its session generation is still current."""
    # "id:generation" (User.get_id); a bare id is from before generations and is refused too.
    match = _IDENTITY.fullmatch(identity) if isinstance(identity, str) else None
    if match is None:
        return None
    user = db.session.get(User, int(match[1]))
    if user is None or (user.session_generation or 0) != int(match[2]):
        return None
    return user


def register_session(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(identity: str):
        return user_for_identity(identity)

    @app.before_request
    def current_workspace():
        g.workspace = None
        g.ws_id = None
        g.role = None
        # Recipients' pages and the API never act as a signed-in user: skip the session lookup.
        if request.blueprint in ("public", "api") or not current_user.is_authenticated:
            return
        memberships = {m.workspace_id: m for m in current_user.memberships}
        chosen = memberships.get(session.get("workspace_id")) or next(iter(memberships.values()), None)
        if chosen is not None:
            g.workspace, g.ws_id, g.role = chosen.workspace, chosen.workspace_id, chosen.role
            g.memberships = list(memberships.values())
