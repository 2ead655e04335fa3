"""Campaigns: index, new, edit, show with live progress, send."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.campaigns import forms
from app.blueprints.figures import curve_figure, insights_figure, shares_figure
from app.blueprints.helpers import attempt, commit, csv_response, page_number, role_allows, workspace_view
from app.blueprints.roles import can
from app.extensions import db
from app.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES
from app.services.advisor import engine as advisor
from app.services.advisor import gate, spamassassin
from app.services.advisor.fixes import LINKS as fix_links
from app.services.audience import preferences, suppression
from app.services.campaigns import ab_tests, ab_winner, drafts, lifecycle, pages, recurring, test_sends
from app.services.content import templates
from app.services.delivery import identities
from app.services.errors import DomainError
from app.services.events import insights as event_insights
from app.services.events import mailin, send_time
from app.services.events.devices import campaign_devices
from app.services.ids import as_id
from app.services.pagination import paginate
from app.services.platform import audit

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


def _render_form(form: dict, errors: dict, campaign=None):
    """The campaign form with what was typed (or saved) and what is wrong with it: 422 when anything is."""
    choices = pages.campaign_form(g.ws_id)
    body = render_template(
        "campaigns/form.html",
        form=form,
        errors=errors,
        campaign=campaign,
        templates=choices.templates,
        lists=choices.lists,
        providers=choices.providers,
        identities=choices.identities,
        signed_statuses=identities.SIGNED_STATUSES,
        routing_rows=forms.routing_rows(choices.providers, form.get("routing_ui")),
        timezones=choices.timezones,
        categories=preferences.list_categories(g.ws_id),
        segments=choices.segments,
        pools=choices.pools,
    )
    return body, (422 if errors else 200)


def _context(*models) -> dict:
    """Read models' fields under the names the campaign templates use (`c`: the campaign)."""
    context = {}
    for model in models:
        context.update(vars(model), c=model.campaign)
    return context


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in CAMPAIGN_STATUSES else None
    parent_id = request.args.get("parent_id")
    parent = drafts.get_campaign(g.ws_id, as_id(parent_id) or 0) if parent_id else None  # the runs of a series
    page = page_number()
    items, total = paginate(drafts.list_campaigns(g.ws_id, status, parent.id if parent else None), page, 25)
    return render_template(
        "campaigns/index.html",
        items=items,
        total=total,
        page=page,
        per_page=25,
        status=status,
        statuses=CAMPAIGN_STATUSES,
        parent=parent,
    )


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    if request.method != "POST":
        return _render_form(forms.new_values(request.args), {})
    form = forms.campaign_data(request.form)
    c, errors = attempt(drafts.create_campaign, g.ws_id, form)
    if not c:
        return _render_form(form, errors)
    flash(f"Draft “{c.name}” created. Review it, then send.", "success")
    return redirect(url_for("campaigns.show", campaign_id=c.id))


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    if c.status != "draft":
        flash(f"A {c.status} campaign can no longer be edited.", "info")
        return redirect(url_for("campaigns.show", campaign_id=c.id))
    if request.method != "POST":
        return _render_form(forms.edit_values(drafts.campaign_values(c), ab_tests.form_values(c)), {}, c)
    form = forms.campaign_data(request.form)
    saved, errors = attempt(drafts.update_campaign, g.ws_id, c.id, form)
    if not saved:
        return _render_form(form, errors, c)
    flash("Campaign saved.", "success")
    return redirect(url_for("campaigns.show", campaign_id=c.id))


@bp.route("/ab-variants", methods=["POST"])
@workspace_view
def ab_variants():
    """HTMX: the variant rows again, with one added or one removed (labels follow the order)."""
    variants = forms.change_variant_rows(request.form)
    return render_template(
        "campaigns/_ab_variant_rows.html", variants=variants, errors={}, templates=templates.list_templates(g.ws_id)
    )


@bp.route("/<int:campaign_id>/variants")
@workspace_view
def variants(campaign_id):
    """The live variants table; answers 286 (htmx: stop polling) once the send is over."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    ab = ab_tests.report(c)
    if ab["ab_test"] is None:  # the test was removed (or never was): nothing to show, stop polling
        return "", 286
    body = render_template("campaigns/_ab_results.html", c=c, ab=ab)
    return (body, 200) if c.status == "sending" else (body, 286)


@bp.route("/<int:campaign_id>/variants/<int:variant_id>/pick", methods=["POST"])
@workspace_view
def pick_variant(campaign_id, variant_id):
    c, _ = attempt(ab_winner.pick_winner, g.ws_id, campaign_id, variant_id)
    if c:
        label = next((v.label for v in ab_tests.list_variants(c.id) if v.id == variant_id), "")
        flash(f"Variant {label} is the winner: the rest of the audience gets it now.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>")
@workspace_view
def show(campaign_id):
    status = request.args.get("rstatus") if request.args.get("rstatus") in RECIPIENT_STATUSES else None
    page = pages.campaign_page(g.ws_id, campaign_id, recipient_status=status, recipients_page=page_number())
    c = page.campaign
    return render_template(
        "campaigns/show.html",
        rstatuses=RECIPIENT_STATUSES,
        advice=[] if c.status == "draft" else _advice(c),  # a draft's come fresh from `presend`
        best_time_spread=send_time.spread(c) if c.send_at_best_time and c.started_at else None,
        links=fix_links,
        **_context(page.progress, page),
    )


def _advice(c) -> list:
    return [r for r in advisor.recommendations(g.ws_id, None, ("campaign", c.id)) if r.status != "resolved"]


@bp.route("/<int:campaign_id>/presend")
@workspace_view
def presend(campaign_id):
    """The pre-send panel of a draft (its page and its editor load it, HTMX): the checks run now on the
    message as it would go out, what the gate would stop, and the spam score button. Running them
    keeps the recommendations up to date, so a page view never pays for them."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    if c.status == "draft" and can("write"):
        advisor.review_campaign(g.ws_id, c.id)
        commit()
    blocking = gate.blocking_findings(c) if c.status == "draft" and not c.recurrence else []
    return render_template("campaigns/_presend.html", c=c, blocking=blocking, advice=_advice(c),
                           links=fix_links, editor=request.args.get("in") == "editor")  # fmt: skip


def _insights_args() -> tuple[str, str | None]:
    """The interval and split asked for; anything else is the default (per hour, no split)."""
    interval = request.args.get("interval") if request.args.get("interval") in event_insights.INTERVALS else "hour"
    group_by = request.args.get("group_by") if request.args.get("group_by") in event_insights.GROUPS else None
    return interval, group_by


@bp.route("/<int:campaign_id>/insights")
@workspace_view
def insights(campaign_id):
    """The campaign's figures over time: a chart and the table under it, raw and human side by side."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    interval, group_by = _insights_args()
    result = event_insights.campaign_series(c, interval, group_by)
    hourly = result if (interval, group_by) == ("hour", None) else event_insights.campaign_series(c, "hour")
    return render_template("campaigns/insights.html", c=c, result=result, figure=insights_figure(result),
                           curve=curve_figure(hourly), shares=shares_figure(result["totals"]),
                           interval=interval, group_by=group_by, groups=event_insights.GROUPS,
                           links=event_insights.campaign_links(c), devices=campaign_devices(c),
                           sources=suppression.unsubscribe_sources(g.ws_id, campaign_id=c.id))  # fmt: skip


@bp.route("/<int:campaign_id>/links.csv")
@workspace_view
def links_csv(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    rows = event_insights.links_csv_rows(event_insights.campaign_links(c))
    return csv_response(rows, f"campaign-{c.id}-links.csv")


@bp.route("/<int:campaign_id>/devices.csv")
@workspace_view
def devices_csv(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    return csv_response(event_insights.devices_csv_rows(campaign_devices(c)), f"campaign-{c.id}-devices.csv")


@bp.route("/<int:campaign_id>/insights.csv")
@workspace_view
def insights_csv(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    interval, group_by = _insights_args()
    rows = event_insights.csv_rows(event_insights.campaign_series(c, interval, group_by))
    return csv_response(rows, f"campaign-{c.id}-{interval}{'-by-' + group_by if group_by else ''}.csv")


@bp.route("/<int:campaign_id>/replies/<int:inbound_id>")
@workspace_view
def reply(campaign_id, inbound_id):
    """One message a recipient sent back, shown as text (never its HTML)."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    m = mailin.get_reply(g.ws_id, c.id, inbound_id)
    return render_template("campaigns/reply.html", c=c, m=m, parsed=mailin.read_inbound(m))


_LIVE_PARTS = ("_window_status", "_progress", "_delivery")


@bp.route("/<int:campaign_id>/progress")
@workspace_view
def progress(campaign_id):
    """The live figures fragment; answers 286 (htmx: stop polling) once the send is over."""
    live = pages.campaign_progress(g.ws_id, campaign_id)
    c, context = live.campaign, _context(live)
    body = "".join(render_template(f"campaigns/{part}.html", **context) for part in _LIVE_PARTS)
    if c.ab_test and request.args.get("phase", c.ab_phase or "") != (c.ab_phase or ""):
        return body, 286, {"HX-Refresh": "true"}  # the A/B test moved on (e.g. to its wait): show the new state
    if c.status == "sending":
        return body
    # Done: stop polling and reload once, so the recipients table shows the final statuses too.
    return body, 286, {"HX-Refresh": "true"}


@bp.route("/<int:campaign_id>/spam-score")
@workspace_view
def spam_score(campaign_id):
    """SpamAssassin's score of the message as it would go out, with its top rules in plain words (HTMX)."""
    drafts.get_campaign(g.ws_id, campaign_id)
    try:
        result = spamassassin.check_campaign_spam(g.ws_id, campaign_id)
    except DomainError as exc:
        return render_template("campaigns/_spam_score.html", result=None, error=exc.message)
    top = [(r, spamassassin.explain(r.name)) for r in spamassassin.top_rules(result, 5)]
    return render_template("campaigns/_spam_score.html", result=result, top=top, error=None)


@bp.route("/<int:campaign_id>/send", methods=["POST"])
@workspace_view
def send(campaign_id):
    reason = request.form.get("override_reason")
    if attempt(gate.send_now, g.ws_id, campaign_id, reason, role_allows("owner"))[0]:
        flash("Sending has started. This page updates as it goes.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/start-recurring", methods=["POST"])
@workspace_view
def start_recurring(campaign_id):
    if attempt(recurring.start_recurring, g.ws_id, campaign_id)[0]:
        flash("The series has started: each run is sent at its time, and listed below.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/schedule", methods=["POST"])
@workspace_view
def schedule(campaign_id):
    when, reason = request.form.get("scheduled_at"), request.form.get("override_reason")
    c, _ = attempt(gate.schedule, g.ws_id, campaign_id, when, g.workspace.timezone, reason, role_allows("owner"))
    if c:
        flash("Scheduled. It starts by itself at the chosen time; you can still pause or cancel it.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


_TRANSITIONS = {
    "pause": (lifecycle.pause, "Paused. Nothing more is sent until you resume."),
    "resume": (lifecycle.resume, "Resumed."),
    "cancel": (lifecycle.cancel, "Cancelled. Whoever was not sent yet is listed as not sent."),
    "unschedule": (lifecycle.unschedule, "Unscheduled: the campaign is a draft again."),
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
    count, errors = attempt(lifecycle.resend_unknown, g.ws_id, campaign_id)
    if not errors:
        flash(f"{count} recipients queued to be sent again." if count else "No recipient was left unknown.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/resend-undelivered", methods=["POST"])
@workspace_view
def resend_undelivered(campaign_id):
    count, errors = attempt(lifecycle.resend_undelivered, g.ws_id, campaign_id)
    if not errors:
        flash(f"{count} recipients queued to be sent again." if count else "Nobody is left to resend to.", "success")
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
    c = drafts.get_campaign(g.ws_id, campaign_id)
    if c.status != "draft":
        flash("Only drafts can be deleted; sent campaigns keep their history.", "danger")
        return redirect(url_for("campaigns.show", campaign_id=c.id))
    audit.record(g.ws_id, "campaign.delete", "campaign", c.id, {"name": c.name})
    db.session.delete(c)
    commit()
    flash("Draft deleted.", "success")
    return redirect(url_for("campaigns.index"))
