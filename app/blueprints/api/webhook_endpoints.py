"""Outbound webhooks: URLs that receive the workspace's events as signed JSON, and their delivery log."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import page_json, page_slice, webhook_delivery_json, webhook_endpoint_json
from app.blueprints.helpers import commit
from app.services import outbound_webhooks
from app.services.outbound_webhooks import DELIVERY_STATUSES

TAG = "Webhooks"
_UPDATABLE = ("url", "description", "event_types", "is_active")


@operation("GET", "/webhook-endpoints", "List webhook endpoints", tag=TAG, response="WebhookEndpoint", paginated=True)
def list_webhook_endpoints(query: dict):
    """Oldest first, with each endpoint's health: last success, last failure, failures in a row."""
    rows = outbound_webhooks.list_endpoints(workspace_id())
    return page_slice([webhook_endpoint_json(e) for e in rows], query)


@operation(
    "POST",
    "/webhook-endpoints",
    "Add a webhook endpoint",
    tag=TAG,
    body="WebhookEndpointCreate",
    response="WebhookEndpointCreated",
    status=201,
)
def create_webhook_endpoint(body: dict):
    """The answer carries the signing secret, once: every POST to the URL has
    `X-Herald-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + raw body)>`. The secret can be
    revealed again or rotated in the dashboard (Settings → Webhooks)."""
    endpoint, secret = outbound_webhooks.create_endpoint(
        workspace_id(), body["url"], body.get("description"), body.get("event_types")
    )
    commit()
    return webhook_endpoint_json(endpoint, secret)


@operation("GET", "/webhook-endpoints/{endpoint_id}", "Show a webhook endpoint", tag=TAG, response="WebhookEndpoint")
def show_webhook_endpoint(endpoint_id: int):
    """The endpoint and its health; never its secret."""
    return webhook_endpoint_json(outbound_webhooks.get_endpoint(workspace_id(), endpoint_id))


@operation(
    "PUT",
    "/webhook-endpoints/{endpoint_id}",
    "Change a webhook endpoint",
    tag=TAG,
    body="WebhookEndpointUpdate",
    response="WebhookEndpoint",
)
def update_webhook_endpoint(endpoint_id: int, body: dict):
    """The fields given change (url, description, event_types, is_active); the others keep their value.
    Disabling an endpoint fails the deliveries still queued for it."""
    changes = {k: body[k] for k in _UPDATABLE if k in body}
    endpoint = outbound_webhooks.update_endpoint(workspace_id(), endpoint_id, **changes)
    commit()
    return webhook_endpoint_json(endpoint)


@operation("DELETE", "/webhook-endpoints/{endpoint_id}", "Delete a webhook endpoint", tag=TAG, status=204)
def delete_webhook_endpoint(endpoint_id: int):
    """The endpoint and its delivery log go; nothing more is sent to it."""
    outbound_webhooks.delete_endpoint(workspace_id(), endpoint_id)
    commit()
    return ""


@operation(
    "GET",
    "/webhook-endpoints/{endpoint_id}/deliveries",
    "List an endpoint's deliveries",
    tag=TAG,
    response="WebhookDelivery",
    paginated=True,
    query=(Param("status", {"enum": list(DELIVERY_STATUSES)}),),
)
def list_webhook_deliveries(endpoint_id: int, query: dict):
    """Newest first: what was sent, how the endpoint answered, and when the next attempt is due."""
    items, total = outbound_webhooks.list_deliveries(
        workspace_id(), endpoint_id, query.get("status"), query["page"], query["per_page"]
    )
    return page_json([webhook_delivery_json(d) for d in items], total, query)


@operation(
    "POST",
    "/webhook-endpoints/{endpoint_id}/test",
    "Send a test event",
    tag=TAG,
    response="WebhookDelivery",
)
def test_webhook_endpoint(endpoint_id: int):
    """POSTs a signed event of type `test` at once and answers the logged delivery (`delivered`, or
    `failed` with the endpoint's answer or the connection error). A test is not retried."""
    delivery = outbound_webhooks.send_test_event(workspace_id(), endpoint_id)
    commit()
    return webhook_delivery_json(delivery)
