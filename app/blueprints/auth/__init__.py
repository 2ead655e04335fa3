"""Sign up, sign in, sign out, switch workspace."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.blueprints.helpers import commit
from sqlalchemy import select

from app.extensions import db, limiter
from app.models import User
from app.services.errors import DomainError
from app.services.workspaces import authenticate, create_workspace

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("overview.index")


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
    return f"{request.remote_addr}:{(request.form.get('email') or '').strip().lower()}"


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
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", email="")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


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
