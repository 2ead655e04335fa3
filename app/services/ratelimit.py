"""Send-rate limits shared by every worker on every machine, kept in Redis.

Three limits hold a campaign back: the provider's messages per second and per day, and the
workspace's messages per minute. Each is a fixed window (a calendar second, minute or UTC
day) counted in one Redis key. Tokens are reserved in blocks, so a worker makes one round
trip per block rather than one per message; an unused remainder of a second or a minute
expires with it, and an unused remainder of a day is handed back when the worker is done.
"""

import time
from collections.abc import Callable
from datetime import datetime, timezone

import redis

EDGE_GUARD_SECONDS = 0.05  # see WindowLimiter.guard
SLOW_FOR_SECONDS = 15 * 60  # how long a sender block slows the provider down
SLOW_UNLIMITED_RATE = 5  # messages per second for a slowed provider that has no limit of its own


class LimitReached(Exception):
    """A limit that will not free up soon (a day's quota): the caller puts the work aside."""

    def __init__(self, resume_at: datetime, reason: str):
        super().__init__(reason)
        self.resume_at = resume_at
        self.reason = reason


class Halted(Exception):
    """The campaign stopped (paused or cancelled) while a worker waited for a token."""


class WindowLimiter:
    """At most `limit` tokens per fixed window of `window` seconds across all processes."""

    def __init__(self, r: redis.Redis, key: str, limit: int | None, window: int, block: int = 10, guard: float = 0.0):
        self.r = r
        self.key = key
        self.limit = limit
        self.window = window
        # No token is handed out in the last `guard` seconds of a window: a message taken at
        # 0.999 s would reach the server in the next second and be counted there.
        self.guard = guard
        self.block = max(1, min(block, limit or 1))
        self.current = None  # the window the reserved tokens belong to
        self.available = 0

    def _window_start(self, now: float) -> int:
        return int(now // self.window) * self.window

    def try_take(self, now: float) -> bool:
        """One token of the window `now` falls in, if any is left."""
        if not self.limit:
            return True
        start = self._window_start(now)
        if start != self.current:
            self.current, self.available = start, 0
        if now >= start + self.window - self.guard:
            return False
        if self.available > 0:
            self.available -= 1
            return True
        key = f"{self.key}:{start}"
        pipe = self.r.pipeline()
        pipe.incrby(key, self.block)
        pipe.expire(key, self.window + 5)
        total, _ = pipe.execute()
        granted = min(self.block, max(0, self.limit - (total - self.block)))
        if granted < self.block:
            # Give back what was over-reserved, so other workers and the day's count stay true.
            self.r.decrby(key, self.block - granted)
        if granted > 0:
            self.available = granted - 1
            return True
        return False

    def next_window(self, now: float) -> float:
        return self._window_start(now) + self.window

    def give_back(self) -> None:
        """Return reserved, unused tokens of the current window (used for long windows)."""
        if self.limit and self.available and self.current is not None:
            try:
                self.r.decrby(f"{self.key}:{self.current}", self.available)
            except redis.RedisError:
                pass
        self.available = 0

    def used(self, now: float | None = None) -> int:
        value = self.r.get(f"{self.key}:{self._window_start(time.time() if now is None else now)}")
        return int(value or 0)


class PerSecondLimiter(WindowLimiter):
    """The provider's per-second limit alone (sleeping until a token is free)."""

    def __init__(self, r: redis.Redis, key: str, limit: int | None, block: int = 10):
        super().__init__(r, key, limit, 1, block, guard=EDGE_GUARD_SECONDS)

    def acquire(self) -> float:
        waited = 0.0
        while True:
            now = time.time()
            if self.try_take(now):
                return waited
            pause = self.next_window(now) - now + 0.001
            time.sleep(pause)
            waited += pause


def provider_day_key(provider_id: int) -> str:
    return f"herald:rate:provider:{provider_id}:day"


def _utc_day_start(now: float) -> int:
    return int(now // 86400) * 86400


def sent_today(r: redis.Redis, provider_id: int) -> int:
    """The provider's count for the current UTC day (what its daily limit is measured against)."""
    try:
        return int(r.get(f"{provider_day_key(provider_id)}:{_utc_day_start(time.time())}") or 0)
    except redis.RedisError:
        return 0


def slow_key(provider_id: int) -> str:
    return f"herald:slow:provider:{provider_id}"


def slow_down(r: redis.Redis, provider_id: int, reason: str) -> None:
    """A receiving server blocked the sender (5.7.x): send slower through it for a while."""
    try:
        r.set(slow_key(provider_id), reason[:500], ex=SLOW_FOR_SECONDS)
    except redis.RedisError:
        pass


def slowed_rate(limit: int | None) -> int:
    return max(1, limit // 2) if limit else SLOW_UNLIMITED_RATE


class SendLimits:
    """Every limit one campaign's send is under, taken together before each hand-off."""

    def __init__(
        self,
        r: redis.Redis,
        provider_id: int,
        per_second: int | None,
        per_day: int | None,
        workspace_id: int | None = None,
        workspace_per_minute: int | None = None,
    ):
        self.r = r
        self.provider_id = provider_id
        self.per_second_limit = per_second
        try:
            slowed = r.exists(slow_key(provider_id))
        except redis.RedisError:
            slowed = False
        self.slowed = bool(slowed)
        rate = slowed_rate(per_second) if self.slowed else per_second
        self.second = WindowLimiter(r, f"herald:rate:provider:{provider_id}", rate, 1, guard=EDGE_GUARD_SECONDS)
        self.minute = WindowLimiter(
            r, f"herald:rate:workspace:{workspace_id}:minute", workspace_per_minute, 60, guard=EDGE_GUARD_SECONDS
        )
        self.day = WindowLimiter(r, provider_day_key(provider_id), per_day, 86400)
        self.per_day = per_day
        self.per_minute = workspace_per_minute

    def acquire(self, should_stop: Callable[[], bool] | None = None, check_every: float = 0.25) -> float:
        """Take one token of every limit; returns the seconds waited.

        Short waits (the next second or minute) are slept through, asking `should_stop`
        every `check_every` seconds so a pause still lands between two messages; the day's
        quota raises LimitReached with the moment it renews.
        """
        waited = 0.0
        while True:
            now = time.time()
            if not self.day.try_take(now):
                resume = datetime.fromtimestamp(_utc_day_start(now) + 86400, timezone.utc)
                raise LimitReached(resume, f"the provider's daily limit of {self.per_day:,} messages is reached")
            blocked_until = None
            if not self.minute.try_take(now):
                blocked_until = self.minute.next_window(now)
            elif not self.second.try_take(now):
                blocked_until = self.second.next_window(now)
                self.minute.available += 1  # the minute's token goes back: this message waits
            if blocked_until is None:
                return waited
            self.day.available += 1  # likewise the day's
            pause = blocked_until - now + 0.001
            while pause > 0:
                step = min(pause, check_every)
                time.sleep(step)
                waited += step
                pause -= step
                if should_stop is not None and pause > 0 and should_stop():
                    raise Halted()

    def close(self) -> None:
        self.day.give_back()
        self.minute.give_back()
