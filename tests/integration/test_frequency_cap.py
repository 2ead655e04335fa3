"""The workspace's frequency cap holds across campaigns and flows: one marketing email per person per
day, whichever sends first; the other is skipped with the reason `frequency_cap`; transactional mail
is neither capped nor counted. Set on the settings page and through the API, with clear errors."""

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import CampaignRecipient, FlowStepRun, Subscriber, Workspace
from app.services.automation import enrollment, flow_engine, flows
from app.services.campaigns import frequency_cap, lifecycle
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people, smtp_campaign


def _cap(workspace, value={"max": 1, "hours": 24}):  # noqa: B006
    frequency_cap.set_cap(db.session.get(Workspace, workspace.id), value)
    db.session.commit()


def _welcome_flow(workspace, transactional=False):
    tpl = create_template(workspace.id, subject="Welcome", name="Flow welcome")
    flow = flows.create_flow(workspace.id, {
        "name": "Welcome", "trigger": {"type": "api"},
        "steps": [{"type": "email", "template_id": tpl.id, "from_email": "hi@example.com", "transactional": transactional}],
    })  # fmt: skip
    flows.activate(workspace.id, flow.id)
    db.session.commit()
    return flow


def _flow_outcomes(flow, now):
    ids = list(db.session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    enrollment.enroll(flow, {sid: {} for sid in ids})
    db.session.commit()
    flow_engine.advance(now=now + timedelta(seconds=5))
    return [r.outcome for r in db.session.scalars(select(FlowStepRun).where(FlowStepRun.flow_id == flow.id))]


def test_a_campaign_then_a_flow_email_the_same_day_sends_once(workspace, smtp_sink, worker):
    _cap(workspace)
    camp = smtp_campaign(workspace, smtp_sink, people(2, email="c{i}@example.org"))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 2
    flow = _welcome_flow(workspace)
    assert _flow_outcomes(flow, datetime.now(timezone.utc)) == ["skipped: frequency_cap"] * 2
    worker()
    assert len(smtp_sink.messages) == 2


def test_a_flow_email_then_a_campaign_the_same_day_skips_the_campaign_with_the_reason(workspace, smtp_sink, worker):
    _cap(workspace)
    camp = smtp_campaign(workspace, smtp_sink, people(2, email="c{i}@example.org"))
    flow = _welcome_flow(workspace)
    assert _flow_outcomes(flow, datetime.now(timezone.utc)) == ["queued"] * 2
    worker()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    reasons = list(db.session.scalars(select(CampaignRecipient.reason).where(CampaignRecipient.campaign_id == camp.id)))
    assert reasons == ["frequency_cap", "frequency_cap"]
    assert len(smtp_sink.messages) == 2


def test_transactional_flow_mail_is_neither_capped_nor_counted(workspace, smtp_sink, worker):
    _cap(workspace)
    camp = smtp_campaign(workspace, smtp_sink, people(1, email="c{i}@example.org"))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    flow = _welcome_flow(workspace, transactional=True)
    assert _flow_outcomes(flow, datetime.now(timezone.utc)) == ["queued"]
    worker()
    assert len(smtp_sink.messages) == 2


def test_no_cap_sends_both(workspace, smtp_sink, worker):
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, people(1), lst.id)
    camp = smtp_campaign(workspace, smtp_sink, people(1, email="c{i}@example.org"))
    second = create_campaign(workspace.id, camp.template_id, [lst.id], camp.provider_id, name="Second")
    db.session.commit()
    for c in (camp, second):
        lifecycle.send_now(workspace.id, c.id)
        db.session.commit()
        worker()
    assert len(smtp_sink.messages) == 2


def test_the_cap_is_set_on_the_settings_page_and_through_the_api(client, api, workspace):
    page = client.get("/settings/workspace")
    assert 'id="frequency-cap"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/settings/frequency-cap", data={"csrf_token": token, "enabled": "on", "max": "2", "hours": "48"})
    assert api.get("/frequency-cap").get_json() == {"frequency_cap": {"max": 2, "hours": 48}}
    bad = api.put("/frequency-cap", json={"frequency_cap": {"max": 0, "hours": 24}})
    assert bad.status_code in (400, 422) and "max" in str(bad.get_json())
    assert api.put("/frequency-cap", json={"frequency_cap": None}).get_json() == {"frequency_cap": None}
    client.post("/settings/frequency-cap", data={"csrf_token": token, "enabled": "on", "max": "x", "hours": "24"})
    assert api.get("/frequency-cap").get_json() == {"frequency_cap": None}  # refused, nothing changed
