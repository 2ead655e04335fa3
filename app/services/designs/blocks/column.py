"""column: one column of a section, holding content blocks."""

from app.services.designs.blocks.base import BlockSpec, Renderer, children_text


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    attrs = f' vertical-align="{p["verticalAlign"]}"'
    if p.get("width"):
        attrs += f' width="{p["width"]}"'
    if p.get("backgroundColor"):
        attrs += f' background-color="{p["backgroundColor"]}"'
    if p.get("padding"):
        attrs += f' padding="{p["padding"]}"'
    return f"<mj-column{attrs}>{r.blocks(block['children'], 'column')}</mj-column>"


SPEC = BlockSpec(
    type="column",
    label="Column",
    icon="layout-columns",
    props={
        "width": ("colwidth", None, None),
        "backgroundColor": ("colour", None, None),
        "padding": ("padding", None, None),
        "verticalAlign": ("enum", ("top", "middle", "bottom"), "top"),
    },
    places=frozenset({"section"}),
    children="column",
    mjml=mjml,
    text=children_text,
)
