"""Send windows: the days and hours in which a campaign's messages may go out.

A window is stored on the campaign as JSON::

    {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}

Days count from Monday (0) to Sunday (6). A window whose end is before its start wraps past
midnight (22:00–06:00): the night belongs to the day it starts on, so "Fri 22:00–06:00" is
open until Saturday 06:00. `"timezone": "recipient"` reads each recipient's own timezone
(subscribers.timezone), falling back to the workspace's. Times are wall-clock minutes in
that timezone, so 09:00 stays 09:00 across a daylight-saving change.

Outside the window nothing is handed off: the recipient goes back to `pending` with
`retry_at` at the window's next opening (no attempt is counted, nothing fails) and the
scheduler's `requeue_due_retries` picks it up once due.
"""

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import bindparam, func, or_, select, update

from app.extensions import db
from app.models import CampaignRecipient, Subscriber, Workspace
from app.services.errors import ValidationError
from app.services.ids import is_timezone

RECIPIENT = "recipient"  # the window is read in each recipient's own timezone
REASON_PREFIX = "waiting for the send window"
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FIELD = "send_window"
_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_time(value, allow_24: bool = False) -> int | None:
    """'09:30' -> 570; None when it is not a time of day."""
    if not isinstance(value, str):
        return None
    parts = value.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() and len(p) <= 2 for p in parts[:2]):
        return None
    if len(parts) == 3 and parts[2] not in ("0", "00"):  # an <input type=time> may add seconds
        return None
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_24)):
        return None
    return hours * 60 + minutes


def format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Window:
    days: frozenset
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight, up to 1440 (24:00)
    timezone: str  # an IANA name, or RECIPIENT

    @classmethod
    def of(cls, data) -> "Window | None":
        """The window stored on a campaign (already validated), or None for "any time"."""
        if isinstance(data, Window) or data is None:
            return data
        if not data:
            return None
        return cls(frozenset(data["days"]), parse_time(data["start"]), parse_time(data["end"], True), data["timezone"])

    @property
    def wraps(self) -> bool:
        return self.end < self.start

    @property
    def per_recipient(self) -> bool:
        return self.timezone == RECIPIENT


# Validation -----------------------------------------------------------------------------------


def clean_window(value, default_timezone: str = "UTC", field: str = FIELD) -> dict | None:
    """The window to store, normalized, or None (no window: any time). Raises ValidationError
    naming each wrong part (`send_window.start`, `send_window.timezone`, ...)."""
    if value is None or value == {} or value is False:
        return None
    if not isinstance(value, dict):
        raise ValidationError(
            "The send window must be an object with days, start, end and timezone.", {field: "Not an object."}
        )
    errors = {}
    for key in value:
        if key not in ("days", "start", "end", "timezone"):
            errors[f"{field}.{key}"] = "Unknown field."
    days = value.get("days")
    if days is None:
        days = list(range(7))
    if not isinstance(days, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in days):
        errors[f"{field}.days"] = "Days are numbers from 0 (Monday) to 6 (Sunday)."
    elif not days:
        errors[f"{field}.days"] = "Choose at least one day."
    elif any(d < 0 or d > 6 for d in days):
        errors[f"{field}.days"] = "Days are numbers from 0 (Monday) to 6 (Sunday)."
    start = parse_time(value.get("start"))
    if start is None or start == 24 * 60:
        errors[f"{field}.start"] = "Give the start as a time of day, e.g. 09:00."
    end = parse_time(value.get("end"), allow_24=True)
    if end is None:
        errors[f"{field}.end"] = "Give the end as a time of day, e.g. 17:00 (24:00 for midnight)."
    elif start is not None and start == end:
        errors[f"{field}.end"] = (
            "The window starts and ends at the same time: end after the start (09:00–17:00), "
            "or before it to run past midnight (22:00–06:00)."
        )
    tz = value.get("timezone") or default_timezone
    if not (tz == RECIPIENT or is_timezone(tz)):
        errors[f"{field}.timezone"] = (
            f"'{str(tz)[:60]}' is not a timezone: use a name such as Europe/Berlin, or \"recipient\"."
        )
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the send window.", errors)
    return {"days": sorted(set(days)), "start": format_time(start), "end": format_time(end), "timezone": tz}


# Arithmetic -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    """Every IANA timezone name, sorted, for the pickers."""
    return sorted(n for n in available_timezones() if "/" in n or n == "UTC")


def _zone(tz) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else zone(tz)


def is_open(window, moment: datetime, tz) -> bool:
    """Whether messages may go out at `moment` (aware) in timezone `tz` (a name or ZoneInfo)."""
    w = Window.of(window)
    if w is None:
        return True
    local = moment.astimezone(_zone(tz))
    minute, weekday = local.hour * 60 + local.minute, local.weekday()
    if not w.wraps:
        return weekday in w.days and w.start <= minute < w.end
    # Past midnight: open from the start on a chosen day, and until the end on the day after one.
    return (weekday in w.days and minute >= w.start) or ((weekday - 1) % 7 in w.days and minute < w.end)


def _at(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """Wall-clock `minutes` on `day` in `tz`, as UTC. A time skipped by a spring-forward change
    (02:30) reads with the offset before it, i.e. just after the change (03:30)."""
    return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz).astimezone(timezone.utc)


def next_opening(window, moment: datetime, tz) -> datetime:
    """The first moment at or after `moment` at which the window is open (UTC)."""
    w = Window.of(window)
    if w is None or is_open(w, moment, tz):
        return moment
    z = _zone(tz)
    today = moment.astimezone(z).date()
    # Closed now: the next open moment is the start of a window on one of the chosen days.
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() in w.days:
            opening = _at(day, w.start, z)
            if opening > moment:
                return opening
    raise AssertionError("a window with at least one day opens within a week")


def describe(window) -> str:
    """'Mon–Fri, 09:00–17:00 (Europe/Berlin)' for the pages."""
    w = Window.of(window)
    if w is None:
        return "Any time"
    days = sorted(w.days)
    if len(days) == 7:
        when = "Every day"
    elif len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        when = f"{DAY_NAMES[days[0]]}–{DAY_NAMES[days[-1]]}"
    else:
        when = ", ".join(DAY_NAMES[d] for d in days)
    where = "each recipient's own timezone" if w.per_recipient else w.timezone
    return f"{when}, {format_time(w.start)}–{format_time(w.end)} ({where})"


def reason(opening: datetime, tz_name: str) -> str:
    local = opening.astimezone(zone(tz_name))
    return f"{REASON_PREFIX} (opens {DAY_NAMES[local.weekday()]} {local:%H:%M} {tz_name})"


# The send loop's view ---------------------------------------------------------------------------


class WindowGate:
    """A campaign's window as `send_batch` asks it. The state is computed once per timezone per
    minute (windows have minute granularity), so asking per message costs a dict lookup."""

    def __init__(self, window: Window, campaign_id: int, workspace_timezone: str):
        self.window = window
        self.campaign_id = campaign_id
        self.fallback = workspace_timezone if is_timezone(workspace_timezone) else "UTC"
        self._state: dict[str, tuple[int, dict | None]] = {}

    def timezone_for(self, subscriber_timezone) -> str:
        if not self.window.per_recipient:
            return self.window.timezone
        return subscriber_timezone if is_timezone(subscriber_timezone) else self.fallback

    def wait(self, tz_name: str, now: datetime | None = None) -> dict | None:
        """None while the window is open in `tz_name`, else {"at": next opening, "why": reason}."""
        if now is None:
            stamp = time.time()
            minute = int(stamp // 60)
            hit = self._state.get(tz_name)
            if hit is not None and hit[0] == minute:
                return hit[1]
            now = datetime.fromtimestamp(stamp, timezone.utc)
        else:
            minute = None
        state = None
        if not is_open(self.window, now, tz_name):
            opening = next_opening(self.window, now, tz_name)
            state = {"at": opening, "why": reason(opening, tz_name)}
        if minute is not None:
            self._state[tz_name] = (minute, state)
        return state

    def closed_for(self, subscriber: dict) -> dict | None:
        """For one recipient (a dict with its `timezone`): None to send now, else when and why to wait."""
        return self.wait(self.timezone_for(subscriber.get("timezone")))

    def hold_back(self, first_id: int, last_id: int, now: datetime | None = None) -> bool:
        """Put the range's pending recipients whose window is closed back until it opens, with one
        UPDATE per closed timezone rather than claiming them one by one. True when nobody in the
        range may be sent now (the batch can end)."""
        if not self.window.per_recipient:
            state = self.wait(self.window.timezone, now)
            if state is None:
                return False
            self._defer_range(first_id, last_id, state)
            return True
        moment = now or datetime.now(timezone.utc)
        due = (
            select(_sub.c.timezone, func.count())
            .select_from(_cr.join(_sub, _sub.c.id == _cr.c.subscriber_id))
            .where(*self._range(first_id, last_id), or_(_cr.c.retry_at.is_(None), _cr.c.retry_at <= moment))
            .group_by(_sub.c.timezone)
        )
        any_open = False
        for stored_tz, _count in db.session.execute(due).all():
            state = self.wait(self.timezone_for(stored_tz), now)
            if state is None:
                any_open = True
                continue
            who = _sub.c.timezone.is_(None) if stored_tz is None else _sub.c.timezone == stored_tz
            self._defer_range(first_id, last_id, state, select(_sub.c.id).where(who))
        return not any_open

    def _range(self, first_id: int, last_id: int) -> tuple:
        return (
            _cr.c.campaign_id == self.campaign_id,
            _cr.c.status == "pending",
            _cr.c.id >= first_id,
            _cr.c.id <= last_id,
        )

    def _defer_range(self, first_id: int, last_id: int, state: dict, subscribers=None) -> None:
        # A row already waiting longer (a 4xx retry due after the opening) keeps its own time.
        stmt = (
            update(_cr)
            .where(*self._range(first_id, last_id), or_(_cr.c.retry_at.is_(None), _cr.c.retry_at < state["at"]))
            .values(retry_at=state["at"], reason=state["why"], claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        if subscribers is not None:
            stmt = stmt.where(_cr.c.subscriber_id.in_(subscribers))
        db.session.execute(stmt)


def gate_for(campaign) -> WindowGate | None:
    """The campaign's window for the send loop, or None when it may send at any time."""
    window = Window.of(campaign.send_window)
    if window is None:
        return None
    tz = db.session.scalar(select(Workspace.timezone).where(Workspace.id == campaign.workspace_id))
    return WindowGate(window, campaign.id, tz or "UTC")


_wait_for_window = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status="pending", claimed_at=None, retry_at=bindparam("at"), reason=bindparam("why"))
)


def defer(rows: list[dict]) -> None:
    """Claimed rows whose window closed before their hand-off: back to pending until it opens.
    No attempt is counted: waiting for the window is neither a failure nor a retry."""
    if rows:
        db.session.execute(_wait_for_window, rows)


# What the campaign page and the API show --------------------------------------------------------


def waiting(campaign_id: int) -> dict:
    """{"recipients": how many wait for the window, "resumes_at": the earliest opening or None,
    "due": whether that opening has come (the scheduler requeues them within half a minute)}."""
    cr = CampaignRecipient
    count, resumes_at = db.session.execute(
        select(func.count(), func.min(cr.retry_at)).where(
            cr.campaign_id == campaign_id, cr.status == "pending", cr.reason.startswith(REASON_PREFIX)
        )
    ).one()
    if resumes_at is not None and resumes_at.tzinfo is None:  # SQLite drops the offset of an aggregate
        resumes_at = resumes_at.replace(tzinfo=timezone.utc)
    due = resumes_at is not None and resumes_at <= datetime.now(timezone.utc)  # requeued within a minute
    return {"recipients": count or 0, "resumes_at": resumes_at, "due": due}
