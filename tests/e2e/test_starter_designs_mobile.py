"""The starter designs as a reader sees them in Chromium: at 375 px nothing scrolls sideways, at
1280 px the email keeps within 600 px, and every picture loads from this Herald (the live server).

Screenshots of each starter at both widths go to test-artifacts/screenshots/starter-*.png.
"""

import pytest

from app.services.content.rendering import SAMPLE_SUBSCRIBER, build_context, render_once
from app.services.designs import compile_design, starters
from tests.e2e.conftest import DESKTOP, MOBILE

pytestmark = pytest.mark.e2e

KEYS = [s["key"] for s in starters.STARTERS]

# Every element the email draws, as one box: the union of their rectangles (full-width
# backgrounds, the only things meant to span the window, are left out).
CONTENT_BOX = """() => {
    const vw = window.innerWidth;
    let left = Infinity, right = -Infinity;
    for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || r.width >= vw - 1) continue;
        left = Math.min(left, r.left);
        right = Math.max(right, r.right);
    }
    return {left, right, width: right - left};
}"""
# Elements drawn (even partly) outside the window: on a phone there must be none.
OUTSIDE = """() => Array.from(document.body.querySelectorAll('*')).filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > window.innerWidth + 0.5);
}).map(el => el.tagName + ' ' + Math.round(el.getBoundingClientRect().width) + 'px')"""
BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'))"""


def rendered(key: str, origin: str) -> str:
    img = f"{origin}/static/img/starters/"
    start = starters.load_starter(key, origin)
    compiled = compile_design(start["design"])
    assert compiled.warnings == []
    data = {
        "cart": {
            "url": f"{origin}/cart",
            "total": 124.5,
            "currency": "EUR",
            "items": [
                {
                    "name": "Chunky knit throw",
                    "quantity": 1,
                    "price": 59.0,
                    "url": f"{origin}/p/throw",
                    "image_url": img + "product-throw.png",
                },
                {
                    "name": "Stoneware mug",
                    "quantity": 2,
                    "price": 32.75,
                    "url": f"{origin}/p/mug",
                    "image_url": img + "product-mug.png",
                },
            ],
        },
        "order": {
            "number": "10482",
            "url": f"{origin}/orders/10482",
            "date": "24 November 2026",
            "subtotal": 91.5,
            "shipping": 4.9,
            "total": 96.4,
            "currency": "EUR",
            "items": [
                {"name": "Linen table lamp", "quantity": 1, "price": 59.0, "image_url": img + "product-lamp.png"},
                {"name": "Fig & cedar candle", "quantity": 1, "price": 32.5, "image_url": img + "product-candle.png"},
            ],
        },
    }
    ctx = build_context(
        dict(SAMPLE_SUBSCRIBER), "Starters", f"{origin}/u/sample", f"{origin}/preferences/sample", f"{origin}/v/x", data
    )
    return render_once(start["subject"], compiled.html, compiled.text, start["preview_text"], ctx).html


def show(page, html: str, origin: str) -> list[str]:
    """Load the email into `page`; any request off the live server is refused and returned."""
    outside: list[str] = []

    def only_herald(route):
        url = route.request.url
        if url.startswith(origin + "/") or url.startswith(("data:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", only_herald)
    page.set_content(html, wait_until="load")
    return outside


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_fits_a_phone_and_a_desktop_with_every_picture_from_herald(
    key, live_server, desktop, mobile, screenshot
):
    html = rendered(key, live_server)

    # A phone, 375 px: nothing wider than the screen.
    assert mobile.viewport_size == MOBILE
    outside = show(mobile, html, live_server)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    assert mobile.evaluate(OUTSIDE) == []
    assert mobile.evaluate(BROKEN_IMAGES) == []
    assert mobile.get_by_text("Unsubscribe", exact=True).is_visible()
    screenshot(mobile, f"starter-{key}-375")

    # A desktop mail client, 1280 px: the email is one 600 px column in the middle.
    assert desktop.viewport_size == DESKTOP
    outside += show(desktop, html, live_server)
    assert desktop.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    box = desktop.evaluate(CONTENT_BOX)
    assert box["width"] <= 600, box
    assert abs((box["left"] + box["right"]) / 2 - DESKTOP["width"] / 2) <= 2, box  # centred
    assert desktop.evaluate(BROKEN_IMAGES) == []
    assert desktop.evaluate("document.images.length") >= 2
    screenshot(desktop, f"starter-{key}-desktop")

    assert outside == [], f"the email asked for something outside Herald: {outside}"
