"""Subscribers, lists, imports and the suppression list."""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ListSubscriber, MailingList, Subscriber, Suppression
from app.services.audience import import_columns
from app.services.errors import Conflict, NotFound, ValidationError
from app.services.ids import as_id, as_ids, is_timezone

MAX_ATTRIBUTES_BYTES = 16_000
_SUBSCRIBERS = Subscriber.__table__


def normalize_email(raw: str) -> str:
    """The address in the one form Herald stores and compares: validated, lower-cased."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise ValidationError("An email address is required.")
    if len(value) > 320:
        raise ValidationError("That email address is too long.")
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(f"'{value[:80]}' is not an email address: {exc}") from None
    return result.normalized.lower()


def _clean_name(name) -> str | None:
    if name is None:
        return None
    name = " ".join(str(name).split())
    return name[:200] or None


def _clean_attributes(attributes) -> dict:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise ValidationError("Attributes must be an object of names and values.", {"attributes": "Not an object."})
    if len(repr(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise ValidationError("Attributes are too large (16 KB at most).", {"attributes": "Too large."})
    for key in attributes:
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            message = f"Attribute name '{str(key)[:40]}' is not allowed: names are 1 to 100 characters."
            raise ValidationError(message, {"attributes": message})
    return {k.strip(): v for k, v in attributes.items()}


def _workspace_lists(workspace_id: int, list_ids) -> list[int]:
    ids = as_ids(list_ids or [])
    if ids is None:
        raise ValidationError("Lists are given by their ids.", {"list_ids": "Not a list of ids."})
    if not ids:
        return []
    found = set(
        db.session.scalars(
            select(MailingList.id).where(MailingList.workspace_id == workspace_id, MailingList.id.in_(ids))
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"No list with id {missing[0]} in this workspace.", {"list_ids": "Unknown list."})
    return ids


# Lists --------------------------------------------------------------------------------------


def create_list(workspace_id: int, name: str, description: str | None = None) -> MailingList:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the list a name.", {"name": "Required."})
    if len(name) > 200:
        raise ValidationError("Keep the list name under 200 characters.", {"name": "Too long."})
    lst = MailingList(workspace_id=workspace_id, name=name, description=(description or "").strip()[:1000] or None)
    db.session.add(lst)
    db.session.flush()
    return lst


def get_list(workspace_id: int, list_id: int) -> MailingList:
    lst = db.session.scalar(
        select(MailingList).where(MailingList.id == list_id, MailingList.workspace_id == workspace_id)
    )
    if lst is None:
        raise NotFound("No such list.")
    return lst


def lists_with_counts(workspace_id: int) -> list[tuple[MailingList, int]]:
    """Every list of the workspace with its number of subscribers, in one query."""
    counts = select(ListSubscriber.list_id, func.count().label("n")).group_by(ListSubscriber.list_id).subquery()
    rows = db.session.execute(
        select(MailingList, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == MailingList.id)
        .where(MailingList.workspace_id == workspace_id)
        .order_by(MailingList.name)
    ).all()
    return [(lst, n) for lst, n in rows]


def delete_list(workspace_id: int, list_id: int) -> None:
    lst = get_list(workspace_id, list_id)
    db.session.delete(lst)
    db.session.flush()


# Subscribers --------------------------------------------------------------------------------


def get_subscriber(workspace_id: int, subscriber_id: int) -> Subscriber:
    sub = db.session.scalar(
        select(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.workspace_id == workspace_id)
    )
    if sub is None:
        raise NotFound("No such subscriber.")
    return sub


def subscriber_list_ids(subscriber_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(ListSubscriber.list_id)
            .where(ListSubscriber.subscriber_id == subscriber_id)
            .order_by(ListSubscriber.list_id)
        )
    )


def add_subscriber(
    workspace_id: int, email: str, name=None, attributes=None, list_ids=None, timezone_name: str | None = None
) -> Subscriber:
    """Add one subscriber; Conflict when the address is already in the workspace."""
    try:
        address = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"email": exc.message}) from None
    attributes = _clean_attributes(attributes)
    ids = _workspace_lists(workspace_id, list_ids)
    if timezone_name and not is_timezone(timezone_name):
        raise ValidationError(f"'{str(timezone_name)[:60]}' is not a timezone.", {"timezone": "Unknown timezone."})
    existing = db.session.scalar(
        select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.email == address)
    )
    if existing:
        raise Conflict(f"{address} is already a subscriber.", {"email": "Already subscribed.", "id": existing})
    sub = Subscriber(
        workspace_id=workspace_id,
        email=address,
        name=_clean_name(name),
        attributes=attributes,
        timezone=timezone_name or None,
        status="active",
    )
    try:
        # A savepoint: a concurrent request adding the same address loses cleanly with a 409.
        with db.session.begin_nested():
            db.session.add(sub)
    except IntegrityError:
        raise Conflict(f"{address} is already a subscriber.", {"email": "Already subscribed."}) from None
    if ids:
        db.session.execute(insert(ListSubscriber), [{"list_id": i, "subscriber_id": sub.id} for i in ids])
    return sub


def search_subscribers(
    workspace_id: int,
    q: str | None = None,
    status: str | None = None,
    list_id: int | None = None,
    email: str | None = None,
):
    """A select of the workspace's subscribers matching the filters, newest first."""
    stmt = select(Subscriber).where(Subscriber.workspace_id == workspace_id)
    if email is not None:
        try:
            address = normalize_email(email)
        except ValidationError:
            address = email.strip().lower()
        stmt = stmt.where(Subscriber.email == address)
    if q:
        like = f"%{q.strip().lower()[:200]}%"
        stmt = stmt.where((Subscriber.email.like(like)) | (func.lower(Subscriber.name).like(like)))
    if status:
        stmt = stmt.where(Subscriber.status == status)
    if list_id:
        stmt = stmt.where(
            Subscriber.id.in_(select(ListSubscriber.subscriber_id).where(ListSubscriber.list_id == list_id))
        )
    return stmt.order_by(Subscriber.id.desc())


def delete_subscriber(workspace_id: int, subscriber_id: int) -> None:
    sub = get_subscriber(workspace_id, subscriber_id)
    db.session.delete(sub)
    db.session.flush()


# Import -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)
    added_to_lists: int = 0  # list memberships added, for new and existing subscribers alike
    unchanged: int = 0  # of the skipped: known people the row would not change (the rest repeat a row)
    rejected: int = 0  # rows not imported at all: no usable address, attributes that cannot be stored

    def as_dict(self) -> dict:
        """What the API answers."""
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "added_to_lists": self.added_to_lists,
            "errors": self.errors,
        }

    def as_status(self) -> dict:
        """Everything, for an import's progress record."""
        return self.as_dict() | {"unchanged": self.unchanged, "rejected": self.rejected, "summary": self.summary()}

    def add(self, other: "ImportResult") -> None:
        """Count a chunk of the same import in."""
        for name in ("created", "updated", "skipped", "added_to_lists", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def summary(self) -> str:
        """One sentence for people: "Imported 1,200, skipped 3 (2 unchanged, 1 with problems)."."""
        repeated = self.skipped - self.unchanged
        parts = [
            f"{n:,} {what}"
            for n, what in (
                (self.unchanged, "unchanged"),
                (repeated, "repeated in the file"),
                (self.rejected, "with problems"),
            )
            if n
        ]
        skipped = self.skipped + self.rejected
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"Imported {self.created + self.updated:,}, skipped {skipped:,}{detail}."


def parse_csv(data: bytes | str, mapping: dict | list | None = None) -> list[dict]:
    """Rows of a CSV with a header row, read by `mapping` (column name -> target, or one target per
    column; see import_columns) or, without one, by the mapping Herald guesses."""
    table = import_columns.read_table(data)
    if mapping is None:
        columns = import_columns.guess_columns(table.header).columns
        if "email" not in columns:
            found = ", ".join(h[:40] for h in table.header[:10] if h) or "none"
            message = f"The header row has no 'email' column (found: {found})."
            hint = " Name the column of addresses email, or say which column holds them in a mapping."
            raise ValidationError(message, {"file": message + hint})
    else:
        columns = mapping if isinstance(mapping, list) else import_columns.columns_from_names(table.header, mapping)
    return import_columns.map_rows(table, import_columns.check_columns(table.header, columns))


def import_subscribers(workspace_id: int, rows: list, list_ids=None, first_row_number: int = 2) -> ImportResult:
    """Create or update subscribers in bulk; bad rows are reported by row number, the rest imported.

    Row numbers count like a spreadsheet: with a header, the first data row is row 2.
    Existing subscribers keep their status (an unsubscribed person stays unsubscribed); their
    name and timezone change only when the row gives one, attributes merge, tags add up.
    Set-based: one look-up, one batched insert and one batched update per thousand rows, whatever the size.
    """
    ids = _workspace_lists(workspace_id, list_ids)
    result = ImportResult()
    people = _valid_people(rows, first_row_number, result)
    known = _known_subscribers(workspace_id, list(people))
    now = datetime.now(timezone.utc)
    result.created = _insert_new(workspace_id, [p for e, p in people.items() if e not in known], now)
    result.updated = _update_known(people, known, now, result)
    if ids and people:
        result.added_to_lists = _add_to_lists(workspace_id, list(people), ids)
    db.session.flush()
    return result


def _valid_people(rows: list, first_row_number: int, result: ImportResult) -> dict[str, dict]:
    """The importable rows by address (the first of repeats); every other row becomes an error."""
    people: dict[str, dict] = {}
    seen_row: dict[str, int] = {}
    for number, row in enumerate(rows, first_row_number):
        if row is None:
            continue
        try:
            person = _clean_person(row)
        except ValidationError as exc:
            result.rejected += 1
            result.errors.append({"row": number, "error": exc.message})
            continue
        email = person["email"]
        if email in people:
            result.skipped += 1
            result.errors.append(
                {"row": number, "error": f"{email} already appears on row {seen_row[email]}; kept the first."}
            )
            continue
        if person.pop("bad_timezone", None):
            result.errors.append({"row": number, "error": _timezone_note(row.get("timezone"))})
        people[email] = person
        seen_row[email] = number
    return people


def _clean_person(row) -> dict:
    if not isinstance(row, dict):
        raise ValidationError("Each row must be an object with an email.")
    person = {
        "email": normalize_email(row.get("email")),
        "name": _clean_name(row.get("name")),
        "attributes": _clean_attributes(row.get("attributes")),
        "timezone": canonical_timezone(row.get("timezone")),
    }
    person["bad_timezone"] = bool(row.get("timezone")) and person["timezone"] is None
    return person


def _timezone_note(value) -> str:
    return (
        f"Imported without a timezone: '{str(value)[:60]}' is not a timezone name such as Europe/Berlin "
        "(send windows use the workspace's timezone for this person)."
    )


def canonical_timezone(value) -> str | None:
    """The IANA name `value` means, spelled as IANA spells it (`europe/berlin` -> `Europe/Berlin`), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if is_timezone(value) else _timezones_by_folded().get(value.casefold())


@lru_cache(maxsize=1)
def _timezones_by_folded() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


def _known_subscribers(workspace_id: int, emails: list[str]) -> dict[str, tuple]:
    """The workspace's subscribers among these addresses: email -> (id, attributes, name, timezone)."""
    known: dict[str, tuple] = {}
    for i in range(0, len(emails), 1000):
        for sid, email, attrs, name, tz in db.session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.attributes, Subscriber.name, Subscriber.timezone).where(
                Subscriber.workspace_id == workspace_id, Subscriber.email.in_(emails[i : i + 1000])
            )
        ):
            known[email] = (sid, attrs or {}, name, tz)
    return known


def _insert_new(workspace_id: int, people: list[dict], now: datetime) -> int:
    rows = [
        {**p, "workspace_id": workspace_id, "status": "active", "created_at": now, "updated_at": now} for p in people
    ]
    for i in range(0, len(rows), 1000):
        db.session.execute(insert(Subscriber), rows[i : i + 1000])
    return len(rows)


def _update_known(people: dict[str, dict], known: dict[str, tuple], now: datetime, result: ImportResult) -> int:
    """Bring known subscribers up to date in one statement; those the row would not change are skipped."""
    updates = []
    for email, (sid, attrs, name, tz) in known.items():
        new = people[email]
        merged = merge_attributes(attrs, new["attributes"])
        new_name, new_tz = new["name"] or name, new["timezone"] or tz
        if (merged, new_name, new_tz) != (attrs, name, tz):
            updates.append({"sid": sid, "name": new_name, "attributes": merged, "timezone": new_tz, "updated_at": now})
        else:
            result.skipped += 1
            result.unchanged += 1
    if updates:
        db.session.execute(
            # Core, not ORM: SQLAlchemy refuses an ORM bulk UPDATE whose rows are keyed by a bind parameter.
            update(_SUBSCRIBERS).where(_SUBSCRIBERS.c.id == db.bindparam("sid")),
            updates,
        )
    return len(updates)


def merge_attributes(current: dict, new: dict) -> dict:
    """Attributes after an import: the row's values win, and tags add to those the person had."""
    merged = {**current, **new}
    old_tags, new_tags = current.get("tags"), new.get("tags")
    if isinstance(old_tags, list) and isinstance(new_tags, list):
        merged["tags"] = list(dict.fromkeys([*old_tags, *new_tags]))
    return merged


def _add_to_lists(workspace_id: int, emails: list[str], list_ids: list[int]) -> int:
    """Put the addresses on the lists (those already there stay); returns how many memberships were added."""
    added = 0
    for i in range(0, len(emails), 1000):
        chunk = emails[i : i + 1000]
        for list_id in list_ids:
            already = select(ListSubscriber.subscriber_id).where(ListSubscriber.list_id == list_id)
            added += db.session.execute(
                insert(ListSubscriber).from_select(
                    ["list_id", "subscriber_id", "created_at"],
                    select(
                        db.literal(list_id),
                        Subscriber.id,
                        db.literal(datetime.now(timezone.utc), type_=ListSubscriber.created_at.type),
                    ).where(
                        Subscriber.workspace_id == workspace_id,
                        Subscriber.email.in_(chunk),
                        Subscriber.id.not_in(already),
                    ),
                ),
                execution_options={"preserve_rowcount": True},  # SQLAlchemy counts INSERT … SELECT only when asked
            ).rowcount
    return added


def add_to_list(workspace_id: int, list_id: int, subscriber_ids: list[int]) -> None:
    get_list(workspace_id, list_id)
    subscriber_ids = [i for i in (as_id(s) for s in subscriber_ids) if i]
    valid = list(
        db.session.scalars(
            select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.id.in_(subscriber_ids))
        )
    )
    present = set(
        db.session.scalars(
            select(ListSubscriber.subscriber_id).where(
                ListSubscriber.list_id == list_id, ListSubscriber.subscriber_id.in_(valid)
            )
        )
    )
    rows = [{"list_id": list_id, "subscriber_id": s} for s in valid if s not in present]
    if rows:
        db.session.execute(insert(ListSubscriber), rows)


def remove_from_list(workspace_id: int, list_id: int, subscriber_id: int) -> None:
    get_list(workspace_id, list_id)
    db.session.execute(
        delete(ListSubscriber).where(ListSubscriber.list_id == list_id, ListSubscriber.subscriber_id == subscriber_id)
    )


# Suppression and status ---------------------------------------------------------------------


def suppress_address(workspace_id: int, email: str, reason: str, detail: str | None = None) -> Suppression:
    """Add an address to the suppression list (idempotent); campaigns skip it with the reason.

    An upsert, so two workers suppressing the same address at once (a bounce webhook and a
    DSN, say) never collide on the unique key; the first reason recorded stays.
    """
    address = normalize_email(email)
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    db.session.execute(
        upsert(Suppression.__table__)
        .values(
            workspace_id=workspace_id,
            email=address,
            reason=reason,
            detail=(detail or None) and detail[:1000],
            created_at=datetime.now(timezone.utc),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "email"])
    )
    return db.session.scalar(
        select(Suppression).where(Suppression.workspace_id == workspace_id, Suppression.email == address)
    )


def unsuppress_address(workspace_id: int, suppression_id: int) -> None:
    sup = db.session.scalar(
        select(Suppression).where(Suppression.id == suppression_id, Suppression.workspace_id == workspace_id)
    )
    if sup is None:
        raise NotFound("No such suppression.")
    db.session.delete(sup)
    db.session.flush()


def unsubscribe(subscriber: Subscriber, detail: str | None = None) -> bool:
    """Unsubscribe a person at once; True when this changed their status."""
    changed = subscriber.status != "unsubscribed"
    if changed:
        subscriber.status = "unsubscribed"
        subscriber.unsubscribed_at = datetime.now(timezone.utc)
    suppress_address(subscriber.workspace_id, subscriber.email, "unsubscribed", detail)
    db.session.flush()
    return changed


def resubscribe(subscriber: Subscriber) -> None:
    """Undo an unsubscribe the person asked to undo (never a bounce or a complaint)."""
    if subscriber.status != "unsubscribed":
        return
    subscriber.status = "active"
    subscriber.unsubscribed_at = None
    db.session.execute(
        delete(Suppression).where(
            Suppression.workspace_id == subscriber.workspace_id,
            Suppression.email == subscriber.email,
            Suppression.reason == "unsubscribed",
        )
    )
    db.session.flush()


def update_subscriber(workspace_id: int, subscriber_id: int, name, attributes, list_ids) -> Subscriber:
    """Change a subscriber's name, attributes (replaced as given) and lists (set to exactly these)."""
    sub = get_subscriber(workspace_id, subscriber_id)
    ids = _workspace_lists(workspace_id, list_ids)
    sub.name = _clean_name(name)
    sub.attributes = _clean_attributes(attributes)
    current = set(subscriber_list_ids(sub.id))
    if current - set(ids):
        db.session.execute(
            delete(ListSubscriber).where(
                ListSubscriber.subscriber_id == sub.id, ListSubscriber.list_id.in_(current - set(ids))
            )
        )
    added = [{"list_id": i, "subscriber_id": sub.id} for i in ids if i not in current]
    if added:
        db.session.execute(insert(ListSubscriber), added)
    db.session.flush()
    return sub
