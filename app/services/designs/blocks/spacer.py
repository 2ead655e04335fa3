"""spacer: empty vertical space (nothing in the text part)."""

from app.services.designs.blocks.base import BlockSpec, Palette, Renderer, no_text


def mjml(_r: Renderer, block: dict, _place: str) -> str:
    return f'<mj-spacer height="{block["props"]["height"]}px" />'


SPEC = BlockSpec(
    type="spacer",
    label="Spacer",
    icon="arrows-vertical",
    palette=Palette("Layout", 4, "Empty vertical space"),
    props={"height": ("int", (1, 300), 20)},
    mjml=mjml,
    text=no_text,
    new_props={"height": 24},
)
