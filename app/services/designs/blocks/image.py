"""image: an image, optionally linked; a missing alt text is a warning, not an error."""

from app.services.designs.blocks.base import ALIGN, REQUIRED, BlockSpec, Palette, Renderer, text_url


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    if not p.get("alt", "").strip():
        r.warnings.append(f"image {block['id']} has no alt text")
    attrs = f'src="{r.href(p["src"])}" alt="{r.plain(p.get("alt", ""))}" align="{p["align"]}"'
    if p.get("href"):
        attrs += f' href="{r.href(p["href"])}"'
    if p.get("width"):
        # A narrow image keeps its width on phones; a wide one fills the screen.
        attrs += f' width="{p["width"]}px" fluid-on-mobile="true"'
    if p.get("padding"):
        attrs += f' padding="{p["padding"]}"'
    return f"<mj-image {attrs} />"


def text(_r: Renderer, block: dict) -> list[str]:
    p = block["props"]
    if not p.get("alt"):
        return []
    return [f"{p['alt']}: {text_url(p['href'])}" if p.get("href") else p["alt"]]


SPEC = BlockSpec(
    type="image",
    label="Image",
    icon="photo",
    palette=Palette("Content", 3, "An image, optionally linked"),
    props={
        "src": ("src", None, REQUIRED),
        "alt": ("text", 500, ""),
        "href": ("href", None, None),
        "width": ("imgwidth", None, None),
        "align": (*ALIGN, "center"),
        "padding": ("padding", None, None),
    },
    mjml=mjml,
    text=text,
    new_props={"src": "{base_url}/static/img/builder/placeholder.png", "alt": "Describe the image"},
)
