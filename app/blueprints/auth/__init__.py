"""Sign up, sign in, sign out, switch workspace."""

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.blueprints.helpers import commit
from app.extensions import db, limiter
from app.models import User
from app.services.errors import DomainError
from app.services.platform.workspaces import authenticate, create_workspace, end_all_sessions, login_throttle_key

bp = Blueprint("auth", __name__)


def safe_next(target) -> str:
    """`target` when it is a path on this site, else the overview: never another host, never a 500."""
    return target if _is_local_path(target) else url_for("overview.index")


def _is_local_path(target) -> bool:
    if not isinstance(target, str) or not target or len(target) > 2000:
        return False
    # Browsers drop tabs and newlines inside URLs ("/\t/evil" becomes "//evil") and read "\" as "/";
    # a newline in a Location header is refused by the server (a 500): none of them belong in a path.
    if "\\" in target or any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def signup():
    if not current_app.config["ALLOW_SIGNUP"]:
        abort(404)
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form
        try:
            ws = create_workspace(form.get("workspace"), form.get("email"), form.get("password", ""), form.get("name"))
            commit()
        except DomainError as exc:
            # The service names the workspace's name `name`; on this form that field is `workspace`.
            errors = {("workspace" if k == "name" else k): v for k, v in (exc.fields or {"form": exc.message}).items()}
            flash(exc.message, "danger")
        else:
            user = authenticate(form.get("email"), form.get("password", ""))
            login_user(user)
            session["workspace_id"] = ws.id
            flash(f"Welcome to Herald! Your workspace “{ws.name}” is ready.", "success")
            return redirect(url_for("overview.index"))
    return render_template("auth/signup.html", errors=errors, form=form), (422 if errors else 200)


def _login_key() -> str:
    # Every spelling of one address (case, full-width letters, other full stops) counts against one limit.
    return f"login:{request.remote_addr}:{login_throttle_key(request.form.get('email'))}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], key_func=_login_key)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("overview.index"))
    if (
        request.method == "GET"
        and current_app.config["ALLOW_SIGNUP"]
        and not db.session.scalar(select(User.id).limit(1))
    ):
        session.pop("_flashes", None)  # not "Sign in to continue": there is nobody to sign in as yet
        return redirect(url_for("auth.signup"))  # a fresh install: the first thing to do is sign up
    if request.method == "POST":
        user = authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is None:
            flash("That email and password do not match an account.", "danger")
            return render_template("auth/login.html", email=request.form.get("email", "")), 401
        commit()
        login_user(user, remember=bool(request.form.get("remember")))
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", email="")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Sessions live in signed cookies, not on the server: a copy of this one (or of its
    # "keep me signed in" cookie) would go on working unless the account's generation moves on.
    _end_every_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    _end_every_session()
    flash("You are signed out on every device and browser. Sign in again to continue here.", "info")
    return redirect(url_for("auth.login"))


def _end_every_session() -> None:
    end_all_sessions(db.session.get(User, current_user.id))
    commit()
    logout_user()
    session.clear()


@bp.route("/workspaces/switch", methods=["POST"])
@login_required
def switch():
    try:
        ws_id = int(request.form.get("workspace_id", 0))
    except ValueError:
        abort(404)
    if ws_id not in {m.workspace_id for m in current_user.memberships}:
        abort(404)
    session["workspace_id"] = ws_id
    return redirect(url_for("overview.index"))
