"""The message trail: every message to an address, or with a Message-ID, and what happened to it."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import delivery_json
from app.services.events import trail

TAG = "Insights"


@operation(
    "GET",
    "/deliveries",
    "Find a message's trail",
    tag=TAG,
    response="DeliveryList",
    query=(
        Param("email", {"type": "string", "maxLength": trail.MAX_QUERY}, "The recipient's address."),
        Param(
            "message_id",
            {"type": "string", "maxLength": trail.MAX_QUERY},
            "Herald's Message-ID (with or without <>) or the provider's message id.",
        ),
    ),  # fmt: skip
)
def find_deliveries(query: dict):
    """Campaign and transactional messages, the latest first (at most 50), each with its steps: queued,
    handed off with the server's exact reply, delivered, deferred, bounced with the diagnostic, each
    open and click with its verdict and signals, unsubscribed, complained. Give `email` or `message_id`."""
    found = trail.search(workspace_id(), query.get("email"), query.get("message_id"))
    return {"items": [delivery_json(d) for d in found]}
