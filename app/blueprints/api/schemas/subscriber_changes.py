"""Changing one subscriber (PATCH), and a person's data: the export document."""

from app.blueprints.api.schemas.common import ID_LIST, TIMESTAMP, obj, ref, response, text
from app.blueprints.api.schemas.subscribers import PHONE_INPUT, SMS_STATUS_INPUT, TAGS

SUBSCRIBER_PATCH = obj(
    {
        "name": text(200, nullable=True),
        "attributes": {
            "type": "object",
            "maxProperties": 200,
            "description": "Merged into the subscriber's attributes; an attribute set to null is removed.",
        },
        "timezone": text(64, "An IANA name, e.g. Europe/Berlin; null for the workspace's.", nullable=True),
        "list_ids": {**ID_LIST, "description": "Exactly the lists they are on afterwards."},
        "tags": {**TAGS, "description": "Exactly the tags they have afterwards (stored trimmed and lower-cased)."},
        "status": {
            "enum": ["unsubscribed", "active"],
            "description": "unsubscribed (recorded with source api), or active to undo an unsubscribe the person "
            "asked to undo; a bounced, complained or unconfirmed subscriber answers 409.",
        },
        "preferences": ref("PreferencesInput"),
        "phone": PHONE_INPUT,
        "sms_status": {
            **SMS_STATUS_INPUT,
            "description": SMS_STATUS_INPUT["description"] + " Applied after phone when both are given.",
        },
    },
    description="Only the fields given change (none: nothing changes). An erased subscriber answers 409.",
)


def _items(description: str) -> dict:
    return {"type": "array", "items": {"type": "object"}, "description": description}


SUBSCRIBER_EXPORT = response(
    {
        "exported_at": TIMESTAMP,
        "profile": {
            "type": "object",
            "description": "email, name, status, attributes, timezone, source, consent, phone, sms_status, "
            "sms_consent and the times of creation, confirmation, unsubscribe and erasure.",
        },
        "lists": _items("{id, name, since}"),
        "tags": {"type": "array", "items": {"type": "string"}},
        "preferences": _items("{category_id, category, subscribed, frequency, updated_at}"),
        "suppressions": _items("{email, reason, source, detail, created_at}: the address's and its domain's."),
        "campaigns": _items(
            "Every campaign sent to them: {campaign_id, campaign, email, status, reason, sent_at, "
            "delivered_at, opened_at, clicked_at}."
        ),  # fmt: skip
        "messages": _items("Transactional messages: {id, to, template, subject, status, created_at, sent_at, ...}."),
        "events": _items("Every event: {type, at, campaign_id, message_id, email, ip, user_agent, verdict, data}."),
        "orders": _items("{external_id, email, amount (a decimal string), currency, items, placed_at, campaign_id}"),
        "customer_events": _items(
            "What the shop reported they did, and what Herald derived: {type, occurred_at, received_at, properties, "
            "idempotency_key, source}."
        ),
        "product_watches": _items("{sku, product, kind: wishlist|restock, price_at, notified_price, since}"),
        "texts": _items("Texts sent to them: {campaign_id, campaign, phone, body, status, sent_at, delivered_at}."),
        "texts_received": _items("Texts they sent: {from, to, body, keyword, received_at}."),
    },
    description="Everything Herald holds about one person, as one document (GDPR access and portability).",
)

SCHEMAS: dict[str, dict] = {
    "SubscriberPatch": SUBSCRIBER_PATCH,
    "SubscriberExport": SUBSCRIBER_EXPORT,
}
