"""Message search in Chromium: a marketer looks an address up from the navigation, or from a
campaign's recipients, and reads what happened to the message. Screenshot: message-trail."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.campaigns import lifecycle
from app.services.events import tracking
from tests.e2e.test_marketer_journeys import heading, sign_in
from tests.factories import people, smtp_campaign
from tests.integration.test_engagement import HTML, _delivered, _hit, _urls

pytestmark = pytest.mark.e2e


def test_a_marketer_finds_a_message_and_reads_its_trail(live_server, desktop, ctx, workspace, smtp_sink, worker, app, screenshot):  # fmt: skip
    camp = smtp_campaign(workspace, smtp_sink, people(2, email="reader{i}@example.org"), template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = smtp_sink.messages[0]["message"].get_body(("html",)).get_content()
    _delivered(camp.id, timedelta(minutes=10))
    _hit(app.test_client(), _urls(html)[0], ua="Mozilla/5.0", ip="17.2.3.4")
    tracking.process_hits()
    to = smtp_sink.messages[0]["rcpt_tos"][0]

    page = desktop
    sign_in(page, live_server)
    page.get_by_role("link", name="Message search").click()
    expect(heading(page)).to_have_text("Message search")
    page.get_by_label("Email address or Message-ID").fill(to.upper())
    page.get_by_role("button", name="Search").click()
    trail = page.locator(".trail").first
    expect(trail.locator("[data-step]")).to_have_count(3)
    expect(trail.locator('[data-step="handed off"]')).to_contain_text("250")
    expect(trail.locator('[data-step="opened"]')).to_contain_text("by Apple Mail Privacy Protection")
    screenshot(page, "message-trail")

    # From the campaign: the recipient's address leads to the same message, found by its Message-ID.
    page.goto(f"{live_server}/campaigns/{camp.id}?rpage=1")
    page.locator("#recipients-table").get_by_role("link", name=to).click()
    expect(page.locator(".trail")).to_have_count(1)
    expect(page.locator(".trail [data-step='opened']")).to_be_visible()
