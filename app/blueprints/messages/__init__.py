"""Transactional messages in the dashboard: the recent ones, filtered by status, and each one's page."""

from flask import Blueprint, g, render_template, request

from app.blueprints.helpers import page_number, workspace_view
from app.models.message import MESSAGE_STATUSES
from app.services.delivery import transactional
from app.services.pagination import paginate

bp = Blueprint("messages", __name__, url_prefix="/messages")
PER_PAGE = 50


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in MESSAGE_STATUSES else None
    to = (request.args.get("to") or "").strip()[:320] or None
    page = page_number()
    items, total = paginate(transactional.list_messages(g.ws_id, status, to), page, PER_PAGE)
    return render_template(
        "messages/index.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        status=status,
        to=to,
        statuses=MESSAGE_STATUSES,
    )


@bp.route("/<int:message_id>")
@workspace_view
def show(message_id):
    msg = transactional.get_message(g.ws_id, message_id)
    return render_template("messages/show.html", m=msg, rendered=transactional.message_preview(msg))
