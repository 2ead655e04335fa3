"""A marketer sets when a campaign may send, clicked through in Chromium: a send window that is
closed now (the page says when sending resumes, and nothing reaches the outbox), and a weekly
recurrence (the page shows the series' next run)."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import CampaignRecipient, CaughtMessage
from tests.e2e.test_marketer_journeys import badge, go, heading, sign_in

pytestmark = pytest.mark.e2e

TEMPLATE = """<!doctype html><html><body><h1>Hello {{ subscriber.name }}</h1>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


@pytest.fixture
def shop(make_workspace):
    """A workspace (UTC) with a list of three subscribers and one template."""
    from app.services.audience import contacts
    from app.services.content import templates

    ws = make_workspace("Acme", "owner@example.com")
    lst = contacts.create_list(ws.id, "Newsletter")
    for name in ("Ana", "Bo", "Cy"):
        contacts.add_subscriber(ws.id, f"{name.lower()}@example.com", name, {}, [lst.id])
    templates.create_template(
        ws.id, {"name": "Digest", "subject": "News for {{ subscriber.name }}", "body_html": TEMPLATE}
    )
    db.session.commit()
    return ws


def new_campaign(page, name: str):
    go(page, "Campaigns")
    page.get_by_role("link", name="New campaign").first.click()
    expect(heading(page)).to_have_text("New campaign")
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("Template", exact=True).select_option(label="Digest — News for {{ subscriber.name }}")
    page.get_by_label("Newsletter").check()
    page.get_by_label("From name").fill("Acme")
    page.get_by_label("From address").fill("news@acme.example.com")


def test_a_campaign_outside_its_send_window_waits_and_says_when_it_resumes(desktop, stack, shop, screenshot):
    page, origin = desktop, stack
    sign_in(page, origin)
    new_campaign(page, "Evening offer")

    # A window of one hour that opens two hours from now, every day, in the workspace's timezone (UTC).
    now = datetime.now(timezone.utc)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    page.get_by_label("Only send within these hours").check()
    for day in ("Saturday", "Sunday"):
        page.get_by_label(f"Send on {day}").check()
    page.get_by_label("From", exact=True).fill(f"{start:%H:%M}")
    page.get_by_label("Until", exact=True).fill(f"{end:%H:%M}")
    expect(page.get_by_label("In the timezone of")).to_have_value("UTC")
    screenshot(page, "dashboard-campaign-send-window-form")
    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text("Evening offer")
    expect(page.locator("#send-window")).to_have_text(f"Every day, {start:%H:%M}–{end:%H:%M} (UTC)")

    page.get_by_role("button", name="Send now").click()  # confirmed by the dialog handler
    notice = page.locator("#window-wait")
    expect(notice).to_contain_text("Outside the send window — sending resumes at", timeout=30_000)
    expect(notice).to_contain_text(f"{start:%H:%M}")
    expect(notice).to_contain_text("3 recipients wait for the window")
    expect(badge(page, "#campaign-progress")).to_have_text("sending")
    expect(page.locator("#stat-failed .stat-value")).to_have_text("0")  # waiting is not failing
    expect(page.locator("[data-throttled]")).to_have_count(0)  # nor throttling
    screenshot(page, "dashboard-campaign-outside-send-window")

    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CaughtMessage)) == 0  # nothing reached the outbox
    waiting = db.session.scalar(
        select(func.count()).where(CampaignRecipient.status == "pending", CampaignRecipient.attempts == 0)
    )
    assert waiting == 3


def test_a_weekly_recurrence_shows_its_next_run_and_starts(desktop, live_server, shop, screenshot):
    page, origin = desktop, live_server
    sign_in(page, origin)
    new_campaign(page, "Weekly digest")
    page.get_by_label("Repeat this campaign on a schedule").check()
    page.get_by_label("Every", exact=True).select_option("weekly")
    page.get_by_label("Repeat on Monday").check()
    page.get_by_label("At", exact=True).fill("09:00")
    page.get_by_label("Timezone of the runs").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save draft").click()
    expect(heading(page)).to_have_text("Weekly digest")
    expect(page.locator("#recurrence")).to_have_text("Every Mon at 09:00 (Europe/Berlin)")
    expect(page.locator("#series-status")).to_contain_text("the first run would be Mon")
    expect(page.get_by_role("button", name="Send now")).to_have_count(0)  # a series sends through its runs

    page.get_by_role("button", name="Start recurring").click()
    expect(page.get_by_role("alert").filter(has_text="The series has started")).to_be_visible()
    expect(badge(page, "#campaign-progress")).to_have_text("scheduled")
    expect(page.locator("#series-status")).to_contain_text(
        re.compile(r"Recurring · next run Mon \d\d \w{3} \d{4}, 0[78]:00")
    )
    expect(page.locator("#next-run")).to_contain_text("Mon")  # 09:00 in Berlin is 07:00 or 08:00 UTC
    expect(page.locator("#runs-table")).to_contain_text("Runs appear here as the series sends them.")
    screenshot(page, "dashboard-campaign-recurring")

    # The campaign list marks it as recurring.
    go(page, "Campaigns")
    row = page.locator("tbody tr").filter(has_text="Weekly digest")
    expect(row).to_contain_text("recurring")
    expect(badge(page, "tbody tr")).to_have_text("scheduled")
