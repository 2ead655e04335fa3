"""The Advisor in Chromium: after a campaign with many hard bounces, the navigation counts the open
recommendations, the marketer reads the evidence, presses the fix, and the recommendation is applied
with what it did. Screenshot: advisor."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.advisor import engine
from tests.e2e.test_marketer_journeys import heading, sign_in
from tests.integration.test_advisor import _bounce_and_complain
from tests.integration.test_engagement import _sent

pytestmark = pytest.mark.e2e


def test_a_marketer_presses_the_fix_and_the_recommendation_is_applied(live_server, desktop, ctx, workspace, smtp_sink, worker, screenshot):  # fmt: skip
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=12, complaints=0)
    engine.review_campaign(workspace.id, camp.id)
    db.session.commit()
    page = desktop
    sign_in(page, live_server)
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.locator("#nav-advisor-count")).to_have_text("3")  # hard bounces, the From domain, nobody opened
    nav.get_by_role("link", name="Advisor").click()
    expect(heading(page)).to_have_text("Advisor")
    card = page.locator('[data-check="hard_bounce_rate"]')
    expect(card).to_contain_text("10.00% · 12 of 120")
    card.get_by_text("Evidence").click()
    expect(card).to_contain_text("hard bounced")
    screenshot(page, "advisor")
    card.get_by_role("button", name="Suppress every hard-bounced address").click()
    expect(page.locator(".alert-success")).to_contain_text("Suppress every hard-bounced address")
    expect(nav.locator("#nav-advisor-count")).to_have_text("2")
    page.get_by_role("link", name="Applied").click()
    expect(page.locator('[data-check="hard_bounce_rate"]')).to_contain_text("suppressed: 12")
