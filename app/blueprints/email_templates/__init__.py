"""Email templates (code): index, new, edit, live preview, delete."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, workspace_view
from app.models.content import TEMPLATE_CATEGORIES
from app.services.content import templates
from app.services.delivery import identities, pools
from app.services.errors import ValidationError

bp = Blueprint("email_templates", __name__, url_prefix="/templates")

STARTER_HTML = """<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body style="margin:0;background:#f4f6fa;font-family:Arial,sans-serif;color:#1d273b">
  <table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px">
    <table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border-radius:8px">
      <tr><td style="padding:32px">
        <h1 style="margin:0 0 16px;font-size:24px">Hello {{ subscriber.name or 'there' }},</h1>
        <p style="margin:0 0 16px;line-height:1.5">Write your message here.</p>
        <p style="margin:0 0 24px"><a href="https://example.com" style="background:#206bc4;color:#ffffff;padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block">Call to action</a></p>
      </td></tr>
      <tr><td style="padding:16px 32px;font-size:12px;color:#667382;border-top:1px solid #eef0f4">
        You receive this because you subscribed to {{ campaign.name }}.
        <a href="{{ unsubscribe_url }}" style="color:#667382">Unsubscribe</a> ·
        <a href="{{ preferences_url }}" style="color:#667382">Preferences</a> ·
        <a href="{{ view_in_browser_url }}" style="color:#667382">View in browser</a>
      </td></tr>
    </table>
  </td></tr></table>
</body>
</html>
"""


_FORM_FIELDS = (
    "name",
    "slug",
    "subject",
    "body_html",
    "body_text",
    "preview_text",
    "category",
    "identity_id",
    "pool_id",
)


def _form_data() -> dict:
    f = request.form
    return {k: f.get(k) for k in _FORM_FIELDS} | {"template_type": "code"}


def _render_form(tpl, form: dict, errors: dict):
    return render_template(
        "email_templates/edit.html",
        tpl=tpl,
        form=form,
        errors=errors,
        categories=TEMPLATE_CATEGORIES,
        identities=identities.identity_choices(g.ws_id),
        signed_statuses=identities.SIGNED_STATUSES,
        pools=pools.list_pools(g.ws_id),
    ), (422 if errors else 200)


@bp.route("/")
@workspace_view
def index():
    return render_template("email_templates/index.html", items=templates.list_templates(g.ws_id))


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    form = {"body_html": STARTER_HTML, "category": "marketing"}
    errors = {}
    if request.method == "POST":
        form = _form_data()
        tpl, errors = attempt(templates.create_template, g.ws_id, form)
        if tpl:
            flash(f"Template “{tpl.name}” saved.", "success")
            return redirect(url_for("email_templates.edit", template_id=tpl.id))
    return _render_form(None, form, errors)


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(template_id):
    tpl = templates.get_template(g.ws_id, template_id)
    if tpl.template_type == "visual":
        return redirect(url_for("email_templates.builder", template_id=tpl.id))
    errors = {}
    form = {k: getattr(tpl, k) for k in _FORM_FIELDS}
    if request.method == "POST":
        form = _form_data()
        saved, errors = attempt(templates.update_template, g.ws_id, tpl.id, form)
        if saved:
            flash("Template saved.", "success")
            return redirect(url_for("email_templates.edit", template_id=tpl.id))
    return _render_form(tpl, form, errors)


@bp.route("/preview", methods=["POST"])
@workspace_view
def preview():
    """The rendered message with sample data, as an HTMX fragment (also usable without JS)."""
    f = request.form
    try:
        out = templates.preview(
            current_app.config["BASE_URL"],
            f.get("subject", ""),
            f.get("body_html", ""),
            f.get("body_text"),
            f.get("preview_text"),
        )
        error = None
    except ValidationError as exc:
        out, error = None, exc.message
    return render_template("email_templates/_preview.html", out=out, error=error)


@bp.route("/<int:template_id>/delete", methods=["POST"])
@workspace_view
def delete(template_id):
    templates.get_template(g.ws_id, template_id)  # another workspace's template: 404, not a redirect
    if attempt(templates.delete_template, g.ws_id, template_id)[1]:
        return redirect(url_for("email_templates.edit", template_id=template_id))
    flash("Template deleted.", "success")
    return redirect(url_for("email_templates.index"))


from app.blueprints.email_templates import builder  # noqa: E402,F401  (its routes are on bp)
