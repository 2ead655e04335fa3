"""What a marketer and their recipients do, clicked through in Chromium.

Each test drives the app on a live server; sends go through a real RQ worker subprocess
into the development outbox (the mail catcher), exactly as on a developer's machine.
"""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

SEND_TIMEOUT = 30_000  # ms: worker start-up, audience preparation, a batch, the progress poll

CSV = b"email,name,plan\nana@example.com,Ana,gold\nbob@,Bob,free\ncy@example.com,Cy,free\n"

TEMPLATE_HTML = """<!doctype html>
<html><body>
<h1>Hello {{ subscriber.name or 'friend' }}</h1>
<p>Your plan: {{ subscriber.attributes.plan }}</p>
<p><a href="%(offer)s">See the offer</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a> ·
<a href="{{ view_in_browser_url }}">View in browser</a></p>
</body></html>"""


# What a person looks at -------------------------------------------------------------------------


def heading(page):
    return page.locator(".page-title")


def menu(page):
    return page.locator("nav[aria-label='Main navigation']")


def menu_item(page, label: str):
    # The icon font's glyph is part of the accessible name (the <i> is not aria-hidden): match around it.
    return menu(page).get_by_role("link", name=re.compile(rf"^\W*{re.escape(label)}$"))


def go(page, label: str):
    """Click an item of the left menu."""
    menu_item(page, label).click()


def badge(page, scope: str):
    return page.locator(f"{scope} [data-status]").first


def sign_in(page, origin: str, email="owner@example.com", password=PASSWORD):
    page.goto(origin + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page)).to_have_text("Overview")


def create_and_send_campaign(page, name: str, template_label: str, list_name: str):
    """New campaign → Save draft → Send now (confirmed) → wait for the badge to say sent."""
    go(page, "Campaigns")
    expect(heading(page)).to_have_text("Campaigns")
    page.get_by_role("link", name="New campaign").first.click()
    expect(heading(page)).to_have_text("New campaign")
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("Template", exact=True).select_option(label=template_label)
    page.get_by_label(list_name).check()
    page.get_by_label("From name").fill("Acme")
    page.get_by_label("From address").fill("news@acme.example.com")
    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text(name)
    expect(badge(page, "#campaign-progress")).to_have_text("draft")
    page.get_by_role("button", name="Send now").click()  # the confirm dialog is accepted (conftest)
    expect(page.get_by_role("alert").filter(has_text="Sending has started")).to_be_visible()
    expect(badge(page, "#campaign-progress")).to_have_text("sent", timeout=SEND_TIMEOUT)
    page.reload()  # only the progress card re-polls: the recipients table fills in on the next load
    return page.url


def outbox_row(page, email: str):
    return page.locator("#outbox-table tbody tr").filter(has=page.get_by_role("link", name=email, exact=True))


def recipient_row(page, email: str):
    return page.locator("#recipients-table tbody tr").filter(has_text=email)


def header_value(page, name: str) -> str:
    """A header of the caught message, from the Headers tab of the Outbox message view."""
    page.get_by_role("tab", name="Headers").click()
    table = page.locator("#caught-headers")
    expect(table).to_be_visible()
    row = table.locator("tr").filter(has=page.locator("th", has_text=re.compile(rf"^{re.escape(name)}$")))
    return row.locator("td").inner_text().strip()


@pytest.fixture
def acme(make_workspace):
    """A workspace with a list of two subscribers; `template(html)` adds a template to it."""
    from app.services.audience import contacts
    from app.services.content import templates

    ws = make_workspace("Acme", "owner@example.com")
    lst = contacts.create_list(ws.id, "Newsletter")
    contacts.add_subscriber(ws.id, "ana@example.com", "Ana", {"plan": "gold"}, [lst.id])
    contacts.add_subscriber(ws.id, "cy@example.com", "Cy", {"plan": "free"}, [lst.id])
    db.session.commit()

    def template(body_html: str, name="Monthly", subject="Hi {{ subscriber.name }}, news from Acme"):
        templates.create_template(
            ws.id, {"name": name, "subject": subject, "body_html": body_html, "category": "marketing"}
        )
        db.session.commit()
        return f"{name} — {subject}"

    ws.template = template
    return ws


# 1 ----------------------------------------------------------------------------------------------


def test_new_marketer_signs_up_imports_writes_a_template_and_sends_to_the_outbox(desktop, stack, screenshot):
    page, origin = desktop, stack

    # Sign up: a workspace of one's own, and a checklist that says what to do first.
    page.goto(origin + "/signup")
    page.get_by_label("Workspace name").fill("Bloom & Co")
    page.get_by_label("Your name").fill("Dana")
    page.get_by_label("Email").fill("dana@bloom.example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create workspace").click()
    expect(heading(page)).to_have_text("Overview")
    expect(page.get_by_role("alert").filter(has_text="Welcome to Herald")).to_be_visible()
    expect(page.locator("#checklist")).to_contain_text("Get started")
    expect(menu_item(page, "Outbox")).to_be_visible()  # the development outbox is the provider
    screenshot(page, "dashboard-overview-first-run")

    # A list, then a CSV into it: one bad row, reported with its row number.
    go(page, "Lists")
    expect(heading(page)).to_have_text("Lists")
    page.get_by_label("Name", exact=True).fill("Newsletter")
    page.get_by_role("button", name="Create list").click()
    expect(heading(page)).to_have_text("Newsletter")
    page.get_by_role("link", name="Import into this list").click()
    expect(heading(page)).to_have_text("Import subscribers")
    expect(page.get_by_label("Newsletter")).to_be_checked()
    page.get_by_label("CSV file").set_input_files(files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_role("button", name="Upload").click()
    expect(heading(page)).to_have_text("Check the columns")
    expect(page.get_by_label("email", exact=True)).to_have_value("email")  # guessed from the header
    page.get_by_role("button", name="Import").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("Imported people.csv")
    expect(result.locator(".stat-value").first).to_have_text("2")  # new subscribers
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.locator("td").nth(0)).to_have_text("3")  # the header is row 1, as in a spreadsheet
    expect(errors.locator("td").nth(1)).to_contain_text("'bob@' is not an email address")
    screenshot(page, "dashboard-import-result")

    # A code template, with a live preview as Jane Doe would get it.
    go(page, "Templates")
    expect(heading(page)).to_have_text("Templates")
    page.get_by_role("link", name="New code template").first.click()
    expect(heading(page)).to_have_text("New template")
    page.get_by_label("Name", exact=True).fill("Spring news")
    page.get_by_label("Subject").fill("Hi {{ subscriber.name }}, spring is here")
    page.get_by_label("HTML", exact=True).fill(TEMPLATE_HTML % {"offer": "https://example.com/offer"})
    expect(page.locator("#preview-subject")).to_have_text("Hi Jane Doe, spring is here")
    preview = page.frame_locator("#preview iframe")
    expect(preview.get_by_role("heading", level=1)).to_have_text("Hello Jane Doe")
    # Edit the code: the preview follows without pressing anything.
    page.get_by_label("HTML", exact=True).fill(
        (TEMPLATE_HTML % {"offer": "https://example.com/offer"}).replace("<h1>Hello", "<h1>Welcome back")
    )
    expect(preview.get_by_role("heading", level=1)).to_have_text("Welcome back Jane Doe")
    screenshot(page, "dashboard-template-editor")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("alert").filter(has_text="Template “Spring news” saved.")).to_be_visible()
    expect(heading(page)).to_have_text("Spring news")

    # A campaign to the list, sent, watched until it says sent.
    go(page, "Campaigns")
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_label("Campaign name").fill("Spring launch")
    page.get_by_label("Template", exact=True).select_option(
        label="Spring news — Hi {{ subscriber.name }}, spring is here"
    )
    page.get_by_label("Newsletter").check()
    page.get_by_label("From name").fill("Bloom & Co")
    page.get_by_label("From address").fill("hello@bloom.example.com")
    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text("Spring launch")
    progress = page.locator("#campaign-progress")
    expect(badge(page, "#campaign-progress")).to_have_text("draft")
    expect(progress).to_contain_text("2 people on the chosen lists")
    screenshot(page, "dashboard-campaign-draft")
    page.get_by_role("button", name="Send now").click()
    expect(badge(page, "#campaign-progress")).to_have_text("sent", timeout=SEND_TIMEOUT)
    expect(page.locator("#stat-sent")).to_contain_text("2")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100.0")
    # Only the progress card re-polls: the recipients table fills in on the next page load.
    page.reload()
    for email in ("ana@example.com", "cy@example.com"):
        expect(badge(page, f"#recipients-table tbody tr:has-text('{email}')")).to_have_text("sent")
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)
    screenshot(page, "dashboard-campaign-sent")

    # The Outbox caught one message per subscriber, each with its own subject.
    go(page, "Outbox")
    expect(heading(page)).to_have_text("Outbox")
    expect(page.locator("#outbox-table tbody tr")).to_have_count(2)
    expect(outbox_row(page, "ana@example.com")).to_contain_text("Hi Ana, spring is here")
    expect(outbox_row(page, "cy@example.com")).to_contain_text("Hi Cy, spring is here")
    screenshot(page, "dashboard-outbox")
    page.get_by_role("link", name="ana@example.com", exact=True).click()
    expect(heading(page)).to_have_text("Hi Ana, spring is here")
    message = page.frame_locator("iframe.email-frame")
    expect(message.get_by_role("heading", level=1)).to_have_text("Welcome back Ana")
    expect(message.get_by_text("Your plan: gold")).to_be_visible()
    screenshot(page, "dashboard-outbox-message")
    assert header_value(page, "List-Unsubscribe").startswith(f"<{origin}/u/")


# 2 ----------------------------------------------------------------------------------------------


def test_recipient_unsubscribes_and_the_next_campaign_skips_them(desktop, mobile, stack, acme, screenshot):
    page, origin = desktop, stack
    template = acme.template(TEMPLATE_HTML % {"offer": "https://example.com/offer"})
    sign_in(page, origin)
    first = create_and_send_campaign(page, "April news", template, "Newsletter")

    # The link the mailbox shows as "Unsubscribe", taken from the caught message's headers.
    go(page, "Outbox")
    page.get_by_role("link", name="ana@example.com", exact=True).click()
    expect(heading(page)).to_have_text("Hi Ana, news from Acme")
    view_url = (
        page.frame_locator("iframe.email-frame").get_by_role("link", name="View in browser").get_attribute("href")
    )
    list_unsubscribe = header_value(page, "List-Unsubscribe")
    unsubscribe_url = re.fullmatch(r"<([^>]+)>.*", list_unsubscribe).group(1)

    # Ana, on her phone: a confirmation first (a GET changes nothing), then the unsubscribe.
    phone = mobile
    phone.goto(unsubscribe_url)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Unsubscribe from Acme?")
    expect(phone.get_by_text("ana@example.com")).to_be_visible()
    screenshot(phone, "public-unsubscribe-375")
    phone.get_by_role("button", name="Unsubscribe").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    expect(phone.get_by_role("button", name=re.compile("subscribe me again"))).to_be_visible()
    screenshot(phone, "public-unsubscribed-375")
    phone.get_by_role("link", name="Manage your preferences").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your email preferences")
    expect(phone.get_by_text("You are unsubscribed from everything.")).to_be_visible()
    screenshot(phone, "public-preferences-375")
    phone.goto(view_url)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Hello Ana")
    screenshot(phone, "public-view-in-browser-375", full_page=False)  # the phone's screen, as she sees it

    # The marketer sees it: on the subscriber, and on the campaign's figures.
    go(page, "Subscribers")
    expect(heading(page)).to_have_text("Subscribers")
    expect(badge(page, "#subscribers-table tbody tr:has-text('ana@example.com')")).to_have_text("unsubscribed")
    expect(badge(page, "#subscribers-table tbody tr:has-text('cy@example.com')")).to_have_text("active")
    page.get_by_role("link", name="ana@example.com").click()
    expect(heading(page)).to_have_text("ana@example.com")
    expect(badge(page, ".card")).to_have_text("unsubscribed")
    expect(page.get_by_role("button", name="Subscribe again")).to_be_visible()
    screenshot(page, "dashboard-subscriber-unsubscribed")
    go(page, "Suppression")
    suppressed = page.locator("table tbody tr").filter(has_text="ana@example.com")
    expect(suppressed).to_contain_text("unsubscribed")
    expect(page.locator("table tbody tr").filter(has_text="cy@example.com")).to_have_count(0)
    page.goto(first)
    expect(page.locator("#stat-unsubscribes .stat-value")).to_have_text(re.compile(r"^\s*1\b"))

    # The next campaign to the same list skips her, and says why.
    create_and_send_campaign(page, "May news", template, "Newsletter")
    expect(badge(page, "#recipients-table tbody tr:has-text('ana@example.com')")).to_have_text(
        "skipped"
    )  # stored as failed + reason; shown as skipped
    expect(recipient_row(page, "ana@example.com")).to_contain_text("suppressed:unsubscribed")
    expect(badge(page, "#recipients-table tbody tr:has-text('cy@example.com')")).to_have_text("sent")
    expect(page.locator("#stat-recipients")).to_contain_text("1 skipped by suppression")
    screenshot(page, "dashboard-campaign-with-suppressed")
    go(page, "Outbox")
    expect(page.locator("#outbox-table tbody tr")).to_have_count(3)  # two from April, only Cy's from May
    expect(outbox_row(page, "ana@example.com")).to_have_count(1)


# 3 ----------------------------------------------------------------------------------------------


def test_recipient_clicks_a_tracked_link_and_lands_on_the_original_url(
    app, desktop, new_context, stack, acme, screenshot
):
    page, origin = desktop, stack
    original = f"{origin}/login?from=email"  # served by the live server: the browser never leaves the machine
    template = acme.template(TEMPLATE_HTML % {"offer": original})
    sign_in(page, origin)
    campaign_url = create_and_send_campaign(page, "Offer", template, "Newsletter")

    go(page, "Outbox")
    page.get_by_role("link", name="cy@example.com", exact=True).click()
    html = page.locator("iframe.email-frame").get_attribute("srcdoc")
    tracked = page.frame_locator("iframe.email-frame").get_by_role("link", name="See the offer").get_attribute("href")
    assert tracked.startswith(f"{origin}/t/c/"), tracked  # the link passes through Herald

    # Cy reads the message in her mail program a minute after it arrived (its own browser, not
    # signed in) and clicks: a click seconds after the hand-off would be a scanner's.
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from app.extensions import db
    from app.models import CampaignRecipient

    with app.app_context():
        a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
        db.session.execute(update(CampaignRecipient).values(sent_at=a_minute_ago))
        db.session.commit()
    # Her browser is an ordinary one: the test's headless Chromium names itself HeadlessChrome,
    # which is what scanners run, and Herald would rightly not count it as a person.
    person = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
    reader = new_context(viewport={"width": 800, "height": 900}, user_agent=person).new_page()
    reader.set_content(html)
    reader.get_by_role("link", name="See the offer").click()
    expect(reader).to_have_url(original)
    expect(reader.get_by_role("heading", name="Sign in to Herald")).to_be_visible()

    # The periodic job moves the hit into the campaign's figures.
    from app.services.events import tracking

    with app.app_context():
        assert tracking.process_hits() >= 1
    page.goto(campaign_url)
    clicks = page.locator("#stat-clicks")
    expect(clicks).to_contain_text(re.compile("unique", re.I))
    expect(clicks.locator(".stat-value")).to_have_text(re.compile(r"^\s*1\b"))  # one person clicked
    expect(clicks).to_contain_text("50.0% · 1 of 2")  # of the two who were sent it
    screenshot(page, "dashboard-campaign-clicks")


# 4 ----------------------------------------------------------------------------------------------

NAV_HEADINGS = {
    "Overview": "Overview",
    "Campaigns": "Campaigns",
    "Templates": "Templates",
    "Subscribers": "Subscribers",
    "Lists": "Lists",
    "Suppression": "Suppression list",
    "Providers": "Providers",
    "Workspace": "Workspace",
    "API keys": "API keys",
    "Outbox": "Outbox",
}


def test_sign_in_errors_sign_out_and_every_menu_item(desktop, live_server, workspace, screenshot):
    page, origin = desktop, live_server

    page.goto(origin + "/campaigns/")
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()  # pages need sign-in
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match an account.")
    expect(page.get_by_label("Email")).to_have_value("owner@example.com")  # kept, so only the password is retyped
    screenshot(page, "login-wrong-password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page)).to_have_text("Campaigns")  # back to the page that asked for the sign-in
    go(page, "Overview")
    expect(heading(page)).to_have_text("Overview")

    # Every item of the left menu, in the order it is shown, reaches its page.
    labels = [t.strip() for t in menu(page).locator("a.nav-link").all_inner_texts()]
    assert labels[0] == "Overview"
    missing = [k for k in NAV_HEADINGS if k not in labels]
    assert not missing, f"menu lacks {missing}; it shows {labels}"
    for label in labels:
        go(page, label)
        expect(heading(page)).to_have_text(NAV_HEADINGS.get(label, re.compile(r"\S")))
        expect(menu_item(page, label)).to_have_attribute("aria-current", "page")
        screenshot(page, "nav-" + re.sub(r"\W+", "-", label.lower()))

    # Signing out returns to the sign-in page, and the dashboard is closed again.
    page.get_by_role("link", name="Open user menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("You are signed out.")
    page.goto(origin + "/campaigns/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
