"""Throttling per (sending domain × mailbox provider), shared by every worker: AIMD kept in Redis.

Mailbox providers throttle a sender, not a message: Gmail answers `421 4.7.28` or `451 4.7.0 … try
again later` to the domain that sends it too much, and goes on deferring whatever comes meanwhile.
So Herald keeps an allowed rate per *pair*: the workspace's From domain (lower case) and the
recipient's mailbox provider group (`gmail`, `microsoft`, `yahoo`…). A recipient whose MX is no
named provider (`other`, a security `gateway`, `none`, or unknown) is a pair of its own by its
domain: its servers defer only their own mail. A pair has state only while it is throttled:

    unthrottled      nothing in Redis: a message to the pair costs a set look-up and a counter
    a deferral       (THROTTLE_CODES, 4.7.x, rate-limit words; never greylisting or a full mailbox)
                     halves the rate at once, from what every worker sent to the pair over the last
                     second or two, down to THROTTLE_MIN_RATE; more deferrals within
                     THROTTLE_COOLDOWN_SECONDS change nothing (fifty 421s to one burst halve it once)
    recovery         each THROTTLE_STEP_SECONDS without a deferral adds THROTTLE_STEP messages/s;
                     at THROTTLE_MAX_RATE the pair is unthrottled again (its state is dropped)
    while throttled  each message takes a slot of the pair's GCRA (as ratelimit.py does); one with
                     no slot now is held back (pending again, due about when the pair has room) and
                     the rest of the chunk, to other pairs, goes on at once

State: one hash per (workspace, From domain), fields `<x>:<pair>`: b the rate set by the last cut,
c when (µs of Redis's clock), m the ceiling, t the GCRA's next free slot, w the reply that caused
it, s throttled since. The rate now is b + step × whole windows since c, computed where it is read;
every change is one Lua script, atomic across workers. Each worker reports its hand-offs per pair
into per-second counters when it re-reads the state (every CACHE_SECONDS): that is what a cut halves.

Cost per message (bench/throttle_bench.py): unthrottled, well under a microsecond; throttled, one
Redis round trip, paid only by the held-back pair's messages, at its low rate.
"""

import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from sqlalchemy import select

from app.extensions import db
from app.models import MailboxDomain
from app.services.delivery.mailbox_providers import group_label

THROTTLE_CODES = frozenset({421, 451})  # "service not available" / "local error": a busy or wary receiver
THROTTLE_WORDS = re.compile(
    r"try (?:again )?later|rate.?limit|too many|throttl|temporarily (?:deferred|rate)|slow down|"
    r"unusual rate|exceeded|deferred due to",
    re.I,
)
# 4xx replies about one recipient or one message, not about the sender's rate.
NOT_THROTTLING = re.compile(r"gr[ea]ylist|mailbox (?:is )?full|over quota|quota exceeded|out of storage", re.I)
OWN_SERVERS = frozenset({"other", "gateway", "none"})  # groups that are no single receiving system
CACHE_SECONDS = 0.25  # how stale a worker's view of the pairs may be (and how often it reports counts)
TOLERANCE_SECONDS = 0.1  # a slot this close goes now rather than being held back
HOLD_MAX_SECONDS = 30.0  # a held row is due again within this, whatever the pair's rate
COUNT_TTL_SECONDS = 5
THROTTLED = "throttled: "  # the reason prefix of a recipient held back by its pair's rate

# KEYS[1] the domain's hash, KEYS[2..3] this and the last second's hand-off counts.
# ARGV: pair, reply, this worker's hand-offs not reported yet, seconds the counts span, then the
# policy: max, min, backoff, cooldown µs, step, step µs. Returns {1 cut | 0 cooling down, rate}.
_CUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local p = ARGV[1]
local maxr, minr, step, step_us = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[9]), tonumber(ARGV[10])
local s = redis.call('HMGET', KEYS[1], 'b:'..p, 'c:'..p, 'm:'..p, 't:'..p, 's:'..p)
local base, cut, ceil, tat, since = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4] or '0'), s[5]
local rate = nil
if base then
  rate = math.min(ceil, base + step * math.floor((now - cut) / step_us))
  if now - cut < tonumber(ARGV[8]) then return {0, string.format('%.6f', rate)} end
  if rate >= ceil then rate = nil end
end
if not rate then
  local n = tonumber(redis.call('HGET', KEYS[2], p) or '0') + tonumber(redis.call('HGET', KEYS[3], p) or '0')
  rate = math.min(maxr, (n + tonumber(ARGV[3])) / tonumber(ARGV[4]))
  ceil, since = maxr, string.format('%.0f', now)
end
local new = math.max(minr, rate * tonumber(ARGV[7]))
tat = math.max(tat, now + 1000000 / new)
redis.call('HSET', KEYS[1], 'b:'..p, string.format('%.6f', new), 'c:'..p, string.format('%.0f', now),
  'm:'..p, string.format('%.6f', ceil), 't:'..p, string.format('%.0f', tat), 'w:'..p, ARGV[2], 's:'..p, since)
local ttl = math.ceil((ceil - new) / step * step_us / 1000000) + 60
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return {1, string.format('%.6f', new)}
"""

# KEYS[1] the domain's hash. ARGV: pair, tolerance µs, step, step µs.
# Returns {2, 0, ''} the pair is not throttled (recovered: its state is dropped), {1, 0, rate} a slot
# is taken, or {0, µs until the next free slot, rate} (nothing taken).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local p = ARGV[1]
local s = redis.call('HMGET', KEYS[1], 'b:'..p, 'c:'..p, 'm:'..p, 't:'..p)
local base = tonumber(s[1])
if not base then return {2, 0, ''} end
local rate = base + tonumber(ARGV[3]) * math.floor((now - tonumber(s[2])) / tonumber(ARGV[4]))
if rate >= tonumber(s[3]) then
  redis.call('HDEL', KEYS[1], 'b:'..p, 'c:'..p, 'm:'..p, 't:'..p, 'w:'..p, 's:'..p)
  return {2, 0, ''}
end
local slot = math.max(now, tonumber(s[4] or '0'))
if slot - now > tonumber(ARGV[2]) then return {0, slot - now, string.format('%.6f', rate)} end
redis.call('HSET', KEYS[1], 't:'..p, string.format('%.0f', slot + 1000000 / rate))
return {1, 0, string.format('%.6f', rate)}
"""

# KEYS[1] the domain's hash, KEYS[2] this second's counts. ARGV: the counts' TTL, then pair, count…
# Adds the counts and returns the hash (flat), in one round trip.
_REPORT = """
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return redis.call('HGETALL', KEYS[1])
"""


def is_throttling(code: int | None, enhanced: str | None, text: str | None) -> bool:
    """Whether a temporary refusal says the receiver wants the sender slower (not this one recipient)."""
    text = text or ""
    if NOT_THROTTLING.search(text):
        return False
    return code in THROTTLE_CODES or (enhanced or "").startswith("4.7.") or bool(THROTTLE_WORDS.search(text))


def pair_of(group: str | None, email: str) -> str:
    """The pair's mailbox side: the named group, else the recipient's own domain."""
    if group and group not in OWN_SERVERS:
        return group
    return email.rpartition("@")[2].lower()


def pair_label(pair: str) -> str:
    """How a page names a pair's mailbox side: `gmail` -> Gmail; a domain as it is."""
    return pair if "." in pair else group_label(pair)


def from_domain(from_email: str | None) -> str:
    return (from_email or "").rpartition("@")[2].lower()


def state_key(workspace_id: int, domain: str) -> str:
    return f"herald:throttle:{workspace_id}:{domain}"


def _count_key(workspace_id: int, domain: str, second: int) -> str:
    return f"herald:throttle:{workspace_id}:{domain}:n:{second}"


@dataclass(frozen=True)
class ThrottlePolicy:
    """The AIMD settings (messages per second and seconds); max_rate 0 turns throttling off."""

    max_rate: float = 100.0
    min_rate: float = 0.2
    backoff: float = 0.5
    cooldown: float = 2.0
    step: float = 1.0
    step_seconds: float = 5.0

    def __post_init__(self):
        if self.max_rate and not 0 < self.min_rate <= self.max_rate:
            raise ValueError("THROTTLE_MIN_RATE must be above 0 and at most THROTTLE_MAX_RATE")
        if not 0 < self.backoff < 1 or self.step <= 0 or self.step_seconds <= 0 or self.cooldown < 0:
            raise ValueError("THROTTLE_BACKOFF is between 0 and 1; THROTTLE_STEP and THROTTLE_STEP_SECONDS above 0")

    @classmethod
    def from_config(cls, config) -> "ThrottlePolicy":
        return cls(
            float(config.get("THROTTLE_MAX_RATE", cls.max_rate)),
            float(config.get("THROTTLE_MIN_RATE", cls.min_rate)),
            float(config.get("THROTTLE_BACKOFF", cls.backoff)),
            float(config.get("THROTTLE_COOLDOWN_SECONDS", cls.cooldown)),
            float(config.get("THROTTLE_STEP", cls.step)),
            float(config.get("THROTTLE_STEP_SECONDS", cls.step_seconds)),
        )

    def cut_args(self) -> list:
        return [self.max_rate, self.min_rate, self.backoff, round(self.cooldown * 1e6), self.step, self.step_us]

    @property
    def step_us(self) -> int:
        return round(self.step_seconds * 1e6)


@dataclass(frozen=True)
class PairState:
    """A throttled pair as the campaign page shows it."""

    pair: str
    label: str
    rate: float  # messages per second allowed now
    ceiling: float  # where it counts as recovered
    reason: str  # the reply that slowed it down
    since: datetime
    recovers_at: datetime  # if no deferral comes meanwhile


@dataclass(frozen=True)
class Hold:
    """A recipient held back: due again `at`, for `why`."""

    at: datetime
    why: str


class PairThrottle:
    """One batch's view of its sender's pairs: hold back, count and signal, per message. The sender
    is the dedicated IP the batch's connections leave from when it has one (a receiver judges the
    IP), else the From domain."""

    def __init__(
        self, r: redis.Redis, workspace_id: int, from_email: str | None, policy: ThrottlePolicy, ip: str | None = None
    ):
        self.r, self.policy, self.workspace_id = r, policy, workspace_id
        self.domain = ip or from_domain(from_email)
        self.key = state_key(workspace_id, self.domain)
        self.off = not policy.max_rate or not self.domain
        self.throttled: dict[str, str] = {}  # pair -> the reply that slowed it (from the last read)
        self.counts: Counter = Counter()  # hand-offs per pair since the last report
        self.closed: dict[str, list] = {}  # pair -> [no slot before (monotonic), interval, rows held since]
        self.read_at = 0.0
        self._cut, self._take, self._report = (r.register_script(s) for s in (_CUT, _TAKE, _REPORT))

    def hold(self, pair: str) -> Hold | None:
        """None: send to the pair now (a slot is taken if it is throttled); else when to try again."""
        now = time.monotonic()
        if now >= self.read_at:
            self.refresh(now)
        if pair not in self.throttled:
            return None
        closed = self.closed.get(pair)
        if closed is not None and now < closed[0]:
            closed[2] += 1
            return self._hold(pair, closed[0] - now + closed[2] * closed[1])
        try:
            status, wait_us, rate = self._take(keys=[self.key], args=[pair, TOLERANCE_SECONDS * 1e6, *self._steps()])
        except redis.RedisError:
            return None  # Redis gone: the provider's own limits still hold; a mailbox provider may defer
        if int(status) == 2:
            self.throttled.pop(pair, None)
            return None
        if int(status) == 1:
            return None
        self.closed[pair] = [now + int(wait_us) / 1e6, 1 / float(rate), 0]
        return self._hold(pair, int(wait_us) / 1e6)

    def _hold(self, pair: str, wait: float) -> Hold:
        at = datetime.fromtimestamp(time.time() + min(wait, HOLD_MAX_SECONDS), timezone.utc)
        why = f"{THROTTLED}{pair_label(pair)} is deferring mail from {self.domain} ({self.throttled[pair]})"
        return Hold(at, why[:500])

    def _steps(self) -> list:
        return [self.policy.step, self.policy.step_us]

    def observe(self, pair: str, result) -> None:
        """Count a hand-off to the pair; a throttling reply slows the pair down at once."""
        if self.off:
            return
        self.counts[pair] += 1
        if result.failure == "temporary" and is_throttling(result.code, result.enhanced, result.detail):
            self.signal(pair, result.detail or f"{result.code}")

    def signal(self, pair: str, reply: str) -> float | None:
        """The pair's receiver deferred for rate: cut its rate (once per cooldown); returns the rate now."""
        second = time.time()
        keys = [self.key, _count_key(self.workspace_id, self.domain, int(second))]
        keys.append(_count_key(self.workspace_id, self.domain, int(second) - 1))
        args = [pair, reply[:300], self.counts.get(pair, 0), 1 + second % 1, *self.policy.cut_args()]
        try:
            _, rate = self._cut(keys=keys, args=args)
        except redis.RedisError:
            return None
        self.throttled[pair] = reply[:300]
        self.closed.pop(pair, None)
        return float(rate)

    def refresh(self, now: float | None = None) -> None:
        """Report this worker's counts and read which pairs are throttled (every CACHE_SECONDS)."""
        self.read_at = (now or time.monotonic()) + CACHE_SECONDS
        if self.off:
            return
        counts = [x for pair, n in self.counts.items() for x in (pair, n)]
        keys = [self.key, _count_key(self.workspace_id, self.domain, int(time.time()))]
        try:
            flat = self._report(keys=keys, args=[COUNT_TTL_SECONDS, *counts])
        except redis.RedisError:
            return
        self.counts.clear()
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        self.throttled = {
            f[2:].decode(): fields.get(b"w:" + f[2:], b"").decode() for f in fields if f.startswith(b"b:")
        }


def held_pairs(
    r: redis.Redis, workspace_id: int, from_email: str | None, policy: ThrottlePolicy, ip: str | None = None
) -> list[PairState]:
    """The sender's pairs (its dedicated IP's, else its From domain's) being held back now, the slowest
    first (for the campaign page)."""
    return sender_held_pairs(r, workspace_id, ip or from_domain(from_email), policy)


def sender_held_pairs(r: redis.Redis, workspace_id: int, sender: str, policy: ThrottlePolicy) -> list[PairState]:
    """held_pairs of one sender, named as its pairs are kept: a dedicated IP or a From domain."""
    try:
        raw = r.hgetall(state_key(workspace_id, sender))
        seconds, micros = r.time()
    except redis.RedisError:
        return []
    now = seconds * 1_000_000 + micros
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    found = []
    for name in fields:
        if not name.startswith("b:"):
            continue
        pair = name[2:]
        base, cut, ceiling = float(fields[name]), int(fields[f"c:{pair}"]), float(fields[f"m:{pair}"])
        windows = (now - cut) // policy.step_us
        rate = base + policy.step * windows
        if rate >= ceiling:
            continue
        left = -(-(ceiling - rate) // policy.step)  # steps still to go
        recovers = cut + (windows + left) * policy.step_us
        found.append(
            PairState(
                pair,
                pair_label(pair),
                rate,
                ceiling,
                fields.get(f"w:{pair}", ""),
                _at(int(fields.get(f"s:{pair}") or cut)),
                _at(recovers),
            )
        )
    return sorted(found, key=lambda s: (s.rate, s.label))


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1e6, timezone.utc)


def deferrals_reported(r: redis.Redis, workspace_id: int, reports: list[tuple], policy: ThrottlePolicy) -> int:
    """Provider events saying a receiver deferred for rate — (from, to, smtp code, enhanced, text) each — slow
    their pairs as a synchronous 421 does; returns how many pairs were signalled."""
    slowing = [
        (sender, to, text or enhanced or str(code))
        for sender, to, code, enhanced, text in reports
        if sender and to and is_throttling(code, enhanced, text)
    ]
    if not policy.max_rate or not slowing:
        return 0
    domains = {to.rpartition("@")[2].lower() for _, to, _ in slowing}
    md = MailboxDomain
    groups = dict(db.session.execute(select(md.domain, md.group).where(md.domain.in_(domains))).all())
    pairs = {
        (from_domain(sender), pair_of(groups.get(to.rpartition("@")[2].lower()), to)): (sender, why)
        for sender, to, why in slowing
    }
    for (_, pair), (sender, why) in pairs.items():
        PairThrottle(r, workspace_id, sender, policy).signal(pair, why)
    return len(pairs)
