"""The suppression list: addresses no campaign will send to, and why."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, page_number, workspace_view
from app.extensions import db
from app.models import Suppression
from app.services.audience import contacts
from app.services.errors import DomainError
from app.services.pagination import paginate

bp = Blueprint("suppressions", __name__, url_prefix="/suppressions")


@bp.route("/")
@workspace_view
def index(errors=None, status=200):
    q = (request.args.get("q") or "").strip().lower()[:200]
    stmt = db.select(Suppression).where(Suppression.workspace_id == g.ws_id)
    if q:
        stmt = stmt.where(Suppression.email.like(f"%{q}%"))
    page = page_number()
    items, total = paginate(stmt.order_by(Suppression.id.desc()), page, 50)
    return render_template(
        "suppressions/index.html", items=items, total=total, page=page, per_page=50, q=q, errors=errors or {}
    ), status


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    try:
        sup = contacts.suppress_address(g.ws_id, request.form.get("email"), "manual", request.form.get("detail"))
        commit()
    except DomainError as exc:
        return index(errors={"email": exc.message}, status=422)
    flash(f"{sup.email} is suppressed: no campaign will send to it.", "success")
    return redirect(url_for("suppressions.index"))


@bp.route("/<int:suppression_id>/delete", methods=["POST"])
@workspace_view
def delete(suppression_id):
    contacts.unsuppress_address(g.ws_id, suppression_id)
    commit()
    flash("Address removed from the suppression list.", "success")
    return redirect(url_for("suppressions.index"))
