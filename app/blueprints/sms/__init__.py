"""SMS campaigns: index, new, edit, show with live figures, the lifecycle's buttons, and the form's live
counter and estimate (HTMX fragments); replies and the SMS settings are in inbox.py.

Each view calls app/services/sms; what a service refuses is shown on the field it names (the form,
the schedule) or flashed (the lifecycle's buttons)."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, page_number, workspace_view
from app.blueprints.sms import forms
from app.models.campaign import CAMPAIGN_STATUSES
from app.models.sms import SMS_RECIPIENT_STATUSES
from app.services.audience import contacts, segments
from app.services.errors import DomainError
from app.services.sms import campaigns, encoding, lifecycle, phones, reads, settings, test_sends
from app.services.sms.audience import SKIP_REASONS

bp = Blueprint("sms", __name__, url_prefix="/sms")
PER_PAGE = 25


def _target_names() -> dict:
    """Names of the workspace's lists and segments by id, to show a campaign's audience."""
    return {"lists": dict(segments.list_choices(g.ws_id)), "segments": dict(segments.choices(g.ws_id))}


def _counter(body: str) -> dict:
    """The live counter: the text for a sample person measured (the typed text when it cannot be rendered)."""
    if not (body or "").strip():
        return {"preview": None, "measure": encoding.measure(""), "chars": 0}
    shown = campaigns.preview(g.ws_id, body)
    text = body if shown.problem else shown.text
    return {"preview": shown, "measure": encoding.measure(text), "chars": len(text)}


def _estimate(values: dict) -> dict:
    """The form's estimate of the audience chosen and the body typed (nothing saved)."""
    if not (values.get("list_ids") or values.get("segment_ids")):
        return {"estimate": None, "estimate_error": None}
    try:
        return {"estimate": reads.draft_estimate(g.ws_id, values.get("body") or "", values), "estimate_error": None}
    except DomainError as exc:
        return {"estimate": None, "estimate_error": exc.message}


def _render_form(form: dict, errors: dict, campaign=None):
    """The campaign form with what was typed (or saved) and what is wrong with it: 422 when anything is."""
    body = render_template(
        "sms/form.html",
        form=form,
        errors=errors,
        campaign=campaign,
        providers=campaigns.sms_providers(g.ws_id),
        lists=contacts.lists_with_counts(g.ws_id),
        segments=segments.choices(g.ws_id),
        skip_labels=SKIP_REASONS,
        **_counter(form.get("body") or ""),
        **_estimate(form),
    )
    return body, (422 if errors else 200)


@bp.route("/")
@workspace_view
def index():
    status = request.args.get("status") if request.args.get("status") in CAMPAIGN_STATUSES else None
    items = [c for c in campaigns.list_campaigns(g.ws_id) if status in (None, c.status)]
    page = page_number()
    shown = items[(page - 1) * PER_PAGE : page * PER_PAGE]
    return render_template(
        "sms/index.html",
        items=shown,
        total=len(items),
        page=page,
        per_page=PER_PAGE,
        status=status,
        statuses=CAMPAIGN_STATUSES,
        counts={
            cid: (sum(n.get(s, 0) for s in reads.DONE), n.get("delivered", 0))
            for cid, n in reads.status_counts([c.id for c in shown]).items()
        },  # (handed off, delivered)
        names=_target_names(),
        providers=campaigns.sms_providers(g.ws_id),
    )


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    if request.method != "POST":
        return _render_form(forms.new_values(request.args), {})
    form = forms.campaign_data(request.form)
    c, errors = attempt(campaigns.create_campaign, g.ws_id, form)
    if not c:
        return _render_form(form, errors)
    flash(f"Draft “{c.name}” saved. Check the estimate, then send or schedule it.", "success")
    return redirect(url_for("sms.show", campaign_id=c.id))


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(campaign_id):
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    if c.status not in campaigns.EDITABLE or c.flow_id:
        flash(f"A {c.status} campaign can no longer be edited.", "info")
        return redirect(url_for("sms.show", campaign_id=c.id))
    if request.method != "POST":
        return _render_form(forms.edit_values(c), {}, c)
    form = forms.campaign_data(request.form)
    saved, errors = attempt(campaigns.update_campaign, g.ws_id, c.id, form)
    if not saved:
        return _render_form(form, errors, c)
    flash("Campaign saved.", "success")
    return redirect(url_for("sms.show", campaign_id=c.id))


def _render_show(c, errors: dict, status: int = 200):
    rstatus = request.args.get("rstatus") if request.args.get("rstatus") in SMS_RECIPIENT_STATUSES else None
    rpage = page_number()
    rows, total = reads.recipients(c.id, rstatus, rpage)
    return render_template(
        "sms/show.html",
        c=c,
        f=reads.figures(c),
        errors=errors,
        # Before the start, what it would reach now; after, what the start recorded (c.estimate).
        estimate=campaigns.estimate(g.ws_id, c) if c.started_at is None else None,
        preview=campaigns.preview(g.ws_id, c.body or ""),
        provider=next((p for p in campaigns.sms_providers(g.ws_id) if p.id == c.provider_id), None),
        names=_target_names(),
        recipients={"items": rows, "total": total, "page": rpage, "per_page": reads.PAGE, "status": rstatus},
        rstatuses=SMS_RECIPIENT_STATUSES,
        skip_labels=SKIP_REASONS,
        sms=settings.settings_of(g.ws_id),
    ), status


@bp.route("/<int:campaign_id>")
@workspace_view
def show(campaign_id):
    return _render_show(campaigns.get_campaign(g.ws_id, campaign_id), {})


@bp.route("/<int:campaign_id>/test", methods=["POST"])
@workspace_view
def send_test(campaign_id):
    """A test text to the marketer's own phone; the result is flashed, a bad number shown on its field."""
    phone = request.form.get("test_phone", "")
    sent, errors = attempt(test_sends.send_test, g.ws_id, campaign_id, phone)
    if sent is None and ("phone" in errors or "body" in errors):
        c = campaigns.get_campaign(g.ws_id, campaign_id)
        return _render_show(c, {"test_phone": errors.get("phone") or errors.get("body"), "typed_phone": phone}, 422)
    if sent is not None and sent.ok:
        flash(f"Test text sent to {phones.display(sent.phone)} ({sent.segments} segment{'s' if sent.segments != 1 else ''}).",
              "success")  # fmt: skip
    elif sent is not None:
        flash(f"Twilio did not take the test text: {sent.problem}", "danger")
    return redirect(url_for("sms.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/progress")
@workspace_view
def progress(campaign_id):
    """The live figures; answers 286 (htmx: stop polling) and reloads the page once the send is over."""
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    body = render_template("sms/_progress.html", c=c, f=reads.figures(c), skip_labels=SKIP_REASONS)
    if c.status == "sending":
        return body
    return body, 286, {"HX-Refresh": "true"}


@bp.route("/preview", methods=["POST"])
@workspace_view
def preview():
    """HTMX: the counter (characters, encoding, segments, what forces Unicode) and the sample person's text."""
    return render_template("sms/_counter.html", **_counter(request.form.get("body", "")))


@bp.route("/estimate", methods=["POST"])
@workspace_view
def estimate():
    """HTMX: who the form's audience would text and what the body would cost, nothing saved."""
    return render_template(
        "sms/_estimate.html", skip_labels=SKIP_REASONS, **_estimate(forms.campaign_data(request.form))
    )


@bp.route("/<int:campaign_id>/send", methods=["POST"])
@workspace_view
def send(campaign_id):
    if attempt(lifecycle.send_now, g.ws_id, campaign_id)[0]:
        flash("Sending has started. This page updates as it goes.", "success")
    return redirect(url_for("sms.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/schedule", methods=["POST"])
@workspace_view
def schedule(campaign_id):
    when = request.form.get("scheduled_at")
    c, errors = attempt(lifecycle.schedule, g.ws_id, campaign_id, when, g.workspace.timezone)
    if c:
        flash("Scheduled. It starts by itself at the chosen time; you can still pause or cancel it.", "success")
    elif "scheduled_at" in errors:  # shown on the field, with the time typed
        return _render_show(campaigns.get_campaign(g.ws_id, campaign_id), {**errors, "typed_at": when}, 422)
    return redirect(url_for("sms.show", campaign_id=campaign_id))


_TRANSITIONS = {
    "pause": (lifecycle.pause, "Paused. Nothing more is sent until you resume."),
    "resume": (lifecycle.resume, "Resumed."),
    "cancel": (lifecycle.cancel, "Cancelled. Whoever was not texted yet is listed as skipped."),
    "unschedule": (lifecycle.unschedule, "Unscheduled: the campaign is a draft again."),
}


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel, unschedule):action>", methods=["POST"])
@workspace_view
def transition(campaign_id, action):
    fn, message = _TRANSITIONS[action]
    if attempt(fn, g.ws_id, campaign_id)[0]:
        flash(message, "success")
    return redirect(url_for("sms.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/delete", methods=["POST"])
@workspace_view
def delete(campaign_id):
    c = campaigns.get_campaign(g.ws_id, campaign_id)
    name = c.name
    if attempt(campaigns.delete_campaign, g.ws_id, c.id)[1]:
        return redirect(url_for("sms.show", campaign_id=campaign_id))
    flash(f"“{name}” deleted.", "success")
    return redirect(url_for("sms.index"))


from app.blueprints.sms import inbox  # noqa: E402, F401  (replies and settings: their routes on this blueprint)
