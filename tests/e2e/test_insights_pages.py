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


def test_a_marketer_compares_the_month_and_splits_by_campaign(live_server, desktop, ctx, workspace, smtp_sink, worker, app, screenshot):  # fmt: skip
    """From the navigation to Insights: the 30-day cards, the chart, then one row per campaign, and from a
    campaign's row to its own insights. Screenshot: workspace-insights."""
    from tests.integration.test_workspace_insights import _send

    _send(workspace, smtp_sink, worker, app, "Spring sale", 6, openers=3, clickers=1)
    _send(workspace, smtp_sink, worker, app, "Autumn news", 4, openers=1)
    page = desktop
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Insights").click()
    expect(heading(page)).to_have_text("Insights")
    expect(page.locator('[data-overview="sent"]')).to_contain_text("10")
    expect(page.locator('[data-overview="human_unique_opens"]')).to_contain_text("40.0% of 10 sent")
    expect(page.locator("#insights-chart")).to_have_attribute("data-drawn", "1")
    page.get_by_label("Split by").select_option("campaign")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("#insights-groups [data-series]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Spring sale")
    screenshot(page, "workspace-insights")
    rows.first.get_by_role("link", name="Spring sale").click()
    expect(page.locator('[data-rate="open_rate"]')).to_contain_text("3 of 6 sent")
