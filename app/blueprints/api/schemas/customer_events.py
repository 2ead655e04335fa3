"""Customer events a shop or an app reports (one, or a batch of up to 1,000), and the events listed back."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response, text
from app.services.automation.event_checks import EVENT_TYPES, MAX_BATCH

_EVENT_FIELDS = {
    "type": text(
        60,
        "One of " + ", ".join(EVENT_TYPES) + ", or a custom type of your own: lower-case letters, digits, _ and "
        "., starting with a letter (e.g. trial_started). price_dropped and back_in_stock are Herald's own.",
        min_length=1,
    ),
    "email": text(320, "Who it is about (or subscriber_id, not both)."),
    "subscriber_id": {**ID, "description": "Who it is about (or email, not both)."},
    "properties": {
        "type": ["object", "null"],
        "additionalProperties": True,
        "description": "What happened, as a JSON object of at most 32 KB. order_placed needs order_id, total and "
        "currency (items optional); wishlist_added, wishlist_removed and back_in_stock_requested need sku (and, "
        "for a SKU not in the catalogue yet, price and currency; name, url and image_url are used too). "
        "cart_updated: items [{sku, name, price, quantity, image_url, url}], total, currency, cart_url.",
    },
    "occurred_at": text(40, "When it happened (ISO 8601); default: now. At most 5 minutes ahead.", nullable=True),
    "idempotency_key": text(
        200, "The same key again (in this call or a later one) is a duplicate: stored once.", nullable=True
    ),
    "create_subscriber": {
        "type": ["boolean", "null"],
        "description": "With an unknown email: add the person (source api) instead of refusing the call.",
    },
}

CUSTOMER_EVENT_INPUT = obj(
    _EVENT_FIELDS,
    required=("type",),
    description="One customer event.",
)
CUSTOMER_EVENTS_INPUT = obj(
    {
        **_EVENT_FIELDS,
        "events": {
            "type": "array",
            # Each item is a CustomerEventInput, checked by Herald rather than here, so that one answer names
            # every problem of every event (a schema error would hide the others).
            "items": {"type": "object", "additionalProperties": True, "description": "A CustomerEventInput."},
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "description": f"A batch of up to {MAX_BATCH:,} events, each a CustomerEventInput (then send no other "
            "field).",
        },
    },
    description="One event (its fields at the top level) or a batch as {events: [...]}. All or nothing: one "
    "invalid event refuses the call (422) with every problem named by its place (events.3.email), and nothing "
    "is stored.",
)
INGESTED = response(
    {
        "accepted": {**COUNT, "description": "Events stored now."},
        "duplicates": {
            **COUNT,
            "description": "Events whose idempotency key was stored before (or earlier in "
            "this call): not stored again.",
        },
        "event_ids": {"type": "array", "items": ID, "description": "The ids of the events stored now."},
    },
    description="What the call stored.",
)
CUSTOMER_EVENT = response(
    {
        "id": ID,
        "type": {"type": "string"},
        "subscriber_id": ID,
        "email": {"type": "string"},
        "properties": {"type": "object", "additionalProperties": True},
        "occurred_at": TIMESTAMP,
        "received_at": TIMESTAMP,
        "idempotency_key": {"type": ["string", "null"]},
        "source": {
            "enum": ["api", "herald"],
            "description": "api: reported; herald: derived (a price drop, a restock).",
        },
    },
    description="A customer event.",
)

SCHEMAS: dict[str, dict] = {
    "CustomerEventInput": CUSTOMER_EVENT_INPUT,
    "CustomerEventsInput": CUSTOMER_EVENTS_INPUT,
    "Ingested": INGESTED,
    "CustomerEvent": CUSTOMER_EVENT,
}
