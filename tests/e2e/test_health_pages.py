"""A domain's Health card in Chromium: the score and its parts, and the daily history drawn by Plotly over
the tier bands. Screenshot: domain-health."""

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.delivery import delivery_stats, health
from tests.e2e.test_marketer_journeys import go, heading, sign_in
from tests.factories import create_signing_domain

pytestmark = pytest.mark.e2e
DOMAIN = "news.acme.test"


def test_the_domain_page_draws_the_health_history_over_its_tiers(live_server, desktop, ctx, workspace, screenshot):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    today = datetime.now(timezone.utc).date()
    # Two weeks of mail: healthy at first, then more and more bounces and a few complaints.
    for n in range(14, 0, -1):
        day = today - timedelta(days=n)
        bounced = 5 if n > 6 else 5 + 12 * (7 - n)
        delivery_stats.add(
            workspace.id, {(day, 0, DOMAIN): Counter(sent=400, bounced_hard=bounced, complained=int(n < 4))}
        )
        db.session.commit()
        health.record_daily(day)
    db.session.commit()

    page = desktop
    sign_in(page, live_server)
    go(page, "Domains")
    expect(page.locator(f"#domains-table [data-domain='{domain.id}'] [data-tier]")).to_be_visible()
    page.get_by_role("link", name=DOMAIN).click()
    expect(heading(page)).to_have_text(DOMAIN)
    card = page.locator("#health")
    expect(card.locator("#health-score")).to_be_visible()
    expect(card.locator("#health-components tbody tr")).to_have_count(4)
    expect(page.locator("#health-chart[data-drawn='1'] .main-svg").first).to_be_visible()  # Plotly drew it
    card.scroll_into_view_if_needed()
    screenshot(page, "domain-health")
