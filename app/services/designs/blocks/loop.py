"""loop: blocks repeated for each item of a list in the data (`cart.items`, as `item`)."""

from app.services.designs import dynamic
from app.services.designs.blocks.base import REQUIRED, SAME_PLACE, BlockSpec, Palette, Renderer


def _for(props: dict, dash: str = "") -> str:
    return f"{{%{dash} for {props['as']} in {dynamic.path_expr(props['items'])} %}}"


def mjml(r: Renderer, block: dict, place: str) -> str:
    opening = r.control(_for(block["props"]), place)  # before the children: tokens are numbered in order
    return opening + r.blocks(block["children"], place) + r.control("{% endfor %}", place)


def text(r: Renderer, block: dict) -> list[str]:
    """`{%-` keeps an empty list from leaving a gap in the text part."""
    return [_for(block["props"], "-"), *r.text(block["children"]), "{%- endfor %}"]


SPEC = BlockSpec(
    type="loop",
    label="Repeat",
    icon="repeat",
    palette=Palette("Dynamic", 3, "Repeated for each item (cart items, articles)"),
    props={"items": ("dotted", None, REQUIRED), "as": ("ident", None, "item")},
    children=SAME_PLACE,
    for_everyone=False,
    mjml=mjml,
    text=text,
    new_props={"items": "cart.items", "as": "item"},
    new_children=[{"type": "text", "props": {"text": "{{ item.name }}"}}],
)
