"""A product's fields as Herald stores them: the SKU, a price, a currency, a link. The catalogue
(`PUT /products/{sku}`) and the events that name a product (a wishlist, a restock request) clean
them here, so both refuse the same things with the same words.

Each `clean_*` returns the stored value or raises ValidationError whose message is a sentence
about the value alone; callers put it under the field's name (`price`, `events.3.properties.price`).
"""

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from app.services.errors import ValidationError

MAX_SKU = 100
MAX_NAME = 300
MAX_URL = 2000
MAX_PRICE = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_INVENTORY = 2**31 - 1
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def _invalid(why: str) -> ValidationError:
    return ValidationError(why)


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def clean_sku(value) -> str:
    """1 to 100 characters, no control characters (a SKU travels in a URL path: `/` and spaces are fine,
    percent-encoded)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _invalid("A SKU is text of 1 to 100 characters.")
    value = value.strip()
    if len(value) > MAX_SKU:
        raise _invalid(f"A SKU is at most {MAX_SKU} characters.")
    if _has_control(value):
        raise _invalid("A SKU may not contain control characters (tabs, line breaks, NUL).")
    return value


def clean_name(value, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _invalid("A name is required.")
        return None
    if not isinstance(value, str):
        raise _invalid("A name is text.")
    value = " ".join(value.split())
    if len(value) > MAX_NAME:
        raise _invalid(f"A name is at most {MAX_NAME} characters.")
    if _has_control(value):
        raise _invalid("A name may not contain control characters.")
    return value


def clean_price(value) -> Decimal:
    """A decimal from 0 (a JSON number or a string such as "49.90"), kept to the cent."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid("A price is a number such as 49.90.")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid(f"'{str(value)[:40]}' is not a price: write it as 49.90 (no currency sign).") from None
    if not price.is_finite() or price < 0:
        raise _invalid("A price is a number from 0, such as 49.90.")
    if price > MAX_PRICE:
        raise _invalid(f"A price is at most {MAX_PRICE:,}.")
    return price.quantize(Decimal("0.01"))


def clean_currency(value) -> str:
    """ISO 4217: three letters, stored upper-cased (eur -> EUR)."""
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        raise _invalid("A currency is a three-letter ISO 4217 code, such as EUR.")
    return value.strip().upper()


def clean_url(value) -> str | None:
    """An absolute http(s) URL (its path may hold percent-encoded characters), or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise _invalid("A URL is text, such as https://shop.example/p/42.")
    value = value.strip()
    if len(value) > MAX_URL:
        raise _invalid(f"A URL is at most {MAX_URL} characters.")
    if _has_control(value) or " " in value:
        raise _invalid("A URL may not contain spaces or control characters (encode them, e.g. %20).")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _invalid("That is not a URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise _invalid("Only http:// and https:// addresses are allowed.")
    return value


def clean_inventory(value) -> int | None:
    """How many are left: a whole number from 0, or null when the shop does not count."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INVENTORY:
        raise _invalid("Inventory is a whole number from 0, or null when not counted.")
    return value


def clean_in_stock(value) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise _invalid("in_stock is true or false.")
    return value


def available(in_stock: bool, inventory: int | None) -> bool:
    """Can it be bought: in stock, and not counted down to 0."""
    return bool(in_stock) and (inventory is None or inventory > 0)


# A PUT body: field -> (cleaner, required). Optional fields left out take the cleaner's empty value.
PRODUCT_FIELDS = {
    "name": (clean_name, True),
    "price": (clean_price, True),
    "currency": (clean_currency, True),
    "url": (clean_url, False),
    "image_url": (clean_url, False),
    "in_stock": (clean_in_stock, False),
    "inventory": (clean_inventory, False),
}


def clean_product(data) -> dict:
    """The product's stored fields from a PUT body; every bad field is named at once."""
    if not isinstance(data, dict):
        raise ValidationError("A product is an object.", {"body": "An object."})
    clean, errors = {}, {}
    for name in data:
        if name not in PRODUCT_FIELDS:
            errors[name] = "Unknown field."
    for name, (cleaner, required) in PRODUCT_FIELDS.items():
        value = data.get(name)
        if value is None and required:
            errors[name] = "Required."
            continue
        try:
            clean[name] = cleaner(value)
        except ValidationError as exc:
            errors[name] = exc.message
    if errors:
        first = next(iter(errors.items()))
        message = f"{first[0]}: {first[1]}" if len(errors) == 1 else "Please correct the highlighted fields."
        raise ValidationError(message, errors)
    return clean
