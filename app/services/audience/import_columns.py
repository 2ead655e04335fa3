"""What each column of an imported CSV becomes: reading the file, guessing a mapping, checking one.

A mapping is one target per column, in the header's order:

    email, name, first_name, last_name, timezone, tags, phone, sms_consent, attributes, ignore,
    or attribute:<name>

`first_name` and `last_name` make the name ("First Last") when no column holds the whole name,
and are kept as the attributes first_name and last_name too. `tags` reads Mailchimp's
`"vip","newsletter"` (or a plain `vip, newsletter` or `vip; newsletter`) into the person's tags
(audience/tags.py: normalised, added to those they had).
`attributes` merges a JSON object (listmonk's export) into the attributes; `timezone` is
checked by the import, which leaves a name that is not an IANA timezone out and says so; so is
`phone` (a number the workspace's default country cannot read is left out and reported), and
`sms_consent` says yes or no to texts (audience/import_sms.py).

`guess_columns` recognises the exports of Mailchimp, listmonk, Mautic, Klaviyo and Brevo
(SOURCES, a table) and the usual spellings of the columns (KNOWN_COLUMNS); what it does not
know becomes an attribute named after the column. `check_columns` is what a mapping a person
or an API client chose must pass; every problem is a sentence naming the column.
"""

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass

from app.services.errors import ValidationError

TARGETS = (
    "email", "name", "first_name", "last_name", "timezone", "tags", "phone", "sms_consent", "attributes", "attribute",
    "ignore",
)  # fmt: skip
TARGET_LABELS = {
    "email": "Email address",
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "timezone": "Timezone",
    "tags": "Tags",
    "phone": "Phone number",
    "sms_consent": "Agreed to texts (yes/no)",
    "attributes": "Attributes (a JSON object)",
    "attribute": "Attribute named…",
    "ignore": "Ignore",
}
# The person-level targets each column may fill once; first and last names also write these attributes.
SINGLE_TARGETS = ("email", "name", "first_name", "last_name", "timezone", "tags", "phone", "sms_consent", "attributes")
ATTRIBUTE_OF_TARGET = {"first_name": "first_name", "last_name": "last_name"}
ATTRIBUTE_PREFIX = "attribute:"
MAX_ATTRIBUTE_NAME = 100

# Column names as other tools write them, compared without case, accents or punctuation.
KNOWN_COLUMNS = {
    "email": "email",
    "email address": "email",
    "emailaddress": "email",
    "e mail": "email",
    "e mail address": "email",
    "mail": "email",
    "courriel": "email",
    "name": "name",
    "full name": "name",
    "fullname": "name",
    "first name": "first_name",
    "firstname": "first_name",
    "fname": "first_name",
    "given name": "first_name",
    "prenom": "first_name",
    "vorname": "first_name",
    "last name": "last_name",
    "lastname": "last_name",
    "lname": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "nom": "last_name",  # Brevo's French accounts: NOM and PRENOM
    "nachname": "last_name",
    "timezone": "timezone",
    "time zone": "timezone",
    "tz": "timezone",
    "tags": "tags",
    "attributes": "attributes",
    "phone": "phone",
    "phone number": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "mobile phone": "phone",
    "mobile number": "phone",
    "cell": "phone",
    "cell phone": "phone",
    "cellphone": "phone",
    "sms": "phone",  # Brevo's column of mobile numbers
    "sms number": "phone",
    "telephone": "phone",
    "sms consent": "sms_consent",
    "sms opt in": "sms_consent",
    "sms optin": "sms_consent",
    "sms subscribed": "sms_consent",
    "sms marketing": "sms_consent",
    "accepts sms": "sms_consent",
    "accepts sms marketing": "sms_consent",  # Shopify's customer export
}


@dataclass(frozen=True)
class Source:
    """A tool whose export Herald recognises by the columns only it writes (exact spelling)."""

    name: str
    required: frozenset
    markers: frozenset
    min_markers: int = 1
    ignore: frozenset = frozenset()  # the tool's own bookkeeping, worth nothing elsewhere

    def matches(self, header: set[str]) -> bool:
        return self.required <= header and len(self.markers & header) >= self.min_markers


SOURCES = (
    Source(
        "Mailchimp",
        frozenset({"Email Address"}),
        frozenset({"MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "LEID", "EUID", "LAST_CHANGED"}),
        ignore=frozenset({"LEID", "EUID", "GMTOFF", "DSTOFF", "LAST_CHANGED"}),
    ),
    Source(
        "listmonk",
        frozenset({"email", "attributes"}),
        frozenset({"uuid", "name", "status"}),
        ignore=frozenset({"uuid", "created_at", "updated_at"}),
    ),
    Source(
        "Brevo",
        frozenset({"EMAIL"}),
        frozenset({"FIRSTNAME", "LASTNAME", "SMS", "NOM", "PRENOM", "PRÉNOM"}),
    ),
    Source(
        "Mautic",
        frozenset({"email"}),
        frozenset({"firstname", "lastname", "points", "stage", "owner", "last_active"}),
        ignore=frozenset({"id"}),
    ),
    Source(
        "Klaviyo",
        frozenset({"Email"}),
        frozenset(
            {"First Name", "Last Name", "Phone Number", "Timezone", "Organization", "Zip Code", "Klaviyo ID"}
            | {"Date Added", "Initial Source", "Last Open", "Last Click", "Source"}
        ),
        min_markers=2,
        ignore=frozenset({"Klaviyo ID"}),
    ),
)


@dataclass
class Table:
    """A CSV read into its header and rows of cells (None where a line is blank, keeping row numbers)."""

    header: list[str]
    rows: list


@dataclass(frozen=True)
class Guess:
    """The mapping Herald proposes for a header, and the tool whose export it looks like (or None)."""

    source: str | None
    columns: list[str]


# Reading ----------------------------------------------------------------------------------------


def decode(data: bytes | str) -> str:
    """The text of an upload: UTF-8 (with or without a BOM), else Latin-1; NULs dropped."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            data = data.decode("latin-1")
    return data.lstrip("\ufeff").replace("\x00", "")


def read_table(data: bytes | str, limit_rows: int | None = None) -> Table:
    """The CSV's header and rows; comma, semicolon (European Excel) or tab, found by sniffing."""
    text = decode(data)
    if not text.strip():
        raise ValidationError("The file is empty.", {"file": "Empty file."})
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise ValidationError("The file has no header row.", {"file": "No header."}) from None
    check_header(header)
    rows: list = []
    try:
        for values in reader:
            rows.append(values if any(v.strip() for v in values) else None)
            if limit_rows is not None and len(rows) >= limit_rows:
                break
    except csv.Error as exc:
        raise ValidationError(
            f"The file is not valid CSV near row {len(rows) + 2}: {exc}", {"file": "Bad CSV."}
        ) from None
    return Table(header, rows)


def check_header(header: list[str]) -> None:
    """Refuse a header that names a column twice: a mapping could not tell the two apart."""
    seen: set[str] = set()
    for name in header:
        key = name.casefold()
        if key and key in seen:
            message = f"The header row names a column twice: '{name[:40]}'. Rename one of them."
            raise ValidationError(message, {"file": "Duplicate column."})
        seen.add(key)


def samples(table: Table, count: int = 3) -> list[str]:
    """Per column, its first few non-empty values joined for a preview."""
    found: list[list[str]] = [[] for _ in table.header]
    for values in table.rows:
        for i, value in enumerate((values or [])[: len(found)]):
            if value.strip() and len(found[i]) < count:
                found[i].append(value.strip()[:60])
    return [", ".join(v) for v in found]


# Guessing ---------------------------------------------------------------------------------------


def plain(header: str) -> str:
    """A column name without case, accents or punctuation: `E-Mail Address` -> `e mail address`."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", header) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", stripped.casefold()).split())


def attribute_name(header: str) -> str:
    """A header as an attribute name templates can use: `First Name` -> `first_name`."""
    name = header.strip().lower()
    return re.sub(r"\W+", "_", name).strip("_")[:MAX_ATTRIBUTE_NAME] or name[:MAX_ATTRIBUTE_NAME]


def detect_source(header: list[str]) -> Source | None:
    """The tool whose export this header looks like, if any."""
    names = set(header)
    return next((s for s in SOURCES if s.matches(names)), None)


def guess_columns(header: list[str]) -> Guess:
    """A target for every column: known names first, the tool's own bookkeeping ignored, the rest attributes."""
    source = detect_source(header)
    taken: set[str] = set()
    columns = []
    for name in header:
        target = _guess_one(name, source)
        if target in taken:  # a second "Name"-like column keeps its data as an attribute
            target = ATTRIBUTE_PREFIX + attribute_name(name)
        if target in taken:
            target = "ignore"
        if target != "ignore":
            taken.add(target)
            taken.update(_attribute_names(target))
        columns.append(target)
    return Guess(source.name if source else None, columns)


def _guess_one(name: str, source: Source | None) -> str:
    if not name or (source and name in source.ignore):
        return "ignore"
    return KNOWN_COLUMNS.get(plain(name)) or ATTRIBUTE_PREFIX + attribute_name(name)


def _attribute_names(target: str) -> set[str]:
    if target.startswith(ATTRIBUTE_PREFIX):
        return {target}
    return {ATTRIBUTE_PREFIX + ATTRIBUTE_OF_TARGET[target]} if target in ATTRIBUTE_OF_TARGET else set()


# Checking ---------------------------------------------------------------------------------------


def columns_from_names(header: list[str], mapping) -> list[str]:
    """An API mapping ({column name: target}) as one target per column; columns left out are ignored."""
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        message = 'Give the mapping as an object of column names and targets, e.g. {"E-Mail": "email"}.'
        raise ValidationError(f"mapping: {message}", {"mapping": message})
    index = {name: i for i, name in enumerate(header)}
    unknown = [name for name in mapping if name not in index]
    if unknown:
        found = ", ".join(h[:40] for h in header[:30] if h)
        message = f"The file has no column '{str(unknown[0])[:60]}' (its columns: {found})."
        raise ValidationError(f"mapping: {message}", {f"mapping.{unknown[0]}": message})
    columns = ["ignore"] * len(header)
    for name, target in mapping.items():
        target = target.strip()
        columns[index[name]] = ATTRIBUTE_PREFIX + attribute_name(name) if target == "attribute" else target
    return columns


def check_columns(header: list[str], columns: list[str]) -> list[str]:
    """The mapping when it can be used: one email column, each target once, attribute names that work."""
    if len(columns) != len(header):
        raise ValidationError("The mapping must give one target per column.", {"mapping": "Wrong length."})
    problems: dict[str, str] = {}
    owner: dict[str, int] = {}
    for i, target in enumerate(columns):
        problem = _target_problem(target) or _duplicate_problem(header, columns, owner, i)
        if problem:
            problems.setdefault(f"mapping.{header[i]}", problem)
    if "email" not in columns:
        problems["mapping"] = "Choose the column that holds the email addresses."
    if problems:
        first = next(iter(problems.values()))
        raise ValidationError(first if len(problems) == 1 else f"{first} (and {len(problems) - 1} more)", problems)
    return columns


def _target_problem(target: str) -> str | None:
    if target.startswith(ATTRIBUTE_PREFIX):
        name = target[len(ATTRIBUTE_PREFIX) :].strip()
        if not name or len(name) > MAX_ATTRIBUTE_NAME:
            return f"Give the attribute a name of 1 to {MAX_ATTRIBUTE_NAME} characters."
        return None
    if target in TARGETS and target != "attribute":
        return None
    return (
        f"'{target[:40]}' is not something a column can become: use email, name, first_name, last_name, "
        "timezone, tags, phone, sms_consent, attributes, attribute:<name> or ignore."
    )


def _duplicate_problem(header: list[str], columns: list[str], owner: dict[str, int], i: int) -> str | None:
    target = columns[i]
    if target == "ignore":
        return None
    for key in [target, *sorted(_attribute_names(target) - {target})]:
        if key in owner:
            what = TARGET_LABELS[key].lower() if key in TARGET_LABELS else f"attribute {key[len(ATTRIBUTE_PREFIX) :]}"
            first = header[owner[key]][:40] or f"column {owner[key] + 1}"
            return (
                f"The columns '{first}' and '{header[i][:40] or f'column {i + 1}'}' would both become "
                f"the {what}: keep one, and ignore the other or make it another attribute."
            )
        owner[key] = i
    return None


# Mapping rows -----------------------------------------------------------------------------------


def parse_tags(value: str) -> list[str]:
    """Mailchimp's `"vip","newsletter"` or a plain `vip, newsletter` as a list, quotes and repeats gone."""
    value = value.strip()
    if not value:
        return []
    delimiter = ";" if ";" in value and "," not in value else ","
    cells = next(csv.reader([value], delimiter=delimiter, skipinitialspace=True), [])
    tags = (" ".join(c.strip().strip('"').split()) for c in cells)
    return list(dict.fromkeys(t[:100] for t in tags if t))


@dataclass(frozen=True)
class RowPlan:
    """Where each part of a person sits in a row of cells, worked out once for the whole file."""

    width: int
    email: int | None
    name: int | None
    first_name: int | None
    last_name: int | None
    timezone: int | None
    tags: int | None
    phone: int | None
    sms_consent: int | None
    attributes: int | None
    named: tuple  # (index, attribute name)

    @classmethod
    def of(cls, columns: list[str]) -> "RowPlan":
        where = {t: i for i, t in enumerate(columns) if t in SINGLE_TARGETS}
        named = tuple(
            (i, t[len(ATTRIBUTE_PREFIX) :].strip()) for i, t in enumerate(columns) if t.startswith(ATTRIBUTE_PREFIX)
        )
        return cls(len(columns), named=named, **{t: where.get(t) for t in SINGLE_TARGETS})

    def person(self, values: list[str]) -> dict:
        """One row as the import reads it: email, name, timezone, tags and attributes (phone and
        sms_consent only when the file has them: a row without them leaves a known person's as they are)."""
        extra = len(values) > self.width
        # One padded, stripped copy per row: cheaper than checking every cell (20,000 rows in well under 1 s).
        cells = [v.strip() for v in values[: self.width]]
        cells += [""] * (self.width + 1 - len(cells))  # cells[width] is the empty cell of a missing column

        def cell(i):
            return cells[self.width if i is None else i]

        attributes = self._json_attributes(cell(self.attributes))
        attributes.update((name, cells[i]) for i, name in self.named if cells[i])
        first, last = cell(self.first_name), cell(self.last_name)
        if first:
            attributes["first_name"] = first
        if last:
            attributes["last_name"] = last
        person = {
            "email": cell(self.email),
            "name": cell(self.name) or " ".join(p for p in (first, last) if p) or None,
            "timezone": cell(self.timezone) or None,
            "tags": parse_tags(cell(self.tags)),
            "attributes": attributes,
            "_extra": extra,
        }
        if self.phone is not None:
            person["phone"] = cells[self.phone] or None
        if self.sms_consent is not None:
            person["sms_consent"] = cells[self.sms_consent] or None
        return person

    @staticmethod
    def _json_attributes(value: str) -> dict:
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        # Not an object: kept as text rather than losing it, like any other column.
        return dict(parsed) if isinstance(parsed, dict) else {"attributes": value}


def map_rows(table: Table, columns: list[str]) -> list:
    """Every row of the table as a person (None for blank lines), by a checked mapping."""
    plan = RowPlan.of(columns)
    return [None if values is None else plan.person(values) for values in table.rows]
