"""The SMS section's other pages: texts people sent back (replies, STOP / START / HELP), and the
workspace's SMS settings with the inbound URL of each Twilio provider to paste into Twilio."""

from flask import current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, page_number, workspace_view
from app.blueprints.sms import bp
from app.services.sms import campaigns, reads, settings

KEYWORDS = {"reply": "Replies", "stop": "STOP", "start": "START", "help": "HELP"}


@bp.route("/replies")
@workspace_view
def replies():
    keyword = request.args.get("keyword") if request.args.get("keyword") in KEYWORDS else None
    page = page_number()
    rows, total = reads.inbound(g.ws_id, page, keyword)
    return render_template(
        "sms/replies.html",
        rows=rows,
        total=total,
        page=page,
        per_page=reads.PAGE,
        keyword=keyword,
        keywords=KEYWORDS,
        providers=campaigns.sms_providers(g.ws_id),
    )


def inbound_urls(providers) -> list[tuple]:
    """(provider, the URL Twilio posts texts sent to its numbers to)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return [(p, f"{base}{url_for('webhooks.twilio_inbound', provider_id=p.id)}") for p in providers]


def _render_settings(form: dict, errors: dict):
    providers = campaigns.sms_providers(g.ws_id)
    body = render_template(
        "sms/settings.html",
        form=form,
        errors=errors,
        default_help=settings.default_help(g.workspace.name),
        providers=providers,
        inbound=inbound_urls(providers),
    )
    return body, (422 if errors else 200)


@bp.route("/settings")
@workspace_view
def settings_page():
    saved = settings.settings_of(g.ws_id).as_dict()
    # The help text as written: empty means Herald's own, shown as the placeholder.
    return _render_settings({**saved, "help_text": (g.workspace.sms_settings or {}).get("help_text", "")}, {})


@bp.route("/settings", methods=["POST"])
@workspace_view
def save_settings():
    form = {name: request.form.get(name, "") for name in settings.DEFAULTS}
    saved, errors = attempt(settings.update_settings, g.ws_id, form)
    if not saved:
        return _render_settings(form, errors)
    flash("SMS settings saved.", "success")
    return redirect(url_for("sms.settings_page"))
