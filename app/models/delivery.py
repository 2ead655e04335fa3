"""Sending providers and the delivery counters reputation work reads."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow


class Provider(db.Model):
    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # A type a provider module declares (app/providers/registry.py); the services check it.
    provider_type: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Fernet token of the JSON credentials; never returned by the API or shown again.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int] = mapped_column(default=100)
    max_sends_per_second: Mapped[int | None] = mapped_column()
    max_sends_per_day: Mapped[int | None] = mapped_column()
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_status: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Sandbox: the provider accepts and validates the message but delivers nothing (where the API has it).
    sandbox_mode: Mapped[bool] = mapped_column(default=False, server_default="0")
    # The provider's own open/click tracking (Herald tracks itself; both on would count twice).
    provider_tracking: Mapped[bool] = mapped_column(default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStat(db.Model):
    """Per day, provider and sending domain: what went out and what came back.

    Written by the send pipeline (sent) and by provider events (the rest); the reputation
    and advisor work reads bounce and complaint rates from here, not from the event log.
    """

    __tablename__ = "delivery_stats"
    __table_args__ = (UniqueConstraint("workspace_id", "day", "provider_id", "sending_domain"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    provider_id: Mapped[int] = mapped_column(default=0)  # 0: none recorded (no foreign key: counters outlive providers)
    sending_domain: Mapped[str] = mapped_column(String(255), default="")
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    bounced_hard: Mapped[int] = mapped_column(default=0)
    bounced_soft: Mapped[int] = mapped_column(default=0)
    blocked: Mapped[int] = mapped_column(default=0)
    complained: Mapped[int] = mapped_column(default=0)
    deferred: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    unsubscribed: Mapped[int] = mapped_column(default=0)
