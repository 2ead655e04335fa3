"""The emails of the ready-made flows (recipes.py): visual templates made from the builder's starters,
so a marketer edits them in the builder like any other.

A flow's email is rendered with the trigger's event beside the person (`event.type`,
`event.properties`: a cart's `items`, `cart_url`, `total`, `currency`; a product's `name`, `url`,
`image_url`, `price`, `old_price`, `new_price`; an order's `order_id`, `items`, `total`; and
`event.occurred_at`), not with the `cart`, `product` or `order` of the starters' sample data. So each
starter's data paths are renamed to the event's (`cart.items` -> `event.properties.items`, the loop
blocks too; `cart.url` -> `event.properties.cart_url`; `order.number` -> `event.properties.order_id`),
then the email's own copy is set block by block (its headline, its paragraphs) and blocks it does not
need are dropped. Every email is marketing with an unsubscribe link in its footer.

EMAILS                              each email by key: its starter, name, subject, preview and changes
create_email(ws, key, fill)         the visual template (`fill`: {placeholder: value} for the copy, e.g. a code)
design_of(key, base_url, fill)      the design alone (previews, tests)
"""

import copy
import re
from dataclasses import dataclass, field

from flask import current_app

from app.models import Template
from app.services.content import templates
from app.services.designs import starters

# `cart.url` and friends, as a whole dotted name (not the tail of `event.properties.cart`).
_DATA_PATH = re.compile(r"(?<![\w.])(cart|product|order)\.([A-Za-z_][A-Za-z0-9_]*)")
_RENAMED = {("cart", "url"): "cart_url", ("order", "number"): "order_id", ("order", "url"): "order_url"}
# `x|float` fails on a value the event does not carry (a cart sent without its total): 0 instead.
_TO_FLOAT = re.compile(r"((?:event\.properties|item)\.[A-Za-z_][A-Za-z0-9_]*)\|float")
_VIEW = '&nbsp;|&nbsp; <a href="{{ view_in_browser_url }}"><span style="color:#6b6690">View in browser</span></a>'
_NAME = "{{ subscriber.name or 'there' }}"
_PRODUCT_PRICE = (
    "{{ (event.properties.currency ~ ' ' ~ '%.2f'|format(event.properties.price|float)) "
    "if event.properties.price else '' }}"
)


def _link(href: str, label: str, colour: str) -> str:
    return f'<a href="{href}"><span style="color:{colour};font-weight:bold">{label} &rarr;</span></a>'


@dataclass(frozen=True)
class Email:
    """One email of a recipe: a starter (or None for a plain design of `blocks`), what to change in it
    (block id -> props), what to drop (block ids), and its name, subject and preview text."""

    starter: str | None
    name: str
    subject: str
    preview_text: str
    changes: dict = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    blocks: tuple = ()  # a plain design: (kind, text[, href]) with kind header|text|button|footer


# ---- the emails, recipe by recipe -----------------------------------------------------------------

_WELCOME_2 = {
    "pre-text": {"text": "Care tips from our greenhouse " + _VIEW},
    "intro-title": {"text": f"Settling in, {_NAME}?"},
    "intro-text": {
        "text": "Most plants don’t suffer from neglect but from too much love: a little less water, a little "
        "more light. Here are three habits our growers swear by, and a reminder that your welcome code is "
        "still waiting for you."
    },
    "intro-button": {"text": "Read the care guides", "href": "https://example.com/guides"},
    "offer-kicker": {"text": "<b>STILL YOURS</b>"},
    "offer-title": {"text": "Your 15% welcome code"},
    "steps-title": {"text": "Three habits of happy plants"},
    "steps-intro": {"text": "Five minutes a week, and your new green friends will feel right at home."},
    "step1-title": {"text": "Water less, but deeply"},
    "step1-text": {"text": "Soak the soil until it drains, then wait until the top 2 cm feel dry again."},
    "step1-link": {"text": _link("https://example.com/guides/watering", "Watering guide", "#d9774b")},
    "step2-title": {"text": "Give them a quarter turn"},
    "step2-text": {"text": "Turning each pot once a week keeps growth even and stems straight."},
    "step2-link": {"text": _link("https://example.com/guides/light", "Light guide", "#d9774b")},
    "step3-title": {"text": "Wipe the leaves"},
    "step3-text": {"text": "Dusty leaves catch less light: a damp cloth once a month does wonders."},
    "step3-link": {"text": _link("https://example.com/guides/leaves", "Leaf care", "#d9774b")},
}
_WELCOME_3 = {
    "pre-text": {"text": "Your welcome gift ends soon " + _VIEW},
    "intro-title": {"text": "Before your welcome gift wilts…"},
    "intro-text": {
        "text": f"Hi {_NAME}, a quick reminder: your 15% code is only valid for 30 days after joining. If a "
        "monstera, a café-au-lait calathea or a hand-thrown pot from Émilie’s studio caught your eye, now’s "
        "the moment."
    },
    "offer-kicker": {"text": "<b>DON’T MISS IT</b>"},
    "offer-button": {"text": "Use my 15% now", "href": "https://example.com/shop"},
}
_CART_2 = {
    "pre-text": {"text": "Your cart expires soon " + _VIEW},
    "hero-title": {"text": "Still thinking it over?"},
    "hero-text": {
        "text": f"Hi {_NAME}, your cart is still here, but we can’t hold these pieces for ever: once they’re "
        "gone, some won’t be back until next season."
    },
    "hero-button": {"text": "Take me to my cart"},
    "items-title": {"text": "Waiting in your cart"},
}
_PRODUCT_FOOTER = {"showUnsubscribe": True, "showPreferences": True}
_WISHLIST = {
    "title": {"text": "Still on your wishlist"},
    "intro": {
        "text": f"Hi {_NAME}, you saved this a few days ago. It’s still here, and just as lovely as you remember:"
    },
    "price": {"text": _PRODUCT_PRICE},
    "buy": {"text": "Make it mine"},
    "note": {"text": "A wishlist doesn’t reserve anything, so popular pieces can sell out without warning."},
    "footer": {"text": "You’re receiving this email because you added this item to your wishlist.", **_PRODUCT_FOOTER},
}
_PRICE_DROP = {
    "title": {"text": "The price just dropped"},
    "intro": {"text": f"Hi {_NAME}, something on your wishlist now costs less than when you saved it:"},
    "price": {
        "text": '<span style="color:#8a8595;text-decoration:line-through">{{ event.properties.currency }} '
        "{{ '%.2f'|format(event.properties.old_price|float) }}</span> &nbsp;<b>{{ event.properties.currency }} "
        "{{ '%.2f'|format(event.properties.new_price|float) }}</b>"
    },
    "buy": {"text": "Get it at the new price"},
    "note": {"text": "Prices move often: this one is only certain while stocks last."},
    "footer": {
        "text": "You’re receiving this email because this item is on your wishlist and its price went down.",
        **_PRODUCT_FOOTER,
    },
}
_RESTOCK = {
    "intro": {"text": f"Hi {_NAME}, good news: something you had your eye on is available again, for now:"},
    "price": {"text": _PRODUCT_PRICE},
    "footer": {
        "text": "You’re receiving this email because you asked to hear when this item is back, or saved it to "
        "your wishlist.",
        **_PRODUCT_FOOTER,
    },
}
_PROMO_FOOTER = "You’re receiving this email because you subscribed at harborgoods.example."
_MISS_YOU = {
    "pre-text": {"text": "It’s been a while " + _VIEW},
    "hero-kicker": {"text": "<b>IT’S BEEN A WHILE</b>"},
    "hero-title": {"text": "We miss you, {{ subscriber.name or 'friend' }}"},
    "hero-text": {
        "text": "A lot has changed since your last visit: hand-thrown ceramics, the new café collection and "
        "candles that smell like a Lisbon pastelaria. Come and have a look, with 20% off on us."
    },
    "hero-button": {"text": "Come back for 20% off"},
    "code-text": {"text": "Your code: <b>MISSYOU20</b> &nbsp;&middot;&nbsp; valid for 14 days"},
    "grid-title": {"text": "New since you’ve been away"},
    "grid-intro": {"text": f"Hi {_NAME}, a few pieces we think you’ll love."},
    "footer": {"text": _PROMO_FOOTER},
}
_LAST_NOTE = {
    "pre-text": {"text": "Do you still want our emails? " + _VIEW},
    "hero-kicker": {"text": "<b>ONE LAST NOTE</b>"},
    "hero-title": {"text": "Do you still want to hear from us?"},
    "hero-text": {
        "text": f"Hi {_NAME}, we only want to be in your inbox if you enjoy it. Click below to stay on the list, or "
        "choose fewer emails on your preferences page. If we don’t hear from you, we’ll stop writing soon."
    },
    "hero-button": {"text": "Yes, keep me subscribed", "href": "https://example.com/welcome-back"},
    "code-text": {"text": "Your code <b>MISSYOU20</b> still works for a few more days."},
    "footer": {"text": _PROMO_FOOTER},
}
_BIRTHDAY = {
    "pre-text": {"text": "A little gift for your birthday " + _VIEW},
    "hero-kicker": {"text": "<b>HAPPY BIRTHDAY</b>"},
    "hero-title": {"text": "Happy birthday, {{ subscriber.name or 'friend' }}!"},
    "hero-text": {
        "text": "To celebrate, here’s a gift from all of us: 20% off anything in the shop for the next seven "
        "days. Treat yourself to a cosy throw, a candle that smells of crème brûlée, or a new mug for your "
        "morning café."
    },
    "hero-button": {"text": "Unwrap my gift"},
    "code-text": {"text": "Your birthday code: <b>{code}</b> &nbsp;&middot;&nbsp; valid for 7 days"},
    "grid-title": {"text": "A few ideas (for you, from you)"},
    "grid-intro": {"text": "Our most-loved pieces, in case you need inspiration."},
    "footer": {"text": "You’re receiving this email because you told us your birthday. Have a lovely day!"},
}
_THANKS = {
    "pre-text": {"text": "Thank you for your order " + _VIEW},
    "thanks-text": {
        "text": "We’re packing your order with care. You’ll get a separate email with tracking as soon as it "
        "ships; in the meantime, here’s what you chose."
    },
    "thanks-button": {"text": "See my orders", "href": "https://example.com/account/orders"},
    "meta-date-text": {"text": "ORDER DATE<br><b>{{ (event.occurred_at or '')[:10] }}</b>"},
    "footer": {"text": "You’re receiving this email because you ordered from Northwind Supply. Thank you!"},
}
_REVIEW = {
    "pre-text": {"text": "Tell us what you think " + _VIEW},
    "thanks-title": {"text": f"How’s everything, {_NAME}?"},
    "thanks-text": {
        "text": "Your order should have arrived by now. Would you tell other shoppers what you think? A "
        "two-minute review helps them choose, and helps small makers more than you’d think."
    },
    "thanks-button": {"text": "Write a review", "href": "https://example.com/account/reviews"},
    "summary-title": {"text": "What you ordered"},
    "footer": {"text": "You’re receiving this email because you ordered from Northwind Supply recently."},
}
_APP = "https://app.example.com"
_ONBOARDING_FOOTER = (
    "footer",
    "You’re receiving this email because you created an account. We send a few tips in your first weeks.",
)

EMAILS: dict[str, Email] = {
    "welcome_1": Email(
        "welcome", "Welcome series · 1 · Welcome", "Welcome to Juniper, here’s 15% off your first order",
        "Care guides, first looks at new arrivals and a little welcome gift inside.",
    ),
    "welcome_2": Email(
        "welcome", "Welcome series · 2 · Care tips", "Settling in? Three habits of happy plants",
        "Our growers’ favourite tips, and your 15% welcome code.", _WELCOME_2, ("quote",),
    ),
    "welcome_3": Email(
        "welcome", "Welcome series · 3 · Last call", "Your 15% welcome gift ends soon",
        "A café-au-lait calathea, perhaps? Your code is still valid for a few days.", _WELCOME_3,
        ("steps-head", "steps", "quote"),
    ),
    "cart_1": Email(
        "abandoned_cart", "Abandoned cart · 1 · Reminder", "You left something in your cart",
        "We saved your items. Complete your order before they sell out.",
    ),
    "cart_2": Email(
        "abandoned_cart", "Abandoned cart · 2 · Last reminder", "Still thinking it over? Your cart is waiting",
        "Some of these won’t be back until next season.", _CART_2,
    ),
    "wishlist_1": Email(
        "back_in_stock", "Abandoned wishlist · Reminder", "Still dreaming of {{ event.properties.name or 'it' }}?",
        "It’s still on your wishlist, and still available.", _WISHLIST,
    ),
    "price_drop_1": Email(
        "back_in_stock", "Price drop · Alert", "Good news: {{ event.properties.name or 'your wish' }} costs less now",
        "Something on your wishlist just got cheaper.", _PRICE_DROP,
    ),
    "back_in_stock_1": Email(
        "back_in_stock", "Back in stock · Alert", "{{ event.properties.name or 'Your pick' }} is back in stock",
        "You had your eye on it: it’s available again, for now.", _RESTOCK,
    ),
    "reengagement_1": Email(
        "promotion", "Re-engagement · 1 · We miss you", "We miss you, {{ subscriber.name or 'friend' }}: 20% off inside",
        "Hand-thrown ceramics, the new café collection and a code just for you.", _MISS_YOU,
    ),
    "reengagement_2": Email(
        "promotion", "Re-engagement · 2 · Last note", "Should we stop writing?",
        "One click keeps you on the list.", _LAST_NOTE, ("grid-head", "grid-1", "grid-2", "all"),
    ),
    "onboarding_1": Email(
        None, "Onboarding · 1 · Welcome", "Welcome aboard, {{ subscriber.name or 'friend' }}!",
        "Your account is ready: here’s the one thing to do first.",
        blocks=(
            ("header", f"Welcome aboard, {_NAME}!"),
            ("text", "Your account is ready. The quickest way to feel at home is to complete your profile: your "
                     "photo, your role and the time zone you work in, so your teammates know who they’re working "
                     "with (and when not to ping you)."),
            ("button", "Complete my profile", f"{_APP}/settings/profile"),
            ("text", "Questions? Just reply: this reaches a real person on our team, not a no-reply robot.<br><br>"
                     "À bientôt,<br><b>Zoë, Customer success</b>"),
            _ONBOARDING_FOOTER,
        ),
    ),
    "onboarding_2": Email(
        None, "Onboarding · 2 · Getting started", "Three tips for your first week",
        "Small habits that make the first week easy.",
        blocks=(
            ("header", f"Three tips for your first week, {_NAME}"),
            ("text", "<b>1. Start with one real project.</b> A sample is fine, but something you care about "
                     "teaches you faster.<br><b>2. Invite one teammate.</b> Everything is better with a "
                     "second pair of eyes.<br><b>3. Keep the shortcuts handy.</b> Press <b>?</b> anywhere to "
                     "see them."),
            ("button", "Open my workspace", f"{_APP}/"),
            ("text", "Happy building,<br><b>Zoë and the team</b>"),
            _ONBOARDING_FOOTER,
        ),
    ),
    "onboarding_3": Email(
        None, "Onboarding · 3 · Nudge", "Your account is waiting for you",
        "Two minutes is all it takes to get set up.",
        blocks=(
            ("header", "Your account is waiting for you"),
            ("text", f"Hi {_NAME}, you signed up a few days ago but haven’t signed in yet. No pressure: it only "
                     "takes two minutes to get set up. If something got in the way (a lost password, a confusing "
                     "screen), reply to this email and we’ll sort it out together."),
            ("button", "Sign in now", f"{_APP}/login"),
            _ONBOARDING_FOOTER,
        ),
    ),
    "post_purchase_1": Email(
        "receipt", "Post-purchase · 1 · Thank you", "Thank you for your order #{{ event.properties.order_id }}",
        "We’re packing it with care; here’s what you chose.", _THANKS, ("totals-text",),
    ),
    "post_purchase_2": Email(
        "receipt", "Post-purchase · 2 · Review request", "How are you getting on with your order?",
        "Two minutes to help other shoppers choose.", _REVIEW, ("meta", "totals-rule", "totals"),
    ),
    "birthday_1": Email(
        "promotion", "Birthday · Gift", "Happy birthday, {{ subscriber.name or 'friend' }}: a gift inside",
        "20% off anything, for the next seven days.", _BIRTHDAY,
    ),
}  # fmt: skip


# ---- building the design --------------------------------------------------------------------------


def _rename(value):
    """The starters' sample data paths as the flow's event paths, in every string of the design."""
    if isinstance(value, str):
        value = _DATA_PATH.sub(lambda m: "event.properties." + _RENAMED.get((m[1], m[2]), m[2]), value)
        return _TO_FLOAT.sub(r"(\1 or 0)|float", value)
    if isinstance(value, list):
        return [_rename(v) for v in value]
    if isinstance(value, dict):
        return {k: _rename(v) for k, v in value.items()}
    return value


def _edit(blocks: list, changes: dict, drop: tuple) -> list:
    out = []
    for block in blocks:
        if block.get("id") in drop:
            continue
        block = {**block, "props": {**block.get("props", {}), **changes.get(block.get("id"), {})}}
        for key in ("children", "else"):
            if block.get(key):
                block[key] = _edit(block[key], changes, drop)
        out.append(block)
    return out


def _fill(value, fill: dict):
    if isinstance(value, str):
        for placeholder, text in fill.items():
            value = value.replace("{" + placeholder + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fill) for k, v in value.items()}
    return value


_PLAIN_BLOCK = {
    "header": lambda t: {"type": "header", "props": {"text": t[1], "level": 1, "color": "#1f2933"}},
    "text": lambda t: {"type": "text", "props": {"text": t[1], "color": "#3d4451", "fontSize": 16}},
    "button": lambda t: {"type": "button", "props": {"text": t[1], "href": t[2], "backgroundColor": "#2f6f5e",
                                                     "color": "#ffffff", "align": "left"}},
}  # fmt: skip


def _plain(email: Email) -> dict:
    """A one-column design of the email's blocks, on the blank starter's settings, with a footer."""
    design = starters.blank_design()
    body = [dict(_PLAIN_BLOCK[b[0]](b), id=f"b{i}") for i, b in enumerate(email.blocks) if b[0] != "footer"]
    footer = next((b[1] for b in email.blocks if b[0] == "footer"), "")
    design["blocks"] = [
        {"id": "body", "type": "section", "props": {"backgroundColor": "#ffffff", "padding": "32px 24px"},
         "children": [{"id": "body-col", "type": "column", "props": {}, "children": body}]},
        {"id": "footer", "type": "footer", "props": {"text": footer, "address": "[Company] · [Street address] · "
                                                     "[City, postcode] · [Country]", "showUnsubscribe": True,
                                                     "showPreferences": True}},
    ]  # fmt: skip
    return design


def design_of(key: str, base_url: str, fill: dict | None = None) -> dict:
    """The email's design: its starter with the event's data paths and its own copy (or a plain design)."""
    email = EMAILS[key]
    if email.starter is None:
        design = _plain(email)
    else:
        design = copy.deepcopy(starters.load_starter(email.starter, base_url)["design"])
        design["blocks"] = _edit(design["blocks"], email.changes, email.drop)
    return _fill(_rename(design), fill or {})


def create_email(workspace_id: int, key: str, fill: dict | None = None) -> Template:
    """The email as a visual marketing template of the workspace (version 1 recorded)."""
    email = EMAILS[key]
    base_url = current_app.config["BASE_URL"]
    data = {
        "name": email.name,
        "subject": _fill(email.subject, fill or {}),
        "preview_text": email.preview_text,
        "category": "marketing",
        "template_type": "visual",
        "design": design_of(key, base_url, fill),
    }
    return templates.create_template(workspace_id, data, note="Created from a ready-made flow")
