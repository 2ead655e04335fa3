"""Subscribers, lists and the suppression list."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained", "pending")


class Subscriber(db.Model):
    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    # Stored lower-cased: addresses are unique per workspace and compared case-insensitively.
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Soft bounces in a row (reset by a delivery, an open or a click): suppressed at SOFT_BOUNCE_LIMIT.
    soft_bounces: Mapped[int] = mapped_column(default=0, server_default="0")


class MailingList(db.Model):
    __tablename__ = "lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListSubscriber(db.Model):
    __tablename__ = "list_subscribers"
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(db.Model):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(40))  # unsubscribed | bounced | complained | manual
    detail: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_subscribers_ws_status", Subscriber.workspace_id, Subscriber.status)
