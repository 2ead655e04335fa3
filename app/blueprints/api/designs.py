"""Visual designs: check and compile a design JSON (the visual builder's engine), and visual templates
seen as designs: create, save (each save a version), preview, test, restore, convert to code."""

from flask import current_app

from app.blueprints.api import email_templates
from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import design_json, page_slice, template_json
from app.blueprints.helpers import commit
from app.models import Template
from app.services import designs
from app.services.campaigns import test_sends
from app.services.content import templates
from app.services.errors import InvalidState, NotFound, ValidationError

TAG = "Designs"


@operation(
    "POST",
    "/designs/validate",
    "Check a design",
    tag=TAG,
    body="DesignInput",
    response="DesignCheck",
    errors=(422,),
    permission="read",  # checks, stores nothing
)
def validate_design(body: dict):
    """The design with its defaults filled in, or 422 with `fields` naming the block and prop at fault."""
    design = designs.validate_design(body["design"])
    if body.get("category"):
        designs.require_unsubscribe(design, body["category"])
    return {"valid": True, "design": design}


@operation(
    "POST",
    "/designs/render",
    "Compile a design to HTML and text",
    tag=TAG,
    body="DesignInput",
    response="DesignRender",
    errors=(422,),
    permission="read",  # compiles, stores nothing
)
def render_design(body: dict):
    """MJML → responsive HTML with CSS inlined, and a text part made from the design; Jinja stays for sending."""
    if body.get("category"):
        designs.require_unsubscribe(body["design"], body["category"])
    out = designs.compile_design(body["design"])
    return {
        "html": out.html,
        "text": out.text,
        "mjml": out.mjml,
        "size_bytes": out.size_bytes,
        "warnings": list(out.warnings),
    }


# Designs: visual templates as the builder sees them ------------------------------------------------


def _visual(design_id: int) -> Template:
    """A visual template of this workspace; a code template is not a design (GET /templates/{id} shows it)."""
    tpl = templates.get_template(workspace_id(), design_id)
    if tpl.template_type != "visual":
        raise NotFound("No such design: that is not a visual template.")
    return tpl


def _saved(tpl: Template) -> dict:
    """The answer to a save: the save compiled the design already, so its size and warnings are at hand."""
    return design_json(tpl, len(tpl.body_html.encode("utf-8")), getattr(tpl, "compile_warnings", None) or [])


@operation("GET", "/designs", "List designs", tag=TAG, response="DesignSummary", paginated=True)
def list_designs(query: dict):
    """Visual templates only, most recently changed first; designs are left out (GET one design for it)."""
    rows = templates.list_templates(workspace_id(), "visual")
    return page_slice([design_json(t) for t in rows], query)


@operation(
    "POST", "/designs", "Create a design", tag=TAG, body="DesignCreate", response="Design", status=201, errors=(422,)
)
def create_design(body: dict):
    """A visual template: the design is checked, normalized and compiled; version 1 is recorded."""
    tpl = templates.create_template(workspace_id(), {**body, "template_type": "visual"})
    commit()
    return _saved(tpl)


@operation("GET", "/designs/{design_id}", "Show a design", tag=TAG, response="Design")
def show_design(design_id: int):
    """The stored design with the compiled email's size and warnings; 404 for a code template."""
    tpl = _visual(design_id)
    try:
        out = designs.compile_design(tpl.design)
        size, warnings = out.size_bytes, out.warnings
    except ValidationError as exc:  # stored under older rules: show it, say why it would not save now
        size, warnings = len(tpl.body_html.encode("utf-8")), [exc.message]
    return design_json(tpl, size, warnings)


@operation(
    "PUT", "/designs/{design_id}", "Save a design", tag=TAG, body="DesignUpdate", response="Design", errors=(422,)
)
def save_design(design_id: int, body: dict):
    """The design replaces the stored one (name, subject, preview text and category change only when given);
    a save that changes the content is a new version."""
    _visual(design_id)
    tpl = templates.update_template(workspace_id(), design_id, {**body, "template_type": "visual"})
    commit()
    return _saved(tpl)


@operation(
    "POST",
    "/designs/{design_id}/preview",
    "Preview a design",
    tag=TAG,
    body="DesignPreviewRequest",
    body_required=False,
    response="DesignPreview",
    errors=(422,),
    permission="read",  # renders, stores nothing
)
def preview_design(design_id: int, body: dict):
    """Personalized as a subscriber of the workspace (or a sample one), with sample cart and order data for
    dynamic blocks; `context` adds to or overrides that data."""
    tpl = _visual(design_id)
    context = dict(body.get("context") or {})
    subscriber = test_sends.subscriber_context(workspace_id(), body.get("subscriber_id"))
    if isinstance(context.get("subscriber"), dict):
        subscriber.update(context["subscriber"])
    context["subscriber"] = subscriber
    out = templates.preview(
        current_app.config["BASE_URL"], tpl.subject, tpl.body_html, tpl.body_text, tpl.preview_text, context
    )
    return {**out, "size_bytes": len(out["html"].encode("utf-8"))}


@operation(
    "POST",
    "/designs/{design_id}/convert",
    "Convert a design to a code template",
    tag=TAG,
    response="Template",
    errors=(409,),
)
def convert_design(design_id: int):
    """From now on its HTML is edited directly; the design stays on the template, frozen (GET /templates/{id}).
    409 when it was converted already."""
    tpl = templates.get_template(workspace_id(), design_id)
    if tpl.template_type != "visual" and tpl.design is None:
        raise NotFound("No such design: that is not a visual template.")
    tpl = templates.convert_to_code(workspace_id(), design_id)
    commit()
    return template_json(tpl)


@operation(
    "GET",
    "/designs/{design_id}/versions",
    "List a design's versions",
    tag=TAG,
    response="TemplateVersionSummary",
    paginated=True,
)
def list_design_versions(design_id: int, query: dict):
    """Newest first: every save that changed the design or the subject, and each restore."""
    return email_templates.versions_page(_visual(design_id), query)


@operation(
    "GET",
    "/designs/{design_id}/versions/{number}",
    "Show one version of a design",
    tag=TAG,
    response="TemplateVersion",
)
def show_design_version(design_id: int, number: int):
    """The version's design, with the HTML and text it compiled to."""
    return email_templates.version_detail(_visual(design_id), number)


@operation(
    "POST",
    "/designs/{design_id}/versions/{number}/restore",
    "Restore a version of a design",
    tag=TAG,
    response="Design",
    errors=(409, 422),
)
def restore_design_version(design_id: int, number: int):
    """The version's design becomes current again, as a new version. A version saved before the template was
    visual answers 409: restore it through /templates/{id}/versions/{number}/restore."""
    tpl = _visual(design_id)
    if templates.get_version(tpl.workspace_id, tpl.id, number).template_type != "visual":
        raise InvalidState(
            f"Version {number} is not a design: restore it through the template's versions.",
            {"number": "a code version"},
        )
    return _saved(email_templates.restore(tpl, number))


@operation(
    "POST",
    "/designs/{design_id}/test",
    "Send a test of a design",
    tag=TAG,
    body="TestSendRequest",
    response="TestSendResult",
    errors=(422,),
)
def send_design_test(design_id: int, body: dict):
    """To 1-10 addresses, subject marked [Test], untracked, personalized as `subscriber_id` (or a sample
    subscriber); from `from_email` or the latest campaign's sender, through `provider_id` or the default."""
    tpl = _visual(design_id)
    results = test_sends.send_test(
        workspace_id(),
        tpl.id,
        body["emails"],
        from_email=body.get("from_email"),
        from_name=body.get("from_name"),
        subscriber_id=body.get("subscriber_id"),
        provider_id=body.get("provider_id"),
    )
    return {"results": [{"email": r.email, "ok": r.ok, "detail": r.detail} for r in results]}
