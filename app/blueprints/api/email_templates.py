"""Email templates: sandboxed Jinja subject, HTML and text, with previews and versions.

A visual template (`template_type: visual`) is saved from its `design`, which the service
compiles to the HTML and text; the builder's own view of it lives under /designs.
"""

from flask import current_app

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.schemas import TEMPLATE_CREATE
from app.blueprints.api.serializers import page_slice, template_json, version_json
from app.blueprints.helpers import commit
from app.models import Template
from app.services.content import templates

TAG = "Templates"


@operation("POST", "/templates", "Create a template", tag=TAG, body="TemplateCreate", response="Template", status=201)
def create_template(body: dict):
    """Checked for Jinja syntax, unsafe HTML and (for marketing email) an unsubscribe link. A visual template
    gives `design` instead of body_html; a design error answers 422 with `fields` naming block and prop."""
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
    """Every field is set: optional fields left out go back to their defaults, but the template type stays
    unless given (a code template keeps the frozen design it was converted from)."""
    data = {name: body.get(name) for name in TEMPLATE_CREATE["properties"]}
    if data["template_type"] is None:
        del data["template_type"]
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
    permission="read",  # renders, stores nothing
)
def preview_template(template_id: int, body: dict):
    """Render with a sample subscriber, or with the `context` given; a template error answers 422."""
    tpl = templates.get_template(workspace_id(), template_id)
    return templates.preview(
        current_app.config["BASE_URL"], tpl.subject, tpl.body_html, tpl.body_text, tpl.preview_text, body.get("context")
    )


# Versions (shared with /designs/{id}/versions) ------------------------------------------------------


def versions_page(template: Template, query: dict) -> dict:
    rows = templates.list_versions(template.workspace_id, template.id)
    return page_slice([version_json(v) for v in rows], query)


def version_detail(template: Template, number: int) -> dict:
    return version_json(templates.get_version(template.workspace_id, template.id, number), full=True)


def restore(template: Template, number: int) -> Template:
    tpl = templates.restore_version(template.workspace_id, template.id, number)
    commit()
    return tpl


@operation(
    "GET",
    "/templates/{template_id}/versions",
    "List a template's versions",
    tag=TAG,
    response="TemplateVersionSummary",
    paginated=True,
)
def list_template_versions(template_id: int, query: dict):
    """Newest first: every save that changed the content, each restore and the conversion to code."""
    return versions_page(templates.get_template(workspace_id(), template_id), query)


@operation(
    "GET",
    "/templates/{template_id}/versions/{number}",
    "Show one version of a template",
    tag=TAG,
    response="TemplateVersion",
)
def show_template_version(template_id: int, number: int):
    """The version's subject, bodies and (for a visual one) design."""
    return version_detail(templates.get_template(workspace_id(), template_id), number)


@operation(
    "POST",
    "/templates/{template_id}/versions/{number}/restore",
    "Restore a version of a template",
    tag=TAG,
    response="Template",
    errors=(422,),
)
def restore_template_version(template_id: int, number: int):
    """The version becomes current again, as a new version; the template's name and category stay."""
    return template_json(restore(templates.get_template(workspace_id(), template_id), number))
