"""A flow's text message step: an abandoned cart texts the people who agreed to texts, through a local
Twilio, with their cart; each person gets one row (skipped ones with the reason) however often the
tick runs; the step is checked where it is written and needs a Twilio provider to start; pausing the
flow holds its texts and resuming sends them; archiving cancels what had not gone; the flow's page,
editor and API show the step and its figures."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import CustomerEvent, FlowEnrollment, FlowStepRun, SmsCampaign, SmsRecipient, Subscriber
from app.services.automation import enrollment, flow_engine, flow_metrics, flows
from app.services.errors import ValidationError
from app.services.sms import consent, dispatch
from app.services.sms import settings as sms_settings
from tests.factories import create_list, create_provider, create_smtp_provider, create_subscribers, people

TEXTED, NO_CONSENT = "+14155550123", "+12125550199"
BODY = (
    "Hi {{ subscriber.name }}, your {{ event.properties['items'][0].name }} is waiting: "
    "{{ event.properties.cart_url }} Reply STOP to opt out."
)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def twilio(workspace, twilio_server):
    """A Twilio provider pointed at the local server; no SMS quiet hours (texts go whatever the hour)."""
    provider = create_provider(workspace.id, "twilio", twilio_server.settings(), twilio_server.credentials())
    sms_settings.update_settings(workspace.id, {"quiet_start": "00:00", "quiet_end": "00:00"})
    db.session.commit()
    return provider


def _shoppers(workspace) -> tuple[Subscriber, Subscriber, Subscriber]:
    """Zoë 0 agreed to texts, Zoë 1 has a number but never agreed, Zoë 2 has no number."""
    lst = create_list(workspace.id, "Shoppers")
    create_subscribers(workspace.id, people(3, email="shopper{i}@example.org", name="Zoë {i}"), lst.id)
    found = db.session.scalars(
        select(Subscriber).where(Subscriber.workspace_id == workspace.id).order_by(Subscriber.id)
    )
    texted, silent, no_phone = found.all()
    consent.set_phone(texted, TEXTED)
    consent.set_status(texted, "subscribed", "api")
    consent.set_phone(silent, NO_CONSENT)
    db.session.commit()
    return texted, silent, no_phone


def _cart_flow(workspace, body: str = BODY, **changes):
    data = {
        "name": "Abandoned cart",
        "trigger": {"type": "event", "event": "cart_updated"},
        "steps": [{"type": "wait", "minutes": 60}, {"type": "sms", "body": body}],
        "goals": [{"event": "order_placed"}],
    } | changes
    flow = flows.create_flow(workspace.id, data)
    flows.activate(workspace.id, flow.id)
    db.session.commit()
    return flow


def _carts(workspace, shoppers, at: datetime) -> None:
    events = []
    for n, person in enumerate(shoppers, start=1):
        properties = {"items": [{"sku": f"SKU-{n}", "name": f"Crème brûlée set {n}", "quantity": n}],
                      "cart_url": f"https://shop.example.com/cart/{n}"}  # fmt: skip
        row = CustomerEvent(workspace_id=workspace.id, subscriber_id=person.id, type="cart_updated",
                            properties=properties, occurred_at=at, source="api")  # fmt: skip
        db.session.add(row)
        db.session.flush()
        events.append(enrollment.Event(row.id, person.id, "cart_updated", properties, at))
    assert enrollment.on_events(workspace.id, events)["entered"] == len(shoppers)
    db.session.commit()


def _rows() -> dict[int, tuple[str, str | None]]:
    db.session.expire_all()
    return {r.subscriber_id: (r.status, r.skip_reason) for r in db.session.scalars(select(SmsRecipient))}


def test_an_abandoned_cart_texts_who_agreed_once_with_their_cart_through_twilio(
    workspace, twilio, twilio_server, worker, client
):
    texted, silent, no_phone = _shoppers(workspace)
    flow = _cart_flow(workspace)
    start = datetime.now(timezone.utc)
    _carts(workspace, (texted, silent, no_phone), start)

    assert flow_engine.advance(now=start + timedelta(minutes=30)) == {}  # still waiting
    moved = flow_engine.advance(now=start + timedelta(minutes=61))
    assert moved == {"waited": 3, "queued": 1, "skipped": 2}
    assert flow_engine.advance(now=start + timedelta(minutes=61)) == {}  # a second tick finds nothing to do

    campaign = db.session.scalar(select(SmsCampaign))
    assert (campaign.flow_id, campaign.flow_step_id, campaign.flow_cycle) == (flow.id, "s2", 1)
    assert campaign.flow_version_id == flow.version_id and campaign.status == "sending"
    assert campaign.name == "Abandoned cart · SMS s2" and campaign.provider_id == twilio.id
    assert campaign.quiet_hours is True and campaign.body == BODY and campaign.total_recipients == 2
    assert _rows() == {texted.id: ("pending", None), silent.id: ("skipped", "no_consent")}
    assert flows.step_counts(flow)["s2"]["outcomes"] == {"queued": 1, "skipped: no_consent": 1,
                                                          "skipped: no_phone": 1}  # fmt: skip

    # The tick replayed as if its move had been lost after the rows were written: no second row, no
    # second campaign, and the step is still done once per person.
    db.session.execute(
        update(FlowEnrollment).values(status="active", step_id="s2", due_at=start, finished_at=None)
    )  # fmt: skip
    db.session.commit()
    flow_engine.advance(now=start + timedelta(minutes=62))
    assert db.session.scalar(select(func.count()).select_from(SmsCampaign)) == 1
    assert db.session.scalar(select(func.count()).select_from(SmsRecipient)) == 2
    assert db.session.scalar(select(SmsCampaign.total_recipients)) == 2
    assert db.session.scalar(select(func.count()).where(FlowStepRun.step_id == "s2")) == 3

    worker()
    assert [m["to"] for m in twilio_server.messages] == [TEXTED]
    assert twilio_server.messages[0]["body"] == (
        "Hi Zoë 0, your Crème brûlée set 1 is waiting: https://shop.example.com/cart/1 Reply STOP to opt out."
    )
    row = db.session.scalar(select(SmsRecipient).where(SmsRecipient.subscriber_id == texted.id))
    assert row.status == "sent" and row.message_sid == twilio_server.messages[0]["sid"]
    db.session.refresh(campaign)
    assert campaign.status == "sending"  # a flow's campaign lives as long as its flow

    assert twilio_server.callback(client, row.message_sid, "delivered").status_code in (200, 204)
    worker()
    db.session.expire_all()
    report = flow_metrics.report(flow)
    assert report.steps["s2"]["texts"] == {"queued": 0, "sent": 1, "delivered": 1, "failed": 0, "skipped": 1}
    assert report.texts["sent"] == 1

    page = client.get(f"/flows/{flow.id}").text
    assert 'id="fig-texts"' in page and "Text message (SMS)" in page
    figures = re.search(r'<tr data-step="s2">.*?</tr>', page, re.S).group(0)
    assert "1 delivered · 0 failed · 1 skipped" in figures
    card = page[page.index('id="step-s2"') :]
    assert "Text “Hi {{ subscriber.name }}, your" in card and "1 texted" in card and "1 delivered" in card


def test_a_text_step_is_checked_where_it_is_written(workspace, twilio):
    smtp = create_smtp_provider(workspace.id, 2525)
    db.session.commit()
    cases = [
        ({"type": "sms"}, "steps.1.body", "Write the text to send."),
        ({"type": "sms", "body": "Hi {{ subscriber.name "}, "steps.1.body", "does not compile"),
        ({"type": "sms", "body": "x" * 1601}, "steps.1.body", "at most 1,600"),
        ({"type": "sms", "body": "Hi", "provider_id": smtp.id}, "steps.1.provider_id", "Twilio providers"),
        ({"type": "sms", "body": "Hi", "provider_id": "two"}, "steps.1.provider_id", "whole number"),
    ]
    for step, field, words in cases:
        with pytest.raises(ValidationError) as caught:
            flows.create_flow(workspace.id, {"name": "Texts", "trigger": {"type": "api"},
                                             "steps": [{"type": "wait", "days": 1}, step]})  # fmt: skip
        assert list(caught.value.fields) == [field] and words in caught.value.fields[field], caught.value.fields
        db.session.rollback()
    flow = flows.create_flow(workspace.id, {"name": "Texts", "trigger": {"type": "api"},
                                            "steps": [{"type": "sms", "body": " Hi {{ subscriber.name }} ",
                                                       "provider_id": twilio.id}]})  # fmt: skip
    assert flow.steps == [{"id": "s1", "type": "sms", "body": "Hi {{ subscriber.name }}", "provider_id": twilio.id}]


def test_a_flow_with_a_text_step_starts_only_once_there_is_a_twilio_provider(api, conforms, workspace, twilio_server):
    body = "Welcome, {{ subscriber.name }}! Your code: {{ data.coupon }}"
    flow = {"name": "Welcome by text", "trigger": {"type": "api"}, "steps": [{"type": "sms", "body": body}]}
    created = conforms(api.post("/flows", json=flow), "Flow", 201)
    refused = api.post(f"/flows/{created['id']}/activate")
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert "Add a Twilio provider first" in error["message"] and list(error["fields"]) == ["steps.s1.provider_id"]

    create_provider(workspace.id, "twilio", twilio_server.settings(), twilio_server.credentials())
    sms_settings.update_settings(workspace.id, {"quiet_start": "00:00", "quiet_end": "00:00"})
    texted, _silent, no_phone = _shoppers(workspace)
    started = conforms(api.post(f"/flows/{created['id']}/activate"), "Flow")
    assert started["status"] == "active"

    for person in (texted, no_phone):
        enrolled = api.post(f"/flows/{created['id']}/enroll",
                            json={"subscriber_id": person.id, "context": {"coupon": f"SAVE-{person.id}"}})  # fmt: skip
        assert enrolled.status_code == 200 and enrolled.get_json()["enrolled"] is True
    assert flow_engine.advance() == {"queued": 1, "skipped": 1}
    shown = conforms(api.get(f"/flows/{created['id']}"), "Flow")
    assert shown["step_counts"]["s1"] == {"waiting": 0, "done": 2,
                                          "outcomes": {"queued": 1, "skipped: no_phone": 1}}  # fmt: skip

    campaign_id = db.session.scalar(select(SmsCampaign.id))
    assert dispatch.send_campaign(campaign_id, seconds=5)["sent"] == 1
    assert [(m["to"], m["body"]) for m in twilio_server.messages] == [
        (TEXTED, f"Welcome, Zoë 0! Your code: SAVE-{texted.id}")
    ]


def test_pausing_the_flow_holds_its_texts_resuming_sends_them_and_archiving_cancels_them(
    workspace, twilio, twilio_server, worker
):
    texted, _silent, _no_phone = _shoppers(workspace)
    steps = [{"type": "sms", "body": "Hello {{ subscriber.name }}!"}]
    flow = flows.create_flow(workspace.id, {"name": "Hello", "trigger": {"type": "api"}, "steps": steps})
    flows.activate(workspace.id, flow.id)
    enrollment.enroll(flow, {texted.id: {}})
    db.session.commit()
    assert flow_engine.advance() == {"queued": 1}

    flows.pause(workspace.id, flow.id)
    db.session.commit()
    assert db.session.scalar(select(SmsCampaign.status)) == "paused"
    worker()  # the send job queued by the step finds its campaign paused
    assert twilio_server.messages == [] and _rows() == {texted.id: ("pending", None)}

    flows.activate(workspace.id, flow.id)
    db.session.commit()
    assert db.session.scalar(select(SmsCampaign.status)) == "sending"
    worker()
    assert [m["body"] for m in twilio_server.messages] == ["Hello Zoë 0!"]

    # Again (a new cycle: a new campaign), archived before its text went: cancelled, never sent.
    flows.update_flow(workspace.id, flow.id, {"reentry": {"mode": "again", "after_days": 0}})
    db.session.commit()
    assert enrollment.enroll(flow, {texted.id: {}})
    db.session.commit()
    flow_engine.advance()
    flows.archive(workspace.id, flow.id)
    db.session.commit()
    worker()
    assert len(twilio_server.messages) == 1
    statuses = dict(db.session.execute(select(SmsCampaign.flow_cycle, SmsCampaign.status)).all())
    assert statuses == {1: "sent", 2: "sent"}
    cancelled = db.session.scalar(select(SmsRecipient).join(SmsCampaign).where(SmsCampaign.flow_cycle == 2))
    assert (cancelled.status, cancelled.skip_reason) == ("skipped", "cancelled")


def test_the_editor_adds_a_text_step_with_its_segments_and_provider(client, workspace, twilio):
    flow = flows.create_flow(workspace.id, {"name": "Nurture", "trigger": {"type": "api"}, "steps": []})
    db.session.commit()
    token = TOKEN.search(client.get("/flows/").text).group(1)
    editor = client.get(f"/flows/{flow.id}/edit")
    assert f'href="/flows/{flow.id}/edit?add=sms&amp;at=start#step-new"' in editor.text
    assert "Text message (SMS)" in editor.text

    form = client.get(f"/flows/{flow.id}/edit?add=sms&at=start").text
    assert re.search(r'<textarea[^>]*name="body"', form) and 'hx-get="/flows/sms-preview"' in form
    assert "GSM-7 · 1 segment" in form and f'<option value="{twilio.id}">Twilio</option>' in form

    refused = client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "sms", "at": "start",
                                                               "id": "s1", "body": "Hi {{ oops"})  # fmt: skip
    assert refused.status_code == 422
    assert re.search(r'<textarea[^>]*is-invalid[^>]*name="body"', refused.text) and "does not compile" in refused.text

    added = client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "sms", "at": "start",
                                                             "id": "s1", "body": "Hi {{ subscriber.name }} ✨",
                                                             "provider_id": str(twilio.id)})  # fmt: skip
    assert added.status_code == 302
    db.session.expire_all()
    steps = flows.get_flow(workspace.id, flow.id).steps
    assert steps == [{"id": "s1", "type": "sms", "body": "Hi {{ subscriber.name }} ✨", "provider_id": twilio.id}]
    page = client.get(f"/flows/{flow.id}/edit").text
    assert "Text “Hi {{ subscriber.name }} ✨”, through “Twilio”" in page

    measured = client.get("/flows/sms-preview", query_string={"body": "Hi {{ subscriber.name }} ✨"})
    assert (
        measured.status_code == 200
        and "UCS-2 · 1 segment" in measured.text
        and "not in the GSM alphabet" in measured.text
    )
    broken = client.get("/flows/sms-preview", query_string={"body": ""})
    assert broken.status_code == 200 and "Write the text to send." in broken.text
