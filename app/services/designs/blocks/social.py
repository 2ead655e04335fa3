"""social: a row of icons linking to social profiles (icons served by Herald)."""

from app.services.designs.blocks.base import REQUIRED, BlockSpec, Palette, Renderer, attr, text_url

SOCIAL_LABELS = {"x": "X", "web": "Website", "github": "GitHub", "linkedin": "LinkedIn", "youtube": "YouTube"}


def social_label(network: str) -> str:
    """What a network is called in alt text and the text part ("LinkedIn", "Facebook")."""
    return SOCIAL_LABELS.get(network, network.capitalize())


def mjml(r: Renderer, block: dict, _place: str) -> str:
    # Icons served by Herald ({{ assets_url }}), never MJML's default third-party host.
    assets = r.ph.add("{{ assets_url }}")
    items = "".join(
        f'<mj-social-element src="{assets}/img/social/{link["network"]}.png" '
        f'href="{r.href(link["href"])}" alt="{attr(social_label(link["network"]))}" '
        f'background-color="transparent" icon-size="28px" padding="4px 6px" />'
        for link in block["props"]["links"]
    )
    return f'<mj-social mode="horizontal" align="center">{items}</mj-social>'


def text(_r: Renderer, block: dict) -> list[str]:
    links = block["props"]["links"]
    return ["\n".join(f"{social_label(x['network'])}: {text_url(x['href'])}" for x in links)]


SPEC = BlockSpec(
    type="social",
    label="Social links",
    icon="share",
    palette=Palette("Rich", 2, "Links to your social profiles"),
    props={"links": ("social", None, REQUIRED)},
    mjml=mjml,
    text=text,
    new_props={
        "links": [
            {"network": "facebook", "href": "https://facebook.com/"},
            {"network": "instagram", "href": "https://instagram.com/"},
            {"network": "x", "href": "https://x.com/"},
        ]
    },
)
