"""The suppression list and a person's data in Chromium: a marketer suppresses a competitor's domain,
imports a list with a bad row, then exports and erases a subscriber on request.
Screenshots: suppression-list, subscriber-erased."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.audience import contacts
from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in

pytestmark = pytest.mark.e2e


def test_a_marketer_manages_the_suppression_list(live_server, desktop, ctx, workspace, screenshot, tmp_path):
    page = desktop
    sign_in(page, live_server)
    menu_item(page, "Suppression").click()
    expect(heading(page)).to_have_text("Suppression list")

    page.get_by_label("Address or @domain").fill("@competitor.example")
    page.get_by_label("Reason").first.select_option("manual")
    page.get_by_label("Note").fill("Their staff, not customers")
    page.get_by_role("button", name="Suppress", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Every address at competitor.example is suppressed")
    expect(page.locator("#suppressions-table")).to_contain_text("@competitor.example")

    csv_file = tmp_path / "bounces.csv"
    csv_file.write_text("email\nold1@example.com\nnot an address\nold2@example.com\n")
    page.locator("#f-file").set_input_files(str(csv_file))
    page.locator("#import-reason").select_option("bounced")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#suppression-import-result")).to_contain_text("Suppressed 2 new entries")
    expect(page.locator("#suppression-import-errors")).to_contain_text("Row 3")
    page.locator("#filter-reason").select_option("bounced")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#suppressions-table tbody tr")).to_have_count(2)
    screenshot(page, "suppression-list")


def test_a_person_is_exported_and_erased_on_request(live_server, desktop, ctx, workspace, screenshot):
    sub = contacts.add_subscriber(workspace.id, "ines.request@example.org", "Inès Request", {"plan": "gold"})
    db.session.commit()
    page = desktop
    sign_in(page, live_server)
    page.goto(f"{live_server}/subscribers/{sub.id}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export data").click()
    assert download.value.suggested_filename == f"subscriber-{sub.id}.json"

    page.get_by_role("button", name="Erase personal data").click()  # the confirm dialog is accepted (conftest)
    expect(page.locator("#subscriber-erased")).to_be_visible()
    expect(heading(page)).to_have_text(f"erased-{sub.id}@erased.invalid")
    expect(page.locator("main, body").first).not_to_contain_text("Inès")
    screenshot(page, "subscriber-erased")
