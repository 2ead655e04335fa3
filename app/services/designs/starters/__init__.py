"""Starter designs a marketer picks from "Templates -> New -> Visual".

Each starter is a design document (API.md "Visual design JSON") in `<key>.json` beside this
file. Its images live in app/static/img/starters/ (drawn by scripts/make_starter_images.py)
and the JSON names them `{base_url}/static/img/starters/NAME.png`: `load_starter` puts the
configured BASE_URL in, so the email loads them from this Herald and the `src` validates.

STARTERS                          the gallery, in order (key, name, description, category, subject, preview_text)
TRANSACTIONAL_STARTERS            the gallery's store mailers for the messages API (same shape)
load_starter(key, base_url)       {"name", "subject", "preview_text", "category", "design"}; NotFound for a bad key
blank_design()                    a minimal valid design, for "start from scratch"
"""

import copy
import json
from functools import lru_cache
from pathlib import Path

from app.services.designs.schema import validate_design
from app.services.errors import NotFound

HERE = Path(__file__).resolve().parent
BASE_URL_PLACEHOLDER = "{base_url}"

STARTERS: list[dict] = [
    {
        "key": "welcome",
        "name": "Welcome",
        "description": "Greets a new subscriber by name, offers a welcome code and three first steps.",
        "category": "onboarding",
        "subject": "Welcome to Juniper, here’s 15% off your first order",
        "preview_text": "Care guides, first looks at new arrivals and a little welcome gift inside.",
    },
    {
        "key": "newsletter",
        "name": "Newsletter",
        "description": "An editor's note, a feature story and a two-column grid of article cards.",
        "category": "newsletter",
        "subject": "The Lantern #42: what a lighthouse keeper taught us about focus",
        "preview_text": "Plus: inside our new workshop, 48 hours in Porto and the Winter Makers’ Fair.",
    },
    {
        "key": "promotion",
        "name": "Promotion",
        "description": "A sale announcement with a bold banner, a discount code and a product grid.",
        "category": "marketing",
        "subject": "The Winter Sale is on: up to 30% off everything for the home",
        "preview_text": "Three days only: cosy throws, handmade ceramics and candles at their lowest prices.",
    },
    {
        "key": "abandoned_cart",
        "name": "Abandoned cart",
        "description": "Reminds a shopper of the items in their cart, with an offer when the cart is over 100.",
        "category": "marketing",
        "subject": "You left something in your cart",
        "preview_text": "We saved your items. Complete your order before they sell out.",
    },
    {
        "key": "receipt",
        "name": "Order confirmation",
        "description": "A receipt: order number and date, every item with its price, totals and help.",
        "category": "transactional",
        "subject": "Order #{{ order.number }} confirmed",
        "preview_text": "Thanks for your order! Here’s your receipt; we’ll let you know when it ships.",
    },
]
# Store mailers for POST /api/v1/messages: transactional, so no unsubscribe footer. Each uses the
# context names documented in its description (sample data: app/services/content/templates.py SAMPLE_EVENT_DATA).
TRANSACTIONAL_STARTERS: list[dict] = [
    {
        "key": "order_confirmation",
        "name": "Order confirmation",
        "description": "A receipt for the messages API: order number, date, each item, totals; no unsubscribe. "
        "Context: order {number, date, url, currency, subtotal, shipping, total, items [{name, quantity, price, "
        "image_url}]}.",
        "category": "transactional",
        "subject": "Order #{{ order.number }} confirmed",
        "preview_text": "Thanks for your order! Here’s your receipt; we’ll let you know when it ships.",
    },
    {
        "key": "password_reset",
        "name": "Password reset",
        "description": "A button to choose a new password and the link written out. Context: reset_url, "
        "expires_in (optional, e.g. 60 minutes).",
        "category": "transactional",
        "subject": "Reset your Northwind Supply password",
        "preview_text": "Choose a new password with the link inside; it expires soon.",
    },
    {
        "key": "one_time_code",
        "name": "One-time code",
        "description": "A sign-in or verification code in large type. Context: code, expires_in (optional).",
        "category": "transactional",
        "subject": "Your sign-in code: {{ code }}",
        "preview_text": "Enter this code to finish signing in. Never share it.",
    },
    {
        "key": "shipping_confirmation",
        "name": "Shipping confirmation",
        "description": "Carrier, tracking number and link, estimated delivery, the parcel's items. Context: order "
        "{number}, shipment {carrier, tracking_number, tracking_url, estimated_delivery, address, items [{name, "
        "quantity}]}.",
        "category": "transactional",
        "subject": "Order #{{ order.number }} has shipped",
        "preview_text": "Your parcel is on its way: track it with the link inside.",
    },
    {
        "key": "gift_card",
        "name": "Gift card delivery",
        "description": "The amount, code and sender's note, with a button to shop. Context: gift_card {amount, "
        "currency, code, sender_name, message, redeem_url, expires_on}.",
        "category": "transactional",
        "subject": "{{ gift_card.sender_name or 'Someone' }} sent you a Northwind Supply gift card",
        "preview_text": "A gift card with a personal note is waiting for you.",
    },
    {
        "key": "payout_notice",
        "name": "Payout notice",
        "description": "A payout to a seller: amount, account, expected date and reference. Context: payout {amount, "
        "currency, account, date, reference, url}.",
        "category": "transactional",
        "subject": "Your payout of {{ payout.currency }} {{ '%.2f'|format(payout.amount|float) }} is on its way",
        "preview_text": "We’ve sent your money; here are the details.",
    },
    {
        "key": "back_in_stock",
        "name": "Back in stock",
        "description": "The product someone asked about, with its picture, price and a button. Context: product "
        "{name, url, image_url, price, currency}.",
        "category": "transactional",
        "subject": "{{ product.name }} is back in stock",
        "preview_text": "You asked us to tell you: it’s available again, for now.",
    },
]
_BY_KEY = {s["key"]: s for s in STARTERS + TRANSACTIONAL_STARTERS}


@lru_cache(maxsize=None)
def _raw(key: str) -> str:
    return (HERE / f"{key}.json").read_text(encoding="utf-8")


def _fill(value, base_url: str):
    if isinstance(value, str):
        return value.replace(BASE_URL_PLACEHOLDER, base_url)
    if isinstance(value, list):
        return [_fill(v, base_url) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, base_url) for k, v in value.items()}
    return value


def load_starter(key: str, base_url: str) -> dict:
    """The starter `key` with its images on `base_url` (an http(s) origin), its design validated."""
    meta = _BY_KEY.get(key) if isinstance(key, str) else None
    if meta is None:
        raise NotFound(f"There is no starter design called {key!r}.", {"starter": "unknown starter"})
    design = validate_design(_fill(json.loads(_raw(key)), (base_url or "").rstrip("/")))
    return {
        "name": meta["name"],
        "subject": meta["subject"],
        "preview_text": meta["preview_text"],
        "category": meta["category"],
        "design": design,
    }


_BLANK = {
    "version": 1,
    "settings": {"backgroundColor": "#f4f5f7", "width": 600, "fontFamily": "Arial, Helvetica, sans-serif"},
    "blocks": [
        {
            "id": "body",
            "type": "section",
            "props": {"backgroundColor": "#ffffff", "padding": "32px 10px"},
            "children": [
                {
                    "id": "body-col",
                    "type": "column",
                    "props": {},
                    "children": [
                        {"id": "headline", "type": "header", "props": {"text": "Your headline", "level": 1}},
                        {
                            "id": "intro",
                            "type": "text",
                            "props": {
                                "text": "Hi {{ subscriber.name or 'there' }}, start writing your email here. "
                                "Drag blocks from the left to add images, buttons and columns."
                            },
                        },
                    ],
                }
            ],
        },
        {
            "id": "footer",
            "type": "footer",
            "props": {
                "address": "[Company] · [Street address] · [City, postcode] · [Country]",
                "showPreferences": True,
            },
        },
    ],
}


def blank_design() -> dict:
    """A minimal valid design: a headline, a paragraph and a footer with an unsubscribe link."""
    return validate_design(copy.deepcopy(_BLANK))


__all__ = ["STARTERS", "TRANSACTIONAL_STARTERS", "blank_design", "load_starter"]
