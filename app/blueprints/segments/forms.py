"""The segment builder's form, read into a rule tree and written back from one.

Each node of the tree is a set of inputs named by its path: `r` is the root group, `r.0` its first
rule, `r.0.2` the third rule of that group. The `node` inputs list the paths in order; per path:
`type-` (group, condition, event or did), for a group `group-` (all or any) and `not-` (a checkbox),
for a condition `field-`, `key-` (an attribute's name), `op-` and `value-`, for an engagement
condition `event-`, `campaign-`, `days-`, `count-` and `not-`, for a customer event (type `did`)
`did-`, `days-`, `count-` and `not-`. A button's `action` (add:PATH, event:PATH, did:PATH,
group:PATH, remove:PATH) changes the tree before it is shown again, so the builder works as a plain
form and HTMX only makes it quicker.
"""

import re

from app.services.audience.segment_rules import FIELDS

ROOT = "r"
ATTRIBUTE = "attributes."
_INDEX = re.compile(r"^\d+$")


def _children(paths: list[str], parent: str) -> list[str]:
    depth = parent.count(".") + 1
    return [p for p in paths if p.startswith(parent + ".") and p.count(".") == depth]


def _int(text: str | None):
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else (text or None)


def _value(form, path: str, field: str, op: str):
    raw = form.get(f"value-{path}", "")
    if op in ("is_set", "not_set"):
        return None
    if op == "in":
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        return [_int(p) for p in parts] if field == "list" else parts
    if op == "between":
        parts = [p.strip() for p in re.split(r",|\band\b", raw) if p.strip()]
        return parts
    if op == "within_days" or field == "list":
        return _int(raw)
    if field.startswith(ATTRIBUTE) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    return raw.strip()


def _field(form, path: str) -> str:
    field = form.get(f"field-{path}") or "email"
    if field == ATTRIBUTE:
        return ATTRIBUTE + (form.get(f"key-{path}") or "").strip()
    return field


def _node(form, paths: list[str], path: str) -> dict:
    kind = form.get(f"type-{path}") or "condition"
    negate = bool(form.get(f"not-{path}"))
    if kind == "group":
        group = "any" if form.get(f"group-{path}") == "any" else "all"
        node = {group: [_node(form, paths, child) for child in _children(paths, path)]}
        return {"not": node} if negate else node
    if kind in ("event", "did"):
        return _event(form, path, kind, negate)
    field = _field(form, path)
    op = form.get(f"op-{path}") or "eq"
    node = {"field": field, "op": op}
    value = _value(form, path, field, op)
    if value is not None:
        node["value"] = value
    return node


def _event(form, path: str, kind: str, negate: bool) -> dict:
    """An engagement row (`event-`, `campaign-`) or a customer event row (`did-`), with how often and
    how recently; blank numbers are left out (once, any time)."""
    if kind == "did":
        node, numbers = {"did": (form.get(f"did-{path}") or "").strip()}, ()
    else:
        node, numbers = {"event": form.get(f"event-{path}") or "opened"}, (("campaign_id", "campaign"),)
    for key, name in (*numbers, ("within_days", "days"), ("count_gte", "count")):
        value = _int(form.get(f"{name}-{path}"))
        if value is not None:
            node[key] = value
    if negate:
        node["negate"] = True
    return node


def _empty_condition() -> dict:
    return {"field": "email", "op": "contains", "value": ""}


def rules_from_form(form) -> dict:
    """The tree the builder's inputs describe, changed by the button pressed (its `action`)."""
    paths = form.getlist("node") or [ROOT]
    if ROOT not in paths:
        paths = [ROOT, *paths]
    tree = _node(form, paths, ROOT)
    action, _, target = (form.get("action") or "").partition(":")
    if action in ("add", "event", "did", "group", "remove") and target:
        tree = _change(tree, action, target)
    return tree


def _group_items(node: dict) -> list | None:
    inner = node.get("not", node)
    return inner.get("all", inner.get("any")) if isinstance(inner, dict) else None


def _at(tree: dict, path: str):
    """The node at a path and the list holding it (None for the root)."""
    node, holder = tree, None
    for part in path.split(".")[1:]:
        items = _group_items(node)
        if items is None or not _INDEX.match(part) or int(part) >= len(items):
            return None, None
        holder, node = items, items[int(part)]
    return node, holder


def _change(tree: dict, action: str, path: str) -> dict:
    node, holder = _at(tree, path)
    if node is None:
        return tree
    if action == "remove":
        if holder is not None and len(holder) > 1:
            holder.remove(node)
        return tree
    items = _group_items(node)
    if items is None:
        return tree
    new = {
        "add": _empty_condition(),
        "event": {"event": "opened", "within_days": 90},
        "did": {"did": ""},
        "group": {"any": [_empty_condition()]},
    }[action]
    items.append(new)
    return tree


def uses_customer_events(node) -> bool:
    """Whether a tree has a customer event row (the builder then suggests the workspace's event types)."""
    if not isinstance(node, dict):
        return False
    if "did" in node:
        return True
    if "not" in node:
        return uses_customer_events(node["not"])
    children = node.get("all", node.get("any"))
    return isinstance(children, list) and any(uses_customer_events(child) for child in children)


def starter_rules() -> dict:
    return {"all": [_empty_condition()]}


def field_choices(attribute_keys: list[str]) -> list[tuple[str, str]]:
    """(value, label) for the field select: Herald's fields, then the attributes in use."""
    fixed = [(name, spec.label) for name, spec in FIELDS.items()]
    return fixed + [(ATTRIBUTE + k, f"Attribute: {k}") for k in attribute_keys] + [(ATTRIBUTE, "Another attribute…")]


def value_text(node: dict) -> str:
    """A condition's value as the builder's text input shows it."""
    value = node.get("value")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def error_paths(fields: dict) -> dict[str, str]:
    """Errors keyed like rules.all.0.value, keyed by the builder's node paths instead (r.0)."""
    out = {}
    for key, message in (fields or {}).items():
        if not key.startswith("rules"):
            continue
        indexes = [p for p in key.split(".") if _INDEX.match(p)]
        out.setdefault(".".join([ROOT, *indexes]), message)
    return out
