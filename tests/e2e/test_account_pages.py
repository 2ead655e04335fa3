"""A marketer changes the password and signs out everywhere from the user menu, in Chromium."""

from playwright.sync_api import expect

from tests.conftest import PASSWORD


def sign_in(page, origin, password=PASSWORD):
    page.goto(origin + "/login")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".page-title")).to_have_text("Overview")


def test_a_marketer_changes_the_password_then_signs_out_everywhere(
    desktop, new_context, live_server, workspace, screenshot
):
    page, origin = desktop, live_server
    other = new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(other, origin)
    sign_in(page, origin)

    page.get_by_role("link", name="Open user menu").click()
    page.get_by_role("link", name="Your account").click()
    expect(page.locator(".page-title")).to_have_text("Your account")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".invalid-feedback")).to_have_text("That is not your current password.")
    screenshot(page, "account-wrong-current-password")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("Password changed")
    screenshot(page, "account")
    other.goto(origin + "/campaigns/")  # the other browser was signed out by the change
    expect(other.get_by_role("heading", name="Sign in to Herald")).to_be_visible()

    sign_in(other, origin, password="a brand new passphrase")
    page.get_by_role("button", name="Sign out everywhere").click()  # the confirm dialog is accepted
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    other.goto(origin + "/campaigns/")
    expect(other.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
