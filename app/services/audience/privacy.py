"""A person's data on request: everything Herald holds about one subscriber as one JSON document
(export), and erasure.

Erasure keeps every row a figure counts — the subscriber, their campaign recipients, their events,
their orders and transactional messages — so campaign totals keep adding up, but takes the person
out of each: the address becomes `erased-<id>@erased.invalid` wherever it was stored, the name,
attributes, timezone and consent go, the events lose their IP, user agent and any value naming the
person (a URL whose query string names them loses the query), their memberships, tags,
preferences, customer events and product watches are deleted, and so are the copies of whole messages (the development outbox, their
replies). The address's suppression entries become one `erased:<sha256>` entry whose hash is
all that remains: contacts.add_subscriber and imports refuse the address ever after.

Texts likewise: the number and consent to texts go from the profile, the texts sent to them keep
their status (campaign figures) but lose the number, the body and whatever the error said of the
number, and the texts they sent are deleted. A number that replied STOP stays in `sms_opt_outs`:
that is the number's own record, kept so it is never texted again, and names nobody.

Both are audit-logged without the address. The caller commits.
"""

import re
from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sqlalchemy import Text, bindparam, cast, delete, func, null, or_, select, update

from app.extensions import db
from app.models import (
    Campaign,
    CampaignRecipient,
    Category,
    CaughtMessage,
    CustomerEvent,
    Event,
    InboundMessage,
    ListSubscriber,
    MailingList,
    Message,
    Order,
    Product,
    ProductWatch,
    SmsCampaign,
    SmsInbound,
    SmsRecipient,
    Subscriber,
    SubscriberPreference,
    SubscriberTag,
    Suppression,
    WebhookDelivery,
    WebhookPayload,
)
from app.models.base import JSONType
from app.services.audience import contacts
from app.services.platform import audit

ERASED = "[erased]"
_CHUNK = 1000
# Values under these names in an event's data or a webhook's payload are the person's own.
_PERSONAL_KEYS = {"ip", "user_agent", "reported_email", "recipient", "to", "to_name", "mail_from", "from_header"}


def erased_address(subscriber_id: int) -> str:
    """What an erased person's address becomes everywhere (`.invalid` can never receive mail)."""
    return f"erased-{subscriber_id}@erased.invalid"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Export -------------------------------------------------------------------------------------------


def export_subscriber(workspace_id: int, subscriber_id: int) -> dict:
    """Everything about one subscriber: profile, lists, tags, preferences, suppressions, every campaign
    and transactional message they were sent, every event and order, their customer events and the products
    they watch, the texts sent to them and those they sent. Audit-logged."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    recipients = _recipient_ids(sub)
    messages = _message_ids(workspace_id, sub)
    document = {
        "exported_at": _iso(datetime.now(timezone.utc)),
        "profile": _profile(sub),
        "lists": _lists(sub.id),
        "tags": list(db.session.scalars(select(SubscriberTag.tag).where(SubscriberTag.subscriber_id == sub.id))),
        "preferences": _preferences(sub.id),
        "suppressions": _suppressions(workspace_id, sub),
        "campaigns": _campaigns(sub.id),
        "messages": _messages(messages),
        "events": _events(workspace_id, sub.id, recipients, messages),
        "orders": _orders(workspace_id, sub),
        "customer_events": _customer_events(workspace_id, sub.id),
        "product_watches": _product_watches(sub.id),
        "texts": _texts(sub.id),
        "texts_received": _texts_received(workspace_id, sub.id),
    }
    audit.record(workspace_id, "subscriber.export", "subscriber", sub.id)
    return document


def _profile(sub: Subscriber) -> dict:
    return {
        "id": sub.id,
        "email": sub.email,
        "name": sub.name,
        "status": sub.status,
        "attributes": sub.attributes or {},
        "timezone": sub.timezone,
        "source": sub.source,
        "consent": sub.consent,
        "phone": sub.phone,
        "sms_status": sub.sms_status,
        "sms_consent": sub.sms_consent,
        "created_at": _iso(sub.created_at),
        "updated_at": _iso(sub.updated_at),
        "confirmed_at": _iso(sub.confirmed_at),
        "unsubscribed_at": _iso(sub.unsubscribed_at),
        "erased_at": _iso(sub.erased_at),
    }


def _lists(subscriber_id: int) -> list[dict]:
    rows = db.session.execute(
        select(MailingList.id, MailingList.name, ListSubscriber.created_at)
        .join(ListSubscriber, ListSubscriber.list_id == MailingList.id)
        .where(ListSubscriber.subscriber_id == subscriber_id)
        .order_by(MailingList.name)
    )
    return [{"id": i, "name": name, "since": _iso(at)} for i, name, at in rows]


def _preferences(subscriber_id: int) -> list[dict]:
    rows = db.session.execute(
        select(Category.id, Category.name, SubscriberPreference)
        .join(SubscriberPreference, SubscriberPreference.category_id == Category.id)
        .where(SubscriberPreference.subscriber_id == subscriber_id)
        .order_by(Category.name)
    )
    return [{"category_id": cid, "category": name, "subscribed": p.subscribed, "frequency": p.frequency,
             "updated_at": _iso(p.updated_at)} for cid, name, p in rows]  # fmt: skip


def _suppressions(workspace_id: int, sub: Subscriber) -> list[dict]:
    domain = "@" + sub.email.rpartition("@")[2]
    rows = db.session.scalars(
        select(Suppression)
        .where(
            Suppression.workspace_id == workspace_id,
            or_(Suppression.email.in_((sub.email, domain)), Suppression.email_hash == contacts.address_hash(sub.email)),
        )
        .order_by(Suppression.id)
    )
    return [{"email": s.email, "reason": s.reason, "source": s.source, "detail": s.detail,
             "created_at": _iso(s.created_at)} for s in rows]  # fmt: skip


def _campaigns(subscriber_id: int) -> list[dict]:
    rows = db.session.execute(
        select(CampaignRecipient, Campaign.name)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.subscriber_id == subscriber_id)
        .order_by(CampaignRecipient.id)
    )
    return [{"campaign_id": r.campaign_id, "campaign": name, "email": r.email, "status": r.status,
             "reason": r.reason, "sent_at": _iso(r.sent_at), "delivered_at": _iso(r.delivered_at),
             "opened_at": _iso(r.opened_at), "clicked_at": _iso(r.clicked_at)} for r, name in rows]  # fmt: skip


def _messages(message_ids: list[int]) -> list[dict]:
    out = []
    for chunk in _chunks(message_ids):
        for m in db.session.scalars(select(Message).where(Message.id.in_(chunk)).order_by(Message.id)):
            out.append({"id": m.id, "to": m.to_email, "template": m.template_name, "subject": m.subject,
                        "status": m.status, "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at),
                        "delivered_at": _iso(m.delivered_at), "opened_at": _iso(m.opened_at),
                        "clicked_at": _iso(m.clicked_at)})  # fmt: skip
    return out


def _events(workspace_id: int, subscriber_id: int, recipients: list[int], messages: list[int]) -> list[dict]:
    rows = db.session.scalars(
        select(Event).where(_events_of(workspace_id, subscriber_id, recipients, messages)).order_by(Event.occurred_at)
    )
    return [{"type": e.event_type, "at": _iso(e.occurred_at), "campaign_id": e.campaign_id,
             "message_id": e.message_id, "email": e.email, "ip": e.ip, "user_agent": e.user_agent,
             "verdict": e.verdict, "data": e.data or {}} for e in rows]  # fmt: skip


def _orders(workspace_id: int, sub: Subscriber) -> list[dict]:
    rows = db.session.scalars(select(Order).where(_orders_of(workspace_id, sub)).order_by(Order.placed_at))
    return [{"external_id": o.external_id, "email": o.email, "amount": str(o.amount), "currency": o.currency,
             "items": o.items, "placed_at": _iso(o.placed_at), "campaign_id": o.campaign_id} for o in rows]  # fmt: skip


def _customer_events(workspace_id: int, subscriber_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(CustomerEvent)
        .where(CustomerEvent.workspace_id == workspace_id, CustomerEvent.subscriber_id == subscriber_id)
        .order_by(CustomerEvent.occurred_at, CustomerEvent.id)
    )
    return [{"type": e.type, "occurred_at": _iso(e.occurred_at), "received_at": _iso(e.received_at),
             "properties": e.properties or {}, "idempotency_key": e.idempotency_key, "source": e.source}
            for e in rows]  # fmt: skip


def _product_watches(subscriber_id: int) -> list[dict]:
    rows = db.session.execute(
        select(ProductWatch, Product.sku, Product.name)
        .join(Product, Product.id == ProductWatch.product_id)
        .where(ProductWatch.subscriber_id == subscriber_id)
        .order_by(ProductWatch.created_at)
    )
    return [{"sku": sku, "product": name, "kind": w.kind, "price_at": w.price_at and str(w.price_at),
             "notified_price": w.notified_price and str(w.notified_price), "since": _iso(w.created_at)}
            for w, sku, name in rows]  # fmt: skip


def _texts(subscriber_id: int) -> list[dict]:
    rows = db.session.execute(
        select(SmsRecipient, SmsCampaign.name)
        .join(SmsCampaign, SmsCampaign.id == SmsRecipient.campaign_id)
        .where(SmsRecipient.subscriber_id == subscriber_id)
        .order_by(SmsRecipient.id)
    )
    return [{"campaign_id": r.campaign_id, "campaign": name, "phone": r.phone, "body": r.body, "status": r.status,
             "sent_at": _iso(r.sent_at), "delivered_at": _iso(r.delivered_at)} for r, name in rows]  # fmt: skip


def _texts_received(workspace_id: int, subscriber_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(SmsInbound)
        .where(SmsInbound.workspace_id == workspace_id, SmsInbound.subscriber_id == subscriber_id)
        .order_by(SmsInbound.received_at, SmsInbound.id)
    )
    return [{"from": m.from_phone, "to": m.to_phone, "body": m.body, "keyword": m.keyword,
             "received_at": _iso(m.received_at)} for m in rows]  # fmt: skip


# What belongs to the person ------------------------------------------------------------------------


def _recipient_ids(sub: Subscriber) -> list[int]:
    return list(db.session.scalars(select(CampaignRecipient.id).where(CampaignRecipient.subscriber_id == sub.id)))


def _message_ids(workspace_id: int, sub: Subscriber) -> list[int]:
    return list(
        db.session.scalars(
            select(Message.id).where(
                Message.workspace_id == workspace_id,
                or_(Message.subscriber_id == sub.id, Message.to_email == sub.email),
            )
        )
    )


def _events_of(workspace_id: int, subscriber_id: int, recipients: list[int], messages: list[int]):
    """The person's events, through indexed columns only (the log's address column has no index)."""
    owned = [Event.subscriber_id == subscriber_id]
    owned += [Event.recipient_id.in_(chunk) for chunk in _chunks(recipients)]
    owned += [Event.message_id.in_(chunk) for chunk in _chunks(messages)]
    return (Event.workspace_id == workspace_id) & or_(*owned)


def _orders_of(workspace_id: int, sub: Subscriber):
    return (Order.workspace_id == workspace_id) & or_(Order.subscriber_id == sub.id, Order.email == sub.email)


def _chunks(ids: list[int]):
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# Erase --------------------------------------------------------------------------------------------


class _Scrubber:
    """Takes the person out of text and JSON: their address (any case, or URL-encoded) becomes the
    erased address, their name "[erased]"; a URL whose query or fragment names them loses both."""

    def __init__(self, address: str, name: str | None, anon: str):
        self.anon = anon
        self.address = re.compile("|".join(map(re.escape, {address, quote(address, safe=""), quote(address)})), re.I)
        name = " ".join((name or "").split())
        self.name = re.compile(r"(?<!\w)" + re.escape(name) + r"(?!\w)", re.I) if len(name) >= 2 else None

    def names(self, text: str) -> bool:
        text = unquote(text)
        return bool(self.address.search(text) or (self.name and self.name.search(text)))

    def text(self, value):
        if not isinstance(value, str) or not value:
            return value
        if value.startswith(("http://", "https://")):
            value = self.url(value)
        value = self.address.sub(self.anon, value)
        return self.name.sub(ERASED, value) if self.name else value

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if self.names(parts.query) or self.names(parts.fragment):
            return urlunsplit(parts._replace(query="", fragment=""))
        return url

    def data(self, value):
        """A copy of JSON data: personal keys emptied, an address key made the erased address, text scrubbed."""
        if isinstance(value, dict):
            return {k: (None if k in _PERSONAL_KEYS else self.anon if k == "email" and v else self.data(v))
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return self.text(value)


def erase_subscriber(workspace_id: int, subscriber_id: int) -> Subscriber:
    """Erase a person on request (see the module's docstring); erasing twice changes nothing. Audit-logged."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    if sub.erased_at is not None:
        return sub
    address, anon = sub.email, erased_address(sub.id)
    scrub = _Scrubber(address, sub.name, anon)
    recipients, messages = _recipient_ids(sub), _message_ids(workspace_id, sub)
    events = _erase_events(workspace_id, sub.id, recipients, messages, scrub)
    _erase_recipients(sub.id, anon, scrub)
    texts = _erase_texts(workspace_id, sub.id, sub.phone)
    _erase_messages(messages, anon, scrub)
    db.session.execute(update(Order).where(_orders_of(workspace_id, sub)).values(email=anon))
    _erase_copies(workspace_id, address, recipients, messages, scrub)
    _forget_subscriptions(sub.id)
    _replace_suppressions(workspace_id, address)
    _anonymise_profile(sub, anon)
    db.session.flush()
    audit.record(workspace_id, "subscriber.erase", "subscriber", sub.id,
                 {"campaigns": len(recipients), "messages": len(messages), "events": events,
                  "texts": texts})  # fmt: skip
    return sub


def _anonymise_profile(sub: Subscriber, anon: str) -> None:
    now = datetime.now(timezone.utc)
    sub.email, sub.name, sub.attributes, sub.timezone, sub.consent = anon, None, {}, None, None
    sub.phone, sub.sms_status, sub.sms_consent = None, "none", None
    sub.status, sub.unsubscribed_at, sub.erased_at = "unsubscribed", sub.unsubscribed_at or now, now


def _forget_subscriptions(subscriber_id: int) -> None:
    # Customer events and product watches go whole: nothing adds them up, and their properties name things
    # the person did (carts, orders, wishes) that no figure needs.
    for model in (ListSubscriber, SubscriberTag, SubscriberPreference, CustomerEvent, ProductWatch):
        db.session.execute(delete(model).where(model.subscriber_id == subscriber_id))


def _replace_suppressions(workspace_id: int, address: str) -> None:
    """The address's entries become one `erased:<hash>` entry: a later add or import is refused."""
    digest = contacts.address_hash(address)
    db.session.execute(
        delete(Suppression).where(Suppression.workspace_id == workspace_id, Suppression.email == address)
    )
    exists = db.session.scalar(
        select(Suppression.id).where(Suppression.workspace_id == workspace_id, Suppression.email_hash == digest)
    )
    if exists is None:
        db.session.add(Suppression(workspace_id=workspace_id, email=f"erased:{digest}", email_hash=digest,
                                   reason="erased", source="erasure"))  # fmt: skip


def _erase_recipients(subscriber_id: int, anon: str, scrub: _Scrubber) -> None:
    cr = CampaignRecipient.__table__
    rows = db.session.execute(
        select(cr.c.id, cr.c.reason, cr.c.handoff_reply).where(cr.c.subscriber_id == subscriber_id)
    )
    changes = [{"rid": rid, "why": scrub.text(reason), "reply": scrub.text(reply)} for rid, reason, reply in rows]
    if changes:
        db.session.execute(
            update(cr).where(cr.c.id == bindparam("rid"))
            .values(email=anon, reason=bindparam("why"), handoff_reply=bindparam("reply")),
            changes,
        )  # fmt: skip


def _erase_texts(workspace_id: int, subscriber_id: int, phone: str | None) -> int:
    """The texts sent to the person keep their status, segments and error code (the figures) and lose the
    number, the body, the flow's data and the number in the error; the texts they sent go. Returns how
    many were sent to them."""
    sr = SmsRecipient.__table__
    rows = db.session.execute(
        select(sr.c.id, sr.c.phone, sr.c.error_message).where(sr.c.subscriber_id == subscriber_id)
    ).all()
    changes = [{"rid": rid, "why": _without_numbers(error, {number, phone})} for rid, number, error in rows]
    if changes:
        db.session.execute(
            update(sr).where(sr.c.id == bindparam("rid"))
            .values(phone="", body=None, context=null(), error_message=bindparam("why")),
            changes,
        )  # fmt: skip
    db.session.execute(
        delete(SmsInbound).where(SmsInbound.workspace_id == workspace_id, SmsInbound.subscriber_id == subscriber_id)
    )
    return len(changes)


def _without_numbers(text: str | None, numbers: set) -> str | None:
    """Twilio's error text with the person's number (as E.164, or its digits alone) taken out."""
    for number in filter(None, numbers):
        if text:
            text = text.replace(number, ERASED).replace(number.lstrip("+"), ERASED)
    return text


def _erase_messages(message_ids: list[int], anon: str, scrub: _Scrubber) -> None:
    m = Message.__table__
    for chunk in _chunks(message_ids):
        rows = db.session.execute(
            select(m.c.id, m.c.subject, m.c.reason, m.c.handoff_reply, m.c.idempotency_key, m.c.links)
            .where(m.c.id.in_(chunk))
        )  # fmt: skip
        changes = [{"mid": mid, "subj": scrub.text(subject), "why": scrub.text(reason), "reply": scrub.text(reply),
                    "key": scrub.text(key), "urls": scrub.data(links)}
                   for mid, subject, reason, reply, key, links in rows]  # fmt: skip
        db.session.execute(
            update(m).where(m.c.id == bindparam("mid")).values(
                to_email=anon, to_name=None, context={}, subject=bindparam("subj"), reason=bindparam("why"),
                handoff_reply=bindparam("reply"), idempotency_key=bindparam("key"),
                links=bindparam("urls", type_=JSONType)),
            changes,
        )  # fmt: skip


def _erase_events(workspace_id: int, subscriber_id: int, recipients: list[int], messages: list[int], scrub) -> int:
    """The person's events lose their IP, user agent and whatever in their data names the person (and so
    do the outbound webhook deliveries made of them); their type, time and verdict stay, for the figures."""
    ev = Event.__table__
    rows = db.session.execute(
        select(ev.c.id, ev.c.occurred_at, ev.c.email, ev.c.data).where(
            _events_of(workspace_id, subscriber_id, recipients, messages)
        )
    ).all()
    changes = [{"eid": eid, "at": at, "addr": scrub.anon if email else None, "new": scrub.data(data)}
               for eid, at, email, data in rows]  # fmt: skip
    for i in range(0, len(changes), _CHUNK):
        db.session.execute(
            # With the time: on PostgreSQL the log is partitioned by month and keyed by (id, occurred_at).
            update(ev).where(ev.c.id == bindparam("eid"), ev.c.occurred_at == bindparam("at"))
            .values(email=bindparam("addr"), ip=None, user_agent=None, data=bindparam("new", type_=JSONType)),
            changes[i : i + _CHUNK],
        )  # fmt: skip
    _erase_webhook_deliveries([c["eid"] for c in changes], scrub)
    return len(changes)


def _erase_webhook_deliveries(event_ids: list[int], scrub: _Scrubber) -> None:
    wd = WebhookDelivery.__table__
    for chunk in _chunks(event_ids):
        rows = db.session.execute(select(wd.c.id, wd.c.payload).where(wd.c.event_id.in_(chunk))).all()
        if rows:
            db.session.execute(
                update(wd).where(wd.c.id == bindparam("did")).values(payload=bindparam("body", type_=JSONType)),
                [{"did": did, "body": scrub.data(payload)} for did, payload in rows],
            )


def _erase_copies(workspace_id: int, address: str, recipients: list[int], messages: list[int], scrub) -> None:
    """Whole messages to or from the person go: the development outbox's copies and their replies.
    Provider webhook payloads are kept (they are the record of what the provider said), with the
    address and name replaced in their bodies."""
    db.session.execute(
        delete(CaughtMessage).where(
            CaughtMessage.workspace_id == workspace_id,
            func.lower(CaughtMessage.rcpt_to).contains(address, autoescape=True),
        )
    )
    mine = [func.lower(InboundMessage.mail_from) == address, func.lower(InboundMessage.rcpt_to) == address]
    mine += [InboundMessage.recipient_id.in_(chunk) for chunk in _chunks(recipients)]
    mine += [InboundMessage.message_id.in_(chunk) for chunk in _chunks(messages)]
    db.session.execute(delete(InboundMessage).where(InboundMessage.workspace_id == workspace_id, or_(*mine)))
    _erase_payloads(workspace_id, address, scrub)


def _erase_payloads(workspace_id: int, address: str, scrub: _Scrubber) -> None:
    wp = WebhookPayload.__table__
    # Bodies are bytes: read as text (PostgreSQL escapes what is not), lower-cased, for the address as
    # sent or URL-encoded (form posts). A scan of the workspace's payloads, acceptable for a rare request.
    body = (
        func.encode(wp.c.body, "escape")
        if db.session.get_bind().dialect.name == "postgresql"
        else cast(wp.c.body, Text)
    )
    found = or_(*(func.lower(body).contains(form, autoescape=True) for form in {address, quote(address, safe="")}))
    for pid, raw, error in db.session.execute(
        select(wp.c.id, wp.c.body, wp.c.error).where(wp.c.workspace_id == workspace_id, found)
    ).all():
        text = bytes(raw).decode("utf-8", "surrogateescape")
        new = scrub.text(text).encode("utf-8", "surrogateescape")
        db.session.execute(update(wp).where(wp.c.id == pid).values(body=new, error=scrub.text(error)))
