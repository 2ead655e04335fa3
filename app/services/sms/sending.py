"""The send job: claim a few rows, wait for the sender's slot, hand each text to Twilio, record it.

Never twice: a row is `sending` (committed) before its hand-off and `sent` (with Twilio's
message SID) after; a worker that dies between the two leaves it `sending`, and the periodic
tick turns it `unknown` unless Twilio's status callback names it first (the callback URL
carries the row's id, so a text whose SID was never recorded still finds its row).

Rates are per sender (a from number, or the messaging service) and live in Redis
(delivery/ratelimit.py's GCRA), so every worker on every machine shares them. A text that
would arrive in the recipient's quiet hours goes back to `pending` with `not_before`, and the
tick queues the campaign again when it is due.
"""

import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import or_, select, update

from app.extensions import db
from app.models import Provider, SmsCampaign, SmsRecipient, Subscriber, Workspace
from app.providers import TransportUnavailable, twilio
from app.redis_client import get_redis
from app.services.content.rendering import render_problem
from app.services.delivery import providers, ratelimit
from app.services.sms import campaigns, consent, encoding, quiet_hours, settings

_rec = SmsRecipient.__table__
CHUNK = 10  # rows claimed at once: at 1 text a second, ten seconds of work
JOB_SECONDS = 240.0  # then the job queues its own continuation (RQ's timeout is far off)
STATUS_EVERY = 2.0  # seconds between looks at whether the campaign was paused or cancelled
ALIVE_SECONDS = 90  # a campaign whose job has not said so for this long is queued again by the tick
OPTED_OUT = 21610


def _now() -> datetime:
    return datetime.now(timezone.utc)


def alive_key(campaign_id: int) -> str:
    return f"herald:sms:alive:{campaign_id}"


def rate_key(provider_id: int, sender: str) -> str:
    return f"herald:sms:rate:{provider_id}:{sender}"


def day_key(provider_id: int) -> str:
    return f"herald:sms:day:{provider_id}:{datetime.now(timezone.utc):%Y%m%d}"


def status_callback_url(provider_id: int, recipient_id: int) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/webhooks/twilio/{provider_id}/status?r={recipient_id}"


def sender_for(phone: str, senders: list[str]) -> str:
    """The same number texts the same person every time (sticky sender), spread evenly."""
    return senders[zlib.crc32(phone.encode()) % len(senders)]


@dataclass
class _Row:
    id: int
    subscriber_id: int
    phone: str
    context: dict | None
    name: str | None
    email: str
    attributes: dict | None
    timezone: str | None


def claim(campaign_id: int, limit: int) -> list[_Row]:
    """Up to `limit` due pending rows, marked `sending` in one UPDATE (SKIP LOCKED on PostgreSQL)."""
    now = _now()
    due = (
        select(_rec.c.id)
        .where(
            _rec.c.campaign_id == campaign_id,
            _rec.c.status == "pending",
            or_(_rec.c.not_before.is_(None), _rec.c.not_before <= now),
        )
        .order_by(_rec.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = (
        db.session.execute(
            update(_rec)
            .where(_rec.c.id.in_(due.scalar_subquery()), _rec.c.status == "pending")
            .values(status="sending", claimed_at=now, updated_at=now)
            .returning(_rec.c.id)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    s = Subscriber.__table__
    rows = db.session.execute(
        select(
            _rec.c.id,
            _rec.c.subscriber_id,
            _rec.c.phone,
            _rec.c.context,
            s.c.name,
            s.c.email,
            s.c.attributes,
            s.c.timezone,
        )
        .join(s, s.c.id == _rec.c.subscriber_id)
        .where(_rec.c.id.in_(ids))
        .order_by(_rec.c.id)
    ).all()
    return [_Row(*r) for r in rows]


def _context(campaign: SmsCampaign, row: _Row) -> dict:
    ctx = row.context or {}
    return {
        "subscriber": {
            "id": row.subscriber_id,
            "email": row.email,
            "name": row.name,
            "phone": row.phone,
            "attributes": row.attributes or {},
        },
        "campaign": {"name": campaign.name},
        "event": ctx.get("event") or {},
        "data": ctx.get("data") or {},
        "flow": ctx.get("flow") or {},
    }


class SendRun:
    """One job's work on one campaign, until nothing is due, the campaign stops, or time is up."""

    def __init__(self, campaign: SmsCampaign, provider: Provider):
        self.campaign = campaign
        self.provider = provider
        self.client, _ = providers.transport_for(provider)
        self.senders = twilio.senders(provider.settings or {})
        self.template = campaigns.compile_body(campaign.body)
        workspace = db.session.get(Workspace, campaign.workspace_id)
        self.fallback_zone = workspace.timezone or "UTC"
        self.sms = settings.settings_of(campaign.workspace_id)
        self.redis = get_redis()
        self.checked_at = time.monotonic()
        self.day_full: datetime | None = None  # the provider's daily limit is spent until then
        self.counts = {"sent": 0, "failed": 0, "held": 0, "unknown": 0, "skipped": 0}

    def stopped(self) -> bool:
        if time.monotonic() - self.checked_at < STATUS_EVERY:
            return False
        self.checked_at = time.monotonic()
        status = db.session.scalar(select(SmsCampaign.status).where(SmsCampaign.id == self.campaign.id))
        db.session.commit()  # end the read's transaction: nothing is held between texts
        return status != "sending"

    def run(self, deadline: float) -> str:
        """'done' (nothing due now), 'stopped' (paused or cancelled) or 'more' (time is up)."""
        while time.monotonic() < deadline:
            self.redis.set(alive_key(self.campaign.id), 1, ex=ALIVE_SECONDS)
            rows = claim(self.campaign.id, CHUNK)
            db.session.commit()
            if not rows:
                return "done"
            for i, row in enumerate(rows):
                if self.stopped():
                    release([r.id for r in rows[i:]])
                    return "stopped"
                if self.day_full is not None:  # the rest wait for the provider's next day
                    release([r.id for r in rows[i:]], not_before=self.day_full)
                    return "done"
                self.send_one(row)
                db.session.commit()
        return "more"

    def _held_until(self, row: _Row) -> datetime | None:
        if not self.campaign.quiet_hours:
            return None
        zones = quiet_hours.zones_for(row.timezone, row.phone, self.fallback_zone)
        now = _now()
        at = quiet_hours.next_allowed(now, zones, self.sms.quiet_start, self.sms.quiet_end)
        return at if at > now else None

    def send_one(self, row: _Row) -> None:
        held = self._held_until(row)
        if held is not None:
            _set(row.id, status="pending", not_before=held, claimed_at=None)
            self.counts["held"] += 1
            return
        try:
            text = campaigns.render_body(self.template, _context(self.campaign, row))
            if not text:
                raise ValueError("the text is empty for this person")
        except Exception as exc:  # the marketer's expression failing for this person: theirs to see
            _set(row.id, status="skipped", skip_reason="render_failed", error_message=render_problem(exc)[:500])
            self.counts["skipped"] += 1
            return
        sender = sender_for(row.phone, self.senders)
        if not self._wait_for_slot(sender):
            _set(row.id, status="pending", claimed_at=None, not_before=self.day_full)
            self.counts["held"] += 1
            return
        measure = encoding.measure(text)
        common = {"sender": sender, "body": text, "segments": measure.segments, "encoding": measure.encoding}
        try:
            result = self.client.send_sms(row.phone, text, sender, status_callback_url(self.provider.id, row.id))
        except TransportUnavailable as exc:
            # Nothing was handed off: the row waits its turn again, a little later.
            _set(row.id, status="pending", claimed_at=None, error_message=str(exc)[:500],
                 not_before=datetime.fromtimestamp(time.time() + 30, timezone.utc))  # fmt: skip
            self.counts["held"] += 1
            return
        self._record(row, result, common)

    def _wait_for_slot(self, sender: str) -> bool:
        """Wait for the sender's next slot; False when the provider's daily limit is spent (day_full
        then says when the next UTC day starts)."""
        self.day_full = wait_for_slot(self.redis, self.provider, sender, self.provider.max_sends_per_day)
        return self.day_full is None

    def _record(self, row: _Row, result, common: dict) -> None:
        now = _now()
        if result.ok:
            sent = {
                **common,
                "message_sid": result.sid,
                "sent_at": now,
                "segments": result.segments or common["segments"],
            }
            # Twilio's callback may have come first (it finds the row by the id in its URL): then the
            # row keeps the status the callback gave it and only learns what was sent.
            status = {"status": "sent", "twilio_status": result.status, "status_rank": callback_rank(result.status)}
            if not _set(row.id, only_if_sending=True, **sent, **status):
                _set(row.id, **sent)
            self.counts["sent"] += 1
        elif result.failure == "unknown":
            _set(row.id, status="unknown", error_message=(result.error_message or "")[:500], **common)
            self.counts["unknown"] += 1
        else:
            _set(row.id, status="failed", error_code=result.error_code, error_message=(result.error_message or "")[:500],
                 twilio_status="failed", status_rank=RANKS["failed"], **common)  # fmt: skip
            if result.error_code == OPTED_OUT:
                consent.opt_out_number(self.campaign.workspace_id, row.phone, "carrier")
            self.counts["failed"] += 1


def wait_for_slot(redis, provider: Provider, sender: str, per_day: int | None) -> datetime | None:
    """Take the sender's next slot (its rate, shared by every worker) and wait for it. With the provider's
    daily limit `per_day` spent, nothing is taken: returns when the next UTC day starts."""
    rates = [ratelimit.Rate(rate_key(provider.id, sender), twilio.sender_rate(provider.settings or {}), 1)]
    status, wait, _ = ratelimit.take_slot(redis, day_key(provider.id), per_day, rates, ahead=None)
    if status < 0:
        return _now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if wait > 0:
        time.sleep(wait)
    return None


# Twilio's statuses in the order a text moves through them; a callback never moves a row back.
RANKS = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "delivered": 6, "undelivered": 6, "failed": 6, "canceled": 6, "read": 7,
}  # fmt: skip
# What Herald calls a row once Twilio says so.
HERALD_STATUS = {"delivered": "delivered", "read": "delivered", "undelivered": "undelivered", "failed": "failed",
                 "canceled": "failed"}  # fmt: skip


def callback_rank(status: str | None) -> int:
    return RANKS.get((status or "").lower(), 0)


def _set(recipient_id: int, only_if_sending: bool = False, **values) -> bool:
    values.setdefault("updated_at", _now())
    stmt = update(_rec).where(_rec.c.id == recipient_id)
    if only_if_sending:
        stmt = stmt.where(_rec.c.status == "sending")
    return bool(db.session.execute(stmt.values(**values)).rowcount)


def release(ids: list[int], not_before: datetime | None = None) -> None:
    """Claimed rows not handed off (the campaign stopped, the day's limit is spent): back to `pending`."""
    if ids:
        values = {"status": "pending", "claimed_at": None} | ({"not_before": not_before} if not_before else {})
        db.session.execute(update(_rec).where(_rec.c.id.in_(ids), _rec.c.status == "sending").values(**values))
    db.session.commit()
