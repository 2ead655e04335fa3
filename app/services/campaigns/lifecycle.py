"""A campaign's lifecycle as a state machine (API.md): draft → scheduled → sending → sent;
paused from scheduled or sending; cancelled from paused or scheduled.

An action the current state does not allow raises InvalidState (409) naming that state.
Workers look at the status between two messages, so pause and cancel take effect there;
what a paused batch had claimed but not handed off goes back to pending.
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, exists, func, or_, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Subscriber, Suppression
from app.services.campaigns import ab_tests, audience
from app.services.campaigns.dispatch import enqueue_prepare
from app.services.campaigns.drafts import get_campaign
from app.services.campaigns.outcomes import RESENDABLE_REASONS
from app.services.campaigns.recurrence import reschedule_series
from app.services.campaigns.send_checks import RENDER_FAILED, RENDER_PAUSED, preflight
from app.services.content.templates import get_template
from app.services.errors import InvalidState, ValidationError
from app.services.events import rollups
from app.services.platform import audit

# action: the states it may start from
ALLOWED = {
    "send": ("draft",),
    "schedule": ("draft", "scheduled"),
    "unschedule": ("scheduled",),
    "pause": ("scheduled", "sending"),
    "resume": ("paused",),
    "cancel": ("scheduled", "paused"),
}
PAST_TENSE = {
    "send": "sent",
    "schedule": "scheduled",
    "unschedule": "unscheduled",
    "pause": "paused",
    "resume": "resumed",
    "cancel": "cancelled",
}
MAX_SCHEDULE_AHEAD = timedelta(days=366)
# A scheduled start is picked up by a periodic job: a time closer than this could pass before
# the campaign is even saved, so the rule is stated to people as "at least a minute from now".
MIN_SCHEDULE_AHEAD = timedelta(minutes=1)
EMPTY_AUDIENCE = "The chosen lists and segments have no subscribers yet: add or import some, or change the audience."
SCHEDULE_TOO_SOON = "Choose a time at least a minute from now"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def require(campaign: Campaign, action: str) -> None:
    if campaign.status not in ALLOWED[action]:
        can = " or ".join(ALLOWED[action])
        raise InvalidState(
            f"This campaign is {campaign.status}: only a {can} campaign can be {PAST_TENSE[action]}.",
            {"status": campaign.status},
        )


def lock_campaign(workspace_id: int, campaign_id: int) -> Campaign:
    """The campaign, locked for this transaction (two clicks on Pause and Resume do not race)."""
    campaign = get_campaign(workspace_id, campaign_id)
    db.session.refresh(campaign, with_for_update=True)
    return campaign


def start(campaign: Campaign) -> None:
    """Freeze the content and queue the audience's materialization (after commit)."""
    size = audience.campaign_size(campaign.workspace_id, campaign.id)
    if size == 0:
        raise ValidationError(EMPTY_AUDIENCE, {"list_ids": "No subscribers."})
    freeze_content(campaign, size)
    campaign.status = "sending"
    campaign.started_at = _now()
    campaign.last_error = None
    db.session.flush()
    enqueue_prepare(campaign.id)


def freeze_content(campaign: Campaign, audience: int) -> None:
    """Snapshot the template (and each A/B variant), then render it for a few real recipients:
    a template that fails for them is refused now (ValidationError), before anyone is sent anything."""
    campaign.snapshot = template_content(get_template(campaign.workspace_id, campaign.template_id))
    ab_tests.on_start(campaign, audience)  # an A/B test freezes its variants too
    variants = [v.snapshot for v in ab_tests.list_variants(campaign.id) if v.snapshot] if campaign.ab_test else []
    preflight(campaign, [campaign.snapshot, *variants])


def template_content(tpl) -> dict:
    return {
        "subject": tpl.subject,
        "body_html": tpl.body_html,
        "body_text": tpl.body_text,
        "preview_text": tpl.preview_text,
        "template_id": tpl.id,
        "template_version": tpl.version,
    }


def _refreeze_after_template_failure(campaign: Campaign) -> None:
    """A campaign paused because its template failed for everyone it tried (nobody was sent
    anything): take the template as it is now, check it, and give the people it failed for
    their turn again. Still failing: the resume is refused with the reason."""
    campaign.snapshot = template_content(get_template(campaign.workspace_id, campaign.template_id))
    contents = [campaign.snapshot]
    for v in ab_tests.list_variants(campaign.id) if campaign.ab_test else []:
        tpl = get_template(campaign.workspace_id, v.template_id or campaign.template_id)
        fresh = template_content(tpl)
        v.snapshot = {**(v.snapshot or {}), **fresh, "subject": v.subject or tpl.subject}
        v.snapshot["preview_text"] = v.preview_text or tpl.preview_text
        contents.append(v.snapshot)
    preflight(campaign, contents)
    cr = CampaignRecipient
    db.session.execute(
        update(cr)
        .where(cr.campaign_id == campaign.id, cr.status == "failed", cr.reason.startswith(RENDER_FAILED))
        .values(status="pending", reason=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    rollups.rebuild([campaign.id])  # their failures are undone (rare: the campaign is recounted)
    campaign.last_error = None


def _refuse_series(campaign: Campaign) -> None:
    """A recurring campaign only sends through its runs (app/services/campaigns/recurring.py)."""
    if campaign.recurrence:
        raise ValidationError(
            "This campaign repeats: start it with “Start recurring”, or remove the repetition to send it once.",
            {"recurrence": "Set: the campaign is sent by its runs."},
        )


def send_now(workspace_id: int, campaign_id: int) -> Campaign:
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "send")
    _refuse_series(campaign)
    start(campaign)
    audit.record(workspace_id, "campaign.send", "campaign", campaign.id, {"name": campaign.name})
    return campaign


def parse_when(value, tz_name: str) -> datetime:
    """An ISO date-time; without an offset it is read in the workspace's timezone."""
    from zoneinfo import ZoneInfo

    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value or "").strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                "Give the date and time to send, e.g. 2026-12-01T09:00.", {"scheduled_at": "not a date and time"}
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz_name or "UTC"))
    return when.astimezone(timezone.utc)


def too_soon(tz_name: str) -> str:
    """The refusal of a time too close, with the clock it is measured against (a wrong timezone shows)."""
    from zoneinfo import ZoneInfo

    tz = tz_name or "UTC"
    now = _now().astimezone(ZoneInfo(tz)).strftime("%H:%M")
    return f"{SCHEDULE_TOO_SOON} (it is {now} now in {tz})."


def schedule(workspace_id: int, campaign_id: int, scheduled_at, tz_name: str = "UTC") -> Campaign:
    """Send at a given time; the scheduler starts it when due (content is frozen then)."""
    when = parse_when(scheduled_at, tz_name)
    if when < _now() + MIN_SCHEDULE_AHEAD:
        raise ValidationError(too_soon(tz_name), {"scheduled_at": "At least a minute from now."})
    if when > _now() + MAX_SCHEDULE_AHEAD:
        raise ValidationError("Choose a time within a year.", {"scheduled_at": "too far ahead"})
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "schedule")
    _refuse_series(campaign)
    if audience.campaign_size(workspace_id, campaign.id) == 0:
        raise ValidationError(EMPTY_AUDIENCE, {"list_ids": "No subscribers."})
    _check_template_now(campaign)
    campaign.scheduled_at = when
    campaign.status = "scheduled"
    db.session.flush()
    detail = {"name": campaign.name, "scheduled_at": when.isoformat()}
    audit.record(workspace_id, "campaign.schedule", "campaign", campaign.id, detail)
    return campaign


def _check_template_now(campaign: Campaign) -> None:
    """A schedule is refused at once when the template fails for real recipients (it is checked
    again when the scheduled start fires, as the template may change until then)."""
    preflight(campaign, [template_content(get_template(campaign.workspace_id, campaign.template_id))])


def unschedule(workspace_id: int, campaign_id: int) -> Campaign:
    """Back to a draft that can be edited."""
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "unschedule")
    campaign.status = "draft"
    campaign.scheduled_at = None
    campaign.next_run_at = None  # a recurring series stops; "Start recurring" begins it again
    db.session.flush()
    return campaign


def pause(workspace_id: int, campaign_id: int) -> Campaign:
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "pause")
    campaign.status = "paused"
    campaign.paused_at = _now()
    db.session.flush()
    return campaign


def resume(workspace_id: int, campaign_id: int) -> Campaign:
    """A paused send goes on where it stopped; a paused schedule is scheduled again (or starts if due)."""
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "resume")
    campaign.paused_at = None
    if campaign.recurrence:  # a series goes on from its next run; missed runs are skipped
        return reschedule_series(campaign)
    if campaign.started_at is None:
        if campaign.scheduled_at and campaign.scheduled_at > _now():
            campaign.status = "scheduled"
            db.session.flush()
        else:
            start(campaign)
        return campaign
    if (campaign.last_error or "").startswith(RENDER_PAUSED):
        _refreeze_after_template_failure(campaign)
    campaign.status = "sending"
    campaign.send_round = (campaign.send_round or 0) + 1
    db.session.flush()
    enqueue_prepare(campaign.id, campaign.send_round)
    return campaign


def cancel(workspace_id: int, campaign_id: int) -> Campaign:
    """Stop for good: whoever was not sent yet is listed as not sent, with the reason."""
    campaign = lock_campaign(workspace_id, campaign_id)
    require(campaign, "cancel")
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status.in_(("pending", "held")))
        .values(status="failed", reason="cancelled before sending")
        .execution_options(synchronize_session=False)
    )
    campaign.status = "cancelled"
    campaign.completed_at = _now()
    campaign.next_run_at = None  # a recurring series ends: no more runs
    db.session.flush()
    audit.record(workspace_id, "campaign.cancel", "campaign", campaign.id, {"name": campaign.name})
    return campaign


def start_due_campaigns(now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (the scheduler calls this)."""
    now = now or _now()
    due = list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)
            .order_by(Campaign.scheduled_at)
            .limit(100)
            .with_for_update(skip_locked=True)
        )
    )
    started = []
    for campaign in due:
        try:
            with db.session.begin_nested():
                start(campaign)
            started.append(campaign.id)
        except ValidationError as exc:
            campaign.status = "paused"
            campaign.paused_at = now
            campaign.last_error = f"Not started at its scheduled time: {exc.message}"
    db.session.flush()
    return started


def resend_unknown(workspace_id: int, campaign_id: int) -> int:
    """The marketer's decision to send again to recipients whose hand-off is unknown.

    Only by hand: the provider may already have delivered those messages.
    """
    return resend(workspace_id, campaign_id, include_failed=False)


def resend_undelivered(workspace_id: int, campaign_id: int) -> int:
    """Send again to everyone the campaign did not reach for reasons that were not theirs:
    hand-off unknown, refused for now until Herald gave up (4xx), or the sender blocked (5.7.x).
    Bounced, suppressed and unsubscribed people are never included."""
    return resend(workspace_id, campaign_id, include_failed=True)


def undelivered_condition(include_failed: bool = True):
    """Rows a resend may pick: see resend_undelivered."""
    cr = CampaignRecipient
    condition = cr.status == "unknown"
    if include_failed:
        condition = or_(
            condition, and_(cr.status == "failed", or_(*(cr.reason.startswith(r) for r in RESENDABLE_REASONS)))
        )
    return condition


def count_undelivered(campaign_id: int) -> int:
    """Failed rows a resend would pick (the unknown ones are counted apart)."""
    cr = CampaignRecipient
    return db.session.scalar(
        select(func.count()).where(cr.campaign_id == campaign_id, cr.status == "failed", undelivered_condition(True))
    )


def resend(workspace_id: int, campaign_id: int, include_failed: bool) -> int:
    campaign = lock_campaign(workspace_id, campaign_id)
    if campaign.status not in ("sending", "sent", "paused"):
        require(campaign, "resume")
    cr = CampaignRecipient
    # Whoever unsubscribed, bounced or was suppressed since is left alone.
    still_reachable = exists().where(
        Subscriber.id == cr.subscriber_id, Subscriber.status == "active"
    ) & ~exists().where(Suppression.workspace_id == campaign.workspace_id, Suppression.email == cr.email)
    count = db.session.execute(
        update(cr)
        .where(cr.campaign_id == campaign.id, undelivered_condition(include_failed), still_reachable)
        .values(status="pending", reason=None, claimed_at=None, attempts=0, retry_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if count:
        rollups.rebuild([campaign.id])  # their failures are undone (a marketer's click: the campaign is recounted)
    if count and campaign.status == "sent":
        campaign.status = "sending"
        campaign.completed_at = None
    if count and campaign.status == "sending":
        campaign.send_round = (campaign.send_round or 0) + 1
        enqueue_prepare(campaign.id, campaign.send_round)
    db.session.flush()
    return count
