"""Sending domains with their DKIM keys, the identities that send from them, what a
recipient domain's MX says about its mailbox provider, and the alerts that need a person."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
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
    # The domain on domain blocklists (Spamhaus DBL, SURBL, URIBL) at the last look: [{zone, status, listed, answer…}].
    blocklists: Mapped[list] = mapped_column(JSONType, default=list)
    blocklists_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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


class WarmingSchedule(db.Model):
    """A workspace's own warming schedule: [{day, volume}] — the volume holds until the next listed day."""

    __tablename__ = "warming_schedules"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    steps: Mapped[list] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WarmingPlan(db.Model):
    """A domain's (or an IP's) warming: which schedule, from which day, and whether it is paused.

    The day is computed from `start_date` (in the workspace's timezone) rather than counted by a
    daily job, so a missed run never stalls a plan; a pause moves `start_date` on by the days it
    lasted, so a resumed plan continues at the same day's volume.
    """

    __tablename__ = "warming_plans"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # domain | ip
    subject_id: Mapped[int] = mapped_column()
    schedule: Mapped[str] = mapped_column(String(40))  # standard | conservative | … | custom:<id>
    steps: Mapped[list] = mapped_column(JSONType)  # the schedule's steps when the plan started
    interpolate: Mapped[bool] = mapped_column(default=False)  # days between steps grow geometrically
    start_date: Mapped[date] = mapped_column(Date)
    start_day: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="warming")  # warming | paused | done
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WarmingDay(db.Model):
    """One local day of a plan: its cap and how many recipients were let out under it."""

    __tablename__ = "warming_days"
    plan_id: Mapped[int] = mapped_column(ForeignKey("warming_plans.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    limit: Mapped[int | None] = mapped_column()  # None: no cap (the schedule is over)
    released: Mapped[int] = mapped_column(default=0)


class DedicatedIP(db.Model):
    """A sending IP of the workspace: an SMTP provider binds its connections to it, an API
    provider knows it by its pool name. Checked daily for PTR, forward-confirmed reverse DNS and
    blocklist listings."""

    __tablename__ = "dedicated_ips"
    __table_args__ = (UniqueConstraint("workspace_id", "ip_address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ip_address: Mapped[str] = mapped_column(String(45))
    hostname: Mapped[str | None] = mapped_column(String(255))  # what its PTR should name
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    pool_name: Mapped[str | None] = mapped_column(String(100))  # an API provider's name for it
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | warming | paused
    status_reason: Mapped[str | None] = mapped_column(Text)
    ptr: Mapped[str | None] = mapped_column(String(255))
    fcrdns: Mapped[bool | None] = mapped_column()
    blocklists: Mapped[list] = mapped_column(JSONType, default=list)  # [{zone, listed, answer}]
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendingPool(db.Model):
    """A lane of domains, identities, IPs and providers that campaigns or transactional mail send through."""

    __tablename__ = "sending_pools"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(20), default="priority")  # priority | round_robin | weighted
    # marketing | transactional: the workspace's default lane for that kind of mail (None: none).
    default_for: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PoolMember(db.Model):
    __tablename__ = "pool_members"
    __table_args__ = (UniqueConstraint("pool_id", "member_type", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("sending_pools.id", ondelete="CASCADE"), index=True)
    member_type: Mapped[str] = mapped_column(String(20))  # domain | identity | ip | provider
    member_id: Mapped[int] = mapped_column()
    weight: Mapped[int] = mapped_column(default=1)
    priority: Mapped[int] = mapped_column(default=100)


class HealthScore(db.Model):
    """A domain's or an IP's 0–100 health on one day (rolling 7-day window), kept as history."""

    __tablename__ = "health_scores"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # domain | ip
    subject_id: Mapped[int] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column()
    tier: Mapped[str] = mapped_column(String(20))  # EXCELLENT | GOOD | FAIR | POOR | CRITICAL
    components: Mapped[dict] = mapped_column(JSONType, default=dict)  # the rates and the sample behind the score
