"""Draw the social-network icons emails use (app/static/img/social/<network>.png).

MJML's own social icons are hot-linked from a third party's server; Herald serves its own
so a recipient's mail client only ever talks to Herald. The glyphs come from Tabler Icons
(MIT, installed by `make vendor` under node_modules/), white on the network's colour,
drawn at 2× (48 px) for sharp display at 24 px.

    .venv/bin/python scripts/make_social_icons.py
"""

import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONT = ROOT / "node_modules/@tabler/icons-webfont/dist/fonts/tabler-icons.ttf"
CSS = ROOT / "node_modules/@tabler/icons-webfont/dist/tabler-icons.min.css"
OUT = ROOT / "app/static/img/social"
SIZE = 48

# network: (Tabler icon, brand colour)
NETWORKS = {
    "facebook": ("brand-facebook", "#1877f2"),
    "x": ("brand-x", "#000000"),
    "twitter": ("brand-twitter", "#1d9bf0"),
    "instagram": ("brand-instagram", "#e1306c"),
    "linkedin": ("brand-linkedin", "#0a66c2"),
    "youtube": ("brand-youtube", "#ff0000"),
    "pinterest": ("brand-pinterest", "#e60023"),
    "github": ("brand-github", "#181717"),
    "tumblr": ("brand-tumblr", "#36465d"),
    "vimeo": ("brand-vimeo", "#1ab7ea"),
    "medium": ("brand-medium", "#000000"),
    "snapchat": ("brand-snapchat", "#f7c600"),
    "dribbble": ("brand-dribbble", "#ea4c89"),
    "soundcloud": ("brand-soundcloud", "#ff5500"),
    "xing": ("brand-xing", "#026466"),
    "web": ("world", "#4b5563"),
}


def codepoints() -> dict[str, str]:
    css = CSS.read_text()
    return {m.group(1): chr(int(m.group(2), 16)) for m in re.finditer(r'\.ti-([a-z0-9-]+):before\{content:"\\([0-9a-f]+)"\}', css)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    glyphs = codepoints()
    font = ImageFont.truetype(str(FONT), 30)
    for network, (icon, colour) in NETWORKS.items():
        img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.ellipse((0, 0, SIZE - 1, SIZE - 1), fill=colour)
        draw.text((SIZE / 2, SIZE / 2), glyphs[icon], font=font, fill="#ffffff", anchor="mm")
        img.save(OUT / f"{network}.png", optimize=True)
        print(f"{network}.png")


if __name__ == "__main__":
    main()
