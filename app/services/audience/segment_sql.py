"""A cleaned rule tree (segment_rules.py) compiled to one SQL condition on `subscribers`.

Every value is a bound parameter; the only SQL text written here is our own constant patterns.
A condition on a missing value is NULL, which a WHERE treats as false, through AND and OR alike; only
a negation would turn NULL into "unknown" instead of true, so each negation wraps what it negates in
COALESCE(…, false) (`_negate`): `not` is the exact complement of what it holds, and a subscriber
without the attribute is "not equal" to any value. Conditions are otherwise left bare, so the
planner estimates them as it would a hand-written query. The same statement runs on PostgreSQL
and SQLite: the JSON and pattern functions that differ are SQL constructs compiled per dialect.

Attributes are typed: a number condition reads JSON numbers and numbers written as text ("42"); a
date condition reads text starting with an ISO date (its first ten characters); text conditions
compare case-insensitively (ASCII letters only on SQLite, whose lower() folds nothing else); a
boolean condition reads JSON true and false and the text "true" and "false".
"""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, and_, case, cast, exists, false, func, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from app.models import (
    CampaignRecipient,
    CustomerEvent,
    ListSubscriber,
    LoyaltyAccount,
    MailboxDomain,
    Order,
    Subscriber,
    SubscriberTag,
)
from app.services.audience.segment_rules import day_start
from app.services.delivery.mailbox_cache import email_domain

_s = Subscriber.__table__
_cr = CampaignRecipient.__table__
_EVENT_TIME = {"opened": _cr.c.human_opened_at, "clicked": _cr.c.human_clicked_at, "received": _cr.c.sent_at}


class json_kind(FunctionElement):  # noqa: N801 (an SQL function)
    """`json_kind(doc, key, path)`: number, string, boolean, null, object or array; NULL when absent."""

    type = String()
    name = "json_kind"
    inherit_cache = True


class json_text(FunctionElement):  # noqa: N801
    """`json_text(doc, key, path)`: the value as text (true/false for booleans); NULL when absent."""

    type = String()
    name = "json_text"
    inherit_cache = True


class looks_numeric(FunctionElement):  # noqa: N801
    type = String()
    name = "looks_numeric"
    inherit_cache = True


class looks_like_date(FunctionElement):  # noqa: N801
    type = String()
    name = "looks_like_date"
    inherit_cache = True


def _args(element, compiler, **kw) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(json_kind)
def _json_kind_pg(element, compiler, **kw):
    doc, key, _ = _args(element, compiler, **kw)
    return f"jsonb_typeof({doc} -> {key})"


@compiles(json_kind, "sqlite")
def _json_kind_sqlite(element, compiler, **kw):
    doc, _, path = _args(element, compiler, **kw)
    t = f"json_type({doc}, {path})"
    return (
        f"(CASE {t} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' "
        f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' ELSE {t} END)"
    )


@compiles(json_text)
def _json_text_pg(element, compiler, **kw):
    doc, key, _ = _args(element, compiler, **kw)
    return f"({doc} ->> {key})"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element, compiler, **kw):
    doc, _, path = _args(element, compiler, **kw)
    t = f"json_type({doc}, {path})"
    return f"(CASE WHEN {t} IN ('true', 'false') THEN {t} ELSE CAST(json_extract({doc}, {path}) AS TEXT) END)"


@compiles(looks_numeric)
def _looks_numeric_pg(element, compiler, **kw):
    (text,) = _args(element, compiler, **kw)
    return f"({text} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$')"


@compiles(looks_numeric, "sqlite")
def _looks_numeric_sqlite(element, compiler, **kw):
    (text,) = _args(element, compiler, **kw)
    t = f"trim({text})"
    digits = f"ltrim({t}, '-')"
    return (
        f"({digits} GLOB '[0-9]*' AND {digits} NOT GLOB '*[^0-9.]*' AND {digits} NOT GLOB '*.*.*' "
        f"AND {digits} NOT GLOB '*.' AND length({t}) - length({digits}) <= 1)"
    )


@compiles(looks_like_date)
def _looks_like_date_pg(element, compiler, **kw):
    (text,) = _args(element, compiler, **kw)
    return f"({text} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')"


@compiles(looks_like_date, "sqlite")
def _looks_like_date_sqlite(element, compiler, **kw):
    (text,) = _args(element, compiler, **kw)
    return f"({text} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*')"


class Clock:
    """`now` and the workspace's timezone, fixed for one compilation (days start at its midnight)."""

    def __init__(self, tz_name: str, now: datetime | None = None):
        self.tz = ZoneInfo(tz_name or "UTC")
        self.now = now or datetime.now(timezone.utc)

    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def start(self, day: str) -> datetime:
        return day_start(day, self.tz).astimezone(timezone.utc)

    def end(self, day: str) -> datetime:
        """The start of the next day."""
        return self.start((date.fromisoformat(day) + timedelta(days=1)).isoformat())


def compile_rules(tree: dict, clock: Clock) -> ColumnElement:
    """The SQL condition on `subscribers` for a cleaned tree."""
    if "all" in tree:
        return and_(*(compile_rules(n, clock) for n in tree["all"]))
    if "any" in tree:
        return or_(*(compile_rules(n, clock) for n in tree["any"]))
    if "not" in tree:
        return _negate(compile_rules(tree["not"], clock))
    if "event" in tree:
        return _event(tree, clock)
    if "did" in tree:
        return _did(tree, clock)
    return _condition(tree, clock)


def _negate(expr) -> ColumnElement:
    """NOT, with a missing value's NULL read as false first (see the module's docstring)."""
    return not_(func.coalesce(expr, false()))


def _condition(c: dict, clock: Clock) -> ColumnElement:
    field, op, kind = c["field"], c["op"], c["type"]
    value = c.get("value")
    if field.startswith("attributes."):
        return _attribute(field[len("attributes.") :], kind, op, value, clock)
    if field == "email":  # stored lower-cased: compared as it is, so the planner uses the column's statistics
        return _text(_s.c.email, op, value, folded=True)
    if field in ("name", "timezone"):
        return _text(_s.c[field], op, value)
    if field in ("status", "source", "sms_status"):
        return _choice(_s.c[field], op, value)
    if field == "phone":  # E.164 holds no letters: compared as stored
        return _text(_s.c.phone, op, value, folded=True)
    if field == "mailbox_provider":
        group = select(MailboxDomain.group).where(MailboxDomain.domain == email_domain(_s.c.email)).scalar_subquery()
        return _choice(group, op, value)
    if field == "created_at":
        return _timestamp(_s.c.created_at, op, value, clock)
    if field == "tags":
        return _tags(op, value)
    if field == "list":
        return _lists(op, value)
    if field in ("loyalty_points", "loyalty_tier"):
        return _loyalty(field, op, value)
    return _commerce(field, op, value, clock)


def _text(col, op: str, value, folded: bool = False) -> ColumnElement:
    low = col if folded else func.lower(col)
    if op == "is_set":
        return and_(col.is_not(None), col != "")
    if op == "not_set":
        return _negate(_text(col, "is_set", value, folded))
    if op == "ne":
        return _negate(_text(col, "eq", value, folded))
    return {
        "eq": lambda: low == (value or "").lower(),
        "contains": lambda: low.contains(value.lower(), autoescape=True),
        "starts_with": lambda: low.startswith(value.lower(), autoescape=True),
        "ends_with": lambda: low.endswith(value.lower(), autoescape=True),
        "in": lambda: low.in_([v.lower() for v in value]),
    }[op]()


def _choice(col, op: str, value) -> ColumnElement:
    if op == "is_set":
        return col.is_not(None)
    if op == "not_set":
        return col.is_(None)
    expr = col.in_(value) if op == "in" else col == value
    return _negate(expr) if op == "ne" else expr


def _timestamp(col, op: str, value, clock: Clock) -> ColumnElement:
    """A date condition on a timestamp: days are the workspace's."""
    if op == "is_set":
        return col.is_not(None)
    if op == "not_set":
        return col.is_(None)
    if op == "ne":
        return _negate(_timestamp(col, "eq", value, clock))
    return {
        "eq": lambda: and_(col >= clock.start(value), col < clock.end(value)),
        "before": lambda: col < clock.start(value),
        "after": lambda: col >= clock.end(value),
        "between": lambda: and_(col >= clock.start(value[0]), col < clock.end(value[1])),
        "within_days": lambda: col >= clock.now - timedelta(days=value),
    }[op]()


def _compare(expr, op: str, value) -> ColumnElement:
    """`expr op value` for the ordered operators (numbers and ISO dates as text)."""
    return {
        "eq": lambda: expr == value,
        "gt": lambda: expr > value,
        "gte": lambda: expr >= value,
        "lt": lambda: expr < value,
        "lte": lambda: expr <= value,
        "before": lambda: expr < value,
        "after": lambda: expr > value,
        "between": lambda: and_(expr >= value[0], expr <= value[1]),
        "in": lambda: expr.in_(value),
    }[op]()


def _attribute(key: str, kind: str, op: str, value, clock: Clock) -> ColumnElement:
    args = (_s.c.attributes, key, f'$."{key}"')
    jkind, text = json_kind(*args), json_text(*args)
    present = and_(jkind.is_not(None), jkind != "null", or_(jkind != "string", text != ""))
    if op == "is_set":
        return present
    if op == "not_set":
        return _negate(present)
    if op == "ne":
        return _negate(_attribute(key, kind, "eq", value, clock))
    if kind == "number":
        # CASE, not AND: PostgreSQL may evaluate an AND's sides in any order, and "pro"::float fails.
        number = case(
            (jkind == "number", cast(text, Float)),
            (and_(jkind == "string", looks_numeric(text)), cast(func.trim(text), Float)),
        )
        # The kind test adds nothing to the CASE but lets the planner estimate the condition.
        return and_(jkind.in_(("number", "string")), _compare(number, op, value))
    if kind == "date":
        is_date = and_(jkind == "string", looks_like_date(text))
        day = func.substr(text, 1, 10)
        if op == "within_days":
            today = clock.today()
            return and_(is_date, day >= (today - timedelta(days=value)).isoformat(), day <= today.isoformat())
        return and_(is_date, _compare(day, op, value))
    if kind == "boolean":
        flag = case((jkind == "boolean", text), (jkind == "string", func.lower(text)))
        return flag == ("true" if value else "false")
    return and_(jkind == "string", _text(text, op, value))


def _tags(op: str, value) -> ColumnElement:
    t = SubscriberTag.__table__
    mine = t.c.subscriber_id == _s.c.id
    if op in ("is_set", "not_set"):
        has = exists().where(mine)
        return has if op == "is_set" else not_(has)
    if op == "in":
        return exists().where(mine, t.c.tag.in_(value))
    has = exists().where(mine, t.c.tag == value)
    return not_(has) if op == "ne" else has  # EXISTS is never NULL


def _lists(op: str, value) -> ColumnElement:
    ls = ListSubscriber.__table__
    ids = value if op == "in" else [value]
    member = exists().where(ls.c.subscriber_id == _s.c.id, ls.c.list_id.in_(ids))
    return not_(member) if op == "ne" else member


def _commerce(field: str, op: str, value, clock: Clock) -> ColumnElement:
    o = Order.__table__
    mine = o.c.subscriber_id == _s.c.id
    if field == "last_order_at":
        last = select(func.max(o.c.placed_at)).where(mine).scalar_subquery()
        return _timestamp(last, op, value, clock)
    figure = (
        select(func.count()).where(mine)
        if field == "order_count"
        else select(func.coalesce(func.sum(o.c.amount), 0)).where(mine)
    ).scalar_subquery()
    if op == "ne":
        return _negate(_compare(cast(figure, Float), "eq", value))
    return _compare(cast(figure, Float), op, value)


def _loyalty(field: str, op: str, value) -> ColumnElement:
    """The person's loyalty balance or tier (one account at most: one program per workspace); a person
    without an account has 0 points and no tier."""
    a = LoyaltyAccount.__table__
    mine = a.c.subscriber_id == _s.c.id
    if field == "loyalty_tier":
        return _text(select(a.c.tier).where(mine).scalar_subquery(), op, value)
    points = func.coalesce(select(a.c.balance).where(mine).scalar_subquery(), 0)
    if op == "ne":
        return _negate(_compare(points, "eq", value))
    return _compare(points, op, value)


def _event(e: dict, clock: Clock) -> ColumnElement:
    at = _EVENT_TIME[e["event"]]
    where = [_cr.c.subscriber_id == _s.c.id]
    if "campaign_id" in e:
        where.append(_cr.c.campaign_id == e["campaign_id"])
    # ">=" implies "IS NOT NULL": saying both would halve the planner's estimate of the rows.
    where.append(at >= clock.now - timedelta(days=e["within_days"]) if "within_days" in e else at.is_not(None))
    if e["count_gte"] <= 1:
        expr = exists().where(*where)
    else:
        expr = select(func.count()).where(*where).scalar_subquery() >= e["count_gte"]
    return not_(expr) if e["negate"] else expr


def _did(e: dict, clock: Clock) -> ColumnElement:
    """The person did the customer event (at least count_gte times, within the last within_days)."""
    ce = CustomerEvent.__table__
    where = [ce.c.subscriber_id == _s.c.id, ce.c.type == e["did"]]
    if "within_days" in e:
        where.append(ce.c.occurred_at >= clock.now - timedelta(days=e["within_days"]))
    if e["count_gte"] <= 1:
        expr = exists().where(*where)
    else:
        expr = select(func.count()).where(*where).scalar_subquery() >= e["count_gte"]
    return not_(expr) if e["negate"] else expr


ALWAYS = true()
