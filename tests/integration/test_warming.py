"""Warming a sending domain, with real workers, a real SMTP server and real provider webhooks:
the day's cap holds exactly with four workers racing, the most engaged people go first, the
rest goes out on the next day (time moved) without anyone pressing anything, each threshold
pauses the domain from real webhook events, and a paused domain sends nothing."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    Alert,
    Campaign,
    CampaignList,
    CampaignRecipient,
    Event,
    SendingDomain,
    WarmingDay,
    WarmingPlan,
)
from app.services.campaigns import dispatch, lifecycle, recipients
from app.services.delivery import warming, warming_holds
from app.services.delivery.warming_schedules import BUILT_IN, limit_for_day
from tests.factories import (
    create_campaign,
    create_list,
    create_provider,
    create_signing_domain,
    create_subscribers,
    create_template,
    people,
    smtp_campaign,
)
from tests.integration.test_send_guarantees import _kill, _statuses, _wait_for, _worker
from tests.webhook_support import SENDGRID_KEY, carried_by, post_sendgrid, public_key_b64, recipients_of, sendgrid_event

DOMAIN = "shop.example.com"  # the factories' campaigns come from news@shop.example.com


def _warm(workspace, steps, start_day=1) -> WarmingPlan:
    domain, _ = create_signing_domain(workspace, DOMAIN)
    schedule = warming.create_schedule(workspace.id, "Test ramp", steps)
    plan = warming.start(workspace.id, domain, f"custom:{schedule.id}", start_day)
    db.session.commit()
    return plan


def _waiting(campaign_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status == "pending",
            CampaignRecipient.reason == warming_holds.WARMING_WAIT,
        )
    )


def _next_day(plan_id: int) -> None:
    """Time moves on a day: the plan started a day earlier, and what was let out was let out yesterday."""
    plan = db.session.get(WarmingPlan, plan_id)
    plan.start_date -= timedelta(days=1)
    days = db.session.scalars(select(WarmingDay.day).where(WarmingDay.plan_id == plan_id).order_by(WarmingDay.day))
    for day in list(days):  # oldest first, so no day runs into the one before it (a date in Python: SQLite too)
        db.session.execute(
            update(WarmingDay)
            .where(WarmingDay.plan_id == plan_id, WarmingDay.day == day)
            .values(day=day - timedelta(days=1))
        )
    db.session.commit()


def _list_ids(camp) -> list[int]:
    return list(db.session.scalars(select(CampaignList.list_id).where(CampaignList.campaign_id == camp.id)))


def _campaign_mail(sink) -> list[dict]:
    """What the sink received for the campaigns (not the alert mail to the workspace's owner)."""
    return [m for m in sink.messages if m["rcpt_tos"] != ["owner@example.com"]]


def _sent_to(sink) -> set[str]:
    return {rcpt for m in sink.messages for rcpt in m["rcpt_tos"]}


# ---- schedules -----------------------------------------------------------------------------


def test_the_standard_schedule_is_seed_002s_plan_and_the_others_grow_geometrically():
    standard = BUILT_IN["standard"]
    caps = [limit_for_day(standard.steps, standard.interpolate, d) for d in range(1, 31)]
    assert caps[:14] == [50, 50, 100, 100, 500, 500, 500, 1000, 1000, 1000, 5000, 5000, 5000, 5000]
    assert caps[14:21] == [10_000] * 7 and caps[21:28] == [50_000] * 7
    assert caps[28:] == [None, None]  # then no cap

    conservative = BUILT_IN["conservative"]
    c = [limit_for_day(conservative.steps, True, d) for d in range(1, 23)]
    assert (c[0], c[6], c[13], c[20], c[21]) == (50, 1_000, 15_000, 100_000, None)
    assert all(a < b for a, b in zip(c[:20], c[1:21], strict=True))  # no cliffs: every day grows
    assert c[3] == round(50 * (1000 / 50) ** 0.5)  # day 4: halfway between days 1 and 7, geometrically


# ---- the cap, engagement order and the next day ----------------------------------------


def test_four_workers_racing_never_let_more_out_than_the_days_cap(workspace, smtp_sink, redis_url):
    plan = _warm(workspace, [{"day": 1, "volume": 37}, {"day": 2, "volume": 40}])
    first = smtp_campaign(workspace, smtp_sink, people(120, email="a{i}@example.com"), name="First")
    tpl = create_template(workspace.id, name="Second template")
    lst = create_list(workspace.id, "Others")
    create_subscribers(workspace.id, people(120, email="b{i}@example.com"), lst.id)
    second = create_campaign(workspace.id, tpl.id, [lst.id], first.provider_id, name="Second")
    db.session.commit()
    lifecycle.send_now(workspace.id, first.id)
    lifecycle.send_now(workspace.id, second.id)
    db.session.commit()

    workers = [_worker(redis_url) for _ in range(4)]  # both prepare jobs and the batches race
    try:
        assert _wait_for(lambda: all(w.poll() is not None for w in workers), 120)
    finally:
        for w in workers:
            if w.poll() is None:
                _kill(w)
    assert len(smtp_sink.messages) == 37
    assert len(_sent_to(smtp_sink)) == 37  # nobody twice
    db.session.expire_all()
    assert _waiting(first.id) + _waiting(second.id) == 240 - 37
    day = db.session.scalars(select(WarmingDay).where(WarmingDay.plan_id == plan.id)).one()
    assert (day.limit, day.released) == (37, 37)
    assert {db.session.get(Campaign, c.id).status for c in (first, second)} == {"sending"}


def _earlier_engagement(workspace, camp, engaged: list[int], lapsed: list[int]) -> None:
    """An earlier campaign to the same people: `engaged` opened it 10 days ago, `lapsed` clicked
    long ago (the later in the list, the longer ago)."""
    earlier = create_campaign(workspace.id, camp.template_id, _list_ids(camp), camp.provider_id,
                              name="Earlier")  # fmt: skip
    earlier.status = "sending"
    recipients.materialize_recipients(earlier)
    now = datetime.now(timezone.utc)
    rows = {r.subscriber_id: r for r in db.session.scalars(select(CampaignRecipient).filter_by(campaign_id=earlier.id))}
    subs = sorted(rows)
    for i in engaged:
        rows[subs[i]].status, rows[subs[i]].opened_at = "opened", now - timedelta(days=10)
        rows[subs[i]].human_opened_at = rows[subs[i]].opened_at
    for rank, i in enumerate(lapsed):
        rows[subs[i]].status, rows[subs[i]].clicked_at = "clicked", now - timedelta(days=120 + rank)
        rows[subs[i]].human_clicked_at = rows[subs[i]].clicked_at
    earlier.status = "sent"
    db.session.commit()


def test_the_most_engaged_go_first_and_the_rest_goes_out_on_the_next_days(workspace, smtp_sink, worker, api, client):
    plan = _warm(workspace, [{"day": 1, "volume": 37}, {"day": 2, "volume": 45}])
    camp = smtp_campaign(workspace, smtp_sink, people(100, email="p{i:03d}@example.com"), name="Launch")
    engaged = list(range(60, 90))  # 30 people who opened 10 days ago: not the lowest ids
    lapsed = list(range(10, 30))  # 20 who clicked 120+ days ago, most recent first
    _earlier_engagement(workspace, camp, engaged, lapsed)

    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    expected = {f"p{i:03d}@example.com" for i in engaged} | {f"p{i:03d}@example.com" for i in lapsed[:7]}
    assert _sent_to(smtp_sink) == expected
    assert _waiting(camp.id) == 63

    # The campaign page and the API say how many wait and when they go.
    shown = api.get(f"/domains/{plan.subject_id}/warming").get_json()
    assert (shown["day"], shown["daily_limit"], shown["sent_today"], shown["waiting"]) == (1, 37, 37, 63)
    assert shown["next_release"]
    held = api.get(f"/campaigns/{camp.id}/recipients?status=pending").get_json()["items"]
    assert held and all(r["reason"].startswith("waiting") for r in held)
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="warming-wait"' in page and "63 recipients wait" in page and "37 a day, the most engaged first" in page

    # The next day: the cap is 45, the job lets them out, nobody presses anything.
    _next_day(plan.id)
    assert sum(dispatch.release_warming().values()) == 45
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 82
    assert set(list(_sent_to(smtp_sink))) >= {f"p{i:03d}@example.com" for i in lapsed}  # recency before never

    _next_day(plan.id)  # day 3 is past the schedule: no cap, the last 18 go, and the campaign is done
    dispatch.release_warming()
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 100 and len(_sent_to(smtp_sink)) == 100
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).status == "sent"
    days = api.get(f"/domains/{plan.subject_id}/warming").get_json()["days"]
    assert [(d["day"], d["limit"], d["released"]) for d in days] == [(1, 37, 37), (2, 45, 45), (3, None, 18)]


def test_a_plan_that_runs_out_makes_the_domain_active_and_lifts_the_cap(workspace, smtp_sink, worker):
    plan = _warm(workspace, [{"day": 1, "volume": 5}])
    camp = smtp_campaign(workspace, smtp_sink, people(12, email="q{i}@example.com"))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 5
    _next_day(plan.id)
    dispatch.release_warming()
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 12
    db.session.expire_all()
    assert db.session.get(WarmingPlan, plan.id).status == "done"
    assert db.session.get(SendingDomain, plan.subject_id).status == "active"


# ---- thresholds from real webhook events ---------------------------------------------------


def _webhook_provider(workspace):
    return create_provider(
        workspace.id, "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)}, {"api_key": "SG.x.y"}
    )


@pytest.mark.parametrize(
    "events, reason",
    [
        ([("bounce", i) for i in range(4)], "bounce rate 6.7% (4 of 60) is over 5%"),
        ([("spamreport", 0)], "complaint rate 1.67% (1 of 60) is over 0.1%"),
        ([("delivered", i) for i in range(50)], "delivery rate 83.3% (50 of 60) is under 90%"),
    ],
    ids=["bounces", "complaints", "deliveries"],
)
def test_a_threshold_crossed_by_real_events_pauses_the_domain_and_it_sends_nothing(
    workspace, smtp_sink, worker, client, api, events, reason
):
    plan = _warm(workspace, [{"day": 1, "volume": 500}])
    camp = smtp_campaign(workspace, smtp_sink, people(60, email="t{i}@example.com"), name="Warm-up")
    sendgrid = _webhook_provider(workspace)
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 60
    carried_by(camp.id, sendgrid.id)  # the events come back through a provider with webhooks
    sent = recipients_of(camp.id)
    body = [
        sendgrid_event(name, sent[i], camp.id, **({"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 no such user"}
                                                 if name == "bounce" else {}))
        for name, i in events
    ]  # fmt: skip
    assert post_sendgrid(client, sendgrid.id, body).status_code == 200
    worker()

    assert warming.check_thresholds() == [plan.id]
    assert warming.check_thresholds() == []  # safe to run twice: a paused plan is not checked again
    db.session.expire_all()
    plan = db.session.get(WarmingPlan, plan.id)
    assert plan.status == "paused" and reason in plan.paused_reason
    assert db.session.get(SendingDomain, plan.subject_id).status == "paused"
    alert = db.session.scalars(select(Alert).filter_by(kind="warming_paused", status="open")).one()
    assert reason in alert.message and alert.action_url.endswith("/warming")

    # A paused domain sends nothing: the next campaign from it waits, and the job lets nothing out.
    later = create_campaign(workspace.id, camp.template_id, _list_ids(camp), camp.provider_id,
                            name="Later")  # fmt: skip
    db.session.commit()
    lifecycle.send_now(workspace.id, later.id)
    db.session.commit()
    worker()
    dispatch.release_warming()
    db.session.commit()
    worker()
    assert len(_campaign_mail(smtp_sink)) == 60
    statuses = _statuses(later.id)
    waiting = statuses["pending"]  # everyone but those the bounces suppressed
    assert waiting == 60 - statuses.get("failed", 0) and set(statuses) <= {"pending", "failed"}
    reasons = db.session.scalars(select(CampaignRecipient.reason).filter_by(campaign_id=later.id, status="pending"))
    assert set(reasons) == {warming_holds.PAUSED_WAIT}
    owners_mail = [m for m in smtp_sink.messages if m["rcpt_tos"] == ["owner@example.com"]]
    assert len(owners_mail) == 1 and "paused" in owners_mail[0]["message"]["Subject"]

    # A person resumes: the plan continues and the waiting people go.
    resumed = api.post(f"/domains/{plan.subject_id}/warming/resume").get_json()
    assert resumed["status"] == "warming" and resumed["day"] == 1
    worker()
    dispatch.release_warming()
    db.session.commit()
    worker()
    assert len(_campaign_mail(smtp_sink)) == 60 + waiting
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == "resolved"


def test_under_fifty_messages_no_rate_pauses_anything(workspace, smtp_sink, worker, client):
    plan = _warm(workspace, [{"day": 1, "volume": 500}])
    camp = smtp_campaign(workspace, smtp_sink, people(20, email="s{i}@example.com"))
    sendgrid = _webhook_provider(workspace)
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    carried_by(camp.id, sendgrid.id)
    sent = recipients_of(camp.id)
    post_sendgrid(client, sendgrid.id, [sendgrid_event("bounce", sent[0], camp.id, type="bounce", status="5.1.1")])
    worker()
    assert warming.check_thresholds() == []
    db.session.expire_all()
    assert db.session.get(WarmingPlan, plan.id).status == "warming"


# ---- the API and its refusals --------------------------------------------------------------


def test_warming_through_the_api(api, workspace, make_workspace):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    pending = create_signing_domain(workspace, "new.example.com", status="pending")[0]
    theirs = create_signing_domain(make_workspace("Other"), "theirs.example.com")[0]
    db.session.commit()

    assert api.get(f"/domains/{domain.id}/warming").status_code == 404  # not warming yet
    refused = api.post(f"/domains/{pending.id}/warming", json={"schedule": "standard"})
    assert refused.status_code == 409 and "verify" in refused.get_json()["error"]["message"]
    assert api.post(f"/domains/{theirs.id}/warming", json={"schedule": "standard"}).status_code == 404
    assert api.post(f"/domains/{domain.id}/warming", json={"schedule": "bogus"}).status_code == 422
    assert api.post(f"/domains/{domain.id}/warming", json={"schedule": "standard", "start_day": 0}).status_code == 422

    # A half-warmed domain moved from another platform starts at day 9: 1,000 a day.
    started = api.post(f"/domains/{domain.id}/warming", json={"schedule": "standard", "start_day": 9})
    assert started.status_code == 201
    body = started.get_json()
    assert (body["status"], body["day"], body["daily_limit"], body["sent_today"]) == ("warming", 9, 1000, 0)
    assert api.get(f"/domains/{domain.id}").get_json()["status"] == "warming"

    paused = api.post(f"/domains/{domain.id}/warming/pause").get_json()
    assert paused["status"] == "paused" and paused["paused_reason"]
    assert api.post(f"/domains/{domain.id}/warming/resume").get_json()["status"] == "warming"
    assert api.post(f"/domains/{domain.id}/warming/resume").status_code == 409  # not paused


@pytest.mark.parametrize(
    "steps",
    [[], [{"day": 2, "volume": 10}], [{"day": 1, "volume": 10}, {"day": 1, "volume": 20}],
     [{"day": 1, "volume": 0}], [{"day": "1", "volume": 10}], [{"day": 1}], "nope"],
)  # fmt: skip
def test_a_custom_schedule_that_makes_no_sense_is_refused(api, steps):
    resp = api.post("/warming-schedules", json={"name": "Mine", "steps": steps})
    assert resp.status_code == 422, resp.get_json()


def test_custom_schedules_are_listed_after_the_built_in_ones(api):
    made = api.post("/warming-schedules", json={"name": "Mine", "steps": [{"day": 1, "volume": 20}]})
    assert made.status_code == 201
    keys = [s["key"] for s in api.get("/warming-schedules").get_json()["items"]]
    assert keys == ["standard", "conservative", "moderate", "aggressive", made.get_json()["key"]]
    assert api.post("/warming-schedules", json={"name": "Mine", "steps": [{"day": 1, "volume": 20}]}).status_code == 422


def test_the_warming_page_shows_the_plan_the_chart_and_todays_progress(client, workspace):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    db.session.commit()
    page = client.get(f"/domains/{domain.id}/warming").get_data(as_text=True)
    assert "Start warming" in page and "Standard (28 days)" in page
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    started = client.post(
        f"/domains/{domain.id}/warming", data={"schedule": "standard", "start_day": "3", "csrf_token": token}
    )
    assert started.status_code == 302
    page = client.get(f"/domains/{domain.id}/warming").get_data(as_text=True)
    assert 'id="warming-figure"' in page and "vendor/plotly.min.js" in page and "js/charts.js" in page
    assert 'id="warming-day"' in page and ">100<" in page  # day 3 of STANDARD: 100 a day
    progress = client.get(f"/domains/{domain.id}/warming/progress").get_data(as_text=True)
    assert 'hx-trigger="every 10s"' in progress


# ---- an IP's plan --------------------------------------------------------------------------


def _bound_ip(workspace, provider_id):
    """An IP bound to the campaign's relay. 127.0.0.2, written directly: the service accepts public
    addresses only, and this machine holds no public address to bind a test connection to."""
    from app.models import DedicatedIP

    ip = DedicatedIP(workspace_id=workspace.id, ip_address="127.0.0.2", provider_id=provider_id, status="active",
                     blocklists=[])  # fmt: skip
    db.session.add(ip)
    db.session.commit()
    return ip


def test_an_ips_plan_caps_the_campaigns_of_its_provider_and_the_smaller_room_wins(
    workspace, smtp_sink, worker, api, client
):
    camp = smtp_campaign(workspace, smtp_sink, people(30, email="i{i}@example.com"), name="Through the IP")
    ip = _bound_ip(workspace, camp.provider_id)
    started = api.post(f"/ips/{ip.id}/warming", json={"schedule": "standard"})
    assert started.status_code == 201, started.get_json()
    assert (started.get_json()["day"], started.get_json()["daily_limit"]) == (1, 50)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 30  # under the IP's 50
    assert all(m["mail_from"] for m in smtp_sink.messages)

    # A second campaign through the same relay, from a domain warming at 7 a day: 7 go (the smaller room).
    _warm(workspace, [{"day": 1, "volume": 7}])
    second = create_campaign(workspace.id, camp.template_id, _list_ids(camp), camp.provider_id, name="Second")
    db.session.commit()
    lifecycle.send_now(workspace.id, second.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 37 and _waiting(second.id) == 23
    shown = api.get(f"/ips/{ip.id}/warming").get_json()
    assert (shown["sent_today"], shown["waiting"]) == (37, 23)

    page = client.get(f"/ips/{ip.id}/warming").get_data(as_text=True)
    assert "Warming 127.0.0.2" in page and 'id="warming-figure"' in page
    assert api.post(f"/ips/{ip.id}/warming/pause").get_json()["status"] == "paused"
    assert client.get(f"/ips/{ip.id}").status_code == 200


def test_hostile_values_on_the_warming_form_get_a_clear_answer(client, workspace):
    import re

    from tests.integration.test_hostile_input import HOSTILE

    domain, _ = create_signing_domain(workspace, DOMAIN)
    db.session.commit()
    page = client.get(f"/domains/{domain.id}/warming").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for value in HOSTILE:
        r = client.post(f"/domains/{domain.id}/warming",
                        data={"schedule": value, "start_day": value, "csrf_token": token})  # fmt: skip
        assert r.status_code < 500, (value[:40], r.get_data(as_text=True)[:300])
        assert "<script>alert(1)</script>" not in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SendingDomain, domain.id).status == "verified"  # nothing started


# ---- the chart's days are the workspace's days ---------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")


def _sent_and_came_back(workspace, from_email: str, provider_id, when: list[datetime], back: list[tuple]) -> None:
    """A campaign whose recipient i went out at when[i]; `back`: (recipient index, event type,
    bounce type, time) for what came back."""
    tpl = create_template(workspace.id, name=f"Template {from_email}")
    lst = create_list(workspace.id, f"List {from_email}")
    create_subscribers(workspace.id, people(len(when), email="d{i}@" + from_email.split("@")[1]), lst.id)
    camp = create_campaign(workspace.id, tpl.id, [lst.id], provider_id, name=from_email, from_email=from_email)
    camp.status = "sending"
    recipients.materialize_recipients(camp)
    rows = db.session.scalars(select(CampaignRecipient).filter_by(campaign_id=camp.id).order_by("id")).all()
    for row, at in zip(rows, when, strict=True):
        row.status, row.sent_at, row.provider_id = "sent", at, provider_id
    for i, kind, bounce_type, at in back:
        db.session.add(Event(workspace_id=workspace.id, event_key=f"{camp.id}-{i}-{kind}", event_type=kind,
                             campaign_id=camp.id, recipient_id=rows[i].id, provider_id=provider_id,
                             data={"bounce_type": bounce_type} if bounce_type else {}, occurred_at=at))  # fmt: skip
    db.session.commit()


@pytest.mark.parametrize("kind", ["domain", "ip"])
def test_a_message_sent_at_half_past_eleven_at_night_counts_on_that_local_day(workspace, api, kind):
    workspace.timezone = "America/New_York"
    relay, other = (create_provider(workspace.id, "sendgrid", name=n) for n in ("Warming relay", "Other relay"))
    if kind == "domain":
        plan = _warm(workspace, [{"day": 1, "volume": 50}, {"day": 3, "volume": 100}])
    else:
        ip = _bound_ip(workspace, relay.id)
        plan = warming.start(workspace.id, ip, "standard")
    plan.start_date -= timedelta(days=2)  # day D is two days ago in New York
    db.session.commit()
    d = plan.start_date
    late = datetime.combine(d, time(23, 30), NEW_YORK)  # 04:30 UTC on D+1: the UTC day would be D+1
    after_midnight = datetime.combine(d + timedelta(days=1), time(0, 30), NEW_YORK)
    _sent_and_came_back(
        workspace, "news@shop.example.com", relay.id, [late, late, after_midnight],
        [(0, "bounce", "hard", late + timedelta(minutes=10)), (1, "bounce", "block", late + timedelta(minutes=10)),
         (2, "complaint", None, after_midnight + timedelta(minutes=5))],
    )  # fmt: skip
    # Mail from another domain through another relay is neither plan's.
    _sent_and_came_back(workspace, "news@elsewhere.example.com", other.id, [late], [(0, "bounce", "soft", late)])

    days = warming.days(plan)
    figures = {x["date"]: (x["day"], x["sent"], x["bounced"], x["complained"]) for x in days}
    assert figures[d.isoformat()] == (1, 2, 1, 0)  # the 23:30 messages and the hard bounce (a block is apart)
    assert figures[(d + timedelta(days=1)).isoformat()] == (2, 1, 0, 1)
    assert figures[(d + timedelta(days=2)).isoformat()] == (3, 0, 0, 0)
    path = f"/domains/{plan.subject_id}/warming" if kind == "domain" else f"/ips/{plan.subject_id}/warming"
    assert api.get(path).get_json()["days"] == days
