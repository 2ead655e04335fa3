"""Dedicated IPs in Chromium: add an address from the navigation, press Check now, read what a listing
means. A real DNS server on loopback plays the lists. Screenshots: ips-index, ip-listed."""

import pytest
from playwright.sync_api import expect

from tests.dns_support import ZoneServer
from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in

pytestmark = pytest.mark.e2e

IP, HOST = "5.45.67.89", "mail1.acme.test"


def test_an_operator_adds_an_ip_checks_it_and_sees_the_listing(live_server, desktop, app, workspace, screenshot,
                                                               monkeypatch):  # fmt: skip
    with ZoneServer() as dns_server:
        monkeypatch.setitem(app.config, "DNS_NAMESERVERS", dns_server.address)
        monkeypatch.setitem(app.config, "DNS_TIMEOUT", 2.0)
        dns_server.set(
            f"89.67.45.5.in-addr.arpa. 300 IN PTR {HOST}.",
            f"{HOST}. 300 IN A {IP}",
            "89.67.45.5.zen.spamhaus.org. 300 IN A 127.0.0.2",
            '89.67.45.5.zen.spamhaus.org. 300 IN TXT "https://check.spamhaus.org/sbl/query/SBL12345"',
            "89.67.45.5.bl.spamcop.net. 300 IN A 127.255.255.254",
        )
        page = desktop
        sign_in(page, live_server)
        menu_item(page, "Dedicated IPs").click()
        expect(heading(page)).to_have_text("Dedicated IPs")
        page.get_by_label("IP address").fill(IP)
        page.get_by_label("Host name").fill(HOST)
        page.get_by_role("button", name="Add IP").click()
        expect(heading(page)).to_have_text(IP)

        page.get_by_role("button", name="Check now").click()
        zen = page.locator('tr[data-zone="zen.spamhaus.org"]')
        expect(zen.locator('[data-state="listed"]')).to_be_visible()
        expect(zen).to_contain_text("SBL:")
        expect(zen.get_by_role("link", name="Request removal")).to_have_attribute("href", "https://check.spamhaus.org/")
        expect(page.locator('tr[data-zone="bl.spamcop.net"] [data-state="refused"]')).to_be_visible()
        expect(page.locator("#ip-fcrdns [data-state='ok']")).to_be_visible()
        expect(page.locator("#nav-alerts .badge-notification")).to_have_text("1")
        screenshot(page, "ip-listed")

        menu_item(page, "Dedicated IPs").click()
        expect(page.locator("#ips-table tbody tr")).to_have_count(1)
        screenshot(page, "ips-index")
