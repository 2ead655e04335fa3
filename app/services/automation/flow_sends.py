"""A flow's email step, sent through the campaign pipeline (tracking, suppression, routing, warming
caps, the message trail): one campaign per flow version, step and entry cycle, `sending` while the
flow lives, whose recipient rows are added as people reach the step.

The recipient row's unique key (campaign, subscriber) is the step's key: a tick that dies after
adding rows and runs again adds nothing, and the send batches' atomic claims hand each row off once.
A person entering the flow again (re-entry) is in a new cycle, so in the cycle's own campaign.
"""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import case, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Flow, MailboxDomain, Subscriber
from app.services.campaigns import dispatch, lifecycle
from app.services.campaigns.recipients import Skips, create_links
from app.services.content.templates import get_template
from app.services.delivery import identities, warming_holds
from app.services.delivery.mailbox_cache import email_domain
from app.services.errors import NotFound, ValidationError
from app.transactions import on_commit

_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def sender_of(workspace_id: int, step: dict) -> dict:
    """The From of a flow's email: the step's identity, else its From fields, else the newest
    campaign's sender (the workspace's usual one). ValidationError when there is none."""
    if step.get("identity_id"):
        try:
            identity = identities.get_identity(workspace_id, step["identity_id"])
        except NotFound:
            identity = None
        if identity is not None:
            name, email, reply_to = identities.from_fields(identity)
            return {"from_name": name, "from_email": email, "reply_to": reply_to, "identity_id": identity.id,
                    "provider_id": step.get("provider_id")}  # fmt: skip
    if step.get("from_email"):
        return {"from_name": step.get("from_name") or step["from_email"], "from_email": step["from_email"],
                "reply_to": step.get("reply_to"), "identity_id": None, "provider_id": step.get("provider_id")}  # fmt: skip
    last = db.session.scalar(
        select(Campaign).where(Campaign.workspace_id == workspace_id, Campaign.flow_id.is_(None))
        .order_by(Campaign.id.desc()).limit(1)
    )  # fmt: skip
    if last is None:
        why = "Say who this email is from (from_email, or a sending identity): no campaign shows a usual sender yet."
        raise ValidationError(why, {"from_email": why})
    return {"from_name": last.from_name, "from_email": last.from_email, "reply_to": last.reply_to,
            "identity_id": last.identity_id, "provider_id": step.get("provider_id") or last.provider_id}  # fmt: skip


def step_campaign(flow: Flow, version_id: int, step: dict, cycle: int) -> Campaign:
    """The campaign of (version, step, cycle), made the first time someone reaches it; two workers
    making it at once end with the same one (a unique index)."""
    found = _find(version_id, step["id"], cycle)
    if found is not None:
        return found
    tpl = get_template(flow.workspace_id, step["template_id"])
    label = step.get("label") or f"email {step['id']}"
    campaign = Campaign(
        workspace_id=flow.workspace_id, name=f"{flow.name} · {label}"[:200], template_id=tpl.id,
        category="transactional" if step.get("transactional") else tpl.category, status="sending",
        flow_id=flow.id, flow_version_id=version_id, flow_step_id=step["id"], flow_cycle=cycle,
        started_at=_now(), **sender_of(flow.workspace_id, step),
    )  # fmt: skip
    campaign.snapshot = lifecycle.template_content(tpl)
    if step.get("subject"):
        campaign.snapshot["subject"] = step["subject"]
    try:
        with db.session.begin_nested():
            db.session.add(campaign)
            db.session.flush()
            create_links(campaign)
    except IntegrityError:
        return _find(version_id, step["id"], cycle)
    return campaign


def _find(version_id: int, step_id: str, cycle: int) -> Campaign | None:
    return db.session.scalar(
        select(Campaign).where(
            Campaign.flow_version_id == version_id, Campaign.flow_step_id == step_id, Campaign.flow_cycle == cycle
        )
    )


def add_recipients(campaign: Campaign, people: dict[int, dict]) -> dict[int, str]:
    """Add these people ({subscriber id: context the message may show}) to the step's campaign and queue
    their batch after commit; {subscriber id: "queued" | the reason they were skipped}."""
    if not people:
        return {}
    md = MailboxDomain.__table__
    skip = Skips(campaign)
    reason = skip.reason()
    rows = db.session.execute(
        select(_sub.c.id, _sub.c.email, reason, md.c.group)
        .select_from(skip.joined(_sub).outerjoin(md, md.c.domain == email_domain(_sub.c.email)))
        .where(_sub.c.id.in_(list(people)), _sub.c.workspace_id == campaign.workspace_id)
    ).all()
    now = _now()
    values = [
        {"campaign_id": campaign.id, "subscriber_id": sid, "email": email, "status": "failed" if why else "pending",
         "reason": why, "created_at": now, "mailbox_provider": group, "context": people.get(sid) or {}}
        for sid, email, why, group in rows
    ]  # fmt: skip
    if values:
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.session.execute(insert(_cr).on_conflict_do_nothing(), values)
    db.session.flush()
    warming_holds.hold_for_warming(campaign)
    _queue(campaign.id, list(people))
    return _outcomes(campaign.id, list(people))


def _queue(campaign_id: int, subscriber_ids: list[int]) -> None:
    ids = db.session.execute(
        select(_cr.c.id).where(
            _cr.c.campaign_id == campaign_id, _cr.c.subscriber_id.in_(subscriber_ids), _cr.c.status == "pending"
        ).order_by(_cr.c.id)
    ).scalars().all()  # fmt: skip
    size = current_app.config["SEND_BATCH_SIZE"]
    ranges = [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    if ranges:  # after commit: a fast worker must find the rows
        on_commit(lambda: dispatch.enqueue_batches(campaign_id, ranges, suffix=f"-f{ids[0]}"))


def _outcomes(campaign_id: int, subscriber_ids: list[int]) -> dict[int, str]:
    rows = db.session.execute(
        select(_cr.c.subscriber_id, case((_cr.c.status == "failed", _cr.c.reason), else_=literal("queued"))).where(
            _cr.c.campaign_id == campaign_id, _cr.c.subscriber_id.in_(subscriber_ids)
        )
    )
    found = {sid: ("queued" if outcome == "queued" else f"skipped: {outcome}") for sid, outcome in rows}
    return {sid: found.get(sid, "skipped: not a subscriber any more") for sid in subscriber_ids}
