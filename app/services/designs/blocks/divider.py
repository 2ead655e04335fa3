"""divider: a horizontal rule."""

from app.services.designs.blocks.base import BlockSpec, Palette, Renderer


def mjml(_r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    return f'<mj-divider border-color="{p["color"]}" border-width="{p["thickness"]}px" />'


def text(_r: Renderer, _block: dict) -> list[str]:
    return ["-" * 40]


SPEC = BlockSpec(
    type="divider",
    label="Divider",
    icon="separator",
    palette=Palette("Layout", 3, "A horizontal rule"),
    props={"color": ("colour", None, "#dddddd"), "thickness": ("int", (1, 20), 1)},
    mjml=mjml,
    text=text,
    new_props={"color": "#dddddd", "thickness": 1},
)
