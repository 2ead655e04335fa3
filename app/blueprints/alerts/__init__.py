"""Alerts: what needs a person (a DNS record that broke, a paused warming plan), open or resolved."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, page_number, workspace_view
from app.services.platform import alerts

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
PER_PAGE = 50


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in alerts.STATUSES else "open"
    page = page_number()
    items, total = alerts.list_alerts(g.ws_id, status, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render_template(
        "alerts/index.html",
        items=items,
        total=total,
        status=status,
        page=page,
        per_page=PER_PAGE,
        evidence_items=alerts.evidence_items,
    )


@bp.route("/<int:alert_id>/resolve", methods=["POST"])
@workspace_view
def resolve(alert_id):
    alert = alerts.resolve(g.ws_id, alert_id)
    commit()
    flash(f"Resolved: {alert.message[:120]}", "success")
    return redirect(url_for("alerts.index"))
