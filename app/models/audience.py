"""Subscribers, lists and the suppression list."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained", "pending")
# Where a subscriber came from (set once, when the row is created).
SUBSCRIBER_SOURCES = ("form", "import", "api", "dashboard", "referral")  # referral: a referral link's landing page
FIELD_TYPES = ("text", "number", "date", "boolean")
FREQUENCIES = ("immediate", "daily", "weekly", "monthly")
# Where an unsubscribe or a suppression came from, reported per campaign and across the workspace.
SUPPRESSION_SOURCES = (
    "link",
    "one-click",
    "preference center",
    "api",
    "dashboard",
    "flow",  # a flow's update step (a sunset)
    "complaint",
    "bounce",
    "import",
    "erasure",
)


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
    source: Mapped[str | None] = mapped_column(String(20))  # SUBSCRIBER_SOURCES
    # How they agreed to be mailed: {"at", "ip", "form_id", "method": "form|double opt-in|import|api|dashboard"}.
    consent: Mapped[dict | None] = mapped_column(JSONType)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # double opt-in confirmed
    # Erased on request (GDPR): the row stays, anonymised, so campaign counts keep adding up.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Texts (app/models/sms.py): the number in E.164, and whether they agreed to texts.
    phone: Mapped[str | None] = mapped_column(String(16))
    sms_status: Mapped[str] = mapped_column(String(12), default="none", server_default="none")  # SMS_STATUSES
    sms_consent: Mapped[dict | None] = mapped_column(JSONType)  # {"at", "method", "ip"}: as `consent`


class SubscriberTag(db.Model):
    __tablename__ = "subscriber_tags"
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Field(db.Model):
    """A declared attribute type: segments compare `attributes.<key>` as this type."""

    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))  # FIELD_TYPES
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(db.Model):
    """A saved rule tree (audience/segments.py), evaluated when used."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    rules: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Category(db.Model):
    """A kind of campaign a person may opt out of or receive less often (promotions, tips…)."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberPreference(db.Model):
    """A person's choice for one category; no row: subscribed, immediately."""

    __tablename__ = "subscriber_preferences"
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(default=True)
    frequency: Mapped[str] = mapped_column(String(10), default="immediate")  # FREQUENCIES
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SignupForm(db.Model):
    """A hosted signup page and its embeddable snippet (audience/signup_forms.py)."""

    __tablename__ = "signup_forms"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The unguessable id in the form's public URL.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # Which inputs the form shows: ["name", "attributes.company", ...] (email always).
    fields: Mapped[list] = mapped_column(JSONType, default=list)
    list_ids: Mapped[list] = mapped_column(JSONType, default=list)
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    redirect_url: Mapped[str | None] = mapped_column(String(1000))
    thank_you_message: Mapped[str | None] = mapped_column(Text)
    submissions: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailingList(db.Model):
    __tablename__ = "lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    # New subscribers stay `pending` until they confirm by email (audience/double_opt_in.py).
    double_opt_in: Mapped[bool] = mapped_column(default=False, server_default="0")
    # The confirmation email (None: Herald's own wording).
    confirmation_template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
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
    # An address, or a whole domain as "@example.com", or "erased:<hash>" for an erased person.
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(40))  # unsubscribed | bounced | complained | manual | erased
    detail: Mapped[str | None] = mapped_column(String(1000))
    source: Mapped[str | None] = mapped_column(String(40))  # SUPPRESSION_SOURCES
    # sha256 of the address: an erased person's only trace, so a later import cannot bring them back.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_subscribers_ws_status", Subscriber.workspace_id, Subscriber.status)
Index("ix_subscribers_ws_phone", Subscriber.workspace_id, Subscriber.phone)
