"""The advisor's recommendations, and the DMARC aggregate reports it reads."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

SEVERITIES = ("info", "warning", "critical", "blocking")
RECOMMENDATION_STATUSES = ("open", "applied", "dismissed", "resolved")


class Recommendation(db.Model):
    """One finding of one check about one thing (a campaign, a domain, a list, the workspace): kept
    while the evidence stands, resolved when it no longer does, dismissed until it gets worse."""

    __tablename__ = "advisor_recommendations"
    __table_args__ = (UniqueConstraint("workspace_id", "check", "subject_type", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(20))  # campaign | domain | list | ip | workspace
    subject_id: Mapped[int] = mapped_column(default=0)  # 0 for the workspace
    severity: Mapped[str] = mapped_column(String(10))  # SEVERITIES
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict] = mapped_column(JSONType, default=dict)
    # {"action", "label", ...}: a button Herald can press; None: steps in the message.
    fix: Mapped[dict | None] = mapped_column(JSONType)
    # How bad it is, in the check's own unit (a rate, a count): a dismissed finding comes back only
    # when this gets worse than it was when dismissed.
    measure: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(10), default="open")  # RECOMMENDATION_STATUSES
    dismissed_reason: Mapped[str | None] = mapped_column(String(500))
    dismissed_measure: Mapped[float | None] = mapped_column(Float)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_by: Mapped[str | None] = mapped_column(String(320))
    # What the fix did ({"suppressed": 120}).
    effect: Mapped[dict | None] = mapped_column(JSONType)
    # What followed it: the measure before and after, from the next campaign or week ({metric, before, after, …}).
    outcome: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_advisor_recommendations_ws_status", Recommendation.workspace_id, Recommendation.status)


class DmarcReport(db.Model):
    """A DMARC aggregate report (RFC 7489 / RFC 9990) about one of the workspace's domains; a report
    that could not be read is kept with its error."""

    __tablename__ = "dmarc_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"), index=True)
    org_name: Mapped[str | None] = mapped_column(String(255))
    report_id: Mapped[str | None] = mapped_column(String(255))
    begin: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    policy: Mapped[dict | None] = mapped_column(JSONType)  # policy_published
    records: Mapped[int] = mapped_column(default=0)
    messages: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default="parsed")  # parsed | error
    error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10), default="upload")  # upload | api | mailin
    filename: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # as received, for a report that failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# One copy of a report per domain, however often a reporter resends it (NULLs — reports that failed — differ).
Index("uq_dmarc_reports_domain_report", DmarcReport.domain_id, DmarcReport.org_name, DmarcReport.report_id, unique=True)


class DmarcRecord(db.Model):
    """One row of a report: messages from one source IP with one set of results."""

    __tablename__ = "dmarc_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("dmarc_reports.id", ondelete="CASCADE"), index=True)
    source_ip: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(default=0)
    disposition: Mapped[str | None] = mapped_column(String(20))
    dkim: Mapped[str | None] = mapped_column(String(10))  # policy_evaluated: pass | fail
    spf: Mapped[str | None] = mapped_column(String(10))
    header_from: Mapped[str | None] = mapped_column(String(255))
    auth: Mapped[dict | None] = mapped_column(JSONType)  # auth_results: dkim and spf domains and results
    aligned: Mapped[bool] = mapped_column(default=False)  # DKIM or SPF passed aligned
    known_source: Mapped[bool] = mapped_column(default=False)  # one of Herald's providers or IPs
