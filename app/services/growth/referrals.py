"""Referral programs: a person shares their link, a new person signs up on its landing page, and that
friend's first qualifying order rewards both sides, exactly once.

    program            what each side gets ({"type": percent|fixed|points, "value", "currency"?}), the smallest
                       qualifying order (min_order_amount, in the program's currency), how long a friend has
                       to order (expiry_days), the list friends join, the landing page's title and text (plain
                       text, always escaped where shown)
    code_for           a person's code in a program, drawn once: 10 characters from an alphabet without
                       look-alikes (secrets; 31^10 ≈ 8·10^14, unique across every workspace) -> BASE_URL/r/<code>
    the landing page   referral_landing.py: counts visits, signs a new person up, opens a pending Referral
                       that expires after expiry_days
    on_order           the friend's first order (no earlier order of theirs), placed while the referral was
                       open, of at least min_order_amount in the program's currency: pending -> completed ->
                       rewarded in the caller's transaction. The claim is a conditional UPDATE (WHERE status IN
                       ('pending', 'expired')): of two orders recorded at once, one claims and the other finds
                       nothing, so a referral is rewarded once. An order placed before the expiry but reported
                       after the daily job closed the referral still completes it (expired -> completed).
                       referral_rewards.py issues the rewards (codes, points), referral_emails.py mails both.
    expire_referrals   (daily) pending referrals past expires_at become expired, in one UPDATE

Only new people count: an address that was already a subscriber of the workspace (whatever their status, or
erased) is not a referral, nor is the person whose link it is, nor a second referral of one friend in one
program. A program is active (its page signs people up), paused (its page says it is closed for now) or
archived (its links answer 404, for good). A pending referral keeps its promise whatever becomes of the
program: the friend signed up on its word.

Every function flushes; the caller commits.
"""

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, Order, Referral, ReferralCode, ReferralProgram, Subscriber
from app.services.audience import contacts
from app.services.audience.subscriber_fields import workspace_lists
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.growth import referral_emails, referral_rewards
from app.services.ids import as_id, parse_int
from app.services.platform import audit

STATUSES = ("pending", "completed", "rewarded", "expired")
# What an order may still complete: an expired referral too, for an order placed before its expiry and
# reported after the daily job closed it (a shop that sends its orders late).
OPEN = ("pending", "expired")
PROGRAM_STATUSES = ("active", "paused", "archived")
REWARD_TYPES = ("percent", "fixed", "points")
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: codes are read aloud and typed
CODE_LENGTH = 10
MAX_CODE_DRAWS = 5
MAX_NAME, MAX_TITLE, MAX_TEXT = 200, 200, 2000
MAX_AMOUNT = Decimal("1000000")
MAX_POINTS = 10_000_000
MIN_EXPIRY_DAYS, MAX_EXPIRY_DAYS = 1, 365
# A shop's clock and Herald's differ a little: an order stamped this long before the signup still counts.
CLOCK_SLACK = timedelta(minutes=15)
FIELDS = ("name", "status", "referrer_reward", "friend_reward", "min_order_amount", "currency", "expiry_days",
          "list_id", "landing")  # fmt: skip


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Programs ---------------------------------------------------------------------------------------


def get_program(workspace_id: int, program_id) -> ReferralProgram:
    program = db.session.scalar(
        select(ReferralProgram).where(
            ReferralProgram.id == as_id(program_id), ReferralProgram.workspace_id == workspace_id
        )
    )
    if program is None:
        raise NotFound("No such referral program.")
    return program


def list_programs(workspace_id: int, status: str | None = None):
    """A select of the workspace's programs, newest first (`status`: only those)."""
    stmt = select(ReferralProgram).where(ReferralProgram.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(ReferralProgram.status == status)
    return stmt.order_by(ReferralProgram.id.desc())


def active_programs(workspace_id: int) -> list[ReferralProgram]:
    return list(db.session.scalars(list_programs(workspace_id, "active")))


def only_active_program(workspace_id: int) -> int:
    """The id of the workspace's one active program; ValidationError naming program_id otherwise."""
    ids = db.session.scalars(list_programs(workspace_id, "active").with_only_columns(ReferralProgram.id).limit(2))
    ids = list(ids)
    if len(ids) != 1:
        why = "Say which program (program_id): " + ("none is active." if not ids else "more than one is active.")
        raise ValidationError(why, {"program_id": "Required."})
    return ids[0]


def create_program(workspace_id: int, data: dict) -> ReferralProgram:
    """A new active program from `data` (FIELDS but status); every problem named by its field."""
    clean = _clean(workspace_id, {k: data.get(k) for k in FIELDS if k != "status"})
    program = ReferralProgram(workspace_id=workspace_id, status="active", **clean)
    db.session.add(program)
    db.session.flush()
    return program


def update_program(workspace_id: int, program_id, data: dict) -> ReferralProgram:
    """Change the fields given; status active <-> paused, or archived (for good: an archived program is
    never changed again, InvalidState)."""
    program = get_program(workspace_id, program_id)
    if program.status == "archived":
        raise InvalidState("This program is archived: it cannot change. Create a new one instead.")
    merged = stored_values(program) | {k: data[k] for k in FIELDS if k in data}
    if isinstance(data.get("landing"), dict):  # a title alone keeps the text, and the other way round
        merged["landing"] = stored_values(program)["landing"] | data["landing"]
    clean = _clean(workspace_id, merged)
    status = merged.get("status") or program.status
    if status not in PROGRAM_STATUSES:
        raise ValidationError("status: choose active, paused or archived.", {"status": "Unknown status."})
    for key, value in clean.items():
        setattr(program, key, value)
    if status == "archived":  # the one change that cannot be undone
        audit.record(workspace_id, "referral_program.archive", "referral_program", program.id, {"name": program.name})
    program.status = status
    db.session.flush()
    return program


def set_status(workspace_id: int, program_id, status: str) -> ReferralProgram:
    return update_program(workspace_id, program_id, {"status": status})


def stored_values(program: ReferralProgram) -> dict:
    """The program as the values `_clean` takes (what an edit starts from)."""
    return {
        "name": program.name,
        "status": program.status,
        "referrer_reward": dict(program.referrer_reward or {}),
        "friend_reward": dict(program.friend_reward or {}),
        "min_order_amount": program.min_order_amount,
        "currency": program.currency,
        "expiry_days": program.expiry_days,
        "list_id": program.list_id,
        "landing": dict(program.landing or {}),
    }


def _clean(workspace_id: int, data: dict) -> dict:
    errors: dict[str, str] = {}
    currency = _currency(data.get("currency"), "currency", errors)
    clean = {
        "name": _name(data.get("name"), errors),
        "currency": currency,
        "min_order_amount": _minimum(data.get("min_order_amount"), currency, errors),
        "referrer_reward": _reward(data.get("referrer_reward"), "referrer_reward", currency, errors, required=True),
        "friend_reward": _reward(data.get("friend_reward"), "friend_reward", currency, errors, required=False),
        "expiry_days": _expiry(data.get("expiry_days"), errors),
        "list_id": _list(workspace_id, data.get("list_id"), errors),
        "landing": _landing(data.get("landing"), errors),
    }
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    return clean


def _plain_text(value) -> str:
    """Text as typed, without control characters (a NUL cannot be stored) but with its line breaks."""
    return "".join(c for c in str(value or "") if c in "\n\t" or unicodedata.category(c) != "Cc")


def _name(value, errors: dict) -> str:
    name = " ".join(_plain_text(value).split())
    if not name:
        errors["name"] = "Give the program a name (only your team sees it)."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Keep the name under {MAX_NAME} characters."
    return name[:MAX_NAME]


def _decimal(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _currency(value, field: str, errors: dict) -> str | None:
    text = str(value or "").strip().upper()
    if not text:
        return None
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        errors[field] = "A currency is a three-letter ISO 4217 code, such as EUR."
        return None
    return text


def _minimum(value, currency: str | None, errors: dict) -> Decimal | None:
    if value is None or value == "":
        return None
    amount = _decimal(value)
    if amount is None or amount < 0 or amount > MAX_AMOUNT:
        errors["min_order_amount"] = f"The smallest qualifying order is an amount from 0 to {MAX_AMOUNT:,}."
        return None
    if amount > 0 and currency is None and "currency" not in errors:
        errors["currency"] = "Say which currency the smallest qualifying order is in (e.g. EUR)."
    return amount.quantize(Decimal("0.01"))


def _reward(value, field: str, currency: str | None, errors: dict, required: bool) -> dict:
    """{"type", "value"} (and "currency" for a fixed amount): percent 1–100, a fixed amount above 0, whole
    points above 0. An absent friend reward is {} (the friend gets nothing but the welcome)."""
    if not required and (value is None or value == {} or (isinstance(value, dict) and not value.get("type"))):
        return {}
    if not isinstance(value, dict) or value.get("type") not in REWARD_TYPES:
        errors[f"{field}.type"] = "Choose a reward: a percentage off, a fixed amount off, or loyalty points."
        return {}
    kind, number = value["type"], _decimal(value.get("value"))
    if kind == "percent":
        if number is None or not 1 <= number <= 100:
            errors[f"{field}.value"] = "A percentage from 1 to 100."
            return {}
        return {"type": kind, "value": _plain(number.quantize(Decimal("0.01")))}
    if kind == "points":
        if number is None or number != number.to_integral_value() or not 0 < number <= MAX_POINTS:
            errors[f"{field}.value"] = f"A whole number of points, from 1 to {MAX_POINTS:,}."
            return {}
        return {"type": kind, "value": int(number)}
    if number is None or not 0 < number <= MAX_AMOUNT:
        errors[f"{field}.value"] = f"An amount above 0, up to {MAX_AMOUNT:,}."
        return {}
    own = _currency(value.get("currency"), f"{field}.currency", errors) or currency
    if own is None:
        errors.setdefault(f"{field}.currency", "Say which currency the amount is in (e.g. EUR).")
        return {}
    return {"type": kind, "value": _plain(number.quantize(Decimal("0.01"))), "currency": own}


def _plain(number: Decimal) -> int | float:
    """A JSON number: whole amounts as integers (10, not 10.0)."""
    return int(number) if number == number.to_integral_value() else float(number)


def _expiry(value, errors: dict) -> int:
    if value is None or value == "":
        return 30
    days = parse_int(value) if not isinstance(value, float) else None
    if days is None or not MIN_EXPIRY_DAYS <= days <= MAX_EXPIRY_DAYS:
        errors["expiry_days"] = f"A friend has from {MIN_EXPIRY_DAYS} to {MAX_EXPIRY_DAYS} days to order."
        return 30
    return days


def _list(workspace_id: int, value, errors: dict) -> int | None:
    if value is None or value == "":
        return None
    try:
        return workspace_lists(workspace_id, [value])[0]
    except (ValidationError, NotFound):
        errors["list_id"] = "Choose one of this workspace's lists."
        return None


def _landing(value, errors: dict) -> dict:
    """{"title", "text"}: plain text (shown escaped, line breaks kept); empty ones take Herald's wording."""
    value = value if isinstance(value, dict) else {}
    title = " ".join(_plain_text(value.get("title")).split())
    text = _plain_text(str(value.get("text") or "").replace("\r\n", "\n")).strip()
    if len(title) > MAX_TITLE:
        errors["landing.title"] = f"Keep the title under {MAX_TITLE} characters."
    if len(text) > MAX_TEXT:
        errors["landing.text"] = f"Keep the text under {MAX_TEXT:,} characters."
    return {"title": title[:MAX_TITLE], "text": text[:MAX_TEXT]}


# Codes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareLink:
    """A person's code in a program and the landing page it opens."""

    code: str
    url: str
    program_id: int
    subscriber_id: int
    visits: int


def new_code(length: int = CODE_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def landing_url(code: str) -> str:
    return f"{current_app.config['BASE_URL']}/r/{code}"


def code_for(workspace_id: int, program_id, subscriber_id) -> ShareLink:
    """The person's code and link in the program, drawn the first time they are asked for."""
    program = get_program(workspace_id, program_id)
    if program.status == "archived":
        raise InvalidState("This program is archived: its links no longer work.")
    subscriber = contacts.get_subscriber(workspace_id, as_id(subscriber_id))
    if subscriber.erased_at is not None:
        raise NotFound("No such subscriber.")
    row = code_of(program.id, subscriber.id) or _draw_code(program, subscriber.id)
    return share_link(row)


def code_of(program_id: int, subscriber_id: int) -> ReferralCode | None:
    return db.session.scalar(
        select(ReferralCode).where(ReferralCode.program_id == program_id, ReferralCode.subscriber_id == subscriber_id)
    )


def share_link(row: ReferralCode) -> ShareLink:
    return ShareLink(row.code, landing_url(row.code), row.program_id, row.subscriber_id, row.visits or 0)


def send_invite(workspace_id: int, program_id, subscriber_id) -> Message:
    """Email an active subscriber their link in an active program (queued once the caller commits)."""
    program = get_program(workspace_id, program_id)
    if program.status != "active":
        raise InvalidState(f"This program is {program.status}: invites go out only while it is active.")
    subscriber = contacts.get_subscriber(workspace_id, as_id(subscriber_id))
    if subscriber.status != "active":
        raise InvalidState(f"{subscriber.email} is {subscriber.status}: an invite goes to active subscribers only.")
    link = code_for(workspace_id, program.id, subscriber.id)
    return referral_emails.send_invite(program, subscriber, link.code, link.url)


def _draw_code(program: ReferralProgram, subscriber_id: int) -> ReferralCode:
    for _ in range(MAX_CODE_DRAWS):
        row = ReferralCode(
            workspace_id=program.workspace_id, program_id=program.id, subscriber_id=subscriber_id,
            code=new_code(), visits=0,
        )  # fmt: skip
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # The same person's code made at the same moment (use it), or, rarely, another's code (draw again).
            existing = code_of(program.id, subscriber_id)
            if existing is not None:
                return existing
            continue
        return row
    raise RuntimeError(f"no free referral code in {MAX_CODE_DRAWS} draws")


# Orders -----------------------------------------------------------------------------------------


def on_order(order: Order) -> list[int]:
    """A newly recorded order: when it is the buyer's first and qualifies, their open referrals become
    completed and are rewarded, each once. Safe to call again for the same order. Returns the ids rewarded."""
    friend = _buyer(order)
    if friend is None:
        return []
    pending = db.session.execute(
        select(Referral, ReferralProgram)
        .join(ReferralProgram, ReferralProgram.id == Referral.program_id)
        .where(Referral.workspace_id == order.workspace_id, Referral.friend_id == friend.id,
               Referral.status.in_(OPEN))
        .order_by(Referral.id)
    ).all()  # fmt: skip
    if not pending or not _is_first_order(order, friend):
        return []
    rewarded = []
    for referral, program in pending:
        if not _qualifies(order, referral, program) or not _claim(referral, order):
            continue
        referral.rewards = referral_rewards.issue(referral, program, order)
        referral.status, referral.rewarded_at = "rewarded", _now()
        db.session.flush()
        code = db.session.get(ReferralCode, referral.code_id)
        referral_emails.send_rewards(referral, program, code.code, landing_url(code.code))
        rewarded.append(referral.id)
    return rewarded


def _buyer(order: Order) -> Subscriber | None:
    where = Subscriber.id == order.subscriber_id if order.subscriber_id else Subscriber.email == order.email
    return db.session.scalar(select(Subscriber).where(Subscriber.workspace_id == order.workspace_id, where))


def _is_first_order(order: Order, friend: Subscriber) -> bool:
    """No order of theirs (by subscriber or address) was placed before this one."""
    earlier = db.session.scalar(
        select(Order.id)
        .where(
            Order.workspace_id == order.workspace_id,
            Order.id != order.id,
            or_(Order.subscriber_id == friend.id, Order.email == friend.email),
            or_(Order.placed_at < order.placed_at, and_(Order.placed_at == order.placed_at, Order.id < order.id)),
        )
        .limit(1)
    )
    return earlier is None


def _qualifies(order: Order, referral: Referral, program: ReferralProgram) -> bool:
    """Placed while the referral was open, and large enough in the program's currency."""
    if order.placed_at < referral.created_at - CLOCK_SLACK:
        return False
    if referral.expires_at is not None and order.placed_at > referral.expires_at:
        return False
    minimum = program.min_order_amount or Decimal(0)
    if minimum > 0:
        return order.currency == program.currency and order.amount >= minimum
    return True


def _claim(referral: Referral, order: Order) -> bool:
    """pending (or expired) -> completed, for one caller only: the UPDATE waits on a concurrent claim's row
    lock and then finds the row no longer open (SQLite runs one writer at a time)."""
    now = _now()
    claimed = db.session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.status.in_(OPEN))
        .values(status="completed", order_id=order.id, completed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(referral)
    return claimed == 1


# Expiry -----------------------------------------------------------------------------------------


def expire_referrals(now: datetime | None = None) -> int:
    """Pending referrals past their expiry become expired (daily job); returns how many."""
    return db.session.execute(
        update(Referral)
        .where(Referral.status == "pending", Referral.expires_at < (now or _now()))
        .values(status="expired")
        .execution_options(synchronize_session=False)
    ).rowcount


def list_referrals(workspace_id: int, program_id, status: str | None = None):
    """A select of a program's referrals, newest first (`status`: only those)."""
    program = get_program(workspace_id, program_id)
    stmt = select(Referral).where(Referral.workspace_id == workspace_id, Referral.program_id == program.id)
    if status:
        stmt = stmt.where(Referral.status == status)
    return stmt.order_by(Referral.id.desc())
