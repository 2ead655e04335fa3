"""Send-rate limits shared by every worker on every machine, kept in Redis.

Three limits hold a send back: the provider's messages per second and per day, and the
workspace's messages per minute.

The per-second and per-minute limits hold over ANY sliding window, as providers such as SES
measure them at their end, not over calendar seconds (a fixed window let 20 messages go at
the end of one second and 20 more at the start of the next: 40 within one second). Each is
a GCRA (generic cell rate algorithm) kept as one number in Redis, the theoretical arrival
time: the earliest moment the next message may go. Every message moves it one emission
interval on, so messages are spaced evenly and any `limit` consecutive ones span a whole
window. There is no burst tolerance (a burst would let a sliding window hold more than the
limit), and the interval is stretched by EDGE_GUARD_SECONDS per window: two messages leave
a worker an exact interval apart but may reach the provider a few milliseconds closer.
Time is Redis's own clock (`TIME`), so workers on machines whose clocks differ still agree.

The daily limit is a count per UTC day, the day Herald shows ("sent today, since midnight
UTC") and that the quota renews at; a provider measuring a rolling 24 hours may therefore
see up to twice the quota across midnight.

Every limit is checked and taken in one Lua script, atomically: one round trip per message,
and none at all for a provider and workspace without limits.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

EDGE_GUARD_SECONDS = 0.05  # arrival jitter allowed for: any `limit` messages span window + guard
SLOW_FOR_SECONDS = 15 * 60  # how long a sender block slows the provider down
SLOW_UNLIMITED_RATE = 5  # messages per second for a slowed provider that has no limit of its own
RESERVE_AHEAD_SECONDS = 1.0  # a campaign worker books a slot at most this far ahead (see SendLimits.acquire)
DAY_KEY_TTL = 86400 + 3600

# KEYS[1] the day's counter, KEYS[2..] the GCRA keys. ARGV[1] the day's limit (0: none),
# ARGV[2] how far ahead a slot may be booked in µs (-1: any), ARGV[3..] each GCRA key's interval in µs.
# Returns {1, wait µs, slot µs} (granted: go at the slot), {0, wait µs, 0} (the next slot is
# further ahead than allowed: nothing taken) or {-1, 0, 0} (the day's quota is spent).
_TAKE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local day_limit = tonumber(ARGV[1])
if day_limit > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= day_limit then
  return {-1, 0, 0}
end
local slot = now
for i = 2, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > slot then slot = tat end
end
local ahead = tonumber(ARGV[2])
if ahead >= 0 and slot - now > ahead then
  return {0, slot - now, 0}
end
for i = 2, #KEYS do
  local tat = slot + tonumber(ARGV[i + 1])
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], DAY_KEY_TTL)
return {1, slot - now, slot}
""".replace("DAY_KEY_TTL", str(DAY_KEY_TTL))

# A booked slot that will not be used: the day's count goes back, and each GCRA key moves
# back one interval if no one booked after it (else the slot just stays empty).
_RELEASE = """
local slot = tonumber(ARGV[1])
for i = 2, #KEYS do
  local booked = string.format('%.0f', slot + tonumber(ARGV[i]))
  if redis.call('GET', KEYS[i]) == booked then
    redis.call('SET', KEYS[i], string.format('%.0f', slot), 'KEEPTTL')
  end
end
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""


class LimitReached(Exception):
    """A limit that will not free up soon (a day's quota): the caller puts the work aside."""

    def __init__(self, resume_at: datetime, reason: str):
        super().__init__(reason)
        self.resume_at = resume_at
        self.reason = reason


class Halted(Exception):
    """The campaign stopped (paused or cancelled) while a worker waited for a token."""


@dataclass(frozen=True)
class Rate:
    """At most `limit` messages in any `window` seconds (no limit when None), kept under `key`."""

    key: str
    limit: int | None
    window: float

    @property
    def interval_us(self) -> int:
        """The GCRA emission interval: `limit` of them span the window plus the edge guard."""
        return round((self.window + EDGE_GUARD_SECONDS) * 1_000_000 / self.limit)


def provider_day_key(provider_id: int) -> str:
    return f"herald:rate:provider:{provider_id}:day"


def provider_second_key(provider_id: int) -> str:
    return f"herald:rate:provider:{provider_id}:gcra"


def workspace_minute_key(workspace_id: int | None) -> str:
    return f"herald:rate:workspace:{workspace_id}:minute:gcra"


def _utc_day_start(now: float) -> int:
    return int(now // 86400) * 86400


def day_counter_key(provider_id: int, now: float | None = None) -> str:
    """The Redis key counting the provider's messages of the UTC day `now` falls in."""
    return f"{provider_day_key(provider_id)}:{_utc_day_start(time.time() if now is None else now)}"


def sent_today(r: redis.Redis, provider_id: int) -> int:
    """The provider's count for the current UTC day (what its daily limit is measured against)."""
    try:
        return int(r.get(day_counter_key(provider_id)) or 0)
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


def _is_slowed(r: redis.Redis, provider_id: int) -> bool:
    try:
        return bool(r.exists(slow_key(provider_id)))
    except redis.RedisError:
        return False


def take_slot(r: redis.Redis, day_key: str, day_limit: int | None, rates: list[Rate], ahead: float | None):
    """Check and take every limit at once: (status, seconds to wait, slot in µs of Redis time).

    status 1: granted, the message goes after the wait; 0: the next free slot is more than
    `ahead` seconds away and nothing was taken; -1: the day's quota is spent.
    """
    limited = [rate for rate in rates if rate.limit]
    keys = [day_key, *(rate.key for rate in limited)]
    args = [day_limit or 0, -1 if ahead is None else round(ahead * 1_000_000)]
    args += [rate.interval_us for rate in limited]
    status, wait_us, slot = r.register_script(_TAKE)(keys=keys, args=args)
    return int(status), int(wait_us) / 1_000_000, int(slot)


def release_slot(r: redis.Redis, day_key: str, rates: list[Rate], slot: int) -> None:
    """Give back a slot taken by take_slot that will not be used."""
    limited = [rate for rate in rates if rate.limit]
    keys = [day_key, *(rate.key for rate in limited)]
    try:
        r.register_script(_RELEASE)(keys=keys, args=[slot, *(rate.interval_us for rate in limited)])
    except redis.RedisError:
        pass  # the slot stays empty: slower, never over the limit


def reserve_priority_send(r: redis.Redis, provider_id: int, per_second: int | None) -> float:
    """A slot of the provider's per-second limit for a transactional message; returns the seconds waited.

    It books the earliest free slot however far ahead, while campaign workers book at most
    RESERVE_AHEAD_SECONDS ahead, so it waits behind at most about a second of a campaign.
    It is counted in the day's quota but never refused by it (a password reset must go).
    """
    limit = slowed_rate(per_second) if per_second and _is_slowed(r, provider_id) else per_second
    rates = [Rate(provider_second_key(provider_id), limit, 1)]
    try:
        _, wait, _ = take_slot(r, day_counter_key(provider_id), None, rates, ahead=None)
    except redis.RedisError:
        return 0.0  # Redis gone: send rather than hold back a password reset
    if wait > 0:
        time.sleep(wait)
    return wait


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
        self.slowed = _is_slowed(r, provider_id)
        rate = slowed_rate(per_second) if self.slowed else per_second
        self.second = Rate(provider_second_key(provider_id), rate, 1)
        self.minute = Rate(workspace_minute_key(workspace_id), workspace_per_minute, 60)
        self.per_day = per_day
        self.per_minute = workspace_per_minute
        self.last_slot: float | None = None  # when the last message taken was due, in Redis's clock (seconds)

    @property
    def unlimited(self) -> bool:
        return not (self.second.limit or self.minute.limit or self.per_day)

    def acquire(self, should_stop: Callable[[], bool] | None = None, check_every: float = 0.25) -> float:
        """Take one slot of every limit and wait for it; returns the seconds waited.

        A slot is booked at most RESERVE_AHEAD_SECONDS ahead (further ahead the worker sleeps
        first, so a transactional message can still get in before the queue of campaign
        workers). Waits ask `should_stop` every `check_every` seconds, so a pause still lands
        between two messages; the day's quota raises LimitReached with the moment it renews.
        """
        if self.unlimited:
            return 0.0
        waited = 0.0
        while True:
            day_key = day_counter_key(self.provider_id)
            rates = [self.second, self.minute]
            status, wait, slot = take_slot(self.r, day_key, self.per_day, rates, RESERVE_AHEAD_SECONDS)
            if status < 0:
                resume = datetime.fromtimestamp(_utc_day_start(time.time()) + 86400, timezone.utc)
                raise LimitReached(resume, f"the provider's daily limit of {self.per_day:,} messages is reached")
            if status == 0:
                waited += _sleep(wait - RESERVE_AHEAD_SECONDS / 2, should_stop, check_every)
                continue
            self.last_slot = slot / 1_000_000
            try:
                return waited + _sleep(wait, should_stop, check_every)
            except Halted:
                release_slot(self.r, day_key, rates, slot)
                raise

    def close(self) -> None:
        """Nothing is held between messages (each is counted as it is taken); kept for the engine's interface."""


def _sleep(seconds: float, should_stop: Callable[[], bool] | None, check_every: float) -> float:
    """Sleep `seconds`, asking `should_stop` every `check_every` seconds; raises Halted when it says so."""
    slept = 0.0
    while seconds - slept > 0:
        step = min(seconds - slept, check_every)
        time.sleep(step)
        slept += step
        if should_stop is not None and seconds - slept > 0 and should_stop():
            raise Halted()
    return slept
