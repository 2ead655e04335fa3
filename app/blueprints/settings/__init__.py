"""Workspace settings."""

from zoneinfo import available_timezones

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, workspace_view
from app.services.workspaces import update_workspace

bp = Blueprint("settings", __name__, url_prefix="/settings")
TIMEZONES = sorted(available_timezones())


@bp.route("/workspace", methods=["GET", "POST"])
@workspace_view
def workspace():
    errors = {}
    form = {"name": g.workspace.name, "timezone": g.workspace.timezone}
    if request.method == "POST":
        form = request.form
        saved, errors = attempt(update_workspace, g.workspace, form.get("name"), form.get("timezone"))
        if saved:
            flash("Workspace settings saved.", "success")
            return redirect(url_for("settings.workspace"))
    return render_template("settings/workspace.html", form=form, errors=errors, timezones=TIMEZONES), (
        422 if errors else 200
    )
