"""Flows: a trigger and steps, edited as a draft, activated as a version.

create_flow(ws, data) / update_flow(ws, id, data)   name, trigger, steps, goals, reentry, quiet_hours
activate(ws, id)     a new version from the flow's steps (when they changed): new entrants follow it,
                     people already inside finish the version they started
pause(ws, id)        nobody enters, nobody moves on (its email and SMS campaigns pause); resume with activate
archive(ws, id)      stopped for good: people inside leave (exited: archived)
step_counts(flow)    per step: people waiting there now, and how many did it (sent, skipped…)
"""

from datetime import datetime, timezone

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, Flow, FlowEnrollment, FlowStepRun, FlowVersion, SmsCampaign, SmsRecipient
from app.services.automation import flow_plan, flow_sends, flow_texts
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform import audit
from app.services.sms import lifecycle as sms_lifecycle
from app.transactions import on_commit

STATUSES = ("draft", "active", "paused", "archived")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _name(value) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError("name: Give the flow a name.", {"name": "Give the flow a name."})
    if len(name) > 200:
        raise ValidationError("name: At most 200 characters.", {"name": "At most 200 characters."})
    return name


def _clean(workspace_id: int, data: dict, flow: Flow | None) -> dict:
    if not isinstance(data, dict):
        raise ValidationError("The flow must be a JSON object.")
    out = {}
    if flow is None or "name" in data:
        out["name"] = _name(data.get("name"))
    if flow is None or "trigger" in data:
        out["trigger"] = flow_plan.clean_trigger(workspace_id, data.get("trigger"))
    if flow is None or "steps" in data:
        out["steps"] = flow_plan.clean_steps(workspace_id, data.get("steps") or [])
    if "goals" in data or flow is None:
        out["goals"] = flow_plan.clean_goals(data.get("goals") or [])
    if "reentry" in data or flow is None:
        out["reentry"] = flow_plan.clean_reentry(data.get("reentry"))
    if "quiet_hours" in data:
        out["quiet_hours"] = flow_plan.clean_quiet_hours(data.get("quiet_hours"))
    return out


def create_flow(workspace_id: int, data: dict, recipe: str | None = None) -> Flow:
    values = _clean(workspace_id, data, None)
    flow = Flow(workspace_id=workspace_id, status="draft", recipe=recipe, **values)
    db.session.add(flow)
    db.session.flush()
    audit.record(workspace_id, "flow.create", "flow", flow.id, {"name": flow.name})
    return flow


def update_flow(workspace_id: int, flow_id, data: dict) -> Flow:
    """Edit the draft of the flow; a live flow keeps running its version until activated again."""
    flow = get_flow(workspace_id, flow_id)
    if flow.status == "archived":
        raise InvalidState("An archived flow can no longer be edited: duplicate it instead.")
    for key, value in _clean(workspace_id, data, flow).items():
        setattr(flow, key, value)
    flow.updated_at = _now()
    db.session.flush()
    return flow


def get_flow(workspace_id: int, flow_id) -> Flow:
    flow = db.session.scalar(select(Flow).where(Flow.id == as_id(flow_id), Flow.workspace_id == workspace_id))
    if flow is None:
        raise NotFound("No such flow.")
    return flow


def list_flows(workspace_id: int, status: str | None = None):
    stmt = select(Flow).where(Flow.workspace_id == workspace_id)
    if status in STATUSES:
        stmt = stmt.where(Flow.status == status)
    return stmt.order_by(Flow.id.desc())


def current_version(flow: Flow) -> FlowVersion | None:
    return db.session.get(FlowVersion, flow.version_id) if flow.version_id else None


def activate(workspace_id: int, flow_id) -> Flow:
    """Start (or resume) the flow; its steps become a new version when they differ from the live one."""
    flow = get_flow(workspace_id, flow_id)
    if flow.status == "archived":
        raise InvalidState("An archived flow cannot be started again.")
    if not flow.steps:
        raise ValidationError("steps: Add at least one step before starting the flow.", {"steps": "Add a step."})
    _check_senders(flow)
    live = current_version(flow)
    if live is None or live.steps != flow.steps or live.trigger != flow.trigger:
        number = (
            db.session.scalar(select(func.max(FlowVersion.number)).where(FlowVersion.flow_id == flow.id)) or 0
        ) + 1
        plan, first = flow_plan.plan_of(flow.steps)
        live = FlowVersion(flow_id=flow.id, number=number, trigger=flow.trigger, steps=flow.steps, plan=plan,
                           first_step=first)  # fmt: skip
        db.session.add(live)
        db.session.flush()
        flow.version_id = live.id
    was = flow.status
    flow.status = "active"
    flow.activated_at = flow.activated_at if was == "paused" else _now()
    _set_campaigns(flow, "sending")
    if was == "paused":
        _requeue(flow)
    audit.record(workspace_id, "flow.activate", "flow", flow.id, {"version": live.number, "was": was})
    db.session.flush()
    from app.services.automation import enrollment  # a flow starting may take in people already waiting

    enrollment.on_activate(flow)
    return flow


def _check_senders(flow: Flow) -> None:
    """Every email step has a From (its own, or the workspace's usual sender), and every SMS step a
    Twilio provider, before anyone enters."""
    plan, _first = flow_plan.plan_of(flow.steps)
    for step_id, step in plan.items():
        if step["type"] == "email":
            try:
                flow_sends.sender_of(flow.workspace_id, step)
            except ValidationError as exc:
                raise ValidationError(
                    f"Email step {step_id}: {exc.message}", {f"steps.{step_id}.from_email": exc.message}
                ) from None
        elif step["type"] == "sms":
            try:
                flow_texts.provider_of(flow.workspace_id, step)
            except ValidationError as exc:
                raise ValidationError(
                    f"Text message step {step_id}: {exc.message}", {f"steps.{step_id}.provider_id": exc.message}
                ) from None


def delete_flow(workspace_id: int, flow_id) -> None:
    """A draft nobody entered goes; a flow that ran is archived instead (its emails and figures stay)."""
    flow = get_flow(workspace_id, flow_id)
    entered = db.session.scalar(select(func.count()).where(FlowEnrollment.flow_id == flow.id))
    if flow.status != "draft" or entered:
        raise InvalidState("This flow has run: archive it instead (its emails and figures stay).")
    audit.record(workspace_id, "flow.delete", "flow", flow.id, {"name": flow.name})
    db.session.delete(flow)
    db.session.flush()


def pause(workspace_id: int, flow_id) -> Flow:
    flow = get_flow(workspace_id, flow_id)
    if flow.status != "active":
        raise InvalidState(f"A {flow.status} flow cannot be paused.")
    flow.status = "paused"
    _set_campaigns(flow, "paused")
    audit.record(workspace_id, "flow.pause", "flow", flow.id, {})
    db.session.flush()
    return flow


def archive(workspace_id: int, flow_id) -> Flow:
    """Stop for good: everyone inside leaves; the flow's emails and figures stay."""
    flow = get_flow(workspace_id, flow_id)
    flow.status = "archived"
    db.session.execute(
        update(FlowEnrollment)
        .where(FlowEnrollment.flow_id == flow.id, FlowEnrollment.status == "active")
        .values(status="exited", finished_at=_now(), exit_reason="the flow was archived", due_at=None)
    )
    _set_campaigns(flow, "sent")
    audit.record(workspace_id, "flow.archive", "flow", flow.id, {})
    db.session.flush()
    return flow


def _set_campaigns(flow: Flow, status: str) -> None:
    """The flow's email and SMS campaigns follow it: sending while it runs, paused with it, sent once
    archived (its texts not handed to Twilio yet are then skipped, cancelled, as a cancelled campaign's)."""
    values = {"status": status}
    if status == "sent":
        values["completed_at"] = _now()
        texts = select(SmsCampaign.id).where(SmsCampaign.flow_id == flow.id)
        db.session.execute(
            update(SmsRecipient)
            .where(SmsRecipient.campaign_id.in_(texts), SmsRecipient.status == "pending")
            .values(status="skipped", skip_reason="cancelled", updated_at=_now())
        )
    for model in (Campaign, SmsCampaign):
        db.session.execute(
            update(model).where(model.flow_id == flow.id, model.status.in_(("sending", "paused"))).values(**values)
        )


def _requeue(flow: Flow) -> None:
    """Resumed: the emails its pause held (pending rows) are queued again, after commit."""
    from flask import current_app

    from app.services.campaigns import dispatch, recipients

    size = current_app.config["SEND_BATCH_SIZE"]
    stamp = int(_now().timestamp())
    for campaign_id in db.session.scalars(select(Campaign.id).where(Campaign.flow_id == flow.id)).all():
        ranges = recipients.batch_ranges(campaign_id, size)
        if ranges:
            on_commit(lambda cid=campaign_id, r=ranges: dispatch.enqueue_batches(cid, r, suffix=f"-resume{stamp}"))
    _requeue_texts(flow)


def _requeue_texts(flow: Flow) -> None:
    """Resumed: the texts its pause held are queued again (a new send round: new job ids), after commit."""
    held = select(SmsRecipient.id).where(SmsRecipient.campaign_id == SmsCampaign.id, SmsRecipient.status == "pending")
    for campaign in db.session.scalars(select(SmsCampaign).where(SmsCampaign.flow_id == flow.id, held.exists())):
        campaign.send_round = (campaign.send_round or 0) + 1
        db.session.flush()
        sms_lifecycle.enqueue_send(campaign.id)


def step_counts(flow: Flow) -> dict[str, dict]:
    """{step id: {"waiting": people there now, "done": runs, "outcomes": {outcome: n}}} in two grouped queries."""
    counts: dict[str, dict] = {}
    waiting = db.session.execute(
        select(FlowEnrollment.step_id, func.count())
        .where(FlowEnrollment.flow_id == flow.id, FlowEnrollment.status == "active")
        .group_by(FlowEnrollment.step_id)
    )
    for step_id, n in waiting:
        counts.setdefault(step_id, {"waiting": 0, "done": 0, "outcomes": {}})["waiting"] = n
    runs = db.session.execute(
        select(FlowStepRun.step_id, FlowStepRun.outcome, func.count())
        .where(FlowStepRun.flow_id == flow.id)
        .group_by(FlowStepRun.step_id, FlowStepRun.outcome)
    )
    for step_id, outcome, n in runs:
        entry = counts.setdefault(step_id, {"waiting": 0, "done": 0, "outcomes": {}})
        entry["done"] += n
        entry["outcomes"][outcome] = n
    return counts


def enrollment_counts(flow: Flow) -> dict[str, int]:
    """entered, active, completed, goal, exited."""
    rows = dict(
        db.session.execute(
            select(FlowEnrollment.status, func.count())
            .where(FlowEnrollment.flow_id == flow.id)
            .group_by(FlowEnrollment.status)
        ).all()
    )
    out = {s: rows.get(s, 0) for s in ("active", "completed", "goal", "exited")}
    out["entered"] = sum(rows.values())
    return out
