"""Events: what people did in the shop or the app (reported through the API, or derived by Herald from
the catalogue), newest first, filtered by type or person."""

from flask import Blueprint, g, render_template, request

from app.blueprints.helpers import page_number, workspace_view
from app.services.audience import contacts
from app.services.automation import customer_events
from app.services.ids import as_id

bp = Blueprint("customer_events", __name__, url_prefix="/events")
PER_PAGE = 50


@bp.route("/")
@workspace_view
def index():
    types = customer_events.types_seen(g.ws_id)
    chosen = request.args.get("type") if request.args.get("type") in types else None
    person_id = as_id(request.args.get("subscriber_id"))
    person = contacts.get_subscriber(g.ws_id, person_id) if person_id else None  # another workspace's: 404
    page = page_number()
    rows, total = customer_events.recent(
        g.ws_id, type=chosen, subscriber_id=person_id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    args = {k: v for k, v in (("type", chosen), ("subscriber_id", person_id)) if v}
    return render_template(
        "customer_events/index.html",
        rows=rows,
        total=total,
        page=page,
        per_page=PER_PAGE,
        types=types,
        chosen=chosen,
        person=person,
        args=args,
        summary=customer_events.summary,
    )
