"""SMS through Twilio: campaigns and their recipients, delivery callbacks, replies and opt-outs.

A phone number is kept in E.164 (`+15551234567`). Whether a number may be texted is two
things at once: the subscriber's `sms_status` (consent) and the workspace's `sms_opt_outs`
(a number that said STOP, or that Twilio reports as opted out with error 21610) — the second
outlives the subscriber row, so an address imported again never texts a number that stopped.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

SMS_STATUSES = ("none", "subscribed", "opted_out")  # a subscriber's consent to texts
# pending: waits its turn (or quiet hours, `not_before`); sending: claimed, being handed to Twilio;
# sent: Twilio accepted it (queued/sent); delivered | undelivered | failed: the carrier's last word;
# skipped: never sent (`skip_reason`); unknown: the hand-off's outcome is unclear (never sent twice).
SMS_RECIPIENT_STATUSES = ("pending", "sending", "sent", "delivered", "undelivered", "failed", "skipped", "unknown")


class SmsCampaign(db.Model):
    """A text message to an audience: the email campaign's lifecycle (draft -> scheduled -> sending
    -> sent, paused, cancelled), one body with personalization, sent through a Twilio provider."""

    __tablename__ = "sms_campaigns"
    __table_args__ = (UniqueConstraint("flow_id", "flow_version_id", "flow_step_id", "flow_cycle"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)  # CAMPAIGN_STATUSES
    # {"lists": [ids], "segments": [ids]}: everyone in any of them with a number and consent.
    audience: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Hold texts that would arrive in the recipient's quiet hours (the workspace's) until they end.
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    # What the start found: {"recipients", "segments", "price", "currency", "encoding"}.
    estimate: Mapped[dict | None] = mapped_column(JSONType)
    total_recipients: Mapped[int] = mapped_column(default=0)
    send_round: Mapped[int] = mapped_column(default=0)  # each resume queues under new job ids
    last_error: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A flow's SMS step: one campaign per version, step and entry cycle, `sending` while the flow lives.
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flows.id", ondelete="SET NULL"), index=True)
    flow_version_id: Mapped[int | None] = mapped_column()
    flow_step_id: Mapped[str | None] = mapped_column(String(40))
    flow_cycle: Mapped[int | None] = mapped_column()


class SmsRecipient(db.Model):
    """One person's text in a campaign: claimed before the hand-off, so never sent twice."""

    __tablename__ = "sms_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "subscriber_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("sms_campaigns.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    phone: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # SMS_RECIPIENT_STATUSES
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    # Twilio's own word for the message (queued, sent, delivered…) and its order, so a callback that
    # arrives late never moves a message back.
    twilio_status: Mapped[str | None] = mapped_column(String(16))
    status_rank: Mapped[int] = mapped_column(SmallInteger, default=0)
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    sender: Mapped[str | None] = mapped_column(String(40))  # the From number or messaging service
    body: Mapped[str | None] = mapped_column(Text)  # the text as sent, personalized
    segments: Mapped[int | None] = mapped_column(SmallInteger)
    encoding: Mapped[str | None] = mapped_column(String(5))  # GSM-7 | UCS-2
    error_code: Mapped[int | None] = mapped_column()
    error_message: Mapped[str | None] = mapped_column(String(500))
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # held for quiet hours
    context: Mapped[dict | None] = mapped_column(JSONType)  # a flow's event and data for the body
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_sms_recipients_campaign_status", SmsRecipient.campaign_id, SmsRecipient.status)


class SmsStatusEvent(db.Model):
    """A status callback as Twilio sent it, once per message and status: a retried callback is a no-op."""

    __tablename__ = "sms_status_events"
    __table_args__ = (UniqueConstraint("message_sid", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("sms_recipients.id", ondelete="CASCADE"), index=True)
    message_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsInbound(db.Model):
    """A text someone sent to one of the workspace's numbers: a reply, or STOP / START / HELP."""

    __tablename__ = "sms_inbound"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(32))
    to_phone: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, default="")
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    keyword: Mapped[str | None] = mapped_column(String(10))  # stop | start | help; None: a reply
    answer: Mapped[str | None] = mapped_column(Text)  # what Herald answered (HELP's text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_sms_inbound_workspace_received", SmsInbound.workspace_id, SmsInbound.received_at)


class SmsOptOut(db.Model):
    """A number the workspace must not text: it said STOP (or Twilio answered 21610), until it says START."""

    __tablename__ = "sms_opt_outs"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # keyword | carrier | dashboard | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
