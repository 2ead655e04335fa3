"""A flow's webhook step: one signed POST per person and step, from a job queued when the step ran.

The body is the outbound webhooks' envelope (`type` "flow.webhook", `data`: the flow, the step, the
person and what the flow knows — the trigger's event), signed the same way (`X-Herald-Signature:
t=<ts>,v1=<HMAC-SHA256>`), with the workspace's flow secret (flow_secret, shown on each flow's page).
An answer other than 2xx raises, so the job's retries try again; a refused destination does not.
"""

import hashlib
import hmac
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Flow, FlowEnrollment, FlowVersion, Subscriber
from app.services.outbound_webhooks import http


class WebhookFailed(Exception):
    """The endpoint did not take it (the job's retry tries again)."""


def flow_secret(workspace_id: int) -> str:
    """The workspace's secret for flow webhooks, derived from the app's key (nothing to store or leak)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"flow-webhooks:{workspace_id}".encode(), hashlib.sha256).hexdigest()[:40]


def call(enrollment_id: int, step_id: str) -> dict:
    row = db.session.get(FlowEnrollment, enrollment_id)
    if row is None:
        return {"skipped": "the enrollment is gone"}
    version = db.session.get(FlowVersion, row.version_id)
    step = (version.plan or {}).get(step_id) if version else None
    person = db.session.get(Subscriber, row.subscriber_id)
    flow = db.session.get(Flow, row.flow_id)
    if step is None or step.get("type") != "webhook" or person is None or flow is None:
        return {"skipped": "nothing to call"}
    now = datetime.now(timezone.utc).isoformat()
    payload = {
        "id": f"flow-{enrollment_id}-{step_id}", "type": "flow.webhook", "occurred_at": now, "created_at": now,
        "email": person.email, "subscriber_id": person.id,
        "data": {"flow": {"id": flow.id, "name": flow.name, "version": version.number}, "step_id": step_id,
                 "subscriber": {"name": person.name, "attributes": person.attributes or {}},
                 "context": row.context or {}},
    }  # fmt: skip
    outcome = http.post(step["url"], flow_secret(flow.workspace_id), enrollment_id, "flow.webhook", payload)
    if not outcome.delivered and not outcome.permanent:
        raise WebhookFailed(outcome.error or f"HTTP {outcome.code}")
    return {"delivered": outcome.delivered, "code": outcome.code, "error": outcome.error}


def enrollment_of(workspace_id: int, enrollment_id: int) -> FlowEnrollment | None:
    return db.session.scalar(
        select(FlowEnrollment).where(FlowEnrollment.id == enrollment_id, FlowEnrollment.workspace_id == workspace_id)
    )
