"""The development outbox: messages the mail catcher received for this workspace."""

from flask import Blueprint, flash, g, redirect, render_template, url_for

from app.blueprints.helpers import commit, page_number, workspace_view
from app.services.delivery import outbox
from app.services.pagination import paginate

bp = Blueprint("outbox", __name__, url_prefix="/outbox")


@bp.route("/")
@workspace_view
def index():
    page = page_number()
    items, total = paginate(outbox.list_caught(g.ws_id), page, 50)
    return render_template("outbox/index.html", items=items, total=total, page=page, per_page=50)


@bp.route("/<int:message_id>")
@workspace_view
def show(message_id):
    caught = outbox.get_caught(g.ws_id, message_id)
    return render_template("outbox/show.html", m=caught, parsed=outbox.parse_caught(caught))


@bp.route("/clear", methods=["POST"])
@workspace_view
def clear():
    n = outbox.clear_outbox(g.ws_id)
    commit()
    flash(f"Outbox emptied ({n} messages).", "success")
    return redirect(url_for("outbox.index"))
