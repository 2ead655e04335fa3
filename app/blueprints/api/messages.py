"""Transactional messages: one email to one person, sent at once on a queue of its own."""

from flask import request

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import message_json, page_json
from app.blueprints.helpers import commit
from app.models.message import MESSAGE_STATUSES
from app.services.delivery import transactional
from app.services.errors import ValidationError
from app.services.pagination import paginate

TAG = "Messages"


@operation(
    "POST",
    "/messages",
    "Send a transactional message",
    tag=TAG,
    body="MessageCreate",
    response="Message",
    status=202,
    errors=(404, 422),
)
def send_message(body: dict):
    """Renders `template` (id or slug) with `context` for `to` and queues it on the transactional queue, which
    never waits behind a campaign; answers once the message is recorded and queued (status `queued`). People who
    unsubscribed from marketing still get it; an address that hard-bounced or complained answers 422 and the
    message is recorded as `suppressed`. The same `idempotency_key` (or Idempotency-Key header) again answers
    with the first message and sends nothing."""
    accepted = transactional.create_message(
        workspace_id(),
        body["template"],
        body["to"],
        body.get("context"),
        to_name=body.get("to_name"),
        category=body.get("category") or "transactional",
        from_email=body.get("from_email"),
        from_name=body.get("from_name"),
        reply_to=body.get("reply_to"),
        provider_id=body.get("provider_id"),
        track_opens=body.get("track_opens", False),
        track_clicks=body.get("track_clicks", False),
        idempotency_key=body.get("idempotency_key") or request.headers.get("Idempotency-Key"),
    )
    commit()  # the job is queued once the commit makes the message visible to the worker
    msg = accepted.message
    if msg.status == "suppressed":
        why = "hard-bounced" if msg.reason == "suppressed:bounced" else "complained (marked a message as spam)"
        message = f"{msg.to_email} {why}, so Herald sends it nothing (message {msg.id}, {msg.reason})."
        raise ValidationError(message, {"to": msg.reason})
    return message_json(msg)


@operation(
    "GET",
    "/messages",
    "List transactional messages",
    tag=TAG,
    response="MessageSummary",
    paginated=True,
    query=(
        Param("status", {"enum": list(MESSAGE_STATUSES)}),
        Param("to", {"type": "string", "maxLength": 320}, "Only messages to this address."),
    ),
)
def list_messages(query: dict):
    """Newest first; the context is left out (GET one message for it)."""
    stmt = transactional.list_messages(workspace_id(), query.get("status"), query.get("to"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([message_json(m, full=False) for m in items], total, query)


@operation("GET", "/messages/{message_id}", "Show a transactional message", tag=TAG, response="Message")
def show_message(message_id: int):
    """The message with its status, the server's reply or suppression reason, and the context it was sent with."""
    return message_json(transactional.get_message(workspace_id(), message_id))
