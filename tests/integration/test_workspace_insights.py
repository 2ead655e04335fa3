"""Insights across the workspace: every campaign's figures together or split by campaign and list, the
last 30 days against the 30 before with the best and worst campaigns, and the Insights page — all read
from the hourly rollups, checked against what the test did."""

import csv
import io
from datetime import timedelta

from app.extensions import db
from app.services.campaigns import lifecycle
from app.services.events import performance, tracking
from tests.factories import create_workspace, people, smtp_campaign
from tests.integration.test_engagement import HTML, _delivered, _hit, _urls


def _send(workspace, smtp_sink, worker, app, name, n, openers, ago=timedelta(minutes=10), clickers=0):
    """A campaign to `n` new people on a list of its own; the first `openers` open it as people, the first
    `clickers` also click. Returns the campaign."""
    smtp_sink.messages.clear()
    rows = people(n, email="".join(ch for ch in name.lower() if ch.isalnum()) + "{i}@example.org")
    camp = smtp_campaign(workspace, smtp_sink, rows, template={"html": HTML}, list_name=f"{name} list", name=name)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    _delivered(camp.id, ago)
    web = app.test_client()
    for i, row in enumerate(rows[:openers]):
        pixel, links = _urls(html[row["email"]])
        _hit(web, pixel)
        if i < clickers:
            _hit(web, links[0])
    _hit(web, _urls(html[rows[-1]["email"]])[0], ua="Mozilla/5.0", ip="17.58.0.9")  # Apple prefetches one
    tracking.process_hits()
    return camp


def test_the_workspace_adds_up_its_campaigns_by_campaign_and_list(api, conforms, workspace, smtp_sink, worker, app):
    spring = _send(workspace, smtp_sink, worker, app, "Spring", 6, openers=3, clickers=1)
    summer = _send(workspace, smtp_sink, worker, app, "Summer", 4, openers=1)
    body = conforms(api.get("/insights"), "WorkspaceInsights")
    assert body["interval"] == "day" and body["from"] and body["to"] is None
    t = body["totals"]
    assert (t["sent"], t["human_unique_opens"], t["unique_opens"], t["human_unique_clicks"]) == (10, 4, 6, 1)
    assert (t["opens"], t["human_opens"]) == (6, 4)  # two Apple prefetches: raw, not people's
    assert t["rates"]["open_rate"] == {"value": 0.4, "numerator": 4, "denominator": 10, "of": "sent"}

    by_campaign = conforms(api.get("/insights?group_by=campaign&interval=hour"), "WorkspaceInsights")
    per = {s["label"]: sum(p["human_unique_opens"] for p in s["points"]) for s in by_campaign["series"]}
    assert per == {"Spring": 3, "Summer": 1}
    assert {s["key"] for s in by_campaign["series"]} == {spring.id, summer.id}
    by_list = api.get("/insights?group_by=list").get_json()
    assert {s["label"]: sum(p["sent"] for p in s["points"]) for s in by_list["series"]} == {
        "Spring list": 6, "Summer list": 4}  # fmt: skip

    # Another workspace's campaigns never show here, and bad asks are told why.
    other = create_workspace("Other", owner_email="other@example.com")
    _send(other, smtp_sink, worker, app, "Theirs", 3, openers=3)
    assert api.get("/insights").get_json()["totals"]["sent"] == 10
    assert api.get("/insights?group_by=planet").status_code == 422
    assert api.get("/insights?from=last-week").status_code == 422
    assert api.get("/insights?from=2026-12-01&to=2026-11-01").status_code == 422
    assert api.get("/insights?from=2000-01-01&to=2000-01-02").get_json()["series"] == []


def test_the_overview_sets_30_days_against_the_30_before(api, conforms, workspace, smtp_sink, worker, app, monkeypatch):
    monkeypatch.setattr(performance, "MIN_REACH", 4)  # small campaigns, ranked all the same
    _send(workspace, smtp_sink, worker, app, "Old", 5, openers=1, ago=timedelta(days=40))
    _send(workspace, smtp_sink, worker, app, "Good", 5, openers=4, clickers=2, ago=timedelta(hours=2))
    _send(workspace, smtp_sink, worker, app, "Poor", 5, openers=1)
    _send(workspace, smtp_sink, worker, app, "Tiny", 2, openers=2)  # too few to rank
    # e-commerce: a buyer who clicked "Good" as a person orders
    created = api.post("/orders", json={"external_id": "A-1", "email": "good0@example.org", "amount": "80.00",
                                         "currency": "EUR"})  # fmt: skip
    assert created.status_code == 201, created.get_json()

    o = conforms(api.get("/overview"), "Overview")
    cur, prev = o["current"], o["previous"]
    # Opens count when they happen: the old campaign's reader opened it today, in this period.
    assert (cur["sent"], cur["human_unique_opens"], cur["human_unique_clicks"]) == (12, 8, 2)
    assert (prev["sent"], prev["human_unique_opens"]) == (5, 0)
    assert o["changes"]["sent"] == {"current": 12, "previous": 5, "change": 1.4}
    assert abs(o["rate_changes"]["open_rate"]["points"] - (8 / 12 - 0 / 5)) < 1e-9
    assert cur["conversions"] == 1 and cur["revenue"] == [{"currency": "EUR", "orders": 1, "amount": 80.0}]
    assert [c["name"] for c in o["best"]] == ["Good", "Poor"] and o["worst"] == []
    assert o["best"][0]["revenue"] == 80.0 and o["best"][0]["open_rate"] == 0.8
    assert o["best"][0]["revenue_per_recipient"] == 16.0  # 80.00 EUR over the 5 it reached
    from app.services.events.performance import ranked_csv_rows

    rows = list(ranked_csv_rows(performance.overview(workspace.id)))
    assert rows[1][:3] == ["best", o["best"][0]["id"], "Good"] and rows[1][-3:] == [80.0, "EUR", 16.0]


def test_the_insights_page_in_the_navigation(client, workspace, smtp_sink, worker, app):
    _send(workspace, smtp_sink, worker, app, "=HYPERLINK(1)", 3, openers=2)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/insights/"' in home
    page = client.get("/insights/?group_by=campaign")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-chart="insights-figure"' in body and 'id="overview-cards"' in body
    assert 'data-overview="sent"' in body and "=HYPERLINK(1)" in body
    bad = client.get("/insights/?from=31/12/2026")
    assert bad.status_code == 422 and "is not a date" in bad.get_data(as_text=True)
    out = client.get("/insights/insights.csv?group_by=campaign&interval=hour")
    rows = list(csv.reader(io.StringIO(out.get_data(as_text=True))))
    assert out.status_code == 200 and rows[0][:3] == ["group", "t", "sent"]
    assert rows[1][0] == "'=HYPERLINK(1)" and sum(int(r[2]) for r in rows[1:]) == 3
    ranked = client.get("/insights/campaigns.csv")
    assert ranked.status_code == 200 and ranked.get_data(as_text=True).startswith("list,campaign_id,name")


def test_with_a_read_replica_insights_read_from_it(api_key, workspace, smtp_sink, worker, app):
    """INSIGHTS_DATABASE_URL: the insights API and the overview read through the replica's engine (here
    the primary under another name, so the figures can be checked)."""
    from flask import current_app
    from sqlalchemy import event

    from app import create_app
    from app.config import Config

    _send(workspace, smtp_sink, worker, app, "Replica", 3, openers=2)
    replica = create_app(Config(INSIGHTS_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"]))
    replica.config.update(TESTING=True)
    seen = []
    with replica.app_context():
        engine = db.engines["insights"]
        event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        assert current_app.config["INSIGHTS_DATABASE_URL"]
    web, headers = replica.test_client(), {"Authorization": f"Bearer {api_key}"}
    body = web.get("/api/v1/insights", headers=headers).get_json()
    assert body["totals"]["sent"] == 3 and body["totals"]["human_unique_opens"] == 2
    assert any("insight_hours" in sql for sql in seen)
    seen.clear()
    assert web.get("/api/v1/overview", headers=headers).get_json()["current"]["sent"] == 3
    assert any("insight_hours" in sql for sql in seen)
    with replica.app_context():
        db.engines["insights"].dispose()
        db.engine.dispose()
