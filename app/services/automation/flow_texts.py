"""A flow's SMS step, sent through the SMS pipeline (consent, opt-outs, quiet hours, the senders'
rates, Twilio's callbacks): one SMS campaign per flow version, step and entry cycle, `sending` while
the flow lives, whose recipient rows are added as people reach the step.

The recipient row's unique key (campaign, subscriber) is the step's key, as for an email step: a tick
that dies after adding rows and runs again adds nothing (sms/audience.add_people writes with ON
CONFLICT DO NOTHING), and the send job's atomic claims hand each row to Twilio once. The step is done
for a person once their row is written; delivery goes on without them.
"""

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Flow, SmsCampaign, SmsRecipient
from app.services.errors import ValidationError
from app.services.sms import audience, campaigns, lifecycle

_rec = SmsRecipient.__table__
NO_PROVIDER = "Add a Twilio provider first (Settings → Providers): this flow has a text message step."


def _now() -> datetime:
    return datetime.now(timezone.utc)


def provider_of(workspace_id: int, step: dict) -> int:
    """The Twilio provider the step texts through: its own while it is still the workspace's Twilio
    provider, else the workspace's first. ValidationError when there is none."""
    found = campaigns.sms_providers(workspace_id)
    if not found:
        raise ValidationError(NO_PROVIDER, {"provider_id": NO_PROVIDER})
    chosen = [p.id for p in found if p.id == step.get("provider_id")]
    if step.get("provider_id") and not chosen:
        why = "The step's Twilio provider is gone: choose another."
        raise ValidationError(why, {"provider_id": why})
    return chosen[0] if chosen else found[0].id


def step_campaign(flow: Flow, version_id: int, step: dict, cycle: int) -> SmsCampaign:
    """The SMS campaign of (version, step, cycle), made the first time someone reaches it; two workers
    making it at once end with the same one (the unique constraint)."""
    found = _find(flow.id, version_id, step["id"], cycle)
    if found is not None:
        return found
    campaign = SmsCampaign(
        workspace_id=flow.workspace_id, name=f"{flow.name} · SMS {step.get('label') or step['id']}"[:200],
        body=step["body"], provider_id=provider_of(flow.workspace_id, step), status="sending", audience={},
        quiet_hours=True, total_recipients=0, send_round=0, started_at=_now(),
        flow_id=flow.id, flow_version_id=version_id, flow_step_id=step["id"], flow_cycle=cycle,
    )  # fmt: skip
    try:
        with db.session.begin_nested():
            db.session.add(campaign)
            db.session.flush()
    except IntegrityError:
        return _find(flow.id, version_id, step["id"], cycle)
    return campaign


def _find(flow_id: int, version_id: int, step_id: str, cycle: int) -> SmsCampaign | None:
    return db.session.scalar(
        select(SmsCampaign).where(
            SmsCampaign.flow_id == flow_id,
            SmsCampaign.flow_version_id == version_id,
            SmsCampaign.flow_step_id == step_id,
            SmsCampaign.flow_cycle == cycle,
        )
    )


def add_people(campaign: SmsCampaign, people: dict[int, dict]) -> dict[int, str]:
    """Add these people ({subscriber id: what the text may show}) to the step's campaign and queue its
    send job after commit; {subscriber id: "queued" | "skipped: <reason>"}."""
    if not people:
        return {}
    ids = list(people)
    before = _rows_of(campaign.id, ids)
    audience.add_people(campaign, people)
    found = _rows_of(campaign.id, ids)
    if len(found) > len(before):  # the batch's own rows counted, never the whole campaign again
        db.session.execute(
            update(SmsCampaign)
            .where(SmsCampaign.id == campaign.id)
            .values(total_recipients=SmsCampaign.total_recipients + len(found) - len(before))
            .execution_options(synchronize_session=False)
        )
    outcomes = {
        sid: "queued" if status != "skipped" else f"skipped: {reason}" for sid, (status, reason) in found.items()
    }
    if "queued" in outcomes.values():  # after commit: the job must find the rows
        lifecycle.enqueue_send(campaign.id)
    # add_people writes no row for a person without a number (or no longer in the workspace)
    return {sid: outcomes.get(sid, "skipped: no_phone") for sid in ids}


def _rows_of(campaign_id: int, subscriber_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """{subscriber id: (status, skip reason)} of these people's rows (the unique key's index)."""
    rows = db.session.execute(
        select(_rec.c.subscriber_id, _rec.c.status, _rec.c.skip_reason).where(
            _rec.c.campaign_id == campaign_id, _rec.c.subscriber_id.in_(subscriber_ids)
        )
    )
    return {sid: (status, reason) for sid, status, reason in rows}
