"""The overview: the first-run checklist and the workspace at a glance."""

from flask import Blueprint, g, render_template

from app.blueprints.helpers import workspace_view
from app.services.platform.overview import workspace_overview

bp = Blueprint("overview", __name__)


@bp.route("/")
@workspace_view
def index():
    return render_template("overview/index.html", o=workspace_overview(g.ws_id))
