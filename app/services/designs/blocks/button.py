"""button: a call to action (a bulletproof MJML button)."""

from app.services.designs.blocks.base import ALIGN, REQUIRED, BlockSpec, Palette, Renderer, link_text


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    width = ' width="100%"' if p["fullWidth"] else ""
    return (
        f'<mj-button href="{r.href(p["href"])}" background-color="{p["backgroundColor"]}" '
        f'color="{p["color"]}" align="{p["align"]}" font-size="{p["fontSize"]}px" '
        f'border-radius="{p["borderRadius"]}px" inner-padding="12px 24px"{width}>'
        f"{r.plain(p['text'])}</mj-button>"
    )


SPEC = BlockSpec(
    type="button",
    label="Button",
    icon="click",
    palette=Palette("Content", 4, "A call to action"),
    props={
        "text": ("text", 200, REQUIRED),
        "href": ("href", None, REQUIRED),
        "backgroundColor": ("colour", None, "#1a73e8"),
        "color": ("colour", None, "#ffffff"),
        "align": (*ALIGN, "center"),
        "fontSize": ("int", (10, 32), 16),
        "borderRadius": ("int", (0, 40), 4),
        "fullWidth": ("bool", None, False),
    },
    nonempty="text",
    mjml=mjml,
    text=link_text,
    new_props={
        "text": "Shop now",
        "href": "https://example.com",
        "backgroundColor": "#1a73e8",
        "color": "#ffffff",
        "align": "center",
    },
)
