"""footer: small print, the postal address and the unsubscribe and preferences links."""

from app.services.designs.blocks.base import ALIGN, BlockSpec, Palette, Renderer


def mjml(r: Renderer, block: dict, _place: str) -> str:
    p = block["props"]
    lines = [r.plain(p[k]) for k in ("text", "address") if p.get(k)]
    links = []
    if p["showUnsubscribe"]:
        links.append(f'<a href="{r.href("{{ unsubscribe_url }}")}" style="color:#777777">Unsubscribe</a>')
    if p["showPreferences"]:
        links.append(f'<a href="{r.href("{{ preferences_url }}")}" style="color:#777777">Manage preferences</a>')
    if links:
        lines.append(" | ".join(links))
    return f'<mj-text align="{p["align"]}" font-size="12px" color="{p["color"]}">{"<br>".join(lines)}</mj-text>'


def text(_r: Renderer, block: dict) -> list[str]:
    p = block["props"]
    lines = [p[k] for k in ("text", "address") if p.get(k)]
    if p["showUnsubscribe"]:
        lines.append("Unsubscribe: {{ unsubscribe_url }}")
    if p["showPreferences"]:
        lines.append("Manage preferences: {{ preferences_url }}")
    return ["-" * 40 + "\n" + "\n".join(lines)]


def unsubscribes(props: dict) -> bool:
    return bool(props.get("showUnsubscribe"))


SPEC = BlockSpec(
    type="footer",
    label="Footer",
    icon="layout-bottombar",
    palette=Palette("Rich", 3, "Address and the unsubscribe link"),
    props={
        "text": ("text", 2000, ""),
        "address": ("text", 500, ""),
        "showUnsubscribe": ("bool", None, True),
        "showPreferences": ("bool", None, False),
        "color": ("colour", None, "#777777"),
        "align": (*ALIGN, "center"),
    },
    unsubscribes=unsubscribes,
    mjml=mjml,
    text=text,
    new_props={
        "text": "You receive this email because you signed up on our website.",
        "address": "Your company · Street 1 · City",
        "showUnsubscribe": True,
        "showPreferences": True,
    },
)
