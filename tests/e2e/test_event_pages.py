"""Automations → Events and Products in Chromium: a marketer filters the events, follows one to the
person's timeline, and opens a product to see who watches it and the price drop it raised.
Screenshots go to test-artifacts/screenshots/ (events, subscriber-timeline, product)."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.automation import catalogue, customer_events
from tests.e2e.test_marketer_journeys import heading, menu, sign_in
from tests.factories import create_subscribers, people

pytestmark = pytest.mark.e2e


def test_a_marketer_reads_the_events_a_timeline_and_a_products_watchers(
    live_server, desktop, ctx, workspace, screenshot
):
    create_subscribers(workspace.id, people(2, email="client{i}@example.fr", name="Cliente {i}"))
    catalogue.put_product(workspace.id, "ECH-1", {"name": "Écharpe en laine", "price": "59.00", "currency": "EUR"})
    customer_events.ingest(workspace.id, [
        {"type": "wishlist_added", "email": "client0@example.fr", "properties": {"sku": "ECH-1"}},
        {"type": "cart_updated", "email": "client1@example.fr", "properties": {"total": "118.00", "currency": "EUR",
                                                                          "items": [{"sku": "ECH-1", "quantity": 2}]}},
        {"type": "milestone_reached", "email": "client1@example.fr", "properties": {"milestone": "<b>Dix commandes</b>"}},
    ])  # fmt: skip
    catalogue.put_product(workspace.id, "ECH-1", {"name": "Écharpe en laine", "price": "49.00", "currency": "EUR"})
    db.session.commit()

    page = desktop
    sign_in(page, live_server)
    menu(page).get_by_role("link", name="Events").click()
    expect(heading(page)).to_have_text("Events")
    expect(page.locator("#events-table tbody tr")).to_have_count(4)
    expect(page.locator("#events-table")).to_contain_text("<b>Dix commandes</b>")  # shown as text
    screenshot(page, "events")
    page.get_by_label("Type").select_option("cart_updated")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#events-table tbody tr")).to_have_count(1)
    page.get_by_role("link", name="client1@example.fr").click()
    expect(heading(page)).to_have_text("client1@example.fr")
    expect(page.locator("#customer-events .list-group-item")).to_have_count(2)
    screenshot(page, "subscriber-timeline")

    menu(page).get_by_role("link", name="Products").click()
    page.get_by_role("link", name="Écharpe en laine").click()
    expect(heading(page)).to_have_text("Écharpe en laine")
    expect(page.locator("#product-watchers")).to_contain_text("client0@example.fr")
    expect(page.locator("#product-events")).to_contain_text("old_price: 59.00")
    screenshot(page, "product")
