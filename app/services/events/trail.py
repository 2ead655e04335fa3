"""The message trail: every message to an address (or with a Message-ID or provider id), and what
happened to each, in time order — queued, handed off with the server's exact reply, delivered,
deferred, bounced with the diagnostic, each open and click with its verdict, unsubscribed,
complained, replied.

Campaign messages are recipient rows, transactional ones Message rows; what came back is the
event log. A search reads rows by an index only — the address (campaign_recipients.email, messages'
(workspace, to_email)), the row id inside Herald's own Message-IDs, a provider's id with its
provider — and their events by recipient or message: it never scans a table.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, Link, Message, Provider
from app.models.campaign import is_skip
from app.services.audience.contacts import normalize_email
from app.services.errors import ValidationError
from app.services.events.provider_events import provider_id_forms

MAX_DELIVERIES = 50  # messages in one answer, the latest first
MAX_QUERY = 320

# How each event reads in the trail: its label, and the data key that explains it.
_LABELS = {
    "delivery": "delivered",
    "delivery_delay": "deferred",
    "bounce": "bounced",
    "complaint": "complained",
    "reject": "rejected by the provider",
    "open": "opened",
    "click": "clicked",
    "unsubscribe": "unsubscribed",
    "resubscribe": "subscribed again",
    "reply": "replied",
    "rendering_failure": "failed to render at the provider",
    "send": "accepted by the provider",
}


@dataclass
class Step:
    t: datetime
    type: str
    detail: str | None = None
    smtp_code: int | None = None
    smtp_reply: str | None = None
    verdict: str | None = None
    signals: dict | None = None


@dataclass
class Delivery:
    kind: str  # campaign | transactional
    id: int
    to: str
    subject: str | None
    campaign_id: int | None
    campaign_name: str | None
    message_id: str | None
    provider: str | None
    provider_message_id: str | None
    status: str
    steps: list[Step] = field(default_factory=list)

    @property
    def at(self) -> datetime:
        return self.steps[0].t if self.steps else datetime.min


def search(workspace_id: int, email: str | None = None, message_id: str | None = None) -> list[Delivery]:
    """The workspace's messages to `email`, or with `message_id` (Herald's Message-ID, with or
    without brackets, or the provider's id), the latest first, each with its trail."""
    email, message_id = _clean(email, "email"), _clean(message_id, "message_id")
    if not email and not message_id:
        raise ValidationError("Give an email address or a Message-ID.", {"q": "Required."})
    found = _campaign_deliveries(workspace_id, email, message_id) + _transactional(workspace_id, email, message_id)
    found.sort(key=lambda d: d.at, reverse=True)
    return found[:MAX_DELIVERIES]


def _clean(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_QUERY:
        raise ValidationError(f"{name} is text of up to {MAX_QUERY} characters.", {name: "Too long."})
    return value.strip() or None


def _ids(message_id: str) -> tuple[str, ...]:
    """Every spelling the id may be stored under: ours with brackets, a provider's forms."""
    bare = message_id.strip("<> ")
    return tuple(dict.fromkeys((f"<{bare}>", bare, *provider_id_forms(message_id))))


# Herald's own Message-IDs name their row: <campaign.recipient.random@domain>, <m<message>.random@domain>.
_CAMPAIGN_MID = re.compile(r"^<?(\d{1,12})\.(\d{1,12})\.[0-9a-f]+@", re.I)
_MESSAGE_MID = re.compile(r"^<?m(\d{1,12})\.[0-9a-f]+@", re.I)


def _address(email: str) -> str:
    """The address as Herald stores it (normalized, lower-case), so the search uses the index."""
    try:
        return normalize_email(email)
    except ValidationError:
        return email.lower()


def _workspace_providers(workspace_id: int) -> list[int]:
    return list(db.session.scalars(select(Provider.id).where(Provider.workspace_id == workspace_id)))


def _each_match(stmt, match: list, key) -> list:
    """The rows of `stmt` meeting any condition in `match`, one query per condition, newest first. An
    OR of them would make PostgreSQL walk the whole table backwards for the newest 50 (each condition
    has an index of its own, the OR of them none)."""
    found = {}
    for condition in match:
        for row in db.session.execute(stmt.where(condition).order_by(key.desc()).limit(MAX_DELIVERIES)):
            found[row[0].id] = row
    return sorted(found.values(), key=lambda row: -row[0].id)[:MAX_DELIVERIES]


def _campaign_deliveries(workspace_id: int, email: str | None, message_id: str | None) -> list[Delivery]:
    cr = CampaignRecipient
    match = []
    if email:
        match.append(cr.email == _address(email))
    if message_id:
        forms = _ids(message_id)
        if ours := _CAMPAIGN_MID.match(message_id.strip()):
            match.append((cr.id == int(ours.group(2))) & cr.message_id.in_(forms))
        # A provider's id, through the (provider, provider message id) index.
        match.append(cr.provider_id.in_(_workspace_providers(workspace_id)) & cr.provider_message_id.in_(forms))
    stmt = (
        select(cr, Campaign.name, Campaign.snapshot, Provider.name)
        .join(Campaign, Campaign.id == cr.campaign_id)
        .outerjoin(Provider, Provider.id == cr.provider_id)
        .where(Campaign.workspace_id == workspace_id)
    )
    rows = _each_match(stmt, match, cr.id)
    events = _events_by(Event.recipient_id, [r[0].id for r in rows])
    return [_campaign_delivery(r, name, snap, provider, events.get(r.id, [])) for r, name, snap, provider in rows]


def _campaign_delivery(r: CampaignRecipient, name, snapshot, provider, events) -> Delivery:
    queued = Step(r.created_at, "queued", f"in “{name}”")
    steps = _handoff(r.sent_at or r.claimed_at, r.status, r.reason, r.handoff_reply, r.provider_message_id)
    return Delivery("campaign", r.id, r.email, (snapshot or {}).get("subject"), r.campaign_id, name,
                    r.message_id, provider, r.provider_message_id, r.status, _in_order(queued, steps + events))  # fmt: skip


def _in_order(queued: Step, steps: list[Step]) -> list[Step]:
    """Queued first (it is what started the message, whatever the clocks say), then by time to the
    second (providers report whole seconds), the hand-off first within its second."""
    return [queued, *sorted(steps, key=lambda s: (s.t.replace(microsecond=0), s.type != "handed off", s.t))]


def _handoff(at, status: str, reason: str | None, reply: str | None, provider_message_id: str | None) -> list[Step]:
    """The hand-off as a step: the reply it got, or why it never went (suppressed, refused)."""
    if is_skip(reason):
        return [Step(at, "skipped", reason)] if at else []
    if at is None:
        return []
    if status in ("pending", "sending") and reason:
        return [Step(at, "waiting", reason)]
    if reply or provider_message_id or status not in ("failed", "unknown"):
        detail = f"provider id {provider_message_id}" if provider_message_id and not reply else None
        return [Step(at, "handed off", detail, _code(reply), reply)]
    return [Step(at, "not handed off" if status == "failed" else "hand-off unknown", reason, _code(reason), reason)]


def _code(reply: str | None) -> int | None:
    head = (reply or "").split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) == 3 else None


def _transactional(workspace_id: int, email: str | None, message_id: str | None) -> list[Delivery]:
    match = []
    if email:
        match.append(Message.to_email == _address(email))
    if message_id:
        forms = _ids(message_id)
        if ours := _MESSAGE_MID.match(message_id.strip()):
            match.append((Message.id == int(ours.group(1))) & Message.message_id.in_(forms))
        match.append(
            Message.provider_id.in_(_workspace_providers(workspace_id)) & Message.provider_message_id.in_(forms)
        )
    stmt = (
        select(Message, Provider.name)
        .outerjoin(Provider, Provider.id == Message.provider_id)
        .where(Message.workspace_id == workspace_id)
    )
    rows = _each_match(stmt, match, Message.id)
    events = _events_by(Event.message_id, [m.id for m, _ in rows])
    out = []
    for m, provider in rows:
        queued = Step(m.created_at, "queued", f"template “{m.template_name}”" if m.template_name else None)
        steps = _handoff(m.sent_at or m.claimed_at, m.status, m.reason, m.handoff_reply, m.provider_message_id)
        out.append(Delivery("transactional", m.id, m.to_email, m.subject, None, None, m.message_id, provider,
                            m.provider_message_id, m.status, _in_order(queued, steps + events.get(m.id, []))))  # fmt: skip
    return out


def _events_by(column, ids: list[int]) -> dict[int, list[Step]]:
    """{recipient or message id: its events as steps}, in one query (with the clicked links' URLs)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(column, Event.event_type, Event.occurred_at, Event.verdict, Event.data, Link.url)
        .outerjoin(Link, Link.id == Event.link_id)
        .where(column.in_(ids))
        .order_by(Event.occurred_at, Event.id)
    ).all()
    out: dict[int, list[Step]] = {}
    for owner, event_type, at, verdict, data, url in rows:
        out.setdefault(owner, []).append(_step(event_type, at, verdict, data or {}, url))
    return out


def _step(event_type: str, at, verdict, data: dict, url: str | None) -> Step:
    signals = data.get("signals")
    if event_type in ("open", "click"):
        detail = url or data.get("url")
        return Step(at, _LABELS[event_type], detail, verdict=verdict or "human", signals=signals)
    diagnostic = data.get("diagnostic") or data.get("reason") or data.get("description")
    kind = data.get("bounce_type")
    detail = f"{kind}: {diagnostic}" if kind and diagnostic else diagnostic or kind
    code = data.get("smtp_code") or _code(diagnostic)
    return Step(at, _LABELS.get(event_type, event_type), detail, code, diagnostic)
