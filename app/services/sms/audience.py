"""The recipient rows a start writes, in one INSERT … SELECT, and why people in the audience are skipped.

Only people with a number are in an SMS audience at all. Among them, the first reason wins:
the number opted out (STOP, error 21610, or the person's own `opted_out`), the person never
agreed to texts (`none`), or someone earlier in the audience has the same number (one text per
phone, not one per person sharing it).
"""

from datetime import datetime, timezone

from sqlalchemy import case, func, insert, literal, select

from app.extensions import db
from app.models import SmsCampaign, SmsOptOut, SmsRecipient, Subscriber
from app.services.automation.sql import insert_into
from app.services.campaigns import audience as email_audience

_sub = Subscriber.__table__
_opt = SmsOptOut.__table__
_rec = SmsRecipient.__table__
SKIP_REASONS = {
    "opted_out": "Opted out of texts",
    "no_consent": "Never agreed to texts",
    "duplicate_number": "Shares a number with someone texted",
    "no_phone": "No phone number",
    "cancelled": "The campaign was cancelled",
    "invalid_number": "Twilio refused the number",
    "render_failed": "The text could not be personalized",
}


def _people(campaign: SmsCampaign, condition):
    """The audience's people with a number, each with the reason they are skipped (None: texted)."""
    ranked = (
        select(
            _sub.c.id,
            _sub.c.phone,
            _sub.c.sms_status,
            func.row_number().over(partition_by=_sub.c.phone, order_by=_sub.c.id).label("nth"),
        )
        .where(condition, _sub.c.phone.is_not(None))
        .subquery("ranked")
    )
    opt = _opt.alias("opt")
    reason = case(
        (opt.c.phone.is_not(None), "opted_out"),
        (ranked.c.sms_status == "opted_out", "opted_out"),
        (ranked.c.sms_status != "subscribed", "no_consent"),
        (ranked.c.nth > 1, "duplicate_number"),
        else_=None,
    )
    joined = ranked.outerjoin(opt, (opt.c.workspace_id == campaign.workspace_id) & (opt.c.phone == ranked.c.phone))
    return ranked, reason, joined


def _condition(campaign: SmsCampaign):
    return email_audience.condition(campaign.workspace_id, email_audience.Audience.of(campaign.audience or {}))


def count_by_reason(campaign: SmsCampaign) -> dict:
    """People in the audience by what would happen to them: None (texted) or a skip reason."""
    if email_audience.Audience.of(campaign.audience or {}).empty:
        return {}
    condition = _condition(campaign)
    ranked, reason, joined = _people(campaign, condition)
    counts = {r: n for r, n in db.session.execute(select(reason, func.count()).select_from(joined).group_by(reason))}
    no_phone = db.session.scalar(select(func.count()).where(condition, _sub.c.phone.is_(None))) or 0
    if no_phone:
        counts["no_phone"] = no_phone
    return counts


def materialize(campaign: SmsCampaign) -> int:
    """Write a row for everyone in the audience with a number: `pending`, or `skipped` with the reason."""
    ranked, reason, joined = _people(campaign, _condition(campaign))
    now = datetime.now(timezone.utc)
    rows = select(
        literal(campaign.id),
        literal(campaign.workspace_id),
        ranked.c.id,
        ranked.c.phone,
        case((reason.is_not(None), "skipped"), else_="pending"),
        reason,
        literal(0),
        literal(now, type_=SmsRecipient.created_at.type),
    ).select_from(joined)
    columns = ["campaign_id", "workspace_id", "subscriber_id", "phone", "status", "skip_reason", "status_rank"]
    db.session.execute(insert(_rec).from_select([*columns, "created_at"], rows.order_by(ranked.c.id)))
    return db.session.scalar(select(func.count()).where(_rec.c.campaign_id == campaign.id)) or 0


def add_people(campaign: SmsCampaign, people: dict[int, dict | None]) -> int:
    """Rows for these people (subscriber id -> the flow's context for their text), for a flow's SMS
    step: the same skip reasons, no row twice (the unique key). Returns the rows added."""
    if not people:
        return 0
    condition = (_sub.c.workspace_id == campaign.workspace_id) & _sub.c.id.in_(list(people))
    ranked, reason, joined = _people(campaign, condition)
    found = db.session.execute(select(ranked.c.id, ranked.c.phone, reason).select_from(joined)).all()
    now = datetime.now(timezone.utc)
    values = [
        {
            "campaign_id": campaign.id,
            "workspace_id": campaign.workspace_id,
            "subscriber_id": sid,
            "phone": phone,
            "status": "skipped" if why and why != "duplicate_number" else "pending",
            "skip_reason": why if why != "duplicate_number" else None,
            "status_rank": 0,
            "context": people[sid],
            "created_at": now,
        }
        for sid, phone, why in found
    ]
    if values:  # a row already there (a step run again) stays as it is
        stmt = insert_into(_rec).on_conflict_do_nothing(index_elements=["campaign_id", "subscriber_id"])
        db.session.execute(stmt, values)
    return len(values)
