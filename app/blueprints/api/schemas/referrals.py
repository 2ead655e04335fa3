"""Referral programs (rewards for a referrer and their friend), their referrals, and a person's share link."""

from app.blueprints.api.schemas.common import COUNT, ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response, text
from app.services.growth.referrals import (
    MAX_EXPIRY_DAYS,
    MAX_NAME,
    MAX_TEXT,
    MAX_TITLE,
    MIN_EXPIRY_DAYS,
    PROGRAM_STATUSES,
    REWARD_TYPES,
    STATUSES,
)

AMOUNT = {"type": ["number", "string"], "description": 'e.g. 20 or "19.90".'}
REWARD = obj(
    {
        "type": {"enum": list(REWARD_TYPES)},
        "value": {
            **AMOUNT,
            "description": "percent: 1–100; fixed: an amount above 0; points: a whole number above 0.",
        },
        "currency": text(3, "A fixed amount's currency (ISO 4217); default: the program's.", nullable=True),
    },
    required=("type", "value"),
    description='What one side gets, e.g. {"type": "percent", "value": 10}, {"type": "fixed", "value": 5, '
    '"currency": "EUR"} or {"type": "points", "value": 500}. A percentage or fixed amount becomes a coupon code '
    "Herald draws (REF-XXXXX-XXXXX) for the shop to honour; points go to the person's loyalty account.",
)
LANDING = obj(
    {
        "title": text(MAX_TITLE, "Plain text; empty: Herald's wording.", nullable=True),
        "text": text(MAX_TEXT, "Plain text (shown escaped, line breaks kept).", nullable=True),
    },
    description="The landing page friends see at /r/<code>.",
)
_FIELDS = {
    "name": text(MAX_NAME, min_length=1),
    "referrer_reward": REWARD,
    "friend_reward": {
        **REWARD,
        "type": ["object", "null"],
        "description": "What the friend gets on the same qualifying order; null: nothing. " + REWARD["description"],
    },
    "min_order_amount": {
        "type": ["number", "string", "null"],
        "description": "The smallest qualifying first order, at least 0, in `currency` (null or 0: any order).",
    },
    "currency": text(3, "ISO 4217; required with a min_order_amount above 0.", nullable=True),
    "expiry_days": {
        "type": "integer",
        "minimum": MIN_EXPIRY_DAYS,
        "maximum": MAX_EXPIRY_DAYS,
        "description": "How long after signing up a friend's first order counts (default 30).",
    },
    "list_id": {**ID, "type": ["integer", "null"], "description": "The list friends join (its double opt-in applies)."},
    "landing": LANDING,
}
FIGURES = response(
    {
        "visits": {**COUNT, "description": "Visits of the share links by people (link previews and bots not counted)."},
        "referrers": {**COUNT, "description": "People with a code."},
        "signups": {**COUNT, "description": "New people who signed up through a link (every referral)."},
        "pending": COUNT,
        "completed": {**COUNT, "description": "Referrals whose friend placed a qualifying first order."},
        "rewarded": COUNT,
        "expired": COUNT,
    }
)
PROGRAM = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "status": {"enum": list(PROGRAM_STATUSES)},
        "referrer_reward": {"type": "object", "additionalProperties": True},
        "friend_reward": {"type": ["object", "null"], "additionalProperties": True},
        "min_order_amount": {"type": ["number", "null"]},
        "currency": {"type": ["string", "null"]},
        "expiry_days": {"type": "integer"},
        "list_id": {"type": ["integer", "null"]},
        "landing": response({"title": {"type": "string"}, "text": {"type": "string"}}),
        "figures": FIGURES,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    }
)
REFERRAL = response(
    {
        "id": ID,
        "program_id": ID,
        "referrer_id": ID,
        "referrer_email": {"type": "string"},
        "friend_id": ID,
        "friend_email": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "order_id": {"type": ["integer", "null"], "description": "The friend's qualifying first order."},
        "rewards": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": 'What each side got: {"referrer": {type, value, currency?, description, code? (the coupon '
            'for the shop to honour), status: issued|awarded|owed}, "friend"?: {...}, "emails": {"referrer", '
            '"friend"}} (the reward emails\' message ids).',
        },
        "expires_at": MAYBE_TIMESTAMP,
        "completed_at": MAYBE_TIMESTAMP,
        "rewarded_at": MAYBE_TIMESTAMP,
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {
    "ReferralProgramInput": obj(_FIELDS, required=("name", "referrer_reward")),
    "ReferralProgramPatch": obj(
        {**_FIELDS, "status": {"enum": list(PROGRAM_STATUSES), "description": "archived is for good."}},
        minProperties=1,
    ),
    "ReferralProgram": PROGRAM,
    "Referral": REFERRAL,
    "ReferralLink": response(
        {
            "code": {"type": "string"},
            "url": {"type": "string", "description": "The landing page: BASE_URL/r/<code>."},
            "program_id": ID,
            "subscriber_id": ID,
            "visits": COUNT,
        }
    ),
}
