"""How many segments a text takes (what Twilio bills), and when quiet hours let a text go."""

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from app.services.sms import encoding, quiet_hours


@pytest.mark.parametrize(
    ("text", "enc", "segments"),
    [
        ("", "GSM-7", 0),
        ("Hello Chloé, 20% off today at Café Müller! Reply STOP to opt out", "GSM-7", 1),
        ("Hello Zoë", "UCS-2", 1),  # ë is not in the GSM alphabet (é, ü and ñ are)
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),  # split: 153 a segment
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # the extension table's characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€" + "a" * 8, "GSM-7", 2),  # an escape pair is never split across segments
        ("“Sale” starts now", "UCS-2", 1),  # smart quotes are not GSM-7
        ("x" * 70 + "—", "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # an emoji takes two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
        ("a" * 66 + "😀" + "a" * 67, "UCS-2", 3),  # the pair does not fit beside 66 in 67: 66 | 😀+65 | 2
    ],
)
def test_segments_as_twilio_counts_them(text, enc, segments):
    m = encoding.measure(text)
    assert (m.encoding, m.segments) == (enc, segments)


def test_the_characters_that_force_unicode_are_named_once_each():
    m = encoding.measure("Don’t miss it — it’s 50% off")
    assert m.unicode_chars == ("’", "—")
    assert m.per_segment == 70


NIGHT = (time(21, 0), time(8, 0))


def test_a_text_in_the_day_goes_at_once():
    now = datetime(2026, 12, 7, 18, 0, tzinfo=timezone.utc)  # 10:00 in Los Angeles
    zones = quiet_hours.zones_for(None, "+14155550123", "UTC")
    assert zones == (ZoneInfo("America/Los_Angeles"),)
    assert quiet_hours.next_allowed(now, zones, *NIGHT) == now


def test_a_text_at_night_waits_for_the_morning_in_the_recipients_zone():
    now = datetime(2026, 12, 7, 6, 30, tzinfo=timezone.utc)  # 22:30 in Los Angeles, 01:30 in New York
    la = quiet_hours.zones_for(None, "+14155550123", "UTC")
    assert quiet_hours.next_allowed(now, la, *NIGHT) == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc)  # 08:00 LA
    ny = quiet_hours.zones_for(None, "+12125550199", "UTC")
    assert quiet_hours.next_allowed(now, ny, *NIGHT) == datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)  # 08:00 NY


def test_the_persons_own_timezone_wins_over_their_numbers():
    zones = quiet_hours.zones_for("Europe/Lisbon", "+14155550123", "UTC")
    assert zones == (ZoneInfo("Europe/Lisbon"),)
    assert quiet_hours.zones_for("Not/AZone", "+14155550123", "UTC") == (ZoneInfo("America/Los_Angeles"),)


def test_a_number_spanning_zones_waits_until_it_is_day_in_every_one():
    zones = (ZoneInfo("Europe/Lisbon"), ZoneInfo("Atlantic/Azores"))  # Portugal's numbers span both
    now = datetime(2026, 12, 7, 8, 30, tzinfo=timezone.utc)  # 08:30 Lisbon, 07:30 Azores
    assert quiet_hours.next_allowed(now, zones, *NIGHT) == datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def test_equal_start_and_end_mean_no_quiet_hours_and_daytime_windows_work():
    now = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)
    utc = (ZoneInfo("UTC"),)
    assert quiet_hours.next_allowed(now, utc, time(0, 0), time(0, 0)) == now
    noon = datetime(2026, 12, 7, 12, 30, tzinfo=timezone.utc)
    lunch = (time(12, 0), time(14, 0))
    assert quiet_hours.next_allowed(noon, utc, *lunch) == datetime(2026, 12, 7, 14, 0, tzinfo=timezone.utc)
