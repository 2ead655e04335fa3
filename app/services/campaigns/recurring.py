"""Recurring campaigns: a parent campaign holds a schedule; each run is a child campaign.

The schedule (stored on the parent as JSON) is checked and turned into dates in recurrence.py.

The parent's status says where the series stands: `draft` until "Start recurring",
`scheduled` while runs remain (next_run_at is the next one), `paused` (no runs until resumed;
missed runs are skipped), `cancelled` (the series ended by hand) or `sent` (the last run
before `until` has started). The parent itself never sends: each run is a copy of it
(the settings marked `copied_to_runs` in settings.py: content, audience, sender, provider, send
window, tracking) started through the ordinary lifecycle, with its own recipients and figures,
and can be paused or cancelled on its own.
"""

from datetime import datetime, timezone

from sqlalchemy import case, func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, CampaignVariant
from app.services.campaigns import audience, lifecycle
from app.services.campaigns.recurrence import FIELD, next_run
from app.services.campaigns.send_windows import zone
from app.services.campaigns.settings import run_values
from app.services.errors import InvalidState, ValidationError
from app.services.platform import audit

MAX_DUE_PER_PASS = 100


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Lifecycle ------------------------------------------------------------------------------------


def start_recurring(workspace_id: int, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Start a draft's series: it becomes `scheduled` with its first run at next_run_at."""
    now = now or _now()
    campaign = lifecycle.lock_campaign(workspace_id, campaign_id)
    if campaign.status != "draft":
        raise InvalidState(
            f"This campaign is {campaign.status}: only a draft can start a recurring series.",
            {"status": campaign.status},
        )
    if not campaign.recurrence:
        raise ValidationError(
            "Say how often this campaign repeats first (edit it: Repeat).",
            {FIELD: "Not set: the campaign is sent once."},
        )
    if audience.campaign_size(workspace_id, campaign.id) == 0:
        raise ValidationError(lifecycle.EMPTY_AUDIENCE, {"list_ids": "No subscribers."})
    first = next_run(campaign.recurrence, now)
    if first is None:
        raise ValidationError(
            "The series would end before its first run: move the last day later.",
            {f"{FIELD}.until": "Before the first run."},
        )
    campaign.status = "scheduled"
    campaign.next_run_at = first
    campaign.scheduled_at = None
    campaign.completed_at = None
    campaign.last_error = None
    db.session.flush()
    detail = {"name": campaign.name, "recurring": True, "first_run": first.isoformat()}
    audit.record(workspace_id, "campaign.schedule", "campaign", campaign.id, detail)
    return campaign


def run_due(now: datetime | None = None) -> list[int]:
    """Create and start one run for every series whose next run is due (the scheduler calls this).

    Exactly once per run, however many schedulers call it at the same time: the run belongs
    to whoever moves next_run_at on from the value it read (a conditional UPDATE; a second
    caller's UPDATE matches nothing). After downtime a series runs once, for its latest due
    run, and moves on to its next run after now: missed runs are skipped, never sent in a burst.
    """
    now = now or _now()
    due = db.session.execute(
        select(Campaign.id, Campaign.next_run_at)
        .where(Campaign.status == "scheduled", Campaign.next_run_at <= now)
        .order_by(Campaign.next_run_at, Campaign.id)
        .limit(MAX_DUE_PER_PASS)
    ).all()
    runs = []
    for parent_id, due_at in due:
        parent = db.session.get(Campaign, parent_id)
        if not parent.recurrence:  # the schedule was removed under us: nothing to run
            continue
        following = next_run(parent.recurrence, now)
        ended = {"status": "sent", "completed_at": now} if following is None else {}
        moved = db.session.execute(
            update(Campaign)
            .where(Campaign.id == parent_id, Campaign.status == "scheduled", Campaign.next_run_at == due_at)
            .values(next_run_at=following, **ended)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            continue  # another scheduler took this run
        db.session.refresh(parent)
        runs.append(_start_run(parent, due_at).id)
    db.session.flush()
    return runs


def _start_run(parent: Campaign, due_at: datetime) -> Campaign:
    """The child campaign of one run, started through the ordinary lifecycle."""
    label = due_at.astimezone(zone(parent.recurrence["timezone"])).strftime("%d %b %Y")
    suffix = f" — {label}"
    child = Campaign(
        workspace_id=parent.workspace_id,
        name=parent.name[: 200 - len(suffix)] + suffix,
        category=parent.category,
        parent_id=parent.id,
        status="draft",
        **run_values(parent),
    )
    db.session.add(child)
    db.session.flush()
    audience.copy(parent.id, child.id)
    if parent.ab_test:
        # Each run is tested on its own: the variants are copied, the winner picked per run.
        child.ab_test = dict(parent.ab_test)
        variants = db.session.scalars(
            select(CampaignVariant).where(CampaignVariant.campaign_id == parent.id).order_by(CampaignVariant.label)
        ).all()
        for v in variants:
            db.session.add(
                CampaignVariant(
                    campaign_id=child.id,
                    label=v.label,
                    subject=v.subject,
                    from_name=v.from_name,
                    preview_text=v.preview_text,
                    template_id=v.template_id,
                )
            )
        db.session.flush()
    try:
        with db.session.begin_nested():
            lifecycle.start(child)
        parent.last_error = None
    except ValidationError as exc:
        # Like a scheduled campaign that cannot start: the run waits, paused, saying why.
        child.status, child.paused_at = "paused", _now()
        child.last_error = f"Not started at its scheduled time: {exc.message}"
        parent.last_error = f"The run “{child.name}” could not start: {exc.message}"
    db.session.flush()
    return child


# Reporting ------------------------------------------------------------------------------------


def runs_query(parent_id: int):
    """The runs of a series, newest first."""
    return select(Campaign).where(Campaign.parent_id == parent_id).order_by(Campaign.id.desc())


def with_figures(runs: list[Campaign]) -> list[dict]:
    """Each run with its sent/open/click figures, from one aggregate query (no query per run)."""
    cr = CampaignRecipient
    figures = {
        row.campaign_id: row
        for row in db.session.execute(
            select(
                cr.campaign_id,
                func.count(cr.sent_at).label("sent"),
                func.count(cr.human_opened_at).label("opens"),  # people's (events/verdicts.py)
                func.count(cr.human_clicked_at).label("clicks"),
                func.coalesce(func.sum(case((cr.status == "pending", 1), else_=0)), 0).label("pending"),
            )
            .where(cr.campaign_id.in_([c.id for c in runs]))
            .group_by(cr.campaign_id)
        )
    }
    result = []
    for run in runs:
        row = figures.get(run.id)
        result.append(
            {
                "campaign": run,
                "sent": row.sent if row else 0,
                "unique_opens": row.opens if row else 0,
                "unique_clicks": row.clicks if row else 0,
                "pending": row.pending if row else 0,
            }
        )
    return result


def count_runs(parent_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Campaign.parent_id == parent_id)) or 0
