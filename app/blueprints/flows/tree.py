"""The editor's changes to a flow's steps (a tree: a condition holds "yes" and "no" lists), as pure
functions on a copy, and where in the tree a validation error points.

A place to add a step is written `start` (the top of the flow), `start:s4.yes` (the top of a branch)
or `after:s2`. Ids stay as they are: flow_plan keeps the ids it is given, so people inside a live flow
keep their place and the counts stay with their step.
"""

import copy
import re

STEP_ID = re.compile(r"^s[0-9]{1,6}$")
BRANCHES = ("yes", "no")


def walk(steps: list):
    """Every step, top to bottom, branches in order."""
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            yield step
            for branch in BRANCHES:
                yield from walk(step.get(branch) or [])


def find(steps: list, step_id: str) -> tuple[list, int] | None:
    """The list holding the step, and its index there."""
    for index, step in enumerate(steps):
        if step.get("id") == step_id:
            return steps, index
        for branch in BRANCHES:
            found = find(step.get(branch) or [], step_id) if step.get("type") == "condition" else None
            if found:
                return found
    return None


def next_id(steps: list) -> str:
    """An id no step of the tree has: one more than the highest."""
    numbers = [int(s["id"][1:]) for s in walk(steps) if isinstance(s.get("id"), str) and STEP_ID.match(s["id"])]
    return f"s{max(numbers, default=0) + 1}"


def _list_at(steps: list, place: str) -> tuple[list, int] | None:
    """The list a place is in and the index a new step goes to; None when the place is gone."""
    if place == "start":
        return steps, 0
    kind, _, ref = place.partition(":")
    if kind == "after":
        found = find(steps, ref)
        return (found[0], found[1] + 1) if found else None
    if kind == "start":
        step_id, _, branch = ref.partition(".")
        found = find(steps, step_id)
        if found and branch in BRANCHES and found[0][found[1]].get("type") == "condition":
            return found[0][found[1]].setdefault(branch, []), 0
    return None


def insert(steps: list, place: str, step: dict) -> list | None:
    """The tree with `step` added at `place`; None when the place does not exist (any more)."""
    tree = copy.deepcopy(steps)
    spot = _list_at(tree, place)
    if spot is None:
        return None
    items, index = spot
    items.insert(index, step)
    return tree


def move(steps: list, step_id: str, direction: str | None = None, to: int | None = None) -> list | None:
    """The tree with the step one place up or down, or at index `to`, within its own list (its
    branches go with it); None when there is no such step."""
    tree = copy.deepcopy(steps)
    found = find(tree, step_id)
    if found is None:
        return None
    items, index = found
    if to is None:
        to = index - 1 if direction == "up" else index + 1
    to = max(0, min(to, len(items) - 1))
    items.insert(to, items.pop(index))
    return tree


def remove(steps: list, step_id: str) -> list | None:
    """The tree without the step (and, for a condition, both its branches)."""
    tree = copy.deepcopy(steps)
    found = find(tree, step_id)
    if found is None:
        return None
    items, index = found
    del items[index]
    return tree


def replace(steps: list, step_id: str, new: dict) -> list | None:
    """The tree with the step's settings replaced; a condition keeps its branches."""
    tree = copy.deepcopy(steps)
    found = find(tree, step_id)
    if found is None:
        return None
    items, index = found
    old = items[index]
    step = {**new, "id": step_id}
    if step.get("type") == "condition":
        for branch in BRANCHES:
            step[branch] = (old.get(branch) or []) if old.get("type") == "condition" else []
    items[index] = step
    return tree


def locate(steps: list, key: str) -> tuple[str | None, str]:
    """Which step an error key names and the field inside it: `steps.2.yes.0.days` -> ("s7", "days");
    `steps.s3.from_email` (activation's checks name steps by id) -> ("s3", "from_email"); (None, key)
    when it names no step."""
    parts = key.split(".")
    if len(parts) < 2 or parts[0] != "steps":
        return None, key
    if STEP_ID.match(parts[1]):
        return (parts[1] if find(steps, parts[1]) else None), ".".join(parts[2:])
    items, step, rest = steps, None, parts[1:]
    while rest and rest[0].isdigit():
        index = int(rest[0])
        if not isinstance(items, list) or index >= len(items) or not isinstance(items[index], dict):
            break
        step, rest = items[index], rest[1:]
        if rest and rest[0] in BRANCHES and len(rest) > 1 and rest[1].isdigit():
            items, rest = step.get(rest[0]) or [], rest[1:]
        else:
            break
    if step is None:
        return None, key
    return step.get("id"), ".".join(rest)


def errors_by_step(steps: list, errors: dict) -> tuple[dict[str, dict], dict]:
    """Split a ValidationError's fields: {step id: {field: message}} for those that name a step, and
    the rest (the trigger's, the name's, the flow's as a whole)."""
    by_step: dict[str, dict] = {}
    rest = {}
    for key, message in (errors or {}).items():
        step_id, field = locate(steps, key)
        if step_id:
            by_step.setdefault(step_id, {})[field or "form"] = message
        else:
            rest[key] = message
    return by_step, rest
