"""Settings → Webhooks in Chromium: add an endpoint, copy its secret (shown once), send a test event to
a real receiver and read the delivery in the log."""

import json
import re

import pytest
from playwright.sync_api import expect

from app.services.outbound_webhooks import verify_signature
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_a_marketer_adds_a_webhook_endpoint_and_sees_a_test_event_delivered(
    desktop, live_server, workspace, httpserver, screenshot
):
    page, origin = desktop, live_server
    httpserver.expect_request("/herald-events", method="POST").respond_with_data('{"received": true}')
    receiver = httpserver.url_for("/herald-events")

    page.goto(origin + "/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".page-title")).to_have_text("Overview")

    page.locator("nav[aria-label='Main navigation']").get_by_role("link", name=re.compile(r"^\W*Webhooks$")).click()
    expect(page.locator(".page-title")).to_have_text("Webhooks")
    expect(page.get_by_text("No webhook endpoints yet")).to_be_visible()
    page.get_by_role("link", name="Add endpoint").first.click()

    page.get_by_label("URL").fill(receiver)
    page.get_by_label("Description").fill("Data warehouse")
    page.get_by_label("Only the types ticked below").check()
    page.get_by_label("bounce").check()
    page.get_by_label("complaint").check()
    page.get_by_role("button", name="Add endpoint").click()

    # The secret, once, with a copy button.
    banner = page.locator("#new-secret")
    expect(banner).to_contain_text("copy it now")
    secret = page.locator("#new-secret-value").inner_text().strip()
    assert secret.startswith("whsec_")
    expect(banner.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.locator("#endpoint-details")).to_contain_text("bounce")
    screenshot(page, "webhook-endpoint-created")

    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".toast-stack")).to_contain_text("Test event delivered")
    row = page.locator("#deliveries-table tbody tr").first
    expect(row.locator("[data-status]")).to_have_text("delivered")
    expect(row).to_contain_text("test")
    expect(row).to_contain_text("200")
    expect(page.locator("#new-secret")).to_have_count(0)  # gone after the first page

    # The receiver got it, signed with the secret the page showed.
    [(request, _)] = httpserver.log
    assert verify_signature(secret, request.headers["X-Herald-Signature"], request.get_data())
    assert json.loads(request.get_data())["type"] == "test"

    # A row opens its payload and the endpoint's answer.
    row.get_by_role("link").click()
    dialog = page.locator("#delivery-modal")
    expect(dialog.locator("#delivery-payload")).to_contain_text('"type": "test"')
    expect(dialog.locator("#delivery-response")).to_contain_text('{"received": true}')
    expect(dialog).to_have_class(re.compile(r"\bshow\b"))
    expect(dialog).to_have_css("opacity", "1")  # the fade-in is over
    screenshot(page, "webhook-endpoint-delivery", full_page=False)
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()

    # Revealed again only when asked.
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret-value")).to_have_value(secret)

    page.locator("nav[aria-label='Main navigation']").get_by_role("link", name=re.compile(r"^\W*Webhooks$")).click()
    listed = page.locator("#webhooks-table tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text(receiver)
    expect(listed.first.locator("[data-status]")).to_have_text("active")
    screenshot(page, "webhooks-index")
