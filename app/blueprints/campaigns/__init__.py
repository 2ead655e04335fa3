"""Campaigns: index, new, edit, show with live progress, send."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, int_list, page_number, workspace_view
from app.extensions import db
from app.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES
from app.services import campaign_lifecycle, send_progress, test_sends, audience, campaigns, providers, templates
from app.services.ids import as_id
from app.services.pagination import paginate

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


def _form_data() -> dict:
    f = request.form
    return {
        "name": f.get("name"),
        "template_id": f.get("template_id"),
        "list_ids": int_list(f.getlist("list_ids")),
        "from_name": f.get("from_name"),
        "from_email": f.get("from_email"),
        "reply_to": f.get("reply_to"),
        "provider_id": f.get("provider_id") or None,
        "track_opens": f.get("track_opens") == "on",
        "track_clicks": f.get("track_clicks") == "on",
    }


def _form_context(form: dict, errors: dict, campaign=None) -> dict:
    return dict(
        form=form,
        errors=errors,
        campaign=campaign,
        templates=templates.list_templates(g.ws_id),
        lists=audience.lists_with_counts(g.ws_id),
        providers=providers.list_providers(g.ws_id),
    )


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in CAMPAIGN_STATUSES else None
    page = page_number()
    items, total = paginate(campaigns.list_campaigns(g.ws_id, status), page, 25)
    return render_template(
        "campaigns/index.html",
        items=items,
        total=total,
        page=page,
        per_page=25,
        status=status,
        statuses=CAMPAIGN_STATUSES,
    )


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    form = {
        "track_opens": True,
        "track_clicks": True,
        "list_ids": int_list([request.args.get("list_id")]),
        "template_id": as_id(request.args.get("template_id")),
    }
    errors = {}
    if request.method == "POST":
        form = _form_data()
        c, errors = attempt(campaigns.create_campaign, g.ws_id, form)
        if c:
            flash(f"Draft “{c.name}” created. Review it, then send.", "success")
            return redirect(url_for("campaigns.show", campaign_id=c.id))
    return render_template("campaigns/form.html", **_form_context(form, errors)), (422 if errors else 200)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(campaign_id):
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    if c.status != "draft":
        flash(f"A {c.status} campaign can no longer be edited.", "info")
        return redirect(url_for("campaigns.show", campaign_id=c.id))
    form = {
        "name": c.name,
        "template_id": c.template_id,
        "list_ids": campaigns.campaign_list_ids(c.id),
        "from_name": c.from_name,
        "from_email": c.from_email,
        "reply_to": c.reply_to,
        "provider_id": c.provider_id,
        "track_opens": c.track_opens,
        "track_clicks": c.track_clicks,
    }
    errors = {}
    if request.method == "POST":
        form = _form_data()
        saved, errors = attempt(campaigns.update_campaign, g.ws_id, c.id, form)
        if saved:
            flash("Campaign saved.", "success")
            return redirect(url_for("campaigns.show", campaign_id=c.id))
    return render_template("campaigns/form.html", **_form_context(form, errors, c)), (422 if errors else 200)


def _progress_context(c) -> dict:
    """What the live fragment shows; it is polled every second, so nothing more."""
    audience_size = None
    if c.status == "draft":
        audience_size = campaigns.audience_size(g.ws_id, campaigns.campaign_list_ids(c.id))
    stats = campaigns.campaign_stats(c.id)
    live = reasons = None
    if c.status == "sending":
        live = send_progress.snapshot(c.id, stats["pending"], c.started_at.timestamp() if c.started_at else None)
    if c.status != "draft" and (stats["failed"] - stats["suppressed"] > 0 or stats["unknown"] or stats["bounced"]):
        reasons = campaigns.failure_reasons(c.id)
    return dict(c=c, stats=stats, audience=audience_size, live=live, reasons=reasons)


def _show_context(c) -> dict:
    provider = providers.get_provider(g.ws_id, c.provider_id) if c.provider_id else providers.default_provider(g.ws_id)
    return dict(
        lists=campaigns.campaign_lists(c.id),
        provider=provider,
        template=templates.get_template(g.ws_id, c.template_id),
        **_progress_context(c),
    )


@bp.route("/<int:campaign_id>")
@workspace_view
def show(campaign_id):
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    status = request.args.get("rstatus") if request.args.get("rstatus") in RECIPIENT_STATUSES else None
    page = page_number()
    recipients, total = paginate(campaigns.recipients_query(c.id, status), page, 50)
    return render_template(
        "campaigns/show.html",
        recipients=recipients,
        rtotal=total,
        page=page,
        per_page=50,
        rstatus=status,
        rstatuses=RECIPIENT_STATUSES,
        **_show_context(c),
    )


@bp.route("/<int:campaign_id>/progress")
@workspace_view
def progress(campaign_id):
    """The live figures fragment; answers 286 (htmx: stop polling) once the send is over."""
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    body = render_template("campaigns/_progress.html", **_progress_context(c))
    if c.status == "sending":
        return body
    # Done: stop polling and reload once, so the recipients table shows the final statuses too.
    return body, 286, {"HX-Refresh": "true"}


@bp.route("/<int:campaign_id>/send", methods=["POST"])
@workspace_view
def send(campaign_id):
    if attempt(campaigns.send_campaign, g.ws_id, campaign_id)[0]:
        flash("Sending has started. This page updates as it goes.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/schedule", methods=["POST"])
@workspace_view
def schedule(campaign_id):
    c, _ = attempt(
        campaign_lifecycle.schedule, g.ws_id, campaign_id, request.form.get("scheduled_at"), g.workspace.timezone
    )
    if c:
        flash("Scheduled. It starts by itself at the chosen time; you can still pause or cancel it.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


_TRANSITIONS = {
    "pause": (campaign_lifecycle.pause, "Paused. Nothing more is sent until you resume."),
    "resume": (campaign_lifecycle.resume, "Resumed."),
    "cancel": (campaign_lifecycle.cancel, "Cancelled. Whoever was not sent yet is listed as not sent."),
    "unschedule": (campaign_lifecycle.unschedule, "Unscheduled: the campaign is a draft again."),
}


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel, unschedule):action>", methods=["POST"])
@workspace_view
def transition(campaign_id, action):
    fn, message = _TRANSITIONS[action]
    if attempt(fn, g.ws_id, campaign_id)[0]:
        flash(message, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/resend-unknown", methods=["POST"])
@workspace_view
def resend_unknown(campaign_id):
    count, errors = attempt(campaign_lifecycle.resend_unknown, g.ws_id, campaign_id)
    if not errors:
        flash(f"{count} recipients queued to be sent again." if count else "No recipient was left unknown.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/test", methods=["POST"])
@workspace_view
def send_test(campaign_id):
    results, errors = attempt(test_sends.send_campaign_test, g.ws_id, campaign_id, request.form.get("emails", ""))
    for r in results or []:
        if r.ok:
            flash(f"Test sent to {r.email}.", "success")
        else:
            flash(f"The test to {r.email} failed: {r.detail}", "danger")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/delete", methods=["POST"])
@workspace_view
def delete(campaign_id):
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    if c.status != "draft":
        flash("Only drafts can be deleted; sent campaigns keep their history.", "danger")
        return redirect(url_for("campaigns.show", campaign_id=c.id))
    db.session.delete(c)
    commit()
    flash("Draft deleted.", "success")
    return redirect(url_for("campaigns.index"))
