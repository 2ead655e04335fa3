"""The flow editor's forms <-> the flow's data as flows.create_flow / update_flow take it, as pure
functions. Values are read as typed (a number that is not one stays text) so flow_plan's checks say
what is wrong, on the right field; inputs are named like the error keys they answer to (`days`,
`if.event`, `trigger.filters.0.value`), so an error finds its field by name.
"""

import json

from app.services.automation.flow_plan import STEP_TYPES

STEP_LABELS = {
    "email": "Send an email",
    "sms": "Text message (SMS)",
    "wait": "Wait",
    "milestone": "Wait for a milestone",
    "condition": "Condition (yes / no)",
    "update": "Update the person",
    "webhook": "Call a webhook",
    "exit": "Leave the flow",
}
STEP_ICONS = {"email": "mail", "sms": "message", "wait": "clock", "milestone": "flag", "condition": "git-branch",
              "update": "user-edit", "webhook": "webhook", "exit": "logout"}  # fmt: skip
TRIGGER_LABELS = {
    "event": "They do something (an event)",
    "list": "They join a list",
    "segment": "They enter a segment",
    "date": "Their date comes round (birthday…)",
    "api": "Your app adds them (API)",
}
WAIT_KINDS = {"duration": "For a while", "until": "Until a time of day", "best_time": "Until their best hour",
              "event": "Until they do something"}  # fmt: skip
CONDITION_KINDS = {"event": "They did something since entering", "segment": "They are in a segment",
                   "rules": "They match rules (JSON)"}  # fmt: skip
FILTER_LABELS = {"eq": "is", "ne": "is not", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "contains": "contains",
                 "exists": "is present"}  # fmt: skip
SMS_STARTER = "Hi {{ subscriber.name or 'there' }}! Reply STOP to opt out."  # a new SMS step's text, to write on
FILTER_ROWS = 3  # filter rows the trigger form shows beyond those set, without JavaScript to add more


def typed(value):
    """A whole number typed as text becomes one; anything else stays as typed (checks then say why)."""
    text = (value or "").strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.lstrip("-").isdigit():
        return int(text)
    return text


def _optional(form, key: str):
    value = (form.get(key) or "").strip()
    return typed(value) if value else None


def _tags(value) -> list[str] | None:
    tags = [t.strip() for t in (value or "").split(",") if t.strip()]
    return tags or None


def _attributes(text: str):
    """`plan = pro` lines; a number, true/false or null stays one (JSON's reading), else text."""
    out = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        value = value.strip()
        try:
            parsed = json.loads(value) if value else ""
            out[key.strip()] = parsed if not isinstance(parsed, dict | list) else value
        except ValueError:
            out[key.strip()] = value if sep else ""
    return out or None


def step_from_form(form, kind: str, old: dict | None = None) -> dict:
    """One step from its card's form (the id is the caller's); settings the form does not show (an
    email's provider) are kept from the step it replaces."""
    kind = kind if kind in STEP_TYPES else "exit"
    step = {"type": kind, **_READERS[kind](form)}
    if old and old.get("type") == kind and old.get("provider_id") and kind == "email":
        step["provider_id"] = old["provider_id"]
    label = (form.get("label") or "").strip()
    if label:
        step["label"] = label
    return {k: v for k, v in step.items() if v is not None}


def _email(form) -> dict:
    return {
        "template_id": _optional(form, "template_id"),
        "subject": (form.get("subject") or "").strip() or None,
        "identity_id": _optional(form, "identity_id"),
        "from_name": (form.get("from_name") or "").strip() or None,
        "from_email": (form.get("from_email") or "").strip() or None,
        "reply_to": (form.get("reply_to") or "").strip() or None,
        "transactional": form.get("transactional") == "on",
    }


def _wait(form) -> dict:
    mode = form.get("mode") or "duration"
    if mode == "until":
        return {"until": (form.get("until") or "").strip()}
    if mode == "best_time":
        return {"best_time": True}
    if mode == "event":
        return {"event": (form.get("event") or "").strip(), "timeout_hours": typed(form.get("timeout_hours") or "72")}
    return {unit: typed(form.get(unit) or "0") for unit in ("days", "hours", "minutes")}


def _milestone(form) -> dict:
    return {"name": (form.get("name") or "").strip(), "timeout_hours": typed(form.get("timeout_hours") or "168")}


def _condition(form) -> dict:
    mode = form.get("if_mode") or "event"
    if mode == "segment":
        return {"if": {"segment_id": typed(form.get("if.segment_id"))}}
    if mode == "rules":
        text = form.get("if.rules") or ""
        try:
            return {"if": {"rules": json.loads(text)}}
        except ValueError:
            return {"if": {"rules": text}}  # the segment rules' check says what is wrong with it
    return {"if": {"event": (form.get("if.event") or "").strip()}}


def _update(form) -> dict:
    return {
        "attributes": _attributes(form.get("attributes") or ""),
        "add_tags": _tags(form.get("add_tags")),
        "remove_tags": _tags(form.get("remove_tags")),
        "add_to_list": _optional(form, "add_to_list"),
        "remove_from_list": _optional(form, "remove_from_list"),
        "unsubscribe": True if form.get("unsubscribe") == "on" else None,
    }


_READERS = {
    "email": _email,
    "wait": _wait,
    "milestone": _milestone,
    "condition": _condition,
    "update": _update,
    "webhook": lambda form: {"url": (form.get("url") or "").strip()},
    "sms": lambda form: {"body": form.get("body") or "", "provider_id": _optional(form, "provider_id")},
    "exit": lambda form: {},
}


def starter_step(kind: str, templates: list) -> dict:
    """What a new step's form starts with (nothing is saved until the form is)."""
    return {
        "email": {"type": "email", "template_id": templates[0].id if templates else None},
        "wait": {"type": "wait", "minutes": 1440},
        "milestone": {"type": "milestone", "name": "", "timeout_hours": 168},
        "condition": {"type": "condition", "if": {"event": "order_placed"}, "yes": [], "no": []},
        "update": {"type": "update", "add_tags": []},
        "webhook": {"type": "webhook", "url": ""},
        "sms": {"type": "sms", "body": SMS_STARTER},
        "exit": {"type": "exit"},
    }.get(kind, {"type": "exit"})


# ---- what a step's form shows ------------------------------------------------------------------


def wait_mode(step: dict) -> str:
    for mode in ("event", "until", "best_time"):
        if step.get(mode) not in (None, False):
            return mode
    return "duration"


def wait_parts(step: dict) -> dict:
    """Days, hours and minutes of a duration: as typed when the form was sent back, else from the total."""
    if any(unit in step for unit in ("days", "hours")):
        return {unit: step.get(unit, 0) for unit in ("days", "hours", "minutes")}
    total = step.get("minutes", 0)
    if not isinstance(total, int):
        return {"days": 0, "hours": 0, "minutes": total}
    return {"days": total // 1440, "hours": total % 1440 // 60, "minutes": total % 60}


def condition_mode(step: dict) -> str:
    cond = step.get("if") if isinstance(step.get("if"), dict) else {}
    return "segment" if "segment_id" in cond else ("rules" if "rules" in cond else "event")


def rules_text(step: dict) -> str:
    rules = (step.get("if") or {}).get("rules")
    return rules if isinstance(rules, str) else json.dumps(rules or {"all": []}, indent=2, ensure_ascii=False)


def attributes_text(step: dict) -> str:
    attributes = step.get("attributes") or {}
    return "\n".join(f"{k} = {v if isinstance(v, str) else json.dumps(v)}" for k, v in attributes.items())


# ---- the flow's settings -----------------------------------------------------------------------


def settings_from_form(form) -> dict:
    """name, trigger, goals, reentry and quiet hours as update_flow takes them."""
    kind = form.get("trigger.type") or "api"
    trigger: dict = {"type": kind}
    if kind == "event":
        trigger |= {"event": (form.get("trigger.event") or "").strip(), "filters": _filters(form),
                    "restart": form.get("trigger.restart") == "on"}  # fmt: skip
    elif kind in ("list", "segment"):
        trigger[f"{kind}_id"] = typed(form.get(f"trigger.{kind}_id"))
    elif kind == "date":
        trigger |= {"attribute": (form.get("trigger.attribute") or "").strip(),
                    "offset_days": typed(form.get("trigger.offset_days") or "0")}  # fmt: skip
    goals = [{"event": g.strip()} for g in (form.get("goals") or "").split(",") if g.strip()]
    reentry = {"mode": "once"}
    if form.get("reentry.mode") == "again":
        reentry = {"mode": "again", "after_days": typed(form.get("reentry.after_days") or "0")}
    quiet = None
    if form.get("quiet_hours.on") == "on":
        quiet = {"start": typed(form.get("quiet_hours.start")), "end": typed(form.get("quiet_hours.end"))}
    return {"name": form.get("name") or "", "trigger": trigger, "goals": goals, "reentry": reentry,
            "quiet_hours": quiet}  # fmt: skip


def _filters(form) -> list[dict]:
    out = []
    for i in range(20):
        prop = (form.get(f"trigger.filters.{i}.property") or "").strip()
        if prop:
            op = form.get(f"trigger.filters.{i}.op") or "eq"
            raw = (form.get(f"trigger.filters.{i}.value") or "").strip()
            out.append({"property": prop, "op": op, "value": _filter_value(op, raw)})
    return out


def _filter_value(op: str, raw: str):
    if op == "exists":
        return None
    if op in ("gt", "gte", "lt", "lte"):
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            return raw  # "A number.", on the field
    return raw


def settings_of(flow) -> dict:
    return {"name": flow.name, "trigger": flow.trigger or {"type": "api"}, "goals": flow.goals or [],
            "reentry": flow.reentry or {"mode": "once"}, "quiet_hours": flow.quiet_hours}  # fmt: skip


def filter_rows(trigger: dict) -> list[dict]:
    """The trigger's filters and a few empty rows to add more."""
    rows = list(trigger.get("filters") or [])
    return rows + [{"property": "", "op": "eq", "value": ""}] * FILTER_ROWS


def goals_text(goals: list) -> str:
    return ", ".join(g.get("event", "") for g in goals or [] if isinstance(g, dict))


def recipe_options(form, recipe) -> dict:
    """The gallery card's options of a recipe as create_from_recipe takes them: what was left empty
    takes the recipe's default; a box not ticked is false."""
    out = {}
    for option in recipe.options:
        if option.kind == "bool":
            out[option.name] = form.get(option.name) == "on"
        elif (form.get(option.name) or "").strip():
            value = form.get(option.name).strip()
            out[option.name] = typed(value) if option.kind in ("int", "list", "identity") else value
    return out


def first_error(errors: dict, prefix: str) -> str | None:
    """The message of the first error at `prefix` or inside it (`trigger.filters` finds row 2's)."""
    for key, message in (errors or {}).items():
        if key == prefix or key.startswith(prefix + "."):
            return message
    return None
