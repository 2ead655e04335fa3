"""text: a paragraph of limited inline HTML (sanitize.py keeps b, i, u, a, br, span, p, lists)."""

import re

from app.services.content.html_text import html_to_text
from app.services.designs.blocks.base import ALIGN, REQUIRED, BlockSpec, Palette, Renderer

_UNSUBSCRIBE_HREF_RE = re.compile(r"href\s*=\s*[\"']\s*\{\{\s*unsubscribe_url\s*\}\}")


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    return f'<mj-text align="{p["align"]}" color="{p["color"]}" font-size="{p["fontSize"]}px">{r.rich(block)}</mj-text>'


def text(r: Renderer, block: dict) -> list[str]:
    return [r.ph.restore(html_to_text(r.rich(block))).strip()]


def unsubscribes(props: dict) -> bool:
    return bool(_UNSUBSCRIBE_HREF_RE.search(props.get("text", "")))


SPEC = BlockSpec(
    type="text",
    label="Text",
    icon="align-left",
    palette=Palette("Content", 2, "A paragraph with bold, italic and links"),
    props={
        "text": ("html", 20_000, REQUIRED),
        "align": (*ALIGN, "left"),
        "color": ("colour", None, "#333333"),
        "fontSize": ("int", (8, 72), 16),
    },
    nonempty="text",
    unsubscribes=unsubscribes,
    mjml=mjml,
    text=text,
    new_props={
        "text": "Write something worth reading. Use <b>bold</b>, <i>italic</i> and "
        '<a href="https://example.com">links</a>.',
        "align": "left",
        "color": "#333333",
        "fontSize": 16,
    },
)
