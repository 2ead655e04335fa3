"""Who enters a flow, and who leaves it early.

    on_events(ws, events)   customer events (customer_events.after_ingest): event triggers enroll the
                            people who did it; goals reached end their enrollments; people waiting for
                            that event move on at the next tick
    scan()                  the periodic job: people who joined a trigger's list, entered its segment,
                            or whose date (birthday…) is today
    enroll_api(ws, flow, …) POST /flows/{id}/enroll
    on_activate(flow)       a segment trigger's current members are the baseline (they did not "enter"),
                            unless the trigger says include_existing

Entering is set-based and guarded twice: re-entry rules (once, or again after N days) are read for
every candidate in one query, and a partial unique index allows one active enrollment per person and
flow, so two triggers racing enroll the person once.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import Flow, FlowEnrollment, FlowVersion, ListSubscriber, Subscriber
from app.services.audience import segments
from app.services.audience.segment_sql import json_text
from app.services.automation import flow_engine
from app.services.errors import InvalidState, NotFound, ValidationError

BASELINE = "baseline"  # a segment's members when the flow started: never "entered"
SCAN_LIMIT = 10_000  # people enrolled per trigger per scan (the next scan takes the rest)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Event:
    id: int
    subscriber_id: int
    type: str
    properties: dict
    occurred_at: datetime


def _insert():
    return pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def enroll(flow: Flow, people: dict[int, dict], now: datetime | None = None) -> list[int]:
    """Enroll these people ({subscriber id: context}) in the flow's live version, as its re-entry rules
    allow; returns the subscriber ids that entered. Only active subscribers enter."""
    if not people or flow.status != "active" or not flow.version_id:
        return []
    now = now or _now()
    allowed = _allowed(flow, list(people), now)
    if not allowed:
        return []
    version = db.session.get(FlowVersion, flow.version_id)
    cycles = _cycles(flow.id, allowed)
    zones = dict(db.session.execute(select(Subscriber.id, Subscriber.timezone).where(Subscriber.id.in_(allowed))).all())
    rows = [
        {"workspace_id": flow.workspace_id, "flow_id": flow.id, "version_id": version.id, "subscriber_id": sid,
         "status": "active", "step_id": version.first_step, "context": people[sid] or {},
         "due_at": flow_engine.first_due(version, flow.workspace_id, sid, zones.get(sid), now),
         "cycle": cycles.get(sid, 0) + 1, "entered_at": now}
        for sid in allowed
    ]  # fmt: skip
    db.session.execute(_insert()(FlowEnrollment).on_conflict_do_nothing(), rows)
    return list(
        db.session.scalars(
            select(FlowEnrollment.subscriber_id).where(
                FlowEnrollment.flow_id == flow.id,
                FlowEnrollment.status == "active",
                FlowEnrollment.entered_at == now,
                FlowEnrollment.subscriber_id.in_(allowed),
            )
        )
    )


def _allowed(flow: Flow, candidates: list[int], now: datetime) -> list[int]:
    """Active subscribers of the workspace whom the re-entry rules let in now."""
    active = set(
        db.session.scalars(
            select(Subscriber.id).where(
                Subscriber.id.in_(candidates),
                Subscriber.workspace_id == flow.workspace_id,
                Subscriber.status == "active",
            )
        )
    )
    if not active:
        return []
    fe = FlowEnrollment
    last = dict(
        db.session.execute(
            select(fe.subscriber_id, func.max(fe.entered_at))
            .where(fe.flow_id == flow.id, fe.subscriber_id.in_(active))
            .group_by(fe.subscriber_id)
        ).all()
    )
    inside = set(
        db.session.scalars(
            select(fe.subscriber_id).where(fe.flow_id == flow.id, fe.status == "active", fe.subscriber_id.in_(active))
        )
    )
    reentry = flow.reentry or {"mode": "once"}
    if reentry.get("mode") == "again":
        since = now - timedelta(days=reentry.get("after_days", 0))
        return sorted(s for s in active if s not in inside and (s not in last or _aware(last[s]) <= since))
    return sorted(s for s in active if s not in last)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _cycles(flow_id: int, subscriber_ids: list[int]) -> dict[int, int]:
    fe = FlowEnrollment
    return dict(
        db.session.execute(
            select(fe.subscriber_id, func.count())
            .where(fe.flow_id == flow_id, fe.subscriber_id.in_(subscriber_ids), fe.status != BASELINE)
            .group_by(fe.subscriber_id)
        ).all()
    )


# ---- events --------------------------------------------------------------------------------------


def _active_flows(workspace_id: int) -> list[Flow]:
    return list(db.session.scalars(select(Flow).where(Flow.workspace_id == workspace_id, Flow.status == "active")))


def on_events(workspace_id: int, events: Iterable[Event]) -> dict:
    """Events just stored: goals first (an order ends the abandoned-cart flow it would otherwise start a
    reminder of), then people waiting for the event move on, then event triggers enroll."""
    events = sorted(events, key=lambda e: (e.occurred_at, e.id))
    if not events:
        return {"entered": 0, "goals": 0}
    flows = _active_flows(workspace_id)
    goals = sum(_reach_goals(flow, events) for flow in flows)
    flow_engine.wake_waiting(workspace_id, events)
    entered = 0
    for flow in flows:
        trigger = flow.trigger or {}
        if trigger.get("type") != "event":
            continue
        matching = [e for e in events if e.type == trigger["event"] and matches(e.properties, trigger.get("filters"))]
        if not matching:
            continue
        latest = {e.subscriber_id: {"event": _event_context(e)} for e in matching}  # the newest wins
        if trigger.get("restart"):
            flow_engine.restart(flow, latest)
        entered += len(enroll(flow, latest))
    return {"entered": entered, "goals": goals}


def _event_context(e: Event) -> dict:
    return {"id": e.id, "type": e.type, "properties": e.properties or {}, "occurred_at": e.occurred_at.isoformat()}


def _reach_goals(flow: Flow, events: list[Event]) -> int:
    kinds = {g["event"] for g in flow.goals or []}
    by_person: dict[int, datetime] = {}
    for e in events:
        if e.type in kinds:
            by_person[e.subscriber_id] = min(by_person.get(e.subscriber_id, e.occurred_at), e.occurred_at)
    done = 0
    for sid, at in by_person.items():
        fe = FlowEnrollment
        done += db.session.execute(
            update(fe)
            .where(fe.flow_id == flow.id, fe.subscriber_id == sid, fe.status == "active", fe.entered_at <= at)
            .values(status="goal", finished_at=_now(), due_at=None, exit_reason="goal reached")
        ).rowcount
    return done


def matches(properties: dict, filters) -> bool:
    """An event's properties pass every filter of a trigger."""
    for f in filters or []:
        value = (properties or {}).get(f["property"])
        op, want = f["op"], f["value"]
        if op == "exists":
            ok = value is not None
        elif op in ("gt", "gte", "lt", "lte"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                return False
            ok = {"gt": number > want, "gte": number >= want, "lt": number < want, "lte": number <= want}[op]
        elif op == "contains":
            ok = str(want).lower() in str(value or "").lower()
        else:
            ok = str(value) == str(want) if op == "eq" else str(value) != str(want)
        if not ok:
            return False
    return True


# ---- lists, segments, dates, the API ---------------------------------------------------------------


def on_activate(flow: Flow) -> None:
    """A segment trigger enrolls people who enter the segment from now on: today's members are kept
    as a baseline (finished at once, never counted as entered)."""
    trigger = flow.trigger or {}
    if trigger.get("type") != "segment" or trigger.get("include_existing"):
        return
    fe = FlowEnrollment
    if db.session.scalar(select(func.count()).where(fe.flow_id == flow.id)):
        return  # resumed, or a new version: the baseline was taken when it first started
    members = _segment_members(flow.workspace_id, trigger["segment_id"])
    now = _now()
    columns = ["workspace_id", "flow_id", "version_id", "subscriber_id", "status", "context", "cycle", "entered_at",
               "finished_at"]  # fmt: skip
    rows = select(
        literal(flow.workspace_id), literal(flow.id), literal(flow.version_id), members.c.id, literal(BASELINE),
        literal({}, fe.context.type), literal(0), literal(now, fe.entered_at.type), literal(now, fe.finished_at.type),
    )  # fmt: skip
    db.session.execute(insert(fe).from_select(columns, rows))


def _segment_members(workspace_id: int, segment_id: int):
    from app.models import Segment

    segment = db.session.get(Segment, segment_id)
    rules = segments.clean_or_none(workspace_id, segment.rules) if segment is not None else None
    if rules is None:  # deleted, or its rules no longer hold (a list they named is gone): nobody
        return select(Subscriber.id).where(False).subquery()
    return segments.members(workspace_id, rules).subquery()


def scan(now: datetime | None = None) -> dict:
    """The periodic job: list, segment and date triggers of every active flow."""
    now = now or _now()
    counts = {"list": 0, "segment": 0, "date": 0}
    for flow in db.session.scalars(select(Flow).where(Flow.status == "active")).all():
        kind = (flow.trigger or {}).get("type")
        if kind in counts:
            people = _candidates(flow, kind, now)
            counts[kind] += len(enroll(flow, {sid: {"trigger": kind} for sid in people}, now))
    return counts


def _candidates(flow: Flow, kind: str, now: datetime) -> list[int]:
    fe = FlowEnrollment
    not_in = ~select(fe.id).where(fe.flow_id == flow.id, fe.subscriber_id == Subscriber.id).exists()
    if (flow.reentry or {}).get("mode") == "again":
        since = now - timedelta(days=flow.reentry.get("after_days", 0))
        not_in = (
            ~select(fe.id)
            .where(
                fe.flow_id == flow.id,
                fe.subscriber_id == Subscriber.id,
                (fe.status == "active") | (fe.entered_at > since),
            )
            .exists()
        )
    stmt = select(Subscriber.id).where(
        Subscriber.workspace_id == flow.workspace_id, Subscriber.status == "active", not_in
    )
    trigger = flow.trigger
    if kind == "list":
        joined = and_(ListSubscriber.list_id == trigger["list_id"], ListSubscriber.subscriber_id == Subscriber.id,
                      ListSubscriber.created_at >= flow.activated_at)  # fmt: skip
        stmt = stmt.where(select(ListSubscriber.list_id).where(joined).exists())
    elif kind == "segment":
        stmt = stmt.where(Subscriber.id.in_(select(_segment_members(flow.workspace_id, trigger["segment_id"]).c.id)))
    else:
        day = (now + timedelta(days=-trigger.get("offset_days", 0))).date()
        stmt = stmt.where(_month_day(trigger["attribute"]) == f"{day:%m-%d}")
        if (flow.reentry or {}).get("mode") != "again":  # a birthday comes every year: once a year
            stmt = select(Subscriber.id).where(
                Subscriber.workspace_id == flow.workspace_id, Subscriber.status == "active",
                _month_day(trigger["attribute"]) == f"{day:%m-%d}",
                ~select(fe.id).where(fe.flow_id == flow.id, fe.subscriber_id == Subscriber.id,
                                     fe.entered_at > now - timedelta(days=300)).exists(),
            )  # fmt: skip
    return list(db.session.scalars(stmt.order_by(Subscriber.id).limit(SCAN_LIMIT)))


def _month_day(key: str):
    """MM-DD of a date attribute stored as ISO text (YYYY-MM-DD…)."""
    return func.substr(json_text(Subscriber.attributes, key, f'$."{key}"'), 6, 5)


def enroll_api(workspace_id: int, flow: Flow, subscriber_id: int, context: dict | None) -> bool:
    """POST /flows/{id}/enroll: the flow's trigger must be `api`; False when re-entry rules keep them out."""
    if (flow.trigger or {}).get("type") != "api":
        raise InvalidState("Only a flow whose trigger is the API takes people through this call.")
    if flow.status != "active":
        raise InvalidState("Start the flow first.")
    found = db.session.scalar(
        select(Subscriber.id).where(Subscriber.id == subscriber_id, Subscriber.workspace_id == workspace_id)
    )
    if found is None:
        raise NotFound("No such subscriber.")
    if context is not None and not isinstance(context, dict):
        raise ValidationError("context: An object.", {"context": "An object."})
    return bool(enroll(flow, {found: {"api": context or {}}}))
