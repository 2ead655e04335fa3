"""Settings → Webhooks: the workspace's outbound webhook endpoints, their signing secrets and delivery logs."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, is_htmx, page_number, workspace_view
from app.event_types import EVENT_TYPES
from app.services import outbound_webhooks
from app.services.errors import DomainError
from app.services.outbound_webhooks import DELIVERY_STATUSES

bp = Blueprint("webhook_endpoints", __name__, url_prefix="/settings/webhooks")
PER_PAGE = 25


def _event_types(form) -> list[str] | None:
    """None (every type) unless the person chose "only these"; then the boxes ticked (maybe none: an error)."""
    return form.getlist("event_types") if form.get("events") == "some" else None


def _form_of(endpoint) -> dict:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": "some" if endpoint.event_types is not None else "all",
        "event_types": endpoint.event_types or [],
    }


def _posted_form() -> dict:
    form = request.form
    return {
        "url": form.get("url", ""),
        "description": form.get("description", ""),
        "events": "some" if form.get("events") == "some" else "all",
        "event_types": form.getlist("event_types"),
    }


def _log_args(endpoint_id: int) -> dict:
    status = request.args.get("status")
    status = status if status in DELIVERY_STATUSES else None
    page = page_number()
    items, total = outbound_webhooks.list_deliveries(g.ws_id, endpoint_id, status, page, PER_PAGE)
    return {
        "deliveries": items,
        "total": total,
        "page": page,
        "per_page": PER_PAGE,
        "status": status,
        "statuses": DELIVERY_STATUSES,
        "polling": outbound_webhooks.has_pending(g.ws_id, endpoint_id),
    }


def _show(endpoint, new_secret: str | None = None, revealed: str | None = None, status: int = 200):
    return render_template(
        "webhook_endpoints/show.html",
        endpoint=endpoint,
        new_secret=new_secret,
        revealed=revealed,
        **_log_args(endpoint.id),
    ), status


@bp.route("/")
@workspace_view
def index():
    return render_template("webhook_endpoints/index.html", items=outbound_webhooks.list_endpoints(g.ws_id))


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    form, errors = {"events": "all", "event_types": []}, {}
    if request.method == "POST":
        form = _posted_form()
        created, errors = attempt(
            outbound_webhooks.create_endpoint,
            g.ws_id,
            request.form.get("url"),
            request.form.get("description"),
            _event_types(request.form),
        )
        if created:
            endpoint, secret = created
            # Rendered, not redirected: this answer is the one place the secret appears unasked.
            return _show(endpoint, new_secret=secret, status=201)
    return render_template(
        "webhook_endpoints/form.html", endpoint=None, form=form, errors=errors, event_types=EVENT_TYPES
    ), (422 if errors else 200)


@bp.route("/<int:endpoint_id>")
@workspace_view
def show(endpoint_id):
    return _show(outbound_webhooks.get_endpoint(g.ws_id, endpoint_id))


@bp.route("/<int:endpoint_id>/log")
@workspace_view
def log(endpoint_id):
    """The delivery log alone: the page re-polls it while deliveries are on their way."""
    endpoint = outbound_webhooks.get_endpoint(g.ws_id, endpoint_id)
    return render_template("webhook_endpoints/_log.html", endpoint=endpoint, **_log_args(endpoint.id))


@bp.route("/<int:endpoint_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(endpoint_id):
    endpoint = outbound_webhooks.get_endpoint(g.ws_id, endpoint_id)
    form, errors = _form_of(endpoint), {}
    if request.method == "POST":
        form = _posted_form()
        saved, errors = attempt(
            lambda: outbound_webhooks.update_endpoint(
                g.ws_id,
                endpoint.id,
                url=request.form.get("url"),
                description=request.form.get("description"),
                event_types=_event_types(request.form),
            )
        )
        if saved:
            flash("Endpoint saved.", "success")
            return redirect(url_for("webhook_endpoints.show", endpoint_id=endpoint.id))
    return render_template(
        "webhook_endpoints/form.html", endpoint=endpoint, form=form, errors=errors, event_types=EVENT_TYPES
    ), (422 if errors else 200)


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@workspace_view
def test(endpoint_id):
    delivery = outbound_webhooks.send_test_event(g.ws_id, endpoint_id)
    commit()
    if delivery.status == "delivered":
        flash(f"Test event delivered: HTTP {delivery.response_code} in {delivery.duration_ms} ms.", "success")
    else:
        flash(f"The test event was not delivered: {delivery.error}", "danger")
    return redirect(url_for("webhook_endpoints.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/enable", methods=["POST"])
@workspace_view
def enable(endpoint_id):
    outbound_webhooks.update_endpoint(g.ws_id, endpoint_id, is_active=True)
    commit()
    flash("Endpoint enabled: new events are sent to it again.", "success")
    return redirect(url_for("webhook_endpoints.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/disable", methods=["POST"])
@workspace_view
def disable(endpoint_id):
    outbound_webhooks.update_endpoint(g.ws_id, endpoint_id, is_active=False)
    commit()
    flash("Endpoint disabled: it receives nothing until you enable it.", "success")
    return redirect(url_for("webhook_endpoints.show", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/delete", methods=["POST"])
@workspace_view
def delete(endpoint_id):
    outbound_webhooks.delete_endpoint(g.ws_id, endpoint_id)
    commit()
    flash("Endpoint deleted with its delivery log.", "success")
    return redirect(url_for("webhook_endpoints.index"))


@bp.route("/<int:endpoint_id>/secret", methods=["POST"])
@workspace_view
def secret(endpoint_id):
    """Reveal the signing secret: a POST, so no link, prefetch or cache ever shows it."""
    endpoint = outbound_webhooks.get_endpoint(g.ws_id, endpoint_id)
    revealed = outbound_webhooks.reveal_secret(g.ws_id, endpoint.id)
    if is_htmx():
        return render_template("webhook_endpoints/_secret.html", endpoint=endpoint, revealed=revealed)
    return _show(endpoint, revealed=revealed)


@bp.route("/<int:endpoint_id>/rotate", methods=["POST"])
@workspace_view
def rotate(endpoint_id):
    new_secret = outbound_webhooks.rotate_secret(g.ws_id, endpoint_id)
    commit()
    flash("New signing secret: update your receiver, the old one no longer signs anything.", "success")
    return _show(outbound_webhooks.get_endpoint(g.ws_id, endpoint_id), new_secret=new_secret)


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>")
@workspace_view
def delivery(endpoint_id, delivery_id):
    """One delivery's payload and answer: the log's dialog (HTMX) or a page of its own."""
    endpoint = outbound_webhooks.get_endpoint(g.ws_id, endpoint_id)
    d = outbound_webhooks.get_delivery(g.ws_id, delivery_id, endpoint_id=endpoint.id)
    payload = outbound_webhooks.pretty_payload(d.payload)
    if is_htmx():
        return render_template(
            "webhook_endpoints/_delivery.html", endpoint=endpoint, d=d, payload=payload, in_modal=True
        )
    return render_template("webhook_endpoints/delivery.html", endpoint=endpoint, d=d, payload=payload, in_modal=False)


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@workspace_view
def redeliver(endpoint_id, delivery_id):
    outbound_webhooks.get_delivery(g.ws_id, delivery_id, endpoint_id=endpoint_id)
    try:
        copy = outbound_webhooks.redeliver(g.ws_id, delivery_id)
        commit()
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        outbound_webhooks.enqueue_delivery_run()
        flash(f"Queued again as delivery #{copy.id}: it goes out within seconds.", "success")
    return redirect(url_for("webhook_endpoints.show", endpoint_id=endpoint_id))
