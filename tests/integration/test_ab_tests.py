"""A/B tests end to end: real workers, a real SMTP server, opens recorded through the real
pixel and tracking drain, the scheduler's decision and the marketer's pick."""

import re
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, CampaignVariant
from app.services.audience import contacts
from app.services.campaigns import ab_tests, ab_winner, drafts, lifecycle
from app.services.events import tracking
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)

SUBJECT_A = "Spring sale: 20% off everything"
SUBJECT_B = "Last chance, {{ subscriber.name }}: spring sale ends tonight"


def _setup(workspace, sink, n=200, **ab):
    lst = create_list(workspace.id)
    create_subscribers(workspace.id, people(n), lst.id)
    prov = create_smtp_provider(workspace.id, sink.port)
    tpl = create_template(workspace.id, "Our spring sale", name="Sale")
    db.session.commit()
    return {
        "name": "Spring sale",
        "template_id": tpl.id,
        "list_ids": [lst.id],
        "from_name": "Acme",
        "from_email": "news@shop.example.com",
        "provider_id": prov.id,
        "ab_test": {"test_percent": 20, "metric": "opens", "wait_minutes": 240, "auto_pick": True, **ab},
        "variants": [{"subject": SUBJECT_A}, {"subject": SUBJECT_B}],
    }


def _start(workspace, data) -> Campaign:
    camp = create_campaign(workspace.id, **data)
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    return camp


def _campaign(camp_id) -> Campaign:
    db.session.expire_all()
    return db.session.get(Campaign, camp_id)


def _by_subject(sink) -> dict[str, list]:
    groups: dict[str, list] = {}
    for m in sink.messages:
        subject = m["message"]["Subject"]
        key = "A" if subject == SUBJECT_A else "B" if subject.startswith("Last chance, P") else subject
        groups.setdefault(key, []).append(m)
    return groups


def _open(web, message) -> None:
    """What a mail client does when it shows the images: fetch the tracking pixel."""
    html = message["message"].get_body(("html",)).get_content()
    pixel = re.search(r'src="http://herald\.test(/t/o/[^"]+\.gif)"', html).group(1)
    assert web.get(pixel, headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Thunderbird/115.0"}).status_code == 200


def _read_later(camp_id) -> None:
    """The messages went out ten minutes ago: an open seconds after the hand-off is a machine's."""
    from sqlalchemy import update

    rows = CampaignRecipient.__table__
    ago = datetime.now(timezone.utc) - timedelta(minutes=10)
    db.session.execute(
        update(rows).where(rows.c.campaign_id == camp_id, rows.c.sent_at.is_not(None)).values(sent_at=ago)
    )
    db.session.commit()


def _recipient_counts(camp_id) -> dict:
    return dict(
        db.session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == camp_id)
            .group_by(CampaignRecipient.status)
        ).all()
    )


def test_the_test_portion_is_split_evenly_the_rest_waits_and_then_gets_the_variant_with_more_opens(
    workspace, smtp_sink, worker, app
):
    camp = _start(workspace, _setup(workspace, smtp_sink))
    worker()
    groups = _by_subject(smtp_sink)
    assert sorted(groups) == ["A", "B"]
    assert len(groups["A"]) == 20 and len(groups["B"]) == 20  # 20% of 200, evenly
    c = _campaign(camp.id)
    assert c.status == "sending" and c.ab_phase == "waiting"  # not sent: 160 people are still to get the winner
    assert c.ab_wait_until > c.started_at + timedelta(minutes=239)
    assert _recipient_counts(camp.id) == {"sent": 40, "held": 160}
    stats = drafts.campaign_stats(camp.id)
    assert stats["total_recipients"] == 200 and stats["held"] == 160 and stats["pending"] == 0

    worker()  # nothing else goes out during the wait
    assert len(smtp_sink.messages) == 40
    assert ab_winner.decide_due_tests() == []  # the wait is not over
    db.session.commit()

    web = app.test_client()
    _read_later(camp.id)  # people read the test's messages a while after they arrived
    for m in groups["B"][:9]:
        _open(web, m)
    for m in groups["A"][:3]:
        _open(web, m)
    _open(web, groups["A"][0])  # a second open by the same person is not a second unique open
    tracking.process_hits()
    report = ab_tests.report(_campaign(camp.id))
    figures = {v["label"]: v for v in report["variants"]}
    assert (figures["A"]["unique_opens"], figures["B"]["unique_opens"]) == (3, 9)
    assert figures["B"]["leader"] and figures["B"]["vs_leader"] is None
    # 45% against 15% of 20 each: a two-proportion z-test gives z = 2.07, p = 0.038
    assert figures["A"]["vs_leader"]["significant"] and figures["A"]["vs_leader"]["p_value"] == pytest.approx(
        0.0384, abs=1e-4
    )

    decided = ab_winner.decide_due_tests(now=c.ab_wait_until + timedelta(seconds=1))
    db.session.commit()
    assert decided == [camp.id]
    assert ab_winner.decide_due_tests(now=c.ab_wait_until + timedelta(minutes=5)) == []  # decided once
    db.session.commit()
    worker()
    c = _campaign(camp.id)
    assert c.status == "sent" and c.ab_phase == "decided" and c.ab_result["picked_by"] == "auto"
    assert db.session.get(CampaignVariant, c.winner_variant_id).label == "B"
    groups = _by_subject(smtp_sink)
    assert len(groups["A"]) == 20 and len(groups["B"]) == 180 and sorted(groups) == ["A", "B"]
    rcpts = Counter(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert len(rcpts) == 200 and max(rcpts.values()) == 1  # everybody once, nobody twice
    report = ab_tests.report(c)
    assert [v["recipients"] for v in report["variants"]] == [20, 20]  # the test groups' figures stay theirs
    assert report["rest"]["recipients"] == 160 and report["rest"]["sent"] == 160


def test_two_schedulers_deciding_at_once_release_the_rest_once(workspace, smtp_sink, worker, app, service_app):
    camp = _start(workspace, _setup(workspace, smtp_sink, n=50))
    worker()
    until = _campaign(camp.id).ab_wait_until + timedelta(seconds=1)
    results, barrier = [], threading.Barrier(2)

    def scheduler():
        with service_app.app_context():
            barrier.wait()
            results.append(ab_winner.decide_due_tests(now=until))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results, key=len) == [[], [camp.id]]
    worker()
    assert _campaign(camp.id).status == "sent"
    rcpts = Counter(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert len(rcpts) == 50 and max(rcpts.values()) == 1


def test_the_marketer_picks_by_hand_and_a_second_pick_answers_409(api, workspace, smtp_sink, worker, app):
    data = _setup(workspace, smtp_sink, n=40, test_percent=50, auto_pick=False, metric="clicks")
    r = api.post("/campaigns", json=data)
    assert r.status_code == 201, r.json
    camp_id = r.json["id"]
    assert r.json["ab_test"]["auto_pick"] is False and r.json["ab_phase"] is None
    assert api.post(f"/campaigns/{camp_id}/send").status_code == 202
    variants = api.get(f"/campaigns/{camp_id}/variants").json
    assert variants["phase"] == "testing"
    a_id = variants["variants"][0]["id"]
    r = api.post(f"/campaigns/{camp_id}/variants/{a_id}/pick")  # the test is not even out
    assert r.status_code == 409 and r.json["error"]["fields"]["ab_phase"] == "testing"
    worker()
    assert len(smtp_sink.messages) == 20
    c = _campaign(camp_id)
    # Without auto-pick the wait's end changes nothing: the page asks the marketer.
    assert ab_winner.decide_due_tests(now=c.ab_wait_until + timedelta(hours=1)) == []
    db.session.commit()
    body = api.get(f"/campaigns/{camp_id}/variants").json
    assert body["phase"] == "waiting" and body["rest"]["held"] == 20
    assert [v["recipients"] for v in body["variants"]] == [10, 10]
    r = api.post(f"/campaigns/{camp_id}/variants/{a_id}/pick")
    assert r.status_code == 200, r.json
    assert r.json["phase"] == "decided" and r.json["winner_variant_id"] == a_id and r.json["picked_by"] == "marketer"
    again = api.post(f"/campaigns/{camp_id}/variants/{variants['variants'][1]['id']}/pick")
    assert again.status_code == 409 and again.json["error"]["fields"]["ab_phase"] == "decided"
    assert "Variant A was already picked" in again.json["error"]["message"]
    worker()
    groups = _by_subject(smtp_sink)
    assert len(groups["A"]) == 30 and len(groups["B"]) == 10
    assert _campaign(camp_id).status == "sent"
    assert api.get(f"/campaigns/{camp_id}").json["stats"]["held"] == 0


def test_someone_who_unsubscribes_during_the_wait_does_not_get_the_winner(workspace, smtp_sink, worker, app):
    camp = _start(workspace, _setup(workspace, smtp_sink, n=20, test_percent=50))
    worker()
    held = db.session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == camp.id, CampaignRecipient.status == "held")
    ).all()
    leaver = db.session.get(contacts.Subscriber, held[0].subscriber_id)
    contacts.unsubscribe(leaver)
    contacts.suppress_address(workspace.id, held[1].email, "complained")
    db.session.commit()
    c = _campaign(camp.id)
    ab_winner.decide_due_tests(now=c.ab_wait_until + timedelta(seconds=1))
    db.session.commit()
    worker()
    rcpts = {m["rcpt_tos"][0] for m in smtp_sink.messages}
    assert len(rcpts) == 18 and leaver.email not in rcpts and held[1].email not in rcpts
    rows = {r.email: (r.status, r.reason) for r in db.session.scalars(drafts.recipients_query(camp.id))}
    assert rows[leaver.email] == ("failed", "suppressed:unsubscribed")
    assert rows[held[1].email] == ("failed", "suppressed:complained")
    assert _campaign(camp.id).status == "sent"


def test_pause_and_cancel_during_the_wait_send_nothing_more(api, workspace, smtp_sink, worker, app):
    camp = _start(workspace, _setup(workspace, smtp_sink, n=30))
    worker()
    assert len(smtp_sink.messages) == 6
    assert api.post(f"/campaigns/{camp.id}/pause").json["status"] == "paused"
    c = _campaign(camp.id)
    assert ab_winner.decide_due_tests(now=c.ab_wait_until + timedelta(seconds=1)) == []  # paused: no decision
    db.session.commit()
    assert api.post(f"/campaigns/{camp.id}/cancel").json["status"] == "cancelled"
    worker()
    assert len(smtp_sink.messages) == 6
    counts = _recipient_counts(camp.id)
    assert counts == {"sent": 6, "failed": 24}
    reasons = {r.reason for r in db.session.scalars(drafts.recipients_query(camp.id, "failed"))}
    assert reasons == {"cancelled before sending"}


def test_content_and_from_name_variants_render_their_own_message_with_tracked_links(workspace, smtp_sink, worker, app):
    data = _setup(workspace, smtp_sink, n=10, test_percent=50)
    short_html = (
        '<p>Short version. <a href="https://example.com/short">Shop</a> '
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ view_in_browser_url }}">View</a></p>'
    )
    other = create_template(workspace.id, "Short and sweet", short_html, "Sale, short", preview_text="Two lines only")
    db.session.commit()
    data["variants"] = [{"from_name": "Ana at Acme"}, {"template_id": other.id}]
    camp = _start(workspace, data)
    worker()
    by_sender: dict[str, list] = {}
    for m in smtp_sink.messages:
        by_sender.setdefault(m["message"]["From"].addresses[0].display_name, []).append(m["message"])
    ana, short = by_sender.pop("Ana at Acme"), by_sender.pop("Acme")
    assert len(ana) == 3 and len(short) == 2 and not by_sender  # 5 in the test: A, B, A, B, A
    assert all(m["Subject"] == "Our spring sale" for m in ana)
    html = short[0].get_body(("html",)).get_content()
    assert short[0]["Subject"] == "Short and sweet" and "Short version." in html and "Two lines only" in html
    assert "https://example.com/short" not in html and "/t/c/" in html  # the variant's own link is tracked
    web = app.test_client()
    click = re.search(r'href="http://herald\.test(/t/c/[^"]+)"', html).group(1)
    assert web.get(click).headers["Location"] == "https://example.com/short"
    view = re.search(r'href="http://herald\.test(/v/[^"]+)"', html).group(1)
    assert "Short version." in web.get(view).get_data(as_text=True)  # the variant the person received
    assert _campaign(camp.id).ab_phase == "waiting"


def test_bad_tests_are_refused_with_the_field_named(api, workspace, smtp_sink, make_workspace):
    data = _setup(workspace, smtp_sink, n=5)
    elsewhere = make_workspace("Other", "them@example.com")
    foreign = create_template(elsewhere.id, "S", name="Theirs")
    db.session.commit()
    cases = [
        ({"variants": [{"subject": "Only one"}]}, "variants"),
        ({"variants": [{"subject": "Same"}, {"subject": "Same"}]}, "variants.1"),
        ({"variants": [{}, {"subject": "Our spring sale"}]}, "variants.1"),  # the template's subject: no change
        ({"variants": [{"subject": "Fine"}, {"subject": "Hi {{ subscriber.name"}]}, "variants.1.subject"),
        ({"variants": [{"subject": "Fine"}, {"template_id": foreign.id}]}, "variants.1.template_id"),
        ({"variants": [{"subject": "x" * 501}, {}]}, "variants.0.subject"),
        (
            {"variants": [{"subject": "A"}, {"subject": "B"}, {"subject": "C"}, {"subject": "D"}, {"subject": "E"}]},
            "variants",
        ),  # fmt: skip
        ({"variants": [{"subject": "A"}, {"colour": "red"}]}, "variants.1.colour"),
        ({"ab_test": {"test_percent": 80}}, "ab_test.test_percent"),
        ({"ab_test": {"wait_minutes": 1}}, "ab_test.wait_minutes"),
        ({"ab_test": {"metric": "revenue"}}, "ab_test.metric"),
        ({"ab_test": {"metric": "opens"}, "track_opens": False}, "ab_test.metric"),
    ]
    for change, field in cases:
        r = api.post("/campaigns", json={**data, **change})
        assert r.status_code == 422, (change, r.json)
        assert field in r.json["error"]["fields"], (change, r.json["error"])
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    # Too small an audience for the test is refused at send time, and the draft stays a draft.
    r = api.post("/campaigns", json={**data, "ab_test": {"test_percent": 10}})
    assert r.status_code == 201
    r = api.post(f"/campaigns/{r.json['id']}/send")
    assert r.status_code == 422 and "ab_test.test_percent" in r.json["error"]["fields"]
    # Another workspace's campaign or variant answers 404.
    assert api.get("/campaigns/999/variants").status_code == 404
    assert api.post("/campaigns/999/variants/1/pick").status_code == 404


def test_a_patch_changes_the_settings_and_keeps_the_variants_or_removes_the_test(api, workspace, smtp_sink):
    data = _setup(workspace, smtp_sink, n=5)
    camp_id = api.post("/campaigns", json=data).json["id"]
    r = api.c.patch(f"/api/v1/campaigns/{camp_id}", json={"ab_test": {"test_percent": 30}}, headers=api.h)
    assert r.status_code == 200, r.json
    assert r.json["ab_test"]["test_percent"] == 30
    subjects = [v["subject"] for v in api.get(f"/campaigns/{camp_id}/variants").json["variants"]]
    assert subjects == [SUBJECT_A, SUBJECT_B]
    r = api.c.patch(f"/api/v1/campaigns/{camp_id}", json={"ab_test": None}, headers=api.h)
    assert r.status_code == 200 and r.json["ab_test"] is None
    assert api.get(f"/campaigns/{camp_id}/variants").json == {
        "ab_test": None,
        "phase": None,
        "wait_until": None,
        "winner_variant_id": None,
        "picked_by": None,
        "variants": [],
        "rest": None,
    }


def test_the_dashboard_form_saves_a_test_and_the_page_shows_the_variants(client, workspace, smtp_sink, worker):
    data = _setup(workspace, smtp_sink, n=20)
    page = client.get("/campaigns/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert 'id="ab-test-fields"' in page and "Variant B subject" in page
    rows = client.post(
        "/campaigns/ab-variants",
        data={"csrf_token": token, "ab_action": "add", "variants-0-subject": "One", "variants-1-subject": "Two"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    ).get_data(as_text=True)
    assert 'value="One"' in rows and "Variant C subject" in rows and "Variant D subject" not in rows
    form = {
        "csrf_token": token,
        "name": "Spring sale",
        "template_id": str(data["template_id"]),
        "list_ids": [str(data["list_ids"][0])],
        "from_name": "Acme",
        "from_email": "news@shop.example.com",
        "track_opens": "on",
        "track_clicks": "on",
        "ab_enabled": "on",
        "ab_test_percent": "50",
        "ab_metric": "opens",
        "ab_wait_minutes": "60",
        "ab_auto_pick": "on",
        "variants-0-subject": "Same",
        "variants-1-subject": "Same",
    }
    bad = client.post("/campaigns/new", data=form)
    assert bad.status_code == 422 and "Variant B is the same as variant A" in bad.get_data(as_text=True)
    form["variants-1-subject"] = "Different"
    r = client.post("/campaigns/new", data=form)
    assert r.status_code == 302
    camp = db.session.scalar(select(Campaign))
    assert camp.ab_test == {"test_percent": 50, "metric": "opens", "wait_minutes": 60, "auto_pick": True}
    edit = client.get(f"/campaigns/{camp.id}/edit").get_data(as_text=True)
    assert 'value="Different"' in edit and 'ab_enabled" id="f-ab_enabled" checked' in edit
    r = client.post(f"/campaigns/{camp.id}/send", data={"csrf_token": token})
    assert r.status_code == 302
    worker()
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="ab-variants-table"' in page and "Test sent to 10;" in page
    assert "Pick variant A" in page and "Pick variant B" in page
    fragment = client.get(f"/campaigns/{camp.id}/variants")
    assert fragment.status_code == 200 and "No unique opens yet" in fragment.get_data(as_text=True)
    variant_b = ab_tests.list_variants(camp.id)[1]
    r = client.post(f"/campaigns/{camp.id}/variants/{variant_b.id}/pick", data={"csrf_token": token})
    assert r.status_code == 302
    worker()
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Variant B won (picked by hand)" in page and "data-winner" in page
    assert len({m["rcpt_tos"][0] for m in smtp_sink.messages}) == 20 == len(smtp_sink.messages)


@pytest.mark.parametrize("phase", ["testing", "waiting"])
def test_the_live_progress_reloads_the_page_when_the_test_moves_on(client, workspace, smtp_sink, worker, phase):
    data = _setup(workspace, smtp_sink, n=10, test_percent=50)
    camp = _start(workspace, data)
    if phase == "waiting":
        worker()
    r = client.get(f"/campaigns/{camp.id}/progress?phase={phase}")
    assert r.status_code == 200
    moved = client.get(f"/campaigns/{camp.id}/progress?phase={'' if phase == 'testing' else 'testing'}")
    assert moved.status_code == 286 and moved.headers["HX-Refresh"] == "true"


def test_the_variants_fragment_of_a_campaign_without_a_test_stops_polling_instead_of_failing(
    client, workspace, smtp_sink
):
    """The page polls the variants table; once the test is removed (or there never was one) it ends."""
    data = _setup(workspace, smtp_sink, n=2)
    data.pop("ab_test"), data.pop("variants")
    camp = create_campaign(workspace.id, **data)
    db.session.commit()
    r = client.get(f"/campaigns/{camp.id}/variants")
    assert r.status_code == 286 and r.get_data(as_text=True) == ""
