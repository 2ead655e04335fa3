"""The Transactional page in Chromium: what the shop's API sent, what became of it, and one message opened."""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.audience import contacts
from app.services.content import templates
from app.services.delivery import providers
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

RESET_HTML = """<!doctype html><html><body>
<h1>Hi {{ subscriber.name or 'there' }}</h1>
<p>Your code is <b id="code">{{ code }}</b>.</p>
<p><a href="{{ reset_url }}">Choose a new password</a></p>
</body></html>"""


def heading(page):
    return page.locator(".page-title")


def test_the_transactional_page_lists_a_sent_message_and_opens_it(
    desktop, live_server, workspace, api, smtp_sink, worker, screenshot
):
    page, origin = desktop, live_server
    providers.create_provider(workspace.id, "Relay", "smtp", {"host": "127.0.0.1", "port": smtp_sink.port}, {}, True)
    templates.create_template(
        workspace.id,
        {
            "name": "Password reset",
            "subject": "Reset your password",
            "body_html": RESET_HTML,
            "category": "transactional",
        },
    )
    contacts.suppress_address(workspace.id, "bounced@example.com", "bounced", "550 5.1.1 no such user")
    db.session.commit()
    body = {
        "template": "password-reset",
        "from_email": "shop@shop.example.com",
        "context": {"code": "604 221", "reset_url": "https://shop.example.com/reset/1"},
    }
    sent = api.post("/messages", json={**body, "to": "ann@example.com"})
    assert sent.status_code == 202, sent.json
    assert api.post("/messages", json={**body, "to": "bounced@example.com"}).status_code == 422
    worker()
    assert [m["rcpt_tos"] for m in smtp_sink.messages] == [["ann@example.com"]]

    page.goto(origin + "/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page)).to_have_text("Overview")

    # One hop from anywhere: the left menu.
    page.locator("nav[aria-label='Main navigation']").get_by_role(
        "link", name=re.compile(r"^\W*Transactional$")
    ).click()
    expect(heading(page)).to_have_text("Transactional")
    rows = page.locator("#messages-table tbody tr")
    expect(rows).to_have_count(2)
    ann = rows.filter(has_text="ann@example.com")
    expect(ann.locator("[data-status]")).to_have_text("sent")
    expect(ann).to_contain_text("Password reset")
    expect(ann).to_contain_text("Reset your password")
    blocked = rows.filter(has_text="bounced@example.com")
    expect(blocked.locator("[data-status]")).to_have_text("suppressed")
    expect(blocked).to_contain_text("suppressed:bounced")
    screenshot(page, "transactional-index")

    # The status filter keeps only what was held back.
    page.get_by_role("link", name="Suppressed", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bounced@example.com")
    page.get_by_role("link", name="All", exact=True).click()
    expect(rows).to_have_count(2)

    # The message's own page: status, details, the context it was sent with, the email itself.
    page.get_by_role("link", name="ann@example.com").click()
    expect(heading(page)).to_have_text("Reset your password")
    expect(page.locator("#message-status [data-status]")).to_have_text("sent")
    expect(page.locator("#message-details")).to_contain_text("shop@shop.example.com")
    expect(page.locator("#message-details")).to_contain_text(smtp_sink.messages[0]["message"]["Message-ID"])
    # Ann got her code; the log does not keep it (anyone reading the dashboard could use it).
    assert "604 221" in smtp_sink.messages[0]["raw"].decode()
    expect(page.locator("#message-context")).to_contain_text("[removed after sending]")
    expect(page.locator("#message-context")).not_to_contain_text("604 221")
    expect(page.frame_locator("iframe[title='Message HTML']").locator("#code")).to_have_text("[removed after sending]")
    screenshot(page, "transactional-message")
    page.get_by_role("link", name="Transactional").first.click()
    expect(heading(page)).to_have_text("Transactional")
