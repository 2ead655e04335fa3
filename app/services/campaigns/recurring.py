"""Recurring campaigns: a parent campaign holds a schedule; each run is a child campaign.

The recurrence is stored on the parent as JSON::

    {"frequency": "weekly", "days": [0], "time": "09:00", "timezone": "Europe/Berlin", "until": "2027-06-30"}

`frequency` is daily, weekly (on `days`, Monday = 0) or monthly (on `day_of_month`; in a
shorter month, its last day). `time` is wall-clock time in `timezone`, so a 09:00 Berlin run
stays at 09:00 in Berlin across daylight-saving changes. `until` (optional, inclusive) is a
date in that timezone.

The parent's status says where the series stands: `draft` until "Start recurring",
`scheduled` while runs remain (next_run_at is the next one), `paused` (no runs until resumed;
missed runs are skipped), `cancelled` (the series ended by hand) or `sent` (the last run
before `until` has started). The parent itself never sends: each run is a copy of it
(content, audience, sender, provider, send window, tracking) started through the ordinary
lifecycle, with its own recipients and figures, and can be paused or cancelled on its own.
"""

import calendar
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import case, func, insert, literal, select, update

from app.extensions import db
from app.models import Campaign, CampaignList, CampaignRecipient, CampaignVariant
from app.services.campaigns.send_windows import DAY_NAMES, format_time, parse_time, zone
from app.services.errors import InvalidState, ValidationError
from app.services.ids import is_timezone, parse_int

FREQUENCIES = ("daily", "weekly", "monthly")
FIELD = "recurrence"
_KEYS = ("frequency", "days", "day_of_month", "time", "timezone", "until")
MAX_DUE_PER_PASS = 100


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Validation -----------------------------------------------------------------------------------


def _date(value) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def clean_recurrence(value, default_timezone: str = "UTC", field: str = FIELD) -> dict | None:
    """The recurrence to store, normalized, or None (the campaign is sent once). Raises
    ValidationError naming each wrong part (`recurrence.frequency`, `recurrence.time`, ...)."""
    if value is None or value == {} or value is False:
        return None
    if not isinstance(value, dict):
        raise ValidationError(
            "The recurrence must be an object with frequency, time and timezone.", {field: "Not an object."}
        )
    errors = {f"{field}.{k}": "Unknown field." for k in value if k not in _KEYS}
    clean: dict = {}
    frequency = value.get("frequency")
    if frequency not in FREQUENCIES:
        errors[f"{field}.frequency"] = "Choose daily, weekly or monthly."
    clean["frequency"] = frequency
    if frequency == "weekly":
        days = value.get("days")
        if not isinstance(days, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
            errors[f"{field}.days"] = "Days are numbers from 0 (Monday) to 6 (Sunday)."
        elif not days:
            errors[f"{field}.days"] = "Choose at least one day of the week."
        elif any(d < 0 or d > 6 for d in days):
            errors[f"{field}.days"] = "Days are numbers from 0 (Monday) to 6 (Sunday)."
        else:
            clean["days"] = sorted(set(days))
    if frequency == "monthly":
        dom = value.get("day_of_month")
        if isinstance(dom, str):
            dom = parse_int(dom, max_digits=2)
        if not isinstance(dom, int) or isinstance(dom, bool) or not 1 <= dom <= 31:
            errors[f"{field}.day_of_month"] = "Give a day of the month from 1 to 31 (in shorter months: the last day)."
        else:
            clean["day_of_month"] = dom
    at = parse_time(value.get("time"))
    if at is None or at == 24 * 60:
        errors[f"{field}.time"] = "Give the time of day to send, e.g. 09:00."
    else:
        clean["time"] = format_time(at)
    tz = value.get("timezone") or default_timezone
    if not is_timezone(tz):
        errors[f"{field}.timezone"] = f"'{str(tz)[:60]}' is not a timezone: use a name such as Europe/Berlin."
    clean["timezone"] = tz
    until = value.get("until")
    if until not in (None, ""):
        parsed = _date(until)
        if parsed is None:
            errors[f"{field}.until"] = "Give the last day as a date, e.g. 2027-06-30."
        else:
            clean["until"] = parsed.isoformat()
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the recurrence.", errors)
    return clean


# Arithmetic -----------------------------------------------------------------------------------


def _runs_on(rec: dict, day: date) -> bool:
    if rec["frequency"] == "weekly":
        return day.weekday() in rec["days"]
    if rec["frequency"] == "monthly":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(rec["day_of_month"], last)
    return True


def next_run(recurrence: dict, after: datetime) -> datetime | None:
    """The first run strictly after `after` (UTC), or None once the series is past `until`.

    Runs are wall-clock times in the recurrence's timezone (zoneinfo): across a DST change
    09:00 stays 09:00 local. A time the clock skips (02:30 on a spring-forward night) runs at
    the same wall time read with the old offset (03:30); a repeated one runs the first time.
    """
    tz = zone(recurrence["timezone"])
    minutes = parse_time(recurrence["time"])
    until = _date(recurrence["until"]) if recurrence.get("until") else None
    day = after.astimezone(tz).date()
    for ahead in range(400):  # a monthly run on the 31st is at most a month away
        candidate_day = day + timedelta(days=ahead)
        if until is not None and candidate_day > until:
            return None
        if not _runs_on(recurrence, candidate_day):
            continue
        local = datetime(
            candidate_day.year, candidate_day.month, candidate_day.day, minutes // 60, minutes % 60, tzinfo=tz
        )
        run = local.astimezone(timezone.utc)
        if run > after:
            return run
    return None


def upcoming(recurrence: dict) -> datetime | None:
    """The series' next run from now (for a draft: when its first run would be)."""
    return next_run(recurrence, _now())


def describe(recurrence: dict | None) -> str:
    """'Every Mon at 09:00 (Europe/Berlin), until 30 Jun 2027' for the pages."""
    if not recurrence:
        return "Sent once"
    freq = recurrence["frequency"]
    if freq == "daily":
        when = "Every day"
    elif freq == "weekly":
        days = recurrence.get("days") or []
        when = "Every " + (", ".join(DAY_NAMES[d] for d in days) if len(days) < 7 else "day")
    else:
        dom = recurrence.get("day_of_month")
        when = f"Monthly on day {dom}" + (" (or the month's last day)" if dom and dom > 28 else "")
    text = f"{when} at {recurrence['time']} ({recurrence['timezone']})"
    if recurrence.get("until"):
        text += f", until {_date(recurrence['until']):%d %b %Y}"
    return text


# Lifecycle ------------------------------------------------------------------------------------


def start_recurring(workspace_id: int, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Start a draft's series: it becomes `scheduled` with its first run at next_run_at."""
    from app.services.campaigns import lifecycle
    from app.services.campaigns.drafts import audience_size, campaign_list_ids

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
    if audience_size(workspace_id, campaign_list_ids(campaign.id)) == 0:
        raise ValidationError(
            "The chosen lists have no subscribers yet: add or import some first.", {"list_ids": "No subscribers."}
        )
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
    return campaign


def reschedule_series(campaign: Campaign, now: datetime | None = None) -> Campaign:
    """A resumed series goes on from its next run after now: runs missed while paused are skipped."""
    now = now or _now()
    following = next_run(campaign.recurrence, now)
    campaign.paused_at = None
    if following is None:
        campaign.status, campaign.next_run_at, campaign.completed_at = "sent", None, now
    else:
        campaign.status, campaign.next_run_at = "scheduled", following
    db.session.flush()
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
    from app.services.campaigns import lifecycle

    label = due_at.astimezone(zone(parent.recurrence["timezone"])).strftime("%d %b %Y")
    suffix = f" — {label}"
    child = Campaign(
        workspace_id=parent.workspace_id,
        name=parent.name[: 200 - len(suffix)] + suffix,
        template_id=parent.template_id,
        provider_id=parent.provider_id,
        from_name=parent.from_name,
        from_email=parent.from_email,
        reply_to=parent.reply_to,
        category=parent.category,
        track_opens=parent.track_opens,
        track_clicks=parent.track_clicks,
        send_window=parent.send_window,
        parent_id=parent.id,
        status="draft",
    )
    db.session.add(child)
    db.session.flush()
    db.session.execute(
        insert(CampaignList).from_select(
            ["campaign_id", "list_id"],
            select(literal(child.id), CampaignList.list_id).where(CampaignList.campaign_id == parent.id),
        )
    )
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
                func.count(cr.opened_at).label("opens"),
                func.count(cr.clicked_at).label("clicks"),
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
