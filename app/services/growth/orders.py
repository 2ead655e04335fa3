"""What a new order does in growth: the buyer's loyalty points, the gift cards it sold (mailed to the
buyer), and the referral it completes (the friend's first qualifying order rewards both sides once).
Called once per order, right after it is recorded (POST /orders and `order_placed` events,
events/attribution.record_order answering created=True), in the same transaction: a repeat of an order
changes nothing here, and each step is idempotent on the order as well."""

from app.models import Order
from app.services.growth import gift_card_mail, gift_cards, loyalty, referrals


def on_order(order: Order) -> None:
    """Loyalty points, gift cards and a referral's reward for a new order (see the module's docstring)."""
    loyalty.award_for_order(order)
    for sold in gift_cards.sell_from_order(order):
        gift_card_mail.deliver(sold.card, sold.code, idempotency_key=f"gift-card-{sold.card.id}")
    referrals.on_order(order)
