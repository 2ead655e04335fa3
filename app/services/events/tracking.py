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

from sqlalchemy import bindparam, select, text

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Link, Subscriber
from app.models.base import UTCDateTime
from app.redis_client import get_redis
from app.services import outbound_webhooks
from app.services.audience.contacts import unsubscribe
from app.services.events import engagement, rollups
from app.services.events.event_log import insert_events
from app.services.tokens import make_token, read_token

HITS_KEY = "herald:hits"
LOCK_KEY = "herald:hits:lock"
_links: "OrderedDict[int, str]" = OrderedDict()


def _push(kind: str, recipient_id: int, link_id: int | None, user_agent, ip, method: str, r=None) -> None:
    hit = [kind, os.urandom(9).hex(), recipient_id, link_id, time.time(), (user_agent or "")[:500], (ip or "")[:64]]
    hit.append("HEAD" if method == "HEAD" else "GET")
    (r or get_redis()).rpush(HITS_KEY, json.dumps(hit, separators=(",", ":")))


def record_open(
    token: str, user_agent: str | None, ip: str | None, secret: str | None = None, r=None, method: str = "GET"
) -> bool:
    """Queue an open for the recipient in the token; False (and nothing stored) for a bad token.

    With `secret` and a Redis client given it needs no Flask context (the pixel middleware).
    """
    ids = read_token("open", token, 1, secret=secret)
    if ids is None:
        return False
    _push("open", ids[0], None, user_agent, ip, method, r)
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


def record_click(token: str, user_agent: str | None, ip: str | None, method: str = "GET") -> str | None:
    """Queue a click and return the URL to redirect to; None for a bad token."""
    ids = read_token("click", token, 2)
    if ids is None:
        return None
    url = link_url(ids[1])
    if url is None:
        return None
    _push("click", ids[0], ids[1], user_agent, ip, method)
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
    """The hits into the event log, each with its verdict, and the recipients' first opens and clicks,
    raw and human (engagement.py judges them)."""
    owners = _owners({h[2] for h in hits})
    rows = []
    for kind, key, rid, link_id, ts, ua, ip, *rest in hits:
        owner = owners.get(rid)
        if owner is None:  # recipient deleted since the message went out
            continue
        cid, sid, ws, _, email, *_ = owner
        rows.append(
            {
                "workspace_id": ws,
                "event_key": f"{kind}:{key}",
                "event_type": kind,
                "campaign_id": cid,
                "recipient_id": rid,
                "subscriber_id": sid,
                "email": email,
                "link_id": link_id,
                "user_agent": ua or None,
                "ip": ip or None,
                "occurred_at": datetime.fromtimestamp(ts, timezone.utc),
                "created_at": datetime.now(timezone.utc),
                "method": rest[0] if rest else "GET",  # hits queued before methods were kept: GET
            }
        )
    if not rows:
        return
    watch = rollups.Watch()
    retold = engagement.judge(rows, {rid: o[3] for rid, o in owners.items()}, watch)
    for row in rows:
        row.pop("method")
    # The rollups: recipients whose stored clicks were judged again are watched whole; the others'
    # first opens and clicks say what they changed as they are written (PostgreSQL), or are watched too.
    told = _told_changes()
    watch.recipients(retold if told else {row["recipient_id"] for row in rows} | retold)
    inserted = insert_events(rows)  # a batch processed twice after a crash counts once (unique event keys)
    fresh = [row for row in rows if row["event_key"] in inserted]
    changes = _mark_firsts(fresh, told)
    engagement.recount_humans(retold)
    dims = {rid: (o[2], o[0], o[5], o[6]) for rid, o in owners.items()}
    watch.finish(new_rows=fresh, dims=dims, changes=[c for c in changes if c[0] not in retold])
    _fan_out(fresh, inserted)


def _told_changes() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _fan_out(fresh: list[dict], inserted: dict) -> None:
    """The new opens and clicks to each workspace's outbound webhooks (with their verdicts)."""
    by_workspace: dict[int, list[int]] = {}
    for row in fresh:
        by_workspace.setdefault(row["workspace_id"], []).append(inserted[row["event_key"]])
    if any([outbound_webhooks.fan_out(ws, ids) for ws, ids in by_workspace.items()]):
        outbound_webhooks.run_soon_after_commit()


def _owners(rids: set) -> dict:
    """{recipient id: (campaign id, subscriber id, workspace id, sent at, email, mailbox provider, identity)}."""
    return {
        rid: (cid, sid, ws, sent_at, email, provider or "", identity or 0)
        for rid, cid, sid, ws, sent_at, email, provider, identity in db.session.execute(
            select(
                CampaignRecipient.id,
                CampaignRecipient.campaign_id,
                CampaignRecipient.subscriber_id,
                Campaign.workspace_id,
                CampaignRecipient.sent_at,
                CampaignRecipient.email,
                CampaignRecipient.mailbox_provider,
                CampaignRecipient.identity_id,
            )
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.id.in_(rids))
        )
    }


def _mark_firsts(rows: list[dict], told: bool = False) -> list:
    """Each recipient's first open and click, raw (any hit) and human (engagement.HUMAN_*); with `told`,
    what changed: [(recipient id, column, before, after)]."""
    first_open, first_click, human_open, human_click = {}, {}, {}, {}
    for row in rows:
        rid, at, human = row["recipient_id"], row["occurred_at"], engagement.is_human(row)
        first_open[rid] = min(at, first_open.get(rid, at))  # a click proves an open, even with images off
        if human:  # a click implies an open only when the click itself is a person's
            human_open[rid] = min(at, human_open.get(rid, at))
        if row["event_type"] == "click":
            first_click[rid] = min(at, first_click.get(rid, at))
            if human:
                human_click[rid] = min(at, human_click.get(rid, at))
    return mark_recipients("opened_at", first_open, ("sent", "delivered"), "opened", human_open, told) + (
        mark_recipients("clicked_at", first_click, ("sent", "delivered", "opened"), "clicked", human_click, told)
    )


def mark_recipients(
    column: str, first_seen: dict, promote_from: tuple = (), status: str | None = None, human: dict | None = None,
    told: bool = False,
) -> list:  # fmt: skip
    """Record first opens or clicks for many recipients in one statement (not one per recipient);
    with `status`, rows in `promote_from` move to it; `human` ({id: at}, a subset) sets the
    human_<column> beside it. An earlier time already recorded stays. With `told` (PostgreSQL), the
    rows are locked and read in the same statement: [(id, column, before, after)] of what changed."""
    if not first_seen:
        return []
    promote = ", ".join(f"'{s}'" for s in promote_from)  # constants, never user input
    if db.session.get_bind().dialect.name == "postgresql":
        sets = [f"{column} = LEAST(COALESCE(cr.{column}, v.at), v.at)"]
        if human is not None:  # LEAST ignores NULLs: a machine's hit leaves the human time as it was
            sets.append(f"human_{column} = LEAST(cr.human_{column}, v.human)")
        if status:
            sets.append(f"status = CASE WHEN cr.status IN ({promote}) THEN '{status}' ELSE cr.status END")
        params = {"ids": list(first_seen), "ats": list(first_seen.values()),
                  "humans": [(human or {}).get(i) for i in first_seen]}  # fmt: skip
        values = ("FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[]), CAST(:humans AS timestamptz[]))"
                  " AS v(id, at, human)")  # fmt: skip
        if not told:
            db.session.execute(
                text(f"UPDATE campaign_recipients AS cr SET {', '.join(sets)} {values} WHERE cr.id = v.id"), params
            )
            return []
        # The old values from a locking read in the same statement (rows locked in id order, as everywhere).
        changed = db.session.execute(text(
            f"UPDATE campaign_recipients AS cr SET {', '.join(sets)} {values}, (SELECT id, {column} AS was, "
            f"human_{column} AS was_human FROM campaign_recipients WHERE id = ANY(CAST(:ids AS integer[])) "
            "ORDER BY id FOR NO KEY UPDATE) AS old WHERE cr.id = v.id AND old.id = v.id "
            f"RETURNING cr.id, old.was, cr.{column}, old.was_human, cr.human_{column}"), params).all()  # fmt: skip
        return [change for rid, was, now, was_human, now_human in changed
                for change in ((rid, column, was, now), (rid, f"human_{column}", was_human, now_human))
                if change[2] != change[3]]  # fmt: skip
    sets = [f"{column} = MIN(COALESCE({column}, :at), :at)"]
    if human is not None:
        sets.append(f"human_{column} = COALESCE(MIN(human_{column}, :human), human_{column}, :human)")
    if status:
        sets.append(f"status = CASE WHEN status IN ({promote}) THEN '{status}' ELSE status END")
    params = [bindparam("at", type_=UTCDateTime)] + (
        [bindparam("human", type_=UTCDateTime)] if human is not None else []
    )
    db.session.execute(
        text(f"UPDATE campaign_recipients SET {', '.join(sets)} WHERE id = :id").bindparams(*params),
        [{"id": i, "at": at, **({"human": human.get(i)} if human is not None else {})} for i, at in first_seen.items()],
    )
    return []  # SQLite: the caller watches the rows instead


def recipient_for_token(purpose: str, token: str) -> CampaignRecipient | None:
    ids = read_token(purpose, token, 1)
    return db.session.get(CampaignRecipient, ids[0]) if ids else None


_HOW = {"link": "unsubscribe link", "one-click": "one-click unsubscribe (List-Unsubscribe-Post)"}


def unsubscribe_recipient(recipient: CampaignRecipient, source: str) -> Subscriber | None:
    """Unsubscribe the person behind a campaign message, at once, and record it once. `source` is one of
    SUPPRESSION_SOURCES ("link", "one-click", "preference center"): the event and the suppression keep it."""
    sub = db.session.get(Subscriber, recipient.subscriber_id)
    if sub is None:
        return None
    campaign = db.session.get(Campaign, recipient.campaign_id)
    how = _HOW.get(source, source)
    unsubscribe(sub, detail=f"{how} in campaign '{campaign.name}'" if campaign else how, source=source)
    if recipient.status not in ("failed", "bounced", "complained"):
        recipient.status = "unsubscribed"
    now = datetime.now(timezone.utc)
    added = insert_events([{"workspace_id": sub.workspace_id, "event_key": f"unsubscribe:{recipient.id}",
                            "event_type": "unsubscribe", "campaign_id": recipient.campaign_id,
                            "recipient_id": recipient.id, "subscriber_id": sub.id, "data": {"source": source},
                            "occurred_at": now, "created_at": now}])  # once, however often they click  # fmt: skip
    rollups.add_events(added.values())
    db.session.flush()
    return sub


def preferences_token(recipient_id: int) -> str:
    return make_token("preferences", recipient_id)


def unsubscribe_token(recipient_id: int) -> str:
    return make_token("unsubscribe", recipient_id)
