"""hero: a banner of title, subtitle, optional image and optional button."""

from app.services.designs.blocks.base import REQUIRED, BlockSpec, Palette, Renderer, text_url


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    bg = f'container-background-color="{p["backgroundColor"]}"'
    out = []
    if p.get("imageUrl"):
        out.append(f'<mj-image src="{r.href(p["imageUrl"])}" alt="{r.plain(p.get("imageAlt", ""))}" {bg} />')
    out.append(
        f'<mj-text align="center" font-size="30px" line-height="1.25" color="{p["color"]}" {bg}>'
        f'<h1 style="margin:0;font-size:30px;font-weight:bold">{r.plain(p["title"])}</h1></mj-text>'
    )
    if p.get("subtitle"):
        out.append(
            f'<mj-text align="center" font-size="18px" color="{p["color"]}" {bg}>{r.plain(p["subtitle"])}</mj-text>'
        )
    if p.get("buttonText"):
        out.append(
            f'<mj-button href="{r.href(p["buttonHref"])}" background-color="{p["buttonBackgroundColor"]}" '
            f'color="{p["buttonColor"]}" font-size="16px" border-radius="4px" inner-padding="12px 24px" {bg}>'
            f"{r.plain(p['buttonText'])}</mj-button>"
        )
    return "".join(out)


def text(_r: Renderer, block: dict) -> list[str]:
    p = block["props"]
    out = [x for x in (p["title"], p.get("subtitle")) if x]
    if p.get("buttonText"):
        out.append(f"{p['buttonText']}: {text_url(p['buttonHref'])}")
    return out


def check_button(props: dict) -> list[tuple[str, str]]:
    """A button needs somewhere to go."""
    if props.get("buttonText") and not props.get("buttonHref"):
        return [("buttonHref", "a hero with buttonText needs buttonHref")]
    return []


SPEC = BlockSpec(
    type="hero",
    label="Hero",
    icon="layout-navbar",
    palette=Palette("Rich", 1, "Title, subtitle, image and a button"),
    props={
        "title": ("text", 300, REQUIRED),
        "subtitle": ("text", 1000, ""),
        "imageUrl": ("src", None, None),
        "imageAlt": ("text", 500, ""),
        "buttonText": ("text", 200, ""),
        "buttonHref": ("href", None, None),
        "backgroundColor": ("colour", None, "#ffffff"),
        "color": ("colour", None, "#222222"),
        "buttonBackgroundColor": ("colour", None, "#1a73e8"),
        "buttonColor": ("colour", None, "#ffffff"),
    },
    nonempty="title",
    check=check_button,
    mjml=mjml,
    text=text,
    new_props={
        "title": "Big news",
        "subtitle": "One line that makes people want to read on.",
        "buttonText": "Find out more",
        "buttonHref": "https://example.com",
        "backgroundColor": "#eef4ff",
    },
)
