"""The product catalogue: a product put by its SKU, and who watches it."""

from app.blueprints.api.schemas.common import COUNT, ID, TIMESTAMP, obj, response

PRICE = {"type": ["number", "string"], "description": 'From 0, e.g. 49.90 or "49.90" (no currency sign).'}

PRODUCT_INPUT = obj(
    # Types only: Herald checks the values itself, so that one answer names every field to fix.
    {
        "name": {"type": "string", "description": "1 to 300 characters."},
        "price": PRICE,
        "currency": {"type": "string", "description": "ISO 4217, three letters, e.g. EUR (stored upper-cased)."},
        "url": {
            "type": ["string", "null"],
            "description": "The product's page: an http(s) URL of at most 2,000 "
            "characters (percent-encode spaces and the like).",
        },
        "image_url": {"type": ["string", "null"], "description": "Its picture: an http(s) URL."},
        "in_stock": {"type": ["boolean", "null"], "description": "Default true."},
        "inventory": {
            "type": ["integer", "null"],
            "description": "How many are left, from 0; null (default): not counted.",
        },
    },
    required=("name", "price", "currency"),
    description="The whole product: fields left out take their defaults. A price lower than before raises "
    "price_dropped for the people who wished for it at a higher price (once per price); the product becoming "
    "available again (in_stock true and inventory null or above 0, after in_stock false or inventory 0) raises "
    "back_in_stock for those who asked to be told (told once) and those who wished for it.",
)
PRODUCT = response(
    {
        "id": ID,
        "sku": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": ["string", "null"]},
        "image_url": {"type": ["string", "null"]},
        "price": {"type": "string", "description": 'Two decimals, e.g. "49.90".'},
        "currency": {"type": "string"},
        "in_stock": {"type": "boolean"},
        "inventory": {"type": ["integer", "null"]},
        "watchers": obj(
            {"wishlist": COUNT, "restock": COUNT},
            required=("wishlist", "restock"),
            description="People with it on their wishlist, and people waiting to be told it is back.",
        ),
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
    description="A product of the shop.",
)

SCHEMAS: dict[str, dict] = {
    "ProductInput": PRODUCT_INPUT,
    "Product": PRODUCT,
}
