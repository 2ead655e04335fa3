"""What the SMS pages and the API show: a campaign's figures, its recipients, and replies."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.models import SmsCampaign, SmsInbound, SmsRecipient, Subscriber
from app.services.campaigns import audience as email_audience
from app.services.sms import callbacks, campaigns, lifecycle, settings

_rec = SmsRecipient.__table__
PAGE = 50
DONE = ("sent", "delivered", "undelivered", "failed", "unknown")


@dataclass
class CampaignFigures:
    counts: dict[str, int]  # by Herald's status
    total: int
    handed_off: int  # sent to Twilio (every status after it)
    delivered: int
    failed: int  # failed + undelivered
    skipped: dict[str, int]  # by reason
    segments: int  # billed so far
    cost: Decimal
    currency: str
    delivery_rate: float | None  # delivered / (delivered + failed), once any is known
    errors: list[tuple[str, int]] = field(default_factory=list)  # (meaning, count), most first
    held_until: datetime | None = None  # the first text waiting for quiet hours to end

    @property
    def done(self) -> int:
        return self.handed_off + sum(self.skipped.values())

    @property
    def progress(self) -> float:
        return round(100 * self.done / self.total, 1) if self.total else 0.0


def figures(campaign: SmsCampaign) -> CampaignFigures:
    counts = campaigns.recipient_counts(campaign.id)
    skipped = dict(
        db.session.execute(
            select(_rec.c.skip_reason, func.count())
            .where(_rec.c.campaign_id == campaign.id, _rec.c.status == "skipped")
            .group_by(_rec.c.skip_reason)
        ).all()
    )
    segments = db.session.scalar(
        select(func.coalesce(func.sum(_rec.c.segments), 0)).where(
            _rec.c.campaign_id == campaign.id, _rec.c.status.in_(DONE)
        )
    )
    errors = db.session.execute(
        select(_rec.c.error_code, func.count())
        .where(_rec.c.campaign_id == campaign.id, _rec.c.error_code.is_not(None))
        .group_by(_rec.c.error_code)
        .order_by(func.count().desc())
        .limit(8)
    ).all()
    sms = settings.settings_of(campaign.workspace_id)
    delivered = counts.get("delivered", 0)
    failed = counts.get("failed", 0) + counts.get("undelivered", 0)
    known = delivered + failed
    return CampaignFigures(
        counts=counts,
        total=sum(counts.values()),
        handed_off=sum(counts.get(s, 0) for s in DONE),
        delivered=delivered,
        failed=failed,
        skipped=skipped,
        segments=int(segments or 0),
        cost=(campaigns.segment_price(campaign) * int(segments or 0)).quantize(Decimal("0.01")),
        currency=sms.currency,
        delivery_rate=round(100 * delivered / known, 1) if known else None,
        errors=[(callbacks.twilio_error(code), n) for code, n in errors],
        held_until=lifecycle.held_until(campaign.id) if campaign.status == "sending" else None,
    )


def status_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Recipients by status for each of these campaigns, in one GROUP BY (the campaigns list)."""
    counts: dict[int, dict[str, int]] = {campaign_id: {} for campaign_id in campaign_ids}
    if campaign_ids:
        rows = db.session.execute(
            select(_rec.c.campaign_id, _rec.c.status, func.count())
            .where(_rec.c.campaign_id.in_(campaign_ids))
            .group_by(_rec.c.campaign_id, _rec.c.status)
        )
        for campaign_id, status, n in rows:
            counts[campaign_id][status] = n
    return counts


def draft_estimate(workspace_id: int, body: str, targets: dict) -> campaigns.Estimate:
    """What a campaign not saved yet would reach and cost (the form's live estimate); raises
    ValidationError when a target is not one of the workspace's lists or segments."""
    cleaned = {name: email_audience.clean_ids(workspace_id, name, targets.get(name)) for name in email_audience.TARGETS}
    draft = SmsCampaign(
        workspace_id=workspace_id, body=body or "", audience=email_audience.Audience.of(cleaned).as_dict()
    )
    return campaigns.estimate(workspace_id, draft)


def recipients(campaign_id: int, status: str | None = None, page: int = 1) -> tuple[list[dict], int]:
    """A page of the campaign's recipients, in the order they were written, and how many match."""
    s = Subscriber.__table__
    where = [_rec.c.campaign_id == campaign_id]
    if status:
        where.append(_rec.c.status == status)
    total = db.session.scalar(select(func.count()).select_from(_rec).where(*where)) or 0
    rows = db.session.execute(
        select(_rec, s.c.email, s.c.name)
        .join(s, s.c.id == _rec.c.subscriber_id)
        .where(*where)
        .order_by(_rec.c.id)
        .limit(PAGE)
        .offset(max(page - 1, 0) * PAGE)
    ).mappings()
    return [dict(r) for r in rows], total


def inbound(workspace_id: int, page: int = 1, keyword: str | None = None) -> tuple[list[dict], int]:
    """Texts people sent, newest first, with who sent them when Herald knows."""
    s = Subscriber.__table__
    i = SmsInbound.__table__
    where = [i.c.workspace_id == workspace_id]
    if keyword == "reply":
        where.append(i.c.keyword.is_(None))
    elif keyword:
        where.append(i.c.keyword == keyword)
    total = db.session.scalar(select(func.count()).select_from(i).where(*where)) or 0
    rows = db.session.execute(
        select(i, s.c.email, s.c.name)
        .outerjoin(s, s.c.id == i.c.subscriber_id)
        .where(*where)
        .order_by(i.c.received_at.desc(), i.c.id.desc())
        .limit(PAGE)
        .offset(max(page - 1, 0) * PAGE)
    ).mappings()
    return [dict(r) for r in rows], total


def texts_of(subscriber_id: int, limit: int = 20) -> list[dict]:
    """A person's latest texts, sent and received, for their page."""
    sent = db.session.execute(
        select(_rec.c.id, _rec.c.body, _rec.c.status, _rec.c.sent_at.label("at"), _rec.c.campaign_id)
        .where(_rec.c.subscriber_id == subscriber_id, _rec.c.sent_at.is_not(None))
        .order_by(_rec.c.sent_at.desc())
        .limit(limit)
    ).mappings()
    received = db.session.execute(
        select(SmsInbound.id, SmsInbound.body, SmsInbound.keyword, SmsInbound.received_at.label("at"))
        .where(SmsInbound.subscriber_id == subscriber_id)
        .order_by(SmsInbound.received_at.desc())
        .limit(limit)
    ).mappings()
    items = [{"direction": "out", **r} for r in sent] + [{"direction": "in", **r} for r in received]
    return sorted(items, key=lambda r: r["at"], reverse=True)[:limit]
