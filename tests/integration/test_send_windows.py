"""Send windows: outside its window a campaign sends nothing and says when it resumes; when the
window opens everyone gets exactly one message; per-recipient windows follow each person's zone.

Sends go through a real RQ worker into a real SMTP server (aiosmtpd)."""

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Workspace
from app.services.audience import contacts
from app.services.campaigns import dispatch, drafts, lifecycle, recipients, send_windows, sending
from tests.factories import people as factory_people
from tests.factories import smtp_campaign

EVERY_DAY = list(range(7))


def _campaign(workspace, sink, people=(), n=3, send_window=None):
    camp = smtp_campaign(workspace, sink, factory_people(n), name="Office hours", send_window=send_window)
    lst_id = drafts.campaign_list_ids(camp.id)[0]
    for email, tz in people:
        contacts.add_subscriber(workspace.id, email, list_ids=[lst_id], timezone_name=tz)
    db.session.commit()
    return camp


def _closed_window(tz="UTC") -> dict:
    """A window of one hour that opens two hours from now (local time in `tz`)."""
    now = datetime.now(ZoneInfo(tz))
    return {
        "days": EVERY_DAY,
        "start": (now + timedelta(hours=2)).strftime("%H:%M"),
        "end": (now + timedelta(hours=3)).strftime("%H:%M"),
        "timezone": tz,
    }


def _rows(camp_id) -> list[CampaignRecipient]:
    db.session.expire_all()
    return list(db.session.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == camp_id)))


def _status(camp_id) -> str:
    db.session.expire_all()
    return db.session.get(Campaign, camp_id).status


def _set_workspace_timezone(workspace, tz: str) -> None:
    db.session.execute(update(Workspace).where(Workspace.id == workspace.id).values(timezone=tz))
    db.session.commit()


def test_a_closed_window_sends_nothing_and_the_page_and_api_say_when_it_resumes(
    workspace, smtp_sink, worker, client, api
):
    _set_workspace_timezone(workspace, "Europe/Berlin")
    window = _closed_window("Europe/Berlin")
    camp = _campaign(workspace, smtp_sink, n=4, send_window=window)
    opening = send_windows.next_opening(window, datetime.now(timezone.utc), "Europe/Berlin")
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()

    assert smtp_sink.messages == []
    rows = _rows(camp.id)
    assert len(rows) == 4
    for row in rows:
        assert (row.status, row.attempts) == ("pending", 0)  # waiting is not an attempt
        assert abs((row.retry_at - opening).total_seconds()) < 61  # the window's next opening
        assert row.reason.startswith(
            f"waiting for the send window (opens {opening.astimezone(ZoneInfo('Europe/Berlin')):%a %H:%M}"
        )
    assert _status(camp.id) == "sending"  # never "sent" with people waiting

    local = opening.astimezone(ZoneInfo("Europe/Berlin"))
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Outside the send window — sending resumes at" in page
    assert f"{local:%H:%M}" in page and "4 recipients wait for the window" in page
    assert "Held back by the provider" not in page and "Why messages were not sent" not in page
    live = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
    assert "Outside the send window" in live  # the live fragment keeps saying it
    r = api.get(f"/campaigns/{camp.id}")
    assert r.status_code == 200
    assert r.json["waiting_for_window"] == 4 and r.json["stats"]["failed"] == 0
    assert datetime.fromisoformat(r.json["window_resumes_at"]) == rows[0].retry_at
    assert r.json["send_window"] == window

    # The scheduler finds nobody due yet: the mail stays where it is.
    assert dispatch.requeue_due_retries() == 0


def test_a_closed_campaign_wide_window_is_set_in_one_update_not_row_by_row(workspace, smtp_sink, count_queries):
    camp = _campaign(workspace, smtp_sink, n=150, send_window=_closed_window())
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    ((first, last),) = recipients.prepare_campaign(camp.id)
    db.session.commit()
    with count_queries() as queries:
        counts = sending.send_batch(camp.id, first, last)
    assert counts == {"sent": 0, "failed": 0, "unknown": 0}
    assert queries() < 25  # no claim, no statement per recipient
    waiting = db.session.scalar(
        select(func.count()).where(
            CampaignRecipient.campaign_id == camp.id,
            CampaignRecipient.status == "pending",
            CampaignRecipient.reason.startswith("waiting for the send window"),
        )
    )
    assert waiting == 150 and smtp_sink.messages == []


def test_when_the_window_opens_every_recipient_gets_exactly_one_message(workspace, smtp_sink, worker):
    # Windows have minute granularity: this one opens at the next full minute (real time).
    now = datetime.now(timezone.utc)
    opening = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (opening - now).total_seconds() < 8:  # too close to prove that nothing went out before
        opening += timedelta(minutes=1)
    window = {
        "days": EVERY_DAY,
        "start": f"{opening:%H:%M}",
        "end": f"{opening + timedelta(minutes=30):%H:%M}",
        "timezone": "UTC",
    }
    camp = _campaign(workspace, smtp_sink, n=5, send_window=window)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert datetime.now(timezone.utc) < opening, "the machine was too slow to check the closed window"
    assert smtp_sink.messages == []
    assert {r.retry_at for r in _rows(camp.id)} == {opening}

    time.sleep(max(0.0, (opening - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    assert dispatch.requeue_due_retries() == 1  # what the scheduler does every 30 s
    db.session.commit()
    worker()
    assert _status(camp.id) == "sent"
    addresses = [m["rcpt_tos"][0] for m in smtp_sink.messages]
    assert sorted(addresses) == [f"p{i}@example.com" for i in range(5)]  # each exactly once
    rows = _rows(camp.id)
    assert {(r.status, r.attempts, r.reason) for r in rows} == {("sent", 0, None)}
    assert dispatch.requeue_due_retries() == 0


def _zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone in which it is now `hour` o'clock (Etc/GMT-5 is UTC+5)."""
    offset = (hour - datetime.now(timezone.utc).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_per_recipient_windows_send_where_it_is_open_and_wait_where_it_is_not(workspace, smtp_sink, worker, client):
    morning, evening = _zone_at_local_hour(6), _zone_at_local_hour(18)
    _set_workspace_timezone(workspace, morning)  # people without a timezone of their own use this one
    window = {"days": EVERY_DAY, "start": "00:00", "end": "12:00", "timezone": "recipient"}
    camp = _campaign(
        workspace,
        smtp_sink,
        n=0,
        people=[("early@example.com", morning), ("late@example.com", evening), ("nozone@example.com", None)],
        send_window=window,
    )
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()

    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["early@example.com", "nozone@example.com"]
    late = next(r for r in _rows(camp.id) if r.email == "late@example.com")
    assert (late.status, late.attempts) == ("pending", 0)
    assert late.retry_at == send_windows.next_opening(window, datetime.now(timezone.utc), evening)
    assert late.retry_at.astimezone(ZoneInfo(evening)).strftime("%H:%M") == "00:00"  # midnight there
    assert (
        late.reason
        == f"waiting for the send window (opens {late.retry_at.astimezone(ZoneInfo(evening)):%a} 00:00 {evening})"
    )
    assert _status(camp.id) == "sending"
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Outside the send window — sending resumes at" in page
    assert "1 recipient waits for the window in their own timezone" in page
    # Still closed for them: a requeue before their opening sends nothing more.
    assert dispatch.requeue_due_retries() == 0
    assert len(smtp_sink.messages) == 2


def test_waiting_for_the_window_is_never_an_attempt_and_keeps_a_later_retry(workspace, smtp_sink):
    window = _closed_window()
    camp = _campaign(workspace, smtp_sink, n=3, send_window=window)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    ((first, last),) = recipients.prepare_campaign(camp.id)
    db.session.commit()
    now = datetime.now(timezone.utc)
    opening = send_windows.next_opening(window, now, "UTC")
    rows = _rows(camp.id)
    # p1 was greylisted once and is due again soon; p2's retry is due only after the opening.
    later = opening + timedelta(minutes=20)
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.id == rows[1].id)
        .values(attempts=1, retry_at=now + timedelta(minutes=2), reason="smtp deferred: 451 (attempt 1 of 4; retrying)")
    )
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.id == rows[2].id)
        .values(attempts=2, retry_at=later, reason="smtp deferred: 451 (attempt 2 of 4; retrying)")
    )
    db.session.commit()
    gate = send_windows.gate_for(db.session.get(Campaign, camp.id))
    assert gate.hold_back(first, last) is True
    db.session.commit()
    by_email = {r.email: r for r in _rows(camp.id)}
    assert (by_email["p0@example.com"].attempts, by_email["p0@example.com"].retry_at) == (0, opening)
    assert (by_email["p1@example.com"].attempts, by_email["p1@example.com"].retry_at) == (1, opening)
    assert (by_email["p2@example.com"].attempts, by_email["p2@example.com"].retry_at) == (2, later)
    assert "attempt 2 of 4" in by_email["p2@example.com"].reason
    assert {r.status for r in by_email.values()} == {"pending"}
    stats = drafts.campaign_stats(camp.id)
    assert stats["failed"] == 0 and stats["pending"] == 3
    assert drafts.failure_reasons(camp.id) == []
    # With the window open (an hour later, via `now`), nothing is held back.
    assert gate.hold_back(first, last, now=opening + timedelta(minutes=1)) is False


@pytest.mark.parametrize(
    "window, field",
    [
        ({"days": [0], "start": "9 o'clock", "end": "17:00"}, "send_window.start"),
        ({"days": [0], "start": "09:00", "end": "09:00"}, "send_window.end"),
        ({"days": [0], "start": "09:00", "end": "17:00", "timezone": "Europe/Gotham"}, "send_window.timezone"),
        ({"days": [], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"days": [0], "start": "09:00"}, "send_window.end"),
        ({"days": [0], "start": "09:00", "end": "17:00", "when": "always"}, "send_window.when"),
    ],
)
def test_the_api_refuses_bad_windows_naming_the_field(api, workspace, smtp_sink, window, field):
    camp = _campaign(workspace, smtp_sink, n=1)
    r = api.c.patch(f"/api/v1/campaigns/{camp.id}", json={"send_window": window}, headers=api.h)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"], r.json
    assert db.session.get(Campaign, camp.id).send_window is None


def test_the_api_sets_changes_and_removes_a_window(api, workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink, n=1)
    r = api.c.patch(
        f"/api/v1/campaigns/{camp.id}",
        json={"send_window": {"days": [4, 0, 1, 2, 3], "start": "9:00", "end": "17:00", "timezone": "Europe/Berlin"}},
        headers=api.h,
    )
    assert r.status_code == 200, r.json
    assert r.json["send_window"] == {
        "days": [0, 1, 2, 3, 4],
        "start": "09:00",
        "end": "17:00",
        "timezone": "Europe/Berlin",
    }
    assert r.json["name"] == "Office hours" and r.json["waiting_for_window"] == 0  # other fields kept
    r = api.c.patch(f"/api/v1/campaigns/{camp.id}", json={"send_window": None}, headers=api.h)
    assert r.status_code == 200 and r.json["send_window"] is None


def test_the_dashboard_form_sets_a_window_and_explains_a_wrong_one(client, workspace, smtp_sink):
    camp = _campaign(workspace, smtp_sink, n=1)
    page = client.get(f"/campaigns/{camp.id}/edit").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {
        "csrf_token": token,
        "name": "Office hours",
        "template_id": str(camp.template_id),
        "list_ids": [str(i) for i in drafts.campaign_list_ids(camp.id)],
        "from_name": "Acme",
        "from_email": "news@shop.example.com",
        "window_enabled": "on",
        "window_days": ["0", "1", "2", "3", "4"],
        "window_start": "17:00",
        "window_end": "17:00",
        "window_timezone": "Europe/Berlin",
    }
    r = client.post(f"/campaigns/{camp.id}/edit", data=form)
    assert r.status_code == 422
    assert "The window starts and ends at the same time" in r.get_data(as_text=True)
    r = client.post(f"/campaigns/{camp.id}/edit", data={**form, "window_start": "09:00"})
    assert r.status_code == 302
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Mon–Fri, 09:00–17:00 (Europe/Berlin)" in page
