"""SMS campaigns through a local Twilio: texts go within the sender's rate, each once; callbacks in
any order end in the right status; a forged signature is refused; STOP stops the next campaign."""

import re
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SmsCampaign, SmsInbound, SmsOptOut, SmsRecipient, Subscriber
from app.services.delivery import providers
from app.services.sms import campaigns as sms_campaigns
from app.services.sms import consent, dispatch, lifecycle
from app.services.sms import settings as sms_settings
from tests.factories import create_list, create_subscribers

LA, NY, LONDON = "+14155550123", "+12125550199", "+447911123456"
SENDER = "+14155550100"


def _provider(ws, server, **settings):
    provider = providers.create_provider(
        ws.id, "Twilio", "twilio", server.settings(from_numbers=(SENDER,), **settings), server.credentials()
    )
    db.session.commit()
    return provider


def _people(ws, rows, list_id):
    """rows: (email, name, phone, sms_status); everyone on the list."""
    create_subscribers(ws.id, [{"email": e, "name": n} for e, n, _, _ in rows], list_id)
    for email, _, phone, status in rows:
        sub = db.session.scalar(select(Subscriber).where(Subscriber.workspace_id == ws.id, Subscriber.email == email))
        if phone:
            consent.set_phone(sub, phone)
        if status == "subscribed":
            consent.set_status(sub, "subscribed", "dashboard")
        elif status == "opted_out":
            consent.set_status(sub, "opted_out", "dashboard")
    db.session.commit()


def _campaign(ws, provider, list_id, body="Hi {{ subscriber.name }}, 20% off today. Reply STOP to opt out", **more):
    campaign = sms_campaigns.create_campaign(
        ws.id, {"name": "Winter sale", "body": body, "provider_id": provider.id, "list_ids": [list_id], **more}
    )
    db.session.commit()
    return campaign


def _send(ws, campaign, seconds=30.0) -> dict:
    lifecycle.send_now(ws.id, campaign.id)
    db.session.commit()
    return dispatch.send_campaign(campaign.id, seconds=seconds)


def _rows(campaign_id) -> dict[str, SmsRecipient]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(SmsRecipient).where(SmsRecipient.campaign_id == campaign_id).order_by(SmsRecipient.id.desc())
    )
    return {r.phone: r for r in rows}  # a number's first row wins (a later one is a duplicate_number)


def _never_quiet(ws):
    sms_settings.update_settings(ws.id, {"quiet_start": "00:00", "quiet_end": "00:00"})
    db.session.commit()


def test_a_campaign_texts_everyone_within_the_senders_rate_once_each(ctx, workspace, twilio_server):
    ws, server = workspace, twilio_server
    _never_quiet(ws)
    provider = _provider(ws, server, rate_per_second=5)
    lst = create_list(ws.id, "Texts")
    numbers = [f"+1415555{n:04d}" for n in range(200, 212)]
    rows = [(f"p{i}@example.com", f"Zoé {i}", phone, "subscribed") for i, phone in enumerate(numbers)]
    rows += [
        ("none@example.com", "No consent", NY, None),
        ("stopped@example.com", "Stopped", LONDON, "opted_out"),
        ("nophone@example.com", "No phone", None, None),
        ("twin@example.com", "Shares a phone", numbers[0], "subscribed"),
    ]
    _people(ws, rows, lst.id)
    campaign = _campaign(ws, provider, lst.id)

    estimate = sms_campaigns.estimate(ws.id, campaign)
    assert (estimate.recipients, estimate.segments_each, estimate.encoding) == (12, 1, "GSM-7")
    assert estimate.skipped == {"no_consent": 1, "opted_out": 1, "no_phone": 1, "duplicate_number": 1}

    outcome = _send(ws, campaign)
    assert outcome["sent"] == 12

    assert sorted(m["to"] for m in server.messages) == numbers  # each once, nobody skipped texted
    assert server.sent_to(numbers[3])[0]["body"] == "Hi Zoé 3, 20% off today. Reply STOP to opt out"
    assert all(m["from"] == SENDER for m in server.messages)
    stamps = [m["at"] for m in server.messages]
    # 5 a second: any six consecutive texts span at least a second (never six within one).
    assert all(stamps[i + 5] - stamps[i] >= 1.0 for i in range(len(stamps) - 5)), stamps

    got = _rows(campaign.id)
    assert {got[n].status for n in numbers} == {"sent"}
    assert all(got[n].message_sid.startswith("SM") and got[n].segments == 1 for n in numbers)
    assert got[NY].skip_reason == "no_consent" and got[LONDON].skip_reason == "opted_out"
    twin = db.session.scalar(select(SmsRecipient).where(SmsRecipient.skip_reason == "duplicate_number"))
    assert twin is not None and twin.status == "skipped"
    db.session.refresh(campaign)
    assert campaign.status == "sent" and campaign.estimate["recipients"] == 12
    # The status callback Twilio was given names the row, so it finds it even without the SID.
    assert server.sent_to(numbers[0])[0]["status_callback"].endswith(
        f"/webhooks/twilio/{provider.id}/status?r={got[numbers[0]].id}"
    )


@pytest.fixture
def sent(ctx, workspace, twilio_server):
    """A campaign sent to LA and NY: (workspace, provider, campaign, rows by phone)."""
    ws = workspace
    _never_quiet(ws)
    provider = _provider(ws, twilio_server, rate_per_second=50)
    lst = create_list(ws.id, "Texts")
    _people(ws, [("la@example.com", "Ana", LA, "subscribed"), ("ny@example.com", "Ben", NY, "subscribed")], lst.id)
    campaign = _campaign(ws, provider, lst.id)
    _send(ws, campaign)
    return ws, provider, campaign, _rows(campaign.id)


def test_callbacks_in_any_order_end_in_the_right_status(app, sent, twilio_server):
    ws, provider, campaign, rows = sent
    client = app.test_client()
    la, ny = rows[LA].message_sid, rows[NY].message_sid
    for status in ("delivered", "sent", "queued"):  # the carrier's word first, the rest late
        assert twilio_server.callback(client, la, status).status_code == 200
    resp = twilio_server.callback(client, la, "delivered")  # Twilio retrying
    assert resp.get_json()["duplicate"] is True
    twilio_server.callback(client, ny, "sent")
    twilio_server.callback(client, ny, "undelivered", error_code=30007)
    twilio_server.callback(client, ny, "sending")

    got = _rows(campaign.id)
    assert (got[LA].status, got[LA].twilio_status) == ("delivered", "delivered")
    assert got[LA].delivered_at is not None
    assert (got[NY].status, got[NY].error_code) == ("undelivered", 30007)
    assert "spam" in got[NY].error_message


def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(app, sent, twilio_server):
    ws, provider, campaign, rows = sent
    client = app.test_client()
    sid = rows[LA].message_sid
    assert twilio_server.callback(client, sid, "delivered", auth_token="not-the-token").status_code == 403
    url, params, headers = twilio_server.callback_request(sid, "delivered")
    tampered = {**params, "MessageStatus": "failed"}
    assert twilio_server.post(client, url, tampered, headers).status_code == 403
    assert twilio_server.post(client, url, params, {}).status_code == 403
    inbound_url = f"http://herald.test/webhooks/twilio/{provider.id}/inbound"
    forged = twilio_server.inbound_request(LA, SENDER, "STOP", inbound_url, auth_token="wrong")
    assert twilio_server.post(client, *forged).status_code == 403
    assert _rows(campaign.id)[LA].status == "sent"
    assert db.session.scalar(select(SmsOptOut)) is None
    assert client.post(f"/webhooks/twilio/{provider.id + 1000}/status", data=params, headers=headers).status_code == 404


def test_stop_from_a_phone_stops_the_next_campaign_and_start_brings_it_back(app, client, sent, twilio_server):
    signed_in = client
    ws, provider, campaign, rows = sent
    client = app.test_client()
    url = f"http://herald.test/webhooks/twilio/{provider.id}/inbound"

    resp = twilio_server.post(client, *twilio_server.inbound_request(LA, SENDER, "  Stop ", url))
    assert resp.status_code == 200 and "<Message>" not in resp.get_data(as_text=True)  # Twilio confirms STOP itself
    la = db.session.scalar(select(Subscriber).where(Subscriber.phone == LA))
    db.session.refresh(la)
    assert la.sms_status == "opted_out"
    assert db.session.get(SmsOptOut, (ws.id, LA)).source == "keyword"

    help_resp = twilio_server.post(client, *twilio_server.inbound_request(NY, SENDER, "help", url))
    assert f"<Message>{ws.name}: texts about your orders" in help_resp.get_data(as_text=True)
    reply = twilio_server.inbound_request(NY, SENDER, "Are you open on Sunday? <b>", url)
    twilio_server.post(client, *reply)
    twilio_server.post(client, *reply)  # Twilio retrying the same message: kept once
    inbound = db.session.scalars(select(SmsInbound).order_by(SmsInbound.id)).all()
    assert [(m.keyword, m.body) for m in inbound] == [
        ("stop", "  Stop "),
        ("help", "help"),
        (None, "Are you open on Sunday? <b>"),
    ]
    ny_id = db.session.scalar(select(Subscriber.id).where(Subscriber.phone == NY))
    assert inbound[2].subscriber_id == ny_id
    page = signed_in.get(f"/subscribers/{ny_id}").get_data(as_text=True)  # their page shows both ways
    texts = page[page.index('id="subscriber-texts"') :]
    assert "Are you open on Sunday? &lt;b&gt;" in texts and "Hi Ben, 20% off today" in texts

    before = len(twilio_server.messages)
    second = _campaign(ws, provider, campaign.audience["list_ids"][0], body="Last day! Reply STOP to opt out")
    _send(ws, second)
    assert [m["to"] for m in twilio_server.messages[before:]] == [NY]
    assert _rows(second.id)[LA].skip_reason == "opted_out"

    with pytest.raises(Exception, match="START"):
        consent.set_status(la, "subscribed", "dashboard")  # only the number itself can lift a STOP
    db.session.rollback()
    twilio_server.post(client, *twilio_server.inbound_request(LA, SENDER, "START", url))
    db.session.expire_all()
    assert db.session.get(Subscriber, la.id).sms_status == "subscribed"
    assert db.session.get(SmsOptOut, (ws.id, LA)) is None


def test_error_21610_fails_the_text_and_opts_the_number_out(ctx, workspace, twilio_server):
    ws = workspace
    _never_quiet(ws)
    provider = _provider(ws, twilio_server, rate_per_second=50)
    lst = create_list(ws.id, "Texts")
    _people(ws, [("la@example.com", "Ana", LA, "subscribed"), ("ny@example.com", "Ben", NY, "subscribed")], lst.id)
    twilio_server.fail(LA, code=21610)
    campaign = _campaign(ws, provider, lst.id)
    assert _send(ws, campaign)["failed"] == 1
    got = _rows(campaign.id)
    assert (got[LA].status, got[LA].error_code) == ("failed", 21610)
    assert got[NY].status == "sent"
    assert consent.is_opted_out(ws.id, LA)
    assert db.session.scalar(select(Subscriber.sms_status).where(Subscriber.phone == LA)) == "opted_out"


def test_a_lost_answer_is_never_resent_and_its_callback_still_finds_the_row(app, ctx, workspace, twilio_server):
    ws = workspace
    _never_quiet(ws)
    provider = _provider(ws, twilio_server, rate_per_second=50)
    try:
        lst = create_list(ws.id, "Texts")
        _people(ws, [("la@example.com", "Ana", LA, "subscribed"), ("ny@example.com", "Ben", NY, "subscribed")], lst.id)
        twilio_server.hang_after_receive(LA)
        campaign = _campaign(ws, provider, lst.id)
        from flask import current_app

        current_app.config["PROVIDER_HTTP_TIMEOUT"] = 1.0
        outcome = _send(ws, campaign)
    finally:
        app.config.pop("PROVIDER_HTTP_TIMEOUT", None)
    assert outcome["unknown"] == 1 and outcome["sent"] == 1
    got = _rows(campaign.id)
    assert got[LA].status == "unknown" and got[LA].message_sid is None
    db.session.refresh(campaign)
    assert campaign.status == "sent"  # nothing left to send: the unknown text is not tried again
    assert len(twilio_server.sent_to(LA)) == 1

    sid = twilio_server.sent_to(LA)[0]["sid"]
    assert twilio_server.callback(app.test_client(), sid, "delivered").status_code == 200
    healed = _rows(campaign.id)[LA]
    assert (healed.status, healed.message_sid) == ("delivered", sid)


def test_quiet_hours_hold_a_text_until_they_end_in_the_recipients_zone(ctx, workspace, twilio_server):
    ws = workspace
    start = datetime.now(ZoneInfo("America/Los_Angeles")).hour  # now is quiet in LA, not in NY (3 hours on)
    sms_settings.update_settings(ws.id, {"quiet_start": f"{start:02d}:00", "quiet_end": f"{(start + 2) % 24:02d}:00"})
    db.session.commit()
    provider = _provider(ws, twilio_server, rate_per_second=50)
    lst = create_list(ws.id, "Texts")
    _people(ws, [("la@example.com", "Ana", LA, "subscribed"), ("ny@example.com", "Ben", NY, "subscribed")], lst.id)
    campaign = _campaign(ws, provider, lst.id)
    outcome = _send(ws, campaign)
    assert (outcome["sent"], outcome["held"]) == (1, 1)
    got = _rows(campaign.id)
    assert got[NY].status == "sent" and got[LA].status == "pending"
    end_la = got[LA].not_before.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (end_la.hour, end_la.minute) == ((start + 2) % 24, 0)
    assert lifecycle.held_until(campaign.id) == got[LA].not_before
    db.session.refresh(campaign)
    assert campaign.status == "sending"  # it finishes once the held text goes

    # The quiet hours end: the tick queues the campaign, and the text goes.
    db.session.execute(
        SmsRecipient.__table__.update()
        .where(SmsRecipient.id == got[LA].id)
        .values(not_before=datetime.now(timezone.utc) - timedelta(seconds=1))
    )
    sms_settings.update_settings(ws.id, {"quiet_start": "00:00", "quiet_end": "00:00"})
    db.session.commit()
    assert lifecycle.tick()["requeued"] in (0, 1)  # the job's own "alive" mark may still hold it back
    dispatch.send_campaign(campaign.id, seconds=10)
    assert _rows(campaign.id)[LA].status == "sent"
    db.session.refresh(campaign)
    assert campaign.status == "sent"


def test_pause_stops_between_texts_and_resume_goes_on_without_sending_twice(service_app, ctx, workspace, twilio_server):
    ws = workspace
    _never_quiet(ws)
    provider = _provider(ws, twilio_server, rate_per_second=4)
    lst = create_list(ws.id, "Texts")
    numbers = [f"+1415555{n:04d}" for n in range(300, 312)]
    _people(ws, [(f"p{i}@example.com", "P", p, "subscribed") for i, p in enumerate(numbers)], lst.id)
    campaign = _campaign(ws, provider, lst.id)
    lifecycle.send_now(ws.id, campaign.id)
    db.session.commit()

    def job():
        with service_app.app_context():
            dispatch.send_campaign(campaign.id, seconds=30)
            db.session.remove()

    worker = threading.Thread(target=job)
    worker.start()
    time.sleep(1.2)
    lifecycle.pause(ws.id, campaign.id)
    db.session.commit()
    worker.join(20)
    sent_before = len(twilio_server.messages)
    assert 0 < sent_before < 12
    counts = sms_campaigns.recipient_counts(campaign.id)
    assert counts.get("sending", 0) == 0 and counts["pending"] == 12 - sent_before

    lifecycle.resume(ws.id, campaign.id)
    db.session.commit()
    dispatch.send_campaign(campaign.id, seconds=30)
    assert sorted(m["to"] for m in twilio_server.messages) == numbers  # the rest, each once
    db.session.refresh(campaign)
    assert campaign.status == "sent"


def test_a_throttled_hand_off_waits_and_is_not_lost(ctx, workspace, twilio_server):
    ws = workspace
    _never_quiet(ws)
    provider = _provider(ws, twilio_server, rate_per_second=50)
    lst = create_list(ws.id, "Texts")
    _people(ws, [("la@example.com", "Ana", LA, "subscribed")], lst.id)
    twilio_server.throttle(1)
    campaign = _campaign(ws, provider, lst.id)
    assert _send(ws, campaign)["held"] == 1
    row = _rows(campaign.id)[LA]
    assert row.status == "pending" and row.not_before > datetime.now(timezone.utc)
    assert "429" in (row.error_message or "") or "Too Many" in (row.error_message or "")
    assert db.session.get(SmsCampaign, campaign.id).status == "sending"


def test_the_providers_daily_limit_holds_the_rest_until_the_next_day(ctx, workspace, twilio_server):
    ws = workspace
    _never_quiet(ws)
    provider = providers.create_provider(
        ws.id, "Twilio", "twilio", twilio_server.settings(from_numbers=(SENDER,), rate_per_second=50),
        twilio_server.credentials(), max_sends_per_day=2,
    )  # fmt: skip
    db.session.commit()
    lst = create_list(ws.id, "Texts")
    numbers = [LA, NY, "+14155550124"]
    _people(ws, [(f"p{i}@example.com", "P", p, "subscribed") for i, p in enumerate(numbers)], lst.id)
    campaign = _campaign(ws, provider, lst.id)
    outcome = _send(ws, campaign)
    assert (outcome["sent"], outcome["held"]) == (2, 1)
    assert len(twilio_server.messages) == 2
    waiting = [r for r in _rows(campaign.id).values() if r.status == "pending"]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date()
    assert len(waiting) == 1 and waiting[0].not_before == datetime(*tomorrow.timetuple()[:3], tzinfo=timezone.utc)
    assert db.session.get(SmsCampaign, campaign.id).status == "sending"


def test_a_test_text_goes_to_the_marketers_phone_personalized_and_counted_nowhere(
    api, client, ctx, workspace, twilio_server, conforms
):
    ws = workspace
    provider = _provider(ws, twilio_server, rate_per_second=50)
    lst = create_list(ws.id, "Texts")
    _people(ws, [("la@example.com", "Ana", LA, "subscribed"), ("ny@example.com", "Ben", NY, "none")], lst.id)
    campaign = _campaign(ws, provider, lst.id)

    resp = api.post(f"/sms-campaigns/{campaign.id}/test", json={"phone": "(212) 555-0199"})
    conforms(resp, "SmsTest", 200)
    assert resp.json["ok"] is True and resp.json["phone"] == NY
    assert twilio_server.sent_to(NY)[0]["body"] == "Hi Ben, 20% off today. Reply STOP to opt out"  # no consent needed
    assert api.post(f"/sms-campaigns/{campaign.id}/test", json={"phone": "12"}).status_code == 422
    consent.opt_out_number(ws.id, LONDON, "keyword")
    db.session.commit()
    stopped = api.post(f"/sms-campaigns/{campaign.id}/test", json={"phone": LONDON})
    assert stopped.status_code == 409 and "STOP" in stopped.json["error"]["message"]
    twilio_server.fail("+14155550124", code=21614)
    refused = api.post(f"/sms-campaigns/{campaign.id}/test", json={"phone": "+14155550124"})
    assert refused.json["ok"] is False and "Not a mobile number" in refused.json["problem"]

    page = client.get(f"/sms/{campaign.id}").get_data(as_text=True)
    token = _csrf(page)
    sent = client.post(f"/sms/{campaign.id}/test", data={"csrf_token": token, "test_phone": LA}, follow_redirects=True)
    assert "Test text sent to +1 415-555-0123" in sent.get_data(as_text=True)
    bad = client.post(f"/sms/{campaign.id}/test", data={"csrf_token": token, "test_phone": "<b>nope</b>"})
    assert bad.status_code == 422 and 'id="err-test_phone"' in bad.get_data(as_text=True)
    assert "<b>nope</b>" not in bad.get_data(as_text=True)
    assert sms_campaigns.recipient_counts(campaign.id) == {}  # a draft still: no rows, no figures


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
