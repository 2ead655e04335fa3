"""One recipient's problem stays that recipient's: a non-ASCII address or a template failing for
one person never stops a batch, "unknown" means only an unclear hand-off, and a template that
fails for everyone is refused before the campaign starts (or pauses it while it sends)."""

import email
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Subscriber, Suppression, Template
from app.services.campaigns import lifecycle, recipients, sending
from app.services.errors import ValidationError
from tests.conftest import TEMPLATE_HTML, SMTPSink
from tests.factories import create_campaign, create_list, create_smtp_provider, create_subscribers, create_template
from tests.support import free_port

NO_SMTPUTF8 = (
    "This address has non-ASCII letters before the @ and the mail server does not accept such addresses (no SMTPUTF8)."
)


@pytest.fixture(params=[False, True], ids=["no SMTPUTF8", "SMTPUTF8 offered"])
def relay(request):
    sink = SMTPSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, enable_SMTPUTF8=request.param)
    controller.start()
    sink.smtputf8 = request.param
    yield sink
    controller.stop()


def _campaign(workspace, sink, people, subject="Hi {{ subscriber.name }}", html=TEMPLATE_HTML):
    if "unsubscribe_url" not in html:
        html += '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    lst = create_list(workspace.id)
    result = create_subscribers(workspace.id, people, lst.id)
    assert not result.errors, result.errors
    prov = create_smtp_provider(workspace.id, sink.port)
    tpl = create_template(workspace.id, subject, html)
    camp = create_campaign(workspace.id, tpl.id, [lst.id], prov.id, from_name="Acme Shop")
    db.session.commit()
    return camp


def _rows(camp_id) -> dict:
    db.session.expire_all()
    rows = db.session.execute(
        select(CampaignRecipient.email, CampaignRecipient.status, CampaignRecipient.reason).where(
            CampaignRecipient.campaign_id == camp_id
        )
    ).all()
    return {r.email: (r.status, r.reason) for r in rows}


def _send_in_one_batch(workspace, camp) -> dict:
    """Start the campaign and send its only batch in this process: what send_batch returns."""
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    ranges = recipients.prepare_campaign(camp.id)
    db.session.commit()
    assert len(ranges) == 1
    return sending.send_batch(camp.id, *ranges[0])


def test_a_non_ascii_address_in_the_middle_of_a_batch_never_stops_the_others(workspace, relay):
    people = [{"email": f"p{i}@example.com", "name": f"P{i}"} for i in range(3)]
    people += [{"email": "müller@example.com", "name": "Jörg Müller"}, {"email": "bob@exämple.com", "name": "Bob"}]
    people += [{"email": f"q{i}@example.com"} for i in range(3)]
    camp = _campaign(workspace, relay, people)
    counts = _send_in_one_batch(workspace, camp)
    received = sorted(m["rcpt_tos"][0] for m in relay.messages)
    others = [f"p{i}@example.com" for i in range(3)] + [f"q{i}@example.com" for i in range(3)]
    rows = _rows(camp.id)
    assert "bob@xn--exmple-cua.com" in received  # the domain in IDNA, whatever the server offers
    if relay.smtputf8:
        assert counts == {"sent": 8, "failed": 0, "unknown": 0}
        assert received == sorted([*others, "bob@xn--exmple-cua.com", "müller@example.com"])
        raw = next(m["raw"] for m in relay.messages if m["rcpt_tos"] == ["müller@example.com"])
        msg = email.message_from_string(raw.decode("utf-8"), policy=policy.default)  # RFC 6532: UTF-8 headers
        assert msg["To"].addresses[0].addr_spec == "müller@example.com"
        assert msg["To"].addresses[0].display_name == "Jörg Müller"
    else:
        assert counts == {"sent": 7, "failed": 1, "unknown": 0}
        assert received == sorted([*others, "bob@xn--exmple-cua.com"])
        status, reason = rows["müller@example.com"]
        assert status == "failed" and reason.startswith(NO_SMTPUTF8)
        assert "Error" not in reason and "(" not in reason.split("(no SMTPUTF8)")[0]
        # Not a bounce: the address stays usable, nobody is suppressed.
        assert db.session.scalar(select(Suppression.id).where(Suppression.email == "müller@example.com")) is None
        assert db.session.scalar(select(Subscriber.status).where(Subscriber.email == "müller@example.com")) == (
            "active"
        )
    assert all(status != "unknown" for status, _ in rows.values())
    assert db.session.get(Campaign, camp.id).status == "sent"


def test_a_template_failing_for_one_person_fails_that_person_with_a_sentence_and_sends_the_rest(workspace, smtp_sink):
    people = [{"email": f"p{i}@example.com", "attributes": {"n": i}} for i in range(6)]
    camp = _campaign(workspace, smtp_sink, people, html="<p>Share: {{ 100 // (subscriber.attributes.n - 5) }}</p>")
    counts = _send_in_one_batch(workspace, camp)  # the preflight samples p0..p4, for whom it works
    assert counts == {"sent": 5, "failed": 1, "unknown": 0}
    status, reason = _rows(camp.id)["p5@example.com"]
    assert status == "failed"
    assert reason == "The template failed for this recipient: it divides by zero (integer division or modulo by zero)."


def test_a_template_that_fails_for_real_recipients_is_refused_before_the_campaign_starts(workspace, smtp_sink, api):
    people = [{"email": f"p{i}@example.com", "name": f"P{i}"} for i in range(3)]
    camp = _campaign(workspace, smtp_sink, people, html="<p>{{ subscriber.attributes.plan.upper() }}</p>")
    r = api.post(f"/campaigns/{camp.id}/send")
    assert r.status_code == 422, r.json
    message = r.json["error"]["message"]
    assert message.startswith("Nothing was sent: the template fails for p0@example.com: it uses a value this ")
    assert "Fix the template" in message and "Traceback" not in message
    assert db.session.get(Campaign, camp.id).status == "draft"
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    r = api.post(f"/campaigns/{camp.id}/schedule", json={"scheduled_at": later})
    assert r.status_code == 422 and r.json["error"]["message"] == message
    with pytest.raises(ValidationError):
        lifecycle.send_now(workspace.id, camp.id)
    db.session.rollback()
    assert not smtp_sink.messages


def test_the_dashboard_shows_why_a_campaign_was_refused(workspace, smtp_sink, client):
    camp = _campaign(workspace, smtp_sink, [{"email": "p0@example.com"}], html="<p>{{ 1 / 0 }}</p>")
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(f"/campaigns/{camp.id}/send", data={"csrf_token": token}, follow_redirects=True)
    assert "Nothing was sent: the template fails for p0@example.com: it divides by zero" in r.get_data(as_text=True)
    assert db.session.get(Campaign, camp.id).status == "draft"


def test_a_scheduled_campaign_whose_template_broke_since_is_paused_with_the_reason_when_due(workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink, [{"email": "p0@example.com"}])
    lifecycle.schedule(workspace.id, camp.id, datetime.now(timezone.utc) + timedelta(minutes=5))
    db.session.execute(update(Template).values(body_html="<p>{{ 1 / 0 }}</p>{{ unsubscribe_url }}"))
    db.session.commit()
    assert lifecycle.start_due_campaigns(datetime.now(timezone.utc) + timedelta(minutes=6)) == []
    db.session.commit()
    c = db.session.get(Campaign, camp.id)
    assert c.status == "paused"
    assert c.last_error.startswith("Not started at its scheduled time: Nothing was sent: the template fails for p0@")


def test_a_campaign_whose_first_renders_all_fail_is_paused_with_the_reason_and_resumes_once_fixed(
    workspace, smtp_sink, worker, client
):
    people = [{"email": f"p{i}@example.com", "attributes": {"plan": "gold"}} for i in range(30)]
    camp = _campaign(workspace, smtp_sink, people, html="<p>Plan {{ subscriber.attributes.plan.upper() }}</p>")
    lifecycle.send_now(workspace.id, camp.id)  # the preflight passes: everyone has a plan now
    db.session.commit()
    db.session.execute(update(Subscriber).values(attributes={}))  # ...and then nobody has one
    db.session.commit()
    worker()
    c = db.session.get(Campaign, camp.id)
    assert c.status == "paused" and not smtp_sink.messages
    assert c.last_error.startswith(
        "Paused: the template failed for the first 30 recipients, so nothing was sent and the campaign was paused. "
        "It uses a value this recipient does not have ("
    )
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Paused: the template failed for the first 30 recipients" in page
    # Resuming with the template still failing is refused with the reason; once fixed, everyone gets it.
    with pytest.raises(ValidationError) as exc:
        lifecycle.resume(workspace.id, camp.id)
    assert "the template fails for p0@example.com" in exc.value.message
    db.session.rollback()
    db.session.execute(
        update(Template).values(
            body_html="<p>Plan {{ subscriber.attributes.plan or 'basic' }}</p>{{ unsubscribe_url }}"
        )
    )
    db.session.commit()
    lifecycle.resume(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert db.session.get(Campaign, camp.id).status == "sent"
    assert len(smtp_sink.messages) == 30
    assert "Plan basic" in smtp_sink.messages[0]["message"].get_body(("html",)).get_content()
