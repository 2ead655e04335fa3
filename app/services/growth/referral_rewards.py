"""What a completed referral gives each side, issued by referrals.on_order once it holds the claim (so once).

    percent, fixed   a coupon code Herald draws (REF-XXXXX-XXXXX: secrets, the referral codes' alphabet,
                     ~2^49 codes), kept in the referral's `rewards` and mailed to its owner. The shop honours
                     it: it reads rewarded referrals and their codes (GET /referral-programs/{id}/referrals?
                     status=rewarded) and creates the matching coupon; Herald never sees a checkout.
    points           credited to the person's loyalty account (growth/loyalty.adjust: an `adjusted` entry with
                     the referral in its note, keyed by referral and side, so a retry cannot credit twice);
                     without a loyalty program (or should the ledger refuse them) the points are recorded
                     `owed`, for the team to credit by hand.

`rewards` of a referral:
    {"referrer": {"type", "value", "currency"?, "description", "code"? , "status": issued|awarded|owed,
                  "transaction_id"? (the ledger entry), "note"? (why owed)},
     "friend": {...} (absent when the program gives the friend nothing),
     "emails": {"referrer": message id | null, "friend": message id | null}}   (referral_emails.py)
"""

import logging
import secrets
from decimal import Decimal

from app.extensions import db
from app.models import Order, Referral, ReferralProgram
from app.services.errors import DomainError
from app.services.growth import loyalty

log = logging.getLogger(__name__)

COUPON_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
COUPON_PREFIX = "REF"


def describe_reward(reward: dict | None) -> str:
    """A reward in words: "10% off", "5.00 EUR off", "500 points"; "" for none."""
    reward = reward or {}
    kind, value = reward.get("type"), reward.get("value")
    if kind == "percent":
        return f"{Decimal(str(value)).normalize():f}% off"
    if kind == "fixed":
        return f"{Decimal(str(value)):.2f} {reward.get('currency') or ''}".strip() + " off"
    if kind == "points":
        return f"{int(value):,} points"
    return ""


def qualifying_order(program: ReferralProgram) -> str:
    """The order that counts, in words: "a first order of at least 20.00 EUR", or "a first order"."""
    if program.min_order_amount and program.min_order_amount > 0:
        return f"a first order of at least {program.min_order_amount:.2f} {program.currency}"
    return "a first order"


def coupon_code() -> str:
    draw = "".join(secrets.choice(COUPON_ALPHABET) for _ in range(10))
    return f"{COUPON_PREFIX}-{draw[:5]}-{draw[5:]}"


def issue(referral: Referral, program: ReferralProgram, order: Order) -> dict:
    """Both sides' rewards for a claimed referral, as its `rewards` records them."""
    rewards = {"referrer": _give(program.referrer_reward, referral, referral.referrer_id, "referrer", order)}
    if program.friend_reward and program.friend_reward.get("type"):
        rewards["friend"] = _give(program.friend_reward, referral, referral.friend_id, "friend", order)
    return rewards


def _give(reward: dict, referral: Referral, subscriber_id: int, side: str, order: Order) -> dict:
    given = {**reward, "description": describe_reward(reward)}
    if reward["type"] == "points":
        return given | _award_points(referral, subscriber_id, int(reward["value"]), side, order)
    return given | {"code": coupon_code(), "status": "issued"}


def _award_points(referral: Referral, subscriber_id: int, points: int, side: str, order: Order) -> dict:
    """Credit the points to the person's loyalty account; `owed` when the ledger will not take them."""
    try:
        with db.session.begin_nested():  # a refusal leaves the ledger as it was, and the referral rewarded
            posted = loyalty.adjust(
                referral.workspace_id,
                subscriber_id,
                points,
                f"Referral #{referral.id} ({side}), order {order.external_id}"[:500],
                idempotency_key=f"referral-{referral.id}-{side}",
            )
    except DomainError as exc:  # no loyalty program, an account that cannot hold more
        log.info("referral %s: %s points owed to subscriber %s (%s)", referral.id, points, subscriber_id, exc)
        return {"status": "owed", "note": exc.message[:300]}
    return {"status": "awarded", "transaction_id": posted.entry.id}
