"""Gift cards: issued one by one (mailed to a recipient) or in bulk, listed, redeemed by code, refunded."""

from flask import make_response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import text
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.services.growth import gift_card_mail, gift_cards
from app.services.pagination import paginate

TAG = "Gift cards"


def card_json(c) -> dict:
    return {
        "id": c.id,
        "last4": c.last4,
        "initial_amount": f"{c.initial_amount:.2f}",
        "balance": f"{c.balance:.2f}",
        "currency": c.currency,
        "status": c.status,
        "recipient_email": c.recipient_email,
        "order_id": c.order_id,
        "message": c.message,
        "expires_at": iso(c.expires_at),
        "delivered_at": iso(c.delivered_at),
        "created_at": iso(c.created_at),
    }


def entry_json(e) -> dict:
    return {
        "id": e.id,
        "kind": e.kind,
        "amount": f"{e.amount:.2f}",
        "reference": e.reference,
        "created_at": iso(e.created_at),
    }


@operation(
    "POST", "/gift-cards", "Issue a gift card", tag=TAG, body="GiftCardInput", response="GiftCardIssued", status=201
)
def issue_gift_card(body: dict):
    """A card worth `amount`, with an unguessable code answered this once (Herald keeps only its hash and
    an encrypted copy). With `email`, the card is mailed to that person by the workspace's "Gift card
    delivery" template (made from the builder's starter the first time; edit it in the builder)."""
    ws = workspace_id()
    issued = gift_cards.issue(ws, body["amount"], body["currency"], body.get("email"), body.get("message"),
                              body.get("expires_at"))  # fmt: skip
    delivery = None
    if issued.card.recipient_email:
        sent = gift_card_mail.deliver(issued.card, issued.code, idempotency_key=f"gift-card-{issued.card.id}")
        delivery = {"status": sent.status, "message_id": sent.message_id, "reason": sent.reason}
    commit()
    return {"card": card_json(issued.card), "code": issued.code, "delivery": delivery}


@operation(
    "POST",
    "/gift-cards/bulk",
    "Create gift cards in bulk",
    tag=TAG,
    body="GiftCardBulkInput",
    response="GiftCardBatch",
    status=201,
)
def bulk_create_gift_cards(body: dict):
    """Up to 10,000 cards of one amount at once, each with its own code: the answer is the only time the
    codes are given (print them, load them into the shop). None is mailed."""
    batch = gift_cards.bulk_create(
        workspace_id(), body["count"], body["amount"], body["currency"], body.get("expires_at")
    )
    commit()
    return {
        "count": len(batch.cards),
        "amount": f"{batch.amount:.2f}",
        "currency": batch.currency,
        "cards": [{"id": card_id, "code": code} for card_id, code in batch.cards],
    }


@operation(
    "GET",
    "/gift-cards",
    "List gift cards",
    tag=TAG,
    response="GiftCard",
    paginated=True,
    query=(
        Param("status", {"enum": list(gift_cards.STATUSES)}, "Only cards in this status."),
        Param("q", text(100), "The code's last four characters, the recipient's address or the card's id."),
    ),
)
def list_gift_cards(query: dict):
    """Newest first; codes are never listed, only their last four characters."""
    stmt = gift_cards.list_cards(workspace_id(), query.get("status"), query.get("q"))
    cards, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([card_json(c) for c in cards], total, query)


@operation("GET", "/gift-cards/{card_id}", "Get a gift card", tag=TAG, response="GiftCardDetail")
def get_gift_card(card_id: int):
    """The card and its ledger (purchase, redemptions, refunds, expiry), newest first."""
    card = gift_cards.get_card(workspace_id(), card_id)
    return {"card": card_json(card), "ledger": [entry_json(e) for e in gift_cards.ledger_of(card.id)]}


@operation(
    "POST",
    "/gift-cards/{code}/redeem",
    "Redeem a gift card",
    tag=TAG,
    body="GiftCardRedeemInput",
    response="GiftCardChange",
    status=201,
    also=(200,),
    errors=(409,),
    key_params=("code",),
)
def redeem_gift_card(code: str, body: dict):
    """Takes `amount` off the card this code opens (case, spaces and hyphens do not matter); part of the
    balance may stay for later. 404 for a code that is none of the workspace's cards; 409
    `insufficient_balance` when the balance is short (nothing is taken: concurrent redemptions queue on the
    card, so it never goes below zero) and `invalid_state` for an expired or disabled card. 201 for a
    redemption; 200 with the first one when its `idempotency_key` was sent before."""
    moved = gift_cards.redeem(workspace_id(), code, body["amount"], body.get("idempotency_key"),
                              body.get("currency"), body.get("reference"))  # fmt: skip
    commit()
    return make_response(_change(moved), 201 if moved.created else 200)


@operation(
    "POST",
    "/gift-cards/{card_id}/refund",
    "Refund to a gift card",
    tag=TAG,
    body="GiftCardRefundInput",
    response="GiftCardChange",
    status=201,
    also=(200,),
    errors=(409,),
)
def refund_gift_card(card_id: int, body: dict):
    """Puts back up to what was redeemed and not refunded yet (a returned order); a card spent to zero is
    active again. 409 for an expired or disabled card."""
    moved = gift_cards.refund(workspace_id(), card_id, body["amount"], body.get("reference"),
                              body.get("idempotency_key"))  # fmt: skip
    commit()
    return make_response(_change(moved), 201 if moved.created else 200)


@operation("POST", "/gift-cards/{card_id}/disable", "Disable a gift card", tag=TAG, response="GiftCard", errors=(409,))
def disable_gift_card(card_id: int):
    """Freezes the card (lost or stolen): it keeps its balance, and redemptions and refunds answer 409
    `invalid_state` until it is enabled again. 409 for an expired card."""
    card = gift_cards.set_disabled(workspace_id(), card_id, True)
    commit()
    return card_json(card)


@operation("POST", "/gift-cards/{card_id}/enable", "Enable a gift card", tag=TAG, response="GiftCard")
def enable_gift_card(card_id: int):
    """A disabled card is usable again with the balance it had (`redeemed` when that is zero)."""
    card = gift_cards.set_disabled(workspace_id(), card_id, False)
    commit()
    return card_json(card)


def _change(moved) -> dict:
    return {"card": card_json(moved.card), "entry": entry_json(moved.entry)}
