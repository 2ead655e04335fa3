"""What each hand-off's answer means for its recipient row, and recording a chunk's answers in one go.

The answer of a provider is filed by a table (`ChunkOutcome.take`):

    sent                         the row is sent, with the provider's message id
    not taken (unsupported)      failed with the sentence; no bounce, nothing suppressed
    unknown                      the provider may or may not have it: `unknown`, never resent blindly
    temporary (4xx)              tried again later, up to MAX_ATTEMPTS, then failed (GAVE_UP); a reply
                                 that asks the sender to slow down (421, 451, 4.7.x, "try again later")
                                 also halves the rate of its (From domain, mailbox provider) pair at
                                 once (delivery/throttle.py), whose next recipients are `held`
    permanent, 5.1.x             bounced: a bounce event suppresses the address
    permanent, 5.7.x             failed (SENDER_BLOCKED): the server refuses the sender, not the
                                 address; the provider slows down and the marketer is told
    other permanent refusals     failed, and a bounce event classifies it (hard, soft or block)
"""

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, select, text, update

from app.event_types import GAVE_UP, SENDER_BLOCKED
from app.extensions import db
from app.models import Campaign, CampaignRecipient
from app.providers import ProviderEvent
from app.providers.addresses import UNSUPPORTED
from app.providers.bounces import classify
from app.redis_client import get_redis
from app.services.delivery import delivery_stats
from app.services.delivery.ratelimit import slow_down, slowed_rate
from app.services.events import provider_events, rollups
from app.services.events.provider_events import campaign_ref

MAX_ATTEMPTS = 4  # a recipient refused for now (4xx) is tried this many times in all
GONE = "The subscriber was deleted before this message was sent."
INTERRUPTED = (
    "hand-off unknown: sending stopped on an unexpected error while this message was with the provider, "
    "which may or may not have it"
)
# Failures that were not the recipient's: the marketer may send to them again with one click.
RESENDABLE_REASONS = (SENDER_BLOCKED, GAVE_UP)
_cr = CampaignRecipient.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


_mark_sent = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(
        status="sent",
        sent_at=bindparam("ts"),
        message_id=bindparam("mid"),
        reason=None,
        provider_id=bindparam("pid"),
        provider_message_id=bindparam("pmid"),
        handoff_reply=bindparam("reply"),
    )
)


_mark_failed = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status=bindparam("st"), reason=bindparam("why"), message_id=bindparam("mid"))
)


_release = update(_cr).where(_cr.c.id == bindparam("rid")).values(status="pending", claimed_at=None)


_defer = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(
        status="pending", claimed_at=None, attempts=bindparam("n"), retry_at=bindparam("at"), reason=bindparam("why")
    )
)


# Held back by a limit (not the recipient's fault): no attempt is counted.
_wait = (
    update(_cr)
    .where(_cr.c.id == bindparam("rid"))
    .values(status="pending", claimed_at=None, retry_at=bindparam("at"), reason=bindparam("why"))
)


def retry_or_fail(deferred: list[tuple[int, str]], failed: list) -> list:
    """Temporary refusals: back to pending after a growing, jittered wait, or failed for good
    once MAX_ATTEMPTS tries are spent (with the server's last reply as the reason)."""
    if not deferred:
        return []
    attempts = dict(
        db.session.execute(select(_cr.c.id, _cr.c.attempts).where(_cr.c.id.in_([r for r, _ in deferred]))).all()
    )
    base = current_app.config.get("SEND_RETRY_BASE_SECONDS", 60)
    retries = []
    for rid, why in deferred:
        n = (attempts.get(rid) or 0) + 1
        if n >= MAX_ATTEMPTS:
            failed.append({"rid": rid, "st": "failed", "why": f"{why} (gave up after {n} attempts)"[:500], "mid": None})
            continue
        wait = base * 2 ** (n - 1) * (1 + random.random() * 0.3)  # jitter: retries of many do not collide
        at = datetime.fromtimestamp(time.time() + wait, timezone.utc)
        retries.append({"rid": rid, "n": n, "at": at, "why": f"{why} (attempt {n} of {MAX_ATTEMPTS}; retrying)"[:500]})
    return retries


def record(out: "ChunkOutcome", retries: list | None = None, waiting: list | None = None) -> None:
    """Write a chunk's answers: a statement per kind of change, each for all its rows."""
    watch = rollups.Watch(r["rid"] for r in (*out.sent, *out.failed))
    if retries:
        db.session.execute(_defer, retries)
    if waiting:
        db.session.execute(_wait, waiting)
    if out.held:
        db.session.execute(_wait, out.held)
    if out.sent:
        _record_sent(out.sent)
    if out.failed:
        db.session.execute(_mark_failed, out.failed)
    if out.released:
        db.session.execute(_release, out.released)
    watch.finish()


_MARK_SENT_MANY = text(
    "UPDATE campaign_recipients AS cr SET status = 'sent', sent_at = v.ts, message_id = v.mid, reason = NULL,"
    " provider_id = v.pid, provider_message_id = v.pmid, handoff_reply = v.reply"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:ts AS timestamptz[]), CAST(:mids AS text[]),"
    " CAST(:pids AS integer[]), CAST(:pmids AS text[]), CAST(:replies AS text[])) AS v(id, ts, mid, pid, pmid, reply)"
    " WHERE cr.id = v.id"
)


def _record_sent(sent: list) -> None:
    """A chunk's successes in one UPDATE … FROM unnest() on PostgreSQL (a statement per row elsewhere)."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(_mark_sent, sent)
        return
    db.session.execute(
        _MARK_SENT_MANY,
        {
            "ids": [r["rid"] for r in sent],
            "ts": [r["ts"] for r in sent],
            "mids": [r["mid"] for r in sent],
            "pids": [r["pid"] for r in sent],
            "pmids": [r["pmid"] for r in sent],
            "replies": [r["reply"] for r in sent],
        },
    )


def sync_refusals(campaign: Campaign, refusals: list) -> None:
    """The server's synchronous refusals become provider events, with the same cascade as a
    webhook's: a 5.1.x suppresses the address, a 5.7.x counts against the sender, not the address."""
    by_provider: dict[int, list] = {}
    now = _now()
    for rid, _sid, email, result, pid in refusals:
        by_provider.setdefault(pid, []).append(
            ProviderEvent(
                event_id=f"{campaign.id}-{rid}",
                event_type="bounce",
                raw_type="smtp/refused",
                email=email,
                occurred_at=now,
                ref=campaign_ref(campaign.id, rid),
                bounce_type=classify(result.code, result.enhanced, result.detail),
                smtp_code=result.code,
                enhanced=result.enhanced,
                diagnostic=result.detail,
            )
        )
    for pid, events in by_provider.items():
        provider_events.ingest(campaign.workspace_id, pid, events, source="sync")


def count_sent(campaign: Campaign, sent: list, from_emails: dict | None = None) -> None:
    """Count the hand-offs per provider and From domain (`from_emails`: {recipient id: the From a
    pool chose}; absent: the campaign's own)."""
    if sent:
        chosen = from_emails or {}
        counts = Counter((r["pid"], chosen.get(r["rid"], campaign.from_email)) for r in sent)
        delivery_stats.add_sent(campaign.workspace_id, counts)


def sender_blocked(campaign: Campaign, blocks: list) -> None:
    """Receiving servers refuse this sender (5.7.x): alert the marketer and send slower."""
    r = get_redis()
    provider, last = blocks[-1]
    for p in {p.id: p for p, _ in blocks}.values():
        slow_down(r, p.id, last)
    rate = slowed_rate(provider.max_sends_per_second)
    campaign.last_error = (
        f"Receiving servers are refusing mail from this sender ({len(blocks)} just now; last reply: "
        f"{last}). Herald sends through “{provider.name}” at {rate}/s for the next 15 minutes. "
        "Check the sending domain's SPF, DKIM and DMARC and its reputation; the refused recipients "
        "were not suppressed and can be sent again from this page."
    )[:2000]
    current_app.logger.warning("sender blocked: campaign %s provider %s: %s", campaign.id, provider.id, last)


# A permanent refusal by its enhanced status class: (row status, reason label).
_PERMANENT = {"5.7.": ("failed", SENDER_BLOCKED), "5.1.": ("bounced", "smtp rejected")}


@dataclass
class ChunkOutcome:
    """What the rows of one claimed chunk came to, kept until they are recorded in one go."""

    sent: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # failed, bounced and unknown rows, with the reason
    released: list = field(default_factory=list)  # back to pending, untried
    bounces: list = field(default_factory=list)  # permanent refusals, for the event log's cascade
    deferred: list = field(default_factory=list)  # 4xx: tried again later
    blocks: list = field(default_factory=list)  # 5.7.x: the server refused the sender, not the address
    window_waits: list = field(default_factory=list)  # the window closed before their hand-off
    held: list = field(default_factory=list)  # not handed off: their mailbox provider's pair is throttled

    def take(self, rid: int, sid: int, email: str, mid: str, provider, result) -> None:
        """File one hand-off's answer by the table in this module's docstring."""
        kind = "sent" if result.ok else result.failure
        _FILING.get(kind, ChunkOutcome._refused)(self, rid, sid, email, mid, provider, result)

    def fail(self, rid: int, why: str, status: str = "failed", mid: str | None = None) -> None:
        self.failed.append({"rid": rid, "st": status, "why": why[:500], "mid": mid})

    def handled(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.deferred)

    def untried(self, claimed: list) -> list[dict]:
        """Claimed rows no hand-off was attempted for: safe to put back to pending."""
        done = {r["rid"] for r in self.sent} | {r["rid"] for r in self.failed} | {r for r, _ in self.deferred}
        done |= {r["rid"] for r in self.held}
        return [{"rid": rid} for rid, _ in claimed if rid not in done]

    def _sent(self, rid, sid, email, mid, provider, result) -> None:
        self.sent.append({"rid": rid, "ts": _now(), "mid": mid, "pid": provider.id, "pmid": result.provider_message_id,
                          "reply": result.reply()})  # fmt: skip

    def _not_taken(self, rid, sid, email, mid, provider, result) -> None:
        self.fail(rid, result.detail or "")  # the provider cannot take the address: no bounce

    def _unknown(self, rid, sid, email, mid, provider, result) -> None:
        self.fail(rid, f"hand-off unknown: {result.detail}", "unknown", mid)

    def _deferred(self, rid, sid, email, mid, provider, result) -> None:
        self.deferred.append((rid, f"smtp deferred: {result.detail}"))

    def _refused(self, rid, sid, email, mid, provider, result) -> None:
        status, label = "failed", "smtp rejected"
        if result.failure == "permanent":
            status, label = _PERMANENT.get((result.enhanced or "")[:4], (status, label))
        if label == SENDER_BLOCKED:  # the server refuses the sender, not the address: never suppress it
            self.blocks.append((provider, result.detail))
        self.fail(rid, f"{label}: {result.detail}", status)
        # Every permanent refusal is a bounce event too (classified hard, soft or block).
        self.bounces.append((rid, sid, email, result, provider.id))


_FILING = {
    "sent": ChunkOutcome._sent,
    UNSUPPORTED: ChunkOutcome._not_taken,
    "unknown": ChunkOutcome._unknown,
    "temporary": ChunkOutcome._deferred,
}
