"""The starter designs of "Templates -> New -> Visual": valid, compiled, personalized, within Gmail's clip."""

import copy
import html
import json
import re
from pathlib import Path

import pytest

from app.services.content.html_text import unsafe_html_problems
from app.services.content.rendering import SAMPLE_SUBSCRIBER, build_context, render_once
from app.services.designs import (
    GMAIL_CLIP_BYTES,
    compile_design,
    has_unsubscribe_link,
    require_unsubscribe,
    starters,
    validate_design,
)
from app.services.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "app" / "static"
BASE = "https://herald.example.com"
IMG = f"{BASE}/static/img/starters/"
KEYS = [s["key"] for s in starters.STARTERS]

CART = {
    "url": "https://shop.example.com/cart",
    "total": 124.5,
    "currency": "EUR",
    "items": [
        {
            "name": "Chunky knit throw",
            "quantity": 1,
            "price": 59.0,
            "url": "https://shop.example.com/p/throw",
            "image_url": IMG + "product-throw.png",
        },
        {
            "name": "Stoneware mug",
            "quantity": 2,
            "price": 32.75,
            "url": "https://shop.example.com/p/mug",
            "image_url": IMG + "product-mug.png",
        },
    ],
}
ORDER = {
    "number": "10482",
    "url": "https://shop.example.com/orders/10482",
    "date": "24 November 2026",
    "subtotal": 91.5,
    "shipping": 4.9,
    "total": 96.4,
    "currency": "EUR",
    "items": [
        {"name": "Linen table lamp", "quantity": 1, "price": 59.0, "image_url": IMG + "product-lamp.png"},
        {"name": "Fig & cedar candle", "quantity": 2, "price": "16.25", "image_url": IMG + "product-candle.png"},
    ],
}
UNSUBSCRIBE = "https://herald.example.com/u/TOKEN"
PREFERENCES = "https://herald.example.com/preferences/TOKEN"


def context(cart=CART, order=ORDER, subscriber=SAMPLE_SUBSCRIBER) -> dict:
    return build_context(
        dict(subscriber),
        "Starter test",
        UNSUBSCRIBE,
        PREFERENCES,
        "https://herald.example.com/v/TOKEN",
        {"cart": copy.deepcopy(cart), "order": copy.deepcopy(order)},
    )


def render(key: str, ctx: dict | None = None):
    start = starters.load_starter(key, BASE)
    compiled = compile_design(start["design"])
    return (
        start,
        compiled,
        render_once(start["subject"], compiled.html, compiled.text, start["preview_text"], ctx or context()),
    )


def walk(blocks, else_branches=True):
    for b in blocks:
        yield b
        yield from walk(b.get("children") or [], else_branches)
        if else_branches:
            yield from walk(b.get("else") or [], else_branches)


def plain(value: str) -> str:
    """What a person reads of a text prop: tags gone, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).replace("\xa0", " ").split())


def squash(value: str) -> str:
    return " ".join(value.replace("\xa0", " ").split())


# -- The gallery --------------------------------------------------------------------------------


def test_the_gallery_lists_five_starters_in_order_each_with_its_json():
    assert KEYS == ["welcome", "newsletter", "promotion", "abandoned_cart", "receipt"]
    for meta in starters.STARTERS:
        assert set(meta) == {"key", "name", "description", "category", "subject", "preview_text"}
        assert all(isinstance(v, str) and v.strip() for v in meta.values())
        assert meta["category"] in ("marketing", "newsletter", "onboarding", "transactional", "general")
        assert (Path(starters.__file__).parent / f"{meta['key']}.json").is_file()
    assert {m["key"]: m["category"] for m in starters.STARTERS}["receipt"] == "transactional"


@pytest.mark.parametrize("key", ["nope", "", "../welcome", "blank", "WELCOME", None, 3])
def test_an_unknown_starter_is_not_found(key):
    with pytest.raises(NotFound):
        starters.load_starter(key, BASE)


# -- Each starter -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_loads_validated_with_its_metadata_and_images_on_base_url(key):
    meta = next(s for s in starters.STARTERS if s["key"] == key)
    start = starters.load_starter(key, BASE + "/")  # a trailing slash is not doubled
    assert set(start) == {"name", "subject", "preview_text", "category", "design"}
    assert {k: start[k] for k in ("name", "subject", "preview_text", "category")} == {
        k: meta[k] for k in ("name", "subject", "preview_text", "category")
    }
    assert validate_design(start["design"]) == start["design"]  # already normalized
    assert "{base_url}" not in json.dumps(start["design"])
    srcs = [b["props"]["src"] for b in walk(start["design"]["blocks"]) if b["type"] == "image"]
    assert srcs
    for src in srcs:
        if src.startswith("{{"):
            assert src == "{{ item.image_url }}"
            continue
        assert src.startswith(IMG), src
        path = STATIC / src[len(BASE) + len("/static/") :]
        assert path.is_file(), src
        assert path.stat().st_size < 40 * 1024
    # A second load is a fresh copy: editing one never changes the next.
    start["design"]["blocks"].clear()
    assert starters.load_starter(key, BASE)["design"]["blocks"]


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_compiles_without_warnings_well_under_gmails_clip(key):
    start = starters.load_starter(key, BASE)
    compiled = compile_design(start["design"])
    assert compiled.warnings == []
    assert compiled.size_bytes < GMAIL_CLIP_BYTES
    assert len(compiled.html.encode("utf-8")) < 102 * 1024
    assert unsafe_html_problems(compiled.html) == []
    # Every picture comes from this Herald (or the shop's own data in a loop): no outside host.
    for src in re.findall(r'<img[^>]*\bsrc="([^"]*)"', compiled.html):
        assert src.startswith(IMG) or src.startswith("{{"), src


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_lets_people_unsubscribe_and_manage_preferences(key):
    start = starters.load_starter(key, BASE)
    design = start["design"]
    assert has_unsubscribe_link(design)
    require_unsubscribe(design, start["category"])
    require_unsubscribe(design, "marketing")
    footers = [b for b in walk(design["blocks"]) if b["type"] == "footer"]
    assert len(footers) == 1
    assert footers[0]["props"]["showUnsubscribe"] is True
    assert footers[0]["props"]["showPreferences"] is True
    assert "[Street address]" in footers[0]["props"]["address"]


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_renders_personalized_with_its_words_in_both_parts(key):
    start, compiled, out = render(key)
    assert out.subject and "{{" not in out.subject
    for part in (out.html, out.text):
        assert "{{" not in part and "{%" not in part
        assert UNSUBSCRIBE in part and PREFERENCES in part
        assert "Jane Doe" in part  # {{ subscriber.name or 'there' }}
    assert "[Street address]" in out.text
    text = squash(re.sub(r" \((?:https?://|mailto:)[^)\s]*\)", "", out.text))  # links print their URL after them
    body = squash(html.unescape(re.sub(r"<[^>]+>", " ", out.html)))
    for b in walk(start["design"]["blocks"], else_branches=False):  # the sample cart is over 100
        p = b["props"]
        if b["type"] in ("header", "button") and "{{" not in p["text"]:
            assert p["text"] in body, p["text"]
            assert p["text"] in text, p["text"]
        elif b["type"] == "text":
            words = re.split(r"\{\{.*?\}\}", plain(p["text"]))[0].split()[:6]
            if len(words) >= 2:
                phrase = " ".join(words)
                assert phrase in body, phrase
                assert phrase in text, phrase
        elif b["type"] == "image" and "{{" not in p["src"]:
            assert f'src="{p["src"]}"' in out.html
            assert f'alt="{html.escape(p["alt"])}"' in out.html


def test_a_stranger_is_greeted_as_there():
    _, _, out = render("welcome", context(subscriber={**SAMPLE_SUBSCRIBER, "name": ""}))
    assert "Welcome to the family, there!" in html.unescape(out.html)
    assert "Welcome to the family, there!" in out.text


def test_a_name_with_markup_is_escaped_not_rendered():
    _, _, out = render("newsletter", context(subscriber={**SAMPLE_SUBSCRIBER, "name": "<b>Eve</b>"}))
    assert "&lt;b&gt;Eve&lt;/b&gt;" in out.html
    assert "<b>Eve</b>" not in out.html


# -- The dynamic starters -----------------------------------------------------------------------


def test_the_abandoned_cart_loops_over_the_cart_items_with_their_pictures():
    start, _, out = render("abandoned_cart")
    loops = [b for b in walk(start["design"]["blocks"]) if b["type"] == "loop"]
    assert [(b["props"]["items"], b["props"]["as"]) for b in loops] == [("cart.items", "item")]
    inside = json.dumps(loops[0]["children"])
    for expr in ("{{ item.name }}", "{{ item.quantity }}", "item.price", "{{ item.image_url }}"):
        assert expr in inside
    for item in CART["items"]:
        assert f'src="{item["image_url"]}"' in out.html
        assert f'href="{item["url"]}"' in out.html
        assert out.html.count(item["name"]) >= 2 and item["name"] in out.text
    assert "Quantity: 1" in out.html and "Quantity: 2" in out.html
    assert "EUR 59.00" in out.html and "EUR 32.75" in out.html
    assert "EUR 124.50" in out.html
    assert 'href="https://shop.example.com/cart"' in out.html


def test_the_abandoned_cart_offers_a_discount_only_over_100():
    start = starters.load_starter("abandoned_cart", BASE)
    conditions = [b["props"]["condition"] for b in walk(start["design"]["blocks"]) if b["type"] == "conditional"]
    assert conditions == ["cart.total|float > 100"]

    _, _, big = render("abandoned_cart")
    assert "COMEBACK10" in big.html and "COMEBACK10" in big.text
    assert "almost yours" not in big.html and "almost yours" not in big.text

    small_cart = {**CART, "total": 40, "items": CART["items"][:1]}
    _, _, small = render("abandoned_cart", context(cart=small_cart))
    assert "COMEBACK10" not in small.html and "COMEBACK10" not in small.text
    assert "Add EUR 60.00 more" in small.html and "Add EUR 60.00 more" in small.text
    assert "Stoneware mug" not in small.html


def test_an_empty_cart_renders_without_items():
    _, _, out = render("abandoned_cart", context(cart={**CART, "items": [], "total": 0}))
    assert "Chunky knit throw" not in out.html
    assert "Still in your cart" in out.html


def test_the_receipt_loops_over_the_order_items_with_number_date_and_totals():
    start, _, out = render("receipt")
    loops = [b for b in walk(start["design"]["blocks"]) if b["type"] == "loop"]
    assert [(b["props"]["items"], b["props"]["as"]) for b in loops] == [("order.items", "item")]
    assert out.subject == "Order #10482 confirmed"
    page = html.unescape(out.html)
    for expected in (
        "#10482",
        "24 November 2026",
        "Linen table lamp",
        "Fig & cedar candle",
        "Qty 1 × EUR 59.00",
        "Qty 2 × EUR 16.25",  # a price given as a string still formats
        "EUR 32.50",  # the line total: 2 × 16.25
        "EUR 91.50",
        "EUR 4.90",
        "EUR 96.40",
    ):
        assert expected in page, expected
        assert expected in out.text, expected
    assert 'href="https://shop.example.com/orders/10482"' in out.html


def test_a_receipt_without_subtotal_or_shipping_still_renders():
    order = {k: v for k, v in ORDER.items() if k not in ("subtotal", "shipping")}
    _, _, out = render("receipt", context(order=order))
    assert "EUR 96.40" in out.html


# -- Start from scratch -------------------------------------------------------------------------


def test_the_blank_design_is_minimal_valid_and_can_be_sent():
    design = starters.blank_design()
    assert validate_design(design) == design
    types = [b["type"] for b in walk(design["blocks"])]
    assert types.count("footer") == 1 and "text" in types
    assert any(b["type"] == "header" and b["props"]["text"] == "Your headline" for b in walk(design["blocks"]))
    require_unsubscribe(design, "marketing")
    compiled = compile_design(design)
    assert compiled.warnings == []
    out = render_once("s", compiled.html, compiled.text, None, context())
    assert "Your headline" in out.html and UNSUBSCRIBE in out.html and "Jane Doe" in out.html
    design["blocks"].clear()
    assert starters.blank_design()["blocks"]  # a fresh copy every time
