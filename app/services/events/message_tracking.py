"""Opens and clicks of transactional messages: few enough to be written straight to the message
row and the event log, from the public pixel and link routes (campaign tracking is batched in
events/tracking.py instead)."""

import secrets
from datetime import datetime, timezone

from app.extensions import db
from app.models import Message
from app.services.delivery.transactional import CLICK_PURPOSE, OPEN_PURPOSE
from app.services.events import engagement, verdicts
from app.services.events.event_log import insert_events
from app.services.tokens import read_token


def _now() -> datetime:
    return datetime.now(timezone.utc)


def record_message_open(token: str, user_agent: str | None, ip: str | None, method: str = "GET") -> bool:
    """The first open is kept on the message and every open goes to the event log; False for a bad token."""
    ids = read_token(OPEN_PURPOSE, token, 1)
    msg = db.session.get(Message, ids[0]) if ids else None
    if msg is None:
        return False
    _track(msg, "open", None, user_agent, ip, method)
    return True


def record_message_click(token: str, user_agent: str | None, ip: str | None, method: str = "GET") -> str | None:
    """The URL recorded for that link of that message (None for a bad token); the click is logged."""
    ids = read_token(CLICK_PURPOSE, token, 2)
    msg = db.session.get(Message, ids[0]) if ids else None
    links = (msg.links or []) if msg is not None else []
    if msg is None or not 1 <= ids[1] <= len(links):
        return None
    _track(msg, "click", links[ids[1] - 1], user_agent, ip, method)
    return links[ids[1] - 1]


def _track(msg: Message, kind: str, url: str | None, user_agent: str | None, ip: str | None, method: str) -> None:
    """The raw first open and click on the message; every hit to the event log with its verdict (one
    message has no campaign's bursts or honeypot: the rules of a single hit judge it)."""
    now = _now()
    msg.opened_at = msg.opened_at or now  # a click proves an open, even with images blocked
    if kind == "click":
        msg.clicked_at = msg.clicked_at or now
    seconds = (now - msg.sent_at).total_seconds() if msg.sent_at else None
    hit = verdicts.Hit(kind, "HEAD" if method == "HEAD" else "GET", user_agent, ip, seconds)
    verdict, signals = verdicts.classify(hit, engagement.ranges())
    insert_events([{"workspace_id": msg.workspace_id, "event_key": f"message-{kind}:{secrets.token_hex(9)}",
                    "event_type": kind, "message_id": msg.id, "email": msg.to_email,
                    "subscriber_id": msg.subscriber_id, "user_agent": (user_agent or "")[:500] or None,
                    "ip": (ip or "")[:64] or None, "verdict": verdict,
                    "data": {"message_id": msg.id, "signals": signals, **({"url": url} if url else {})},
                    "occurred_at": now, "created_at": now}])  # fmt: skip
    db.session.flush()
