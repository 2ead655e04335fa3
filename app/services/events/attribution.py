"""Orders the shop reports (POST /orders), and the campaign each one is credited to.

An order is credited to the campaign whose message the buyer last clicked as a person (verdicts.py:
scanners and prefetches earn nothing) within the workspace's window before the order was placed
(`attribution_click_days`, 5 by default); when the workspace also credits opens
(`attribution_open_hours` above 0) and no click qualifies, to the last human open within that many
hours. Recording is idempotent on the shop's `external_id`: the same order sent twice is one order,
credited once, whatever arrives the second time.
"""

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Event, Order, Subscriber, Workspace
from app.services.audience.contacts import normalize_email
from app.services.errors import NotFound, ValidationError
from app.services.events.verdicts import HUMAN_CLICK, HUMAN_OPEN
from app.services.time_buckets import parse_iso

MAX_AMOUNT = Decimal("1000000000000")
MAX_ITEMS = 500
MAX_FUTURE = timedelta(days=1)  # a shop's clock may run ahead a little; an order next year is a mistake
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
MAX_CLICK_DAYS, MAX_OPEN_HOURS = 90, 720


def _invalid(field: str, why: str) -> ValidationError:
    return ValidationError(why, {field: why})


def _text(data: dict, field: str, limit: int, required: bool = True) -> str | None:
    value = data.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _invalid(field, f"{field} is required.")
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise _invalid(field, f"{field} is text of up to {limit} characters.")
    return value.strip()


def _amount(value, field: str = "amount") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid(field, f"{field} is a number, such as 49.90.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid(field, f"{field} is a number, such as 49.90.") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise _invalid(field, f"{field} is from 0 to {MAX_AMOUNT:,}.")
    return amount.quantize(Decimal("0.01"))


def _placed_at(value) -> datetime:
    when = parse_iso(value, "placed_at") or datetime.now(timezone.utc)
    if when > datetime.now(timezone.utc) + MAX_FUTURE:
        raise _invalid("placed_at", "placed_at is in the future.")
    return when


def _items(value) -> list | None:
    """The items as stored: sku, name, price, quantity, and `gift_card: true` on a gift card sold
    (growth/gift_cards.sell_from_order makes the cards)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise _invalid("items", f"items is a list of at most {MAX_ITEMS} objects.")
    out = []
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid("items", f"items[{n}] is an object with sku, name, price and quantity.")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1_000_000:
            raise _invalid("items", f"items[{n}].quantity is a whole number from 1.")
        out.append({
            "sku": _text(item, "sku", 200, required=False),
            "name": _text(item, "name", 500, required=False),
            "price": str(_amount(item["price"], f"items[{n}].price")) if item.get("price") is not None else None,
            "quantity": quantity,
        } | ({"gift_card": True} if item.get("gift_card") is True else {}))  # fmt: skip
    return out


def clean_order(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError("An order is an object.", {"order": "An object."})
    currency = _text(data, "currency", 3)
    if not _CURRENCY.match(currency):
        raise _invalid("currency", "currency is a three-letter ISO 4217 code, such as EUR.")
    return {
        "external_id": _text(data, "external_id", 200),
        "email": normalize_email(_text(data, "email", 320)),
        "amount": _amount(data.get("amount")),
        "currency": currency.upper(),
        "placed_at": _placed_at(data.get("placed_at")),
        "items": _items(data.get("items")),
    }


def record_order(workspace_id: int, data) -> tuple[Order, bool]:
    """(the order, whether it is new): an external id seen before answers the order already recorded."""
    clean = clean_order(data)
    existing = _by_external_id(workspace_id, clean["external_id"])
    if existing is not None:
        return existing, False
    subscriber_id = db.session.scalar(
        select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.email == clean["email"])
    )
    order = Order(workspace_id=workspace_id, subscriber_id=subscriber_id, **clean)
    _attribute(order, db.session.get(Workspace, workspace_id))
    try:
        with db.session.begin_nested():  # two requests with one external id at once: the second finds the first
            db.session.add(order)
    except IntegrityError:
        return _by_external_id(workspace_id, clean["external_id"]), False
    return order, True


def _by_external_id(workspace_id: int, external_id: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.workspace_id == workspace_id, Order.external_id == external_id))


def _attribute(order: Order, workspace: Workspace) -> None:
    if order.subscriber_id is None:
        return
    click = _last(order, "click", HUMAN_CLICK, timedelta(days=workspace.attribution_click_days))
    if click is not None:
        order.campaign_id, order.recipient_id, order.attributed_by = click.campaign_id, click.recipient_id, "click"
        return
    if workspace.attribution_open_hours:
        opened = _last(order, "open", HUMAN_OPEN, timedelta(hours=workspace.attribution_open_hours))
        if opened is not None:
            order.campaign_id, order.recipient_id, order.attributed_by = opened.campaign_id, opened.recipient_id, "open"


def _last(order: Order, event_type: str, human: tuple, window: timedelta):
    """The subscriber's latest human open or click of a campaign in [placed_at − window, placed_at]."""
    return db.session.execute(
        select(Event.campaign_id, Event.recipient_id)
        .where(
            Event.subscriber_id == order.subscriber_id,
            Event.event_type == event_type,
            Event.campaign_id.is_not(None),
            Event.occurred_at >= order.placed_at - window,
            Event.occurred_at <= order.placed_at,
            or_(Event.verdict.in_(human), Event.verdict.is_(None)),  # None: recorded before verdicts
        )
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(1)
    ).first()


def get_order(workspace_id: int, order_id) -> Order:
    order = db.session.get(Order, order_id) if isinstance(order_id, int) else None
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("No such order.")
    return order


NO_ORDERS = {"conversions": 0, "revenue": 0.0, "revenue_currency": None}


def campaign_revenue(campaign_id: int) -> dict:
    """{"conversions", "revenue", "revenue_currency"}: orders credited to the campaign, and the sum of
    those in its commonest currency (sums of different currencies mean nothing)."""
    return campaign_revenues([campaign_id]).get(campaign_id, NO_ORDERS)


def campaign_revenues(campaign_ids: list[int], session=None) -> dict:
    """campaign_revenue of many campaigns in one grouped query: {campaign id: …} of those with orders."""
    if not campaign_ids:
        return {}
    per: dict = {}
    for cid, currency, n, total in (session or db.session).execute(
        select(Order.campaign_id, Order.currency, func.count(), func.coalesce(func.sum(Order.amount), 0))
        .where(Order.campaign_id.in_(campaign_ids))
        .group_by(Order.campaign_id, Order.currency)
    ):
        per.setdefault(cid, []).append((n, currency, float(total)))
    out = {}
    for cid, rows in per.items():
        rows.sort(key=lambda r: (-r[0], r[1]))
        out[cid] = {"conversions": sum(r[0] for r in rows), "revenue": rows[0][2], "revenue_currency": rows[0][1]}
    return out


def clean_window(click_days, open_hours) -> tuple[int, int]:
    """The workspace's attribution settings from a form or the API."""
    try:
        days, hours = int(click_days), int(open_hours)
    except (TypeError, ValueError):
        raise ValidationError("Give whole numbers.", {"attribution_click_days": "A whole number."}) from None
    if not 1 <= days <= MAX_CLICK_DAYS:
        raise _invalid("attribution_click_days", f"From 1 to {MAX_CLICK_DAYS} days.")
    if not 0 <= hours <= MAX_OPEN_HOURS:
        raise _invalid("attribution_open_hours", f"From 0 (off) to {MAX_OPEN_HOURS} hours.")
    return days, hours
