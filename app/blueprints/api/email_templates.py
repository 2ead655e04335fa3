"""Email templates: sandboxed Jinja subject, HTML and text, with previews."""

from flask import current_app

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.schemas import TEMPLATE_CREATE
from app.blueprints.api.serializers import page_slice, template_json
from app.blueprints.helpers import commit
from app.services import templates

TAG = "Templates"


@operation("POST", "/templates", "Create a template", tag=TAG, body="TemplateCreate", response="Template", status=201)
def create_template(body: dict):
    """Checked for Jinja syntax, unsafe HTML and (for marketing email) an unsubscribe link."""
    tpl = templates.create_template(workspace_id(), body)
    commit()
    return template_json(tpl)


@operation("GET", "/templates", "List templates", tag=TAG, response="TemplateSummary", paginated=True)
def list_templates(query: dict):
    """Most recently changed first; bodies are left out (GET one template for them)."""
    rows = templates.list_templates(workspace_id())
    return page_slice([template_json(t, full=False) for t in rows], query)


@operation("GET", "/templates/{template_id}", "Show a template", tag=TAG, response="Template")
def show_template(template_id: int):
    """One template with its bodies."""
    return template_json(templates.get_template(workspace_id(), template_id))


@operation("PUT", "/templates/{template_id}", "Replace a template", tag=TAG, body="TemplateCreate", response="Template")
def replace_template(template_id: int, body: dict):
    """Every field is set: optional fields left out go back to their defaults."""
    data = {name: body.get(name) for name in TEMPLATE_CREATE["properties"]}
    tpl = templates.update_template(workspace_id(), template_id, data)
    commit()
    return template_json(tpl)


@operation("PATCH", "/templates/{template_id}", "Change a template", tag=TAG, body="TemplatePatch", response="Template")
def update_template(template_id: int, body: dict):
    """Only the fields given change; campaigns already sending keep their frozen copy."""
    tpl = templates.update_template(workspace_id(), template_id, body)
    commit()
    return template_json(tpl)


@operation(
    "POST",
    "/templates/{template_id}/preview",
    "Preview a template",
    tag=TAG,
    body="PreviewRequest",
    body_required=False,
    response="Preview",
)
def preview_template(template_id: int, body: dict):
    """Render with a sample subscriber, or with the `context` given; a template error answers 422."""
    tpl = templates.get_template(workspace_id(), template_id)
    return templates.preview(
        current_app.config["BASE_URL"], tpl.subject, tpl.body_html, tpl.body_text, tpl.preview_text, body.get("context")
    )
