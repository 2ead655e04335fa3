"""Provider events into the one event log, and what each one changes (DESIGN.md "Events").

Every provider webhook, every report that comes back to a VERP address and every
synchronous SMTP refusal arrives here as a list of `ProviderEvent`s. `ingest`:

1. finds each event's message: Herald's reference (`c-<campaign>-<recipient>` or
   `m-<message>`, passed to the provider as a custom argument, a tag or in the VERP
   address) or the Message-ID Herald wrote (`<campaign.recipient.random@domain>` or
   `<m<message>.random@domain>`), else the provider's own message id stored at hand-off
   (for the provider the webhook came in for), only inside the event's workspace;
2. inserts one event row per provider event, unique on the provider's event id, so a
   payload delivered three times counts once; events for nobody Herald knows are kept
   too (shown as unmatched), never dropped;
3. cascades only the events that were new: recipient or message status, the subscriber's
   status and soft-bounce streak, the suppression list, and the per-day delivery counters.

Statuses only move forward: a late `delivery` never overwrites a `bounced`, and an open
never un-bounces anyone. The caller commits (the webhook job, the mailin handler).
"""

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from flask import current_app
from sqlalchemy import bindparam, case, func, literal_column, or_, select, update

from app.event_types import SENDER_BLOCKED
from app.extensions import db
from app.models import Campaign, CampaignRecipient, Message, SendingIdentity, Subscriber
from app.providers import ProviderEvent
from app.redis_client import get_redis
from app.services import outbound_webhooks
from app.services.audience.contacts import suppress_address, unsubscribe
from app.services.delivery import delivery_stats
from app.services.delivery.ratelimit import slow_down
from app.services.delivery.throttle import ThrottlePolicy, deferrals_reported
from app.services.events import rollups
from app.services.events.event_log import insert_events
from app.services.events.tracking import mark_recipients

SOFT_BOUNCE_LIMIT = 3  # soft bounces in a row before an address is suppressed (deliverability.md §7.2)
_CAMPAIGN_REF = re.compile(r"^c-(\d{1,12})-(\d{1,15})$")
_MESSAGE_REF = re.compile(r"^m-(\d{1,15})$")
_CAMPAIGN_MID = re.compile(r"^<?(\d{1,12})\.(\d{1,15})\.[0-9a-f]+@[^>]+>?$")
_MESSAGE_MID = re.compile(r"^<?m(\d{1,15})\.[0-9a-f]+@[^>]+>?$")

# Recipient statuses an event may move a row out of (anything later is left alone).
_SENT_STATES = ("sending", "sent", "unknown", "delivered")
_OUTCOME_STATES = _SENT_STATES + ("opened", "clicked")
_COUNTER = {
    "delivery": "delivered",
    "complaint": "complained",
    "reject": "rejected",
    "delivery_delay": "deferred",
    "unsubscribe": "unsubscribed",
}
_BOUNCE_COUNTER = {"hard": "bounced_hard", "soft": "bounced_soft", "block": "blocked"}


@dataclass
class IngestResult:
    total: int = 0
    new: int = 0
    unmatched: int = 0
    by_type: dict = field(default_factory=dict)
    event_ids: list = field(default_factory=list)


@dataclass
class _Target:
    """The message an event is about."""

    kind: str  # "c" (campaign recipient) or "m" (transactional message)
    id: int
    campaign_id: int | None
    subscriber_id: int | None
    email: str
    status: str
    from_email: str
    provider_id: int | None


def parse_ref(ref: str | None, message_id: str | None) -> tuple[str, int] | None:
    """("c", recipient id) or ("m", message id) from a reference or a Message-ID Herald wrote."""
    if ref:
        if m := _CAMPAIGN_REF.match(ref.strip()):
            return "c", int(m.group(2))
        if m := _MESSAGE_REF.match(ref.strip()):
            return "m", int(m.group(1))
    if message_id:
        mid = message_id.strip()
        if m := _CAMPAIGN_MID.match(mid):
            return "c", int(m.group(2))
        if m := _MESSAGE_MID.match(mid):
            return "m", int(m.group(1))
    return None


def campaign_ref(campaign_id: int, recipient_id: int) -> str:
    return f"c-{campaign_id}-{recipient_id}"


def message_ref(message_id: int) -> str:
    return f"m-{message_id}"


# A campaign message's From: the identity a pool chose for the row, else the campaign's own.
_FROM = func.coalesce(SendingIdentity.email, Campaign.from_email)


def _targets(workspace_id: int, refs: set[tuple[str, int]]) -> dict[tuple[str, int], _Target]:
    """The messages the events name, looked up in two queries and only inside the workspace."""
    found: dict[tuple[str, int], _Target] = {}
    rids = [i for k, i in refs if k == "c"]
    if rids:
        rows = db.session.execute(
            select(
                CampaignRecipient.id,
                CampaignRecipient.campaign_id,
                CampaignRecipient.subscriber_id,
                CampaignRecipient.email,
                CampaignRecipient.status,
                CampaignRecipient.provider_id,
                _FROM,
                Campaign.provider_id,
            )
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .outerjoin(SendingIdentity, SendingIdentity.id == CampaignRecipient.identity_id)
            .where(CampaignRecipient.id.in_(rids), Campaign.workspace_id == workspace_id)
        ).all()
        for r in rows:
            found[("c", r[0])] = _Target("c", r[0], r[1], r[2], r[3], r[4], r[6], r[5] or r[7])
    mids = [i for k, i in refs if k == "m"]
    if mids:
        rows = db.session.execute(
            select(
                Message.id, Message.subscriber_id, Message.to_email, Message.status, Message.from_email,
                Message.provider_id,
            ).where(Message.id.in_(mids), Message.workspace_id == workspace_id)
        ).all()  # fmt: skip
        for r in rows:
            found[("m", r[0])] = _Target("m", r[0], None, r[1], r[2], r[3], r[4], r[5])
    return found


def provider_id_forms(value: str | None) -> tuple[str, ...]:
    """The spellings a provider's message id may be stored under: as given, without angle brackets
    (Mailgun's `<id@domain>`), with them, and SendGrid's X-Message-Id before its first dot."""
    bare = (value or "").strip().removeprefix("<").removesuffix(">").strip()
    if not bare:
        return ()
    forms = [bare, f"<{bare}>"]
    if "@" not in bare:  # a Message-ID-like id (Mailgun's) is never cut at a dot
        forms.append(bare.split(".", 1)[0])
    return tuple(dict.fromkeys(f[:255] for f in forms if f))


def _targets_by_provider_id(
    workspace_id: int, provider_id: int, events: list[ProviderEvent]
) -> dict[str, list[_Target]]:
    """{stored provider message id: targets} for the events no reference of Herald's found.

    Set-based (one query per table for the whole batch) and scoped twice: to the workspace and to
    the provider the webhook came in for, so another account's id never matches anyone here.
    """
    wanted = {form for ev in events for form in provider_id_forms(ev.provider_message_id)}
    found: dict[str, list[_Target]] = defaultdict(list)
    if not wanted:
        return found
    wanted_list = sorted(wanted)
    cr = db.session.execute(
        select(
            CampaignRecipient.provider_message_id,
            CampaignRecipient.id,
            CampaignRecipient.campaign_id,
            CampaignRecipient.subscriber_id,
            CampaignRecipient.email,
            CampaignRecipient.status,
            _FROM,
        )
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .outerjoin(SendingIdentity, SendingIdentity.id == CampaignRecipient.identity_id)
        .where(
            CampaignRecipient.provider_id == provider_id,
            CampaignRecipient.provider_message_id.in_(wanted_list),
            Campaign.workspace_id == workspace_id,
        )
    ).all()
    for r in cr:
        found[r[0]].append(_Target("c", r[1], r[2], r[3], r[4], r[5], r[6], provider_id))
    msgs = db.session.execute(
        select(
            Message.provider_message_id, Message.id, Message.subscriber_id, Message.to_email, Message.status,
            Message.from_email,
        ).where(
            Message.provider_id == provider_id,
            Message.provider_message_id.in_(wanted_list),
            Message.workspace_id == workspace_id,
        )
    ).all()  # fmt: skip
    for r in msgs:
        found[r[0]].append(_Target("m", r[1], None, r[2], r[3], r[4], r[5], provider_id))
    return found


def _by_provider_id(ev: ProviderEvent, found: dict[str, list[_Target]]) -> _Target | None:
    """The one target the event's provider message id names (by the event's address when an id
    was shared by several recipients of one API call)."""
    candidates = {(t.kind, t.id): t for form in provider_id_forms(ev.provider_message_id) for t in found.get(form, ())}
    if not candidates:
        return None
    if ev.email:
        mine = [t for t in candidates.values() if t.email.lower() == ev.email.strip().lower()]
        return mine[0] if len(mine) == 1 else None
    return next(iter(candidates.values())) if len(candidates) == 1 else None


def _resolve(workspace_id: int, provider_id: int | None, events: list[ProviderEvent]) -> dict[int, _Target]:
    """{index of the event: its target}: by Herald's reference first, then by the provider's message id."""
    refs = {i: parse_ref(ev.ref, ev.message_id) for i, ev in enumerate(events)}
    targets = _targets(workspace_id, set(refs.values()) - {None})
    out = {i: targets[r] for i, r in refs.items() if r in targets and _matches(targets[r], events[i])}
    missing = [ev for i, ev in enumerate(events) if i not in out and ev.provider_message_id]
    if provider_id and missing:
        found = _targets_by_provider_id(workspace_id, provider_id, missing)
        for i, ev in enumerate(events):
            if i not in out and ev.provider_message_id and (t := _by_provider_id(ev, found)) is not None:
                out[i] = t
    return out


def _event_key(workspace_id: int, source: str, event_id: str) -> str:
    # Per workspace: one provider account may post the same event to several workspaces' webhooks
    # (SendGrid and Postmark allow several webhook URLs, an SNS topic several subscriptions), and
    # the copy stored first, unmatched, elsewhere must not hide it from the workspace it is about.
    key = f"{source}:{workspace_id}:{event_id}"
    if len(key) > 128:  # long provider ids keep their uniqueness through a digest
        key = f"{source}:{workspace_id}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
    return key


def _data(ev: ProviderEvent) -> dict:
    data = {"raw_type": ev.raw_type, **(ev.data or {})}
    for name in ("bounce_type", "smtp_code", "enhanced", "diagnostic", "url", "machine"):
        value = getattr(ev, name)
        if value is not None:
            data[name] = value
    for name in ("ref", "message_id", "provider_message_id"):
        value = getattr(ev, name)
        if value:
            data[name] = value
    return data


def _email(ev: ProviderEvent, target: _Target | None) -> str | None:
    email = ev.email or (target.email if target else None)
    return email.strip().lower()[:320] if email else None


def _matches(target: _Target | None, ev: ProviderEvent) -> bool:
    # A reference is trusted only with the address it was sent to (when the event names one).
    return target is not None and (not ev.email or ev.email.strip().lower() == target.email.lower())


def ingest(workspace_id: int, provider_id: int | None, events: list[ProviderEvent], source: str) -> IngestResult:
    """Store the events once each and apply the new ones; the caller commits."""
    result = IngestResult(total=len(events))
    if not events:
        return result
    resolved = _resolve(workspace_id, provider_id, events)
    now = datetime.now(timezone.utc)
    rows, pending = [], {}
    for i, ev in enumerate(events):
        key = _event_key(workspace_id, source, ev.event_id)
        if key in pending:  # the same event twice in one payload
            continue
        target = resolved.get(i)
        if target is None:
            result.unmatched += 1
        pending[key] = (ev, target)
        rows.append(
            {
                "workspace_id": workspace_id,
                "event_key": key,
                "event_type": ev.event_type,
                "campaign_id": target.campaign_id if target else None,
                "recipient_id": target.id if target and target.kind == "c" else None,
                "message_id": target.id if target and target.kind == "m" else None,
                "subscriber_id": target.subscriber_id if target else None,
                "provider_id": provider_id or (target.provider_id if target else None),
                "email": _email(ev, target),
                "link_id": None,
                "user_agent": (ev.user_agent or None) and ev.user_agent[:500],
                "ip": (ev.ip or None) and ev.ip[:64],
                "data": _data(ev),
                "occurred_at": ev.occurred_at or now,
                "created_at": now,
            }
        )
    inserted = insert_events(rows)
    result.new = len(inserted)
    result.event_ids = list(inserted.values())
    fresh = [pending[k] for k in inserted]
    result.by_type = dict(Counter(ev.event_type for ev, _ in fresh))
    watch = rollups.Watch()
    _cascade(workspace_id, provider_id, fresh, watch)
    watch.finish(new_rows=[row for row in rows if row["event_key"] in inserted])
    if result.event_ids:
        _fan_out(workspace_id, result.event_ids)
    return result


def _fan_out(workspace_id: int, event_ids: list[int]) -> None:
    """Hand the new events to the workspace's outbound webhooks (if it has any)."""

    if outbound_webhooks.fan_out(workspace_id, event_ids):
        outbound_webhooks.run_soon_after_commit()


# Cascade ------------------------------------------------------------------------------------


def _cascade(workspace_id: int, provider_id: int | None, fresh: list[tuple[ProviderEvent, _Target | None]],
             watch: rollups.Watch) -> None:  # fmt: skip
    counters: dict[tuple, Counter] = defaultdict(Counter)
    plan = _Plan()
    _lock_targets([t for _, t in fresh if t is not None], watch)
    for ev, target in fresh:
        if target is None:
            continue
        pid = provider_id or target.provider_id or 0
        key = (_day(ev), pid, _domain(target.from_email))
        t = ev.event_type
        if t == "bounce":
            counters[key][_BOUNCE_COUNTER.get(ev.bounce_type or "soft", "bounced_soft")] += 1
        elif t in _COUNTER:
            counters[key][_COUNTER[t]] += 1
        plan.add(ev, target)
    plan.apply(workspace_id)
    delivery_stats.add(workspace_id, counters)


def _lock_targets(targets: list[_Target], watch: rollups.Watch) -> None:
    """Lock the rows the cascade will write, table by table in id order, before writing any.

    Two workers applying payloads about the same people then queue up behind each other
    instead of deadlocking (each would otherwise lock rows in its own payload's order). The
    rollups' watch locks the recipient rows, reading what they count in the same statement.
    """
    watch.recipients(t.id for t in targets if t.kind == "c")
    for table, ids in (
        (Message.__table__, {t.id for t in targets if t.kind == "m"}),
        (Subscriber.__table__, {t.subscriber_id for t in targets if t.subscriber_id}),
    ):
        if ids:
            db.session.execute(
                # FOR NO KEY UPDATE, the lock an UPDATE takes: it leaves alone the key-share locks that
                # inserting events (foreign keys to these rows) takes.
                select(table.c.id)
                .where(table.c.id.in_(sorted(ids)))
                .order_by(table.c.id)
                .with_for_update(key_share=True)
            )


def _day(ev: ProviderEvent) -> date:
    return (ev.occurred_at or datetime.now(timezone.utc)).astimezone(timezone.utc).date()


def _domain(address: str | None) -> str:
    return (address or "").rpartition("@")[2].lower()[:255]


def _reason(ev: ProviderEvent, prefix: str) -> str:
    detail = ev.diagnostic or ev.enhanced or ev.raw_type
    return f"{prefix}: {detail}"[:500]


def _one_of(column, values: tuple):
    """`column IN (...)` that an executemany accepts (IN's expanding parameter is refused there)."""
    return or_(*(column == literal_column(f"'{v}'") for v in values))  # constants of this module only


# Where a suppression of the cascade came from, as the suppression page and the unsubscribe report say it.
_SOURCE_OF = {"bounced": "bounce", "complained": "complaint"}


def _suppress(workspace_id: int, email: str, reason: str, detail: str, sid: int | None, status: str) -> None:
    """Suppress the address and mark the subscriber (a complaint also overrides an unsubscribe)."""
    suppress_address(workspace_id, email, reason, detail, source=_SOURCE_OF[reason])
    if sid:
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == sid, Subscriber.status.in_(("active", "unsubscribed", "pending")))
            .values(status=status, updated_at=datetime.now(timezone.utc))
            .execution_options(synchronize_session=False)
        )


class _Plan:
    """The cascade's writes, grouped so a payload of thousands of events costs a few statements."""

    def __init__(self):
        self.recipient_status: dict[str, list] = defaultdict(list)  # new status -> [{rid, why}]
        self.message_status: dict[str, list] = defaultdict(list)
        self.delivered_r, self.delivered_m = {}, {}
        self.opened, self.clicked, self.m_opened, self.m_clicked = {}, {}, {}, {}
        self.engaged: set[int] = set()  # subscribers whose soft-bounce streak ends
        self.suppress: list[tuple[str, str, str, int | None, str]] = []  # (email, reason, detail, sub, status)
        self.soft: dict[int, tuple[str, str]] = {}  # subscriber -> (email, detail)
        self.unsubscribes: list[tuple[int, str]] = []
        self.slow: dict[int, str] = {}  # provider -> a block's reply: send slower for a while
        self.deferrals: list[tuple] = []  # (from, to, code, enhanced, text): a receiver deferring for rate?

    def add(self, ev: ProviderEvent, t: _Target) -> None:
        at = ev.occurred_at or datetime.now(timezone.utc)
        kind, sid = t.kind, t.subscriber_id
        e = ev.event_type
        if e == "delivery":
            (self.delivered_r if kind == "c" else self.delivered_m).setdefault(t.id, at)
            if sid:
                self.engaged.add(sid)
        elif e in ("open", "click"):
            if kind == "c":
                self.opened.setdefault(t.id, at)
                if e == "click":
                    self.clicked.setdefault(t.id, at)
            else:
                self.m_opened.setdefault(t.id, at)
                if e == "click":
                    self.m_clicked.setdefault(t.id, at)
            if sid:
                self.engaged.add(sid)
        elif e == "bounce":
            self._bounce(ev, t)
        elif e == "complaint":
            self._status(t, "complained", _reason(ev, "complaint"))
            self.suppress.append((t.email, "complained", _reason(ev, "spam complaint"), sid, "complained"))
        elif e == "reject":
            self._status(t, "failed", _reason(ev, "rejected by the provider"))
        elif e == "delivery_delay":
            self.deferrals.append((t.from_email, t.email, ev.smtp_code, ev.enhanced, ev.diagnostic or ev.raw_type))
        elif e == "rendering_failure":
            self._status(t, "failed", _reason(ev, "the provider could not render the message"))
        elif e == "unsubscribe" and sid:
            self.unsubscribes.append((sid, ev.raw_type))
            if kind == "c":
                self.recipient_status["unsubscribed"].append({"rid": t.id, "why": None})

    def _bounce(self, ev: ProviderEvent, t: _Target) -> None:
        kind = ev.bounce_type or "soft"
        if kind == "block":
            # The receiving server refused the sender: the address is fine, the sender must slow down.

            self._status(t, "failed", f"{SENDER_BLOCKED}: {ev.diagnostic or ev.enhanced or ev.raw_type}"[:500])
            if t.provider_id:
                self.slow[t.provider_id] = ev.diagnostic or ev.raw_type
            return
        self._status(t, "bounced", _reason(ev, f"{kind} bounce"))
        if kind == "hard":
            self.suppress.append((t.email, "bounced", _reason(ev, "hard bounce"), t.subscriber_id, "bounced"))
        elif t.subscriber_id:
            self.soft[t.subscriber_id] = (t.email, _reason(ev, "soft bounce"))

    def _status(self, t: _Target, status: str, why: str) -> None:
        target = self.recipient_status if t.kind == "c" else self.message_status
        target[status].append({"rid": t.id, "why": why})

    def apply(self, workspace_id: int) -> None:

        for rid_at, col in ((self.delivered_r, "delivered_at"),):
            if rid_at:
                mark_recipients(col, rid_at, ("sending", "sent", "unknown"), "delivered")
        mark_recipients("opened_at", self.opened, ("sent", "delivered", "unknown"), "opened")
        mark_recipients("clicked_at", self.clicked, ("sent", "delivered", "opened", "unknown"), "clicked")
        self._messages()
        for status, rows in self.recipient_status.items():
            allowed = _OUTCOME_STATES if status in ("complained", "unsubscribed") else _SENT_STATES
            if status == "failed":
                allowed = _SENT_STATES + ("pending",)
            cr = CampaignRecipient.__table__  # Core, not the ORM: many rows in one executemany
            reason = bindparam("why") if status != "unsubscribed" else cr.c.reason
            db.session.execute(
                update(cr)
                .where(cr.c.id == bindparam("rid"), _one_of(cr.c.status, allowed))
                .values(status=status, reason=reason),
                rows,
            )
        if self.engaged:
            db.session.execute(
                update(Subscriber)
                .where(Subscriber.id.in_(self.engaged), Subscriber.soft_bounces > 0)
                .values(soft_bounces=0)
                .execution_options(synchronize_session=False)
            )
        self._suppressions(workspace_id)
        self._soft_bounces(workspace_id)
        self._unsubscribes()
        self._slow_down()
        if self.deferrals:  # the provider's MTA was deferred: its (From domain, mailbox provider) pair slows down
            policy = ThrottlePolicy.from_config(current_app.config)
            deferrals_reported(get_redis(), workspace_id, self.deferrals, policy)

    def _messages(self) -> None:
        """Transactional messages: the same outcomes, on the messages table."""
        m = Message.__table__
        for rows, col, status in (
            (self.delivered_m, "delivered_at", "delivered"),
            (self.m_opened, "opened_at", None),
            (self.m_clicked, "clicked_at", None),
        ):
            if not rows:
                continue
            values = {col: func.coalesce(m.c[col], bindparam("at", type_=m.c[col].type))}
            if status:  # a delivery after a bounce (events arrive out of order) leaves the bounce
                values["status"] = case((_one_of(m.c.status, ("sending", "sent", "unknown")), status), else_=m.c.status)
            db.session.execute(
                update(m).where(m.c.id == bindparam("mid")).values(**values),
                [{"mid": mid, "at": at} for mid, at in rows.items()],
            )
        for status, rows in self.message_status.items():
            allowed = ("sending", "sent", "unknown", "delivered")
            db.session.execute(
                update(m)
                .where(m.c.id == bindparam("rid"), _one_of(m.c.status, allowed))
                .values(status=status, reason=bindparam("why")),
                rows,
            )

    def _suppressions(self, workspace_id: int) -> None:
        for email, reason, detail, sid, status in self.suppress:
            _suppress(workspace_id, email, reason, detail, sid, status)

    def _soft_bounces(self, workspace_id: int) -> None:
        """Count each subscriber's soft bounces in a row; at the limit the address is suppressed."""
        if not self.soft:
            return
        limit = current_app.config.get("SOFT_BOUNCE_LIMIT", SOFT_BOUNCE_LIMIT)
        rows = db.session.execute(
            update(Subscriber)
            .where(Subscriber.id.in_(list(self.soft)))
            .values(soft_bounces=Subscriber.soft_bounces + 1)
            .returning(Subscriber.id, Subscriber.soft_bounces, Subscriber.status)
            .execution_options(synchronize_session=False)
        ).all()
        for sid, count, status in rows:
            if count >= limit and status == "active":
                email, detail = self.soft[sid]
                _suppress(
                    workspace_id, email, "bounced", f"{count} soft bounces in a row; last: {detail}", sid, "bounced"
                )

    def _unsubscribes(self) -> None:

        if not self.unsubscribes:
            return
        ids = {sid for sid, _ in self.unsubscribes}
        subs = {s.id: s for s in db.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids)))}
        for sid, raw_type in self.unsubscribes:
            sub = subs.get(sid)
            if sub is not None and sub.status in ("active", "pending"):
                # The provider's own unsubscribe link or List-Unsubscribe header: it does not say which.
                unsubscribe(sub, detail=f"through the provider ({raw_type})", source="link")

    def _slow_down(self) -> None:
        if not self.slow:
            return

        r = get_redis()
        for pid, why in self.slow.items():
            slow_down(r, pid, why)
