"""Send-window and recurrence arithmetic: weekdays, midnight-wrapping windows, timezones and DST."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.campaigns.recurrence import clean_recurrence, next_run
from app.services.campaigns.send_windows import Window, WindowGate, clean_window, describe, is_open, next_opening
from app.services.errors import ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
OFFICE = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}
NIGHTS = {"days": [4], "start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}  # Friday night


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# Windows ----------------------------------------------------------------------------------------


def test_an_office_hours_window_is_open_on_weekdays_between_start_and_end():
    assert is_open(OFFICE, berlin(2026, 11, 30, 9, 0), "Europe/Berlin")  # Monday 09:00: opens
    assert is_open(OFFICE, berlin(2026, 11, 30, 16, 59), "Europe/Berlin")
    assert not is_open(OFFICE, berlin(2026, 11, 30, 17, 0), "Europe/Berlin")  # the end is excluded
    assert not is_open(OFFICE, berlin(2026, 11, 30, 8, 59), "Europe/Berlin")
    assert not is_open(OFFICE, berlin(2026, 12, 5, 12, 0), "Europe/Berlin")  # Saturday


def test_the_window_is_read_in_its_timezone_not_in_utc():
    # 08:30 UTC on a winter Monday is 09:30 in Berlin (open) and 03:30 in New York (closed).
    moment = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    assert is_open(OFFICE, moment, "Europe/Berlin")
    assert not is_open(OFFICE, moment, "America/New_York")


def test_next_opening_after_hours_is_the_next_weekday_morning():
    friday_evening = berlin(2026, 12, 4, 18, 0)
    opening = next_opening(OFFICE, friday_evening, "Europe/Berlin")
    assert opening == berlin(2026, 12, 7, 9, 0)  # Monday
    assert opening.tzinfo == UTC
    # Open now: the next opening is now.
    monday_noon = berlin(2026, 12, 7, 12, 0)
    assert next_opening(OFFICE, monday_noon, "Europe/Berlin") == monday_noon
    # Early the same day: today's start.
    assert next_opening(OFFICE, berlin(2026, 12, 7, 6, 15), "Europe/Berlin") == berlin(2026, 12, 7, 9, 0)


def test_a_window_past_midnight_belongs_to_the_day_it_starts_on():
    assert is_open(NIGHTS, berlin(2026, 12, 4, 22, 0), "Europe/Berlin")  # Friday 22:00
    assert is_open(NIGHTS, berlin(2026, 12, 4, 23, 59), "Europe/Berlin")
    assert is_open(NIGHTS, berlin(2026, 12, 5, 0, 0), "Europe/Berlin")  # Saturday, still Friday's night
    assert is_open(NIGHTS, berlin(2026, 12, 5, 5, 59), "Europe/Berlin")
    assert not is_open(NIGHTS, berlin(2026, 12, 5, 6, 0), "Europe/Berlin")
    assert not is_open(NIGHTS, berlin(2026, 12, 5, 22, 30), "Europe/Berlin")  # Saturday night is not chosen
    assert not is_open(NIGHTS, berlin(2026, 12, 4, 5, 0), "Europe/Berlin")  # Thursday's night is not chosen
    assert next_opening(NIGHTS, berlin(2026, 12, 5, 6, 0), "Europe/Berlin") == berlin(2026, 12, 11, 22, 0)


def test_a_window_ending_at_midnight_uses_24_00():
    window = clean_window({"days": [0], "start": "18:00", "end": "24:00", "timezone": "UTC"})
    assert window["end"] == "24:00"
    assert is_open(window, datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "UTC")
    assert not is_open(window, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "UTC")


def test_windows_keep_local_hours_across_daylight_saving_changes():
    # Berlin goes from UTC+1 to UTC+2 on Sunday 29 March 2026 and back on Sunday 25 October.
    before = berlin(2026, 3, 27, 18, 0)  # Friday evening, winter time
    opening = next_opening(OFFICE, before, "Europe/Berlin")
    assert opening == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday 09:00 summer time = 07:00 UTC
    assert opening.astimezone(BERLIN).hour == 9
    autumn = next_opening(OFFICE, berlin(2026, 10, 23, 18, 0), "Europe/Berlin")
    assert autumn == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)  # back to UTC+1
    # A window starting at a time the clock skips opens just after the change.
    skipped = {"days": [6], "start": "02:30", "end": "04:00", "timezone": "Europe/Berlin"}
    opening = next_opening(skipped, berlin(2026, 3, 29, 0, 0), "Europe/Berlin")
    assert opening == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 summer time
    assert is_open(skipped, opening, "Europe/Berlin")


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 23 * 60),
    st.integers(1, 24 * 60),
)
def test_next_opening_is_open_and_nothing_before_it_is(moment, tz, days, start, end):
    if start == end:
        end = (end + 60) % (24 * 60) or 24 * 60
    window = Window(frozenset(days), start, end, tz)
    opening = next_opening(window, moment, tz)
    assert opening >= moment and opening - moment <= timedelta(days=8)
    assert is_open(window, opening, tz)
    # Sample minutes between now and the opening: none of them is open.
    step = max(timedelta(minutes=1), (opening - moment) / 50)
    t = moment
    while t < opening - timedelta(minutes=1):
        assert not is_open(window, t, tz), (t, opening)
        t += step


def test_bad_windows_are_refused_naming_the_field():
    cases = [
        ({"days": [], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"days": [7], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"days": ["mon"], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"start": "9am", "end": "17:00"}, "send_window.start"),
        ({"start": "25:00", "end": "17:00"}, "send_window.start"),
        ({"start": "09:00", "end": "17:60"}, "send_window.end"),
        ({"start": "09:00", "end": "09:00"}, "send_window.end"),
        ({"start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}, "send_window.timezone"),
        ({"start": "09:00", "end": "17:00", "colour": "red"}, "send_window.colour"),
    ]
    for value, field in cases:
        with pytest.raises(ValidationError) as exc:
            clean_window(value, "Europe/Berlin")
        assert field in exc.value.fields, (value, exc.value.fields)
    with pytest.raises(ValidationError):
        clean_window("09:00-17:00")


def test_a_good_window_is_normalized_and_described():
    window = clean_window({"days": [4, 0, 1, 2, 3, 3], "start": "9:00", "end": "17:00:00"}, "Europe/Berlin")
    assert window == OFFICE
    assert describe(window) == "Mon–Fri, 09:00–17:00 (Europe/Berlin)"
    assert clean_window(None) is None and clean_window({}) is None
    per_recipient = clean_window({"days": [5, 6], "start": "10:00", "end": "12:00", "timezone": "recipient"})
    assert describe(per_recipient) == "Sat, Sun, 10:00–12:00 (each recipient's own timezone)"


def test_the_gate_reads_each_recipients_zone_and_falls_back_to_the_workspaces():
    gate = WindowGate(Window.of({**OFFICE, "timezone": "recipient"}), 1, "Europe/Berlin")
    assert gate.timezone_for("America/New_York") == "America/New_York"
    assert gate.timezone_for(None) == "Europe/Berlin"
    assert gate.timezone_for("Not/AZone") == "Europe/Berlin"
    monday_morning_utc = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 Berlin, 04:00 New York
    assert gate.wait("Europe/Berlin", monday_morning_utc) is None
    wait = gate.wait("America/New_York", monday_morning_utc)
    assert wait["at"] == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert wait["why"] == "waiting for the send window (opens Mon 09:00 America/New_York)"


# Recurrence -------------------------------------------------------------------------------------

WEEKLY = {"frequency": "weekly", "days": [0], "time": "09:00", "timezone": "Europe/Berlin"}


def test_a_weekly_run_stays_at_nine_in_berlin_across_the_dst_change():
    runs, after = [], berlin(2026, 3, 16, 12, 0)
    for _ in range(3):
        after = next_run(WEEKLY, after)
        runs.append(after)
    assert [r.astimezone(BERLIN).strftime("%a %d %b %H:%M") for r in runs] == [
        "Mon 23 Mar 09:00",
        "Mon 30 Mar 09:00",  # after the change to summer time
        "Mon 06 Apr 09:00",
    ]
    assert [r.hour for r in runs] == [8, 7, 7]  # in UTC the hour moves
    assert all(r.tzinfo == UTC for r in runs)


def test_next_run_is_strictly_after_the_given_moment():
    at_nine = berlin(2026, 11, 30, 9, 0)
    assert next_run(WEEKLY, at_nine) == berlin(2026, 12, 7, 9, 0)
    assert next_run(WEEKLY, at_nine - timedelta(seconds=1)) == at_nine


def test_daily_and_monthly_runs_and_the_last_day_of_short_months():
    daily = {"frequency": "daily", "time": "07:30", "timezone": "UTC"}
    assert next_run(daily, datetime(2026, 11, 30, 8, 0, tzinfo=UTC)) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    monthly = {"frequency": "monthly", "day_of_month": 31, "time": "10:00", "timezone": "UTC"}
    after, days = datetime(2027, 1, 1, tzinfo=UTC), []
    for _ in range(4):
        after = next_run(monthly, after)
        days.append(after.date().isoformat())
    assert days == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]


def test_until_ends_the_series_on_its_day_inclusive():
    rec = {**WEEKLY, "until": "2026-12-07"}
    assert next_run(rec, berlin(2026, 12, 1, 0, 0)) == berlin(2026, 12, 7, 9, 0)
    assert next_run(rec, berlin(2026, 12, 7, 9, 0)) is None


def test_bad_recurrences_are_refused_naming_the_field():
    cases = [
        ({"frequency": "hourly", "time": "09:00"}, "recurrence.frequency"),
        ({"frequency": "weekly", "days": [], "time": "09:00"}, "recurrence.days"),
        ({"frequency": "weekly", "time": "09:00"}, "recurrence.days"),
        ({"frequency": "monthly", "day_of_month": 32, "time": "09:00"}, "recurrence.day_of_month"),
        ({"frequency": "daily", "time": "late"}, "recurrence.time"),
        ({"frequency": "daily", "time": "09:00", "timezone": "recipient"}, "recurrence.timezone"),
        ({"frequency": "daily", "time": "09:00", "until": "someday"}, "recurrence.until"),
        ({"frequency": "daily", "time": "09:00", "every": 2}, "recurrence.every"),
    ]
    for value, field in cases:
        with pytest.raises(ValidationError) as exc:
            clean_recurrence(value, "UTC")
        assert field in exc.value.fields, (value, exc.value.fields)
    assert clean_recurrence({"frequency": "weekly", "days": [2, 0], "time": "9:00"}, "Europe/Berlin") == {
        "frequency": "weekly",
        "days": [0, 2],
        "time": "09:00",
        "timezone": "Europe/Berlin",
    }
