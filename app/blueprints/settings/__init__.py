"""Workspace settings and the signed-in person's account (password, sessions)."""

from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from app.blueprints.helpers import attempt, workspace_view
from app.extensions import db, limiter
from app.models import User
from app.services.platform.workspaces import change_password, update_workspace

bp = Blueprint("settings", __name__, url_prefix="/settings")
TIMEZONES = sorted(available_timezones())


@bp.route("/workspace", methods=["GET", "POST"])
@workspace_view
def workspace():
    errors = {}
    ws = g.workspace
    form = {"name": ws.name, "timezone": ws.timezone, "attribution_click_days": ws.attribution_click_days,
            "attribution_open_hours": ws.attribution_open_hours}  # fmt: skip
    if request.method == "POST":
        form = request.form
        saved, errors = attempt(
            update_workspace, ws, form.get("name"), form.get("timezone"),
            form.get("attribution_click_days", ws.attribution_click_days),
            form.get("attribution_open_hours", ws.attribution_open_hours),
        )  # fmt: skip
        if saved:
            flash("Workspace settings saved.", "success")
            return redirect(url_for("settings.workspace"))
    return render_template("settings/workspace.html", form=form, errors=errors, timezones=TIMEZONES), (
        422 if errors else 200
    )


@bp.route("/engagement")
@workspace_view
def engagement_rules():
    """How opens and clicks are told apart from machines', and what share each verdict had lately."""
    from app.services.events import engagement, verdicts

    cfg = current_app.config
    return render_template(
        "settings/engagement.html",
        rules=verdicts.RULES,
        shares=engagement.verdict_shares(g.ws_id),
        verdict_names=VERDICT_NAMES,
        sizes=engagement.ranges().sizes(),
        urls={name: cfg.get(setting) for name, setting in verdicts.RANGE_URLS.items()},
        proxies=cfg["TRUSTED_PROXY_COUNT"],
    )


VERDICT_NAMES = {
    "human": "People",
    "proxy": "People, through Gmail's or Yahoo's image proxy",
    "apple_mpp": "Apple Mail Privacy Protection",
    "scanner": "Scanners and link checkers",
    "unknown": "Unknown machines",
    "unjudged": "Recorded before verdicts (counted as people)",
}


def _password_attempts_key() -> str:
    # Checked before the view's sign-in check runs: an anonymous request still needs a key.
    return f"password-change:{getattr(current_user, 'id', None) or request.remote_addr}"


@bp.route("/account", methods=["GET", "POST"])
@workspace_view
@limiter.limit("10 per hour", methods=["POST"], key_func=_password_attempts_key)
def account():
    """The signed-in person's password and sessions."""
    errors = {}
    if request.method == "POST":
        form = request.form
        _, errors = attempt(
            change_password,
            _signed_in_user(),
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("confirm_password", ""),
        )
        if not errors:
            _stay_signed_in_here()
            flash("Password changed. Every other browser and device is signed out.", "success")
            return redirect(url_for("settings.account"))
    return render_template("settings/account.html", errors=errors), (422 if errors else 200)


def _stay_signed_in_here() -> None:
    # The password change moved the session generation on: re-issue this browser's session
    # (and its "keep me signed in" cookie, if it had one) so only the other sessions end.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(_signed_in_user(), remember=remembered)


def _signed_in_user() -> User:
    # The model itself, not the `current_user` proxy: login_user keeps what it is given as the user.
    return db.session.get(User, current_user.id)
