"""Sending providers."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

# "outbox" is the development mail catcher every new workspace starts with.
PROVIDER_TYPES = ("smtp", "outbox")


class Provider(db.Model):
    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
