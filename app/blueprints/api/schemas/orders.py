"""Orders the shop reports, and the campaign each is credited to."""

from app.blueprints.api.schemas.common import ID, TIMESTAMP, obj, response, text

ITEM = obj(
    {
        "sku": text(200, nullable=True),
        "name": text(500, nullable=True),
        "price": {"type": ["number", "string", "null"], "description": "The unit price."},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "gift_card": {
            "type": "boolean",
            "description": "A gift card sold: each unit becomes a card worth its price, mailed to the buyer.",
        },
    }
)
SCHEMAS: dict[str, dict] = {
    "OrderInput": obj(
        {
            "external_id": {
                "type": ["string", "integer"],
                "description": "The shop's id: sending it again "
                "answers the order recorded the first time (200), never a second order.",
            },
            "email": text(320, "The buyer's address: the subscriber whose clicks earn the credit."),
            "amount": {"type": ["number", "string"], "description": "The order's total, e.g. 49.90."},
            "currency": text(3, "ISO 4217, e.g. EUR.", min_length=3),
            "placed_at": text(40, "When it was placed (ISO 8601); default: now.", nullable=True),
            "items": {"type": ["array", "null"], "maxItems": 500, "items": ITEM},
        },
        required=("external_id", "email", "amount", "currency"),
    ),
    "Order": response(
        {
            "id": ID,
            "external_id": {"type": "string"},
            "email": {"type": "string"},
            "subscriber_id": {"type": ["integer", "null"]},
            "amount": {"type": "number"},
            "currency": {"type": "string"},
            "items": {"type": ["array", "null"], "items": {"type": "object", "additionalProperties": True}},
            "placed_at": TIMESTAMP,
            "campaign_id": {"type": ["integer", "null"], "description": "The campaign credited (null: none)."},
            "attributed_by": {
                "enum": ["click", "open", None],
                "description": "The buyer's last human click "
                "within the workspace's window, or (when the workspace credits opens) open.",
            },
            "created_at": TIMESTAMP,
        },
        description="An order and the campaign whose message the buyer last clicked as a person.",
    ),
}
