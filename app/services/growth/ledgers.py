"""What the loyalty and gift card ledgers share: a balance row locked for the rest of the transaction on
both databases, so that reading a balance, checking it and writing it with its ledger entry is one step
that concurrent redemptions take one at a time.

PostgreSQL locks the row (SELECT … FOR UPDATE): a second transaction waits at the same SELECT until the
first commits, then reads the balance the first left. SQLite has no row locks, and the driver runs a
SELECT outside any transaction, so a no-op UPDATE of the row comes first: it takes the database's write
lock (waiting up to the busy timeout for another writer), and the SELECT after it, inside the same
transaction, sees every committed change. Either way the CHECK (balance >= 0) on the table is the last
guard, never the first.
"""

from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update

from app.extensions import db
from app.services.audience.contacts import normalize_email
from app.services.errors import ValidationError


def postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_row(model, row_id: int):
    """The row (None when it is gone), locked until the transaction ends and read after the lock."""
    if postgres():
        stmt = select(model).where(model.id == row_id).with_for_update()
    else:
        table = model.__table__
        db.session.execute(update(table).where(table.c.id == row_id).values(id=table.c.id))
        stmt = select(model).where(model.id == row_id)
    return db.session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()


def lock_rows(model, ids: list[int]) -> None:
    """Lock many rows for a set-based job, in id order (two jobs never wait on each other in a circle)."""
    if not ids:
        return
    table = model.__table__
    if postgres():
        db.session.execute(select(table.c.id).where(table.c.id.in_(ids)).order_by(table.c.id).with_for_update())
    else:
        db.session.execute(update(table).where(table.c.id.in_(ids)).values(id=table.c.id))


def clean_key(value) -> str | None:
    """An idempotency key: text of up to 200 characters, or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or len(str(value).strip()) > 200:
        raise ValidationError(
            "idempotency_key is text of up to 200 characters.", {"idempotency_key": "Up to 200 characters."}
        )
    return str(value).strip()


def clean_note(value, field: str = "note", limit: int = 500, required: bool = False) -> str | None:
    """A person's note on a ledger entry (a reason, an order number), whitespace folded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"Say why, in {field}.", {field: "Required."})
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} is text.", {field: "Text."})
    text = " ".join(value.split())
    if len(text) > limit:
        raise ValidationError(f"{field} is at most {limit} characters.", {field: f"At most {limit} characters."})
    return text


def clean_money(value, field: str, maximum: Decimal, minimum: Decimal = Decimal("0.01")) -> Decimal:
    """An amount of money from `minimum` to `maximum` with at most two decimals (49.90 or "49.90")."""
    why = f"{field} is an amount from {minimum} to {maximum:,}, with at most two decimals, such as 25.00."
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValidationError(why, {field: why})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(why, {field: why}) from None
    if not amount.is_finite() or amount < minimum or amount > maximum or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(why, {field: why})
    return amount.quantize(Decimal("0.01"))


def clean_currency(value, field: str = "currency") -> str:
    """ISO 4217: three letters, kept upper-cased (eur -> EUR)."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        why = f"{field} is a three-letter ISO 4217 code, such as EUR."
        raise ValidationError(why, {field: why})
    return text.upper()


def clean_email(value, field: str = "email") -> str:
    """An address as Herald stores it, with the field named in the error."""
    try:
        return normalize_email(value)
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message}", {field: exc.message}) from None
