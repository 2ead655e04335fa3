"""link: a text link on a line of its own."""

from app.services.designs.blocks.base import ALIGN, REQUIRED, BlockSpec, Palette, Renderer, link_text


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    return (
        f'<mj-text align="{p["align"]}"><a href="{r.href(p["href"])}" style="color:{p["color"]}">'
        f"{r.plain(p['text'])}</a></mj-text>"
    )


SPEC = BlockSpec(
    type="link",
    label="Link",
    icon="link",
    palette=Palette("Content", 5, "A text link"),
    props={
        "text": ("text", 200, REQUIRED),
        "href": ("href", None, REQUIRED),
        "color": ("colour", None, "#1a73e8"),
        "align": (*ALIGN, "left"),
    },
    nonempty="text",
    mjml=mjml,
    text=link_text,
    new_props={"text": "Read more", "href": "https://example.com"},
)
