"""A marketer sets up an A/B test of two subjects on the campaign form, sends it, watches the
variants table fill in on the campaign page, and picks the winner by hand."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.e2e.test_marketer_journeys import SEND_TIMEOUT, TEMPLATE_HTML, badge, go, heading, outbox_row, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(make_workspace):
    """A workspace whose list has ten subscribers, and one template."""
    from app.services.audience import contacts
    from app.services.content import templates

    ws = make_workspace("Acme", "owner@example.com")
    lst = contacts.create_list(ws.id, "Newsletter")
    contacts.import_subscribers(
        ws.id, [{"email": f"reader{i}@example.com", "name": f"Reader {i}"} for i in range(10)], [lst.id]
    )
    templates.create_template(
        ws.id,
        {
            "name": "Sale",
            "subject": "Our spring sale",
            "body_html": TEMPLATE_HTML % {"offer": "https://example.com/offer"},
            "category": "marketing",
        },
    )
    db.session.commit()
    return ws


def test_marketer_tests_two_subjects_sees_the_variants_and_picks_the_winner(desktop, stack, shop, screenshot):
    page, origin = desktop, stack
    sign_in(page, origin)
    go(page, "Campaigns")
    page.get_by_role("link", name="New campaign").first.click()
    expect(heading(page)).to_have_text("New campaign")
    page.get_by_label("Campaign name").fill("Spring sale")
    page.get_by_label("Template", exact=True).select_option(label="Sale — Our spring sale")
    page.get_by_label("Newsletter").check()
    page.get_by_label("From name").fill("Acme")
    page.get_by_label("From address").fill("news@acme.example.com")

    # The A/B test: two subjects, half the list in the test; a third row added, then removed again.
    section = page.locator("#ab-test-fields")
    section.get_by_label("Test variants on part of the audience").check()
    page.get_by_label("Variant A subject", exact=True).fill("Spring sale: 20% off")
    page.get_by_label("Variant B subject", exact=True).fill("Last chance, {{ subscriber.name }}!")
    section.get_by_role("button", name="Add a variant").click()
    expect(page.get_by_label("Variant C subject", exact=True)).to_be_visible()
    expect(page.get_by_label("Variant B subject", exact=True)).to_have_value("Last chance, {{ subscriber.name }}!")
    section.get_by_role("button", name="Remove variant C").click()
    expect(page.get_by_label("Variant C subject", exact=True)).to_have_count(0)
    page.get_by_label("Test on (% of the audience)").fill("50")
    page.get_by_label("Wait after the test is sent").select_option(label="1 hour")
    page.get_by_label("Send the winner automatically when the wait is over").uncheck()
    screenshot(page, "dashboard-campaign-ab-form")
    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text("Spring sale")
    table = page.locator("#ab-variants-table")
    expect(table.locator("tbody tr[data-variant]")).to_have_count(2)
    expect(table.locator("tr[data-variant='B']")).to_contain_text("Last chance, {{ subscriber.name }}!")

    # Send: the test goes to 5 of the 10, then the page waits for the marketer's pick.
    page.get_by_role("button", name="Send now").click()
    progress = page.locator("#campaign-progress")
    expect(progress).to_contain_text("Test sent to 5;", timeout=SEND_TIMEOUT)
    expect(progress).to_contain_text("pick the winner below to send it to the other 5")
    expect(badge(page, "#campaign-progress")).to_have_text("sending")
    rows = page.locator("#ab-variants-table tbody tr[data-variant]")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("3")  # recipients: 5 split as evenly as can be
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("2")
    expect(rows.nth(0).locator("[data-significance]")).not_to_be_empty()
    expect(page.locator("#ab-rest")).to_contain_text("Held for the winner")
    screenshot(page, "dashboard-campaign-ab-waiting")

    page.get_by_role("button", name="Pick variant B").click()  # the confirm dialog is accepted (conftest)
    expect(page.get_by_role("alert").filter(has_text="Variant B is the winner")).to_be_visible()
    expect(badge(page, "#campaign-progress")).to_have_text("sent", timeout=SEND_TIMEOUT)
    page.reload()
    expect(page.locator("#ab-variants-table tr[data-variant='B'] [data-winner]")).to_be_visible()
    expect(page.locator("#ab-next")).to_contain_text("Variant B won (picked by hand)")
    expect(page.get_by_role("button", name="Pick variant A")).to_have_count(0)
    screenshot(page, "dashboard-campaign-ab-decided")

    # The outbox: ten messages, one each; seven with B's subject, personalized.
    go(page, "Outbox")
    expect(page.locator("#outbox-table tbody tr")).to_have_count(10)
    expect(page.locator("#outbox-table tbody tr").filter(has_text="Last chance, Reader")).to_have_count(7)
    expect(page.locator("#outbox-table tbody tr").filter(has_text="Spring sale: 20% off")).to_have_count(3)
    expect(outbox_row(page, "reader0@example.com")).to_have_count(1)
