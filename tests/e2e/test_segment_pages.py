"""The segment builder in Chromium: a marketer picks people by an attribute and an engagement
condition, watches the count change as they type, saves, and sends a campaign to the segment.
Screenshot: segment-builder."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.e2e.test_marketer_journeys import heading, sign_in
from tests.factories import create_list, create_subscribers, people

pytestmark = pytest.mark.e2e


def test_a_marketer_builds_a_segment_and_sees_the_count_change(live_server, desktop, ctx, workspace, screenshot):
    lst = create_list(workspace.id, "Newsletter")
    create_subscribers(workspace.id, people(12, email="pro{i}@example.org", plan="pro"), lst.id)
    create_subscribers(workspace.id, people(5, email="free{i}@example.org", plan="free"), lst.id)
    db.session.commit()
    page = desktop
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Segments").click()
    expect(heading(page)).to_have_text("Segments")
    page.get_by_role("link", name="New segment").first.click()
    page.get_by_label("Name").fill("Pros")
    with page.expect_response("**/segments/builder"):  # the builder redraws with the attribute's operators
        page.get_by_label("Field").select_option("attributes.plan")
    page.locator('[data-path="r.0"] [aria-label="Operator"]').select_option("eq")
    page.locator('[data-path="r.0"] [aria-label="Value"]').fill("pro")
    expect(page.locator("#segment-count")).to_have_text("12")  # live, after the pause in typing
    expect(page.locator("#segment-sample li")).to_have_count(10)

    with page.expect_response("**/segments/builder"):  # a second rule: the email starts with pro1
        page.get_by_role("button", name="Condition", exact=True).click()
    expect(page.locator('[data-path="r.1"] [aria-label="Field"]')).to_have_value("email")
    page.locator('[data-path="r.1"] [aria-label="Operator"]').select_option("starts_with")
    page.locator('[data-path="r.1"] [aria-label="Value"]').fill("pro1")
    expect(page.locator("#segment-count")).to_have_text("3")  # pro1, pro10, pro11
    screenshot(page, "segment-builder")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator(".alert-success")).to_contain_text("Segment “Pros” saved")

    page.get_by_role("link", name="New campaign to it").click()
    expect(page.get_by_role("checkbox", name="Pros")).to_be_checked()
