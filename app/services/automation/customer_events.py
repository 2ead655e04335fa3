"""Customer events: what a shop or an app tells Herald a person did (`POST /events`), and the reads the
events page, a person's timeline and the API share.

`ingest` takes a batch of up to 1,000 events and is all or nothing: every event is checked first
(event_checks.py, then who each is about, then the products the watch events name), and one invalid
event refuses the whole call with every problem named by its place (`events.3.email`); nothing is
stored. That keeps a shop's retry simple: fix and send the same batch again, with the same keys.

Then, set-based, in the caller's transaction:

1. People: one query for the batch's addresses, one for its subscriber ids (another workspace's id is
   "not found"; an erased person takes no new events). An unknown address becomes a subscriber only
   when its event says `create_subscriber: true` (audience/signups.subscribe_all: source `api`, the
   API's consent, never an address erased on request); otherwise it is a problem of that event.
2. Events: one INSERT … ON CONFLICT DO NOTHING on (workspace, idempotency key). An event whose key is
   already stored, or appears earlier in the same batch, is a duplicate: stored once, counted in
   `duplicates`, and its side effects do not run again.
3. Side effects of the new events only: `order_placed` records an order for attribution
   (events/attribution.record_order: external_id = properties.order_id, amount = properties.total,
   currency, items, placed_at = occurred_at) and, when the order is new, what it does in growth
   (growth/orders.on_order: loyalty points, gift cards sold); `wishlist_added`, `wishlist_removed` and
   `back_in_stock_requested` change who watches a product (watches.py).
4. `after_ingest(workspace_id, event_ids)`: the one hook for what reacts to new events (flows).

The caller commits (the API view), so a failure anywhere leaves nothing half done.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import CustomerEvent, Subscriber
from app.services.audience import contacts, signups
from app.services.automation import enrollment, event_checks, watches
from app.services.automation.event_checks import CheckedEvent
from app.services.automation.sql import insert_into
from app.services.errors import ValidationError
from app.services.events import attribution
from app.services.growth import orders as growth_orders


@dataclass(frozen=True)
class Ingested:
    """What a batch did: new events stored, and those already stored (by idempotency key)."""

    accepted: int
    duplicates: int
    event_ids: list[int]


def ingest(workspace_id: int, events: list[dict]) -> Ingested:
    """Store a batch of customer events (see the module's docstring); ValidationError naming every
    problem (`events.N.field`) when any event is invalid, and then nothing is stored."""
    batch, errors = event_checks.check_batch(events)
    people = _people(workspace_id, batch, errors)
    errors.update(watches.check_products(workspace_id, [e for e in batch if e.type in event_checks.WATCH_TYPES]))
    if errors:
        raise ValidationError(_summary(errors), errors)
    people.update(_create_people(workspace_id, batch, people))
    fresh = _first_of_each_key(batch)
    stored = _insert(workspace_id, fresh, people)
    new = [e for e in fresh if e.idempotency_key is None or e.idempotency_key in stored["keys"]]
    _side_effects(workspace_id, new, people)
    event_ids = sorted(stored["ids"])
    after_ingest(workspace_id, event_ids)
    return Ingested(accepted=len(event_ids), duplicates=len(batch) - len(event_ids), event_ids=event_ids)


def after_ingest(workspace_id: int, event_ids: list[int]) -> dict:
    """Called once new customer events are stored (from the API, or derived by the catalogue), in the same
    transaction, with their ids: flows react (goals reached, waits ended, people enrolled), set-based."""
    if not event_ids:
        return {"entered": 0, "goals": 0}
    ce = CustomerEvent
    rows = db.session.execute(
        select(ce.id, ce.subscriber_id, ce.type, ce.properties, ce.occurred_at).where(
            ce.id.in_(event_ids), ce.workspace_id == workspace_id
        )
    ).all()
    return enrollment.on_events(workspace_id, [enrollment.Event(*r) for r in rows])


def _summary(errors: dict[str, str]) -> str:
    place, why = next(iter(errors.items()))
    if len(errors) == 1:
        return f"{place}: {why} Nothing was stored."
    return f"{len(errors):,} problems in the events; nothing was stored. The first: {place}: {why}"


# People ----------------------------------------------------------------------------------------------


def _people(workspace_id: int, batch: list[CheckedEvent], errors: dict) -> dict[int, tuple[int, str]]:
    """event index -> (subscriber id, address) for the events whose person exists; problems into `errors`."""
    by_email = _subscribers(workspace_id, Subscriber.email, {e.email for e in batch if e.email})
    by_id = _subscribers(workspace_id, Subscriber.id, {e.subscriber_id for e in batch if e.subscriber_id})
    # One event of the batch saying create_subscriber is enough for the person's other events too.
    creatable = {e.email for e in batch if e.email and e.email not in by_email and e.create_subscriber}
    erased = contacts.erased_addresses(workspace_id, sorted(creatable)) if creatable else set()
    people = {}
    for e in batch:
        found = by_email.get(e.email) if e.email else by_id.get(e.subscriber_id)
        place = f"events.{e.index}." + ("email" if e.email else "subscriber_id")
        if found is not None and found[2] is None:
            people[e.index] = (found[0], found[1])
        elif found is not None:
            errors[place] = "This person was erased on request: Herald keeps no new events about them."
        elif e.subscriber_id:
            errors[place] = "No subscriber with this id in the workspace."
        elif e.email in erased:
            errors[place] = f"{e.email} {contacts.ERASED_ON_REQUEST}: it cannot be added again."
        elif e.email not in creatable:
            errors[place] = "No subscriber with this address; send create_subscriber: true to add them."
    return people


def _subscribers(workspace_id: int, column, values: set) -> dict:
    """value of `column` -> (id, email, erased_at) of the workspace's subscribers, in one query."""
    if not values:
        return {}
    rows = db.session.execute(
        select(column, Subscriber.id, Subscriber.email, Subscriber.erased_at).where(
            Subscriber.workspace_id == workspace_id, column.in_(sorted(values))
        )
    )
    return {value: (sid, email, erased_at) for value, sid, email, erased_at in rows}


def _create_people(workspace_id: int, batch: list[CheckedEvent], people: dict) -> dict[int, tuple[int, str]]:
    wanted = [e for e in batch if e.index not in people]
    if not wanted:
        return {}
    ids = signups.subscribe_all(workspace_id, sorted({e.email for e in wanted}), source="api")
    return {e.index: (ids[e.email], e.email) for e in wanted}


# Storing ---------------------------------------------------------------------------------------------


def _first_of_each_key(batch: list[CheckedEvent]) -> list[CheckedEvent]:
    seen, fresh = set(), []
    for e in batch:
        if e.idempotency_key is not None:
            if e.idempotency_key in seen:
                continue
            seen.add(e.idempotency_key)
        fresh.append(e)
    return fresh


def _insert(workspace_id: int, events: list[CheckedEvent], people: dict) -> dict:
    """{"ids": new event ids, "keys": their idempotency keys}; keys already stored insert nothing."""
    now = datetime.now(timezone.utc)
    rows = [{"workspace_id": workspace_id, "subscriber_id": people[e.index][0], "type": e.type,
             "properties": e.properties, "occurred_at": e.occurred_at, "received_at": now,
             "idempotency_key": e.idempotency_key, "source": "api"} for e in events]  # fmt: skip
    table = CustomerEvent.__table__
    stmt = (
        insert_into(table)
        .on_conflict_do_nothing(index_elements=["workspace_id", "idempotency_key"])
        .returning(table.c.id, table.c.idempotency_key)
    )
    stored = db.session.execute(stmt, rows).all() if rows else []
    return {"ids": [i for i, _ in stored], "keys": {k for _, k in stored if k is not None}}


# Side effects ----------------------------------------------------------------------------------------


def _side_effects(workspace_id: int, events: list[CheckedEvent], people: dict) -> None:
    for e in events:
        if e.type == "order_placed":
            _record_order(workspace_id, e, people[e.index][1])
    watched = [(people[e.index][0], e) for e in events if e.type in event_checks.WATCH_TYPES]
    watches.apply(workspace_id, watched)


_ORDER_FIELDS = {"external_id": "order_id", "amount": "total"}


def _record_order(workspace_id: int, event: CheckedEvent, email: str) -> None:
    p = event.properties
    order = {"external_id": p["order_id"], "email": email, "amount": p["total"], "currency": p["currency"],
             "items": p.get("items"), "placed_at": event.occurred_at.isoformat()}  # fmt: skip
    try:
        recorded, created = attribution.record_order(workspace_id, order)
    except ValidationError as exc:  # what the event checks let through and the order book does not
        field = next(iter(exc.fields), "order")
        place = f"events.{event.index}.properties.{_ORDER_FIELDS.get(field, field)}"
        raise ValidationError(f"{place}: {exc.message} Nothing was stored.", {place: exc.message}) from None
    if created:
        growth_orders.on_order(recorded)


# Reads -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    """An event with the address of the person it is about (for pages and the API)."""

    event: CustomerEvent
    email: str


def _rows(stmt) -> list[EventRow]:
    return [EventRow(event, email) for event, email in db.session.execute(stmt)]


def _newest_first(workspace_id: int):
    return (
        select(CustomerEvent, Subscriber.email)
        .join(Subscriber, Subscriber.id == CustomerEvent.subscriber_id)
        .where(CustomerEvent.workspace_id == workspace_id)
        .order_by(CustomerEvent.occurred_at.desc(), CustomerEvent.id.desc())
    )


def recent(
    workspace_id: int, type: str | None = None, limit: int = 50, offset: int = 0, subscriber_id: int | None = None
) -> tuple[list[EventRow], int]:
    """(one page of the workspace's events, newest first, of one type or person when given; how many match)."""
    stmt = _newest_first(workspace_id)
    if type:
        stmt = stmt.where(CustomerEvent.type == type)
    if subscriber_id is not None:
        stmt = stmt.where(CustomerEvent.subscriber_id == subscriber_id)
    total = db.session.scalar(
        select(func.count()).select_from(stmt.with_only_columns(CustomerEvent.id).order_by(None).subquery())
    )
    return _rows(stmt.limit(max(1, min(limit, 200))).offset(max(0, offset))), total


def events_of(
    workspace_id: int, subscriber_id: int, limit: int = 20, before_id: int | None = None
) -> list[CustomerEvent]:
    """A person's timeline: their latest events (older than event `before_id` when given), newest first."""
    stmt = (
        select(CustomerEvent)
        .where(CustomerEvent.workspace_id == workspace_id, CustomerEvent.subscriber_id == subscriber_id)
        .order_by(CustomerEvent.occurred_at.desc(), CustomerEvent.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    if before_id is not None:
        before = db.session.get(CustomerEvent, before_id)
        if before is not None and before.subscriber_id == subscriber_id:
            stmt = stmt.where(
                (CustomerEvent.occurred_at < before.occurred_at)
                | ((CustomerEvent.occurred_at == before.occurred_at) & (CustomerEvent.id < before.id))
            )
    return list(db.session.scalars(stmt))


def types_seen(workspace_id: int) -> list[str]:
    """The event types the workspace has, for the events page's filter."""
    return list(
        db.session.scalars(
            select(CustomerEvent.type)
            .where(CustomerEvent.workspace_id == workspace_id)
            .distinct()
            .order_by(CustomerEvent.type)
        )
    )


MAX_KNOWN_TYPES = 100


def known_types(workspace_id: int, limit: int = MAX_KNOWN_TYPES) -> list[str]:
    """The event types a segment can name, for the builder's suggestions: the workspace's own (up to
    `limit`, the most used first, in one grouped query), then the built-in ones it has not sent yet."""
    seen = list(
        db.session.scalars(
            select(CustomerEvent.type)
            .where(CustomerEvent.workspace_id == workspace_id)
            .group_by(CustomerEvent.type)
            .order_by(func.count().desc(), CustomerEvent.type)
            .limit(limit)
        )
    )
    built_in = event_checks.EVENT_TYPES + event_checks.DERIVED_TYPES
    return seen + [t for t in built_in if t not in seen]


# A line of what an event says, per type: the properties worth a glance, in this order.
SUMMARY_KEYS = {
    "order_placed": ("order_id", "total", "currency"),
    "cart_updated": ("total", "currency", "cart_url"),
    "checkout_started": ("total", "currency"),
    "wishlist_added": ("name", "sku", "price", "currency"),
    "wishlist_removed": ("name", "sku"),
    "back_in_stock_requested": ("name", "sku"),
    "price_dropped": ("name", "old_price", "new_price", "currency"),
    "back_in_stock": ("name", "sku"),
    "milestone_reached": ("milestone", "name"),
}
MAX_SUMMARY = 160


def summary(event: CustomerEvent) -> str:
    """What the event says in a line (text: the page escapes it)."""
    props = event.properties or {}
    keys = SUMMARY_KEYS.get(event.type) or tuple(list(props)[:4])
    parts = [f"{k}: {_short(props[k])}" for k in keys if props.get(k) not in (None, "", [], {})]
    items = props.get("items")
    if isinstance(items, list) and items:
        parts.append(f"{len(items)} item{'s' if len(items) != 1 else ''}")
    text = " · ".join(parts)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _short(value) -> str:
    if isinstance(value, (dict, list)):
        return "{…}" if isinstance(value, dict) else f"[{len(value)}]"
    return str(value)[:80]
