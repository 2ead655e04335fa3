"""Honest engagement: a campaign goes out through the SMTP sink, then Apple's prefetcher, Gmail's
image proxy, a link scanner (HEAD, seconds after delivery, the honeypot, a burst) and people open
and click it; every figure, raw and human, is what the test did."""

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from app.extensions import db
from app.models import CampaignRecipient, Event
from app.services.campaigns import drafts, lifecycle
from app.services.events import engagement, rollups, tracking
from tests.factories import people, smtp_campaign

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
LINKS = "".join(f'<p><a href="https://shop.example.com/{n}">{n}</a></p>' for n in ("shoes", "hats", "socks"))
HTML = f'<html><body><h1>Hello {{{{ subscriber.name }}}}</h1>{LINKS}<a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></body></html>'


def _sent(workspace, smtp_sink, worker, n: int):
    camp = smtp_campaign(workspace, smtp_sink, people(n, email="e{i}@example.org"), template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    return camp, {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}


def _urls(html: str) -> tuple[str, list[str]]:
    """(the pixel, the tracked links in order: the honeypot last)."""
    pixel = re.search(r'src="https?://[^/"]+(/t/o/[^"]+)"', html).group(1)
    return pixel, re.findall(r'href="https?://[^/"]+(/t/c/[^"]+)"', html)


def _delivered(camp_id: int, ago: timedelta) -> None:
    rows = CampaignRecipient.__table__
    db.session.execute(
        update(rows).where(rows.c.campaign_id == camp_id).values(sent_at=datetime.now(timezone.utc) - ago)
    )
    rollups.rebuild([camp_id])  # as if it had been sent then: its hourly rollups too
    db.session.commit()


def _hit(web, path, ua=CHROME, ip="203.0.113.50", method="GET"):
    call = web.head if method == "HEAD" else web.get
    return call(path, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})


def _row(camp_id, email) -> CampaignRecipient:
    db.session.expire_all()
    return db.session.scalar(select(CampaignRecipient).filter_by(campaign_id=camp_id, email=email))


def test_machines_and_people_each_counted_for_what_they_are(workspace, smtp_sink, worker, app):
    camp, html = _sent(workspace, smtp_sink, worker, 6)
    web = app.test_client()
    urls = {email: _urls(body) for email, body in html.items()}
    assert all(len(links) == 4 for _, links in urls.values())  # the honeypot and the three links
    assert 'style="display:none' in html["e0@example.org"] and "/t/trap" not in html["e0@example.org"]

    # Seconds after delivery: Apple prefetches e0's images, a gateway checks e1's links (HEAD) and clicks one.
    _delivered(camp.id, timedelta(seconds=1))
    assert _hit(web, urls["e0@example.org"][0], ua="Mozilla/5.0", ip="17.58.0.9").status_code == 200
    assert _hit(web, urls["e1@example.org"][1][0], method="HEAD").status_code == 302
    assert _hit(web, urls["e1@example.org"][1][1]).status_code == 302
    tracking.process_hits()

    # Ten minutes later: e2 opens through Gmail's proxy, e3 opens and clicks in a browser, a scanner walks
    # e4's message (the honeypot, then a link), a machine clicks all of e5's links within a second.
    _delivered(camp.id, timedelta(minutes=10))
    _hit(web, urls["e2@example.org"][0], ua=GMAIL_PROXY, ip="66.249.84.10")
    _hit(web, urls["e3@example.org"][0])
    _hit(web, urls["e3@example.org"][1][0])
    trap = web.get(urls["e4@example.org"][1][3], headers={"User-Agent": CHROME})
    assert trap.status_code == 302 and trap.headers["Location"].endswith("/t/trap")
    assert web.get("/t/trap").status_code == 204
    _hit(web, urls["e4@example.org"][1][2])
    for link in urls["e5@example.org"][1][:3]:
        _hit(web, link)
    tracking.process_hits()

    stats = drafts.campaign_stats(camp.id)
    assert (stats["opens"], stats["unique_opens"], stats["human_opens"], stats["human_unique_opens"]) == (3, 6, 2, 2)
    assert (stats["clicks"], stats["unique_clicks"], stats["human_clicks"], stats["human_unique_clicks"]) == (
        8,
        4,
        1,
        1,
    )
    assert (stats["machine_opens"], stats["machine_clicks"]) == (1, 7)
    rows = {e: _row(camp.id, e) for e in html}
    assert rows["e3@example.org"].human_clicked_at and rows["e3@example.org"].human_opened_at
    assert rows["e2@example.org"].human_opened_at and not rows["e2@example.org"].human_clicked_at  # a proxy open
    for machine in ("e0@example.org", "e1@example.org", "e4@example.org", "e5@example.org"):
        assert rows[machine].opened_at and not rows[machine].human_opened_at, machine  # raw yes, human no
    rules = {(e.event_type, e.data["signals"]["rule"]) for e in db.session.scalars(select(Event))}
    assert {("open", "apple_ip"), ("click", "head"), ("click", "fast_click"), ("open", "gmail_proxy"),
            ("click", "honeypot"), ("click", "burst"), ("click", "person"), ("open", "person")} <= rules  # fmt: skip


def test_a_honeypot_click_in_a_later_batch_takes_back_the_human_click_before_it(workspace, smtp_sink, worker, app):
    camp, html = _sent(workspace, smtp_sink, worker, 1)
    _delivered(camp.id, timedelta(minutes=5))
    web = app.test_client()
    _, links = _urls(html["e0@example.org"])
    _hit(web, links[1])
    tracking.process_hits()
    assert _row(camp.id, "e0@example.org").human_clicked_at is not None  # a person, as far as anyone knew
    _hit(web, links[3])  # the hidden link, a few seconds later: it was a machine all along
    tracking.process_hits()
    row = _row(camp.id, "e0@example.org")
    assert row.human_clicked_at is None and row.human_opened_at is None and row.clicked_at is not None
    assert drafts.campaign_stats(camp.id)["human_unique_clicks"] == 0


def test_history_is_judged_again_by_todays_rules(workspace, smtp_sink, worker, app):
    """Opens recorded before verdicts existed count as people; reclassify judges them from their signals."""
    camp, html = _sent(workspace, smtp_sink, worker, 2)
    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    _hit(web, _urls(html["e0@example.org"])[0], ua="Mozilla/5.0", ip="17.1.1.1")
    _hit(web, _urls(html["e1@example.org"])[0])
    tracking.process_hits()
    # As an upgrade leaves them: no verdicts, every raw open counted as a person's.
    db.session.execute(update(Event).values(verdict=None))
    rows = CampaignRecipient.__table__
    db.session.execute(update(rows).values(human_opened_at=rows.c.opened_at))
    rollups.rebuild([camp.id])  # what migration 0019 counts from such rows on upgrade
    db.session.commit()
    assert drafts.campaign_stats(camp.id)["human_unique_opens"] == 2

    out = app.test_cli_runner().invoke(args=["reclassify-engagement", "--days", "1"])
    assert out.exit_code == 0, out.output
    assert "apple_mpp: 1" in out.output and "human: 1" in out.output
    stats = drafts.campaign_stats(camp.id)
    assert (stats["human_unique_opens"], stats["human_opens"], stats["machine_opens"]) == (1, 1, 1)


def test_behind_a_proxy_the_visitors_address_is_the_one_judged(monkeypatch, app, redis_url):
    from app import create_app
    from app.redis_client import get_redis
    from app.services.tokens import make_token

    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    proxied = create_app()
    with proxied.app_context():
        token = make_token("open", 42)
        get_redis().delete(tracking.HITS_KEY)
    r = proxied.test_client().get(f"/t/o/{token}.gif", headers={"X-Forwarded-For": "17.9.9.9", "User-Agent": "Mozilla/5.0"},
                                  environ_base={"REMOTE_ADDR": "10.0.0.2"})  # fmt: skip
    assert r.status_code == 200
    with proxied.app_context():
        import json

        hit = json.loads(get_redis().lindex(tracking.HITS_KEY, -1))
    assert hit[6] == "17.9.9.9"  # not nginx's 10.0.0.2
    # Without the setting, a forged header changes nothing.
    r = app.test_client().get(f"/t/o/{token}.gif", headers={"X-Forwarded-For": "17.9.9.9"},
                              environ_base={"REMOTE_ADDR": "10.0.0.2"})  # fmt: skip
    with app.app_context():
        assert json.loads(get_redis().lindex(tracking.HITS_KEY, -1))[6] == "10.0.0.2"


def test_the_rules_page_lists_the_rules_and_the_last_30_days(client, workspace, smtp_sink, worker, app):
    camp, html = _sent(workspace, smtp_sink, worker, 2)
    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    _hit(web, _urls(html["e0@example.org"])[0], ua="Mozilla/5.0", ip="17.1.1.1")
    _hit(web, _urls(html["e1@example.org"])[0])
    tracking.process_hits()
    page = client.get("/settings/engagement")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'data-rule="honeypot"' in body and "Apple Mail Privacy Protection" in body
    assert re.search(r'data-verdict="apple_mpp">.*?data-count="1">1 <span[^>]*>50.0%', body, re.S)
    assert 'href="/settings/engagement"' in client.get("/campaigns/").get_data(as_text=True)  # in the navigation
    assert engagement.verdict_shares(workspace.id)["opens"] == {"apple_mpp": 1, "human": 1}


def test_opens_and_clicks_reach_outbound_webhooks_with_their_verdict(workspace, smtp_sink, worker, app):
    from app.models import WebhookDelivery
    from app.services import outbound_webhooks

    outbound_webhooks.create_endpoint(workspace.id, "https://hooks.example.com/herald", event_types=["open", "click"])
    db.session.commit()
    camp, html = _sent(workspace, smtp_sink, worker, 2)
    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    _hit(web, _urls(html["e0@example.org"])[0], ua="Mozilla/5.0", ip="17.1.1.1")
    _hit(web, _urls(html["e1@example.org"])[1][0])
    tracking.process_hits()
    payloads = sorted((d.payload["type"], d.payload["verdict"], d.payload["email"])
                      for d in db.session.scalars(select(WebhookDelivery)))  # fmt: skip
    assert payloads == [("click", "human", "e1@example.org"), ("open", "apple_mpp", "e0@example.org")]
