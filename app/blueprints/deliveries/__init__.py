"""Message search: every message to an address (or with a Message-ID) and its whole trail."""

from flask import Blueprint, g, render_template, request

from app.blueprints.helpers import workspace_view
from app.services.errors import ValidationError
from app.services.events import trail

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")


@bp.route("/")
@workspace_view
def index():
    q = (request.args.get("q") or "").strip()
    found, error = [], None
    if q:
        # An address matches both ways: a bare Message-ID looks like one (1.2.abc@news.acme.com).
        looks_like_address = "@" in q and not any(c in q for c in "<> ")
        try:
            found = trail.search(g.ws_id, q if looks_like_address else None, q)
        except ValidationError as exc:
            error = exc.message
    status = 422 if error else 200
    return render_template("deliveries/index.html", q=q, found=found, error=error), status
