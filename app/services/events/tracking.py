"""Opens, clicks and unsubscribes from recipients.

A pixel or click hit only checks its token and appends to a Redis list (no database
write on the request path); `process_hits` moves the hits into the event log in batches.
Each hit carries a random key, and the event log is unique on it, so a batch processed
twice after a crash counts once.
"""

import json
import os
import time
from collections import OrderedDict
from datetime import datetime, timezone

from sqlalchemy import bindparam, insert, select, text

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, Link, Subscriber
from app.models.base import UTCDateTime
from app.redis_client import get_redis
from app.services.audience.contacts import unsubscribe
from app.services.events.event_log import insert_events
from app.services.tokens import make_token, read_token

HITS_KEY = "herald:hits"
LOCK_KEY = "herald:hits:lock"
_links: "OrderedDict[int, str]" = OrderedDict()


def _push(kind: str, recipient_id: int, link_id: int | None, user_agent: str | None, ip: str | None, r=None) -> None:
    hit = json.dumps(
        [kind, os.urandom(9).hex(), recipient_id, link_id, time.time(), (user_agent or "")[:500], (ip or "")[:64]],
        separators=(",", ":"),
    )
    (r or get_redis()).rpush(HITS_KEY, hit)


def record_open(token: str, user_agent: str | None, ip: str | None, secret: str | None = None, r=None) -> bool:
    """Queue an open for the recipient in the token; False (and nothing stored) for a bad token.

    With `secret` and a Redis client given it needs no Flask context (the pixel middleware).
    """
    ids = read_token("open", token, 1, secret=secret)
    if ids is None:
        return False
    _push("open", ids[0], None, user_agent, ip, r)
    return True


def link_url(link_id: int) -> str | None:
    """The recorded URL of a link; links never change, so they are cached per process."""
    url = _links.get(link_id)
    if url is None:
        url = db.session.scalar(select(Link.url).where(Link.id == link_id))
        if url is None:
            return None
        _links[link_id] = url
        while len(_links) > 20_000:
            _links.popitem(last=False)
    return url


def record_click(token: str, user_agent: str | None, ip: str | None) -> str | None:
    """Queue a click and return the URL to redirect to; None for a bad token."""
    ids = read_token("click", token, 2)
    if ids is None:
        return None
    url = link_url(ids[1])
    if url is None:
        return None
    _push("click", ids[0], ids[1], user_agent, ip)
    return url


def process_hits(max_hits: int = 5000) -> int:
    """Move queued hits into the event log and recipient statuses; returns how many were taken."""
    r = get_redis()
    lock = r.lock(LOCK_KEY, timeout=120, blocking_timeout=5)
    if not lock.acquire():
        return 0
    try:
        raw = r.lrange(HITS_KEY, 0, max_hits - 1)
        if not raw:
            return 0
        _store_hits([json.loads(h) for h in raw])
        db.session.commit()
        # Only now are they safe: trim exactly what was stored (new hits were appended after them).
        r.ltrim(HITS_KEY, len(raw), -1)
        return len(raw)
    finally:
        try:
            lock.release()
        except Exception:
            pass


def _store_hits(hits: list) -> None:
    rids = {h[2] for h in hits}
    owners = {
        rid: (cid, sid, ws)
        for rid, cid, sid, ws in db.session.execute(
            select(
                CampaignRecipient.id,
                CampaignRecipient.campaign_id,
                CampaignRecipient.subscriber_id,
                Campaign.workspace_id,
            )
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.id.in_(rids))
        )
    }
    rows, first_open, first_click = [], {}, {}
    for kind, key, rid, link_id, ts, ua, ip in hits:
        owner = owners.get(rid)
        if owner is None:  # recipient deleted since the message went out
            continue
        at = datetime.fromtimestamp(ts, timezone.utc)
        cid, sid, ws = owner
        rows.append(
            {
                "workspace_id": ws,
                "event_key": f"{kind}:{key}",
                "event_type": kind,
                "campaign_id": cid,
                "recipient_id": rid,
                "subscriber_id": sid,
                "link_id": link_id,
                "user_agent": ua or None,
                "ip": ip or None,
                "occurred_at": at,
                "created_at": datetime.now(timezone.utc),
                "data": None,
            }
        )
        first_open[rid] = min(at, first_open.get(rid, at))
        if kind == "click":
            first_click[rid] = min(at, first_click.get(rid, at))
    if not rows:
        return
    insert_events(rows)  # a batch processed twice after a crash counts once (unique event keys)
    # A click proves the message was opened, even with images blocked.
    mark_recipients("opened_at", first_open, ("sent", "delivered"), "opened")
    mark_recipients("clicked_at", first_click, ("sent", "delivered", "opened"), "clicked")


def mark_recipients(column: str, first_seen: dict, promote_from: tuple, status: str) -> None:
    """Record first opens or clicks for many recipients in one statement (not one per recipient)."""
    if not first_seen:
        return
    promote = ", ".join(f"'{s}'" for s in promote_from)  # constants, never user input
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text(
                f"UPDATE campaign_recipients AS cr SET {column} = COALESCE(cr.{column}, v.at), "
                f"status = CASE WHEN cr.status IN ({promote}) THEN '{status}' ELSE cr.status END "
                "FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[])) AS v(id, at) WHERE cr.id = v.id"
            ),
            {"ids": list(first_seen), "ats": list(first_seen.values())},
        )
        return
    db.session.execute(
        text(
            f"UPDATE campaign_recipients SET {column} = COALESCE({column}, :at), "
            f"status = CASE WHEN status IN ({promote}) THEN '{status}' ELSE status END WHERE id = :id"
        ).bindparams(bindparam("at", type_=UTCDateTime)),
        [{"id": i, "at": at} for i, at in first_seen.items()],
    )


def recipient_for_token(purpose: str, token: str) -> CampaignRecipient | None:
    ids = read_token(purpose, token, 1)
    return db.session.get(CampaignRecipient, ids[0]) if ids else None


def unsubscribe_recipient(recipient: CampaignRecipient, source: str) -> Subscriber | None:
    """Unsubscribe the person behind a campaign message, at once, and record it once."""
    sub = db.session.get(Subscriber, recipient.subscriber_id)
    if sub is None:
        return None
    campaign = db.session.get(Campaign, recipient.campaign_id)
    unsubscribe(sub, detail=f"{source} from campaign '{campaign.name}'" if campaign else source)
    if recipient.status not in ("failed", "bounced", "complained"):
        recipient.status = "unsubscribed"
    exists_already = db.session.scalar(select(Event.id).where(Event.event_key == f"unsubscribe:{recipient.id}"))
    if not exists_already:
        db.session.execute(
            insert(Event).values(
                workspace_id=sub.workspace_id,
                event_key=f"unsubscribe:{recipient.id}",
                event_type="unsubscribe",
                campaign_id=recipient.campaign_id,
                recipient_id=recipient.id,
                subscriber_id=sub.id,
                data={"source": source},
                occurred_at=datetime.now(timezone.utc),
                created_at=datetime.now(timezone.utc),
            )
        )
    db.session.flush()
    return sub


def preferences_token(recipient_id: int) -> str:
    return make_token("preferences", recipient_id)


def unsubscribe_token(recipient_id: int) -> str:
    return make_token("unsubscribe", recipient_id)
