"""DMARC over time (services/advisor/dmarc_timeline.py): per day of report, what passed, what failed from
the workspace's IPs and from others, what the receivers quarantined or rejected; the API's series, the
page's charts and empty states; and storing a report twice at once (the unique index, _store's savepoint)."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models.advisor import DmarcRecord, DmarcReport
from app.models.deliverability import DedicatedIP, SendingDomain
from app.services.advisor import dmarc, dmarc_timeline
from app.services.errors import NotFound

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
TODAY = NOW.date()
OURS, STRANGER = "203.0.113.10", "198.51.100.77"


def _xml(org: str, report_id: str, begin: datetime, rows: list[tuple], domain: str = "news.example.com") -> bytes:
    """A report as a reporter writes it; rows are (source_ip, count, dkim, spf, disposition)."""
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated>"
        f"<disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row>"
        f"<identifiers><header_from>{domain}</header_from></identifiers></record>"
        for ip, n, dkim, spf, disposition in rows
    )
    start = int(begin.timestamp())
    return (
        f"<?xml version='1.0'?><feedback><report_metadata><org_name>{org}</org_name><report_id>{report_id}"
        f"</report_id><date_range><begin>{start}</begin><end>{start + 86399}</end></date_range></report_metadata>"
        f"<policy_published><domain>{domain}</domain><p>none</p></policy_published>{records}</feedback>"
    ).encode()


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def _add(workspace, domain, org: str, begin: datetime, rows: list[tuple]) -> DmarcReport:
    stored = dmarc.ingest(workspace.id, domain.id, _xml(org, f"{org}-{begin:%Y%m%d%H}", begin, rows), source="api")
    assert stored.created and stored.report.status == "parsed", stored.report.error
    return stored.report


def _domain(workspace, name="news.example.com") -> SendingDomain:
    row = SendingDomain(workspace_id=workspace.id, domain=name, status="verified")
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def domain(workspace):
    return _domain(workspace)


@pytest.fixture
def ours(workspace):
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address=OURS))
    db.session.commit()


def _reports(workspace, domain, today: date) -> None:
    """Two reporters two days ago, one five days ago, one whose period begins at 22:00 UTC three days ago
    (it counts on that day), one a week ago (outside 7 days) and one 200 days ago."""
    reports = (
        ("google.com", 2, 0, [(OURS, 100, "pass", "pass", "none"), (STRANGER, 5, "fail", "fail", "none")]),
        ("Outlook.com", 2, 0, [(OURS, 20, "fail", "fail", "quarantine"), (OURS, 30, "pass", "fail", "none")]),
        ("yahoo.com", 5, 0, [(STRANGER, 10, "fail", "fail", "reject"), (OURS, 40, "pass", "pass", "none")]),
        ("late.example", 3, 22, [(OURS, 7, "pass", "pass", "none")]),
        ("old.example", 7, 0, [(OURS, 500, "pass", "pass", "none")]),
        ("older.example", 200, 0, [(OURS, 1000, "pass", "pass", "none")]),
    )
    for org, days_ago, hour, rows in reports:
        _add(workspace, domain, org, _at(today - timedelta(days=days_ago), hour), rows)
    dmarc.ingest(workspace.id, domain.id, b"<oops", source="upload")  # kept with its error, counted nowhere
    db.session.commit()


# The series ----------------------------------------------------------------------------------------


def test_each_day_sums_its_reports_and_a_day_without_reports_is_zeros(ctx, workspace, domain, ours, make_workspace):
    _reports(workspace, domain, TODAY)
    theirs = make_workspace()  # the same domain in another workspace, with its own copy: not counted here
    _add(theirs, _domain(theirs), "google.com", _at(TODAY - timedelta(days=2)), [(OURS, 9999, "pass", "pass", "none")])
    db.session.commit()

    t = dmarc_timeline.timeline(workspace.id, domain.id, 7, now=NOW)
    assert (t["days"], t["from"], t["to"], t["known_sources"]) == (7, TODAY - timedelta(days=6), TODAY, True)
    assert [p["day"] for p in t["points"]] == [TODAY - timedelta(days=k) for k in range(6, -1, -1)]
    by_day = {(TODAY - p["day"]).days: p for p in t["points"]}
    assert by_day[2] == {
        "day": TODAY - timedelta(days=2),
        "messages": 155,
        "passed": 130,
        "failed": 25,
        "failed_ours": 20,
        "failed_unknown": 5,
        "quarantined": 20,
        "rejected": 0,
        "pass_rate": round(130 / 155, 4),
    }
    assert (by_day[3]["messages"], by_day[3]["passed"], by_day[3]["pass_rate"]) == (7, 7, 1.0)
    five = by_day[5]
    assert (five["messages"], five["passed"], five["failed_unknown"], five["failed_ours"], five["rejected"]) == (
        50, 40, 10, 0, 10,
    )  # fmt: skip
    for quiet in (0, 1, 4, 6):
        assert by_day[quiet] == {**dict.fromkeys(dmarc_timeline.METRICS, 0), "day": by_day[quiet]["day"],
                                 "pass_rate": None}  # fmt: skip
    assert t["totals"] == {"messages": 212, "passed": 177, "failed": 35, "failed_ours": 20, "failed_unknown": 15,
                           "quarantined": 20, "rejected": 10, "pass_rate": round(177 / 212, 4)}  # fmt: skip

    year = dmarc_timeline.timeline(workspace.id, domain.id, 365, now=NOW)
    assert len(year["points"]) == 365 and year["totals"]["messages"] == 212 + 500 + 1000
    assert sum(1 for p in year["points"] if p["messages"]) == 5


def test_the_range_is_clamped_and_defaults_to_90_days(ctx, workspace, domain):
    assert len(dmarc_timeline.timeline(workspace.id, domain.id, now=NOW)["points"]) == 90
    assert [p["day"] for p in dmarc_timeline.timeline(workspace.id, domain.id, 0, now=NOW)["points"]] == [TODAY]
    assert len(dmarc_timeline.timeline(workspace.id, domain.id, 10**6, now=NOW)["points"]) == dmarc_timeline.MAX_DAYS


def test_without_dedicated_ips_failures_are_not_split(ctx, workspace, domain):
    _reports(workspace, domain, TODAY)
    t = dmarc_timeline.timeline(workspace.id, domain.id, 7, now=NOW)
    assert t["known_sources"] is False
    two = t["points"][-3]
    assert (two["failed"], two["failed_ours"], two["failed_unknown"]) == (25, None, None)
    assert t["totals"]["failed_ours"] is None and t["totals"]["failed"] == 35


def test_the_series_is_one_grouped_query_however_long(ctx, workspace, domain, ours):
    _reports(workspace, domain, TODAY)
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *args):
        seen.append(statement)

    for days in (7, 365):
        event.listen(db.engine, "before_cursor_execute", on_execute)
        try:
            dmarc_timeline.timeline(workspace.id, domain.id, days, now=NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", on_execute)
        assert len([s for s in seen if "dmarc_records" in s]) == 1 and "GROUP BY" in seen[-1]
        seen.clear()


def test_another_workspaces_domain_is_not_found(ctx, workspace, make_workspace):
    theirs = _domain(make_workspace())
    with pytest.raises(NotFound):
        dmarc_timeline.timeline(workspace.id, theirs.id)


# API ---------------------------------------------------------------------------------------------


def test_api_serves_the_series_as_documented(api, workspace, domain, ours, conforms, ctx):
    today = datetime.now(UTC).date()
    _reports(workspace, domain, today)
    body = conforms(api.get(f"/domains/{domain.id}/dmarc-timeline?days=30"), "DmarcTimeline")
    assert (body["days"], body["from"], body["to"]) == (30, (today - timedelta(days=29)).isoformat(), today.isoformat())
    assert len(body["points"]) == 30 and body["points"][-3]["day"] == (today - timedelta(days=2)).isoformat()
    assert body["points"][-3]["failed_unknown"] == 5 and body["points"][-1]["pass_rate"] is None
    assert body["totals"]["messages"] == 712
    assert len(conforms(api.get(f"/domains/{domain.id}/dmarc-timeline"), "DmarcTimeline")["points"]) == 90


@pytest.mark.parametrize(("days", "says"), [("abc", "whole number"), ("0", "at least 1"), ("401", "at most 400")])
def test_api_refuses_a_bad_range(api, domain, days, says, conforms, ctx):
    resp = api.get(f"/domains/{domain.id}/dmarc-timeline?days={days}")
    error = conforms(resp, "Error", 422)["error"]
    assert says in error["fields"]["days"].lower() and error["message"].startswith("days:")


def test_api_another_workspaces_domain_is_404(api, make_workspace, ctx):
    theirs = _domain(make_workspace())
    resp = api.get(f"/domains/{theirs.id}/dmarc-timeline")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"


def test_openapi_documents_the_timeline(document):
    op = document["paths"]["/domains/{domain_id}/dmarc-timeline"]["get"]
    (days,) = [p for p in op["parameters"] if p["name"] == "days"]
    assert days["in"] == "query" and days["schema"]["default"] == 90 and days["schema"]["maximum"] == 400
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DmarcTimeline")
    assert {"404", "422"} <= set(op["responses"])
    assert "failed_unknown" in document["components"]["schemas"]["DmarcTimeline"]["properties"]["totals"]["properties"]


# The page ----------------------------------------------------------------------------------------


def _figure(html: str, script_id: str) -> dict:
    return json.loads(re.search(rf'<script type="application/json" id="{script_id}">(.*?)</script>', html, re.S)[1])


def test_page_draws_the_charts_over_the_range(client, workspace, domain, ours, ctx):
    today = datetime.now(UTC).date()
    _reports(workspace, domain, today)
    html = client.get(f"/domains/{domain.id}/dmarc?days=90").get_data(as_text=True)
    assert "vendor/plotly.min.js" in html and "js/charts.js" in html and "cdn" not in html.lower()
    assert 'id="dmarc-chart" data-chart="dmarc-figure"' in html and 'data-chart="dmarc-rate-figure"' in html
    bars = _figure(html, "dmarc-figure")
    names = [trace["name"] for trace in bars["data"]]
    assert names == ["Passed DMARC", "Failed, your IPs", "Failed, other senders", "Quarantined or rejected"]
    assert bars["layout"]["barmode"] == "stack" and len(bars["data"][0]["x"]) == 90
    two_days_ago = bars["data"][0]["x"].index((today - timedelta(days=2)).isoformat())
    assert [trace["y"][two_days_ago] for trace in bars["data"]] == [130, 20, 5, 20]
    assert bars["data"][-1]["y"][-1] is None  # nothing reported: no point on the line either
    assert bars["data"][0]["y"][-1] == 0  # a quiet day is a zero, not left out
    rate = _figure(html, "dmarc-rate-figure")["data"][0]
    assert rate["y"][two_days_ago] == 83.9 and rate["y"][-1] is None  # and no rate: a gap in the line
    assert 'data-day="' + (today - timedelta(days=2)).isoformat() + '"' in html  # the table under it
    assert re.search(r'class="btn btn-sm active" aria-current="page" href="[^"]*days=90"', html)
    assert f'href="/domains/{domain.id}/dmarc?days=365"' in html


def test_page_without_dedicated_ips_shows_one_failed_bar(client, workspace, domain, ctx):
    _reports(workspace, domain, datetime.now(UTC).date())
    html = client.get(f"/domains/{domain.id}/dmarc").get_data(as_text=True)
    assert [t["name"] for t in _figure(html, "dmarc-figure")["data"]][1:] == ["Failed DMARC", "Quarantined or rejected"]
    assert "Failures are not split by sender" in html


def test_page_empty_states(client, workspace, domain, ctx):
    html = client.get(f"/domains/{domain.id}/dmarc").get_data(as_text=True)
    assert 'id="dmarc-timeline-empty"' in html and "Nothing to chart yet" in html
    assert 'id="dmarc-chart"' not in html and "plotly" not in html
    sixty_days_ago = _at(datetime.now(UTC).date() - timedelta(days=60))
    _add(workspace, domain, "old.example", sixty_days_ago, [(OURS, 5, "pass", "pass", "none")])
    db.session.commit()
    html = client.get(f"/domains/{domain.id}/dmarc").get_data(as_text=True)
    assert "Nothing reported in the last 30 days" in html and 'id="dmarc-chart"' not in html
    assert 'id="dmarc-chart"' in client.get(f"/domains/{domain.id}/dmarc?days=90").get_data(as_text=True)


def test_page_of_another_workspaces_domain_is_404(client, make_workspace, ctx):
    theirs = _domain(make_workspace())
    assert client.get(f"/domains/{theirs.id}/dmarc?days=365").status_code == 404


# Stored once, even at once -------------------------------------------------------------------------


def _racing(monkeypatch):
    """The other writer commits between _store's look and its insert: the look finds nothing once."""
    real, looks = dmarc._stored_before, []

    def stored_before(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(dmarc, "_stored_before", stored_before)
    return looks


def test_the_same_report_twice_is_one_row(ctx, workspace, domain):
    data = _xml("google.com", "r-1", _at(TODAY), [(OURS, 3, "pass", "pass", "none")])
    first = dmarc.ingest(workspace.id, domain.id, data, source="upload")
    again = dmarc.ingest(workspace.id, domain.id, data, source="mailin")
    db.session.commit()
    assert (first.created, again.created, again.report.id) == (True, False, first.report.id)
    assert db.session.query(DmarcReport).count() == 1 and db.session.query(DmarcRecord).count() == 1


def test_a_report_stored_meanwhile_is_answered_not_a_500(ctx, workspace, domain, monkeypatch):
    parsed = dmarc.parse(_xml("google.com", "r-1", _at(TODAY), [(OURS, 3, "pass", "pass", "none")]))
    meanwhile = DmarcReport(workspace_id=workspace.id, domain_id=domain.id, org_name="google.com", report_id="r-1",
                            begin=parsed.begin, end=parsed.end, status="parsed", source="mailin")  # fmt: skip
    db.session.add(meanwhile)
    db.session.commit()
    looks = _racing(monkeypatch)
    stored = dmarc._store(workspace.id, domain.id, parsed, "upload", "r.xml")
    assert len(looks) == 2  # the look missed it, the insert hit the unique index, the second look found it
    assert (stored.created, stored.report.id) == (False, meanwhile.id)
    db.session.commit()  # the session is still usable: only the savepoint was rolled back
    assert db.session.query(DmarcReport).count() == 1
    assert db.session.query(DmarcRecord).count() == 0  # the loser's rows went with its savepoint


def test_the_api_answers_200_when_it_loses_the_race(api, workspace, domain, monkeypatch, conforms, ctx):
    data = _xml("google.com", "r-1", _at(TODAY), [(OURS, 3, "pass", "pass", "none")])
    first = dmarc.ingest(workspace.id, domain.id, data, source="mailin")
    db.session.commit()
    _racing(monkeypatch)
    resp = api.c.post(f"/api/v1/domains/{domain.id}/dmarc-reports", headers=api.h, data=data, content_type="text/xml")
    assert conforms(resp, "DmarcReport", 200)["id"] == first.report.id
    db.session.rollback()
    assert db.session.query(DmarcReport).count() == 1
