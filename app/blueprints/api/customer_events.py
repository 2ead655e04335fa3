"""Customer events: what people do in the shop or the app, reported one at a time or in batches."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import ID, text
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.services.audience import contacts
from app.services.automation import customer_events
from app.services.errors import ValidationError

TAG = "Customer events"


def customer_event_json(row: customer_events.EventRow) -> dict:
    e = row.event
    return {
        "id": e.id,
        "type": e.type,
        "subscriber_id": e.subscriber_id,
        "email": row.email,
        "properties": e.properties or {},
        "occurred_at": iso(e.occurred_at),
        "received_at": iso(e.received_at),
        "idempotency_key": e.idempotency_key,
        "source": e.source,
    }


@operation(
    "POST",
    "/events",
    "Report customer events",
    tag=TAG,
    body="CustomerEventsInput",
    response="Ingested",
    status=202,
)
def ingest_events(body: dict):
    """One event (its fields at the top level) or `{"events": [...]}` with up to 1,000. All or nothing: an invalid
    event refuses the whole call with every problem named by its place (`events.3.email`; a single event's by its
    field) and stores nothing, so the same call can be sent again once fixed. An unknown email is a problem unless
    its event says `create_subscriber: true` (the person is then added with source `api`; an address erased on
    request never is). An event whose `idempotency_key` was stored before counts in `duplicates` and changes
    nothing."""
    single = "events" not in body
    if not single and len(body) > 1:
        extra = next(k for k in body if k != "events")
        raise ValidationError(f"{extra}: Send a batch as {{events: [...]}} alone.", {extra: "Unknown field."})
    try:
        result = customer_events.ingest(workspace_id(), [body] if single else body["events"])
    except ValidationError as exc:
        raise _as_single(exc) if single else exc from None
    commit()
    return {"accepted": result.accepted, "duplicates": result.duplicates, "event_ids": result.event_ids}


def _as_single(exc: ValidationError) -> ValidationError:
    """A single event's problems named by its fields (`email`), not by a batch's place (`events.0.email`)."""
    fields = {
        name.removeprefix("events.0.").removeprefix("events.0") or "body": why for name, why in exc.fields.items()
    }
    return ValidationError(exc.message.replace("events.0.", ""), fields)


@operation(
    "GET",
    "/events",
    "List customer events",
    tag=TAG,
    response="CustomerEvent",
    paginated=True,
    query=(
        Param("type", text(60), "Only events of this type."),
        Param("subscriber_id", ID, "Only this person's events."),
    ),
)
def list_events(query: dict):
    """Newest first (by when they happened), reported and derived alike."""
    rows, total = customer_events.recent(
        workspace_id(),
        type=query.get("type"),
        subscriber_id=query.get("subscriber_id"),
        limit=query["per_page"],
        offset=(query["page"] - 1) * query["per_page"],
    )
    return page_json([customer_event_json(r) for r in rows], total, query)


@operation(
    "GET",
    "/subscribers/{subscriber_id}/events",
    "A subscriber's customer events",
    tag=TAG,
    response="CustomerEvent",
    paginated=True,
)
def subscriber_events(subscriber_id: int, query: dict):
    """The person's timeline, newest first."""
    sub = contacts.get_subscriber(workspace_id(), subscriber_id)
    rows, total = customer_events.recent(
        workspace_id(), subscriber_id=sub.id, limit=query["per_page"], offset=(query["page"] - 1) * query["per_page"]
    )
    return page_json([customer_event_json(r) for r in rows], total, query)
