"""The flow engine: the periodic job `advance_flows` moves every due enrollment on, set-based.

An enrollment sits at a step with a due time. Arriving at a step sets it (a wait: its end; an event
wait: its timeout; anything else: now). When it is due, the step is done: an email (or a text) is added to
the step's campaign, a condition picks its branch, an update changes the person, a wait just ends. Each
done step is written once (flow_step_runs, unique per enrollment and step) in the same transaction
that moves the enrollment on, so a worker killed mid-step leaves nothing half done: the next tick
does the step again from the start, and an email's recipient row (unique per campaign and person)
makes sure nobody gets it twice.

A tick claims due enrollments in batches (FOR UPDATE SKIP LOCKED on PostgreSQL: several workers
share the work), groups them by step, runs each group with a few queries, and repeats until nothing
is due or its time is up, so a chain of instant steps goes through in one tick.
"""

import time as clock
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from rq import Retry
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import (
    CustomerEvent,
    Flow,
    FlowEnrollment,
    FlowStepRun,
    FlowVersion,
    ListSubscriber,
    Segment,
    Subscriber,
    SubscriberTag,
)
from app.queueing import DEFAULT, enqueue
from app.services.audience import contacts, segments, tags
from app.services.audience.segment_sql import json_text
from app.services.automation import flow_sends, flow_texts
from app.services.errors import DomainError
from app.services.events import send_time

BATCH = 2000
TICK_SECONDS = 8.0  # one tick's budget; the job runs every 10 s, so due steps start within 15 s
WEBHOOK_RETRY = Retry(max=4, interval=[10, 60, 300, 1800])
_fe = FlowEnrollment


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Due:
    id: int
    workspace_id: int
    flow_id: int
    version_id: int
    subscriber_id: int
    step_id: str
    context: dict
    cycle: int
    entered_at: datetime


@dataclass
class Move:
    row: Due
    outcome: str
    next_step: str | None
    end: str = "completed"  # the status when there is no next step


class Tick:
    """One batch's work: the moves and postponements its steps decide, written together."""

    def __init__(self, rows: list[Due], now: datetime):
        self.rows, self.now = rows, now
        self.moves: list[Move] = []
        self.later: list[tuple[Due, datetime]] = []
        self.versions = {
            v.id: v
            for v in db.session.scalars(select(FlowVersion).where(FlowVersion.id.in_({r.version_id for r in rows})))
        }
        self.flows = {f.id: f for f in db.session.scalars(select(Flow).where(Flow.id.in_({r.flow_id for r in rows})))}
        self.zones = dict(
            db.session.execute(
                select(Subscriber.id, Subscriber.timezone).where(Subscriber.id.in_({r.subscriber_id for r in rows}))
            ).all()
        )

    def run(self) -> Counter:
        groups: dict[tuple[int, str], list[Due]] = defaultdict(list)
        for r in self.rows:
            groups[(r.version_id, r.step_id)].append(r)
        for (version_id, step_id), group in groups.items():
            step = self.versions[version_id].plan.get(step_id)
            if step is None:  # a version never changes; a lost step is a bug, not a reason to loop
                self.moves += [Move(r, "exit: the step is gone", None, "exited") for r in group]
                continue
            HANDLERS[step["type"]](self, step, group)
        self._write()
        return Counter(m.outcome.split(":")[0] for m in self.moves)

    def move(self, rows, outcome: str, step: dict, branch: str = "next") -> None:
        self.moves += [Move(r, outcome, step.get(branch)) for r in rows]

    # ---- writing ------------------------------------------------------------------------------

    def _best_times(self) -> dict:
        """Send-time scores of everyone arriving at a best-time wait, one query per workspace."""
        wanted: dict[int, set[int]] = defaultdict(set)
        for m in self.moves:
            step = self.versions[m.row.version_id].plan.get(m.next_step) if m.next_step else None
            if step and step["type"] == "wait" and step.get("best_time"):
                wanted[m.row.workspace_id].add(m.row.subscriber_id)
        best: dict = {}
        for ws, people in wanted.items():
            best |= send_time.scores(ws, sorted(people), self.now)
        return best

    def _write(self) -> None:
        if self.moves:
            insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
            runs = [{"enrollment_id": m.row.id, "flow_id": m.row.flow_id, "step_id": m.row.step_id,
                     "outcome": m.outcome[:60], "ran_at": self.now} for m in self.moves]  # fmt: skip
            db.session.execute(insert(FlowStepRun).on_conflict_do_nothing(), runs)
        by_due: dict[tuple, list[int]] = defaultdict(list)
        ended: dict[tuple, list[int]] = defaultdict(list)
        best = self._best_times()
        for m in self.moves:
            if m.next_step is None:
                ended[(m.end, m.outcome if m.end == "exited" else None)].append(m.row.id)
                continue
            plan = self.versions[m.row.version_id].plan
            due = arrival(plan[m.next_step], m.row, self.zones.get(m.row.subscriber_id), self.now, best)
            by_due[(m.next_step, due)].append(m.row.id)
        for row, due in self.later:
            by_due[(row.step_id, due)].append(row.id)
        for (step_id, due), ids in by_due.items():
            db.session.execute(update(_fe).where(_fe.id.in_(ids)).values(step_id=step_id, due_at=due))
        for (status, reason), ids in ended.items():
            db.session.execute(
                update(_fe).where(_fe.id.in_(ids))
                .values(status=status, step_id=None, due_at=None, finished_at=self.now, exit_reason=reason)
            )  # fmt: skip


# ---- arriving at a step ------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def arrival(step: dict, row: Due, tz: str | None, now: datetime, best: dict | None = None) -> datetime:
    """When a person arriving at `step` now is due there (`best`: people's send-time scores, computed
    for a whole batch at once; else looked up for this one person)."""
    if step["type"] == "wait":
        if "minutes" in step:
            return now + timedelta(minutes=step["minutes"])
        if "until" in step:
            return next_local_time(now, tz, time.fromisoformat(step["until"]))
        if "event" in step:
            return now + timedelta(hours=step["timeout_hours"])
        if step.get("best_time"):
            person = (best or {}).get(row.subscriber_id)
            if person is None:
                person = send_time.scores(row.workspace_id, [row.subscriber_id], now)[row.subscriber_id]
            return send_time.best_in_window(person, now)
    if step["type"] == "milestone":
        return now + timedelta(hours=step["timeout_hours"])
    return now


def next_local_time(now: datetime, tz: str | None, at: time) -> datetime:
    local = now.astimezone(_zone(tz))
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(timezone.utc)


def first_due(version: FlowVersion, workspace_id: int, subscriber_id: int, tz: str | None, now: datetime) -> datetime:
    """When someone entering the version now is due at its first step."""
    row = Due(0, workspace_id, version.flow_id, version.id, subscriber_id, version.first_step, {}, 1, now)
    return arrival(version.plan[version.first_step], row, tz, now)


# ---- the steps --------------------------------------------------------------------------------------


def _happened(rows: list[Due], event_type: str, name: str | None = None) -> set[int]:
    """The enrollments whose person did `event_type` (a milestone: of that name) since they entered."""
    ce = CustomerEvent
    since = min(r.entered_at for r in rows)
    stmt = select(ce.subscriber_id, ce.occurred_at).where(
        ce.workspace_id == rows[0].workspace_id,
        ce.subscriber_id.in_({r.subscriber_id for r in rows}),
        ce.type == event_type,
        ce.occurred_at >= since,
    )
    if name is not None:
        stmt = stmt.where(json_text(ce.properties, "name", '$."name"') == name)
    first: dict[int, datetime] = {}
    for sid, at in db.session.execute(stmt):
        first[sid] = min(first.get(sid, at), at)
    return {r.id for r in rows if r.subscriber_id in first and _aware(first[r.subscriber_id]) >= _aware(r.entered_at)}


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _wait(tick: Tick, step: dict, rows: list[Due]) -> None:
    if "event" in step:
        did = _happened(rows, step["event"])
        tick.move([r for r in rows if r.id in did], "event", step)
        tick.move([r for r in rows if r.id not in did], "timeout", step)
    else:
        tick.move(rows, "waited", step)


def _milestone(tick: Tick, step: dict, rows: list[Due]) -> None:
    did = _happened(rows, "milestone_reached", step["name"])
    tick.move([r for r in rows if r.id in did], "reached", step)
    tick.move([r for r in rows if r.id not in did], "timeout", step)


def _condition(tick: Tick, step: dict, rows: list[Due]) -> None:
    cond = step["if"]
    if "event" in cond:
        yes = _happened(rows, cond["event"])
    elif "milestone" in cond:
        yes = _happened(rows, "milestone_reached", cond["milestone"])
    else:
        rules = cond.get("rules")
        if "segment_id" in cond:
            segment = db.session.get(Segment, cond["segment_id"])
            rules = segments.clean_or_none(rows[0].workspace_id, segment.rules) if segment is not None else None
        ws = rows[0].workspace_id
        matching = set() if rules is None else set(
            db.session.scalars(
                select(Subscriber.id).where(
                    Subscriber.id.in_({r.subscriber_id for r in rows}), segments.condition(ws, rules)
                )
            )
        )  # fmt: skip
        yes = {r.id for r in rows if r.subscriber_id in matching}
    tick.move([r for r in rows if r.id in yes], "yes", step, "yes")
    tick.move([r for r in rows if r.id not in yes], "no", step, "no")


def in_quiet_hours(quiet: dict | None, tz: str | None, now: datetime) -> datetime | None:
    """The end of the quiet hours the person is in now (their timezone), or None when they are not."""
    if not quiet:
        return None
    hour = now.astimezone(_zone(tz)).hour
    start, end = quiet["start"], quiet["end"]
    quiet_now = start <= hour < end if start < end else (hour >= start or hour < end)
    return next_local_time(now, tz, time(end, 0)) if quiet_now else None


def _email(tick: Tick, step: dict, rows: list[Due]) -> None:
    flow = tick.flows[rows[0].flow_id]
    ready = []
    for r in rows:
        wake = (
            None
            if step.get("transactional")
            else in_quiet_hours(flow.quiet_hours, tick.zones.get(r.subscriber_id), tick.now)
        )
        if wake is not None:
            tick.later.append((r, wake))
        else:
            ready.append(r)
    by_cycle: dict[int, list[Due]] = defaultdict(list)
    for r in ready:
        by_cycle[r.cycle].append(r)
    for cycle, group in by_cycle.items():
        try:
            campaign = flow_sends.step_campaign(flow, group[0].version_id, step, cycle)
            outcomes = flow_sends.add_recipients(campaign, {r.subscriber_id: _message_context(r) for r in group})
        except DomainError as exc:  # a template deleted, no sender: recorded on each, and on they go
            tick.move(group, f"failed: {exc.message}", step)
            continue
        for r in group:
            tick.moves.append(Move(r, outcomes.get(r.subscriber_id, "queued"), step.get("next")))


def _sms(tick: Tick, step: dict, rows: list[Due]) -> None:
    """Done once the person's row is written (texted, or skipped with the reason); the send job texts
    them after commit, within the SMS quiet hours of the workspace."""
    flow = tick.flows[rows[0].flow_id]
    by_cycle: dict[int, list[Due]] = defaultdict(list)
    for r in rows:
        by_cycle[r.cycle].append(r)
    for cycle, group in by_cycle.items():
        try:
            campaign = flow_texts.step_campaign(flow, group[0].version_id, step, cycle)
            outcomes = flow_texts.add_people(campaign, {r.subscriber_id: _message_context(r) for r in group})
        except DomainError as exc:  # no Twilio provider any more: recorded on each, and on they go
            tick.move(group, f"failed: {exc.message}", step)
            continue
        for r in group:
            tick.moves.append(Move(r, outcomes.get(r.subscriber_id, "queued"), step.get("next")))


def _message_context(row: Due) -> dict:
    """What the email (or text) may show besides the person: the trigger's event (a cart's items…), and
    what the app sent with POST /flows/{id}/enroll (`data`)."""
    context = row.context or {}
    return {"event": context.get("event") or {}, "data": context.get("api") or {},
            "flow": {"entered_at": row.entered_at.isoformat()}}  # fmt: skip


def _update(tick: Tick, step: dict, rows: list[Due]) -> None:
    ws = rows[0].workspace_id
    ids = [r.subscriber_id for r in rows]
    if step.get("attributes"):
        for person in db.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids))):
            person.attributes = {**(person.attributes or {}), **step["attributes"]}
    if step.get("add_tags"):
        tags.tag_subscribers(ws, ids, step["add_tags"])
    if step.get("remove_tags"):  # the people are the workspace's (their enrollments are): one DELETE
        db.session.execute(
            delete(SubscriberTag).where(
                SubscriberTag.subscriber_id.in_(ids), SubscriberTag.tag.in_(tags.clean_tags(step["remove_tags"]))
            )
        )
    if step.get("add_to_list"):
        contacts.add_to_list(ws, step["add_to_list"], ids)
    if step.get("remove_from_list"):  # a list of the workspace's (checked when the flow was saved)
        db.session.execute(
            delete(ListSubscriber).where(
                ListSubscriber.list_id == step["remove_from_list"], ListSubscriber.subscriber_id.in_(ids)
            )
        )
    if step.get("unsubscribe"):  # a sunset, rare: the one unsubscribe path, person by person
        detail = f"Sunset by the flow “{tick.flows[rows[0].flow_id].name}”"[:1000]
        stmt = select(Subscriber).where(Subscriber.id.in_(ids), Subscriber.status.in_(("active", "pending")))
        for person in db.session.scalars(stmt).all():
            contacts.unsubscribe(person, detail=detail, source="flow")
    tick.move(rows, "updated", step)


def _webhook(tick: Tick, step: dict, rows: list[Due]) -> None:
    """Called by a job after commit, one per person and step (its job id is the key: queued once)."""
    for r in rows:
        enqueue("flow_webhook", r.id, r.step_id, queue=DEFAULT, job_id=f"flow-webhook-{r.id}-{r.step_id}",
                retry=WEBHOOK_RETRY)  # fmt: skip
    tick.move(rows, "called", step)


def _exit(tick: Tick, step: dict, rows: list[Due]) -> None:
    tick.moves += [Move(r, "exit", None, "exited") for r in rows]


HANDLERS = {
    "wait": _wait,
    "milestone": _milestone,
    "condition": _condition,
    "email": _email,
    "update": _update,
    "webhook": _webhook,
    "sms": _sms,
    "exit": _exit,
}


# ---- the tick ---------------------------------------------------------------------------------------


def _claim(now: datetime, limit: int) -> list[Due]:
    stmt = (
        select(
            _fe.id,
            _fe.workspace_id,
            _fe.flow_id,
            _fe.version_id,
            _fe.subscriber_id,
            _fe.step_id,
            _fe.context,
            _fe.cycle,
            _fe.entered_at,
        )  # fmt: skip
        .where(
            _fe.status == "active", _fe.due_at <= now, _fe.flow_id.in_(select(Flow.id).where(Flow.status == "active"))
        )
        .order_by(_fe.due_at, _fe.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=_fe, skip_locked=True)
    return [Due(*row) for row in db.session.execute(stmt)]


def advance(now: datetime | None = None, budget: float = TICK_SECONDS, batch: int = BATCH) -> dict:
    """Move every due enrollment on (steps that end in another instant step go on within the tick).
    `now`: the tick's time (tests move it forward to end waits)."""
    started, counts = clock.monotonic(), Counter()
    now = now or _now()
    while clock.monotonic() - started < budget:
        rows = _claim(now, batch)
        if not rows:
            break
        counts.update(Tick(rows, now).run())
        db.session.commit()
    db.session.commit()
    return dict(counts)


# ---- events that move people ---------------------------------------------------------------------


def wake_waiting(workspace_id: int, events) -> int:
    """People waiting at an event wait (or a milestone) for an event just stored are due now."""
    by_type: dict[str, set[int]] = defaultdict(set)
    milestones: dict[str, set[int]] = defaultdict(set)
    for e in events:
        by_type[e.type].add(e.subscriber_id)
        if e.type == "milestone_reached" and isinstance((e.properties or {}).get("name"), str):
            milestones[e.properties["name"]].add(e.subscriber_id)
    woken = 0
    flows = select(Flow.id).where(Flow.workspace_id == workspace_id, Flow.status == "active")
    for version in db.session.scalars(select(FlowVersion).where(FlowVersion.flow_id.in_(flows))):
        for step_id, step in version.plan.items():
            people = set()
            if step["type"] == "wait" and step.get("event") in by_type:
                people = by_type[step["event"]]
            elif step["type"] == "milestone" and step["name"] in milestones:
                people = milestones[step["name"]]
            if people:
                woken += db.session.execute(
                    update(_fe)
                    .where(_fe.version_id == version.id, _fe.step_id == step_id, _fe.status == "active",
                           _fe.subscriber_id.in_(people), _fe.due_at > _now())
                    .values(due_at=_now())
                ).rowcount  # fmt: skip
    return woken


def _event_time(context: dict) -> datetime:
    try:
        return datetime.fromisoformat(context["event"]["occurred_at"])
    except (KeyError, TypeError, ValueError):
        return _now()


def restart(flow: Flow, latest: dict[int, dict]) -> None:
    """A trigger event again while inside (a cart changed): the enrollment shows the newest event, and
    one still at its first step waits again from now (an abandoned cart is idle from its last change)."""
    rows = db.session.execute(
        select(_fe.id, _fe.subscriber_id, _fe.step_id, _fe.version_id, _fe.context).where(
            _fe.flow_id == flow.id, _fe.status == "active", _fe.subscriber_id.in_(list(latest))
        )
    ).all()
    zones = dict(
        db.session.execute(select(Subscriber.id, Subscriber.timezone).where(Subscriber.id.in_(list(latest)))).all()
    )
    for eid, sid, step_id, version_id, context in rows:
        values = {"context": {**(context or {}), **latest[sid]}}
        version = db.session.get(FlowVersion, version_id)
        if step_id == version.first_step:  # idle since the event: its time, not ours, starts the wait
            values["due_at"] = first_due(version, flow.workspace_id, sid, zones.get(sid), _event_time(latest[sid]))
        db.session.execute(update(_fe).where(_fe.id == eid).values(**values))
