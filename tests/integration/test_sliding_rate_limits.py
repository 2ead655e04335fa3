"""The send limits hold over any sliding window, not per calendar second or minute, against real
Redis: a fixed window let 20 messages go at the end of one second and 20 more at the start of
the next (40 within one second at 20/s). The four-worker test at a real SMTP server is in
test_send_guarantees.py."""

import gc
import threading
import time

import pytest
import redis

from app.services.delivery.ratelimit import (
    Halted,
    LimitReached,
    SendLimits,
    reserve_priority_send,
    sent_today,
    workspace_minute_key,
)


def busiest_window(times: list[float], width: float) -> int:
    """The most timestamps that fall in any window [t, t + width)."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_the_busiest_window_helper_counts_a_sliding_window():
    assert busiest_window([0.9, 0.95, 1.0, 1.05], 1.0) == 4  # one second apart by calendar, not by window
    assert busiest_window([0.0, 1.0, 2.0], 1.0) == 1
    assert busiest_window([], 1.0) == 0


def test_a_hundred_takes_at_20_per_second_never_put_more_than_20_in_any_second(redis_url):
    r = redis.Redis.from_url(redis_url)
    limits = SendLimits(r, 501, per_second=20, per_day=None)
    # Start mid-second: a calendar-second window gave 20 now and 20 more at the next second.
    time.sleep((0.6 - time.time() % 1) % 1)
    granted, slots = [], []
    started = time.monotonic()
    for _ in range(100):
        limits.acquire()
        granted.append(time.monotonic())
        slots.append(limits.last_slot)
    took = time.monotonic() - started
    assert busiest_window(slots, 1.0) <= 20  # when each take was due (Redis's clock)
    # When this process had them: the same, bar one late wake-up (50 ms of jitter allowed).
    assert busiest_window(granted, 0.95) <= 20
    # Evenly spaced rather than in bursts, and still close to the limit: 100 at ~19/s is ~5.2 s.
    assert busiest_window(granted, 0.25) <= 6  # 5 in a quarter second, one more for the sleep's jitter
    assert 4.9 < took < 6.2, took


@pytest.fixture
def frozen_heap():
    """No full garbage collection of the test run's heap (a pause of ~100 ms) while timestamps are taken."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def test_four_workers_sharing_a_provider_never_put_more_than_20_in_any_second(redis_url, frozen_heap):
    granted, slots, lock = [], [], threading.Lock()

    def work():
        limits = SendLimits(redis.Redis.from_url(redis_url), 502, per_second=20, per_day=None)
        for _ in range(30):
            limits.acquire()
            with lock:
                granted.append(time.monotonic())
                slots.append(limits.last_slot)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(granted) == 120
    assert busiest_window(slots, 1.0) <= 20
    # The threads' own clocks see the same, bar a stall of this process that makes several threads
    # late at once: 50 ms of it allowed.
    assert busiest_window(granted, 0.95) <= 20
    assert granted[-1] - granted[0] < 120 / 20 * 1.15  # ~6 s: the workers together still reach the limit


def test_a_transactional_message_gets_a_slot_before_the_queue_of_campaign_workers(redis_url):
    r = redis.Redis.from_url(redis_url)
    campaign = SendLimits(r, 503, per_second=5, per_day=None)
    for _ in range(5):  # a campaign worker books slots up to a second ahead, no further
        campaign.acquire()
    started = time.monotonic()
    waited = reserve_priority_send(r, 503, 5)
    assert waited <= 0.25 and time.monotonic() - started < 0.35
    assert sent_today(r, 503) == 6  # counted in the day as well


def test_two_workers_share_the_daily_quota_to_the_message(redis_url):
    r = redis.Redis.from_url(redis_url)
    a = SendLimits(r, 901, per_second=None, per_day=25)
    b = SendLimits(r, 901, per_second=None, per_day=25)
    taken = 0
    for limits in (a, b, a, b):
        for _ in range(7):
            try:
                limits.acquire()
                taken += 1
            except LimitReached as exc:
                assert "daily limit of 25 messages" in exc.reason
                assert exc.resume_at.hour == 0 and exc.resume_at.minute == 0
                break
    assert taken == 25
    with pytest.raises(LimitReached):
        a.acquire()
    assert sent_today(r, 901) == 25


def test_a_workspace_per_minute_cap_spaces_the_workspaces_campaigns_and_no_other(redis_url):
    r = redis.Redis.from_url(redis_url)
    first = SendLimits(r, 1, None, None, workspace_id=77, workspace_per_minute=600)
    second = SendLimits(r, 2, None, None, workspace_id=77, workspace_per_minute=600)
    other_workspace = SendLimits(r, 3, None, None, workspace_id=78, workspace_per_minute=600)
    granted = []
    for _ in range(15):
        for limits in (first, second):
            limits.acquire()
            granted.append(time.monotonic())
    # 600 a minute is one every 0.1 s for both campaigns together (so no sliding minute holds more
    # than 600), not 600 at once and then nothing until the next calendar minute.
    assert busiest_window(granted, 0.5) <= 6  # 5 in half a second, one more for the sleep's jitter
    assert 2.7 < granted[-1] - granted[0] < 3.3
    assert other_workspace.acquire() < 0.01


def test_a_pause_lands_while_waiting_for_a_slot_and_gives_the_slot_back(redis_url):
    r = redis.Redis.from_url(redis_url)
    first = SendLimits(r, 1, None, None, workspace_id=79, workspace_per_minute=2)
    second = SendLimits(r, 2, None, None, workspace_id=79, workspace_per_minute=2)
    assert first.acquire() < 0.01  # then the next slot is ~30 s away
    stops = iter([False, False, True])
    started = time.monotonic()
    with pytest.raises(Halted):
        second.acquire(should_stop=lambda: next(stops), check_every=0.05)
    assert time.monotonic() - started < 1
    # The halted worker booked nothing that stays: the next slot is still ~30 s after the first.
    key = workspace_minute_key(79)
    seconds, micros = r.time()
    ahead = (int(r.get(key)) - (seconds * 1_000_000 + micros)) / 1_000_000
    assert 28 < ahead < 31, ahead
