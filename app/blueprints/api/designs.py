"""Visual designs: check and compile a design JSON (the visual builder's engine)."""

from app.blueprints.api.registry import operation
from app.services import designs

TAG = "Designs"


@operation(
    "POST", "/designs/validate", "Check a design", tag=TAG, body="DesignInput", response="DesignCheck", errors=(422,)
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
