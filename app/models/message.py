"""Transactional messages: one email to one person, sent at once through the API."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

# queued -> sending (claimed, committed before the hand-off) -> sent | failed | unknown;
# suppressed when the address hard-bounced or complained (nothing is queued then).
MESSAGE_STATUSES = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "failed",
    "unknown",
    "suppressed",
)


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("workspace_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"), index=True)
    # Kept so the list still says which template it was after the template is deleted.
    template_name: Mapped[str | None] = mapped_column(String(200))
    template_version: Mapped[int | None] = mapped_column()
    to_email: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str | None] = mapped_column(String(200))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    from_email: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    context: Mapped[dict] = mapped_column(JSONType, default=dict)
    category: Mapped[str] = mapped_column(String(20), default="transactional")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    # The server's reply for a failure, or the suppression reason (e.g. suppressed:bounced).
    reason: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(998))
    message_id: Mapped[str | None] = mapped_column(String(255))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    handoff_reply: Mapped[str | None] = mapped_column(String(500))  # what the hand-off answered
    # How it authenticated when handed off: {from_domain, dkim_domain, envelope_domain, dkim_aligned, spf_aligned}.
    authentication: Mapped[dict | None] = mapped_column(JSONType)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    track_opens: Mapped[bool] = mapped_column(default=False)
    track_clicks: Mapped[bool] = mapped_column(default=False)
    # The tracked URLs in the order of their placeholders: a click redirects only to one of these.
    links: Mapped[list | None] = mapped_column(JSONType)
    # A client's key for retrying a request safely: the same key twice returns the first message.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The dashboard and the API list a workspace's newest messages first, often by status or address.
Index("ix_messages_ws_created", Message.workspace_id, Message.created_at)
Index("ix_messages_ws_status", Message.workspace_id, Message.status)
Index("ix_messages_ws_to", Message.workspace_id, Message.to_email)
Index("ix_messages_provider_msg", Message.provider_id, Message.provider_message_id)
