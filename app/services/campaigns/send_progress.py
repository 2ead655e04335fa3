"""Live send figures for the campaign page: the current rate, the time left, and whether a
rate limit is holding the send back. Kept in Redis per second (cheap: one pipeline per chunk
of messages) and never needed for correctness — if Redis forgets them, only the page's
estimate does. `throttle_wait` says which mailbox providers are deferring the campaign's From
domain (or its dedicated IP), and how many of its recipients they hold back; which IP that is, it
resolves once every few seconds, not on every poll."""

import time

import redis
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient
from app.redis_client import get_redis
from app.services.delivery import routing, senders, throttle

WINDOW = 30  # seconds the current rate is measured over
SENDER_SECONDS = 10  # how long the poll reuses the campaign's senders before resolving its route again


def _key(campaign_id: int, suffix) -> str:
    return f"herald:progress:{campaign_id}:{suffix}"


def record(campaign_id: int, handled: int, waited: float) -> None:
    """A worker handled `handled` messages, having waited `waited` seconds for rate tokens."""
    now = time.time()
    try:
        pipe = get_redis().pipeline()
        if handled:
            key = _key(campaign_id, int(now))
            pipe.incrby(key, handled)
            pipe.expire(key, WINDOW * 4)
        if waited > 0.2:
            pipe.set(_key(campaign_id, "throttled"), f"{now + 1:.0f}", ex=5)
        pipe.execute()
    except redis.RedisError:
        pass  # the page's estimate, not the send, depends on it


def snapshot(campaign_id: int, pending: int, started_at: float | None) -> dict:
    """{rate (messages/s), eta_seconds, throttled_until (epoch seconds) or None}."""
    now = int(time.time())
    try:
        r = get_redis()
        keys = [_key(campaign_id, s) for s in range(now - WINDOW + 1, now + 1)]
        counts = r.mget(keys)
        throttled = r.get(_key(campaign_id, "throttled"))
    except redis.RedisError:
        return {"rate": None, "eta_seconds": None, "throttled_until": None}
    handled = sum(int(c) for c in counts if c)
    span = WINDOW if started_at is None else max(1.0, min(WINDOW, time.time() - started_at))
    rate = handled / span if handled else 0.0
    eta = int(pending / rate) if rate and pending else None
    until = int(throttled) if throttled and int(throttled) > time.time() else None
    return {"rate": rate, "eta_seconds": eta, "throttled_until": until}


def throttle_wait(campaign: Campaign) -> dict | None:
    """{"recipients": how many are held back now, "pairs": [(sender, throttle.PairState)], "domain": the
    first sender} while mailbox providers defer the campaign's senders (its dedicated IP, else each
    From domain it sends from); None while none does."""
    policy = throttle.ThrottlePolicy.from_config(current_app.config)
    names = _senders(campaign)
    r = get_redis()
    pairs = [
        (name, state) for name in names for state in throttle.sender_held_pairs(r, campaign.workspace_id, name, policy)
    ]
    cr = CampaignRecipient
    held = db.session.scalar(
        select(func.count()).where(
            cr.campaign_id == campaign.id, cr.status == "pending", cr.reason.startswith(throttle.THROTTLED)
        )
    )
    if not pairs and not held:
        return None
    return {"recipients": held or 0, "pairs": pairs, "domain": names[0] if names else None}


def _senders(campaign: Campaign) -> list[str]:
    """Whom the campaign's pairs are kept under: the dedicated IP its first provider sends from, else
    its From domain and those of the identities a pool chose. Kept a few seconds in Redis: the page
    polls every second while sending, and resolving the route (pool, providers, bound IP) and the
    chosen identities costs a few queries each time for an answer that rarely moves."""
    key = _key(campaign.id, "senders")
    try:
        kept = get_redis().get(key)
    except redis.RedisError:
        kept = None
    if kept is not None:
        return [name for name in kept.decode().split(",") if name]
    first = routing.providers_for(campaign)[:1]
    ip = routing.source_ip(first[0]) if first else None
    own = throttle.from_domain(campaign.from_email)
    names = [ip] if ip else list(dict.fromkeys([own, *senders.domains_of(senders.assigned(campaign.id))]))
    try:
        get_redis().set(key, ",".join(n for n in names if n), ex=SENDER_SECONDS)
    except redis.RedisError:
        pass  # the next poll resolves it again
    return [n for n in names if n]
