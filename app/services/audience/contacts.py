"""Subscribers, lists, imports and the suppression list."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ListSubscriber, MailingList, Subscriber, SubscriberTag, Suppression
from app.services.audience import import_columns, import_sms, tags
from app.services.audience.consent import consent_record
from app.services.audience.subscriber_fields import (  # noqa: F401  (normalize_email, address_hash: used by callers)
    ERASED_ON_REQUEST,
    address_hash,
    canonical_timezone,
    clean_attributes,
    clean_name,
    erased_addresses,
    normalize_email,
    timezone_note,
    workspace_lists,
)
from app.services.errors import Conflict, NotFound, ValidationError
from app.services.ids import as_id, is_timezone
from app.services.platform import audit
from app.services.sms import settings as sms_settings

_SUBSCRIBERS = Subscriber.__table__


# Lists --------------------------------------------------------------------------------------


def _list_name(name) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the list a name.", {"name": "Required."})
    if len(name) > 200:
        raise ValidationError("Keep the list name under 200 characters.", {"name": "Too long."})
    return name


def create_list(
    workspace_id: int, name: str, description: str | None = None, double_opt_in: bool = False
) -> MailingList:
    """A new list; with `double_opt_in`, people who join it by form, API or dashboard confirm by email first."""
    lst = MailingList(
        workspace_id=workspace_id,
        name=_list_name(name),
        description=(description or "").strip()[:1000] or None,
        double_opt_in=bool(double_opt_in),
    )
    db.session.add(lst)
    db.session.flush()
    return lst


def update_list(workspace_id: int, list_id: int, changes: dict) -> MailingList:
    """Change a list's name, description or double opt-in (only the keys given)."""
    lst = get_list(workspace_id, list_id)
    if "name" in changes:
        lst.name = _list_name(changes["name"])
    if "description" in changes:
        lst.description = (changes["description"] or "").strip()[:1000] or None
    if "double_opt_in" in changes:
        lst.double_opt_in = bool(changes["double_opt_in"])
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
    """Delete a list (its subscribers stay; audit-logged)."""
    lst = get_list(workspace_id, list_id)
    lst_id, detail = lst.id, {"name": lst.name}
    db.session.delete(lst)
    db.session.flush()
    audit.record(workspace_id, "list.delete", "list", lst_id, detail)


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
    workspace_id: int,
    email: str,
    name=None,
    attributes=None,
    list_ids=None,
    timezone_name: str | None = None,
    *,
    source: str = "dashboard",
    consent: dict | None = None,
    status: str = "active",
    texts: dict | None = None,
) -> Subscriber:
    """Add one subscriber; Conflict when the address is already in the workspace.

    `source` and `consent` record where they came from and how they agreed (audience/consent.py
    decides both, and `pending` for a double opt-in list, for the dashboard, the API and forms);
    `texts`: their phone, sms_status and sms_consent, already checked (subscriber_changes.new_texts)."""
    try:
        address = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"email": exc.message}) from None
    attributes = clean_attributes(attributes)
    ids = workspace_lists(workspace_id, list_ids)
    if timezone_name and not is_timezone(timezone_name):
        raise ValidationError(f"'{str(timezone_name)[:60]}' is not a timezone.", {"timezone": "Unknown timezone."})
    existing = db.session.scalar(
        select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.email == address)
    )
    if existing:
        raise Conflict(f"{address} is already a subscriber.", {"email": "Already subscribed.", "id": existing})
    if erased_addresses(workspace_id, [address]):
        raise Conflict(f"{address} {ERASED_ON_REQUEST}: it cannot be added again.", {"email": "Erased on request."})
    sub = Subscriber(
        workspace_id=workspace_id,
        email=address,
        name=clean_name(name),
        attributes=attributes,
        timezone=timezone_name or None,
        status=status,
        source=source,
        consent=consent or consent_record(source),
        **(texts or {}),
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
    tag: str | None = None,
):
    """A select of the workspace's subscribers matching the filters (`tag`: as stored), newest first."""
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
    if tag:
        stmt = stmt.where(Subscriber.id.in_(select(SubscriberTag.subscriber_id).where(SubscriberTag.tag == tag)))
    return stmt.order_by(Subscriber.id.desc())


def delete_subscriber(workspace_id: int, subscriber_id: int) -> None:
    """Delete a subscriber and their history (audit-logged, without the address)."""
    sub = get_subscriber(workspace_id, subscriber_id)
    db.session.delete(sub)
    db.session.flush()
    audit.record(workspace_id, "subscriber.delete", "subscriber", subscriber_id)


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
    name, timezone and phone change only when the row gives one, attributes merge, tags add up.
    Consent to texts follows import_sms.settle.
    Set-based: one look-up, one batched insert and one batched update per thousand rows, whatever the size.
    """
    ids = workspace_lists(workspace_id, list_ids)
    result = ImportResult()
    people = _valid_people(rows, first_row_number, result, sms_settings.settings_of(workspace_id).default_region)
    _skip_erased(workspace_id, people, rows, first_row_number, result)
    known = _known_subscribers(workspace_id, list(people))
    now = datetime.now(timezone.utc)
    texts = _texts(workspace_id, people, known, now, result)
    new_tags = tags.new_tags_of(people, known)
    result.created = _insert_new(workspace_id, [p for e, p in people.items() if e not in known], now, texts)
    result.updated = _update_known(people, known, now, result, texts, tagged=new_tags)
    tags.store_imported_tags(workspace_id, people, known, new_tags)
    if ids and people:
        result.added_to_lists = _add_to_lists(workspace_id, list(people), ids)
    result.errors.sort(key=lambda e: e["row"])
    db.session.flush()
    return result


def _skip_erased(workspace_id: int, people: dict, rows: list, first_row_number: int, result: ImportResult) -> None:
    """People erased on request stay out: their rows are reported by number, never imported."""
    erased = erased_addresses(workspace_id, list(people))
    if not erased:
        return
    for number, row in enumerate(rows, first_row_number):
        try:
            email = normalize_email(row.get("email")) if isinstance(row, dict) else None
        except ValidationError:
            continue
        if email in erased and people.pop(email, None) is not None:
            result.rejected += 1
            result.errors.append({"row": number, "error": f"Not imported: this address {ERASED_ON_REQUEST}."})
    result.errors.sort(key=lambda e: e["row"])


def _valid_people(rows: list, first_row_number: int, result: ImportResult, region: str) -> dict[str, dict]:
    """The importable rows by address (the first of repeats); every other row becomes an error.
    `region`: the country a phone number without its country code is read as."""
    people: dict[str, dict] = {}
    seen_row: dict[str, int] = {}
    for number, row in enumerate(rows, first_row_number):
        if row is None:
            continue
        try:
            person = _clean_person(row, region)
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
            result.errors.append({"row": number, "error": timezone_note(row.get("timezone"))})
        for problem in person.pop("tag_problems", ()):
            result.errors.append({"row": number, "error": f"Imported without a tag: {problem}"})
        for problem in person.pop("sms_problems", ()):
            result.errors.append({"row": number, "error": problem})
        person["row"] = number
        people[email] = person
        seen_row[email] = number
    return people


def _clean_person(row, region: str) -> dict:
    if not isinstance(row, dict):
        raise ValidationError("Each row must be an object with an email.")
    phone, agreed, problems = import_sms.read_texts(row, region)
    person = {
        "email": normalize_email(row.get("email")),
        "name": clean_name(row.get("name")),
        "attributes": clean_attributes(row.get("attributes")),
        "timezone": canonical_timezone(row.get("timezone")),
    }
    person["bad_timezone"] = bool(row.get("timezone")) and person["timezone"] is None
    person["tags"], person["tag_problems"] = tags.clean_tags_leniently(row.get("tags"))
    person["phone"], person["sms_agreed"], person["sms_problems"] = phone, agreed, problems
    return person


_KNOWN_COLUMNS = (Subscriber.id, Subscriber.email, Subscriber.attributes, Subscriber.name, Subscriber.timezone,
                  Subscriber.phone, Subscriber.sms_status, Subscriber.sms_consent)  # fmt: skip
_PERSON_COLUMNS = ("email", "name", "attributes", "timezone")


def _known_subscribers(workspace_id: int, emails: list[str]) -> dict[str, tuple]:
    """The workspace's subscribers among these addresses:
    email -> (id, attributes, name, timezone, phone, sms_status, sms_consent)."""
    known: dict[str, tuple] = {}
    for i in range(0, len(emails), 1000):
        for sid, email, attrs, name, tz, *texts in db.session.execute(
            select(*_KNOWN_COLUMNS).where(
                Subscriber.workspace_id == workspace_id, Subscriber.email.in_(emails[i : i + 1000])
            )
        ):
            known[email] = (sid, attrs or {}, name, tz, *texts)
    return known


def _texts(workspace_id: int, people: dict, known: dict, now: datetime, result: ImportResult) -> dict[str, dict]:
    """Each person's phone, sms_status and sms_consent after the import (import_sms.settle); a row whose
    yes to texts could not count is noted."""
    numbers = [p["phone"] for p in people.values()] + [k[4] for e, k in known.items() if people[e]["sms_agreed"]]
    opted = import_sms.opted_out_numbers(workspace_id, numbers)
    consent = import_sms.import_consent(now)
    texts = {}
    for email, p in people.items():
        current = tuple(known[email][4:]) if email in known else import_sms.NO_TEXTS
        texts[email], note = import_sms.settle(p["phone"], p["sms_agreed"], current, opted, consent)
        if note:
            result.errors.append({"row": p["row"], "error": note})
    return texts


def _insert_new(workspace_id: int, people: list[dict], now: datetime, texts: dict[str, dict]) -> int:
    # Imported people are taken as already consented (the marketer vouches for the list): active, no email.
    consent = consent_record("import", at=now)
    fixed = {"workspace_id": workspace_id, "status": "active", "source": "import", "consent": consent}
    rows = [
        {**{k: p[k] for k in _PERSON_COLUMNS}, **texts[p["email"]], **fixed, "created_at": now, "updated_at": now}
        for p in people
    ]
    for i in range(0, len(rows), 1000):
        db.session.execute(insert(Subscriber), rows[i : i + 1000])
    return len(rows)


def _update_known(
    people: dict[str, dict], known: dict[str, tuple], now: datetime, result: ImportResult, texts: dict, tagged=()
) -> int:
    """Bring known subscribers up to date in one statement; those the row would not change (`tagged`: the
    addresses it gives a new tag; `texts`: their phone and consent to texts, from _texts) are skipped."""
    updates = []
    for email, (sid, attrs, name, tz, *current) in known.items():
        new = people[email]
        merged = merge_attributes(attrs, new["attributes"])
        new_name, new_tz = new["name"] or name, new["timezone"] or tz
        sms = texts[email]
        if (merged, new_name, new_tz, sms["phone"], sms["sms_status"], sms["sms_consent"]) != (
            attrs, name, tz, *current
        ) or email in tagged:  # fmt: skip
            updates.append({"sid": sid, "name": new_name, "attributes": merged, "timezone": new_tz, **sms,
                            "updated_at": now})  # fmt: skip
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


def suppress_address(
    workspace_id: int, email: str, reason: str, detail: str | None = None, source: str | None = None
) -> Suppression:
    """Add an address to the suppression list (idempotent); campaigns skip it with the reason.
    `source` says where it came from (SUPPRESSION_SOURCES: link, one-click, complaint, bounce, ...).

    An upsert, so two workers suppressing the same address at once (a bounce webhook and a
    DSN, say) never collide on the unique key; the first reason and source recorded stay.
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
            source=source,
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


def unsubscribe(subscriber: Subscriber, detail: str | None = None, source: str | None = None) -> bool:
    """Unsubscribe a person at once; True when this changed their status. `source`: SUPPRESSION_SOURCES."""
    changed = subscriber.status != "unsubscribed"
    if changed:
        subscriber.status = "unsubscribed"
        subscriber.unsubscribed_at = datetime.now(timezone.utc)
    suppress_address(subscriber.workspace_id, subscriber.email, "unsubscribed", detail, source)
    db.session.flush()
    return changed


def resubscribe(subscriber: Subscriber) -> None:
    """Undo an unsubscribe the person asked to undo (never a bounce, a complaint or an erasure)."""
    if subscriber.status != "unsubscribed" or subscriber.erased_at is not None:
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
