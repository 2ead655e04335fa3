"""What a customer event may say, checked before anything is stored: its type, who it is about, its
properties, its time and its idempotency key, and the properties its type needs (an order's id and
total, a wishlist's SKU). Every problem is named by its place (`events.3.email`), so one answer lists
all there is to fix.

Types: the commerce and lifecycle ones in EVENT_TYPES, and custom ones of the shop's own naming
(`trial_started`, `course.finished`). Herald derives `price_dropped` and `back_in_stock` itself
(catalogue.py); the API may not send them, so a flow that waits for a price drop is never fooled.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from app.services.audience.contacts import normalize_email
from app.services.automation import product_fields
from app.services.errors import ValidationError
from app.services.ids import as_id

EVENT_TYPES = (
    "user_registered",
    "cart_updated",
    "checkout_started",
    "order_placed",
    "wishlist_added",
    "wishlist_removed",
    "milestone_reached",
    "first_login",
    "profile_completed",
    "back_in_stock_requested",
)
DERIVED_TYPES = ("price_dropped", "back_in_stock")  # raised by Herald (catalogue.py), never by the API
CUSTOM_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")
WATCH_TYPES = ("wishlist_added", "wishlist_removed", "back_in_stock_requested")
MAX_BATCH = 1000
MAX_PROPERTIES_BYTES = 32 * 1024
MAX_KEY = 200
MAX_FUTURE = timedelta(minutes=5)  # a shop's clock may run a little ahead; later is a mistake
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_ITEMS = 500
FIELDS = ("type", "email", "subscriber_id", "properties", "occurred_at", "idempotency_key", "create_subscriber")


@dataclass
class CheckedEvent:
    """One event of a batch as it will be stored; `index` is its place in the batch."""

    index: int
    type: str
    email: str | None
    subscriber_id: int | None
    properties: dict
    occurred_at: datetime
    idempotency_key: str | None
    create_subscriber: bool


def check_batch(events) -> tuple[list[CheckedEvent], dict[str, str]]:
    """The batch's events that pass, and {"events.N.field": what to fix} for every problem."""
    if not isinstance(events, list):
        raise ValidationError("events is a list of events.", {"events": "Must be a list."})
    if not events:
        raise ValidationError("Send at least one event.", {"events": "At least 1 item."})
    if len(events) > MAX_BATCH:
        why = f"At most {MAX_BATCH:,} events in one call; this one has {len(events):,}: send the rest in another call."
        raise ValidationError(why, {"events": f"At most {MAX_BATCH} items."})
    now = datetime.now(timezone.utc)
    checked, errors = [], {}
    for index, raw in enumerate(events):
        event, problems = check_event(index, raw, now)
        errors.update({f"events.{index}" + (f".{place}" if place else ""): why for place, why in problems.items()})
        if event is not None:
            checked.append(event)
    return checked, errors


def check_event(index: int, raw, now: datetime) -> tuple[CheckedEvent | None, dict[str, str]]:
    """(the event, {}) or (None, {field: what to fix}) for one event of a batch."""
    if not isinstance(raw, dict):
        return None, {"": "An event is an object with a type and an email or subscriber_id."}
    problems = {name: "Unknown field." for name in raw if name not in FIELDS}
    values = {}
    for name, check in _CHECKS.items():
        try:
            values[name] = check(raw.get(name), now)
        except ValidationError as exc:
            problems[name] = exc.message
    _who(raw, values, problems)
    if "type" in values and "properties" in values:
        problems.update(_type_rules(values["type"], values["properties"]))
    if problems:
        return None, problems
    return CheckedEvent(index=index, **values), {}


def check_type(value, now=None) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("An event type is required, e.g. order_placed.")
    if value in DERIVED_TYPES:
        raise ValidationError(f"{value} is raised by Herald itself (from the product catalogue); it cannot be sent.")
    if value not in EVENT_TYPES and not CUSTOM_TYPE.match(value):
        raise ValidationError(
            f"'{value[:60]}' is not an event type: lower-case letters, digits, _ and ., starting with a letter "
            "(at most 60), e.g. trial_started."
        )
    return value


def _properties(value, now=None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("properties is a JSON object.")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ValidationError(f"properties is at most 32 KB of JSON; this is {size / 1024:.1f} KB.")
    return value


def _occurred_at(value, now: datetime) -> datetime:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        raise ValidationError("occurred_at is an ISO 8601 time, such as 2026-12-07T10:30:00Z.")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        when = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"'{value[:40]}' is not an ISO 8601 time, such as 2026-12-07T10:30:00Z."
        ) from None  # fmt: skip
    if when > now + MAX_FUTURE:
        raise ValidationError("occurred_at is in the future (more than 5 minutes ahead of Herald's clock).")
    if when < EARLIEST:
        raise ValidationError("occurred_at is before 1970.")
    return when


def _key(value, now=None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_KEY:
        raise ValidationError(f"idempotency_key is text of 1 to {MAX_KEY} characters.")
    return value


def _flag(value, now=None) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError("create_subscriber is true or false.")
    return value


_CHECKS = {
    "type": check_type,
    "properties": _properties,
    "occurred_at": _occurred_at,
    "idempotency_key": _key,
    "create_subscriber": _flag,
}


def _who(raw: dict, values: dict, problems: dict) -> None:
    """Exactly one of email and subscriber_id names the person."""
    email, subscriber_id = raw.get("email"), raw.get("subscriber_id")
    values["email"] = values["subscriber_id"] = None
    if email is None and subscriber_id is None:
        problems["email"] = "Give the person's email or subscriber_id."
    elif email is not None and subscriber_id is not None:
        problems["subscriber_id"] = "Give email or subscriber_id, not both."
    elif email is not None:
        try:
            values["email"] = normalize_email(email)
        except ValidationError as exc:
            problems["email"] = exc.message
    elif as_id(subscriber_id) is None or not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool):
        problems["subscriber_id"] = "A subscriber's id is a whole number from 1."
    else:
        values["subscriber_id"] = subscriber_id


# What each type needs in its properties --------------------------------------------------------------


def _field(properties: dict, name: str, clean, problems: dict, required: bool = False):
    value = properties.get(name)
    if value is None:
        if required:
            problems[f"properties.{name}"] = "Required for this event type."
        return None
    try:
        return clean(value)
    except ValidationError as exc:
        problems[f"properties.{name}"] = exc.message
        return None


def _order_id(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
        raise ValidationError("order_id is the shop's id of the order: text of 1 to 200 characters.")
    return value


def _items(value) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ValidationError(f"items is a list of at most {MAX_ITEMS} objects.")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValidationError(f"items[{n}] is an object with sku, name, price and quantity.")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1_000_000:
            raise ValidationError(f"items[{n}].quantity is a whole number from 1.")
        if item.get("price") is not None:
            product_fields.clean_price(item["price"])
    return value


def _order_rules(properties: dict) -> dict:
    problems: dict = {}
    _field(properties, "order_id", _order_id, problems, required=True)
    _field(properties, "total", product_fields.clean_price, problems, required=True)
    _field(properties, "currency", product_fields.clean_currency, problems, required=True)
    _field(properties, "items", _items, problems)
    return problems


def _cart_rules(properties: dict) -> dict:
    problems: dict = {}
    _field(properties, "items", _items, problems)
    _field(properties, "total", product_fields.clean_price, problems)
    _field(properties, "currency", product_fields.clean_currency, problems)
    return problems


def _watch_rules(properties: dict) -> dict:
    """A product named by SKU, with what Herald needs to add it to the catalogue when it is not there yet."""
    problems: dict = {}
    _field(properties, "sku", product_fields.clean_sku, problems, required=True)
    _field(properties, "name", lambda v: product_fields.clean_name(v, required=False), problems)
    _field(properties, "price", product_fields.clean_price, problems)
    _field(properties, "currency", product_fields.clean_currency, problems)
    _field(properties, "url", product_fields.clean_url, problems)
    _field(properties, "image_url", product_fields.clean_url, problems)
    return problems


TYPE_RULES = {
    "order_placed": _order_rules,
    "cart_updated": _cart_rules,
    "checkout_started": _cart_rules,
    "wishlist_added": _watch_rules,
    "wishlist_removed": _watch_rules,
    "back_in_stock_requested": _watch_rules,
}


def _type_rules(event_type: str, properties: dict) -> dict:
    rules = TYPE_RULES.get(event_type)
    return rules(properties) if rules else {}
