"""section: a row of 1 to 4 columns (the palette's "Columns")."""

from app.services.designs.blocks.base import BlockSpec, Palette, Renderer, background, children_text

MAX_COLUMNS = 4


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    inner = r.blocks(block["children"], "section")
    if not p["stackOnMobile"]:
        inner = f"<mj-group>{inner}</mj-group>"  # side by side on phones too (e.g. item rows)
    return f'<mj-section padding="{p["padding"]}"{background(p)}>{inner}</mj-section>'


def check_columns(block: dict) -> list[tuple[str, str]]:
    """1 to MAX_COLUMNS columns, whose percentage widths fit in the row."""
    cols = block["children"]
    if not 1 <= len(cols) <= MAX_COLUMNS:
        return [("children", f"a section holds 1 to {MAX_COLUMNS} columns")]
    widths = [c["props"].get("width") for c in cols]
    if all(isinstance(w, str) and w.endswith("%") for w in widths):
        if sum(float(w[:-1]) for w in widths) > 100.5:
            return [("children", "the columns' widths add up to more than 100%")]
    return []


SPEC = BlockSpec(
    type="section",
    label="Columns",
    icon="columns",
    palette=Palette("Layout", 1, "Two columns side by side (up to four)"),
    props={
        "backgroundColor": ("colour", None, None),
        "padding": ("padding", None, "20px 0px"),
        "stackOnMobile": ("bool", None, True),
    },
    places=frozenset({"body"}),
    children="section",
    check_block=check_columns,
    mjml=mjml,
    text=children_text,
    new_props={"padding": "20px 0px"},
    new_children=[
        {"type": "column", "children": [{"type": "text", "props": {"text": "Left column"}}]},
        {"type": "column", "children": [{"type": "text", "props": {"text": "Right column"}}]},
    ],
)
