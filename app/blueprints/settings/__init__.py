"""Workspace settings and the signed-in person's account (password, sessions)."""

from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from app.blueprints.helpers import attempt, workspace_view
from app.extensions import db, limiter
from app.models import User
from app.services.audience import double_opt_in, suppression
from app.services.campaigns import frequency_cap
from app.services.content import media
from app.services.platform.branding import Brand, update_branding
from app.services.platform.workspaces import change_password, update_workspace

bp = Blueprint("settings", __name__, url_prefix="/settings")
TIMEZONES = sorted(available_timezones())
BRANDING_IMAGES = 50  # the newest images offered as a logo


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
    return render_template(
        "settings/workspace.html", form=form, errors=errors, timezones=TIMEZONES, **_branding_context()
    ), (422 if errors else 200)


def _branding_context(form=None, errors=None) -> dict:
    """The Branding card of the workspace page: what was typed (or is saved) and the images to pick from."""
    ws = g.workspace
    images = db.session.scalars(media.list_images(g.ws_id).limit(BRANDING_IMAGES))
    return {
        "brand_form": form or {"logo_url": ws.logo_url or "", "brand_color": ws.brand_color or ""},
        "brand_errors": errors or {},
        "brand_images": list(images),
        "brand": Brand.of(ws),
    }


@bp.route("/branding", methods=["POST"])
@workspace_view
def branding():
    """The logo and colour of the workspace's public pages (preference center, unsubscribe, signup)."""
    form = request.form
    saved, errors = attempt(
        update_branding, g.workspace, form.get("logo_url"), form.get("brand_color"), form.get("logo_image_id")
    )
    if saved:
        flash("Branding saved: the preference center and your other public pages show it now.", "success")
        return redirect(url_for("settings.workspace") + "#branding")
    # The workspace's own fields as saved (the model reads like the form), the branding as typed.
    return render_template(
        "settings/workspace.html",
        form=g.workspace,
        errors={},
        timezones=TIMEZONES,
        **_branding_context(form, errors),
    ), 422


@bp.route("/role-addresses", methods=["POST"])
@workspace_view
def role_addresses():
    """Whether campaigns skip role addresses (abuse@, postmaster@, noreply@…)."""
    enabled = request.form.get("suppress_role_addresses") == "on"
    _, errors = attempt(suppression.set_role_address_policy, g.workspace, enabled)
    if not errors:
        flash("Campaigns skip role addresses now." if enabled else "Campaigns send to role addresses again.", "success")
    return redirect(url_for("settings.workspace") + "#role-addresses")


@bp.route("/frequency-cap", methods=["POST"])
@workspace_view
def frequency_cap_form():
    """At most N marketing emails per person per H hours, campaigns and flows together (empty: no cap)."""
    form = request.form
    value = None if form.get("enabled") != "on" else {"max": form.get("max", ""), "hours": form.get("hours", "")}
    _, errors = attempt(frequency_cap.set_cap, g.workspace, value)
    if not errors:
        cap = g.workspace.frequency_cap
        flash(f"At most {cap['max']} marketing email{'s' if cap['max'] != 1 else ''} per person per {cap['hours']} hours now."
              if cap else "No frequency cap: campaigns and flows send as they are set.", "success")  # fmt: skip
    return redirect(url_for("settings.workspace") + "#frequency-cap")


@bp.route("/unconfirmed", methods=["POST"])
@workspace_view
def unconfirmed():
    """How many days people who never confirmed a double opt-in signup are kept before being deleted."""
    _, errors = attempt(double_opt_in.set_purge_days, g.workspace, request.form.get("unconfirmed_purge_days", ""))
    if not errors:
        days = g.workspace.unconfirmed_purge_days
        flash(f"Unconfirmed subscribers are deleted after {days} day{'s' if days != 1 else ''}.", "success")
    return redirect(url_for("settings.workspace") + "#unconfirmed")


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
