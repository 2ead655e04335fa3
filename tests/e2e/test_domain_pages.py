"""An operator adds a sending domain in Chromium, publishes what Herald shows (a real DNS server
on loopback plays their DNS host), verifies it, and starts warming: the plan's chart is drawn.
Screenshots: domain-records, domain-verified, domain-warming."""

import pytest
from playwright.sync_api import expect

from tests.dns_support import ZoneServer
from tests.e2e.test_marketer_journeys import go, heading, sign_in
from tests.factories import txt_zone_line

pytestmark = pytest.mark.e2e
DOMAIN = "news.acme.test"


@pytest.fixture
def dns_host(app, monkeypatch):
    with ZoneServer() as server:
        monkeypatch.setitem(app.config, "DNS_NAMESERVERS", server.address)
        monkeypatch.setitem(app.config, "DNS_TIMEOUT", 2.0)
        yield server


def _published(page) -> list[str]:
    """The zone an operator writes from the records table, copying each name and value."""
    lines = []
    for row in page.locator("#dns-records tbody tr").all():
        kind = row.locator("td").nth(1).inner_text().strip()
        name, value = (row.locator("input").nth(i).input_value() for i in (0, 1))
        lines.append(f"{name}. 300 IN MX {value}." if kind == "MX" else txt_zone_line(name, value))
    return lines


def test_an_operator_adds_verifies_and_warms_a_sending_domain(live_server, desktop, workspace, dns_host, screenshot):
    page = desktop
    sign_in(page, live_server)
    go(page, "Domains")
    expect(heading(page)).to_have_text("Sending domains")
    page.get_by_label("Domain", exact=True).fill(DOMAIN)
    page.get_by_role("button", name="Add domain").click()
    expect(heading(page)).to_have_text(DOMAIN)
    expect(page.locator("#dns-records tbody tr")).to_have_count(5)
    expect(page.locator("[data-purpose=dkim] input").first).to_have_value(f"herald1._domainkey.{DOMAIN}")
    screenshot(page, "domain-records")

    page.get_by_role("button", name="Verify").click()  # nothing published yet
    expect(page.locator("#domain-status [data-status]")).to_have_text("failed")
    expect(page.locator("[data-purpose=dkim] [data-ok='0']")).to_be_visible()

    dns_host.set(*_published(page))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#domain-status [data-status]")).to_have_text("verified")
    expect(page.locator("#dns-records [data-ok='1']")).to_have_count(5)
    expect(page.locator("#dkim-keys [data-key=herald1] [data-status]")).to_have_text("signing")
    screenshot(page, "domain-verified")

    page.get_by_role("link", name="Warming").click()
    page.get_by_label("Schedule").select_option("standard")
    page.get_by_role("button", name="Start warming").click()
    expect(page.locator("#warming-day .stat-value")).to_have_text("1")
    expect(page.locator("#warming-today .stat-value")).to_have_text("50")
    expect(page.locator("#warming-chart[data-drawn='1'] .main-svg").first).to_be_visible()  # Plotly drew it
    screenshot(page, "domain-warming")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#warming-status [data-status]")).to_have_text("paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#warming-status [data-status]")).to_have_text("warming")
