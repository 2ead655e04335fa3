"""The Advisor page: open recommendations first, each with its evidence and its fix; dismissed,
applied and resolved ones a filter away. The navigation shows how many are open."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, workspace_view
from app.models.advisor import RECOMMENDATION_STATUSES
from app.services.advisor import engine, fixes

bp = Blueprint("advisor", __name__, url_prefix="/advisor")


@bp.app_context_processor
def advisor_badge() -> dict:
    """The navigation's count of open recommendations (one indexed count, only on dashboard pages)."""
    ws_id = getattr(g, "ws_id", None)
    return {"advisor_open": (lambda: engine.open_count(ws_id)) if ws_id else (lambda: 0)}


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in RECOMMENDATION_STATUSES else "open"
    return render_template(
        "advisor/index.html",
        status=status,
        statuses=RECOMMENDATION_STATUSES,
        items=engine.recommendations(g.ws_id, status),
        links=fixes.LINKS,
    )


@bp.route("/check", methods=["POST"])
@workspace_view
def check_now():
    found, _ = attempt(engine.review_workspace, g.ws_id)
    if found is not None:
        flash(f"Checked: {len(found)} finding{'s' if len(found) != 1 else ''} stand.", "success")
    return redirect(url_for("advisor.index"))


@bp.route("/<int:recommendation_id>/apply", methods=["POST"])
@workspace_view
def apply(recommendation_id):
    rec, _ = attempt(engine.apply, g.ws_id, recommendation_id)
    if rec is not None:
        flash(f"Done: {rec.fix.get('label', 'the fix')}.", "success")
    return redirect(request.form.get("next") or url_for("advisor.index"))


@bp.route("/<int:recommendation_id>/dismiss", methods=["POST"])
@workspace_view
def dismiss(recommendation_id):
    rec, _ = attempt(engine.dismiss, g.ws_id, recommendation_id, request.form.get("reason"))
    if rec is not None:
        flash("Dismissed. It comes back if its evidence gets worse.", "success")
    return redirect(request.form.get("next") or url_for("advisor.index"))
