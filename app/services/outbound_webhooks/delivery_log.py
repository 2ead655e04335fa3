"""The delivery log: an endpoint's deliveries, one delivery, a redelivery, whether one is about to go out."""

from __future__ import annotations

from sqlalchemy import exists, select

from app.extensions import db
from app.models import WebhookDelivery
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.outbound_webhooks.endpoints import get_endpoint
from app.services.outbound_webhooks.shared import utc_now
from app.services.pagination import paginate

DELIVERY_STATUSES = ("pending", "sending", "retrying", "delivered", "failed")


def list_deliveries(
    workspace_id: int, endpoint_id: int, status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[WebhookDelivery], int]:
    """One page of an endpoint's delivery log, newest first, and the total."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status:
        if status not in DELIVERY_STATUSES:
            message = f"Must be one of: {', '.join(DELIVERY_STATUSES)}."
            raise ValidationError(f"status: {message}", {"status": message})
        stmt = stmt.where(WebhookDelivery.status == status)
    stmt = stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return paginate(stmt, page, per_page)


def get_delivery(workspace_id: int, delivery_id: int, endpoint_id: int | None = None) -> WebhookDelivery:
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.workspace_id == workspace_id
    )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    delivery = db.session.scalar(stmt)
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery


def redeliver(workspace_id: int, delivery_id: int) -> WebhookDelivery:
    """A new pending delivery of the same payload (same event id: receivers may deduplicate on it)."""
    original = get_delivery(workspace_id, delivery_id)
    endpoint = get_endpoint(workspace_id, original.endpoint_id)
    if not endpoint.is_active:
        raise InvalidState("This endpoint is disabled: enable it first, then redeliver.")
    copy = WebhookDelivery(
        workspace_id=workspace_id,
        endpoint_id=endpoint.id,
        event_id=original.event_id,
        event_type=original.event_type,
        payload=original.payload,
        status="pending",
        attempts=0,
        next_attempt_at=utc_now(),
    )
    db.session.add(copy)
    db.session.flush()
    return copy


def has_pending(workspace_id: int, endpoint_id: int) -> bool:
    """Whether a delivery of the endpoint is about to go out (the log refreshes itself while so);
    a retry hours away does not count."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.workspace_id == workspace_id,
                    WebhookDelivery.status.in_(("pending", "sending")),
                )
            )
        )
    )
