"""Who a flow reached, for the API: its emails (the recipient rows of its step campaigns) and its
enrollments, a page at a time, newest first; and a person named by email or id enrolled through the API.

    sends(flow, page, per_page)                         [(recipient row, step id)], total
    version_numbers(ids)                                {version id: number} of a page of flows
    enrollments(flow, status, page, per_page)           [(enrollment, email, version number)], total
    enroll_person(ws, flow_id, email, subscriber_id, context)   (entered?, subscriber id)

A segment trigger's baseline rows (the members when the flow started, who never entered) are not
enrollments anyone sees.
"""

import json

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Flow, FlowEnrollment, FlowVersion, Subscriber
from app.services.audience.subscriber_fields import normalize_email
from app.services.automation import enrollment, flows
from app.services.errors import InvalidState, ValidationError
from app.services.ids import as_id
from app.services.pagination import MAX_PAGE, MAX_PER_PAGE

ENROLLMENT_STATUSES = ("active", "completed", "goal", "exited")
MAX_CONTEXT_BYTES = 16 * 1024


def _window(page: int, per_page: int) -> tuple[int, int]:
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    return per_page, (max(1, min(page, MAX_PAGE)) - 1) * per_page


def sends(flow: Flow, page: int, per_page: int) -> tuple[list, int]:
    """The flow's emails, newest first: (recipient row, the step it was for)."""
    cr = CampaignRecipient
    where = cr.campaign_id.in_(select(Campaign.id).where(Campaign.flow_id == flow.id))
    total = db.session.scalar(select(func.count()).select_from(cr).where(where))
    limit, offset = _window(page, per_page)
    rows = db.session.execute(
        select(cr, Campaign.flow_step_id)
        .join(Campaign, Campaign.id == cr.campaign_id)
        .where(where)
        .order_by(cr.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [tuple(r) for r in rows], total


def enrollments(flow: Flow, status: str | None, page: int, per_page: int) -> tuple[list, int]:
    """The people who entered, newest first: (enrollment, email, the version they follow)."""
    fe = FlowEnrollment
    where = [fe.flow_id == flow.id, fe.status.in_(ENROLLMENT_STATUSES if status is None else (status,))]
    total = db.session.scalar(select(func.count()).select_from(fe).where(*where))
    limit, offset = _window(page, per_page)
    rows = db.session.execute(
        select(fe, Subscriber.email, FlowVersion.number)
        .join(Subscriber, Subscriber.id == fe.subscriber_id)
        .join(FlowVersion, FlowVersion.id == fe.version_id)
        .where(*where)
        .order_by(fe.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [tuple(r) for r in rows], total


def version_numbers(version_ids: list[int]) -> dict[int, int]:
    """{version id: its number}, in one query (a page of flows)."""
    if not version_ids:
        return {}
    return dict(
        db.session.execute(select(FlowVersion.id, FlowVersion.number).where(FlowVersion.id.in_(version_ids))).all()
    )


def _person(workspace_id: int, email, subscriber_id) -> int:
    if (email is None) == (subscriber_id is None):
        why = "Name the person by email or by subscriber_id (one of the two)."
        raise ValidationError(why, {"email": why})
    if subscriber_id is not None:
        found = db.session.scalar(
            select(Subscriber.id).where(Subscriber.id == (as_id(subscriber_id) or 0),
                                        Subscriber.workspace_id == workspace_id)
        )  # fmt: skip
        if found is None:
            raise ValidationError("subscriber_id: No such subscriber in this workspace.",
                                  {"subscriber_id": "No such subscriber in this workspace."})  # fmt: skip
        return found
    try:
        address = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError(f"email: {exc.message}", {"email": exc.message}) from None
    found = db.session.scalar(
        select(Subscriber.id).where(Subscriber.workspace_id == workspace_id, Subscriber.email == address)
    )
    if found is None:
        why = "No subscriber with this address in this workspace: add them first (POST /subscribers)."
        raise ValidationError(f"email: {why}", {"email": why})
    return found


def _context(context) -> dict | None:
    if context is None:
        return None
    if not isinstance(context, dict):
        raise ValidationError("context: An object.", {"context": "An object."})
    if len(json.dumps(context, default=str)) > MAX_CONTEXT_BYTES:
        why = f"At most {MAX_CONTEXT_BYTES // 1024} KB of JSON."
        raise ValidationError(f"context: {why}", {"context": why})
    return context


def enroll_person(workspace_id: int, flow_id, email=None, subscriber_id=None, context=None) -> tuple[bool, int]:
    """POST /flows/{id}/enroll: (whether they entered now, their id). InvalidState unless the flow's trigger
    is the API and it runs; False when its re-entry rules keep them out, or they are not subscribed."""
    flow = flows.get_flow(workspace_id, flow_id)
    if (flow.trigger or {}).get("type") != "api":
        raise InvalidState("Only a flow whose trigger is the API takes people through this call.")
    person = _person(workspace_id, email, subscriber_id)
    return enrollment.enroll_api(workspace_id, flow, person, _context(context)), person
