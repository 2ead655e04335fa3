"""conditional: blocks shown when a Jinja condition holds, and others (`else`) when it does not."""

from app.services.designs.blocks.base import REQUIRED, SAME_PLACE, BlockSpec, Palette, Renderer


def mjml(r: Renderer, block: dict, place: str) -> str:
    out = r.control(f"{{% if {block['props']['condition']} %}}", place) + r.blocks(block["children"], place)
    if block["else"]:
        out += r.control("{% else %}", place) + r.blocks(block["else"], place)
    return out + r.control("{% endif %}", place)


def text(r: Renderer, block: dict) -> list[str]:
    """`{%-` keeps a false branch from leaving a gap in the text part."""
    out = [f"{{%- if {block['props']['condition']} %}}", *r.text(block["children"])]
    if block["else"]:
        out += ["{%- else %}", *r.text(block["else"])]
    return [*out, "{%- endif %}"]


SPEC = BlockSpec(
    type="conditional",
    label="Condition",
    icon="git-branch",
    palette=Palette("Dynamic", 2, "Shown only when a condition holds"),
    props={"condition": ("condition", None, REQUIRED)},
    children=SAME_PLACE,
    has_else=True,
    for_everyone=False,
    mjml=mjml,
    text=text,
    new_props={"condition": "subscriber.attributes.plan == 'gold'"},
    new_children=[{"type": "text", "props": {"text": "Shown when the condition holds."}}],
)
