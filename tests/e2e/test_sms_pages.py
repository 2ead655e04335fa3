"""An SMS campaign in Chromium, as a marketer writes one: the counter follows the text as it is typed
(an emoji turns it Unicode and it costs more segments), the estimate follows the audience, and the
saved draft's page shows who would be texted and what it would cost. Screenshots: sms-new, sms-campaign."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in
from tests.sms_support import add_twilio, texting_audience

pytestmark = pytest.mark.e2e

WORDS = "Weekend sale at Acme: 20% off everything in store and online, today and tomorrow. Reply STOP to opt out."


def test_a_marketer_writes_an_sms_and_sees_unicode_cost_more_segments(live_server, desktop, api, workspace, screenshot):
    add_twilio(api)
    texting_audience(workspace.id)
    page = desktop
    sign_in(page, live_server)

    menu_item(page, "SMS campaigns").click()
    expect(heading(page)).to_have_text("SMS campaigns")
    page.get_by_role("link", name="New SMS campaign").first.click()
    expect(heading(page)).to_have_text("New SMS campaign")
    page.get_by_label("Campaign name").fill("Weekend")
    body = page.get_by_label("Text", exact=True)
    body.fill(WORDS)
    measure = page.locator("#sms-measure")
    expect(measure).to_have_attribute("data-encoding", "GSM-7")
    expect(page.locator("#sms-segments")).to_have_text("1")
    expect(page.locator("#sms-encoding")).to_have_text("GSM-7")

    body.press("End")
    body.type(" 🎉")
    expect(measure).to_have_attribute("data-encoding", "UCS-2")
    expect(page.locator("#sms-encoding")).to_have_text("Unicode (UCS-2)")
    expect(page.locator("#sms-segments")).to_have_text("2")
    expect(page.locator("#sms-unicode-chars")).to_contain_text("🎉")
    expect(page.locator("#sms-sample")).to_contain_text("Reply STOP to opt out. 🎉")

    page.get_by_label("Customers").check()
    expect(page.locator("#est-recipients")).to_have_attribute("data-value", "2")
    expect(page.locator("#est-segments")).to_have_attribute("data-value", "4")
    expect(page.locator("#est-skipped")).to_contain_text("Never agreed to texts")
    screenshot(page, "sms-new")

    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text("Weekend")
    expect(page.locator("#sms-progress [data-status]").first).to_have_text("draft")
    expect(page.locator("#est-recipients")).to_contain_text("2 people")
    expect(page.locator("#est-segments")).to_contain_text("4")
    expect(page.locator("#est-price")).to_contain_text("USD")
    expect(page.locator("#sms-measure")).to_have_attribute("data-encoding", "UCS-2")
    screenshot(page, "sms-campaign")
