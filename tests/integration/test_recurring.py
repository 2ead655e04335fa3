"""Recurring campaigns: a series starts, each due run becomes one child campaign that sends to the
audience (through a real RQ worker and SMTP server), exactly once even when two schedulers race;
pause, cancel and `until` stop it; missed runs after downtime are skipped, not sent in a burst."""

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from app.extensions import db
from app.models import Campaign, CampaignList, Subscriber
from app.services.audience import contacts
from app.services.campaigns import lifecycle, recurring
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = {"frequency": "weekly", "days": [0], "time": "09:00", "timezone": "Europe/Berlin"}


def _audience(workspace, sink, n=3):
    """Readers r0… on a list, the default relay and the Digest template; committed."""
    lst = create_list(workspace.id, "Readers")
    create_subscribers(workspace.id, people(n, "r{i}@example.com", "R{i}"), lst.id)
    prov = create_smtp_provider(workspace.id, sink.port)
    tpl = create_template(workspace.id, "This week, {{ subscriber.name }}", name="Digest")
    db.session.commit()
    return lst, prov, tpl


def _series(workspace, lst, prov, tpl, name="Weekly digest", recurrence=WEEKLY, **extra) -> Campaign:
    camp = create_campaign(
        workspace.id,
        tpl.id,
        [lst.id],
        prov.id,
        name=name,
        from_email="digest@shop.example.com",
        recurrence=recurrence,
        **extra,
    )
    db.session.commit()
    return camp


def _make_due(*campaign_ids, ago=timedelta(minutes=1)) -> datetime:
    """The clock reached the series' next run (as the scheduler would see it after waiting)."""
    due = datetime.now(timezone.utc) - ago
    db.session.execute(update(Campaign).where(Campaign.id.in_(campaign_ids)).values(next_run_at=due))
    db.session.commit()
    return due


def _runs(parent_id) -> list[Campaign]:
    db.session.expire_all()
    return list(db.session.scalars(select(Campaign).where(Campaign.parent_id == parent_id).order_by(Campaign.id)))


def _get(campaign_id) -> Campaign:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id)


def test_starting_a_series_schedules_its_first_run_in_its_timezone(api, workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    body = {
        "name": "Weekly digest",
        "template_id": tpl.id,
        "list_ids": [lst.id],
        "from_name": "Acme",
        "from_email": "digest@shop.example.com",
        "recurrence": {"frequency": "weekly", "days": [0], "time": "9:00", "timezone": "Europe/Berlin"},
    }
    r = api.post("/campaigns", json=body)
    assert r.status_code == 201, r.json
    assert r.json["recurrence"] == WEEKLY and r.json["next_run_at"] is None
    camp_id = r.json["id"]
    # A series only sends through its runs.
    assert api.post(f"/campaigns/{camp_id}/send").status_code == 422
    later = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    assert api.post(f"/campaigns/{camp_id}/schedule", json={"scheduled_at": later}).status_code == 422

    before = datetime.now(timezone.utc)
    r = api.post(f"/campaigns/{camp_id}/start-recurring")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "scheduled" and r.json["scheduled_at"] is None
    next_run = datetime.fromisoformat(r.json["next_run_at"])
    local = next_run.astimezone(BERLIN)
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)  # Monday 09:00 in Berlin
    assert before < next_run <= before + timedelta(days=7)
    r = api.post(f"/campaigns/{camp_id}/start-recurring")
    assert r.status_code == 409 and r.json["error"]["fields"]["status"] == "scheduled"


def test_bad_recurrences_are_refused_by_field(api, workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    camp = _series(workspace, lst, prov, tpl, recurrence=None)
    for recurrence, field in [
        ({"frequency": "fortnightly", "time": "09:00"}, "recurrence.frequency"),
        ({"frequency": "weekly", "time": "09:00", "timezone": "Berlin"}, "recurrence.days"),
        ({"frequency": "daily", "time": "9h"}, "recurrence.time"),
        ({"frequency": "monthly", "day_of_month": 0, "time": "09:00"}, "recurrence.day_of_month"),
        ({"frequency": "daily", "time": "09:00", "timezone": "Europe/Nowhere"}, "recurrence.timezone"),
    ]:
        r = api.c.patch(f"/api/v1/campaigns/{camp.id}", json={"recurrence": recurrence}, headers=api.h)
        assert r.status_code == 422, (recurrence, r.json)
        assert field in r.json["error"]["fields"], (recurrence, r.json)
    # Without a recurrence there is no series to start.
    r = api.post(f"/campaigns/{camp.id}/start-recurring")
    assert r.status_code == 422 and "recurrence" in r.json["error"]["fields"]
    # A series whose last day is already past never starts.
    r = api.c.patch(
        f"/api/v1/campaigns/{camp.id}", json={"recurrence": {**WEEKLY, "until": "2020-01-01"}}, headers=api.h
    )
    assert r.status_code == 200
    r = api.post(f"/campaigns/{camp.id}/start-recurring")
    assert r.status_code == 422 and "recurrence.until" in r.json["error"]["fields"]


def test_a_due_run_is_created_once_when_two_schedulers_race_and_sends_to_the_audience(
    workspace, smtp_sink, worker, client, api
):
    from workers import jobs

    lst, prov, tpl = _audience(workspace, smtp_sink, n=3)
    window = {"days": list(range(7)), "start": "00:00", "end": "24:00", "timezone": "UTC"}
    series = [
        _series(workspace, lst, prov, tpl, name=f"Digest {i}", send_window=window, track_clicks=False) for i in range(3)
    ]
    for camp in series:
        recurring.start_recurring(workspace.id, camp.id)
    db.session.commit()
    due = _make_due(*(c.id for c in series))

    # Two scheduler processes fire the job at the same moment.
    barrier, results, errors = threading.Barrier(2), [], []

    def scheduler():
        barrier.wait()
        try:
            results.append(jobs.run_recurring_campaigns())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(cid for r in results for cid in r) == sorted(run.id for c in series for run in _runs(c.id))
    for camp in series:
        runs = _runs(camp.id)
        assert len(runs) == 1, [r.name for r in runs]  # exactly one run per due time
        parent = _get(camp.id)
        assert parent.status == "scheduled" and parent.next_run_at > datetime.now(timezone.utc)
        assert parent.next_run_at.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00"

    parent, run = _get(series[0].id), _runs(series[0].id)[0]
    assert run.name == f"Digest 0 — {due.astimezone(BERLIN):%d %b %Y}"
    assert (run.status, run.template_id, run.provider_id, run.from_email) == (
        "sending",
        tpl.id,
        prov.id,
        "digest@shop.example.com",
    )
    assert run.send_window == window and run.track_clicks is False and run.recurrence is None
    assert db.session.scalars(select(CampaignList.list_id).where(CampaignList.campaign_id == run.id)).all() == [lst.id]

    worker()
    runs = [_runs(c.id)[0] for c in series]
    assert {_get(r.id).status for r in runs} == {"sent"}
    received = sorted(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert received == sorted([f"r{i}@example.com" for i in range(3)] * 3)  # each run reached everyone once

    # The series' page lists its runs with their figures; a run links back to its series.
    page = client.get(f"/campaigns/{parent.id}").get_data(as_text=True)
    assert "Recurring · next run" in page and 'id="runs-table"' in page
    assert f'href="/campaigns/{runs[0].id}"' in page and runs[0].name in page
    assert "Every Mon at 09:00 (Europe/Berlin)" in page
    run_page = client.get(f"/campaigns/{runs[0].id}").get_data(as_text=True)
    assert "Run of" in run_page and f'href="/campaigns/{parent.id}"' in run_page
    r = api.get(f"/campaigns/{parent.id}/runs")
    assert r.status_code == 200 and r.json["total"] == 1
    item = r.json["items"][0]
    assert (item["id"], item["sent"], item["status"], item["name"]) == (runs[0].id, 3, "sent", runs[0].name)
    r = api.get(f"/campaigns?parent_id={parent.id}")
    assert [c["id"] for c in r.json["items"]] == [runs[0].id] and r.json["items"][0]["parent_id"] == parent.id


def test_after_downtime_a_series_runs_once_and_skips_the_missed_runs(workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    daily = {"frequency": "daily", "time": "07:00", "timezone": "UTC"}
    camp = _series(workspace, lst, prov, tpl, name="Daily", recurrence=daily)
    recurring.start_recurring(workspace.id, camp.id)
    db.session.commit()
    _make_due(camp.id, ago=timedelta(days=3, hours=1))  # the scheduler was down for three days
    assert len(recurring.run_due()) == 1
    db.session.commit()
    assert recurring.run_due() == []  # nothing else is due: the missed runs are skipped
    parent = _get(camp.id)
    now = datetime.now(timezone.utc)
    assert now < parent.next_run_at <= now + timedelta(days=1)
    assert len(_runs(camp.id)) == 1


def test_pausing_stops_runs_resume_skips_missed_ones_and_cancel_ends_the_series(workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    camp = _series(workspace, lst, prov, tpl)
    recurring.start_recurring(workspace.id, camp.id)
    lifecycle.pause(workspace.id, camp.id)
    db.session.commit()
    _make_due(camp.id, ago=timedelta(days=8))
    assert recurring.run_due() == []  # paused: no runs
    lifecycle.resume(workspace.id, camp.id)
    db.session.commit()
    parent = _get(camp.id)
    assert parent.status == "scheduled" and parent.next_run_at > datetime.now(timezone.utc)  # missed runs skipped
    assert recurring.run_due() == []
    lifecycle.cancel(workspace.id, camp.id)
    db.session.commit()
    _make_due(camp.id)
    assert recurring.run_due() == []
    assert _get(camp.id).status == "cancelled" and _runs(camp.id) == []


def test_until_ends_the_series_after_its_last_run(workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    daily = {"frequency": "daily", "time": "09:00", "timezone": "UTC", "until": tomorrow.isoformat()}
    camp = _series(workspace, lst, prov, tpl, name="Short series", recurrence=daily)
    start = datetime.combine(tomorrow - timedelta(days=1), datetime.min.time(), timezone.utc).replace(hour=8)
    recurring.start_recurring(workspace.id, camp.id, now=start)
    db.session.commit()
    assert _get(camp.id).next_run_at == start.replace(hour=9)
    assert len(recurring.run_due(now=start.replace(hour=9, minute=1))) == 1
    db.session.commit()
    assert _get(camp.id).next_run_at == start.replace(hour=9) + timedelta(days=1)
    assert len(recurring.run_due(now=start.replace(hour=9, minute=1) + timedelta(days=1))) == 1
    db.session.commit()
    parent = _get(camp.id)
    assert parent.status == "sent" and parent.next_run_at is None  # the last run before `until` has started
    assert [r.name for r in _runs(camp.id)] == [
        f"Short series — {tomorrow - timedelta(days=1):%d %b %Y}",
        f"Short series — {tomorrow:%d %b %Y}",
    ]
    assert recurring.run_due(now=start + timedelta(days=5)) == []


def test_a_run_that_cannot_start_waits_paused_and_the_series_says_why(workspace, smtp_sink, client):
    lst, prov, tpl = _audience(workspace, smtp_sink, n=1)
    camp = _series(workspace, lst, prov, tpl)
    recurring.start_recurring(workspace.id, camp.id)
    db.session.commit()
    reader = db.session.scalar(select(Subscriber).where(Subscriber.email == "r0@example.com"))
    contacts.delete_subscriber(workspace.id, reader.id)
    db.session.commit()
    _make_due(camp.id)
    (run_id,) = recurring.run_due()
    db.session.commit()
    run = _get(run_id)
    assert run.status == "paused" and "no subscribers" in run.last_error
    assert "could not start" in _get(camp.id).last_error and _get(camp.id).status == "scheduled"
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "could not start" in page


def test_the_dashboard_starts_a_series_and_shows_its_next_run(client, workspace, smtp_sink):
    lst, prov, tpl = _audience(workspace, smtp_sink)
    page = client.get("/campaigns/new").get_data(as_text=True)
    assert 'id="f-repeat" checked' not in page and 'id="f-window_enabled" checked' not in page  # off by default
    assert 'id="f-repeat"' in page and 'id="f-window_enabled"' in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {
        "csrf_token": token,
        "name": "Weekly digest",
        "template_id": str(tpl.id),
        "list_ids": [str(lst.id)],
        "from_name": "Acme",
        "from_email": "digest@shop.example.com",
        "repeat": "on",
        "recurrence_frequency": "weekly",
        "recurrence_time": "09:00",
        "recurrence_timezone": "Europe/Berlin",
    }
    r = client.post("/campaigns/new", data=form)
    assert r.status_code == 422 and "Choose at least one day of the week." in r.get_data(as_text=True)
    r = client.post("/campaigns/new", data={**form, "recurrence_days": ["0", "3"]})
    assert r.status_code == 302
    camp_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    page = client.get(f"/campaigns/{camp_id}").get_data(as_text=True)
    assert "Every Mon, Thu at 09:00 (Europe/Berlin)" in page and "Start recurring" in page
    assert "Send now" not in page and "the first run would be" in page
    r = client.post(f"/campaigns/{camp_id}/start-recurring", data={"csrf_token": token}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "The series has started" in page and "Recurring · next run" in page
    assert _get(camp_id).status == "scheduled"


def test_another_workspaces_series_answers_404(api, make_workspace, smtp_sink, client):
    other = make_workspace("Other", "other@example.com")
    lst, prov, tpl = _audience(other, smtp_sink)
    theirs = _series(other, lst, prov, tpl, name="Their digest")
    for method, path, body in [
        ("patch", f"/campaigns/{theirs.id}", {"send_window": None}),
        ("post", f"/campaigns/{theirs.id}/start-recurring", None),
        ("get", f"/campaigns/{theirs.id}/runs", None),
    ]:
        r = getattr(api.c, method)(f"/api/v1{path}", json=body, headers=api.h)
        assert r.status_code == 404, (path, r.json)
        assert "Their digest" not in r.get_data(as_text=True)
    assert api.get(f"/campaigns?parent_id={theirs.id}").json["total"] == 0
    assert client.get(f"/campaigns/?parent_id={theirs.id}").status_code == 404
    token = client.get("/campaigns/new").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post(f"/campaigns/{theirs.id}/start-recurring", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 404 and "Their digest" not in r.get_data(as_text=True)
    assert _get(theirs.id).status == "draft"


def test_each_run_of_an_ab_tested_series_runs_its_own_test(workspace, smtp_sink, worker):
    from app.models import CampaignVariant

    lst, prov, tpl = _audience(workspace, smtp_sink, n=20)
    camp = _series(
        workspace,
        lst,
        prov,
        tpl,
        ab_test={"test_percent": 50, "metric": "clicks", "wait_minutes": 60, "auto_pick": True},
        variants=[{"subject": "Subject A"}, {"subject": "Subject B"}],
    )
    recurring.start_recurring(workspace.id, camp.id)
    db.session.commit()
    _make_due(camp.id)
    [run_id] = recurring.run_due()
    db.session.commit()
    worker()
    run = _get(run_id)
    assert run.ab_test["metric"] == "clicks" and run.ab_phase == "waiting"
    labels = db.session.scalars(
        select(CampaignVariant.label).where(CampaignVariant.campaign_id == run_id).order_by(CampaignVariant.label)
    ).all()
    assert labels == ["A", "B"]
    subjects = sorted(m["message"]["Subject"] for m in smtp_sink.messages)
    assert subjects == ["Subject A"] * 5 + ["Subject B"] * 5  # half of 20, split evenly; the rest waits
