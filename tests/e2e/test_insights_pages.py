"""A campaign's Insights in Chromium: the marketer goes from the campaign to its figures over time,
the chart draws, and the split by mailbox provider shows one table per provider. Screenshot:
campaign-insights."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_marketer_journeys import heading, sign_in
from tests.integration.test_campaign_insights import _campaign

pytestmark = pytest.mark.e2e


def test_a_marketer_reads_a_campaigns_figures_over_time(live_server, desktop, ctx, workspace, smtp_sink, worker, app, screenshot):  # fmt: skip
    camp = _campaign(workspace, smtp_sink, worker, app)
    page = desktop
    sign_in(page, live_server)
    page.goto(f"{live_server}/campaigns/{camp.id}")
    page.locator("#campaign-insights-link").click()
    expect(heading(page)).to_have_text("Insights")
    expect(page.locator("#insights-chart")).to_have_attribute("data-drawn", "1")
    expect(page.locator('[data-rate="open_rate"]')).to_contain_text("2 of 5 sent")
    page.get_by_label("Split by").select_option("mailbox_provider")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("[data-series]")).to_have_count(2)
    expect(page.locator('[data-series="gmail"]')).to_contain_text("Gmail")
    screenshot(page, "campaign-insights")
