"""A segment's rules said in words, for its page and the segments index: "Plan is “pro” and did
cart_updated at least 2 times in the last 7 days". Saved rules are kept as written (segments._stored),
so every key is read defensively. `names` holds what ids stand for: {"lists": {id: name},
"campaigns": {id: name}}."""

from app.services.audience.segment_rules import FIELDS, OP_LABELS

MAX_WORDS = 300  # an index row shows the start; the builder shows the rest
ENGAGEMENT_VERBS = {"opened": ("opened", "open"), "clicked": ("clicked", "click"), "received": ("received", "receive")}


def rules_words(rules, names: dict | None = None) -> str:
    """The whole tree in one sentence, cut at MAX_WORDS characters."""
    text = _node(rules, names or {}, top=True)
    text = text[:1].upper() + text[1:]
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1] + "…"


def _node(node, names: dict, top: bool = False) -> str:
    if not isinstance(node, dict):
        return "…"
    if "not" in node:
        return f"not ({_node(node['not'], names, top=True)})"
    for kind, joiner in (("all", " and "), ("any", " or ")):
        if kind in node:
            children = node[kind] if isinstance(node[kind], list) else []
            text = joiner.join(_node(child, names) for child in children) or "anyone"
            return text if top or len(children) < 2 else f"({text})"
    if "did" in node:
        return did_words(node)
    if "event" in node:
        return _engagement(node, names)
    if "field" in node:
        return _condition(node, names)
    return "…"


def _how_often(node: dict) -> str:
    text = ""
    count, days = node.get("count_gte"), node.get("within_days")
    if isinstance(count, int) and count > 1:
        text += f" at least {count:,} times"
    if isinstance(days, int):
        text += f" in the last {days:,} day{'s' if days != 1 else ''}"
    return text


def did_words(node: dict) -> str:
    """A customer event condition: "did cart_updated at least 2 times in the last 7 days", "did not
    order_placed" (with a count, "did not … at least 2 times" means fewer than 2)."""
    return f"{'did not' if node.get('negate') else 'did'} {node.get('did') or '(no event)'}" + _how_often(node)


def _engagement(node: dict, names: dict) -> str:
    done, do = ENGAGEMENT_VERBS.get(node.get("event"), (str(node.get("event")), str(node.get("event"))))
    campaign = node.get("campaign_id")
    what = "an email" if campaign is None else _named(names, "campaigns", campaign, "the campaign")
    if not node.get("negate"):
        return f"{done} {what}" + _how_often(node)
    many = isinstance(node.get("count_gte"), int) and node["count_gte"] > 1
    return (f"did not {do} {what}" if many else f"never {done} {what}") + _how_often(node)


def _named(names: dict, kind: str, ident, noun: str) -> str:
    name = (names.get(kind) or {}).get(ident)
    return f"“{name}”" if name else f"{noun} #{ident}"


def _condition(node: dict, names: dict) -> str:
    field, op, value = str(node.get("field")), node.get("op"), node.get("value")
    label = FIELDS[field].label if field in FIELDS else field.removeprefix("attributes.")
    text = f"{label} {OP_LABELS.get(op, op)}"
    if op in ("is_set", "not_set"):
        return text
    if op == "within_days":
        return f"{label} is within the last {_value(value, field, names)} days"
    values = value if isinstance(value, list) else [value]
    shown = [_value(v, field, names) for v in values]
    return f"{text} {' and '.join(shown) if op == 'between' else ', '.join(shown)}"


def _value(value, field: str, names: dict) -> str:
    if field == "list":
        return _named(names, "lists", value, "list")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, (int, float)):
        return f"{value:,}"
    return f"“{value}”"
