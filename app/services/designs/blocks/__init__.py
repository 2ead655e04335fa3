"""The block registry: one module per block type of the design JSON (API.md "Visual design JSON").

A block type is one module here that builds a `BlockSpec` (base.py) named SPEC: its props
with their kinds and defaults, where it may stand and what it holds, its palette entry
(label, icon, group) and what the builder drops in, and its MJML and text-part renderers.
Adding a type is adding its module and one line in BLOCKS below; everything else reads the
registry:

    schema.py          validates props (their kinds: PROP_KINDS), places, children and the per-type checks
    compiler.py        renders MJML and the text part through each SPEC's mjml and text, and finds
                       unsubscribe links through its unsubscribes and for_everyone
    builder_fields.py  the builder's palette, labels, icons and new blocks (app/blueprints/email_templates)
    builder.js         where each type may stand and its label, from the page's #hb-blocks JSON

base.py          BlockSpec, Palette, Renderer (what the compiler lends a renderer), REQUIRED, helpers
container.py     a coloured band holding blocks        section.py     a row of columns (palette: Columns)
column.py        a column of a section                 divider.py     a horizontal rule
spacer.py        empty vertical space                  header.py      a heading, h1 to h3
text.py          a paragraph of limited HTML           image.py       an image, optionally linked
button.py        a call to action                      link.py        a text link
hero.py          title, subtitle, image and button     footer.py      address, unsubscribe and preferences links
social.py        links to social profiles              variable.py    a value from the data, with a fallback
conditional.py   blocks shown when a condition holds   loop.py        blocks repeated for each item
"""

from app.services.designs.blocks import (
    button,
    column,
    conditional,
    container,
    divider,
    footer,
    header,
    hero,
    image,
    link,
    loop,
    section,
    social,
    spacer,
    text,
    variable,
)
from app.services.designs.blocks.base import REQUIRED, BlockSpec

# In the API's order: error messages and the OpenAPI description list the types in it.
BLOCKS: dict[str, BlockSpec] = {
    m.SPEC.type: m.SPEC
    for m in (
        container,
        section,
        column,
        divider,
        spacer,
        header,
        text,
        image,
        button,
        link,
        hero,
        footer,
        social,
        variable,
        conditional,
        loop,
    )
}
BLOCK_TYPES = tuple(BLOCKS)

PALETTE_GROUPS = ("Layout", "Content", "Rich", "Dynamic")


def _palette_group(group: str) -> tuple:
    specs = sorted((s for s in BLOCKS.values() if s.palette and s.palette.group == group), key=lambda s: s.palette.rank)
    return tuple((s.type, s.label, s.icon, s.palette.help) for s in specs)


# The builder's palette, in order: (group, ((type, label, Tabler icon, short description), ...)).
PALETTE = tuple((group, _palette_group(group)) for group in PALETTE_GROUPS)
# What builder.js needs of each type (the page embeds it as JSON): its name and where it may stand.
BUILDER_TABLE = {t: {"label": s.label, "places": sorted(s.places)} for t, s in BLOCKS.items()}

__all__ = ["BLOCKS", "BLOCK_TYPES", "BUILDER_TABLE", "PALETTE", "PALETTE_GROUPS", "REQUIRED", "BlockSpec"]
