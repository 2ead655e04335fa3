"""Loyalty and gift cards in Chromium, as a marketer at the till: start the program, see a buyer's points,
issue a card whose code is shown once, redeem part of it by code. Screenshots go to
test-artifacts/screenshots/ (loyalty, gift-card-issued, gift-card)."""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.events import attribution
from app.services.growth import orders as growth_orders
from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in
from tests.factories import create_subscribers

pytestmark = pytest.mark.e2e


def test_a_marketer_runs_loyalty_and_a_gift_card_from_the_pages(live_server, desktop, ctx, workspace, screenshot):
    create_subscribers(workspace.id, [{"email": "ana@example.com", "name": "Ana"}])
    db.session.commit()
    page = desktop
    sign_in(page, live_server)

    menu_item(page, "Loyalty").click()
    expect(heading(page)).to_have_text("Loyalty")
    page.get_by_label("Points per unit spent").fill("2")
    page.locator("#tier-name-1").fill("Gold")
    page.locator("#tier-points-1").fill("150")
    page.get_by_role("button", name="Start the program").click()
    expect(page.locator(".alert-success, .alert")).to_contain_text("Loyalty program started")
    order, _ = attribution.record_order(workspace.id, {"external_id": "W-1", "email": "ana@example.com",
                                                       "amount": "80.00", "currency": "EUR"})  # fmt: skip
    growth_orders.on_order(order)
    db.session.commit()
    page.reload()
    expect(page.locator("#loyalty-top")).to_contain_text("ana@example.com")
    expect(page.locator("#loyalty-top")).to_contain_text("Gold")
    screenshot(page, "loyalty")

    menu_item(page, "Gift cards").click()
    expect(heading(page)).to_have_text("Gift cards")
    page.get_by_label("Amount", exact=True).first.fill("40")
    page.get_by_label("Send it to").fill("friend@example.com")
    page.get_by_label("Message").fill("Happy birthday!")
    page.get_by_role("button", name="Issue the card").click()
    code = page.locator("#gift-card-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", code)
    screenshot(page, "gift-card-issued")

    menu_item(page, "Gift cards").click()
    expect(page.locator("#gift-cards-table")).to_contain_text(code[-4:])
    expect(page.locator("#gift-cards-table")).not_to_contain_text(code)
    page.get_by_label("Code").fill(code.lower().replace("-", " "))
    page.locator("#f-redeem_amount").fill("12.50")
    page.get_by_role("button", name="Redeem", exact=True).click()
    expect(page.locator("#gift-card-balance")).to_contain_text("27.50 EUR")
    expect(page.locator("#gift-card-ledger")).to_contain_text("redemption")
    screenshot(page, "gift-card")
