"""Email templates, their saved versions, reusable blocks and uploaded images."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

TEMPLATE_CATEGORIES = ("marketing", "newsletter", "onboarding", "transactional", "general")
TEMPLATE_TYPES = ("code", "visual")


class Template(db.Model):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("workspace_id", "slug", name="uq_templates_workspace_id_slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # What the transactional API names it by (`template: "order-confirmation"`); made from the name.
    slug: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(998))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    preview_text: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(20), default="marketing")
    # Transactional sends of this template come from this identity unless the call names a From.
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("sending_identities.id", ondelete="SET NULL"))
    # The sending pool (lane) its mail goes through (None: the workspace's default for its kind).
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("sending_pools.id", ondelete="SET NULL"))
    template_type: Mapped[str] = mapped_column(String(10), default="code")
    # A visual template's design (API.md "Visual design JSON"); body_html/body_text are compiled
    # from it on every save. A converted (code) template keeps the design it came from, frozen.
    design: Mapped[dict | None] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TemplateVersion(db.Model):
    """Every save of a template, so an earlier one can be viewed and restored."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    template_type: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(998))
    preview_text: Mapped[str | None] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str | None] = mapped_column(Text)
    design: Mapped[dict | None] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SavedBlock(db.Model):
    """A block (or a group of blocks) a workspace saved for reuse in the builder."""

    __tablename__ = "saved_blocks"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    blocks: Mapped[list] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MediaFile(db.Model):
    """An uploaded image, stored under the instance folder or in an S3-compatible bucket."""

    __tablename__ = "media_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    # Unguessable: images are public (recipients load them) but must not be enumerable.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    storage: Mapped[str] = mapped_column(String(10), default="local")
    url: Mapped[str] = mapped_column(String(2000))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
