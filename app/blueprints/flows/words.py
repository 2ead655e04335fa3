"""A flow's trigger and steps said in words, for its cards, its page and the flows index. `names`
holds what ids stand for: {"lists": {id: name}, "segments": {id: name}, "templates": {id: name},
"sms_providers": {id: name}}."""

from app.blueprints.flows.forms import FILTER_LABELS


def _named(names: dict, kind: str, ident) -> str:
    name = (names.get(kind) or {}).get(ident)
    return f"“{name}”" if name else f"#{ident} (gone)"


def _duration(minutes: int) -> str:
    parts = []
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        n, minutes = divmod(minutes, size)
        if n:
            parts.append(f"{n:,} {unit}{'s' if n != 1 else ''}")
    return " ".join(parts) or "0 minutes"


def _filter(f: dict) -> str:
    if f.get("op") == "exists":
        return f"{f.get('property')} is present"
    return f"{f.get('property')} {FILTER_LABELS.get(f.get('op'), f.get('op'))} {f.get('value')}"


def trigger_words(trigger: dict, names: dict) -> str:
    kind = (trigger or {}).get("type")
    if kind == "event":
        text = f"When someone does {trigger.get('event')}"
        if trigger.get("filters"):
            text += " where " + " and ".join(_filter(f) for f in trigger["filters"])
        if trigger.get("restart"):
            text += " (doing it again while inside starts them over)"
        return text
    if kind == "list":
        return f"When someone joins the list {_named(names, 'lists', trigger.get('list_id'))}"
    if kind == "segment":
        return f"When someone enters the segment {_named(names, 'segments', trigger.get('segment_id'))}"
    if kind == "date":
        offset = trigger.get("offset_days") or 0
        when = (
            "On"
            if not offset
            else f"{abs(offset)} day{'s' if abs(offset) != 1 else ''} {'before' if offset < 0 else 'after'}"
        )
        return f"{when} each person’s {trigger.get('attribute')}, every year"
    return "When your app enrolls someone through the API"


def step_words(step: dict, names: dict) -> str:
    return _WORDS.get(step.get("type"), lambda s, n: step.get("type", "?"))(step, names)


def _email(step: dict, names: dict) -> str:
    text = f"Send {_named(names, 'templates', step.get('template_id'))}"
    if step.get("subject"):
        text += f" with the subject “{step['subject']}”"
    if step.get("identity_id"):
        text += f", from {(names.get('identities') or {}).get(step['identity_id'], 'a sending identity')}"
    elif step.get("from_email"):
        text += f", from {step['from_email']}"
    else:
        text += ", from the workspace’s usual sender"
    return text + (" (transactional: no frequency cap)" if step.get("transactional") else "")


def _sms(step: dict, names: dict) -> str:
    body = " ".join(str(step.get("body") or "").split())
    text = f"Text “{body[:80]}{'…' if len(body) > 80 else ''}”"
    if step.get("provider_id"):
        return text + f", through {_named(names, 'sms_providers', step['provider_id'])}"
    return text + ", through the workspace’s first Twilio provider"


def _wait(step: dict, names: dict) -> str:
    if step.get("event"):
        return f"Wait until they do {step['event']}, at most {step.get('timeout_hours', 72):,} hours"
    if step.get("best_time"):
        return "Wait for their best hour to read email (within 24 hours)"
    if step.get("until"):
        return f"Wait until {step['until']}, their time"
    minutes = step.get("minutes")
    return f"Wait {_duration(minutes)}" if isinstance(minutes, int) else "Wait"


def _condition(step: dict, names: dict) -> str:
    cond = step.get("if") or {}
    if "event" in cond:
        return f"Did they do {cond['event']} since they entered?"
    if "segment_id" in cond:
        return f"Are they in the segment {_named(names, 'segments', cond['segment_id'])}?"
    return "Do they match the rules?"


def _update(step: dict, names: dict) -> str:
    parts = [f"set {k} = {v}" for k, v in (step.get("attributes") or {}).items()]
    if step.get("add_tags"):
        parts.append("tag " + ", ".join(step["add_tags"]))
    if step.get("remove_tags"):
        parts.append("untag " + ", ".join(step["remove_tags"]))
    if step.get("add_to_list"):
        parts.append(f"add to {_named(names, 'lists', step['add_to_list'])}")
    if step.get("remove_from_list"):
        parts.append(f"remove from {_named(names, 'lists', step['remove_from_list'])}")
    if step.get("unsubscribe"):
        parts.append("unsubscribe them")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] if text else "Change nothing"


_WORDS = {
    "email": _email,
    "wait": _wait,
    "milestone": lambda s, n: (
        f"Wait for the milestone “{s.get('name')}”, at most {s.get('timeout_hours', 168):,} hours"
    ),
    "condition": _condition,
    "update": _update,
    "webhook": lambda s, n: f"Call {s.get('url')}",
    "sms": _sms,
    "exit": lambda s, n: "Leave the flow here",
}


def goals_words(goals: list) -> str:
    events = [g.get("event") for g in goals or [] if isinstance(g, dict)]
    return ("Leaves when they do " + " or ".join(events)) if events else "No goal: people go through every step"


def reentry_words(reentry: dict) -> str:
    if (reentry or {}).get("mode") == "again":
        days = reentry.get("after_days", 0)
        return "May enter again once out" + (f", {days:,} days after their last entry at the soonest" if days else "")
    return "Enters once"


def quiet_words(quiet: dict | None) -> str:
    if not quiet:
        return "No quiet hours"
    return f"No email between {quiet['start']:02d}:00 and {quiet['end']:02d}:00, their time"
