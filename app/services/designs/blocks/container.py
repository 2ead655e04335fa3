"""container: a coloured band (an MJML wrapper) holding blocks laid out like the top level."""

from app.services.designs.blocks.base import BlockSpec, Palette, Renderer, background, children_text


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    return f'<mj-wrapper padding="{p["padding"]}"{background(p)}>{r.blocks(block["children"], "wrapper")}</mj-wrapper>'


SPEC = BlockSpec(
    type="container",
    label="Container",
    icon="box",
    palette=Palette("Layout", 2, "A coloured band holding other blocks"),
    props={"backgroundColor": ("colour", None, None), "padding": ("padding", None, "0px")},
    places=frozenset({"body"}),
    children="body",
    mjml=mjml,
    text=children_text,
    new_props={"backgroundColor": "#f1f5f9", "padding": "16px 0px"},
    new_children=[{"type": "text", "props": {"text": "Text inside the container"}}],
)
