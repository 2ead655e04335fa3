"""Deliverability → Providers in Chromium: add a SendGrid provider, copy its webhook URL, and test it
against a local stand-in for SendGrid's API, once accepted and once refused."""

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect

from app.extensions import db
from app.services.delivery import providers
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

API_KEY = "SG.e2e-secret-api-key"


def sign_in(page, origin):
    page.goto(origin + "/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".page-title")).to_have_text("Overview")


def test_a_marketer_adds_sendgrid_copies_the_webhook_url_and_tests_it(
    desktop, live_server, workspace, httpserver, screenshot
):
    page, origin = desktop, live_server
    # SendGrid's "what may this key do": Herald's check wants mail.send, with our key.
    httpserver.expect_request(
        "/v3/scopes", method="GET", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_json({"scopes": ["mail.send", "user.profile.read"]})
    public_key = base64.b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)

    sign_in(page, origin)
    page.locator("nav[aria-label='Main navigation']").get_by_role("link", name=re.compile(r"^\W*Providers$")).click()
    expect(page.locator(".page-title")).to_have_text("Providers")
    page.get_by_role("link", name="Add provider").click()
    # SMTP, SES, SendGrid, Mailgun, Postmark and Twilio (SMS)
    expect(page.locator("#provider-types [data-type]")).to_have_count(6)
    screenshot(page, "providers-choose-type")
    page.locator("#provider-types").get_by_role("link", name=re.compile("SendGrid")).click()
    expect(page.locator(".page-title")).to_have_text("SendGrid")

    page.get_by_label("Name", exact=True).fill("SendGrid marketing")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("Event webhook verification key").fill(public_key)
    page.get_by_label("API base URL").fill(httpserver.url_for("/").rstrip("/"))
    page.get_by_label("Priority").fill("10")
    page.get_by_label("Max per day").fill("50000")
    page.get_by_label("Make it the default provider").check()
    page.get_by_role("button", name="Save provider").click()

    expect(page.locator(".page-title")).to_have_text("SendGrid marketing")
    p = providers.list_providers(workspace.id)[0]
    assert p.provider_type == "sendgrid" and p.is_default
    url = f"{origin}/webhooks/sendgrid/{p.id}"
    expect(page.locator("#webhook-url")).to_have_value(url)
    expect(page.get_by_label("API key")).to_have_value("")  # never sent back
    expect(page.locator("#webhook-card")).to_contain_text("Signed Event Webhook")
    assert API_KEY not in page.content()

    copy = page.get_by_role("button", name="Copy the webhook URL")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url

    expect(page.locator("#last-check")).to_contain_text("Not tested yet")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#last-check [data-status]")).to_have_text("ok")
    expect(page.locator("#last-check")).to_contain_text("connected and authenticated")
    assert len(httpserver.log) == 1
    screenshot(page, "provider-sendgrid")

    page.get_by_role("link", name=re.compile(r"^\W*Providers$")).first.click()
    row = page.locator("#providers-table tbody tr").filter(has_text="SendGrid marketing")
    expect(row.locator("[data-status]")).to_have_text("ok")
    expect(row).to_contain_text("0 / 50,000 today")
    expect(row).to_contain_text("default")
    screenshot(page, "providers-index")


def test_a_failed_test_shows_the_providers_answer(desktop, live_server, workspace, httpserver, screenshot):
    page, origin = desktop, live_server
    httpserver.expect_request("/v3/scopes", method="GET").respond_with_json(
        {"errors": [{"field": None, "message": "authorization required"}]}, status=401
    )
    p = providers.create_provider(
        workspace.id,
        "SendGrid old key",
        "sendgrid",
        {"api_base_url": httpserver.url_for("/").rstrip("/")},
        {"api_key": "SG.revoked-key"},
    )
    db.session.commit()

    sign_in(page, origin)
    page.goto(f"{origin}/providers/{p.id}")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#last-check [data-status]")).to_have_text("failed")
    expect(page.locator("#last-check")).to_contain_text("401")
    expect(page.locator("#last-check")).to_contain_text("authorization required")
    expect(page.get_by_role("alert").filter(has_text="failed the check")).to_be_visible()
    assert "SG.revoked-key" not in page.content()
    screenshot(page, "provider-sendgrid-test-failed")
