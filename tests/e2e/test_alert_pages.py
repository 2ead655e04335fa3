"""The bell and the Alerts page in Chromium: the badge counts what is open, Resolve takes one away.
Screenshots go to test-artifacts/screenshots/ (alerts-open, alerts-empty)."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.platform import alerts
from tests.e2e.test_marketer_journeys import heading, sign_in

pytestmark = pytest.mark.e2e


def test_the_bell_leads_to_the_alerts_and_resolve_empties_it(live_server, desktop, ctx, workspace, screenshot):
    alerts.raise_alert(
        workspace.id,
        "dns_record_failed",
        "critical",
        "domain",
        3,
        "shop.example.com: DKIM (h1._domainkey) no longer passes verification. "
        "The published DKIM key is not the one Herald signs with.",
        evidence={"dkim h1": "found p=MIIBIjANBgkqhkiG9w0BAQEFAAOC…old, expected p=MIIBIjANBgkqhkiG9w0BAQEFAAOC…new"},
        action_label="Show the records",
        action_url="/domains/3",
    )
    alerts.raise_alert(
        workspace.id,
        "warming_paused",
        "warning",
        "domain",
        3,
        "Warming of shop.example.com paused on day 4: 6.2% of yesterday's mail bounced (limit 5%).",
        evidence={"bounced": "31 of 500", "limit": "5%"},
    )
    db.session.commit()

    page = desktop
    sign_in(page, live_server)
    bell = page.locator("#nav-alerts")
    expect(bell.locator(".badge-notification")).to_have_text("2")
    bell.click()
    expect(heading(page)).to_have_text("Alerts")
    expect(page.locator("#alerts .list-group-item")).to_have_count(2)
    screenshot(page, "alerts-open")

    page.locator("#alerts .list-group-item").first.get_by_role("button", name="Resolve").click()
    expect(page.locator("#alerts .list-group-item")).to_have_count(1)
    expect(page.locator("#nav-alerts .badge-notification")).to_have_text("1")
    page.locator("#alerts .list-group-item").get_by_role("button", name="Resolve").click()
    expect(page.get_by_text("Nothing needs you")).to_be_visible()
    expect(page.locator("#nav-alerts .badge-notification")).to_have_count(0)
    screenshot(page, "alerts-empty")
