"""header: a heading (h1 to h3), plain text."""

from app.services.designs.blocks.base import ALIGN, REQUIRED, BlockSpec, Palette, Renderer

HEADER_SIZES = {1: 28, 2: 22, 3: 18}


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    size = HEADER_SIZES[p["level"]]
    return (
        f'<mj-text align="{p["align"]}" color="{p["color"]}" font-size="{size}px" line-height="1.3">'
        f'<h{p["level"]} style="margin:0;font-size:{size}px;font-weight:bold">{r.plain(p["text"])}'
        f"</h{p['level']}></mj-text>"
    )


def text(_r: Renderer, block: dict) -> list[str]:
    return [block["props"]["text"]]


SPEC = BlockSpec(
    type="header",
    label="Heading",
    icon="heading",
    palette=Palette("Content", 1, "A title (H1 to H3)"),
    props={
        "text": ("text", 500, REQUIRED),
        "level": ("int", (1, 3), 1),
        "align": (*ALIGN, "left"),
        "color": ("colour", None, "#222222"),
    },
    nonempty="text",
    mjml=mjml,
    text=text,
    new_props={"text": "A clear headline", "level": 2, "align": "left", "color": "#222222"},
)
