"""A marketer imports a Mailchimp export, clicked through in Chromium: the column step recognises it,
one column is changed, a real worker imports it in the background, and the page says what it did
when it is done (not "Importing…")."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Subscriber
from app.services.audience import tags
from tests.e2e.test_marketer_journeys import heading, sign_in

pytestmark = pytest.mark.e2e

MAILCHIMP = (Path(__file__).parent.parent / "fixtures" / "imports" / "mailchimp_subscribed.csv").read_bytes()


def test_a_mailchimp_export_is_mapped_imported_in_the_background_and_reported(
    desktop, stack, workspace, app, monkeypatch, screenshot
):
    page, origin = desktop, stack
    monkeypatch.setitem(app.config, "IMPORT_INLINE_BYTES", 100)  # this small file goes to the worker
    sign_in(page, origin)
    page.goto(origin + "/subscribers/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "subscribed_members.csv", "mimeType": "text/csv", "buffer": MAILCHIMP}]
    )
    page.get_by_role("button", name="Upload").click()

    expect(heading(page)).to_have_text("Check the columns")
    expect(page.locator("#import-source")).to_contain_text("Looks like a Mailchimp export")
    expect(page.get_by_label("First Name", exact=True)).to_have_value("first_name")
    expect(page.get_by_label("TIMEZONE", exact=True)).to_have_value("timezone")
    expect(page.get_by_label("TAGS", exact=True)).to_have_value("tags")
    page.get_by_label("NOTES", exact=True).select_option("attribute")
    page.get_by_label("Attribute name for NOTES").fill("met_at")
    screenshot(page, "dashboard-import-columns")
    page.get_by_role("button", name="Import").click()

    # The progress page polls until the worker is done, then says what happened, heading and tab title too.
    expect(page.locator("#import-summary")).to_have_text("Imported 4, skipped 0.", timeout=30_000)
    expect(heading(page)).to_have_text("Imported subscribed_members.csv")
    expect(page).to_have_title("Imported subscribed_members.csv · Acme")
    expect(page.locator("#import-progress")).not_to_contain_text("Importing")
    screenshot(page, "dashboard-import-finished")
    db.session.expire_all()
    zoe = db.session.query(Subscriber).filter_by(email="zoe@example.com").one()
    assert zoe.name == "Zoë Müller-Lüdenscheidt" and zoe.timezone == "Europe/Berlin"
    assert tags.tags_of(zoe.id) == ["newsletter", "vip"] and zoe.attributes["met_at"] == "Met at the fair"
