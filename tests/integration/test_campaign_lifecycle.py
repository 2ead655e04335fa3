"""The campaign lifecycle as a state machine: schedule, pause, resume, cancel — from the API and
the dashboard — with a real worker and a real SMTP server, and nobody receiving anything twice."""

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Workspace
from app.services.campaigns import dispatch, lifecycle, recipients
from app.services.errors import InvalidState, ValidationError
from tests.factories import people, smtp_campaign


def _campaign(workspace, sink, n=5, per_second=None):
    return smtp_campaign(workspace, sink, people(n), provider={"max_sends_per_second": per_second})


def _status(camp_id) -> str:
    db.session.expire_all()
    return db.session.get(Campaign, camp_id).status


def _recipients(camp_id) -> dict:
    rows = db.session.execute(
        select(CampaignRecipient.status, func.count())
        .where(CampaignRecipient.campaign_id == camp_id)
        .group_by(CampaignRecipient.status)
    ).all()
    return dict(rows)


def test_illegal_transitions_answer_409_with_the_current_state(api, workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink)
    for action in ("pause", "resume", "cancel"):
        r = api.post(f"/campaigns/{camp.id}/{action}")
        assert r.status_code == 409, (action, r.json)
        assert r.json["error"]["fields"]["status"] == "draft"
        assert "draft" in r.json["error"]["message"]
    assert _status(camp.id) == "draft"
    r = api.post(f"/campaigns/{camp.id}/schedule", json={"scheduled_at": "yesterday"})
    assert r.status_code == 422 and "scheduled_at" in r.json["error"]["fields"]
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    r = api.post(f"/campaigns/{camp.id}/schedule", json={"scheduled_at": past})
    assert r.status_code == 422 and "at least a minute from now" in r.json["error"]["message"]


def test_a_time_without_offset_is_read_in_the_workspace_timezone(api, workspace, smtp_sink):
    db.session.execute(update(Workspace).where(Workspace.id == workspace.id).values(timezone="Europe/Berlin"))
    db.session.commit()
    camp = _campaign(workspace, smtp_sink)
    year = datetime.now(timezone.utc).year + 1
    r = api.post(f"/campaigns/{camp.id}/schedule", json={"scheduled_at": f"{year}-01-15T09:00"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "scheduled"
    assert r.json["scheduled_at"].startswith(f"{year}-01-15T08:00")  # 09:00 in Berlin is 08:00 UTC in winter


def test_a_scheduled_campaign_starts_when_due_and_reaches_everyone_once(workspace, smtp_sink, worker):
    camp = _campaign(workspace, smtp_sink, n=4)
    lifecycle.schedule(workspace.id, camp.id, datetime.now(timezone.utc) + timedelta(minutes=5))
    db.session.commit()
    assert lifecycle.start_due_campaigns() == []  # not yet
    db.session.commit()
    later = datetime.now(timezone.utc) + timedelta(minutes=6)
    assert lifecycle.start_due_campaigns(now=later) == [camp.id]
    db.session.commit()
    worker()
    assert _status(camp.id) == "sent"
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == [f"p{i}@example.com" for i in range(4)]


def test_pausing_a_scheduled_campaign_keeps_it_from_starting_and_resume_reschedules_it(workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink)
    when = datetime.now(timezone.utc) + timedelta(hours=2)
    lifecycle.schedule(workspace.id, camp.id, when)
    lifecycle.pause(workspace.id, camp.id)
    db.session.commit()
    assert lifecycle.start_due_campaigns(now=when + timedelta(minutes=1)) == []
    lifecycle.resume(workspace.id, camp.id)
    db.session.commit()
    assert _status(camp.id) == "scheduled"
    lifecycle.cancel(workspace.id, camp.id)
    db.session.commit()
    assert _status(camp.id) == "cancelled"
    with pytest.raises(InvalidState):
        lifecycle.resume(workspace.id, camp.id)


def test_pause_stops_between_two_messages_and_resume_sends_the_rest_exactly_once(
    workspace, smtp_sink, worker, redis_url, client
):
    camp = _campaign(workspace, smtp_sink, n=60, per_second=10)  # about six seconds of sending
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    # A real worker process (RQ needs the main thread of its own process), sending at 20/s.
    rq = Path(sys.executable).parent / "rq"
    runner = subprocess.Popen(
        [str(rq), "worker", "--burst", "--url", redis_url, "--path", ".", "sends", "default"],
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(smtp_sink.messages) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        # The live figures: a rate, the time left, and the rate limit holding it back.
        live = ""
        while time.monotonic() < deadline and not ("messages/s" in live and "data-throttled" in live):
            live = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
            time.sleep(0.1)
        assert "messages/s" in live and "left" in live and "data-throttled" in live, live
        lifecycle.pause(workspace.id, camp.id)
        db.session.commit()
        runner.wait(30)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)

    received_while_paused = len(smtp_sink.messages)
    statuses = _recipients(camp.id)
    assert _status(camp.id) == "paused"
    assert 5 <= received_while_paused < 60, received_while_paused
    assert statuses.get("sending", 0) == 0  # nothing left half-claimed
    assert statuses.get("sent", 0) == received_while_paused
    assert statuses.get("pending", 0) == 60 - received_while_paused
    time.sleep(0.5)
    assert len(smtp_sink.messages) == received_while_paused  # really stopped

    lifecycle.resume(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert _status(camp.id) == "sent"
    addresses = [m["rcpt_tos"][0] for m in smtp_sink.messages]
    assert len(addresses) == 60 and len(set(addresses)) == 60


def test_cancel_lists_whoever_was_not_sent(workspace, smtp_sink, api):
    camp = _campaign(workspace, smtp_sink, n=3)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    recipients.prepare_campaign(camp.id)  # the audience is written, nothing is sent yet
    db.session.commit()
    assert api.post(f"/campaigns/{camp.id}/cancel").status_code == 409  # sending: pause first
    assert api.post(f"/campaigns/{camp.id}/pause").json["status"] == "paused"
    r = api.post(f"/campaigns/{camp.id}/cancel")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    rows = db.session.execute(
        select(CampaignRecipient.status, CampaignRecipient.reason).where(CampaignRecipient.campaign_id == camp.id)
    ).all()
    assert rows and all(r == ("failed", "cancelled before sending") for r in rows)
    assert smtp_sink.messages == []


def test_a_dead_workers_claims_become_unknown_and_are_resent_only_by_decision(workspace, smtp_sink, worker, api):
    camp = _campaign(workspace, smtp_sink, n=3)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    recipients.prepare_campaign(camp.id)
    db.session.commit()
    # A worker claimed every row, then died before writing anything back.
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == camp.id)
        .values(status="sending", claimed_at=old)
    )
    db.session.commit()
    assert recipients.recover_stale_claims() == 3
    db.session.commit()
    assert _recipients(camp.id) == {"unknown": 3}
    assert _status(camp.id) == "sent"  # finished, with the unknown ones listed, never silently
    r = api.post(f"/campaigns/{camp.id}/resend-unknown")
    assert r.status_code == 200 and r.json == {"requeued": 3}
    worker()
    assert _status(camp.id) == "sent"
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]


def test_the_dashboard_schedules_pauses_resumes_and_cancels(client, workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink)
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Schedule" in page
    token = (
        client.get(f"/campaigns/{camp.id}").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    )
    when = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(f"/campaigns/{camp.id}/schedule", data={"scheduled_at": when, "csrf_token": token})
    assert r.status_code == 302 and _status(camp.id) == "scheduled"
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Scheduled · starts" in page and "Pause" in page and "Cancel campaign" in page
    client.post(f"/campaigns/{camp.id}/pause", data={"csrf_token": token})
    assert _status(camp.id) == "paused"
    r = client.post(f"/campaigns/{camp.id}/pause", data={"csrf_token": token}, follow_redirects=True)
    assert "only a scheduled or sending campaign can be paused" in r.get_data(as_text=True)
    client.post(f"/campaigns/{camp.id}/cancel", data={"csrf_token": token})
    assert _status(camp.id) == "cancelled"


def test_schedule_refuses_bad_times_with_a_clear_message(workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink)
    for bad in ("", "soon", "2026-13-40T25:00", None):
        with pytest.raises(ValidationError) as exc:
            lifecycle.schedule(workspace.id, camp.id, bad)
        assert "scheduled_at" in exc.value.fields
    with pytest.raises(ValidationError):
        lifecycle.schedule(workspace.id, camp.id, datetime.now(timezone.utc) + timedelta(days=400))


def test_a_time_twenty_seconds_ahead_is_refused_with_the_rule_in_the_api_and_the_dashboard(
    api, client, workspace, smtp_sink
):
    camp = _campaign(workspace, smtp_sink)
    soon = datetime.now(timezone.utc) + timedelta(seconds=20)
    r = api.post(f"/campaigns/{camp.id}/schedule", json={"scheduled_at": soon.isoformat()})
    assert r.status_code == 422
    message = r.json["error"]["message"]
    assert message.startswith("Choose a time at least a minute from now (it is ") and "in UTC" in message
    assert "future" not in message and "past" not in message
    assert r.json["error"]["fields"]["scheduled_at"] == "At least a minute from now."
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "At least a minute from now, in UTC time." in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form_time = soon.strftime("%Y-%m-%dT%H:%M:%S")
    r = client.post(f"/campaigns/{camp.id}/schedule", data={"scheduled_at": form_time, "csrf_token": token})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Choose a time at least a minute from now" in page and _status(camp.id) == "draft"
    later = datetime.now(timezone.utc) + timedelta(seconds=90)
    assert lifecycle.schedule(workspace.id, camp.id, later).status == "scheduled"


def test_a_campaign_test_is_marked_untracked_and_counts_nowhere(workspace, smtp_sink, api, client):
    camp = _campaign(workspace, smtp_sink, n=2)
    r = api.post(f"/campaigns/{camp.id}/test", json={"emails": ["qa@example.com", "boss@example.com"]})
    assert r.status_code == 200, r.json
    assert [x["ok"] for x in r.json["results"]] == [True, True]
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["boss@example.com", "qa@example.com"]
    msg = smtp_sink.messages[0]["message"]
    assert msg["Subject"].startswith("[Test] Hi ") and msg["X-Herald-Test"] == "1"
    assert msg["From"].endswith("<news@shop.example.com>")
    assert "/t/o/" not in msg.get_body(("html",)).get_content()  # not tracked
    assert _status(camp.id) == "draft" and _recipients(camp.id) == {}
    r = api.post(f"/campaigns/{camp.id}/test", json={"emails": ["not-an-address"]})
    assert r.status_code == 422 and "emails" in r.json["error"]["fields"]
    token = client.get(f"/campaigns/{camp.id}").get_data(as_text=True).split('name="csrf_token" value="')[1]
    r = client.post(
        f"/campaigns/{camp.id}/test",
        data={"emails": "me@example.com", "csrf_token": token.split('"')[0]},
        follow_redirects=True,
    )
    assert "Test sent to me@example.com." in r.get_data(as_text=True)


def test_the_campaign_page_says_why_messages_were_not_sent(workspace, smtp_sink, worker, client):
    smtp_sink.refuse["p1@example.com"] = "550 5.1.1 <p1@example.com>: no such mailbox"
    camp = _campaign(workspace, smtp_sink, n=3)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Why messages were not sent" in page
    assert "1 × smtp rejected: 550 5.1.1" in page


@pytest.fixture
def quick_retries(monkeypatch):
    """Deferred recipients are due again at once (the worker's app reads the environment)."""
    from workers import jobs

    monkeypatch.setenv("SEND_RETRY_BASE_SECONDS", "0")
    jobs._app.cache_clear()
    yield
    jobs._app.cache_clear()


def test_a_temporary_refusal_is_retried_and_the_campaign_waits_for_it(
    workspace, smtp_sink, worker, quick_retries, monkeypatch
):
    from workers import jobs

    monkeypatch.setenv("SEND_RETRY_BASE_SECONDS", "1")  # the first retry is due after 1-1.3 s
    jobs._app.cache_clear()
    smtp_sink.refuse["p1@example.com"] = "451 4.7.1 Greylisted, try again later"
    camp = _campaign(workspace, smtp_sink, n=3)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    row = db.session.scalar(select(CampaignRecipient).where(CampaignRecipient.email == "p1@example.com"))
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451 4.7.1" in row.reason and "attempt 1 of 4" in row.reason
    assert _status(camp.id) == "sending"  # never "sent" with someone silently left out

    del smtp_sink.refuse["p1@example.com"]  # the greylisting server now accepts
    assert dispatch.requeue_due_retries() == 0  # not due yet
    time.sleep(1.4)
    assert dispatch.requeue_due_retries() == 1
    db.session.commit()
    worker()
    assert _status(camp.id) == "sent"
    addresses = sorted(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert addresses == ["p0@example.com", "p1@example.com", "p2@example.com"]


def test_a_recipient_refused_for_now_every_time_fails_with_the_servers_reply(
    workspace, smtp_sink, worker, quick_retries
):
    smtp_sink.refuse["p0@example.com"] = "452 4.2.2 Mailbox full"
    camp = _campaign(workspace, smtp_sink, n=2)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    for _ in range(5):
        dispatch.requeue_due_retries()
        db.session.commit()
        worker()
    row = db.session.scalar(select(CampaignRecipient).where(CampaignRecipient.email == "p0@example.com"))
    assert row.status == "failed" and row.attempts == 3
    assert "452 4.2.2 Mailbox full" in row.reason and "gave up after 4 attempts" in row.reason
    assert _status(camp.id) == "sent"
    assert [m["rcpt_tos"][0] for m in smtp_sink.messages] == ["p1@example.com"]
