"""Deliverability → Providers: every sending provider type, its webhooks, checks and figures."""

import json

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, is_htmx, workspace_view
from app.blueprints.providers import forms
from app.services.delivery import delivery_stats, providers
from app.services.errors import NotFound, ValidationError
from app.services.events import webhook_intake

bp = Blueprint("providers", __name__, url_prefix="/providers")

BODY_SHOWN = 200 * 1024  # a payload's body is shown up to this many characters


def _render_show(p, form: dict, errors: dict):
    return render_template(
        "providers/show.html",
        provider=p,
        provider_type=p.provider_type,
        form=form,
        errors=errors,
        creds=providers.credentials_summary(p),
        webhook_url=providers.webhook_url(p),
        payloads=webhook_intake.list_payloads(g.ws_id, provider_id=p.id, limit=50),
        counts=webhook_intake.payload_counts(g.ws_id, p.id),
        rejections=webhook_intake.recent_rejections(p.id),
        totals=delivery_stats.totals(g.ws_id, provider_id=p.id),
        mailin_port=current_app.config.get("MAILIN_PORT"),
        **_labels(),
    ), (422 if errors else 200)


def _labels() -> dict:
    return {"type_labels": providers.TYPE_LABELS, "specs": providers.SPECS, "form_fields": providers.FIELD_NAMES}


@bp.route("/")
@workspace_view
def index():
    items = providers.list_providers(g.ws_id)
    sent = {p.id: providers.sent_today(p) for p in items}
    return render_template("providers/index.html", items=items, sent=sent, **_labels())


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    # The first form (SMTP's) posted no type: such a POST still means that type.
    provider_type = request.values.get("type") or (providers.DEFAULT_TYPE if request.method == "POST" else None)
    if provider_type is None:
        return render_template("providers/choose.html", types=providers.CREATABLE_TYPES, **_labels())
    if provider_type not in providers.CREATABLE_TYPES:
        abort(404)
    spec = providers.SPECS[provider_type]
    form, errors = {"priority": 100, **spec.form_defaults}, {}
    if request.method == "POST":
        form = forms.typed_values(request.form)
        p, errors = attempt(_create_from_form, spec)
        errors = forms.field_errors(errors)
        if p:
            flash(f"Provider “{p.name}” added. Test it to check the connection.", "success")
            return redirect(url_for("providers.show", provider_id=p.id))
    return render_template(
        "providers/form.html",
        provider=None,
        provider_type=provider_type,
        form=form,
        errors=errors,
        creds={},
        **_labels(),
    ), (422 if errors else 200)


def _create_from_form(spec):
    common = forms.common_values(request.form, default_priority=100)
    return providers.create_provider(
        g.ws_id,
        common.pop("name"),
        spec.type,
        forms.settings_values(spec, request.form),
        forms.credential_values(spec, request.form),
        is_default=request.form.get("is_default") == "on",
        **common,
    )


@bp.route("/<int:provider_id>", methods=["GET", "POST"])
@workspace_view
def show(provider_id):
    p = providers.get_provider(g.ws_id, provider_id)
    if providers.is_development(p):
        return render_template("providers/outbox.html", provider=p)
    if request.method == "GET":
        return _render_show(p, forms.form_values(p), {})

    def save():
        spec = providers.spec_of(p)
        common = forms.common_values(request.form)
        saved = providers.update_provider(
            g.ws_id,
            p.id,
            common.pop("name"),
            forms.settings_values(spec, request.form),
            forms.credential_values(spec, request.form),
            **common,
        )
        if request.form.get("is_default") == "on" and not saved.is_default:
            providers.make_default(g.ws_id, saved.id)
        return saved

    saved, errors = attempt(save)
    if saved:
        flash("Provider saved.", "success")
        return redirect(url_for("providers.show", provider_id=p.id))
    return _render_show(p, forms.typed_values(request.form), forms.field_errors(errors))


@bp.route("/<int:provider_id>/test", methods=["POST"])
@workspace_view
def test(provider_id):
    p = providers.test_provider(g.ws_id, provider_id)
    commit()
    if p.last_check_status == "ok":
        flash(f"“{p.name}” answered and accepted the credentials.", "success")
    else:
        flash(f"“{p.name}” failed the check: {p.last_error}", "danger")
    return redirect(url_for("providers.show", provider_id=p.id))


@bp.route("/<int:provider_id>/default", methods=["POST"])
@workspace_view
def make_default(provider_id):
    try:
        providers.make_default(g.ws_id, provider_id)
    except ValidationError as exc:  # an SMS provider never carries email (another workspace's id is a 404)
        flash(exc.message, "danger")
    else:
        commit()
        flash("Default provider changed: new campaigns send through it.", "success")
    if request.args.get("back") == "provider":  # pressed on the provider's own page: stay there
        return redirect(url_for("providers.show", provider_id=provider_id))
    return redirect(url_for("providers.index"))


def _payload(provider_id: int, payload_id: int):
    p = providers.get_provider(g.ws_id, provider_id)
    payload = webhook_intake.get_payload(g.ws_id, payload_id)
    if payload.provider_id != p.id:  # another provider's payload is not on this provider's page
        raise NotFound("No such webhook payload.")
    return p, payload


def _body_text(body: bytes) -> tuple[str, bool]:
    """The body as shown: pretty JSON when it parses, else the text; cut at BODY_SHOWN characters."""
    text = bytes(body or b"").decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    return text[:BODY_SHOWN], len(text) > BODY_SHOWN


@bp.route("/<int:provider_id>/webhooks/<int:payload_id>")
@workspace_view
def payload(provider_id, payload_id):
    """One stored webhook request: the log's dialog (HTMX) or a page of its own."""
    p, wp = _payload(provider_id, payload_id)
    body, truncated = _body_text(wp.body)
    template = "providers/_payload.html" if is_htmx() else "providers/payload.html"
    return render_template(template, provider=p, wp=wp, body=body, truncated=truncated, in_modal=is_htmx())


@bp.route("/<int:provider_id>/webhooks/<int:payload_id>/reprocess", methods=["POST"])
@workspace_view
def reprocess(provider_id, payload_id):
    p, wp = _payload(provider_id, payload_id)
    done = webhook_intake.reprocess(g.ws_id, wp.id)
    commit()
    if done.status == "processed":
        flash(f"Payload #{done.id} processed: {done.events_new} new of {done.events_total} events.", "success")
    else:
        flash(f"Payload #{done.id} failed again: {done.error}", "danger")
    return redirect(url_for("providers.show", provider_id=p.id) + "#webhook-log")
