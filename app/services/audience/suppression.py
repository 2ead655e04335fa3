"""The suppression list a marketer manages: addresses and whole domains no campaign sends to, why,
and where each came from; and how people left (unsubscribes by source).

Entries are an address (`ann@example.com`), a domain (`@competitor.com`: every address there) or
an erased person's hash (`erased:<sha256>`, audience/privacy.py). Automatic entries (unsubscribes,
hard bounces, complaints) come through contacts.suppress_address with their source, or many at once
through suppress_addresses (the advisor's fixes); this module adds by hand, by API and by CSV import,
removes, searches and exports.

Role addresses (abuse@, postmaster@, noreply@…) are no entry: a workspace that turns
`suppress_role_addresses` on has campaigns skip every address whose local part is in
ROLE_LOCAL_PARTS (campaigns/recipients.py reads the constant).

Imports are set-based: rows are checked in Python, then inserted a thousand per statement with
ON CONFLICT DO NOTHING, so 20,000 rows cost about twenty statements and an address already on
the list is simply counted.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Select, func, literal, or_, select

from app.extensions import db
from app.models import Event, Subscriber, Suppression, Workspace
from app.models.audience import SUPPRESSION_SOURCES
from app.services.audience.contacts import normalize_email
from app.services.errors import NotFound, ValidationError
from app.services.events import reads
from app.services.events.insights import csv_cell
from app.services.platform import audit
from app.services.platform.workspaces import record_settings_change, settings_snapshot

# Local parts that name a role, not a person: mail there reaches whoever runs the domain (or no one),
# and a complaint from abuse@ or postmaster@ hurts a sender more than any other.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "donotreply",
        "do-not-reply",
        "hostmaster",
        "mailer-daemon",
        "no-reply",
        "noreply",
        "nobody",
        "postmaster",
        "root",
        "security",
        "webmaster",
    }
)
REASONS = ("manual", "unsubscribed", "bounced", "complained", "erased")
# What a person may choose when adding by hand, by API or by import ("erased" only comes from erasing).
MANUAL_REASONS = ("manual", "unsubscribed", "bounced", "complained")
ERASED_PREFIX = "erased:"
MAX_IMPORT_ROWS = 200_000
MAX_DETAIL = 1000
_CHUNK = 1000
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HEADER_WORDS = {"email", "e-mail", "email address", "e-mail address", "address", "mail", "emails"}
# The sources with no event in the event log: the workspace's report counts these from the list (the
# others from their events: unsubscribe links, one-click, a campaign's preference center, complaints,
# bounces), so nobody counts twice.
_REPORTED_FROM_LIST = ("dashboard", "api", "import")


# Entries ------------------------------------------------------------------------------------------


def normalize_entry(raw) -> str:
    """An address as Herald stores it, or a domain as `@example.com`; ValidationError otherwise.
    A leading apostrophe before @, =, + or - (how Herald's CSV export guards cells) is dropped."""
    value = raw.strip() if isinstance(raw, str) else ""
    if value[:1] == "'" and value[1:2] in ("@", "=", "+", "-"):
        value = value[1:]
    if value.startswith("@"):
        return "@" + _domain(value[1:])
    return normalize_email(value)


def _domain(raw: str) -> str:
    try:
        domain = raw.strip().rstrip(".").lower().encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValidationError(f"'@{raw[:80]}' is not a domain: write it as @example.com.")
    return domain


def is_role_address(email: str) -> bool:
    """True for abuse@, postmaster@, noreply@… (ROLE_LOCAL_PARTS), with or without a +tag."""
    local = (email or "").rpartition("@")[0].lower()
    return local.split("+", 1)[0] in ROLE_LOCAL_PARTS


def _clean_detail(detail) -> str | None:
    if detail is None:
        return None
    if not isinstance(detail, str):
        raise ValidationError("The note is a piece of text.", {"detail": "Not text."})
    # NUL cannot be stored by PostgreSQL; other control characters would only garble the page.
    text = "".join(c for c in detail if c >= " " or c in "\t\n").strip()
    if len(text) > MAX_DETAIL:
        raise ValidationError(f"Keep the note under {MAX_DETAIL} characters.", {"detail": "Too long."})
    return text or None


def _check_reason(reason) -> str:
    if reason not in MANUAL_REASONS:
        message = "Choose a reason: " + ", ".join(MANUAL_REASONS) + "."
        raise ValidationError(message, {"reason": message})
    return reason


def _check_source(source) -> str:
    if source not in SUPPRESSION_SOURCES:
        raise ValidationError(f"Unknown source '{str(source)[:40]}'.", {"source": "Unknown source."})
    return source


def _audit_detail(entry: str, **detail) -> dict:
    # A domain is no one's personal data; an address stays out of the log (it must not outlive an erasure).
    return {**detail, **({"domain": entry} if entry.startswith("@") else {})}


def get_suppression(workspace_id: int, suppression_id: int) -> Suppression:
    sup = db.session.scalar(
        select(Suppression).where(Suppression.id == suppression_id, Suppression.workspace_id == workspace_id)
    )
    if sup is None:
        raise NotFound("No such suppression.")
    return sup


def add_suppression(
    workspace_id: int, entry, reason: str = "manual", detail=None, source: str = "dashboard"
) -> tuple[Suppression, bool]:
    """Suppress an address or an `@domain`; (the entry, True) when new, (the one already there, False)
    otherwise (its reason stays). Audit-logged."""
    try:
        value = normalize_entry(entry)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"email": exc.message}) from None
    reason, source, detail = _check_reason(reason), _check_source(source), _clean_detail(detail)
    added = _insert(workspace_id, [_row(workspace_id, value, reason, detail, source)])
    sup = db.session.scalar(
        select(Suppression).where(Suppression.workspace_id == workspace_id, Suppression.email == value)
    )
    if added:
        audit.record(workspace_id, "suppression.add", "suppression", sup.id, _audit_detail(value, reason=reason))
    return sup, bool(added)


def remove_suppression(workspace_id: int, suppression_id: int) -> Suppression:
    """Take an entry off the list: campaigns may send there again (an unsubscribed subscriber stays
    unsubscribed). Removing an erased person's entry lets the address be added again. Audit-logged."""
    sup = get_suppression(workspace_id, suppression_id)
    detail = _audit_detail(sup.email, reason=sup.reason, source=sup.source)
    db.session.delete(sup)
    db.session.flush()
    audit.record(workspace_id, "suppression.remove", "suppression", suppression_id, detail)
    return sup


def search_suppressions(workspace_id: int, q: str | None = None, reason: str | None = None, source: str | None = None):
    """A select of the workspace's entries, newest first: `q` in the address (or exactly it, or its
    domain's entry), by reason and source."""
    stmt = select(Suppression).where(Suppression.workspace_id == workspace_id)
    q = (q or "").strip().lower()[:320]
    if q:
        stmt = stmt.where(Suppression.email.contains(q, autoescape=True))
    if reason:
        stmt = stmt.where(Suppression.reason == reason)
    if source:
        stmt = stmt.where(Suppression.source == source)
    return stmt.order_by(Suppression.id.desc())


def set_role_address_policy(workspace: Workspace, enabled: bool) -> None:
    """Skip (or stop skipping) role addresses in every campaign of the workspace; audit-logged as a setting."""
    before = settings_snapshot(workspace)
    workspace.suppress_role_addresses = bool(enabled)
    db.session.flush()
    record_settings_change(workspace, before)


# Bulk: import and export -------------------------------------------------------------------------


@dataclass
class SuppressionImport:
    rows: int = 0  # data rows read (blank ones not counted)
    added: int = 0
    already: int = 0  # on the list before, or repeated in the file
    errors: list = field(default_factory=list)  # [{row, error}], spreadsheet row numbers

    def summary(self) -> str:
        parts = [f"Suppressed {self.added:,} new {'entry' if self.added == 1 else 'entries'}"]
        if self.already:
            parts.append(f"{self.already:,} already on the list")
        if self.errors:
            parts.append(f"{len(self.errors):,} {'row' if len(self.errors) == 1 else 'rows'} with problems")
        return ", ".join(parts) + "."


def import_suppressions(workspace_id: int, data: bytes, reason: str = "manual", detail=None) -> SuppressionImport:
    """Suppress every address or @domain of a CSV (one a row, header optional: the column named email,
    else the first). Bad rows are reported by number and the rest imported; set-based. Audit-logged."""
    reason, detail = _check_reason(reason), _clean_detail(detail)
    table = _read_csv(data)
    column, start = _entry_column(table[0]) if table else (0, 0)
    result, entries = SuppressionImport(), {}
    for number, cells in enumerate(table[start:], start + 1):
        raw = cells[column].strip() if column < len(cells) else ""
        if not raw and not any(c.strip() for c in cells):
            continue
        result.rows += 1
        try:
            if raw.startswith(ERASED_PREFIX):
                raise ValidationError("an erased person's entry stays as it is; it cannot be imported.")
            value = normalize_entry(raw)
        except ValidationError as exc:
            result.errors.append({"row": number, "error": exc.message if raw else "No address in this row."})
            continue
        entries.setdefault(value, number)
    now = datetime.now(timezone.utc)
    rows = [_row(workspace_id, value, reason, detail, "import", now) for value in entries]
    result.added = _insert(workspace_id, rows)
    result.already = result.rows - len(result.errors) - result.added
    audit.record(workspace_id, "suppression.import", "suppression", None,
                 {"reason": reason, "added": result.added, "already": result.already,
                  "errors": len(result.errors)})  # fmt: skip
    return result


def _read_csv(data: bytes) -> list[list[str]]:
    if b"\x00" in data:
        message = "That file is not a CSV (it holds binary data)."
        raise ValidationError(message, {"file": message})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older spreadsheets; addresses are ASCII anyway
    first_line = text[:4096].partition("\n")[0]
    # The separator the header (or first row) uses most; a list of bare addresses has none.
    delimiter = max(",;\t", key=first_line.count)
    try:
        table = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        message = f"The file could not be read as CSV: {exc}."
        raise ValidationError(message, {"file": message}) from None
    if len(table) > MAX_IMPORT_ROWS + 1:
        message = f"The file has {len(table):,} rows; import at most {MAX_IMPORT_ROWS:,} at a time."
        raise ValidationError(message, {"file": message})
    return table


def _entry_column(header: list[str]) -> tuple[int, int]:
    """(the column holding the entries, the index of the first data row): a first row naming an
    email column is a header; otherwise the first column, from the first row."""
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    for i, name in enumerate(names):
        if name in _HEADER_WORDS:
            return i, 1
    return 0, 0


def export_rows(workspace_id: int, q=None, reason=None, source=None):
    """The entries as CSV rows (a header first), every cell safe from spreadsheet formulas; the export
    is audit-logged now, the rows are read as they are written."""
    filters = {"reason": reason, "source": source, "searched": bool(q)}  # the search may be an address: not kept
    audit.record(workspace_id, "suppression.export", "suppression", None, {k: v for k, v in filters.items() if v})
    return _export_rows(workspace_id, q, reason, source)


def _export_rows(workspace_id: int, q, reason, source):
    yield ["email", "reason", "source", "detail", "created_at"]
    stmt = search_suppressions(workspace_id, q, reason, source).execution_options(yield_per=_CHUNK)
    for s in db.session.scalars(stmt):
        yield [csv_cell(s.email), s.reason, s.source or "", csv_cell(s.detail or ""), s.created_at.isoformat()]


def suppress_addresses(
    workspace_id: int, addresses: Select, reason: str, detail: str | None = None, source: str | None = None
) -> int:
    """Suppress every address a one-column select yields, as contacts.suppress_address does one (the same
    reason, note and source; an address already on the list keeps its first), in one INSERT … SELECT:
    how many were new. The addresses go in as they are, so they must be in the form Herald stores (a
    subscriber's, a recipient's)."""
    table = Suppression.__table__
    email = addresses.subquery().c[0]
    row = {
        "workspace_id": literal(workspace_id, table.c.workspace_id.type),
        "email": email,
        "reason": literal(reason, table.c.reason.type),
        "detail": literal((detail or None) and detail[:1000], table.c.detail.type),
        "source": literal(source, table.c.source.type),
        "created_at": literal(datetime.now(timezone.utc), table.c.created_at.type),
    }
    # The WHERE settles how SQLite reads `INSERT … SELECT … ON CONFLICT` (its ON could start a join).
    rows = select(*row.values()).where(email.is_not(None)).distinct()
    stmt = _upsert(table).from_select(list(row), rows)
    stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "email"])
    return db.session.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount


def _upsert(table):
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _row(workspace_id, email, reason, detail, source, now=None) -> dict:
    return {"workspace_id": workspace_id, "email": email, "reason": reason, "detail": detail, "source": source,
            "created_at": now or datetime.now(timezone.utc)}  # fmt: skip


def _insert(workspace_id: int, rows: list[dict]) -> int:
    """Insert the rows a thousand per statement, skipping entries already there; how many were new."""
    added = 0
    for i in range(0, len(rows), _CHUNK):
        stmt = _upsert(Suppression.__table__).values(rows[i : i + _CHUNK])
        stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "email"])
        # SQLAlchemy counts an INSERT's rows only when asked; the conflicts are not counted.
        added += db.session.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount
    return added


# How people left ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCount:
    source: str
    count: int


def unsubscribe_sources(
    workspace_id: int, campaign_id: int | None = None, start: datetime | None = None, end: datetime | None = None
) -> list[SourceCount]:
    """How many people left, by source, in SUPPRESSION_SOURCES order (sources with none left out); an
    insights read (the replica's, where one is configured).

    A campaign's: its unsubscribe events by the source they recorded, its complaints and its hard
    bounces. The workspace's over [start, end): the same events of every campaign and message, plus
    the entries no event records, made in that time: by hand, by API, by import, and unsubscribes in
    the preference center outside any campaign (its /p/ door)."""
    counts: dict[str, int] = {}
    for source, n in _event_counts(workspace_id, campaign_id, start, end):
        counts[source] = counts.get(source, 0) + n
    if campaign_id is None:
        for source, n in _entry_counts(workspace_id, start, end):
            counts[source] = counts.get(source, 0) + n
    order = {s: i for i, s in enumerate(SUPPRESSION_SOURCES)}
    return [SourceCount(s, n) for s, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99)) if n]


def _entry_counts(workspace_id, start, end) -> list[tuple[str, int]]:
    s = Suppression
    # A preference-center entry whose person has an unsubscribe event in the range came through a
    # campaign's door and is counted with the events already.
    with_event = _within(
        select(Subscriber.id)
        .join(Event, Event.subscriber_id == Subscriber.id)
        .where(Subscriber.workspace_id == workspace_id, Subscriber.email == s.email,
               Event.workspace_id == workspace_id, Event.event_type == "unsubscribe"),
        Event.occurred_at, start, end,
    )  # fmt: skip
    alone = or_(s.source.in_(_REPORTED_FROM_LIST), (s.source == "preference center") & ~with_event.exists())
    stmt = _within(
        select(s.source, func.count()).where(s.workspace_id == workspace_id, alone), s.created_at, start, end
    )
    return list(reads.session().execute(stmt.group_by(s.source)))


def _event_counts(workspace_id, campaign_id, start, end) -> list[tuple[str, int]]:
    source = Event.data["source"].as_string()
    bounce_type = Event.data["bounce_type"].as_string()
    stmt = select(Event.event_type, source, func.count()).where(
        Event.workspace_id == workspace_id,
        or_(
            Event.event_type.in_(("unsubscribe", "complaint")),
            (Event.event_type == "bounce") & (bounce_type == "hard"),
        ),
    )
    if campaign_id is not None:
        stmt = stmt.where(Event.campaign_id == campaign_id)
    stmt = _within(stmt, Event.occurred_at, start, end).group_by(Event.event_type, source)
    return [(_event_source(kind, recorded), n) for kind, recorded, n in reads.session().execute(stmt)]


def _event_source(kind: str, recorded: str | None) -> str:
    if kind == "complaint":
        return "complaint"
    if kind == "bounce":
        return "bounce"
    if recorded in SUPPRESSION_SOURCES:
        return recorded
    # Before sources were words of SUPPRESSION_SOURCES the page said "unsubscribe page"; a provider's
    # unsubscribe event has none (its link or header: it does not say which).
    return "link"


def _within(stmt, column, start, end):
    if start is not None:
        stmt = stmt.where(column >= start)
    if end is not None:
        stmt = stmt.where(column < end)
    return stmt
