"""Live send figures for the campaign page: the current rate, the time left, and whether a
rate limit is holding the send back. Kept in Redis per second (cheap: one pipeline per chunk
of messages) and never needed for correctness — if Redis forgets them, only the page's
estimate does. `throttle_wait` says which mailbox providers are deferring the campaign's From
domain, and how many of its recipients they hold back."""

import time

import redis
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient
from app.redis_client import get_redis
from app.services.delivery import routing, throttle

WINDOW = 30  # seconds the current rate is measured over


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
    """{"recipients": how many are held back now, "pairs": [throttle.PairState], "domain"} while mailbox
    providers defer the campaign's From domain; None while none does."""
    policy = throttle.ThrottlePolicy.from_config(current_app.config)
    first = routing.providers_for(campaign)[:1]
    ip = routing.source_ip(first[0]) if first else None
    pairs = throttle.held_pairs(get_redis(), campaign.workspace_id, campaign.from_email, policy, ip)
    cr = CampaignRecipient
    held = db.session.scalar(
        select(func.count()).where(
            cr.campaign_id == campaign.id, cr.status == "pending", cr.reason.startswith(throttle.THROTTLED)
        )
    )
    if not pairs and not held:
        return None
    return {"recipients": held or 0, "pairs": pairs, "domain": ip or throttle.from_domain(campaign.from_email)}
