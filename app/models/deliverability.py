"""Sending domains with their DKIM keys, the identities that send from them, what a
recipient domain's MX says about its mailbox provider, and the alerts that need a person."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow


class SendingDomain(db.Model):
    __tablename__ = "sending_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255))  # lower case, IDNA (what DNS answers for)
    # The bounce subdomain's first label: `bounces` makes the envelope domain bounces.<domain>.
    return_path_subdomain: Mapped[str] = mapped_column(String(63), default="bounces")
    # pending -> verifying -> verified | failed; then warming -> active; paused (by a person or a threshold).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The latest verification: [{purpose, ok, found, expected, detail}], and what DMARC says.
    checks: Mapped[list] = mapped_column(JSONType, default=list)
    dmarc_policy: Mapped[str | None] = mapped_column(String(20))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    keys: Mapped[list["DkimKey"]] = relationship(
        back_populates="sending_domain", order_by="DkimKey.id", cascade="all, delete-orphan"
    )


class DkimKey(db.Model):
    """One selector's RSA key. new (published, not yet seen in DNS) -> verified -> signing ->
    retiring (still published for mail in flight, until `retire_after`) -> retired."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("sending_domain_id", "selector"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sending_domain_id: Mapped[int] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"), index=True)
    selector: Mapped[str] = mapped_column(String(63))
    # PEM (PKCS#8) of the private key, Fernet-encrypted like provider credentials.
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)  # base64 SubjectPublicKeyInfo: the record's p=
    status: Mapped[str] = mapped_column(String(20), default="new")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retire_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sending_domain: Mapped[SendingDomain] = relationship(back_populates="keys")


class SendingIdentity(db.Model):
    """A From address on a sending domain (marketing@, support@, noreply@) with its display name."""

    __tablename__ = "sending_identities"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    sending_domain_id: Mapped[int] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailboxDomain(db.Model):
    """A recipient domain's mailbox provider as its MX said, kept until the answer's TTL runs out.

    Not per workspace: MX records are public, and one look-up serves every workspace.
    """

    __tablename__ = "mailbox_domains"
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))  # gmail, microsoft365, yahoo, … (mailbox_providers.yaml)
    group: Mapped[str] = mapped_column(String(40))  # gmail, microsoft, yahoo, apple, other, none, …
    mx: Mapped[str | None] = mapped_column(String(255))  # the exchange the answer came from
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(db.Model):
    """Something a person must act on: a warming pause, a DNS record that broke, a listing.

    One open alert per (workspace, kind, subject): raising it again updates it instead of
    ringing the bell twice.
    """

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # dns_record_failed, dkim_key_mismatch, warming_paused, …
    severity: Mapped[str] = mapped_column(String(20))  # info | warning | critical
    subject_type: Mapped[str] = mapped_column(String(20))  # domain | ip | campaign
    subject_id: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict] = mapped_column(JSONType, default=dict)
    action_label: Mapped[str | None] = mapped_column(String(80))
    action_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_alerts_workspace_status", Alert.workspace_id, Alert.status)
