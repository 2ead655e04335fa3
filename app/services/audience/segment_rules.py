"""A segment's rule tree, checked and made exact before it is compiled (segment_sql.py).

A tree is a group `{"all": [...]}` / `{"any": [...]}`, a negation `{"not": node}`, a condition
`{"field": "attributes.plan", "op": "eq", "value": "pro"}` or an engagement condition
`{"event": "opened"|"clicked"|"received", "campaign_id"?, "within_days"?, "count_gte"?, "negate"?}`, or a
customer event condition `{"did": "cart_updated", "within_days"?, "count_gte"?, "negate"?}` (POST /events).

`clean_rules` returns the same tree with every value converted to what the compiler binds (numbers
as floats, dates as ISO `YYYY-MM-DD`, text as given), every field's type decided (a declared field's
type, else the type of the values stored, else the value's own), and every id checked to belong to
the workspace; anything else raises ValidationError naming the place (`rules.all.2.value`).
"""

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from app.models.audience import SUBSCRIBER_SOURCES
from app.models.sms import SMS_STATUSES
from app.services.errors import ValidationError

MAX_DEPTH = 5  # groups inside groups
MAX_CONDITIONS = 50
MAX_IN_VALUES = 500
MAX_TEXT = 500
MAX_DAYS = 36_500
ATTRIBUTE_KEY = re.compile(r"^[^\x00-\x1f\"\\]{1,100}$")  # what a JSON path can quote safely
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

TEXT_OPS = ("eq", "ne", "contains", "starts_with", "ends_with", "in", "is_set", "not_set")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "is_set", "not_set")
DATE_OPS = ("eq", "ne", "before", "after", "between", "within_days", "is_set", "not_set")
BOOLEAN_OPS = ("eq", "ne", "is_set", "not_set")
OPS_BY_TYPE = {"text": TEXT_OPS, "number": NUMBER_OPS, "date": DATE_OPS, "boolean": BOOLEAN_OPS}
ALL_OPS = tuple(dict.fromkeys(TEXT_OPS + NUMBER_OPS + DATE_OPS + BOOLEAN_OPS))
EVENTS = ("opened", "clicked", "received")

OP_LABELS = {
    "eq": "is",
    "ne": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "between": "is between",
    "in": "is one of",
    "is_set": "is set",
    "not_set": "is not set",
    "before": "is before",
    "after": "is after",
    "within_days": "is within the last (days)",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str  # text | number | date | boolean | tag | list | choice
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()


SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained", "pending")
MAILBOX_GROUPS = ("gmail", "microsoft", "yahoo", "apple", "other", "none")
SOURCES = SUBSCRIBER_SOURCES

# Fields a condition may name besides `attributes.<key>`.
FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("email", "Email", "text", TEXT_OPS),
        FieldSpec("name", "Name", "text", TEXT_OPS),
        FieldSpec("status", "Status", "choice", ("eq", "ne", "in"), SUBSCRIBER_STATUSES),
        FieldSpec("source", "Source", "choice", ("eq", "ne", "in", "is_set", "not_set"), SOURCES),
        FieldSpec("created_at", "Subscribed on", "date", DATE_OPS[:-2]),
        FieldSpec("timezone", "Timezone", "text", TEXT_OPS),
        FieldSpec("tags", "Tags", "tag", ("contains", "ne", "in", "is_set", "not_set")),
        FieldSpec("list", "List", "list", ("eq", "ne", "in")),
        FieldSpec(
            "mailbox_provider", "Mailbox provider", "choice", ("eq", "ne", "in", "is_set", "not_set"), MAILBOX_GROUPS
        ),
        FieldSpec("order_count", "Number of orders", "number", NUMBER_OPS[:-2]),
        FieldSpec("lifetime_value", "Lifetime value", "number", NUMBER_OPS[:-2]),
        FieldSpec("last_order_at", "Last order", "date", DATE_OPS),
        # The person's loyalty account (growth/loyalty.py): no account is 0 points and no tier.
        FieldSpec("loyalty_points", "Loyalty points", "number", NUMBER_OPS[:-2]),
        FieldSpec("loyalty_tier", "Loyalty tier", "text", ("eq", "ne", "in", "is_set", "not_set")),
        # Texts (sms/consent.py): E.164 numbers, so "starts with +44" picks a country.
        FieldSpec("phone", "Phone", "text", ("is_set", "not_set", "starts_with")),
        FieldSpec("sms_status", "Consent to texts", "choice", ("eq", "ne", "in"), SMS_STATUSES),
    )
}


class Context:
    """What cleaning needs from the database, asked lazily (segments.py gives the real one)."""

    def declared_type(self, key: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def stored_type(self, key: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def known_lists(self, ids: list[int]) -> set[int]:  # pragma: no cover - interface
        """Which of the ids are the workspace's lists, in one question however many there are."""
        raise NotImplementedError

    def campaign_exists(self, campaign_id: int) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


def clean_rules(rules, ctx: Context) -> dict:
    """The tree, checked and converted (see the module's docstring)."""
    if not isinstance(rules, dict) or not rules:
        raise ValidationError('Rules are a group such as {"all": [conditions]}.', {"rules": "Not a rule tree."})
    counter = [0]
    tree = _node(rules, ctx, "rules", 0, counter)
    if counter[0] > MAX_CONDITIONS:
        raise ValidationError(f"A segment has at most {MAX_CONDITIONS} conditions.", {"rules": "Too many conditions."})
    return tree


def _fail(path: str, message: str):
    raise ValidationError(f"{message} ({path})", {path: message})


def _node(node, ctx: Context, path: str, depth: int, counter: list) -> dict:
    if not isinstance(node, dict):
        _fail(path, "Each rule is an object: a group, a 'not' or a condition")
    if "all" in node or "any" in node:
        return _group(node, ctx, path, depth, counter)
    if "not" in node:
        if set(node) != {"not"}:
            _fail(path, "A 'not' holds one rule and nothing else")
        return {"not": _node(node["not"], ctx, f"{path}.not", depth + 1, counter)}
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        _fail(path, f"A segment has at most {MAX_CONDITIONS} conditions")
    if "event" in node:
        return _event(node, ctx, path)
    if "did" in node:
        return _did(node, path)
    if "field" in node:
        return _condition(node, ctx, path)
    _fail(path, "Unknown rule: use all, any, not, field, event or did")


def _group(node: dict, ctx: Context, path: str, depth: int, counter: list) -> dict:
    kind = "all" if "all" in node else "any"
    if set(node) != {kind}:
        _fail(path, "A group is either all or any, with nothing beside it")
    if depth >= MAX_DEPTH:
        _fail(path, f"Groups nest at most {MAX_DEPTH} deep")
    children = node[kind]
    if not isinstance(children, list) or not children:
        _fail(f"{path}.{kind}", "A group holds at least one rule")
    return {kind: [_node(child, ctx, f"{path}.{kind}.{i}", depth + 1, counter) for i, child in enumerate(children)]}


def _condition(node: dict, ctx: Context, path: str) -> dict:
    extra = set(node) - {"field", "op", "value"}
    if extra:
        _fail(path, f"Unknown key {sorted(extra)[0]!r} in a condition")
    name, op = node.get("field"), node.get("op")
    if not isinstance(name, str):
        _fail(f"{path}.field", "Name a field")
    if not isinstance(op, str) or op not in ALL_OPS:
        _fail(f"{path}.op", f"Unknown operator: use one of {', '.join(ALL_OPS)}")
    if name.startswith("attributes."):
        key = name[len("attributes.") :]
        if not ATTRIBUTE_KEY.match(key):
            _fail(f"{path}.field", "An attribute's name is 1 to 100 characters, without quotes or backslashes")
        kind = ctx.declared_type(key) or ctx.stored_type(key) or _type_of_value(op, node.get("value"))
        spec = FieldSpec(name, key, kind, OPS_BY_TYPE[kind])
    elif name in FIELDS:
        spec = FIELDS[name]
    else:
        _fail(f"{path}.field", f"Unknown field {name[:100]!r}: use one of {', '.join(FIELDS)} or attributes.<name>")
    if op not in spec.ops:
        _fail(f"{path}.op", f"{spec.label} cannot use '{op}': use one of {', '.join(spec.ops)}")
    out = {"field": name, "op": op, "type": spec.type}
    if op not in ("is_set", "not_set"):
        out["value"] = _value(spec, op, node.get("value"), ctx, f"{path}.value")
    if spec.type == "list":
        _check_lists(out["value"] if op == "in" else [out["value"]], ctx, f"{path}.value")
    return out


def _check_lists(ids: list[int], ctx: Context, path: str) -> None:
    """Every id one of the workspace's lists, asked once for the whole condition (an 'in' holds up to
    MAX_IN_VALUES); the refusal names each id that is not."""
    distinct = list(dict.fromkeys(ids))
    known = ctx.known_lists(distinct)
    unknown = [i for i in distinct if i not in known]
    if unknown:
        names = ", ".join(str(i) for i in unknown[:20]) + (", …" if len(unknown) > 20 else "")
        _fail(path, f"Choose one of this workspace's lists: {names} {'is' if len(unknown) == 1 else 'are'} not")


def _type_of_value(op: str, value) -> str:
    """The type a condition's own value implies, for an attribute nobody declared and none stores yet."""
    if op in ("before", "after", "within_days"):
        return "date"
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, (int, float)):
        return "number"
    if op in ("gt", "gte", "lt", "lte"):
        return "number"
    if isinstance(sample, str) and ISO_DATE.match(sample) and op in ("eq", "ne", "between"):
        return "date"
    return "text"


def _value(spec: FieldSpec, op: str, value, ctx: Context, path: str):
    if op == "in":
        if not isinstance(value, list) or not value:
            _fail(path, "'in' takes a list of values")
        if len(value) > MAX_IN_VALUES:
            _fail(path, f"'in' takes at most {MAX_IN_VALUES} values")
        return [_one(spec, v, ctx, f"{path}.{i}") for i, v in enumerate(value)]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            _fail(path, "'between' takes two values: [from, to]")
        low, high = (_one(spec, v, ctx, f"{path}.{i}") for i, v in enumerate(value))
        return [low, high] if low <= high else [high, low]
    if op == "within_days":
        return _days(value, path)
    return _one(spec, value, ctx, path)


def _days(value, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        _fail(path, f"A number of days from 0 to {MAX_DAYS}")
    return value


def _one(spec: FieldSpec, value, ctx: Context, path: str):
    kind = spec.type
    if kind == "number":
        return _number(value, path)
    if kind == "date":
        return _date(value, path)
    if kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            _fail(path, "true or false")
        return value
    if kind == "list":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            _fail(path, "A list's id")
        return value  # the workspace's? asked once for the whole condition (_check_lists)
    if kind == "choice":
        if value not in spec.choices:
            _fail(path, f"One of {', '.join(spec.choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(path, "Text")
    text = str(value)
    if not text or len(text) > MAX_TEXT or "\x00" in text:
        _fail(path, f"Text of 1 to {MAX_TEXT} characters")
    return text.strip().lower() if kind == "tag" else text


def _number(value, path: str) -> float:
    if isinstance(value, bool):
        _fail(path, "A number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            _fail(path, "A number")
    if not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > 1e15:
        _fail(path, "A number")
    return float(value)


def _date(value, path: str) -> str:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        _fail(path, "A date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        _fail(path, "A real date as YYYY-MM-DD")


def _event(node: dict, ctx: Context, path: str) -> dict:
    extra = set(node) - {"event", "campaign_id", "within_days", "count_gte", "negate"}
    if extra:
        _fail(path, f"Unknown key {sorted(extra)[0]!r} in an engagement condition")
    if node["event"] not in EVENTS:
        _fail(f"{path}.event", f"One of {', '.join(EVENTS)}")
    out = {"event": node["event"], "negate": bool(node.get("negate", False))}
    campaign_id = node.get("campaign_id")
    if campaign_id is not None:
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or not ctx.campaign_exists(campaign_id):
            _fail(f"{path}.campaign_id", "Choose one of this workspace's campaigns")
        out["campaign_id"] = campaign_id
    return out | _how_often(node, path)


CUSTOMER_EVENT = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")


def _did(node: dict, path: str) -> dict:
    """A customer event (POST /events, or one Herald derived): `{"did": "cart_updated", "within_days"?,
    "count_gte"?, "negate"?}`."""
    extra = set(node) - {"did", "within_days", "count_gte", "negate"}
    if extra:
        _fail(path, f"Unknown key {sorted(extra)[0]!r} in an event condition")
    if not isinstance(node["did"], str) or not CUSTOMER_EVENT.match(node["did"]):
        _fail(f"{path}.did", "An event type, e.g. order_placed or cart_updated")
    out = {"did": node["did"], "negate": bool(node.get("negate", False))}
    return out | _how_often(node, path)


def _how_often(node: dict, path: str) -> dict:
    """An event condition's `within_days` (optional) and `count_gte` (1 to 10,000; default 1)."""
    out = {}
    if node.get("within_days") is not None:
        out["within_days"] = _days(node["within_days"], f"{path}.within_days")
    count = node.get("count_gte", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        _fail(f"{path}.count_gte", "A number of times from 1 to 10000")
    out["count_gte"] = count
    return out


def day_start(day: str, tz) -> datetime:
    """Midnight of an ISO date in a timezone, as an aware datetime."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=tz)
