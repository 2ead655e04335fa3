"""A campaign goes out through a real SMTP server, tracked, and the audience rules hold."""

import re
from urllib.parse import urlparse

from app.extensions import db
from app.services.audience import contacts
from app.services.campaigns import drafts, lifecycle, recipients
from app.services.delivery import providers
from app.services.events import tracking
from tests.factories import create_list, people, smtp_campaign


def customers(n: int) -> list[dict]:
    """`n` people on the gold plan, their addresses in mixed case (Herald stores them lower-cased)."""
    return people(n, "Person{i}@Example.com", "Person {i}", plan="gold")


# The Spring campaign from Acme Shop, with a preview text.
SPRING = {"template": {"preview_text": "A warm hello"}, "from_name": "Acme Shop"}


def test_campaign_reaches_every_subscriber_once_with_tracking_and_unsubscribe_headers(
    workspace, smtp_sink, worker, app
):
    camp = smtp_campaign(workspace, smtp_sink, customers(7), **SPRING)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    db.session.expire_all()
    assert drafts.get_campaign(workspace.id, camp.id).status == "sent"
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == [f"person{i}@example.com" for i in range(7)]
    msg = smtp_sink.messages[0]["message"]
    assert msg["Subject"].startswith("Hi Person")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.match(r"<http://herald\.test/u/[\w.-]+>", msg["List-Unsubscribe"])
    assert msg["Message-ID"].endswith("@shop.example.com>")
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "https://example.com/offer" not in html and "/t/c/" in html
    assert "/t/o/" in html and "A warm hello" in html
    assert "Your plan: gold" in text and "/t/c/" in text
    stats = drafts.campaign_stats(camp.id)
    assert stats["total_recipients"] == 7 and stats["sent"] == 7 and stats["failed"] == 0


def test_opens_clicks_and_one_click_unsubscribe_are_counted(workspace, smtp_sink, worker, app):
    camp = smtp_campaign(workspace, smtp_sink, customers(2), **SPRING)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = smtp_sink.messages[0]["message"].get_body(("html",)).get_content()
    web = app.test_client()
    pixel = re.search(r'src="http://herald\.test(/t/o/[^"]+)"', html).group(1)
    clicks = re.findall(r'href="http://herald\.test(/t/c/[^"]+)"', html)
    assert web.get(pixel).status_code == 200
    assert web.get(pixel).mimetype == "image/gif"
    r = web.get(clicks[0])
    assert r.status_code == 302 and r.headers["Location"] == "https://example.com/offer?a=1&b=2"
    assert web.get("/t/c/not-a-token").status_code == 404
    tracking.process_hits()
    unsub = urlparse(smtp_sink.messages[0]["message"]["List-Unsubscribe"].strip("<>")).path
    r = web.post(unsub, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    db.session.commit()
    stats = drafts.campaign_stats(camp.id)
    assert stats["opens"] == 2 and stats["unique_opens"] == 1
    assert stats["clicks"] == 1 and stats["unique_clicks"] == 1
    assert stats["unsubscribed"] == 1


def test_next_campaign_skips_unsubscribed_and_suppressed_with_reason(workspace, smtp_sink, worker, app):
    camp = smtp_campaign(workspace, smtp_sink, customers(3), **SPRING)
    sub = db.session.scalar(db.select(contacts.Subscriber).where(contacts.Subscriber.email == "person0@example.com"))
    contacts.unsubscribe(sub)
    contacts.suppress_address(workspace.id, "person1@example.com", "complained")
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert [m["rcpt_tos"][0] for m in smtp_sink.messages] == ["person2@example.com"]
    rows = {r.email: (r.status, r.reason) for r in db.session.scalars(drafts.recipients_query(camp.id))}
    assert rows["person0@example.com"] == ("failed", "suppressed:unsubscribed")
    assert rows["person1@example.com"] == ("failed", "suppressed:complained")
    assert rows["person2@example.com"][0] == "sent"


def test_hard_bounce_fails_recipient_suppresses_and_campaign_goes_on(workspace, smtp_sink, worker, app):
    smtp_sink.refuse["person1@example.com"] = "550 5.1.1 <person1@example.com>: mailbox unknown"
    camp = smtp_campaign(workspace, smtp_sink, customers(3), **SPRING)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    rows = {r.email: (r.status, r.reason) for r in db.session.scalars(drafts.recipients_query(camp.id))}
    assert rows["person1@example.com"][0] == "bounced" and "5.1.1" in rows["person1@example.com"][1]
    assert rows["person2@example.com"][0] == "sent"
    db.session.expire_all()
    assert drafts.get_campaign(workspace.id, camp.id).status == "sent"
    sub = db.session.scalar(db.select(contacts.Subscriber).where(contacts.Subscriber.email == "person1@example.com"))
    assert sub.status == "bounced"


def _first_message_urls(sink):
    msg = sink.messages[0]["message"]
    html = msg.get_body(("html",)).get_content()
    find = lambda prefix: re.search(rf'href="http://herald\.test(/{prefix}/[^"]+)"', html).group(1)  # noqa: E731
    return msg["To"], find("u"), find("v"), html


def test_view_in_browser_shows_the_personalized_message_sandboxed(workspace, smtp_sink, worker, app):
    smtp_campaign(workspace, smtp_sink, customers(1), **SPRING)
    camp = db.session.scalar(db.select(drafts.Campaign))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    _, _, view, _ = _first_message_urls(smtp_sink)
    r = app.test_client().get(view)
    assert r.status_code == 200 and "Hello Person 0" in r.get_data(as_text=True)
    assert "/t/o/" not in r.get_data(as_text=True)  # viewing in a browser is not an open of the email
    assert '<img src=""' not in r.get_data(as_text=True)
    assert r.headers["Content-Security-Policy"].startswith("sandbox")


def test_unsubscribe_page_confirms_then_offers_resubscribe_and_preferences(workspace, smtp_sink, worker, app):
    smtp_campaign(workspace, smtp_sink, customers(1), **SPRING)
    camp = db.session.scalar(db.select(drafts.Campaign))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    _, unsub, _, _ = _first_message_urls(smtp_sink)
    web = app.test_client()
    page = web.get(unsub).get_data(as_text=True)
    assert "Unsubscribe from Acme?" in page and "person0@example.com" in page
    sub = db.session.scalar(db.select(contacts.Subscriber))
    assert sub.status == "active"  # a GET changes nothing (link scanners open pages too)
    posted = web.post(unsub)
    assert posted.status_code == 303  # post/redirect/get: reloading the result page changes nothing
    done = web.get(posted.headers["Location"]).get_data(as_text=True)
    assert "You are unsubscribed" in done
    db.session.expire_all()
    assert sub.status == "unsubscribed"
    prefs = re.search(r'href="(/preferences/[^"]+)"', done).group(1)
    assert "unsubscribed from everything" in web.get(prefs).get_data(as_text=True)
    resub = re.search(r'action="(/u/[^"]+/resubscribe)"', done).group(1)
    assert "Welcome back" in web.post(resub, follow_redirects=True).get_data(as_text=True)
    assert web.get(resub).status_code == 302  # a bookmarked result page shows the current state
    db.session.expire_all()
    assert sub.status == "active"
    assert db.session.scalar(db.select(contacts.Suppression)) is None


def test_preference_center_lets_a_person_leave_one_list(workspace, smtp_sink, worker, app):
    camp = smtp_campaign(workspace, smtp_sink, customers(1), **SPRING)
    [lst] = drafts.campaign_lists(camp.id)
    other = create_list(workspace.id, "Product news")
    sub = db.session.scalar(db.select(contacts.Subscriber))
    contacts.add_to_list(workspace.id, other.id, [sub.id])
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    _, unsub, _, html = _first_message_urls(smtp_sink)
    web = app.test_client()
    prefs = re.search(r'href="(/preferences/[^"]+)"', web.get(unsub).get_data(as_text=True)).group(1)
    page = web.get(prefs).get_data(as_text=True)
    assert "Customers" in page and "Product news" in page
    saved = web.post(prefs, data={"list_ids": [str(lst.id)]}).get_data(as_text=True)
    assert "Your preferences are saved" in saved and "Product news" not in saved
    assert contacts.subscriber_list_ids(sub.id) == [lst.id]
    missing = web.get("/preferences/1.forged000000000000")
    assert missing.status_code == 404 and "This link does not work" in missing.get_data(as_text=True)
    assert "overview" not in missing.get_data(as_text=True).lower()


def test_unreachable_provider_loses_nobody_says_why_and_resumes(workspace, smtp_sink, worker, app):
    import pytest

    from app.providers import TransportUnavailable
    from app.services.campaigns import sending
    from tests.support import free_port

    camp = smtp_campaign(workspace, smtp_sink, customers(3), **SPRING)
    prov = providers.get_provider(workspace.id, camp.provider_id)
    real_port = prov.settings["port"]
    prov.settings = {**prov.settings, "port": free_port()}  # nothing listens there
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    ranges = recipients.prepare_campaign(camp.id)
    db.session.commit()
    with pytest.raises(TransportUnavailable):
        sending.send_batch(camp.id, *ranges[0])
    db.session.expire_all()
    c = drafts.get_campaign(workspace.id, camp.id)
    assert c.status == "sending" and "Cannot reach “Local relay”" in c.last_error
    assert drafts.campaign_stats(camp.id)["pending"] == 3  # nobody lost, nobody half-sent
    prov.settings = {**prov.settings, "port": real_port}
    db.session.commit()
    sending.send_batch(camp.id, *ranges[0])  # what RQ's retry does
    db.session.expire_all()
    c = drafts.get_campaign(workspace.id, camp.id)
    assert c.status == "sent" and c.last_error is None
    assert len(smtp_sink.messages) == 3
