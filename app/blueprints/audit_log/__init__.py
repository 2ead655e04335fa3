"""Settings → Audit log: who did what and when, filtered, paged and exported as CSV."""

from flask import Blueprint, current_app, flash, g, render_template, request, url_for
from werkzeug.routing import BuildError

from app.blueprints.helpers import csv_response, page_number, workspace_view
from app.services.errors import ValidationError
from app.services.platform import audit

bp = Blueprint("audit_log", __name__, url_prefix="/settings/audit-log")
PER_PAGE = 50
FILTER_ARGS = ("action", "actor", "from", "to")
# Where a subject that still exists is shown: (endpoint, its id argument or None for a list page).
SUBJECT_PAGES = {
    "campaign": ("campaigns.show", "campaign_id"),
    "template": ("email_templates.edit", "template_id"),
    "list": ("lists.show", "list_id"),
    "subscriber": ("subscribers.show", "subscriber_id"),
    "segment": ("segments.show", "segment_id"),
    "signup_form": ("signup_forms.show", "form_id"),
    "suppression": ("suppressions.index", None),
    "provider": ("providers.show", "provider_id"),
    "domain": ("domains.show", "domain_id"),
    "webhook_endpoint": ("webhook_endpoints.show", "endpoint_id"),
    "api_key": ("api_keys.index", None),
    "member": ("team.index", None),
    "invitation": ("team.index", None),
    "workspace": ("settings.workspace", None),
}


def _filters() -> tuple[audit.Filters, dict]:
    args = request.args
    try:
        return audit.parse_filters(args.get("action"), args.get("actor"), args.get("from"), args.get("to")), {}
    except ValidationError as exc:
        flash(exc.message, "danger")
        return audit.Filters(action=args.get("action") or None, actor=args.get("actor") or None), exc.fields


def subject_link(entry, live: set) -> str | None:
    """The page of the entry's subject, while it exists."""
    page = SUBJECT_PAGES.get(entry.subject_type or "")
    if page is None or (entry.subject_type, entry.subject_id) not in live:
        return None
    endpoint, arg = page
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **({arg: entry.subject_id} if arg else {}))
    except BuildError:
        return None


@bp.route("/")
@workspace_view
def index():
    filters, errors = _filters()
    result = audit.find_entries(g.ws_id, filters, page_number(), PER_PAGE, g.workspace.timezone)
    kept = {k: request.args[k] for k in FILTER_ARGS if request.args.get(k) and k not in errors}
    return render_template(
        "audit_log/index.html",
        result=result,
        args=kept,
        errors=errors,
        actions=sorted(set(audit.actions_in_use(g.ws_id)) | set(audit.ACTIONS)),
        actors=audit.actors_in_use(g.ws_id),
        action_label=audit.action_label,
        detail_text=audit.detail_text,
        subject_link=subject_link,
    ), (422 if errors else 200)


@bp.route("/audit-log.csv")
@workspace_view
def export():
    filters, errors = _filters()
    if errors:
        filters = audit.Filters(action=filters.action, actor=filters.actor)
    return csv_response(audit.csv_rows(g.ws_id, filters, g.workspace.timezone), "audit-log.csv")
