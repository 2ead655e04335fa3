"""Loyalty points: the workspace's program, each person's account, and the ledger whose sum is the balance.

The program (one per workspace) says how many points one unit of its currency earns (`points_per_unit`,
on orders in that currency only), how many points make one unit off (`redemption_rate`), after how many
days earned points expire (`expiry_days`; None: never) and its tiers by lifetime points. A paused program
awards nothing; what people hold stays theirs to redeem. An account is made the first time a person is
credited; a person without one has 0 points.

Every change of a balance is one ledger entry, written in the same transaction as the balance and under
the account's lock (ledgers.lock_row), so concurrent redemptions queue and each sees what the previous
one left:

    earned     +  an order's points, once per order (idempotency key `order:<id>`), expiring after expiry_days
    redeemed   −  POST /loyalty/redeem; refused (InsufficientBalance, 409) when the balance is short
    adjusted   ±  a person's correction with a note; a debit never below zero; credits never expire
    expired    −  what is left of an earned entry past its expiry (expire_points, daily)

Debits use up earned points first in, first out (`remaining` of earned entries), so what expires is what
was earned longest ago and not yet spent; the sum of what remains is never more than the balance.
Lifetime points count every credit (earned and given) and never go down; the tier is the highest whose
`min_points` they reach. The caller commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from sqlalchemy import String, and_, case, cast, func, literal, select, update

from app.extensions import db
from app.models import LoyaltyAccount, LoyaltyProgram, LoyaltyTransaction, Order, Subscriber
from app.services.automation.sql import insert_into
from app.services.errors import Conflict, InsufficientBalance, InvalidState, NotFound, ValidationError
from app.services.growth.ledgers import clean_currency, clean_email, clean_key, clean_note, lock_row, lock_rows
from app.services.ids import as_id

MAX_POINTS = 1_000_000_000  # in one entry
MAX_BALANCE = 2**31 - 1  # the integer columns' range
MAX_RATE = Decimal("999999.9999")  # Numeric(10, 4)
MAX_EXPIRY_DAYS = 3650
MAX_TIERS = 20
STATUSES = ("active", "paused")
DEFAULTS = {
    "status": "active",
    "points_per_unit": Decimal("1"),
    "redemption_rate": Decimal("100"),
    "currency": "EUR",
    "expiry_days": None,
    "tiers": [],
}
EXPIRY_BATCH = 1000

T = LoyaltyTransaction


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- The program ------------------------------------------------------------------------------------


def get_program(workspace_id: int) -> LoyaltyProgram | None:
    return db.session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.workspace_id == workspace_id))


def program_of(workspace_id: int) -> LoyaltyProgram:
    """The workspace's program; NotFound when it has none yet."""
    program = get_program(workspace_id)
    if program is None:
        raise NotFound("This workspace has no loyalty program yet: set one up first (PUT /loyalty/program).")
    return program


def save_program(workspace_id: int, data) -> tuple[LoyaltyProgram, bool]:
    """(the program, whether it is new): checked as a whole, fields left out keep their current value (the
    defaults for a new program); changed tiers are given again to every account, set-based."""
    if not isinstance(data, dict):
        raise ValidationError("A loyalty program is an object.", {"program": "An object."})
    program = get_program(workspace_id)
    current = DEFAULTS if program is None else {k: getattr(program, k) for k in DEFAULTS}
    clean = clean_program(current | {k: data[k] for k in DEFAULTS if k in data})
    created = program is None
    if created:
        program = LoyaltyProgram(workspace_id=workspace_id)
        db.session.add(program)
    tiers_changed = created or clean["tiers"] != list(program.tiers or [])
    for k, v in clean.items():
        setattr(program, k, v)
    db.session.flush()
    if tiers_changed and not created:
        _retier(program)
    return program, created


def clean_program(data: dict) -> dict:
    """Every field checked at once, so one answer names every field to fix."""
    errors: dict[str, str] = {}
    out, first = {}, None
    for name, check in (
        ("status", _status),
        ("points_per_unit", _rate),
        ("redemption_rate", _rate),
        ("currency", clean_currency),
        ("expiry_days", _expiry_days),
        ("tiers", clean_tiers),
    ):
        try:
            out[name] = check(data.get(name), name)
        except ValidationError as exc:
            errors.update(exc.fields or {name: exc.message})
            first = first or exc.message
    if errors:
        raise ValidationError(first if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    return out


def _status(value, field: str) -> str:
    if value not in STATUSES:
        raise ValidationError(f"{field} is active or paused.", {field: "active or paused."})
    return value


def _rate(value, field: str) -> Decimal:
    why = f"{field} is a number above 0 and at most {MAX_RATE:,}, with up to four decimals."
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValidationError(why, {field: why})
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(why, {field: why}) from None
    if not rate.is_finite() or rate <= 0 or rate > MAX_RATE or rate != rate.quantize(Decimal("0.0001")):
        raise ValidationError(why, {field: why})
    return rate.quantize(Decimal("0.0001"))


def _expiry_days(value, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXPIRY_DAYS:
        why = f"{field} is a number of days from 1 to {MAX_EXPIRY_DAYS}, or empty for points that never expire."
        raise ValidationError(why, {field: why})
    return value


def clean_tiers(value, field: str = "tiers") -> list[dict]:
    """[{name, min_points}] sorted by min_points: names unique (whatever their case), thresholds distinct."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TIERS:
        raise ValidationError(f"{field} is a list of at most {MAX_TIERS} tiers.", {field: "A list of tiers."})
    tiers, names, floors = [], set(), set()
    for n, tier in enumerate(value):
        place = f"{field}.{n}"
        name = (
            " ".join(tier.get("name").split()) if isinstance(tier, dict) and isinstance(tier.get("name"), str) else ""
        )
        if not 1 <= len(name) <= 60:
            raise ValidationError(
                f"{place}.name: a tier's name is 1 to 60 characters.", {f"{place}.name": "1 to 60 characters."}
            )
        points = tier.get("min_points")
        if isinstance(points, str) and points.strip().isdigit():
            points = int(points.strip())
        if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_BALANCE:
            why = "A whole number of lifetime points from 0."
            raise ValidationError(f"{place}.min_points: {why}", {f"{place}.min_points": why})
        if name.lower() in names:
            raise ValidationError(f"Two tiers are called “{name}”.", {f"{place}.name": "Another tier has this name."})
        if points in floors:
            why = "Another tier starts at the same number of points."
            raise ValidationError(f"{place}.min_points: {why}", {f"{place}.min_points": why})
        names.add(name.lower())
        floors.add(points)
        tiers.append({"name": name, "min_points": points})
    return sorted(tiers, key=lambda t: t["min_points"])


def tier_for(tiers: list[dict], lifetime_points: int) -> str | None:
    """The highest tier whose min_points the lifetime points reach (None: below every tier)."""
    reached = [t for t in tiers or [] if lifetime_points >= t["min_points"]]
    return reached[-1]["name"] if reached else None


def next_tier(tiers: list[dict], lifetime_points: int) -> dict | None:
    """{name, min_points, points_to_go} of the first tier not reached yet."""
    for t in tiers or []:
        if t["min_points"] > lifetime_points:
            return {"name": t["name"], "min_points": t["min_points"], "points_to_go": t["min_points"] - lifetime_points}
    return None


def _retier(program: LoyaltyProgram) -> None:
    """Every account's tier from its lifetime points, in one UPDATE."""
    a = LoyaltyAccount.__table__
    tiers = sorted(program.tiers or [], key=lambda t: -t["min_points"])
    tier = case(*((a.c.lifetime_points >= t["min_points"], t["name"]) for t in tiers), else_=None) if tiers else None
    db.session.execute(update(a).where(a.c.program_id == program.id).values(tier=tier))


def points_value(program: LoyaltyProgram, points: int) -> Decimal:
    """What `points` are worth off an order, in the program's currency."""
    return (Decimal(points) / program.redemption_rate).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)


# -- People and accounts ----------------------------------------------------------------------------


def find_person(workspace_id: int, email=None, subscriber_id=None) -> Subscriber:
    """The subscriber named by address or id in this workspace (exactly one of the two)."""
    if (email in (None, "")) == (subscriber_id is None):
        why = "Name the person by email or by subscriber_id (one of the two)."
        raise ValidationError(why, {"email": why})
    if subscriber_id is not None:
        sid = None if isinstance(subscriber_id, str) else as_id(subscriber_id)
        sub = db.session.get(Subscriber, sid) if sid else None
    else:
        sub = db.session.scalar(
            select(Subscriber).where(Subscriber.workspace_id == workspace_id, Subscriber.email == clean_email(email))
        )
    if sub is None or sub.workspace_id != workspace_id:
        raise NotFound("No subscriber with this address or id in the workspace.")
    return sub


def _account_id(program_id: int, subscriber_id: int) -> int | None:
    return db.session.scalar(
        select(LoyaltyAccount.id).where(
            LoyaltyAccount.program_id == program_id, LoyaltyAccount.subscriber_id == subscriber_id
        )
    )


def _ensure_account(program: LoyaltyProgram, subscriber_id: int) -> int:
    """The person's account id, made now if they have none (two requests at once make one)."""
    found = _account_id(program.id, subscriber_id)
    if found is not None:
        return found
    now = _now()
    db.session.execute(
        insert_into(LoyaltyAccount.__table__)
        .values(workspace_id=program.workspace_id, program_id=program.id, subscriber_id=subscriber_id, balance=0,
                lifetime_points=0, tier=tier_for(program.tiers, 0), created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["program_id", "subscriber_id"])
    )  # fmt: skip
    return _account_id(program.id, subscriber_id)


@dataclass(frozen=True)
class Posted:
    """A ledger entry written (created) or found by its idempotency key (not created), and the account after."""

    entry: LoyaltyTransaction
    account: LoyaltyAccount
    created: bool


def _points(value, field: str = "points", signed: bool = False) -> int:
    low = -MAX_POINTS if signed else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_POINTS or value == 0:
        why = f"{field} is a whole number from {low:,} to {MAX_POINTS:,}" + (", not 0." if signed else ".")
        raise ValidationError(why, {field: why})
    return value


def _by_key(account_id: int, key: str | None) -> LoyaltyTransaction | None:
    if key is None:
        return None
    return db.session.scalar(select(T).where(T.account_id == account_id, T.idempotency_key == key))


def _replay(earlier: LoyaltyTransaction, kind: str, points: int) -> None:
    """The same key again must be the same request: another kind or amount is a mistake worth telling."""
    if earlier.kind != kind or earlier.points != points:
        raise Conflict(
            "This idempotency key was used for another change of this account.",
            {"idempotency_key": "Already used for another change."},
        )


def _credit(program, account_id: int, kind: str, points: int, key, note, order_id=None) -> Posted | None:
    """Add points (an order's `earned` ones are capped at what the account can hold, and None when it is
    full: an order is never refused for that; an adjustment is)."""
    account = lock_row(LoyaltyAccount, account_id)
    earlier = _by_key(account_id, key)
    if earlier is not None:
        if order_id is None:
            _replay(earlier, kind, points)
        return Posted(earlier, account, False)
    room = MAX_BALANCE - max(account.balance, account.lifetime_points)
    if points > room and order_id is None:
        raise ValidationError("This account cannot hold that many points.", {"points": "Too many points."})
    points = min(points, room)
    if points <= 0:
        return None
    now = _now()
    expiring = kind == "earned"
    entry = T(account_id=account_id, kind=kind, points=points, remaining=points if expiring else 0, order_id=order_id,
              note=note, idempotency_key=key, created_at=now,
              expires_at=now + timedelta(days=program.expiry_days) if expiring and program.expiry_days else None)  # fmt: skip
    db.session.add(entry)
    account.balance += points
    account.lifetime_points += points
    account.tier = tier_for(program.tiers, account.lifetime_points)
    account.updated_at = now
    db.session.flush()
    return Posted(entry, account, True)


def _debit(account_id: int | None, kind: str, points: int, key, note) -> Posted:
    account = lock_row(LoyaltyAccount, account_id) if account_id is not None else None
    if account is None:
        raise InsufficientBalance(
            f"The balance is short: 0 points, {points:,} asked.", {"points": "More than the balance."}
        )
    earlier = _by_key(account_id, key)
    if earlier is not None:
        _replay(earlier, kind, -points)
        return Posted(earlier, account, False)
    if account.balance < points:
        raise InsufficientBalance(
            f"The balance is short: {account.balance:,} points, {points:,} asked.", {"points": "More than the balance."}
        )
    _use_up(account_id, points)
    now = _now()
    entry = T(
        account_id=account_id, kind=kind, points=-points, remaining=0, note=note, idempotency_key=key, created_at=now
    )
    db.session.add(entry)
    account.balance -= points
    account.updated_at = now
    db.session.flush()
    return Posted(entry, account, True)


def _use_up(account_id: int, points: int) -> None:
    """Take `points` from the earned entries' remaining, oldest first, in one UPDATE: each entry gives
    what is still wanted after the older ones (a running sum), at most what it has left."""
    older = (
        select(
            T.id.label("id"),
            (func.sum(T.remaining).over(order_by=(T.created_at, T.id)) - T.remaining).label("before"),
        )
        .where(T.account_id == account_id, T.kind == "earned", T.remaining > 0)
        .subquery()
    )
    wanted = literal(points) - older.c.before
    db.session.execute(
        update(T.__table__)
        .where(T.__table__.c.id == older.c.id, older.c.before < points)
        .values(remaining=case((T.__table__.c.remaining <= wanted, 0), else_=T.__table__.c.remaining - wanted))
        .execution_options(synchronize_session=False)
    )


# -- What changes balances --------------------------------------------------------------------------


def award_for_order(order: Order) -> LoyaltyTransaction | None:
    """The order's points (floor of amount × points_per_unit) to its buyer, once per order. None when the
    workspace has no active program, the order is in another currency, the buyer is no subscriber (points
    belong to people Herald knows) or it earns nothing."""
    program = get_program(order.workspace_id)
    if program is None or program.status != "active" or order.subscriber_id is None:
        return None
    if order.currency != program.currency:
        return None
    points = int((Decimal(order.amount) * program.points_per_unit).to_integral_value(rounding=ROUND_FLOOR))
    if points <= 0:
        return None
    account_id = _ensure_account(program, order.subscriber_id)
    note = f"Order {order.external_id}"[:500]
    posted = _credit(program, account_id, "earned", min(points, MAX_POINTS), f"order:{order.id}", note, order.id)
    return posted.entry if posted is not None else None


def redeem(workspace_id: int, person, points, idempotency_key=None, note=None) -> Posted:
    """Take points from a person's balance (person: an address, a subscriber id or a Subscriber).

    InsufficientBalance (409) when the balance is short, and nothing is taken; the same idempotency key
    again answers the first redemption and takes nothing more."""
    program = _program_for_change(workspace_id)
    sub = _person(workspace_id, person)
    points = _points(points)
    key, note = clean_key(idempotency_key), clean_note(note)
    return _debit(_account_id(program.id, sub.id), "redeemed", points, key, note)


def adjust(workspace_id: int, person, points, note, idempotency_key=None) -> Posted:
    """A correction by a person (points: + or −, with the reason in `note`); never below zero."""
    program = _program_for_change(workspace_id)
    sub = _person(workspace_id, person)
    points = _points(points, signed=True)
    key, note = clean_key(idempotency_key), clean_note(note, required=True)
    if points > 0:
        return _credit(program, _ensure_account(program, sub.id), "adjusted", points, key, note)
    return _debit(_account_id(program.id, sub.id), "adjusted", -points, key, note)


def _program_for_change(workspace_id: int) -> LoyaltyProgram:
    program = get_program(workspace_id)
    if program is None:
        raise InvalidState("This workspace has no loyalty program yet: set one up first.")
    return program


def _person(workspace_id: int, person) -> Subscriber:
    if isinstance(person, Subscriber):
        if person.workspace_id != workspace_id:
            raise NotFound("No subscriber with this address or id in the workspace.")
        return person
    if isinstance(person, int) and not isinstance(person, bool):
        return find_person(workspace_id, subscriber_id=person)
    return find_person(workspace_id, email=person)


def expire_points(now: datetime | None = None, batch: int = EXPIRY_BATCH, commit=None) -> int:
    """What is left of earned entries past their expiry becomes `expired` entries, and leaves the
    balances (daily): set-based, `batch` entries at a time, each batch under its accounts' locks
    (committed by `commit` when given). Returns how many earned entries expired."""
    now = now or _now()
    t, a = T.__table__, LoyaltyAccount.__table__
    total = 0
    while True:
        due = db.session.execute(
            select(t.c.id, t.c.account_id)
            .where(t.c.kind == "earned", t.c.remaining > 0, t.c.expires_at <= now)
            .order_by(t.c.id)
            .limit(batch)
        ).all()
        if not due:
            return total
        lock_rows(LoyaltyAccount, sorted({account_id for _, account_id in due}))
        # Checked again under the locks: a redemption may have used some of it up meanwhile.
        still = and_(t.c.id.in_([i for i, _ in due]), t.c.remaining > 0, t.c.expires_at <= now)
        left = select(func.coalesce(func.sum(t.c.remaining), 0)).where(still, t.c.account_id == a.c.id)
        db.session.execute(
            update(a)
            .where(a.c.id.in_({account_id for _, account_id in due}))
            .values(balance=a.c.balance - left.scalar_subquery(), updated_at=now)
        )
        expired = select(
            t.c.account_id, literal("expired"), -t.c.remaining, literal(0), literal("Expired"),
            literal("expiry:") + cast(t.c.id, String), literal(now, t.c.created_at.type),
        ).where(still)  # fmt: skip
        db.session.execute(
            t.insert().from_select(
                ["account_id", "kind", "points", "remaining", "note", "idempotency_key", "created_at"], expired
            )
        )
        result = db.session.execute(update(t).where(still).values(remaining=0))
        total += result.rowcount
        if commit is not None:
            commit()
        if len(due) < batch:
            return total
