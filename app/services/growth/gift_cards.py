"""Gift cards: issued by a person or the API, sold through an order, or made in bulk; each with an
unguessable code and a balance ledger.

Codes are 16 characters from an alphabet without look-alikes (no 0/O, 1/I/L), in four groups of four
(`K7QM-3XWP-TD9A-HR4B`): 80 random bits from `secrets`. Herald keeps the code's SHA-256, which a
redemption looks the card up by (one indexed equality on a digest of the code: how long it takes says
nothing about any other code), the code encrypted (crypto.encrypt_text, to send its email again) and its
last four characters for lists. The code itself is answered once, to whoever made the card, and mailed
to its recipient. Typing is forgiving: case, spaces and hyphens do not matter.

The ledger: purchase (+ the card's amount), redemption (−), refund (+, at most what was redeemed and not
refunded yet), expiry (− what was left). The balance is the ledger's sum, changed with its entry under the
card's lock (ledgers.lock_row), never below zero: a redemption larger than the balance is refused
(InsufficientBalance, 409) and takes nothing. The same idempotency key again answers the first entry.
Status: active -> redeemed when the balance reaches zero (active again after a refund); active -> expired
once past `expires_at` (expire_cards, daily; a card past its date is refused at once, job or not).

Selling: an order item with `"gift_card": true` is a card per unit (its quantity) worth the item's unit
price, in the order's currency, for the order's buyer, once per order (sell_from_order). Delivery of a
card with a recipient: gift_card_mail.py. The caller commits.
"""

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import String, and_, func, literal, or_, select, update

from app.extensions import db
from app.models import GiftCard, GiftCardTransaction, Order, Subscriber
from app.services.crypto import encrypt_text
from app.services.errors import Conflict, InsufficientBalance, InvalidState, NotFound, ValidationError
from app.services.growth.ledgers import (
    clean_currency,
    clean_email,
    clean_key,
    clean_money,
    clean_note,
    lock_row,
    lock_rows,
)
from app.services.ids import as_id
from app.services.platform import audit
from app.services.time_buckets import parse_iso

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from paper, no doubt
CODE_LENGTH = 16
MAX_AMOUNT = Decimal("1000000.00")
MAX_BULK = 10_000
MAX_MESSAGE = 1000
STATUSES = ("active", "redeemed", "expired", "disabled")
EXPIRY_BATCH = 1000
GT = GiftCardTransaction


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- Codes ------------------------------------------------------------------------------------------


def generate_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(value) -> str | None:
    """The code's 16 characters as generated (upper case, no separators); None when it cannot be one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    raw = "".join(value.split()).replace("-", "").upper()
    return raw if len(raw) == CODE_LENGTH and all(c in ALPHABET for c in raw) else None


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _row(workspace_id: int, code: str, amount: Decimal, currency: str, now: datetime, **extra) -> dict:
    return {
        "workspace_id": workspace_id,
        "code_hash": code_hash(code),
        "code_encrypted": encrypt_text(code),
        "last4": code[-4:],
        "initial_amount": amount,
        "balance": amount,
        "currency": currency,
        "status": "active",
        "created_at": now,
        **extra,
    }


# -- Making cards -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A card just made, and its code: the only time Herald answers it."""

    card: GiftCard
    code: str


def _expires_at(value) -> datetime | None:
    when = value if isinstance(value, datetime) or value is None else parse_iso(value, "expires_at")
    if when is not None and when <= _now():
        raise ValidationError("expires_at is in the past.", {"expires_at": "A time in the future."})
    return when


def _message(value) -> str | None:
    return clean_note(value, "message", MAX_MESSAGE)


def issue(
    workspace_id: int, amount, currency, email=None, message=None, expires_at=None, order_id: int | None = None
) -> Issued:
    """A new active card worth `amount` with its purchase entry (for `email`'s person when given; the
    caller sends its email: gift_card_mail.deliver)."""
    amount, currency = clean_money(amount, "amount", MAX_AMOUNT), clean_currency(currency)
    email = clean_email(email) if email not in (None, "") else None
    message, expires = _message(message), _expires_at(expires_at)
    subscriber_id = _subscriber_id(workspace_id, email) if email else None
    code, now = generate_code(), _now()
    card = GiftCard(**_row(workspace_id, code, amount, currency, now), recipient_email=email,
                    subscriber_id=subscriber_id, order_id=order_id, message=message, expires_at=expires)  # fmt: skip
    db.session.add(card)
    db.session.flush()
    db.session.add(GT(card_id=card.id, kind="purchase", amount=amount, reference=_reference(order_id), created_at=now))
    db.session.flush()
    return Issued(card, code)


def _subscriber_id(workspace_id: int, email: str) -> int | None:
    return db.session.scalar(
        select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.email == email)
    )


def _reference(order_id: int | None) -> str | None:
    if order_id is None:
        return None
    external = db.session.scalar(select(Order.external_id).where(Order.id == order_id))
    return f"Order {external}"[:200] if external else None


@dataclass(frozen=True)
class Batch:
    """Cards made in bulk: [(id, code)] (the codes answered this once), their amount and currency."""

    cards: list[tuple[int, str]]
    amount: Decimal
    currency: str


def bulk_create(workspace_id: int, count, amount, currency, expires_at=None) -> Batch:
    """`count` (1 to 10,000) cards of one amount, set-based (two multi-row INSERTs), none mailed; their
    codes are answered this once (as CSV: codes_csv)."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK:
        why = f"count is a whole number from 1 to {MAX_BULK:,}."
        raise ValidationError(why, {"count": why})
    amount, currency = clean_money(amount, "amount", MAX_AMOUNT), clean_currency(currency)
    expires, now = _expires_at(expires_at), _now()
    codes = {}
    while (
        len(codes) < count
    ):  # 80 random bits: a repeat within a batch is astronomically unlikely, but free to rule out
        code = generate_code()
        codes[code_hash(code)] = code
    rows = [_row(workspace_id, code, amount, currency, now, expires_at=expires) for code in codes.values()]
    t = GiftCard.__table__
    made = db.session.execute(t.insert().returning(t.c.id, t.c.code_hash), rows).all()
    ids = {digest: card_id for card_id, digest in made}
    db.session.execute(
        GT.__table__.insert(),
        [{"card_id": card_id, "kind": "purchase", "amount": amount, "reference": "Bulk", "created_at": now}
         for card_id in ids.values()],
    )  # fmt: skip
    return Batch(sorted((ids[digest], code) for digest, code in codes.items()), amount, currency)


def codes_csv(batch: Batch) -> str:
    """The codes of a bulk creation as CSV (id, code, amount, currency)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "code", "amount", "currency"])
    writer.writerows((card_id, code, f"{batch.amount:.2f}", batch.currency) for card_id, code in batch.cards)
    return out.getvalue()


def gift_card_items(items) -> list[tuple[Decimal, int]]:
    """(unit price, quantity) of an order's gift card items: `"gift_card": true` with a price above 0."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and item.get("gift_card") is True and item.get("price") is not None:
            price = Decimal(str(item["price"]))
            if Decimal("0") < price <= MAX_AMOUNT:
                out.append((price.quantize(Decimal("0.01")), int(item.get("quantity") or 1)))
    return out


MAX_SOLD = 100  # cards one order may make: a quantity of a million is a mistake, not a million cards


def sell_from_order(order: Order) -> list[Issued]:
    """A card per unit of each gift card item of a new order, for its buyer; none when the order already has
    its cards (the same order twice)."""
    wanted = gift_card_items(order.items)
    if not wanted:
        return []
    made = db.session.scalar(select(func.count()).select_from(GiftCard).where(GiftCard.order_id == order.id))
    if made:
        return []
    issued = []
    for price, quantity in wanted:
        for _ in range(min(quantity, MAX_SOLD - len(issued))):
            issued.append(issue(order.workspace_id, price, order.currency, email=order.email, order_id=order.id))
    return issued


# -- Reading cards ----------------------------------------------------------------------------------


def get_card(workspace_id: int, card_id) -> GiftCard:
    """A card of this workspace by id; another workspace's id answers NotFound."""
    card = db.session.get(GiftCard, as_id(card_id)) if as_id(card_id) else None
    if card is None or card.workspace_id != workspace_id:
        raise NotFound("No such gift card.")
    return card


def find_by_code(workspace_id: int, code) -> GiftCard:
    """The card a code opens in this workspace; NotFound for a code that is none of its cards."""
    normal = normalize_code(code)
    card = db.session.scalar(select(GiftCard).where(GiftCard.code_hash == code_hash(normal))) if normal else None
    if card is None or card.workspace_id != workspace_id:
        raise NotFound("No gift card has this code.", {"code": "Unknown code."})
    return card


def list_cards(workspace_id: int, status: str | None = None, q: str | None = None):
    """Newest first, of one status or whose last four characters, address or id match `q` (a select)."""
    stmt = select(GiftCard).where(GiftCard.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(GiftCard.status == status)
    if q:
        text = q.strip()
        last4 = "".join(text.split()).replace("-", "").upper()[-4:]
        match = [GiftCard.last4 == last4, GiftCard.recipient_email.contains(text.lower(), autoescape=True)]
        if as_id(text):
            match.append(GiftCard.id == as_id(text))
        stmt = stmt.where(or_(*match))
    return stmt.order_by(GiftCard.id.desc())


def ledger_of(card_id: int, limit: int = 200) -> list[GiftCardTransaction]:
    return list(db.session.scalars(select(GT).where(GT.card_id == card_id).order_by(GT.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Totals:
    """What the workspace's cards hold, per currency: {currency: (cards, active, outstanding balance)}."""

    by_currency: dict


def totals(workspace_id: int) -> Totals:
    rows = db.session.execute(
        select(
            GiftCard.currency,
            func.count(),
            func.count().filter(GiftCard.status == "active"),
            func.coalesce(func.sum(GiftCard.balance).filter(GiftCard.status == "active"), 0),
        )
        .where(GiftCard.workspace_id == workspace_id)
        .group_by(GiftCard.currency)
        .order_by(GiftCard.currency)
    ).all()
    return Totals({c: (n, active, Decimal(str(out))) for c, n, active, out in rows})


# -- Moving money -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """A ledger entry written (created) or found by its idempotency key (not created), and the card after."""

    card: GiftCard
    entry: GiftCardTransaction
    created: bool


def redeem(workspace_id: int, code, amount, idempotency_key=None, currency=None, reference=None) -> Moved:
    """Take `amount` off the card a code opens: NotFound (404) for an unknown code, InsufficientBalance
    (409) when the balance is short, InvalidState (409) for an expired or disabled card."""
    card = find_by_code(workspace_id, code)
    return _redeem(card.id, amount, idempotency_key, currency, reference)


def redeem_card(workspace_id: int, card_id, amount, idempotency_key=None, reference=None) -> Moved:
    """`redeem` by the card's id (the dashboard, where a person has the card in front of them)."""
    return _redeem(get_card(workspace_id, card_id).id, amount, idempotency_key, None, reference)


def _redeem(card_id: int, amount, idempotency_key, currency, reference) -> Moved:
    amount = clean_money(amount, "amount", MAX_AMOUNT)
    key, reference = clean_key(idempotency_key), clean_note(reference, "reference", 200)
    card = lock_row(GiftCard, card_id)
    if currency is not None and clean_currency(currency) != card.currency:
        why = f"This card is in {card.currency}."
        raise ValidationError(why, {"currency": why})
    earlier = _by_key(card.id, key)
    if earlier is not None:
        return _replay(card, earlier, "redemption", -amount)
    _usable(card)
    if card.balance < amount:
        raise InsufficientBalance(
            f"The card's balance is short: {card.balance} {card.currency} left, {amount} asked.",
            {"amount": "More than the balance."},
        )
    return _post(card, "redemption", -amount, key, reference)


def refund(workspace_id: int, card_id, amount, reference=None, idempotency_key=None) -> Moved:
    """Put back up to what was redeemed from the card and not refunded yet (a returned order)."""
    amount = clean_money(amount, "amount", MAX_AMOUNT)
    key, reference = clean_key(idempotency_key), clean_note(reference, "reference", 200)
    card = lock_row(GiftCard, get_card(workspace_id, card_id).id)
    earlier = _by_key(card.id, key)
    if earlier is not None:
        return _replay(card, earlier, "refund", amount)
    _usable(card, refunding=True)
    moved = db.session.scalar(
        select(func.coalesce(func.sum(GT.amount), 0)).where(
            GT.card_id == card.id, GT.kind.in_(("redemption", "refund"))
        )
    )
    spent = -Decimal(str(moved))
    if amount > spent:
        why = f"At most {spent:.2f} {card.currency} can be refunded: what was redeemed and not refunded yet."
        raise ValidationError(why, {"amount": why})
    return _post(card, "refund", amount, key, reference)


def set_disabled(workspace_id: int, card_id, disabled: bool) -> GiftCard:
    """Freeze a card (lost, stolen, sold by mistake) or thaw it: a disabled card keeps its balance and
    refuses redemptions and refunds until it is enabled again; the ledger records neither."""
    card = lock_row(GiftCard, get_card(workspace_id, card_id).id)
    if disabled:
        if card.status == "expired":
            raise InvalidState("This gift card has expired: there is nothing left to disable.")
        card.status = "disabled"
    elif card.status == "disabled":
        card.status = "redeemed" if card.balance == 0 else "active"  # past its date: the expiry job ends it
    db.session.flush()
    action = "gift_card.disable" if disabled else "gift_card.enable"
    audit.record(workspace_id, action, "gift_card", card.id, {"last4": card.last4})
    return card


def _usable(card: GiftCard, refunding: bool = False) -> None:
    if card.status == "disabled":
        raise InvalidState("This gift card is disabled.")
    if card.status == "expired" or (card.expires_at is not None and card.expires_at <= _now()):
        raise InvalidState("This gift card has expired.")
    if card.status == "redeemed" and not refunding:
        raise InsufficientBalance(
            f"The card's balance is short: 0.00 {card.currency} left.", {"amount": "Nothing left."}
        )


def _by_key(card_id: int, key: str | None) -> GiftCardTransaction | None:
    if key is None:
        return None
    return db.session.scalar(select(GT).where(GT.card_id == card_id, GT.idempotency_key == key))


def _replay(card: GiftCard, earlier: GiftCardTransaction, kind: str, amount: Decimal) -> Moved:
    if earlier.kind != kind or Decimal(earlier.amount) != amount:
        raise Conflict(
            "This idempotency key was used for another change of this card.",
            {"idempotency_key": "Already used for another change."},
        )
    return Moved(card, earlier, False)


def _post(card: GiftCard, kind: str, amount: Decimal, key, reference) -> Moved:
    entry = GT(card_id=card.id, kind=kind, amount=amount, reference=reference, idempotency_key=key, created_at=_now())
    db.session.add(entry)
    card.balance = Decimal(card.balance) + amount
    card.status = "redeemed" if card.balance == 0 else "active"
    db.session.flush()
    return Moved(card, entry, True)


def expire_cards(now: datetime | None = None, batch: int = EXPIRY_BATCH, commit=None) -> int:
    """Active cards past their `expires_at` become `expired`, what they held leaving in an expiry entry
    (daily): set-based, `batch` cards at a time under their locks. Returns how many expired."""
    now = now or _now()
    t, gt = GiftCard.__table__, GT.__table__
    total = 0
    while True:
        due = db.session.scalars(
            select(t.c.id).where(t.c.status == "active", t.c.expires_at <= now).order_by(t.c.id).limit(batch)
        ).all()
        if not due:
            return total
        lock_rows(GiftCard, list(due))
        still = and_(t.c.id.in_(due), t.c.status == "active", t.c.expires_at <= now)  # again, under the locks
        leaving = select(
            t.c.id, literal("expiry"), -t.c.balance, literal("Expired"), literal("expiry:") + t.c.id.cast(String),
            literal(now, gt.c.created_at.type),
        ).where(still, t.c.balance > 0)  # fmt: skip
        db.session.execute(
            gt.insert().from_select(
                ["card_id", "kind", "amount", "reference", "idempotency_key", "created_at"], leaving
            )
        )
        total += db.session.execute(update(t).where(still).values(balance=0, status="expired")).rowcount
        if commit is not None:
            commit()
        if len(due) < batch:
            return total
