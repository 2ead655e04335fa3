"""A gift card's email to its recipient: a transactional message (delivery/transactional.py) from the
workspace's template with the slug `gift-card`.

The first delivery makes that template from the builder's `gift_card` starter, with the workspace's name
where the starter names its sample shop, so the marketer edits it in the builder like any other (its
From comes from the template's sending identity, else the workspace's latest campaign). It is rendered
with `gift_card {amount, currency, code, sender_name, message, redeem_url, expires_on}`; the code leaves
the stored message once it is sent (transactional.redact_secrets). Sending again reads the code from its
encrypted copy. A card that cannot be mailed (no From address yet, a bounced address) is still a card:
the answer says why, and the card's page offers to send it again.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import GiftCard, Template, Workspace
from app.services.content import templates
from app.services.crypto import decrypt_text
from app.services.delivery import transactional
from app.services.designs import starters
from app.services.errors import DomainError, InvalidState
from app.services.growth.gift_cards import get_card

SLUG = "gift-card"
SAMPLE_SHOP = ("Northwind Supply", "NORTHWIND SUPPLY")
_PLAIN_NAME = re.compile(r"^[^{}%<>#]+$")  # a name that reads as text in a template, never as template code


@dataclass(frozen=True)
class Delivery:
    """What became of a card's email: queued (or suppressed) as message `message_id`, or not sent, and why."""

    status: str
    message_id: int | None = None
    reason: str | None = None


def _named(value, shop: str):
    if isinstance(value, str):
        return value.replace(SAMPLE_SHOP[0], shop).replace(SAMPLE_SHOP[1], shop.upper())
    if isinstance(value, list):
        return [_named(v, shop) for v in value]
    if isinstance(value, dict):
        return {k: _named(v, shop) for k, v in value.items()}
    return value


def template_for(workspace_id: int) -> Template:
    """The workspace's gift card template, made from the starter the first time (two first cards at the
    same instant: the unique slug keeps one template, and the second request reads it)."""
    tpl = _template(workspace_id)
    if tpl is not None:
        return tpl
    name = db.session.get(Workspace, workspace_id).name
    shop = name if _PLAIN_NAME.match(name) else "our shop"
    start = _named(starters.load_starter("gift_card", current_app.config["BASE_URL"]), shop)
    data = {k: start[k] for k in ("name", "subject", "preview_text", "category", "design")}
    data |= {"template_type": "visual", "slug": SLUG}
    try:
        with db.session.begin_nested():
            return templates.create_template(workspace_id, data, note="Made for gift card emails")
    except IntegrityError:
        return _template(workspace_id)


def _template(workspace_id: int) -> Template | None:
    return db.session.scalar(select(Template).where(Template.workspace_id == workspace_id, Template.slug == SLUG))


def context(card: GiftCard, code: str, sender_name: str | None = None) -> dict:
    expires = card.expires_at.date().isoformat() if card.expires_at else ""
    return {
        "gift_card": {
            "amount": f"{card.initial_amount:.2f}",
            "balance": f"{card.balance:.2f}",
            "currency": card.currency,
            "code": code,
            "last4": card.last4,
            "sender_name": sender_name or "",
            "message": card.message or "",
            "redeem_url": "",
            "expires_on": expires,
        }
    }


def deliver(card: GiftCard, code: str, sender_name: str | None = None, idempotency_key: str | None = None) -> Delivery:
    """Queue the card's email to its recipient (after the caller's commit), from `sender_name` (default: the
    workspace's name); Delivery says what happened."""
    if not card.recipient_email:
        return Delivery("not_sent", reason="The card has no recipient address.")
    try:
        # Each step in a savepoint: a refusal leaves the card and the caller's transaction as they were, and
        # the template stays made (the marketer gives it a sending identity, then sends the card again).
        with db.session.begin_nested():
            tpl = template_for(card.workspace_id)
        with db.session.begin_nested():
            accepted = transactional.create_message(
                card.workspace_id, tpl.id, card.recipient_email, context(card, code, sender_name or _shop(card)),
                idempotency_key=idempotency_key,
            )  # fmt: skip
    except DomainError as exc:
        current_app.logger.info("gift card %s not mailed: %s", card.id, exc.message)
        return Delivery("not_sent", reason=exc.message)
    msg = accepted.message
    if msg.status != "suppressed":
        card.delivered_at = datetime.now(timezone.utc)
    return Delivery(msg.status, msg.id, msg.reason)


def _shop(card: GiftCard) -> str:
    return db.session.get(Workspace, card.workspace_id).name


def resend(workspace_id: int, card_id) -> Delivery:
    """Mail a card again to its recipient, its code read from the encrypted copy."""
    card = get_card(workspace_id, card_id)
    if not card.recipient_email:
        raise InvalidState("This card has no recipient address to send it to.")
    return deliver(card, _pretty(decrypt_text(card.code_encrypted)))


def _pretty(code: str) -> str:
    raw = code.replace("-", "")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
