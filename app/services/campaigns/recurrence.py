"""When a recurring series runs: its schedule checked, stored and turned into dates.

The recurrence is stored on the parent campaign as JSON::

    {"frequency": "weekly", "days": [0], "time": "09:00", "timezone": "Europe/Berlin", "until": "2027-06-30"}

`frequency` is daily, weekly (on `days`, Monday = 0) or monthly (on `day_of_month`; in a
shorter month, its last day). `time` is wall-clock time in `timezone`, so a 09:00 Berlin run
stays at 09:00 in Berlin across daylight-saving changes. `until` (optional, inclusive) is a
date in that timezone.

Pure schedule arithmetic and validation, read by drafts (validation), the lifecycle (resume)
and the series runner (recurring.py); it starts nothing itself.
"""

import calendar
from datetime import date, datetime, timedelta, timezone

from app.extensions import db
from app.models import Campaign
from app.services.campaigns.send_windows import DAY_NAMES, format_time, parse_time, zone
from app.services.errors import ValidationError
from app.services.ids import is_timezone, parse_int

FREQUENCIES = ("daily", "weekly", "monthly")
FIELD = "recurrence"
_KEYS = ("frequency", "days", "day_of_month", "time", "timezone", "until")


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
