"""A campaign's figures over time: buckets that add up to the totals and to the campaign's stats, raw
and human side by side, split by mailbox provider or identity, as JSON, a page with a chart, and CSV."""

import csv
import io
from datetime import timedelta

from app.extensions import db
from app.models import MailboxDomain
from app.services.campaigns import drafts, lifecycle
from app.services.events import insights, tracking
from tests.factories import people, smtp_campaign
from tests.integration.test_engagement import HTML, _delivered, _hit, _urls


def _campaign(workspace, smtp_sink, worker, app):
    from datetime import datetime, timezone

    far = datetime.now(timezone.utc) + timedelta(days=1)
    db.session.add(MailboxDomain(domain="gm.example.org", provider="gmail", group="gmail", expires_at=far))
    db.session.commit()
    rows = people(3, email="g{i}@gm.example.org") + people(2, email="o{i}@example.net")
    camp = smtp_campaign(workspace, smtp_sink, rows, template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    _hit(web, _urls(html["g0@gm.example.org"])[0])  # a person opens
    _hit(web, _urls(html["g0@gm.example.org"])[0])  # …twice
    _hit(web, _urls(html["g1@gm.example.org"])[0], ua="Mozilla/5.0", ip="17.1.1.1")  # Apple prefetches
    _hit(web, _urls(html["o0@example.net"])[1][0])  # a person clicks (an open too)
    tracking.process_hits()
    return camp


def test_the_series_add_up_to_the_totals_and_the_stats(api, conforms, workspace, smtp_sink, worker, app):
    camp = _campaign(workspace, smtp_sink, worker, app)
    body = conforms(api.get(f"/campaigns/{camp.id}/insights?interval=hour"), "CampaignInsights")
    [series] = body["series"]
    totals = body["totals"]
    for metric in insights.METRICS:
        assert sum(p[metric] for p in series["points"]) == totals[metric], metric
    stats = drafts.campaign_stats(camp.id)
    assert (totals["sent"], totals["opens"], totals["human_opens"]) == (5, 3, 2)
    assert (totals["unique_opens"], totals["human_unique_opens"]) == (stats["unique_opens"], stats["human_unique_opens"]) == (3, 2)  # fmt: skip
    assert (totals["clicks"], totals["human_clicks"], totals["human_unique_clicks"]) == (1, 1, 1)
    rate = totals["rates"]["open_rate"]
    assert (rate["numerator"], rate["denominator"], rate["of"]) == (2, 5, "sent")  # the sink reports no deliveries
    assert totals["rates"]["click_to_open_rate"]["value"] == 0.5

    by_provider = api.get(f"/campaigns/{camp.id}/insights?interval=day&group_by=mailbox_provider").get_json()
    sent = {s["key"]: sum(p["sent"] for p in s["points"]) for s in by_provider["series"]}
    assert sent == {"gmail": 3, None: 2}
    human = {s["key"]: sum(p["human_unique_opens"] for p in s["points"]) for s in by_provider["series"]}
    assert human == {"gmail": 1, None: 1}
    assert by_provider["totals"]["sent"] == 5

    later = body["series"][0]["points"][-1]["t"]
    assert (
        api.get(f"/campaigns/{camp.id}/insights", query_string={"from": later, "to": "2000-01-01"}).status_code == 422
    )
    assert api.get(f"/campaigns/{camp.id}/insights?interval=week").status_code == 422
    assert api.get(f"/campaigns/{camp.id}/insights?from=yesterday").status_code == 422
    assert api.get("/campaigns/999999/insights").status_code == 404


def test_the_insights_page_draws_a_chart_and_exports_csv(client, workspace, smtp_sink, worker, app):
    camp = _campaign(workspace, smtp_sink, worker, app)
    show = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert f'href="/campaigns/{camp.id}/insights"' in show
    page = client.get(f"/campaigns/{camp.id}/insights?group_by=identity&interval=day")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-chart="insights-figure"' in body and "plotly.min.js" in body
    assert "(the campaign&#39;s own From)" in body or "(the campaign's own From)" in body
    assert 'data-rate="open_rate"' in body and "2 of 5 sent" in body
    # the curve after sending and people against machines: 1 of 3 opens was Apple's prefetch
    assert 'data-chart="curve-figure"' in body and 'data-chart="shares-figure"' in body
    assert "1 of 3 opens and 0 of 1 clicks were machines" in body
    assert 'id="curve-table"' in body and "<td>Opened by people</td>" in body
    exported = client.get(f"/campaigns/{camp.id}/insights.csv?interval=hour")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][:3] == ["group", "t", "sent"] and sum(int(r[2]) for r in rows[1:]) == 5
    assert client.get(f"/campaigns/{camp.id}/insights?interval=<script>").status_code == 200  # bad input: the default


def test_clicks_per_link_raw_and_by_people(api, conforms, client, workspace, smtp_sink, worker, app):
    camp = _campaign(workspace, smtp_sink, worker, app)
    html = smtp_sink.messages[1]["message"].get_body(("html",)).get_content()
    web = app.test_client()
    _hit(web, _urls(html)[1][1], ua="curl/8.5.0")  # a scanner on the second link
    _hit(web, _urls(html)[1][3])  # the hidden trap
    tracking.process_hits()
    body = conforms(api.get(f"/campaigns/{camp.id}/links"), "CampaignLinks")
    links = {item["url"]: item for item in body["links"]}
    assert [item["position"] for item in body["links"]] == [1, 2, 3] and body["trap"] == 1
    shoes, hats = links["https://shop.example.com/shoes"], links["https://shop.example.com/hats"]
    assert (shoes["clicks"], shoes["human_clicks"], shoes["human_clickers"]) == (1, 1, 1)  # o0's click
    assert (hats["clicks"], hats["human_clicks"], hats["clickers"]) == (1, 0, 1)
    page = client.get(f"/campaigns/{camp.id}/insights").get_data(as_text=True)
    assert 'id="insights-links"' in page and 'id="insights-trap"' in page
    exported = list(csv.reader(io.StringIO(client.get(f"/campaigns/{camp.id}/links.csv").get_data(as_text=True))))
    assert exported[0][:3] == ["position", "url", "clicked_by_people"]
    assert exported[2] == ["2", "https://shop.example.com/hats", "0", "0", "1", "1"]


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
OUTLOOK = "Mozilla/5.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; ms-office; MSOffice rmj)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def test_where_people_read_it_from_their_opens_only(api, conforms, client, workspace, smtp_sink, worker, app):
    camp = _campaign(workspace, smtp_sink, worker, app)  # g0 opened twice in a desktop Chrome; Apple prefetched g1's
    html = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    web = app.test_client()
    _hit(web, _urls(html["g2@gm.example.org"])[0], ua=IPHONE)
    _hit(web, _urls(html["o1@example.net"])[0], ua=OUTLOOK)
    _hit(web, _urls(html["g1@gm.example.org"])[0], ua=GMAIL_PROXY)
    tracking.process_hits()
    body = conforms(api.get(f"/campaigns/{camp.id}/devices"), "CampaignDevices")
    assert body["opens"] == 5  # 2 in Chrome, the iPhone, Outlook, Gmail's proxy; not Apple's prefetch
    assert dict(body["clients"]) == {"Chrome": 2, "Apple Mail": 1, "Outlook": 1, "Gmail": 1}
    assert dict(body["kinds"]) == {"desktop": 3, "mobile": 1, "unknown": 1}
    assert dict(body["systems"])["iOS"] == 1
    page = client.get(f"/campaigns/{camp.id}/insights").get_data(as_text=True)
    assert 'data-devices="clients"' in page and "Apple Mail" in page
    rows = list(csv.reader(io.StringIO(client.get(f"/campaigns/{camp.id}/devices.csv").get_data(as_text=True))))
    assert rows[0] == ["what", "name", "opens_by_people"] and ["mail program", "Apple Mail", "1"] in rows
    assert ["device", "desktop", "3"] in rows
