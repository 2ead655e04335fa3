"""Campaigns, their audiences, recipients and tracked links."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func, or_
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JSONType, UTCDateTime, utcnow

CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
RECIPIENT_STATUSES = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "failed",
    "unknown",  # the hand-off was interrupted: the provider may or may not have the message
    "held",  # an A/B test's remainder, waiting for the winning variant
    "held_out",  # the holdout group: never sent, to compare what the campaign earned against
)


class Campaign(db.Model):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="RESTRICT"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="SET NULL"))
    from_name: Mapped[str] = mapped_column(String(200))
    from_email: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    # The sending identity the From fields were filled from (None: typed by hand).
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("sending_identities.id", ondelete="SET NULL"))
    # The sending pool (lane) its mail goes through (None: the workspace's default for its kind).
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("sending_pools.id", ondelete="SET NULL"))
    # A share (0–50%) of the audience never sent, chosen deterministically (events/holdouts.py).
    holdout_percent: Mapped[int] = mapped_column(default=0, server_default="0")
    category: Mapped[str] = mapped_column(String(20), default="marketing")
    # The preference category (promotions, tips…): people who opted out are skipped, and a
    # person's frequency for it caps how often they get one (campaigns/recipients.py).
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    track_opens: Mapped[bool] = mapped_column(default=True)
    track_clicks: Mapped[bool] = mapped_column(default=True)
    # Frozen copy of what is sent: editing the template after "send" changes nothing in flight.
    snapshot: Mapped[dict | None] = mapped_column(JSONType)
    total_recipients: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Each resume queues the batches again under new job ids (the old jobs have finished).
    send_round: Mapped[int] = mapped_column(default=0)
    # When messages may go out (app/services/campaigns/send_windows.py); None: any time.
    send_window: Mapped[dict | None] = mapped_column(JSONType)
    # Each person at their best hour within 24 hours of the start (events/send_time.py).
    send_at_best_time: Mapped[bool] = mapped_column(default=False, server_default="0")
    # A campaign with a recurrence is the parent of a series: each run is a child campaign
    # (parent_id) started at next_run_at (app/services/campaigns/recurring.py).
    recurrence: Mapped[dict | None] = mapped_column(JSONType)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A/B test (app/services/campaigns/ab_tests.py): {"test_percent", "metric", "wait_minutes", "auto_pick"};
    # ab_phase None | testing | waiting | decided; the rest of the audience waits as `held` rows.
    ab_test: Mapped[dict | None] = mapped_column(JSONType)
    ab_phase: Mapped[str | None] = mapped_column(String(20), index=True)
    ab_wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No foreign key: campaign_variants already points here (a cycle), and variants go with the campaign.
    winner_variant_id: Mapped[int | None] = mapped_column()
    ab_result: Mapped[dict | None] = mapped_column(JSONType)  # how and on what figures the winner was picked
    # Which providers carry the send (app/services/delivery/routing.py):
    # {"strategy": "priority" | "round_robin" | "weighted", "providers": [ids, in order],
    #  "weights": {id: weight}, "fallback": bool}; None: the campaign's provider, or the default.
    routing_config: Mapped[dict | None] = mapped_column(JSONType)
    replies: Mapped[int] = mapped_column(default=0, server_default="0")
    # An owner sent despite a blocking advisor finding: {"reason", "by", "at", "checks"} (advisor/gate.py).
    advisor_override: Mapped[dict | None] = mapped_column(JSONType)
    # A flow's email step (automation/flow_sends.py): one campaign per version, step and entry cycle,
    # `sending` while the flow lives; its recipients are added as people reach the step.
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flows.id", ondelete="SET NULL"), index=True)
    flow_version_id: Mapped[int | None] = mapped_column()
    flow_step_id: Mapped[str | None] = mapped_column(String(40))
    flow_cycle: Mapped[int | None] = mapped_column()


class CampaignList(db.Model):
    __tablename__ = "campaign_lists"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    # True: the list's members are left out of the audience ("Newsletter minus Customers").
    exclude: Mapped[bool] = mapped_column(default=False, server_default="0")


class CampaignSegment(db.Model):
    __tablename__ = "campaign_segments"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    exclude: Mapped[bool] = mapped_column(default=False, server_default="0")


class CampaignRecipient(db.Model):
    __tablename__ = "campaign_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "subscriber_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    # pending -> sending (claimed: hand-off in progress) -> sent -> opened -> clicked, or failed/...
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    # Who carried the message (failover may pick another than the campaign's) and its id there.
    provider_id: Mapped[int | None] = mapped_column()
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    # What the hand-off answered: the SMTP server's "250 2.0.0 Ok: queued as …", an API's status.
    handoff_reply: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A temporary refusal (4xx) is retried with backoff: how many tries so far, and not before when.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # raw: any pixel load or click
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first open and click a person made (events/verdicts.py): machines' do not count here.
    human_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    human_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The A/B test variant this person receives (None: no test, or not yet decided).
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_variants.id", ondelete="SET NULL"))
    # The recipient domain's mailbox provider group (gmail, microsoft, yahoo, apple, other…),
    # written at materialization from the MX cache; None: its MX could not be looked up then.
    mailbox_provider: Mapped[str | None] = mapped_column(String(40))
    # The identity a pool chose to send this person from (delivery/identity_routing.py); None: the
    # campaign's own From. No foreign key: the row keeps what it was sent as after the identity goes.
    identity_id: Mapped[int | None] = mapped_column()
    # A flow's email: what the message may show besides the person ({"event": the trigger's event,
    # with a cart's items…}); None for a campaign's.
    context: Mapped[dict | None] = mapped_column(JSONType)


Index("ix_campaign_recipients_campaign_status", CampaignRecipient.campaign_id, CampaignRecipient.status)
Index("ix_campaign_recipients_email", CampaignRecipient.email)  # message search by address

# Where a row counts as a unique human open (A/B winners, health's engagement, warming's order): a
# person opened it, or clicked (events/verdicts.py tells them from Apple's prefetches and scanners).
HUMAN_OPENED = CampaignRecipient.human_opened_at.is_not(None)

# Why a person in the audience was not sent the campaign on purpose (campaigns/recipients.py): their
# status or a suppression ("suppressed:<why>", a category opt-out among them), or their frequency.
SKIP_PREFIX = "suppressed:"
FREQUENCY_SKIP = "frequency"
FREQUENCY_CAP_SKIP = "frequency_cap"  # the workspace's cap across campaigns and flows


def skipped(reason):
    """SQL: the row was skipped on purpose, not failed (`reason` is a recipient reason column)."""
    why = func.coalesce(reason, "")
    return or_(why.startswith(SKIP_PREFIX), why.in_((FREQUENCY_SKIP, FREQUENCY_CAP_SKIP)))


def is_skip(reason: str | None) -> bool:
    return bool(reason) and (reason.startswith(SKIP_PREFIX) or reason in (FREQUENCY_SKIP, FREQUENCY_CAP_SKIP))


Index("ix_campaign_recipients_provider_msg", CampaignRecipient.provider_id, CampaignRecipient.provider_message_id)
# One campaign per flow version, email step and entry cycle (NULLs — every other campaign — differ).
Index("uq_campaigns_flow_step", Campaign.flow_version_id, Campaign.flow_step_id, Campaign.flow_cycle, unique=True)


class Link(db.Model):
    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    url: Mapped[str] = mapped_column(Text)


class CampaignVariant(db.Model):
    """One version of an A/B-tested campaign; a None field means "as the campaign"."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("campaign_id", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(1))  # A-D
    subject: Mapped[str | None] = mapped_column(String(500))
    from_name: Mapped[str | None] = mapped_column(String(200))
    preview_text: Mapped[str | None] = mapped_column(String(500))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    # Frozen at start, like the campaign's snapshot (plus the from name).
    snapshot: Mapped[dict | None] = mapped_column(JSONType)
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
