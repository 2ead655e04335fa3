"""The normalized event log, what providers and mailboxes send us, outbound webhooks, and the
caught messages of the development outbox."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, LargeBinary, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.event_types import EVENT_TYPES  # noqa: F401  (one list, shared with the providers)
from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow


class Event(db.Model):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # Idempotency key: a tracking hit's random id or a provider's event id; held once in event_keys.
    event_key: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(20))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_recipients.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"))
    # A transactional message's events point here instead of at a campaign recipient.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[int | None] = mapped_column()
    email: Mapped[str | None] = mapped_column(String(320))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    ip: Mapped[str | None] = mapped_column(String(64))
    # An open's or a click's: human, proxy, apple_mpp, scanner, unknown (events/verdicts.py); None: not
    # an open or a click, or recorded before verdicts existed (counted as a person's).
    verdict: Mapped[str | None] = mapped_column(String(12))
    data: Mapped[dict | None] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventKey(db.Model):
    """Every event's idempotency key, once: a payload a provider posts again, a tracking batch drained
    twice add nothing (events/event_log.py). Apart from the log because on PostgreSQL the log is
    partitioned by month (events/partitions.py), where a unique index would have to include the month."""

    __tablename__ = "event_keys"
    event_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_events_campaign_type", Event.campaign_id, Event.event_type)
Index("ix_events_workspace_time", Event.workspace_id, Event.occurred_at)
Index("ix_events_recipient_id", Event.recipient_id)  # a recipient's trail; re-judging their clicks


class InsightHour(db.Model):
    """A campaign's figures per UTC hour, mailbox provider and sending identity: what every insights
    page and the overview read instead of the event log. Kept as recipients and events change, in the
    same transaction (events/rollups.py), so they agree with the event log at every commit."""

    __tablename__ = "insight_hours"
    __table_args__ = (UniqueConstraint("campaign_id", "hour", "mailbox_provider", "identity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    mailbox_provider: Mapped[str] = mapped_column(String(40), default="")  # "": not looked up
    identity_id: Mapped[int] = mapped_column(default=0)  # 0: the campaign's own From
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    hard_bounced: Mapped[int] = mapped_column(default=0)
    deferred: Mapped[int] = mapped_column(default=0)
    opens: Mapped[int] = mapped_column(default=0)
    human_opens: Mapped[int] = mapped_column(default=0)
    unique_opens: Mapped[int] = mapped_column(default=0)
    human_unique_opens: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    human_clicks: Mapped[int] = mapped_column(default=0)
    unique_clicks: Mapped[int] = mapped_column(default=0)
    human_unique_clicks: Mapped[int] = mapped_column(default=0)
    replies: Mapped[int] = mapped_column(default=0)
    unsubscribes: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)


Index("ix_insight_hours_workspace_hour", InsightHour.workspace_id, InsightHour.hour)


class CaughtMessage(db.Model):
    __tablename__ = "caught_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookPayload(db.Model):
    """The provider event log: every verified webhook request, stored before it is answered.

    received -> processed | failed (the error kept; "Process again" retries it). A payload's
    events are counted once however often the provider delivers it (the event log is unique
    on each event's provider id).
    """

    __tablename__ = "webhook_payloads"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"), index=True)
    provider_type: Mapped[str] = mapped_column(String(20))
    content_type: Mapped[str | None] = mapped_column(String(200))
    headers: Mapped[dict | None] = mapped_column(JSONType)  # the ones that matter (signatures, message types)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="received")
    events_total: Mapped[int] = mapped_column(default=0)
    events_new: Mapped[int] = mapped_column(default=0)  # not seen before (a retry's events count 0)
    events_unmatched: Mapped[int] = mapped_column(default=0)  # no Herald message found for them
    summary: Mapped[dict | None] = mapped_column(JSONType)  # event type -> count
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_webhook_payloads_ws_received", WebhookPayload.workspace_id, WebhookPayload.received_at)
Index("ix_webhook_payloads_status", WebhookPayload.status, WebhookPayload.received_at)


class InboundMessage(db.Model):
    """Mail that came back to a VERP return path: a bounce (DSN), a complaint (ARF) or a reply."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_recipients.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))  # dsn | arf | reply | autoreply | unmatched
    mail_from: Mapped[str | None] = mapped_column(String(320))
    rcpt_to: Mapped[str] = mapped_column(String(320))
    from_header: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str | None] = mapped_column(String(998))
    summary: Mapped[str | None] = mapped_column(Text)  # e.g. "failed 5.1.1 smtp; 550 user unknown"
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(db.Model):
    """A workspace's URL that receives its normalized events as signed JSON."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)  # the HMAC-SHA256 signing secret, encrypted at rest
    event_types: Mapped[list | None] = mapped_column(JSONType)  # None: every event type
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(default=0)


class WebhookDelivery(db.Model):
    """One event on its way to one endpoint: pending -> delivered | retrying -> ... | failed."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # No foreign key: the event log's months are detached and archived, the deliveries' history stays.
    event_id: Mapped[int | None] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)  # the first 1 KB, for the delivery log
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column()
    # Every attempt, oldest first: [{"at", "code", "error", "ms", "delivered"}] (the last 10 kept).
    history: Mapped[list | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_webhook_deliveries_endpoint", WebhookDelivery.endpoint_id, WebhookDelivery.created_at)
Index("ix_webhook_deliveries_due", WebhookDelivery.status, WebhookDelivery.next_attempt_at)


class Order(db.Model):
    """A purchase reported by the shop (POST /orders), attributed to the campaign whose message the
    buyer last clicked as a person within the workspace's window (events/attribution.py)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))  # the shop's id: sending it again changes nothing
    email: Mapped[str] = mapped_column(String(320))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[list | None] = mapped_column(JSONType)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The campaign (and recipient row) credited, and by what: "click" or "open"; None: no email's.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    recipient_id: Mapped[int | None] = mapped_column()
    attributed_by: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
