"""Segments: saved rule trees (segment_rules.py) evaluated when used, as one SQL statement (segment_sql.py).

members(ws, tree)      the SELECT of the matching subscribers' ids (campaigns materialize from it)
count(ws, rules)       how many match, exactly within SEGMENT_COUNT_TIMEOUT_MS, else an estimate
freeze(ws, id, name)   a static list of today's members, in one INSERT … SELECT
declare_field(...)     the workspace's field registry: the type a segment compares an attribute as
"""

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import and_, case, delete, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from app.extensions import db
from app.models import Campaign, CampaignSegment, Field, ListSubscriber, MailingList, Segment, Subscriber, Workspace
from app.models.audience import FIELD_TYPES
from app.services.audience import segment_rules
from app.services.audience.segment_rules import ATTRIBUTE_KEY, clean_rules
from app.services.audience.segment_sql import Clock, compile_rules, json_kind, json_text, looks_like_date, looks_numeric
from app.services.errors import Conflict, NotFound, ValidationError

_s = Subscriber.__table__
NAME_LENGTH = 200
SAMPLE_SIZE = 10  # subscribers shown beside the live count
TYPE_SAMPLE = 1000  # stored values read to decide an undeclared attribute's type
ESTIMATE_ROWS = 50_000  # about how many subscribers an estimate reads


class _Context(segment_rules.Context):
    """What cleaning a tree asks the database, once per question."""

    def __init__(self, workspace_id: int):
        self.workspace_id = workspace_id
        self._declared = None
        self._stored: dict[str, str | None] = {}

    def declared_type(self, key: str) -> str | None:
        if self._declared is None:
            rows = db.session.execute(select(Field.key, Field.type).where(Field.workspace_id == self.workspace_id))
            self._declared = dict(rows.all())
        return self._declared.get(key)

    def stored_type(self, key: str) -> str | None:
        if key not in self._stored:
            self._stored[key] = stored_type(self.workspace_id, key)
        return self._stored[key]

    def known_lists(self, ids: list[int]) -> set[int]:
        return set(
            db.session.scalars(
                select(MailingList.id).where(MailingList.workspace_id == self.workspace_id, MailingList.id.in_(ids))
            )
        )

    def campaign_exists(self, campaign_id: int) -> bool:
        return (
            db.session.scalar(
                select(Campaign.id).where(Campaign.id == campaign_id, Campaign.workspace_id == self.workspace_id)
            )
            is not None
        )


def stored_type(workspace_id: int, key: str) -> str | None:
    """The type of an attribute as stored, from up to TYPE_SAMPLE values (one query): number when every
    one is a JSON number or a number written as text, boolean when every one is true or false (or the
    text "true"/"false"), date when every one is text starting with an ISO date, text otherwise; None
    when nobody has it."""
    args = (_s.c.attributes, key, f'$."{key}"')
    kind, value = json_kind(*args).label("kind"), json_text(*args).label("value")
    sample = (
        select(kind, value)
        .where(_s.c.workspace_id == workspace_id, kind.is_not(None), kind != "null")
        .limit(TYPE_SAMPLE)
        .subquery()
    )
    string = sample.c.kind == "string"
    total, numbers, booleans, dates = (
        int(n or 0)
        for n in db.session.execute(
            select(
                func.count(),
                func.sum(_when((sample.c.kind == "number") | (string & looks_numeric(sample.c.value)))),
                func.sum(
                    _when((sample.c.kind == "boolean") | (string & func.lower(sample.c.value).in_(("true", "false"))))
                ),
                func.sum(_when(string & looks_like_date(sample.c.value))),
            ).select_from(sample)
        ).one()
    )
    if not total:
        return None
    for name, n in (("number", numbers), ("boolean", booleans), ("date", dates)):
        if n == total:
            return name
    return "text"


def _when(condition):
    return case((condition, 1), else_=0)


# Rules into SQL ----------------------------------------------------------------------------------


def clean(workspace_id: int, rules) -> dict:
    return clean_rules(rules, _Context(workspace_id))


def clean_or_none(workspace_id: int, rules) -> dict | None:
    """A saved segment's rules cleaned for use (they are stored as written), or None when they no longer
    hold (a list they name was deleted): whoever evaluates them then finds nobody."""
    try:
        return clean(workspace_id, rules)
    except ValidationError:
        return None


def _clock(workspace_id: int, now: datetime | None = None) -> Clock:
    tz = db.session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    return Clock(tz or "UTC", now)


def condition(workspace_id: int, tree: dict, now: datetime | None = None):
    """The SQL condition on `subscribers` of a cleaned tree, with the workspace's days."""
    return compile_rules(tree, _clock(workspace_id, now))


def members(workspace_id: int, tree: dict, now: datetime | None = None):
    """SELECT subscribers.id of the workspace's subscribers matching a cleaned tree (erased people never).
    Use it whole or in FROM; as an IN subquery of a query over subscribers it would correlate with it."""
    return select(_s.c.id).where(
        _s.c.workspace_id == workspace_id, _s.c.erased_at.is_(None), condition(workspace_id, tree, now)
    )


@dataclass(frozen=True)
class Count:
    count: int
    estimated: bool
    seconds: float


def count(workspace_id: int, rules, timeout_ms: int | None = None) -> Count:
    """How many subscribers match: exact when the database answers within the time limit, else an
    estimate from an even sample of the workspace (estimated=True). A limit of 0 always estimates."""
    tree = clean(workspace_id, rules)
    limit = current_app.config.get("SEGMENT_COUNT_TIMEOUT_MS", 2000) if timeout_ms is None else timeout_ms
    started = time.perf_counter()
    stmt = select(func.count()).select_from(members(workspace_id, tree).subquery())
    exact = _within(stmt, limit) if limit > 0 else None
    if exact is not None:
        return Count(exact, False, time.perf_counter() - started)
    return Count(_estimate(workspace_id, tree), True, time.perf_counter() - started)


def _within(stmt, limit_ms: int) -> int | None:
    """The statement's scalar, or None when it runs past the limit (the transaction stays usable)."""
    savepoint = db.session.begin_nested()
    conn = db.session.connection()
    try:
        if conn.dialect.name == "postgresql":
            # set_config(..., true) is SET LOCAL with a bound value: it ends with the transaction.
            before = conn.execute(text("SELECT current_setting('statement_timeout')")).scalar()
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(limit_ms))})
            value = conn.execute(stmt).scalar()
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": before})
        else:
            value = _sqlite_within(conn, stmt, limit_ms)
        savepoint.commit()
        return int(value or 0)
    except (OperationalError, DBAPIError) as exc:
        savepoint.rollback()
        if "cancel" in str(exc).lower() or "interrupt" in str(exc).lower():
            return None
        raise


def _sqlite_within(conn, stmt, limit_ms: int):
    raw = conn.connection.dbapi_connection
    deadline = time.perf_counter() + limit_ms / 1000
    raw.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 10_000)
    try:
        return conn.execute(stmt).scalar()
    finally:
        raw.set_progress_handler(None, 0)


def _estimate(workspace_id: int, tree: dict) -> int:
    """Count the matches among every k-th subscriber (by id) and scale up: ids are spread evenly over
    a workspace's history, so the sample is too; k keeps the sample near ESTIMATE_ROWS."""
    total = db.session.scalar(select(func.count()).where(_s.c.workspace_id == workspace_id)) or 0
    step = max(1, total // ESTIMATE_ROWS)
    sample = members(workspace_id, tree).where(_s.c.id % step == 0)
    hits = db.session.scalar(select(func.count()).select_from(sample.subquery())) or 0
    return hits * step


def sample(workspace_id: int, tree: dict, n: int = SAMPLE_SIZE) -> list[Subscriber]:
    """A few matching subscribers, newest first, for the builder."""
    matching = and_(
        Subscriber.workspace_id == workspace_id, Subscriber.erased_at.is_(None), condition(workspace_id, tree)
    )
    return list(db.session.scalars(select(Subscriber).where(matching).order_by(Subscriber.id.desc()).limit(n)))


# Saved segments ----------------------------------------------------------------------------------


def _name(value) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError("Give the segment a name.", {"name": "Required."})
    if len(name) > NAME_LENGTH:
        raise ValidationError(f"Keep the name under {NAME_LENGTH} characters.", {"name": "Too long."})
    return name


def create_segment(workspace_id: int, name, rules) -> Segment:
    segment = Segment(workspace_id=workspace_id, name=_name(name), rules=_stored(workspace_id, rules))
    db.session.add(segment)
    db.session.flush()
    return segment


def _stored(workspace_id: int, rules) -> dict:
    """The tree as the marketer wrote it, once it is known to compile (types are decided when used:
    a field declared later, or values stored later, change how it compares)."""
    clean(workspace_id, rules)
    return rules


def update_segment(workspace_id: int, segment_id: int, name=None, rules=None) -> Segment:
    segment = get_segment(workspace_id, segment_id)
    if name is not None:
        segment.name = _name(name)
    if rules is not None:
        segment.rules = _stored(workspace_id, rules)
    segment.updated_at = datetime.now(timezone.utc)
    db.session.flush()
    return segment


def get_segment(workspace_id: int, segment_id: int) -> Segment:
    segment = db.session.scalar(select(Segment).where(Segment.id == segment_id, Segment.workspace_id == workspace_id))
    if segment is None:
        raise NotFound("No such segment.")
    return segment


def list_segments(workspace_id: int):
    return select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.name, Segment.id)


def segment_rows(workspace_id: int) -> list[Segment]:
    return list(db.session.scalars(list_segments(workspace_id)))


def choices(workspace_id: int) -> list[tuple[int, str]]:
    """(id, name) of the workspace's segments, for selects."""
    return list(db.session.execute(select(Segment.id, Segment.name).where(Segment.workspace_id == workspace_id)
                                   .order_by(Segment.name)).all())  # fmt: skip


def list_choices(workspace_id: int) -> list[tuple[int, str]]:
    return list(db.session.execute(select(MailingList.id, MailingList.name).where(
        MailingList.workspace_id == workspace_id).order_by(MailingList.name)).all())  # fmt: skip


def campaign_choices(workspace_id: int, limit: int = 200) -> list[tuple[int, str]]:
    """The newest campaigns that went out, for engagement conditions on one of them."""
    return list(db.session.execute(select(Campaign.id, Campaign.name).where(
        Campaign.workspace_id == workspace_id, Campaign.status.in_(("sending", "sent", "paused"))
    ).order_by(Campaign.id.desc()).limit(limit)).all())  # fmt: skip


def attribute_type(workspace_id: int, key: str) -> str | None:
    """How segments compare attributes.<key> now: as declared, else as the values stored say."""
    declared = db.session.scalar(select(Field.type).where(Field.workspace_id == workspace_id, Field.key == key))
    return declared or stored_type(workspace_id, key)


def delete_segment(workspace_id: int, segment_id: int) -> None:
    """Refused while a scheduled or sending campaign targets it (its audience is not written yet)."""
    segment = get_segment(workspace_id, segment_id)
    busy = db.session.scalar(
        select(Campaign.name)
        .join(CampaignSegment, CampaignSegment.campaign_id == Campaign.id)
        .where(CampaignSegment.segment_id == segment.id, Campaign.status.in_(("scheduled", "draft")))
        .limit(1)
    )
    if busy is not None:
        raise Conflict(f"The campaign '{busy}' uses this segment: change its audience first.")
    db.session.delete(segment)
    db.session.flush()


def segment_members(workspace_id: int, segment_id: int):
    """SELECT of a saved segment's members' ids, evaluated now."""
    segment = get_segment(workspace_id, segment_id)
    return members(workspace_id, clean(workspace_id, segment.rules))


def freeze(workspace_id: int, segment_id: int, list_name: str | None = None) -> tuple[MailingList, int]:
    """A static list holding the segment's members as of now."""
    segment = get_segment(workspace_id, segment_id)
    name = _name(list_name or f"{segment.name} ({datetime.now(timezone.utc):%Y-%m-%d})")
    lst = MailingList(workspace_id=workspace_id, name=name, description=f"Frozen from the segment '{segment.name}'.")
    db.session.add(lst)
    db.session.flush()
    rows = _with_values(segment_members(workspace_id, segment_id), lst.id, datetime.now(timezone.utc))
    db.session.execute(insert(ListSubscriber).from_select(["list_id", "subscriber_id", "created_at"], rows))
    added = db.session.scalar(select(func.count()).where(ListSubscriber.list_id == lst.id))
    return lst, added


def _with_values(ids, list_id: int, now: datetime):
    return ids.with_only_columns(
        literal(list_id), _s.c.id, literal(now, ListSubscriber.created_at.type), maintain_column_froms=True
    )


# The field registry ------------------------------------------------------------------------------


def declare_field(workspace_id: int, key, kind) -> Field:
    """Declare (or change) the type segments compare `attributes.<key>` as."""
    key = str(key or "").strip()
    if not ATTRIBUTE_KEY.match(key):
        raise ValidationError(
            "A field's key is 1 to 100 characters, without quotes or backslashes.", {"key": "Invalid."}
        )
    if kind not in FIELD_TYPES:
        raise ValidationError(f"A field's type is one of {', '.join(FIELD_TYPES)}.", {"type": "Invalid."})
    field = db.session.scalar(select(Field).where(Field.workspace_id == workspace_id, Field.key == key))
    if field is None:
        field = Field(workspace_id=workspace_id, key=key, type=kind)
        db.session.add(field)
    field.type = kind
    db.session.flush()
    return field


def list_fields(workspace_id: int) -> list[Field]:
    return list(db.session.scalars(select(Field).where(Field.workspace_id == workspace_id).order_by(Field.key)))


def delete_field(workspace_id: int, field_id: int) -> None:
    deleted = db.session.execute(delete(Field).where(Field.id == field_id, Field.workspace_id == workspace_id))
    if not deleted.rowcount:
        raise NotFound("No such field.")


def attribute_keys(workspace_id: int, limit: int = 200) -> list[str]:
    """Attribute names in use (from the newest TYPE_SAMPLE subscribers) and declared, for the builder."""
    recent = db.session.scalars(
        select(_s.c.attributes).where(_s.c.workspace_id == workspace_id).order_by(_s.c.id.desc()).limit(TYPE_SAMPLE)
    )
    keys = {k for attrs in recent if isinstance(attrs, dict) for k in attrs if ATTRIBUTE_KEY.match(k)}
    keys.update(f.key for f in list_fields(workspace_id))
    return sorted(keys)[:limit]
