"""Workspaces, users, memberships and API keys."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

ROLES = ("owner", "admin", "marketer", "analyst")


class Workspace(db.Model):
    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Attribution (events/attribution.py): an order is credited to the last human click within this
    # many days; with open_hours above 0, else to the last human open within that many hours.
    attribution_click_days: Mapped[int] = mapped_column(default=5, server_default="5")
    attribution_open_hours: Mapped[int] = mapped_column(default=0, server_default="0")
    # Branding of the public pages (preference center, signup forms, confirmations).
    logo_url: Mapped[str | None] = mapped_column(String(1000))
    brand_color: Mapped[str | None] = mapped_column(String(7))  # "#RRGGBB"
    # Skip role addresses (abuse@, postmaster@, noreply@…) in campaigns, as suppressed:role.
    suppress_role_addresses: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Double opt-in subscribers who never confirm are deleted after this many days.
    unconfirmed_purge_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # At most `max` marketing emails per person per `hours`, campaigns and flows together
    # ({"max": 1, "hours": 24}; None: no cap). Transactional mail is exempt.
    frequency_cap: Mapped[dict | None] = mapped_column(JSONType)
    # Texts: {"help_text", "quiet_start", "quiet_end", "price_per_segment", "currency"} (services/sms/settings.py).
    sms_settings: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Checked by the user loader: bumping it (logout, password change) voids every older session.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    memberships: Mapped[list["Membership"]] = relationship(back_populates="user", lazy="selectin")

    def get_id(self) -> str:
        """The identity kept in the session and the remember cookie: id and session generation."""
        # Flask-Login's documented way to void remember cookies: change what get_id() returns.
        return f"{self.id}:{self.session_generation or 0}"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="owner")
    workspace: Mapped[Workspace] = relationship(lazy="joined")
    user: Mapped[User] = relationship(back_populates="memberships")


class ApiKey(db.Model):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(20), default="owner", server_default="owner")  # ROLES


class Invitation(db.Model):
    """A teammate invited by email; the link carries a token whose hash is kept here."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(db.Model):
    """Who did what and when: sends, deletes, exports, erasures, settings, role changes, overrides."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))  # the user's email or "API key <name>", kept after they go
    action: Mapped[str] = mapped_column(String(60))  # e.g. campaign.send, subscriber.erase, member.role
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict | None] = mapped_column(JSONType)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_audit_log_ws_created", AuditEntry.workspace_id, AuditEntry.created_at)
