"""A flow's definition, checked: its trigger, its steps (a tree), goals, re-entry and quiet hours, and
the plan the engine follows (each step by id, with where it leads).

Steps, top to bottom; a condition holds its two branches side by side, and both join again after it:

    {"type": "email", "template_id": 3, "subject"?: "…", "transactional"?: false,
     "identity_id"? | "from_name"?, "from_email"?, "reply_to"?, "provider_id"?}   (default: the usual sender)
    {"type": "wait", "days"?: 1, "hours"?: 0, "minutes"?: 0}           a duration
    {"type": "wait", "until": "09:00"}                                 the next such time, in the person's timezone
    {"type": "wait", "best_time": true}                                the person's best hour within 24 hours
    {"type": "wait", "event": "order_placed", "timeout_hours": 72}     until they do it (or the timeout)
    {"type": "milestone", "name": "profile_completed", "timeout_hours": 168}
                                                                       until milestone_reached with that name
    {"type": "condition", "if": {"rules": <segment rules>} | {"segment_id": 4}
                                | {"event": "order_placed"} | {"milestone": "profile_completed"} (since they entered),
     "yes": [steps], "no": [steps]}
    {"type": "update", "attributes"?: {"k": v}, "add_tags"?: [...], "remove_tags"?: [...],
     "add_to_list"?: id, "remove_from_list"?: id, "unsubscribe"?: true}
    {"type": "webhook", "url": "https://…"}
    {"type": "sms", "body": "Hi {{ subscriber.name }}…", "provider_id"?}   a text through Twilio (default: the
                                                                       workspace's first Twilio provider)
    {"type": "exit"}

Every step gets an `id` ("s1", "s2"… kept when given back), so people inside a flow keep their place
across versions and the counts stay with their step. Errors name the place (`steps.2.yes.0.days`).
"""

import re
from datetime import time

from sqlalchemy import func, select

from app.extensions import db
from app.models import MailingList, Provider, Segment, SendingIdentity, Template
from app.services.audience import segments
from app.services.audience.subscriber_fields import normalize_email
from app.services.errors import ValidationError
from app.services.outbound_webhooks import endpoints
from app.services.sms import campaigns as sms_campaigns

STEP_TYPES = ("email", "wait", "milestone", "condition", "update", "webhook", "sms", "exit")
TRIGGER_TYPES = ("event", "list", "segment", "date", "api")
MAX_STEPS = 100
MAX_DEPTH = 5
MAX_WAIT_MINUTES = 366 * 24 * 60
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")
STEP_ID = re.compile(r"^s[0-9]{1,6}$")
FILTER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists")


def _fail(path: str, message: str):
    raise ValidationError(f"{path}: {message}", {path: message})


def _int(value, path: str, low: int = 0, high: int = 10**9) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        _fail(path, "Must be a whole number.")
    if not low <= int(value) <= high:
        _fail(path, f"Must be between {low:,} and {high:,}.")
    return int(value)


def _event_type(value, path: str) -> str:
    if not isinstance(value, str) or not EVENT_TYPE.match(value):
        _fail(path, "An event type: lower-case letters, digits, _ and ., starting with a letter (e.g. order_placed).")
    return value


def _owned(model, workspace_id: int, value, path: str, what: str) -> int:
    ident = _int(value, path, 1)
    found = db.session.scalar(select(func.count()).where(model.id == ident, model.workspace_id == workspace_id))
    if not found:
        _fail(path, f"No such {what} in this workspace.")
    return ident


# ---- trigger, goals, re-entry, quiet hours -----------------------------------------------------


def clean_trigger(workspace_id: int, trigger, path: str = "trigger") -> dict:
    if not isinstance(trigger, dict) or trigger.get("type") not in TRIGGER_TYPES:
        _fail(f"{path}.type", f"One of {', '.join(TRIGGER_TYPES)}.")
    kind = trigger["type"]
    if kind == "event":
        out = {"type": "event", "event": _event_type(trigger.get("event"), f"{path}.event")}
        out["filters"] = [_filter(f, f"{path}.filters.{i}") for i, f in enumerate(_list(trigger, "filters", path))]
        out["restart"] = bool(trigger.get("restart", False))  # a new event while inside starts the wait again
        return out
    if kind == "list":
        return {
            "type": "list",
            "list_id": _owned(MailingList, workspace_id, trigger.get("list_id"), f"{path}.list_id", "list"),
        }
    if kind == "segment":
        return {"type": "segment",
                "segment_id": _owned(Segment, workspace_id, trigger.get("segment_id"), f"{path}.segment_id", "segment"),
                "include_existing": bool(trigger.get("include_existing", False))}  # fmt: skip
    if kind == "date":
        key = trigger.get("attribute")
        if not isinstance(key, str) or not 0 < len(key) <= 100:
            _fail(f"{path}.attribute", "The date attribute, e.g. birthday.")
        return {
            "type": "date",
            "attribute": key,
            "offset_days": _int(trigger.get("offset_days", 0), f"{path}.offset_days", -60, 60),
        }
    return {"type": "api"}


def _list(data: dict, key: str, path: str, limit: int = 20) -> list:
    value = data.get(key) or []
    if not isinstance(value, list) or len(value) > limit:
        _fail(f"{path}.{key}", f"A list of at most {limit}.")
    return value


def _filter(f, path: str) -> dict:
    if not isinstance(f, dict):
        _fail(path, "A filter: {property, op, value}.")
    prop, op = f.get("property"), f.get("op", "eq")
    if not isinstance(prop, str) or not 0 < len(prop) <= 100:
        _fail(f"{path}.property", "The event property, e.g. total.")
    if op not in FILTER_OPS:
        _fail(f"{path}.op", f"One of {', '.join(FILTER_OPS)}.")
    value = f.get("value")
    if op in ("gt", "gte", "lt", "lte") and (isinstance(value, bool) or not isinstance(value, int | float)):
        _fail(f"{path}.value", "A number.")
    if not isinstance(value, str | int | float | bool | type(None)) or len(str(value)) > 500:
        _fail(f"{path}.value", "A text, number or true/false of at most 500 characters.")
    return {"property": prop, "op": op, "value": value}


def clean_goals(goals, path: str = "goals") -> list[dict]:
    if not isinstance(goals, list) or len(goals) > 10:
        _fail(path, 'A list of at most 10 goals, e.g. [{"event": "order_placed"}].')
    return [{"event": _event_type((g or {}).get("event") if isinstance(g, dict) else None, f"{path}.{i}.event")}
            for i, g in enumerate(goals)]  # fmt: skip


def clean_reentry(reentry, path: str = "reentry") -> dict:
    if reentry in (None, {}, "once"):
        return {"mode": "once"}
    if not isinstance(reentry, dict) or reentry.get("mode") not in ("once", "again"):
        _fail(f"{path}.mode", "once, or again (with after_days).")
    if reentry["mode"] == "once":
        return {"mode": "once"}
    return {"mode": "again", "after_days": _int(reentry.get("after_days"), f"{path}.after_days", 0, 3650)}


def clean_quiet_hours(quiet, path: str = "quiet_hours") -> dict | None:
    if quiet in (None, {}):
        return None
    if not isinstance(quiet, dict):
        _fail(path, '{start, end}: hours 0–23 in the person\'s timezone, e.g. {"start": 21, "end": 8}.')
    start, end = _int(quiet.get("start"), f"{path}.start", 0, 23), _int(quiet.get("end"), f"{path}.end", 0, 23)
    if start == end:
        _fail(f"{path}.end", "Quiet hours must end at another hour than they start.")
    return {"start": start, "end": end}


# ---- steps ---------------------------------------------------------------------------------------


class _Ids:
    """Step ids: kept when valid and unused, else the next free "sN"."""

    def __init__(self, steps):
        self.used: set[str] = set()
        self.taken = set(_all_given_ids(steps))
        self.n = 0

    def take(self, given) -> str:
        if isinstance(given, str) and STEP_ID.match(given) and given not in self.used:
            self.used.add(given)
            return given
        while True:
            self.n += 1
            candidate = f"s{self.n}"
            if candidate not in self.used and candidate not in self.taken:
                self.used.add(candidate)
                return candidate


def _all_given_ids(steps) -> list[str]:
    out = []
    for s in steps if isinstance(steps, list) else []:
        if isinstance(s, dict):
            if isinstance(s.get("id"), str):
                out.append(s["id"])
            out += _all_given_ids(s.get("yes")) + _all_given_ids(s.get("no"))
    return out


def clean_steps(workspace_id: int, steps, path: str = "steps") -> list[dict]:
    if not isinstance(steps, list):
        _fail(path, "A list of steps.")
    counter = [0]
    return _steps(workspace_id, steps, path, _Ids(steps), counter, 1)


def _steps(workspace_id: int, steps, path: str, ids: _Ids, counter: list, depth: int) -> list[dict]:
    if not isinstance(steps, list):
        _fail(path, "A list of steps.")
    if depth > MAX_DEPTH + 1:  # the top list is depth 1; each condition's branches one deeper
        _fail(path, f"Conditions nest at most {MAX_DEPTH} deep.")
    out = []
    for i, step in enumerate(steps):
        counter[0] += 1
        if counter[0] > MAX_STEPS:
            _fail(path, f"A flow has at most {MAX_STEPS} steps.")
        out.append(_step(workspace_id, step, f"{path}.{i}", ids, counter, depth))
    return out


def _step(workspace_id: int, step, path: str, ids: _Ids, counter: list, depth: int) -> dict:
    if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
        _fail(f"{path}.type", f"One of {', '.join(STEP_TYPES)}.")
    kind = step["type"]
    out = {"id": ids.take(step.get("id")), "type": kind}
    if kind == "email":
        out |= _email(workspace_id, step, path)
    elif kind == "wait":
        out |= _wait(step, path)
    elif kind == "milestone":
        name = step.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
            _fail(f"{path}.name", "The milestone's name, as milestone_reached events carry it in `name`.")
        out |= {
            "name": name.strip(),
            "timeout_hours": _int(step.get("timeout_hours", 168), f"{path}.timeout_hours", 1, 8784),
        }
    elif kind == "condition":
        out["if"] = _condition(workspace_id, step.get("if"), f"{path}.if")
        out["yes"] = _steps(workspace_id, step.get("yes") or [], f"{path}.yes", ids, counter, depth + 1)
        out["no"] = _steps(workspace_id, step.get("no") or [], f"{path}.no", ids, counter, depth + 1)
    elif kind == "update":
        out |= _update(workspace_id, step, path)
    elif kind == "webhook":
        try:
            out["url"] = endpoints.clean_url(step.get("url"))
        except ValidationError as exc:
            _fail(f"{path}.url", exc.fields.get("url", exc.message))
    elif kind == "sms":
        out |= _sms(workspace_id, step, path)
    if isinstance(step.get("label"), str) and step["label"].strip():
        out["label"] = step["label"].strip()[:100]
    return out


def _email(workspace_id: int, step: dict, path: str) -> dict:
    out = {"template_id": _owned(Template, workspace_id, step.get("template_id"), f"{path}.template_id", "template")}
    subject = step.get("subject")
    if subject not in (None, ""):
        if not isinstance(subject, str) or len(subject) > 300:
            _fail(f"{path}.subject", "At most 300 characters.")
        out["subject"] = subject
    out["transactional"] = bool(step.get("transactional", False))
    if step.get("identity_id") not in (None, ""):
        out["identity_id"] = _owned(
            SendingIdentity, workspace_id, step["identity_id"], f"{path}.identity_id", "identity"
        )
    if step.get("provider_id") not in (None, ""):
        out["provider_id"] = _owned(Provider, workspace_id, step["provider_id"], f"{path}.provider_id", "provider")
    for key in ("from_email", "reply_to"):
        if step.get(key) not in (None, ""):
            try:
                out[key] = normalize_email(step[key])
            except ValidationError as exc:
                _fail(f"{path}.{key}", exc.message)
    if step.get("from_name") not in (None, ""):
        name = " ".join(str(step["from_name"]).split())
        if not 0 < len(name) <= 200:
            _fail(f"{path}.from_name", "At most 200 characters.")
        out["from_name"] = name
    return out


def _sms(workspace_id: int, step: dict, path: str) -> dict:
    """The text as written (its Jinja compiles) and, when one is named, which Twilio provider sends it; a
    step naming none takes the workspace's first when it runs (activation checks there is one)."""
    try:
        out = {"body": sms_campaigns.clean_body(step.get("body"))}
    except ValidationError as exc:
        _fail(f"{path}.body", exc.message)
    if step.get("provider_id") not in (None, ""):
        ident = _int(step["provider_id"], f"{path}.provider_id", 1)
        if ident not in {p.id for p in sms_campaigns.sms_providers(workspace_id)}:
            _fail(f"{path}.provider_id", "Choose one of this workspace's Twilio providers.")
        out["provider_id"] = ident
    return out


def _wait(step: dict, path: str) -> dict:
    if step.get("event") is not None:
        return {"event": _event_type(step["event"], f"{path}.event"),
                "timeout_hours": _int(step.get("timeout_hours", 72), f"{path}.timeout_hours", 1, 8784)}  # fmt: skip
    if step.get("best_time"):
        return {"best_time": True}
    if step.get("until") is not None:
        text = step["until"]
        try:
            at = time.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            at = None
        if at is None:
            _fail(f"{path}.until", "A time of day, HH:MM (the person's timezone).")
        return {"until": at.strftime("%H:%M")}
    minutes = sum(
        _int(step.get(unit, 0), f"{path}.{unit}", 0, MAX_WAIT_MINUTES) * factor
        for unit, factor in (("days", 1440), ("hours", 60), ("minutes", 1))
    )
    if not 0 < minutes <= MAX_WAIT_MINUTES:
        _fail(f"{path}.days", "Wait at least a minute and at most a year (days, hours, minutes).")
    return {"minutes": minutes}


def _condition(workspace_id: int, cond, path: str) -> dict:
    if not isinstance(cond, dict):
        _fail(path, "{rules}, {segment_id}, {event} or {milestone}.")
    if "event" in cond:
        return {"event": _event_type(cond["event"], f"{path}.event")}
    if "milestone" in cond:
        name = cond["milestone"]
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
            _fail(f"{path}.milestone", "The milestone's name, as milestone_reached events carry it in `name`.")
        return {"milestone": name.strip()}
    if "segment_id" in cond:
        return {"segment_id": _owned(Segment, workspace_id, cond["segment_id"], f"{path}.segment_id", "segment")}
    if "rules" in cond:
        try:
            return {"rules": segments.clean(workspace_id, cond["rules"])}
        except ValidationError as exc:
            raise ValidationError(
                f"{path}.{exc.message}", {f"{path}.{k}": v for k, v in (exc.fields or {}).items()}
            ) from None
    _fail(path, "{rules}, {segment_id}, {event} or {milestone}.")


def _update(workspace_id: int, step: dict, path: str) -> dict:
    out = {}
    attributes = step.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict) or len(attributes) > 50:
            _fail(f"{path}.attributes", "An object of at most 50 attributes.")
        for key, value in attributes.items():
            if not 0 < len(key) <= 100 or not isinstance(value, str | int | float | bool | type(None)):
                _fail(f"{path}.attributes.{key}", "A name of at most 100 characters and a text, number or true/false.")
        out["attributes"] = attributes
    for key in ("add_tags", "remove_tags"):
        tags = step.get(key)
        if tags is not None:
            if (
                not isinstance(tags, list)
                or len(tags) > 20
                or not all(isinstance(t, str) and 0 < len(t.strip()) <= 100 for t in tags)
            ):
                _fail(f"{path}.{key}", "A list of at most 20 tags of at most 100 characters.")
            out[key] = [t.strip() for t in tags]
    for key in ("add_to_list", "remove_from_list"):
        if step.get(key) is not None:
            out[key] = _owned(MailingList, workspace_id, step[key], f"{path}.{key}", "list")
    if step.get("unsubscribe") not in (None, False):
        if step["unsubscribe"] is not True:
            _fail(f"{path}.unsubscribe", "true (unsubscribe the person), or leave it out.")
        out["unsubscribe"] = True  # a sunset: the person is unsubscribed and suppressed, as by their own link
    if not out:
        _fail(
            path,
            "Say what to change: attributes, add_tags, remove_tags, add_to_list, remove_from_list or unsubscribe.",
        )
    return out


# ---- the plan ------------------------------------------------------------------------------------


def plan_of(steps: list[dict]) -> tuple[dict, str | None]:
    """{step id: step without its branches, plus "next" (or "yes"/"no" for a condition)} and the
    first step's id. A branch that ends joins the step after its condition."""
    plan: dict[str, dict] = {}

    def walk(items: list[dict], after: str | None) -> str | None:
        following = after
        for step in reversed(items):
            entry = {k: v for k, v in step.items() if k not in ("yes", "no")}
            if step["type"] == "condition":
                entry["yes"] = walk(step["yes"], following)
                entry["no"] = walk(step["no"], following)
            elif step["type"] != "exit":
                entry["next"] = following
            plan[step["id"]] = entry
            following = step["id"]
        return following

    first = walk(steps, None)
    return plan, first


def step_ids(steps: list[dict]) -> list[str]:
    """Every step's id, top to bottom, branches in order."""
    out = []
    for s in steps:
        out.append(s["id"])
        if s["type"] == "condition":
            out += step_ids(s["yes"]) + step_ids(s["no"])
    return out
