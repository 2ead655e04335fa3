"""Draw the starter designs' illustrations into app/static/img/starters/ (run from the repo root).

    .venv/bin/python scripts/make_starter_images.py

Every picture is original: flat shapes in each starter's palette, drawn at 3x and scaled
down for smooth edges, then reduced to a small palette so each PNG stays well under 40 KB.
Banners are 1100 px wide: twice the 550 px an image gets in a 600 px email (MJML pads
images 25 px each side), so they stay sharp on high-density screens. Re-running the script
rewrites the same files; the designs in app/services/designs/starters/ refer to them as
{base_url}/static/img/starters/NAME.png.
"""

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "app" / "static" / "img" / "starters"
SS = 3  # supersampling factor
MAX_BYTES = 40 * 1024


def rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))


class Canvas:
    """A supersampled drawing surface in output pixels."""

    def __init__(self, width: int, height: int, background: str):
        self.w, self.h = width, height
        self.img = Image.new("RGB", (width * SS, height * SS), rgb(background))
        self.d = ImageDraw.Draw(self.img)

    def _box(self, x0, y0, x1, y1):
        return [round(v * SS) for v in (x0, y0, x1, y1)]

    def rect(self, x0, y0, x1, y1, fill, radius=0):
        if radius:
            self.d.rounded_rectangle(self._box(x0, y0, x1, y1), radius=round(radius * SS), fill=rgb(fill))
        else:
            self.d.rectangle(self._box(x0, y0, x1, y1), fill=rgb(fill))

    def circle(self, cx, cy, r, fill=None, outline=None, width=1):
        self.d.ellipse(
            self._box(cx - r, cy - r, cx + r, cy + r),
            fill=rgb(fill) if fill else None,
            outline=rgb(outline) if outline else None,
            width=round(width * SS),
        )

    def ellipse(self, x0, y0, x1, y1, fill):
        self.d.ellipse(self._box(x0, y0, x1, y1), fill=rgb(fill))

    def poly(self, points, fill):
        self.d.polygon([(round(x * SS), round(y * SS)) for x, y in points], fill=rgb(fill))

    def line(self, points, fill, width):
        pts = [(round(x * SS), round(y * SS)) for x, y in points]
        self.d.line(pts, fill=rgb(fill), width=round(width * SS), joint="curve")
        r = width / 2  # round caps
        for x, y in (points[0], points[-1]):
            self.circle(x, y, r, fill=fill)

    def pieslice(self, x0, y0, x1, y1, start, end, fill):
        self.d.pieslice(self._box(x0, y0, x1, y1), start, end, fill=rgb(fill))

    def arc(self, x0, y0, x1, y1, start, end, fill, width):
        self.d.arc(self._box(x0, y0, x1, y1), start, end, fill=rgb(fill), width=round(width * SS))

    def leaf(self, cx, cy, length, width, angle, fill, vein=None):
        """A pointed leaf centred on (cx, cy), `angle` degrees from the x axis."""
        a = math.radians(angle)
        pts = []
        for i in range(41):
            t = i / 40
            x = (t - 0.5) * length
            y = math.sin(math.pi * t) * width / 2
            pts.append((x, y))
        pts += [(x, -y) for x, y in reversed(pts)]
        rot = [(cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)) for x, y in pts]
        self.poly(rot, fill)
        if vein:
            p0 = (cx - 0.42 * length * math.cos(a), cy - 0.42 * length * math.sin(a))
            p1 = (cx + 0.42 * length * math.cos(a), cy + 0.42 * length * math.sin(a))
            self.line([p0, p1], vein, max(1.5, width / 14))

    def wave(self, y, amplitude, wavelength, phase, fill, bottom=None):
        """Fill everything below a sine wave at height `y`."""
        bottom = self.h if bottom is None else bottom
        pts = [(x, y + amplitude * math.sin(2 * math.pi * x / wavelength + phase)) for x in range(0, self.w + 11, 10)]
        self.poly([(0, bottom), *pts, (self.w, bottom)], fill)

    def sparkle(self, x, y, r, fill):
        """A four-pointed star."""
        k = r * 0.22
        self.poly(
            [
                (x, y - r),
                (x + k, y - k),
                (x + r, y),
                (x + k, y + k),
                (x, y + r),
                (x - k, y + k),
                (x - r, y),
                (x - k, y - k),
            ],
            fill,
        )

    def dots(self, x0, y0, cols, rows, gap, r, fill):
        for i in range(cols):
            for j in range(rows):
                self.circle(x0 + i * gap, y0 + j * gap, r, fill=fill)

    def save(self, name: str, colours: int = 64) -> Path:
        img = self.img.resize((self.w, self.h), Image.LANCZOS)
        img = img.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        path = OUT / f"{name}.png"
        img.save(path, optimize=True)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{path.name} is {size} bytes; keep starter images under {MAX_BYTES}")
        print(f"{path.relative_to(ROOT)}  {self.w}x{self.h}  {size / 1024:.1f} KB")
        return path


# -- Welcome (Juniper: forest, sage, cream, terracotta) ---------------------------------------

FOREST, SAGE, SAGE_DARK, CREAM, TERRACOTTA, MOSS = "#1f4d3a", "#dfe9df", "#b7cdb9", "#fbf8f2", "#d9774b", "#3f7a5a"


def welcome_hero():
    c = Canvas(1100, 500, SAGE)
    c.circle(820, 170, 120, fill="#f2c6a8")  # a low sun
    c.pieslice(560, 150, 1060, 650, 180, 360, fill=SAGE_DARK)  # arches
    c.rect(560, 400, 1060, 500, fill=SAGE_DARK)
    c.pieslice(640, 250, 980, 590, 180, 360, fill=CREAM)
    c.rect(640, 420, 980, 500, fill=CREAM)
    # a pot with a plant in the arch
    c.poly([(740, 360), (880, 360), (860, 470), (760, 470)], TERRACOTTA)
    c.rect(730, 345, 890, 372, fill="#c7653a", radius=6)
    c.line([(810, 350), (808, 230)], FOREST, 7)
    for cx, cy, ang, ln in ((770, 270, -140, 120), (850, 250, -40, 130), (790, 200, -115, 110), (838, 180, -65, 100)):
        c.leaf(cx, cy, ln, ln * 0.42, ang, MOSS if cx < 810 else FOREST, vein=SAGE)
    # big leaves on the left
    c.leaf(120, 390, 330, 120, -60, FOREST, vein=MOSS)
    c.leaf(250, 430, 280, 100, -100, MOSS, vein=SAGE_DARK)
    c.leaf(60, 200, 240, 90, -20, SAGE_DARK)
    c.dots(340, 90, 6, 4, 26, 4, MOSS)
    c.rect(0, 470, 1100, 500, fill=FOREST)
    c.save("welcome-hero")


def welcome_icon(name: str, glyph: str):
    c = Canvas(192, 192, "#ffffff")
    c.circle(96, 96, 92, fill=SAGE)
    if glyph == "profile":
        c.circle(96, 76, 26, fill=FOREST)
        c.pieslice(46, 106, 146, 196, 180, 360, fill=FOREST)
        c.rect(46, 150, 146, 151, fill=FOREST)
        c.circle(132, 128, 20, fill=TERRACOTTA)
        c.line([(123, 128), (130, 135), (142, 121)], "#ffffff", 5)
    elif glyph == "leaf":
        c.leaf(96, 92, 110, 54, -50, FOREST, vein=SAGE)
        c.line([(58, 140), (80, 116)], FOREST, 6)
    else:  # gift
        c.rect(52, 84, 140, 146, fill=TERRACOTTA, radius=6)
        c.rect(46, 70, 146, 92, fill="#c7653a", radius=6)
        c.rect(89, 70, 103, 146, fill=FOREST)
        c.ellipse(64, 46, 98, 74, fill=FOREST)
        c.ellipse(94, 46, 128, 74, fill=FOREST)
        c.ellipse(76, 56, 92, 68, fill=SAGE)
        c.ellipse(100, 56, 116, 68, fill=SAGE)
    c.save(name, colours=32)


# -- Newsletter (The Lantern: ink navy, paper, amber, slate blue) -----------------------------

INK, PAPER, AMBER, SLATE, MIST, ROSE = "#1b2a41", "#f6f3ee", "#e0a526", "#3e5c76", "#c9d6df", "#d98b6f"


def newsletter_hero():
    c = Canvas(1100, 520, "#24374f")
    c.circle(780, 170, 150, fill="#2e4560")
    c.circle(780, 170, 92, fill=AMBER)
    c.dots(90, 70, 9, 3, 30, 3, "#3e5c76")
    c.wave(300, 34, 700, 0.4, SLATE)
    c.wave(360, 28, 520, 2.2, "#2b4259")
    c.wave(430, 18, 420, 1.0, INK)
    # a lighthouse-like lantern tower on the hill
    c.poly([(300, 290), (340, 290), (352, 420), (288, 420)], PAPER)
    c.rect(292, 258, 348, 292, fill=AMBER, radius=4)
    c.poly([(286, 258), (354, 258), (320, 226)], ROSE)
    c.rect(294, 330, 346, 344, fill=ROSE)
    c.rect(290, 380, 350, 394, fill=ROSE)
    c.poly([(348, 262), (560, 214), (560, 318), (348, 288)], "#34506d")  # its beam
    c.save("newsletter-hero")


def newsletter_card(name: str, variant: int):
    c = Canvas(560, 340, [MIST, "#efe3d3", "#dfe6ec", "#f3dcd0"][variant])
    if variant == 0:  # studio desk: a lamp over a notebook
        c.rect(0, 250, 560, 340, fill=SLATE)
        c.poly([(290, 116), (334, 132), (350, 250), (180, 250)], "#dbe3e9")  # its light
        c.rect(150, 214, 330, 252, fill=PAPER, radius=6)
        c.rect(240, 214, 243, 252, fill=MIST)
        c.rect(164, 224, 228, 229, fill=MIST)
        c.rect(164, 236, 216, 241, fill=MIST)
        c.ellipse(392, 238, 468, 258, INK)  # base, arm and shade
        c.line([(430, 246), (402, 150), (330, 104)], INK, 9)
        c.circle(402, 150, 9, fill=AMBER)
        c.poly([(300, 78), (352, 104), (338, 134), (282, 118)], AMBER)
    elif variant == 1:  # a workshop: stacked shapes
        c.rect(0, 270, 560, 340, fill="#c9a27a")
        c.rect(110, 170, 250, 270, fill=SLATE, radius=8)
        c.circle(330, 215, 55, fill=AMBER)
        c.poly([(380, 270), (450, 140), (520, 270)], ROSE)
        c.rect(160, 120, 210, 170, fill=INK, radius=6)
    elif variant == 2:  # a city at night
        c.circle(440, 90, 40, fill=PAPER)
        for i, (w, h) in enumerate(((70, 150), (60, 210), (90, 130), (70, 180), (80, 110), (60, 160))):
            x = 20 + i * 90
            c.rect(x, 340 - h, x + w, 340, fill=[SLATE, INK][i % 2])
            for row in range(int(h / 40) - 1):
                c.rect(x + 14, 340 - h + 20 + row * 40, x + 28, 340 - h + 34 + row * 40, fill=AMBER)
    else:  # an event: a ticket
        c.rect(110, 90, 450, 250, fill=PAPER, radius=16)
        c.circle(110, 170, 26, fill="#f3dcd0")
        c.circle(450, 170, 26, fill="#f3dcd0")
        c.rect(140, 120, 330, 140, fill=INK, radius=4)
        c.rect(140, 156, 300, 168, fill=MIST, radius=4)
        c.rect(140, 182, 260, 194, fill=MIST, radius=4)
        for y in range(110, 240, 18):
            c.rect(362, y, 366, y + 9, fill=ROSE)
        c.circle(408, 170, 24, fill=AMBER)
    c.save(name)


# -- Products (shared by the promotion, cart and receipt starters) -----------------------------


def product(name: str, background: str, draw):
    c = Canvas(500, 500, background)
    c.ellipse(110, 390, 390, 430, _shade(background))  # its shadow
    draw(c)
    c.save(name)


def _shade(hex_colour: str, factor: float = 0.9) -> str:
    r, g, b = rgb(hex_colour)
    return "#%02x%02x%02x" % (int(r * factor), int(g * factor), int(b * factor))


def _mug(c):
    c.rect(150, 170, 330, 400, fill="#2f4858", radius=22)
    c.arc(280, 210, 400, 340, -90, 90, "#2f4858", 26)
    c.rect(150, 170, 330, 200, fill="#3d5c70", radius=14)
    c.rect(172, 260, 308, 272, fill="#f2c14e")
    for x in (200, 240, 280):  # steam
        c.arc(x - 20, 80, x + 20, 150, 100, 260, "#ffffff", 6)


def _tote(c):
    c.arc(185, 70, 315, 230, 180, 360, "#7a5c3e", 14)
    c.poly([(140, 170), (360, 170), (380, 410), (120, 410)], "#e8dcc4")
    c.rect(140, 170, 360, 190, fill="#d6c7aa")
    c.circle(250, 300, 50, fill="#ef6f5e")
    c.leaf(250, 300, 70, 30, -45, "#fff4ee")


def _candle(c):
    c.rect(160, 190, 340, 410, fill="#fbe3d6", radius=18)
    c.rect(160, 250, 340, 330, fill="#ef6f5e")
    c.rect(190, 275, 310, 305, fill="#fff4ee", radius=4)
    c.line([(250, 190), (250, 160)], "#3b3355", 5)
    c.leaf(250, 128, 70, 34, -90, "#ffb347")
    c.leaf(250, 136, 38, 16, -90, "#ffe08a")


def _plant(c):
    c.leaf(210, 170, 170, 70, -120, "#3f7a5a", vein="#9cc7a4")
    c.leaf(300, 160, 180, 74, -55, "#2f6b4f", vein="#9cc7a4")
    c.leaf(250, 130, 160, 60, -90, "#4f9270", vein="#b9dcbf")
    c.leaf(180, 240, 130, 52, -160, "#4f9270", vein="#b9dcbf")
    c.leaf(320, 240, 130, 52, -20, "#3f7a5a", vein="#9cc7a4")
    c.poly([(170, 270), (330, 270), (305, 410), (195, 410)], "#d9774b")
    c.rect(160, 256, 340, 286, fill="#c7653a", radius=8)


def _lamp(c):
    c.poly([(180, 110), (320, 110), (360, 230), (140, 230)], "#ffd66b")
    c.rect(240, 230, 260, 380, fill="#3b3355")
    c.ellipse(170, 370, 330, 410, "#3b3355")
    c.ellipse(210, 222, 290, 240, "#fff1c1")


def _throw(c):
    for y, colour in ((140, "#7d75ff"), (220, "#6c63ff"), (300, "#5a52e0")):
        c.rect(120, y, 380, y + 96, fill=colour, radius=40)
        for x in range(153, 350, 34):  # knit chevrons
            c.line([(x, y + 34), (x + 12, y + 50), (x + 24, y + 34)], "#c9c5ff", 5)
            c.line([(x, y + 58), (x + 12, y + 74), (x + 24, y + 58)], "#c9c5ff", 5)
    for x in range(136, 370, 16):  # fringe
        c.rect(x, 392, x + 6, 414, fill="#5a52e0", radius=3)


# -- Promotion (Harbor Goods: charcoal, coral, butter, blush) -----------------------------------

CHARCOAL, CORAL, BUTTER, BLUSH, PLUM = "#1e1b2e", "#ef6f5e", "#ffd66b", "#fff4ee", "#3b3355"


def promo_hero():
    c = Canvas(1100, 560, CORAL)
    c.circle(920, 120, 230, fill="#f48b7c")
    c.circle(150, 520, 200, fill="#e85d4c")
    c.rect(0, 0, 1100, 30, fill=BUTTER)
    for i in range(-4, 30):  # diagonal stripes band
        x = i * 46
        c.poly([(x, 470), (x + 22, 470), (x + 22 + 90, 560), (x + 90, 560)], BUTTER if i % 2 else "#ffe39b")
    # a sun "sticker" and sparkles
    c.circle(780, 270, 150, fill=BUTTER)
    for k in range(16):
        a = 2 * math.pi * k / 16
        c.poly(
            [
                (780 + 160 * math.cos(a - 0.08), 270 + 160 * math.sin(a - 0.08)),
                (780 + 200 * math.cos(a), 270 + 200 * math.sin(a)),
                (780 + 160 * math.cos(a + 0.08), 270 + 160 * math.sin(a + 0.08)),
            ],
            BUTTER,
        )
    c.circle(780, 270, 112, fill="#ffe39b")
    c.circle(780, 270, 70, fill=BUTTER)
    for x, y, r in ((300, 140, 30), (420, 330, 20), (200, 300, 16), (560, 110, 22)):
        c.sparkle(x, y, r, BLUSH)
    c.save("promo-hero")


# -- Abandoned cart (indigo, lavender, saffron) and receipt (green check) -----------------------

INDIGO, LAVENDER, SAFFRON = "#3d348b", "#eeeaff", "#f7b801"


def cart_bag():
    c = Canvas(480, 360, LAVENDER)
    c.ellipse(110, 312, 370, 340, "#dcd5fb")
    c.arc(185, 60, 295, 190, 180, 360, INDIGO, 14)
    c.poly([(130, 130), (350, 130), (372, 320), (108, 320)], "#6c63ff")
    c.poly([(130, 130), (350, 130), (354, 160), (126, 160)], "#5a52e0")
    c.circle(190, 150, 9, fill=INDIGO)
    c.circle(290, 150, 9, fill=INDIGO)
    c.circle(240, 240, 44, fill=SAFFRON)  # a heart on the bag
    c.circle(226, 232, 13, fill="#ffffff")
    c.circle(254, 232, 13, fill="#ffffff")
    c.poly([(214, 238), (266, 238), (240, 266)], "#ffffff")
    for x, y in ((70, 90), (410, 110), (400, 260), (80, 250)):
        c.circle(x, y, 7, fill="#c9c2f7")
    c.save("cart-bag")


def receipt_check():
    c = Canvas(192, 192, "#ffffff")
    c.circle(96, 96, 92, fill="#e3f4ea")
    c.circle(96, 96, 62, fill="#1e8e5a")
    c.line([(70, 98), (89, 117), (124, 80)], "#ffffff", 12)
    c.save("receipt-check", colours=32)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    welcome_hero()
    welcome_icon("welcome-icon-profile", "profile")
    welcome_icon("welcome-icon-leaf", "leaf")
    welcome_icon("welcome-icon-gift", "gift")
    newsletter_hero()
    for i in range(4):
        newsletter_card(f"newsletter-card-{i + 1}", i)
    promo_hero()
    product("product-mug", "#dcebf2", _mug)
    product("product-tote", "#f7ead9", _tote)
    product("product-candle", "#fde7e1", _candle)
    product("product-plant", "#e4efe3", _plant)
    product("product-lamp", "#efeafb", _lamp)
    product("product-throw", "#fff1d6", _throw)
    cart_bag()
    receipt_check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
