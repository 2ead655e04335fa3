"""Building a flow in Chromium: a marketer starts one from scratch, adds a wait and an email from the
"Add a step" menus, moves the email above the wait with the keyboard (Alt+ArrowUp) and activates it.
Screenshots: test-artifacts/screenshots/flow-editor.png and flow-page.png."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Flow
from tests.e2e.test_marketer_journeys import go, heading, sign_in
from tests.factories import create_template

pytestmark = pytest.mark.e2e


def test_a_marketer_builds_a_flow_and_reorders_it_with_the_keyboard(live_server, desktop, ctx, workspace, screenshot):
    create_template(workspace.id, name="Welcome, friend")
    db.session.commit()
    page = desktop
    sign_in(page, live_server)
    go(page, "Flows")
    expect(heading(page)).to_have_text("Flows")
    page.get_by_role("link", name="New flow").first.click()
    page.get_by_label("Flow name").fill("Trial nurture")
    page.get_by_role("button", name="Start from scratch").click()
    expect(heading(page)).to_have_text("Trial nurture")

    steps = page.locator("#flow-steps")
    steps.get_by_label("Add a step at the top").click()
    steps.locator("details[open] [data-add=wait]").click()
    new = page.locator("#step-new")
    new.get_by_label("Days").fill("2")
    new.get_by_role("button", name="Add step").click()
    expect(page.locator("#step-s1")).to_contain_text("Wait 2 days")

    steps.get_by_label("Add a step after “Wait” (s1)").click()
    steps.locator("details[open] [data-add=email]").click()
    new = page.locator("#step-new")
    new.get_by_label("Template").select_option(label="Welcome, friend")
    new.get_by_label("From address").fill("hello@shop.example.com")
    new.get_by_role("button", name="Add step").click()
    expect(page.locator("#step-s2")).to_contain_text("Send “Welcome, friend”")
    order = page.locator("#flow-steps > .flow-list > .flow-node")
    expect(order).to_have_count(2)

    page.locator("#step-s2").focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(order.first).to_have_attribute("data-step", "s2")  # the email is first now
    expect(order.nth(1)).to_have_attribute("data-step", "s1")
    expect(page.locator("#step-s2")).to_be_focused()
    screenshot(page, "flow-editor")

    page.locator("[data-action=activate]").click()  # the confirmation is accepted (conftest)
    expect(page.locator(".page-header [data-status], .mb-3 > [data-status]").first).to_have_text("active")
    db.session.expire_all()
    flow = db.session.scalar(db.select(Flow).where(Flow.workspace_id == workspace.id))
    assert flow.status == "active" and [s["type"] for s in flow.steps] == ["email", "wait"]
    page.get_by_role("link", name="Figures").click()
    expect(page.locator("#flow-chart[data-drawn]")).to_have_count(1)
    screenshot(page, "flow-page")
