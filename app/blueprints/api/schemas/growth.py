"""Growth: the loyalty program, a person's points and their ledger, redemptions and adjustments; gift
cards (one, or a batch), their ledgers, redemptions by code and refunds."""

from app.blueprints.api.schemas.common import COUNT, ID, MAYBE_TIMESTAMP, TIMESTAMP, integer, obj, ref, response, text

MONEY_IN = {"type": ["number", "string"], "description": 'An amount with at most two decimals, e.g. 25 or "25.00".'}
MONEY = {"type": "string", "description": 'Two decimals, e.g. "25.00".'}
KEY = text(200, "The same key again answers the first result (200) and changes nothing more.", nullable=True)
PERSON = {
    "email": text(320, "The person's address (or subscriber_id).", nullable=True),
    "subscriber_id": ID | {"description": "The person's id (or email)."},
}
TIER = obj(
    {"name": text(60, min_length=1), "min_points": integer("Lifetime points that reach the tier.")},
    required=("name", "min_points"),
)

SCHEMAS: dict[str, dict] = {
    "LoyaltyProgramInput": obj(
        # Types only: Herald checks the values itself, so that one answer names every field to fix.
        {
            "status": {"enum": ["active", "paused"], "description": "Paused: orders earn nothing; balances stay."},
            "points_per_unit": {
                "type": ["number", "string"],
                "description": "Points per unit of the currency spent (above 0, up to four decimals).",
            },
            "redemption_rate": {
                "type": ["number", "string"],
                "description": "Points that make one unit of the currency off (above 0).",
            },
            "currency": {"type": "string", "description": "ISO 4217: only orders in it earn points."},
            "expiry_days": {
                "type": ["integer", "null"],
                "description": "Earned points expire after this many days (1 to 3650); null: never.",
            },
            "tiers": {"type": "array", "maxItems": 20, "items": TIER, "description": "By lifetime points."},
        },
        description="The program: fields left out keep their value (a new program's defaults: active, 1 point "
        "per unit, 100 points per unit off, EUR, no expiry, no tiers).",
    ),
    "LoyaltyProgram": response(
        {
            "id": ID,
            "status": {"enum": ["active", "paused"]},
            "points_per_unit": {"type": "number"},
            "redemption_rate": {"type": "number"},
            "currency": {"type": "string"},
            "expiry_days": {"type": ["integer", "null"]},
            "tiers": {"type": "array", "items": TIER},
            "accounts": COUNT | {"description": "People with an account."},
            "points_outstanding": COUNT | {"description": "Points held over every account."},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        description="The workspace's loyalty program.",
    ),
    "LoyaltyEntry": response(
        {
            "id": ID,
            "kind": {"enum": ["earned", "redeemed", "expired", "adjusted"]},
            "points": {"type": "integer", "description": "Credits are positive, debits negative."},
            "remaining": COUNT | {"description": "Of an earned entry: what is not yet spent nor expired."},
            "order_id": {"type": ["integer", "null"]},
            "note": {"type": ["string", "null"]},
            "expires_at": MAYBE_TIMESTAMP,
            "created_at": TIMESTAMP,
        },
        description="One entry of a person's points ledger.",
    ),
    "LoyaltyAccount": response(
        {
            "subscriber_id": ID,
            "email": {"type": "string"},
            "balance": COUNT | {"description": "The sum of the ledger; never below zero."},
            "lifetime_points": COUNT,
            "tier": {"type": ["string", "null"]},
            "next_tier": {
                "type": ["object", "null"],
                "description": "{name, min_points, points_to_go} of the next tier, or null.",
            },
            "value": {"type": ["string", "null"], "description": "What the balance is worth off an order."},
            "currency": {"type": ["string", "null"]},
            "ledger": {"type": "array", "items": ref("LoyaltyEntry"), "description": "The latest 100, newest first."},
        },
        description="A person's points (0 and an empty ledger before their first).",
    ),
    "LoyaltyRedeemInput": obj(
        {
            **PERSON,
            "points": integer("Points to take, from 1.", minimum=1, maximum=1_000_000_000),
            "idempotency_key": KEY,
            "note": text(500, "What they were redeemed for (an order number).", nullable=True),
        },
        required=("points",),
    ),
    "LoyaltyAdjustInput": obj(
        {
            **PERSON,
            "points": integer(
                "+ to give, − to take (never below zero); not 0.", minimum=-1_000_000_000, maximum=1_000_000_000
            ),
            "note": text(500, "Why: kept in the ledger.", min_length=1),
            "idempotency_key": KEY,
        },
        required=("points", "note"),
    ),
    "LoyaltyChange": response(
        {
            "entry": ref("LoyaltyEntry"),
            "balance": COUNT,
            "tier": {"type": ["string", "null"]},
            "value": {"type": "string", "description": "What the entry's points are worth, in the currency."},
            "currency": {"type": "string"},
        },
        description="A ledger entry written (201) or found by its idempotency key (200), and the balance after.",
    ),
    "GiftCardInput": obj(
        {
            "amount": MONEY_IN,
            "currency": text(3, "ISO 4217, e.g. EUR.", min_length=3),
            "email": text(320, "The recipient: the card is mailed to them (transactional).", nullable=True),
            "message": text(1000, "A note shown in the email.", nullable=True),
            "expires_at": text(40, "ISO 8601; null: never.", nullable=True),
        },
        required=("amount", "currency"),
    ),
    "GiftCard": response(
        {
            "id": ID,
            "last4": {"type": "string", "description": "The code's last four characters."},
            "initial_amount": MONEY,
            "balance": MONEY,
            "currency": {"type": "string"},
            "status": {"enum": ["active", "redeemed", "expired", "disabled"]},
            "recipient_email": {"type": ["string", "null"]},
            "order_id": {"type": ["integer", "null"], "description": "The order that sold it."},
            "message": {"type": ["string", "null"]},
            "expires_at": MAYBE_TIMESTAMP,
            "delivered_at": MAYBE_TIMESTAMP,
            "created_at": TIMESTAMP,
        },
        description="A gift card; its code is answered only when it is made.",
    ),
    "GiftCardIssued": response(
        {
            "card": ref("GiftCard"),
            "code": {"type": "string", "description": "The only time Herald answers it: keep it now."},
            "delivery": {
                "type": ["object", "null"],
                "description": "{status: queued|suppressed|not_sent, message_id, reason} of the card's email; "
                "null without a recipient.",
            },
        },
        description="A gift card just issued, with its code.",
    ),
    "GiftCardBulkInput": obj(
        {
            "count": integer("How many cards, 1 to 10,000.", minimum=1, maximum=10_000),
            "amount": MONEY_IN,
            "currency": text(3, "ISO 4217, e.g. EUR.", min_length=3),
            "expires_at": text(40, "ISO 8601; null: never.", nullable=True),
        },
        required=("count", "amount", "currency"),
    ),
    "GiftCardBatch": response(
        {
            "count": COUNT,
            "amount": MONEY,
            "currency": {"type": "string"},
            "cards": {
                "type": "array",
                "items": response({"id": ID, "code": {"type": "string"}}),
                "description": "Every card's code: the only time Herald answers them.",
            },
        },
        description="Cards made in bulk, with their codes.",
    ),
    "GiftCardEntry": response(
        {
            "id": ID,
            "kind": {"enum": ["purchase", "redemption", "refund", "expiry", "adjustment"]},
            "amount": {"type": "string", "description": 'Credits positive, debits negative, e.g. "-12.50".'},
            "reference": {"type": ["string", "null"]},
            "created_at": TIMESTAMP,
        },
        description="One entry of a card's ledger.",
    ),
    "GiftCardDetail": response(
        {"card": ref("GiftCard"), "ledger": {"type": "array", "items": ref("GiftCardEntry")}},
        description="A card and its ledger, newest first.",
    ),
    "GiftCardRedeemInput": obj(
        {
            "amount": MONEY_IN,
            "currency": text(3, "When given, must be the card's.", nullable=True),
            "idempotency_key": KEY,
            "reference": text(200, "The shop's order id.", nullable=True),
        },
        required=("amount",),
    ),
    "GiftCardRefundInput": obj(
        {"amount": MONEY_IN, "reference": text(200, nullable=True), "idempotency_key": KEY},
        required=("amount",),
    ),
    "GiftCardChange": response(
        {"card": ref("GiftCard"), "entry": ref("GiftCardEntry")},
        description="A ledger entry written (201) or found by its idempotency key (200), and the card after.",
    ),
}
