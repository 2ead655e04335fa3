"""Campaigns: index, new, edit, show with live progress, send."""

from datetime import datetime, timezone

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, int_list, page_number, workspace_view
from app.extensions import db
from app.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES
from app.services.audience import contacts
from app.services.campaigns import (
    ab_tests,
    ab_winner,
    drafts,
    lifecycle,
    recipients,
    recurrence,
    recurring,
    send_progress,
    send_windows,
    test_sends,
)
from app.services.content import templates
from app.services.delivery import providers, routing
from app.services.events import mailin
from app.services.ids import as_id, parse_int
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
        "send_window": _window_form(f),
        "recurrence": _recurrence_form(f),
        **_ab_form(f),
        **_routing_form(f),
    }


def _ab_variant_rows(f) -> list[dict]:
    """The variant rows of the form (variants-<i>-<field>), in the order shown."""
    rows: dict[int, dict] = {}
    for key, value in f.items():
        parts = key.split("-")
        index = parse_int(parts[1], max_digits=2) if len(parts) == 3 and parts[0] == "variants" else None
        if index is not None and index >= 0 and parts[2] in ab_tests.VARIANT_FIELDS:
            rows.setdefault(index, {})[parts[2]] = value
    return [rows[i] for i in sorted(rows)][: ab_tests.MAX_VARIANTS + 1]


def _ab_form(f) -> dict:
    """The A/B test fields (templates/campaigns/_ab_fields.html); ab_test None when switched off."""
    variants = _ab_variant_rows(f)
    if f.get("ab_enabled") != "on":
        return {"ab_test": None, "variants": variants}
    settings = {
        "test_percent": f.get("ab_test_percent"),
        "metric": f.get("ab_metric"),
        "wait_minutes": f.get("ab_wait_minutes"),
        "auto_pick": f.get("ab_auto_pick") == "on",
    }
    return {"ab_test": settings, "variants": variants}


def _weekdays(values) -> list[int]:
    return [day for day in (parse_int(v, max_digits=1) for v in values) if day is not None and day >= 0]


def _window_form(f) -> dict | None:
    """The send window fields (templates/campaigns/_window_fields.html); None when switched off."""
    if f.get("window_enabled") != "on":
        return None
    return {
        "days": _weekdays(f.getlist("window_days")),
        "start": f.get("window_start"),
        "end": f.get("window_end"),
        "timezone": f.get("window_timezone"),
    }


def _recurrence_form(f) -> dict | None:
    """The repeat fields (templates/campaigns/_recurrence_fields.html); None when sent once."""
    if f.get("repeat") != "on":
        return None
    return {
        "frequency": f.get("recurrence_frequency"),
        "days": _weekdays(f.getlist("recurrence_days")),
        "day_of_month": f.get("recurrence_day_of_month") or None,
        "time": f.get("recurrence_time"),
        "timezone": f.get("recurrence_timezone"),
        "until": f.get("recurrence_until") or None,
    }


def _number(raw):
    """A typed number as int or float, None when empty; other text as it is (the service says why)."""
    text = (raw or "").strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _routing_rank(ui: dict, ids: list[str]) -> list[str]:
    """The ticked providers sorted by the order typed beside them (ties and blanks keep their place)."""

    def rank(item):
        pos, key = item
        n = _number(ui["order"].get(key))
        return (0, n, pos) if isinstance(n, (int, float)) else (1, 0, pos)

    return [key for _, key in sorted(enumerate(ids), key=rank)]


def _routing_form(f) -> dict:
    """The Delivery fields (templates/campaigns/_routing_fields.html): routing_config None for the default
    provider, and what was typed (routing_ui) to show again as it was."""
    ui = {
        "mode": "several" if f.get("routing_mode") == "several" else "default",
        "strategy": f.get("routing_strategy") or "priority",
        "fallback": f.get("routing_fallback") == "on",
        "providers": f.getlist("routing_providers"),
        "order": {k[len("routing_order-") :]: v for k, v in f.items() if k.startswith("routing_order-")},
        "weights": {k[len("routing_weight-") :]: v for k, v in f.items() if k.startswith("routing_weight-")},
    }
    if ui["mode"] == "default":
        return {"routing_config": None, "routing_ui": ui}
    ordered = _routing_rank(ui, ui["providers"])
    weights = {str(as_id(k) or k): _number(ui["weights"].get(k)) for k in ordered}
    config = {
        "strategy": ui["strategy"],
        "providers": [as_id(k) or k for k in ordered],
        "weights": {k: w for k, w in weights.items() if w is not None},
        "fallback": ui["fallback"],
    }
    return {"routing_config": config, "routing_ui": ui}


def _routing_values(config) -> dict:
    """A saved routing_config as the Delivery fields show it."""
    if not config:
        return {"routing_config": None, "routing_ui": None}
    ids = [str(i) for i in config.get("providers") or []]
    ui = {
        "mode": "several",
        "strategy": config.get("strategy") or "priority",
        "fallback": bool(config.get("fallback")),
        "providers": ids,
        "order": {k: str(n) for n, k in enumerate(ids, 1)},
        "weights": {str(k): str(w) for k, w in (config.get("weights") or {}).items()},
    }
    return {"routing_config": config, "routing_ui": ui}


def _routing_rows(provider_list, ui) -> list[dict]:
    """The provider rows of the Delivery fields: the ticked ones first, in their order, then the others."""
    ui = ui or {"providers": [], "order": {}, "weights": {}}
    by_key = {str(p.id): p for p in provider_list}
    ticked = [k for k in _routing_rank(ui, ui["providers"]) if k in by_key]
    keys = ticked + [k for k in by_key if k not in ticked]
    return [
        {
            "provider": by_key[k],
            "checked": k in ticked,
            "order": ui["order"].get(k, str(n)),
            "weight": ui["weights"].get(k, "1"),
        }
        for n, k in enumerate(keys, 1)
    ]


def _form_context(form: dict, errors: dict, campaign=None) -> dict:
    provider_list = providers.list_providers(g.ws_id)
    return dict(
        form=form,
        errors=errors,
        campaign=campaign,
        templates=templates.list_templates(g.ws_id),
        lists=contacts.lists_with_counts(g.ws_id),
        providers=provider_list,
        routing_rows=_routing_rows(provider_list, form.get("routing_ui")),
        timezones=send_windows.timezone_names(),
    )


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
    form = {
        "track_opens": True,
        "track_clicks": True,
        "list_ids": int_list([request.args.get("list_id")]),
        "template_id": as_id(request.args.get("template_id")),
        **_ab_values(),
    }
    errors = {}
    if request.method == "POST":
        form = _form_data()
        c, errors = attempt(drafts.create_campaign, g.ws_id, form)
        if c:
            flash(f"Draft “{c.name}” created. Review it, then send.", "success")
            return redirect(url_for("campaigns.show", campaign_id=c.id))
    return render_template("campaigns/form.html", **_form_context(form, errors)), (422 if errors else 200)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    if c.status != "draft":
        flash(f"A {c.status} campaign can no longer be edited.", "info")
        return redirect(url_for("campaigns.show", campaign_id=c.id))
    form = {
        "name": c.name,
        "template_id": c.template_id,
        "list_ids": drafts.campaign_list_ids(c.id),
        "from_name": c.from_name,
        "from_email": c.from_email,
        "reply_to": c.reply_to,
        "provider_id": c.provider_id,
        "track_opens": c.track_opens,
        "track_clicks": c.track_clicks,
        "send_window": c.send_window or None,
        "recurrence": c.recurrence or None,
        **_ab_values(c),
        **_routing_values(c.routing_config),
    }
    errors = {}
    if request.method == "POST":
        form = _form_data()
        saved, errors = attempt(drafts.update_campaign, g.ws_id, c.id, form)
        if saved:
            flash("Campaign saved.", "success")
            return redirect(url_for("campaigns.show", campaign_id=c.id))
    return render_template("campaigns/form.html", **_form_context(form, errors, c)), (422 if errors else 200)


def _ab_values(c=None) -> dict:
    values = ab_tests.form_values(c)
    return {"ab_test": values["ab_test"] if values["ab_enabled"] else None, "variants": values["variants"]}


@bp.route("/ab-variants", methods=["POST"])
@workspace_view
def ab_variants():
    """HTMX: the variant rows again, with one added or one removed (labels follow the order)."""
    variants = _ab_variant_rows(request.form)
    action = request.form.get("ab_action", "")
    if action == "add" and len(variants) < ab_tests.MAX_VARIANTS:
        variants.append({})
    elif action.startswith("remove-") and len(variants) > ab_tests.MIN_VARIANTS:
        index = parse_int(action[7:], max_digits=2)
        variants = [v for i, v in enumerate(variants) if i != index]
    return render_template(
        "campaigns/_ab_variant_rows.html", variants=variants, errors={}, templates=templates.list_templates(g.ws_id)
    )


@bp.route("/<int:campaign_id>/variants")
@workspace_view
def variants(campaign_id):
    """The live variants table; answers 286 (htmx: stop polling) once the send is over."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    body = render_template("campaigns/_ab_results.html", c=c, ab=ab_tests.report(c))
    return (body, 200) if c.status == "sending" else (body, 286)


@bp.route("/<int:campaign_id>/variants/<int:variant_id>/pick", methods=["POST"])
@workspace_view
def pick_variant(campaign_id, variant_id):
    c, _ = attempt(ab_winner.pick_winner, g.ws_id, campaign_id, variant_id)
    if c:
        label = next((v.label for v in ab_tests.list_variants(c.id) if v.id == variant_id), "")
        flash(f"Variant {label} is the winner: the rest of the audience gets it now.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _progress_context(c) -> dict:
    """What the live fragment shows; it is polled every second, so nothing more."""
    audience_size = None
    if c.status == "draft":
        audience_size = drafts.audience_size(g.ws_id, drafts.campaign_list_ids(c.id))
    stats = drafts.campaign_stats(c.id)
    live = reasons = None
    if c.status == "sending":
        live = send_progress.snapshot(c.id, stats["pending"], c.started_at.timestamp() if c.started_at else None)
    if c.status != "draft" and (stats["failed"] - stats["suppressed"] > 0 or stats["unknown"] or stats["bounced"]):
        reasons = drafts.failure_reasons(c.id)
    window_wait = send_windows.waiting(c.id) if c.send_window and c.status == "sending" else None
    limit_wait = recipients.limit_wait(c.id) if c.status == "sending" else None
    resendable = lifecycle.count_undelivered(c.id) if reasons else 0
    return dict(
        delivery=_delivery_context(c),
        c=c,
        stats=stats,
        audience=audience_size,
        live=live,
        reasons=reasons,
        window_wait=window_wait,
        limit_wait=limit_wait,
        resendable=resendable,
    )


def _delivery_context(c) -> dict | None:
    """The Delivery card: who carried the messages, the routing, the last failover; None: no card."""
    cfg = c.routing_config
    if c.status == "draft" and not cfg:
        return None
    note = routing.failover_note(c.id)
    if note:
        at = note.get("at")
        note = {**note, "at": datetime.fromtimestamp(at, timezone.utc) if isinstance(at, (int, float)) else None}
    chosen = []
    if cfg:
        names = {p.id: p.name for p in providers.list_providers(g.ws_id)}
        weights = cfg.get("weights") or {}
        chosen = [(names.get(i, f"provider #{i} (removed)"), weights.get(str(i))) for i in cfg.get("providers") or []]
    return dict(
        sent_through=routing.sent_by_provider(c.id) if c.status != "draft" else [],
        failover=note,
        routing=cfg,
        chosen=chosen,
    )


def _show_context(c) -> dict:
    provider = providers.get_provider(g.ws_id, c.provider_id) if c.provider_id else providers.default_provider(g.ws_id)
    return dict(
        lists=drafts.campaign_lists(c.id),
        provider=provider,
        template=templates.get_template(g.ws_id, c.template_id),
        parent=drafts.get_campaign(g.ws_id, c.parent_id) if c.parent_id else None,
        runs=recurring.with_figures(paginate(recurring.runs_query(c.id), 1, 50)[0]) if c.recurrence else None,
        run_count=recurring.count_runs(c.id) if c.recurrence else 0,
        window_text=send_windows.describe(c.send_window) if c.send_window else None,
        recurrence_text=recurrence.describe(c.recurrence) if c.recurrence else None,
        first_run_at=recurrence.upcoming(c.recurrence) if c.recurrence and c.status == "draft" else None,
        ab=ab_tests.report(c) if c.ab_test else None,
        replies=mailin.campaign_replies(g.ws_id, c.id) if c.status != "draft" else [],
        autoreplies=mailin.count_autoreplies(g.ws_id, c.id) if c.status != "draft" else 0,
        **_progress_context(c),
    )


@bp.route("/<int:campaign_id>")
@workspace_view
def show(campaign_id):
    c = drafts.get_campaign(g.ws_id, campaign_id)
    status = request.args.get("rstatus") if request.args.get("rstatus") in RECIPIENT_STATUSES else None
    page = page_number()
    recipients, total = paginate(drafts.recipients_query(c.id, status), page, 50)
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


@bp.route("/<int:campaign_id>/replies/<int:inbound_id>")
@workspace_view
def reply(campaign_id, inbound_id):
    """One message a recipient sent back, shown as text (never its HTML)."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    m = mailin.get_reply(g.ws_id, c.id, inbound_id)
    return render_template("campaigns/reply.html", c=c, m=m, parsed=mailin.read_inbound(m))


@bp.route("/<int:campaign_id>/progress")
@workspace_view
def progress(campaign_id):
    """The live figures fragment; answers 286 (htmx: stop polling) once the send is over."""
    c = drafts.get_campaign(g.ws_id, campaign_id)
    context = _progress_context(c)
    body = render_template("campaigns/_window_status.html", **context)
    body += render_template("campaigns/_progress.html", **context)
    body += render_template("campaigns/_delivery.html", **context)
    if c.ab_test and request.args.get("phase", c.ab_phase or "") != (c.ab_phase or ""):
        return body, 286, {"HX-Refresh": "true"}  # the A/B test moved on (e.g. to its wait): show the new state
    if c.status == "sending":
        return body
    # Done: stop polling and reload once, so the recipients table shows the final statuses too.
    return body, 286, {"HX-Refresh": "true"}


@bp.route("/<int:campaign_id>/send", methods=["POST"])
@workspace_view
def send(campaign_id):
    if attempt(lifecycle.send_now, g.ws_id, campaign_id)[0]:
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
    c, _ = attempt(lifecycle.schedule, g.ws_id, campaign_id, request.form.get("scheduled_at"), g.workspace.timezone)
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
    db.session.delete(c)
    commit()
    flash("Draft deleted.", "success")
    return redirect(url_for("campaigns.index"))
