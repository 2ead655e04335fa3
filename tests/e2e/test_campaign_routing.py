"""A marketer routes a draft campaign through two providers by weight, clicked through in Chromium:
the weights appear only for the weighted strategy, and the saved routing comes back on the next edit."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.e2e.test_marketer_journeys import heading, sign_in

pytestmark = pytest.mark.e2e

TEMPLATE = """<!doctype html><html><body><h1>Hello {{ subscriber.name }}</h1>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


@pytest.fixture
def draft(make_workspace):
    """A workspace with two SMTP relays and a draft campaign sent the default way."""
    from app.services.audience import contacts
    from app.services.campaigns import drafts
    from app.services.content import templates
    from app.services.delivery import providers

    ws = make_workspace("Acme", "owner@example.com")
    lst = contacts.create_list(ws.id, "Newsletter")
    contacts.add_subscriber(ws.id, "ana@example.com", "Ana", {}, [lst.id])
    tpl = templates.create_template(ws.id, {"name": "Digest", "subject": "News", "body_html": TEMPLATE})
    for name, port in (("Relay A", 2525), ("Relay B", 2526)):
        providers.create_provider(ws.id, name, "smtp", {"host": "127.0.0.1", "port": port}, {})
    camp = drafts.create_campaign(
        ws.id,
        {
            "name": "Weekly digest",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Acme",
            "from_email": "news@acme.example.com",
        },
    )
    db.session.commit()
    return camp


def test_weighted_routing_is_set_on_the_form_and_kept(desktop, live_server, draft, screenshot):
    page, origin = desktop, live_server
    sign_in(page, origin)
    page.goto(f"{origin}/campaigns/{draft.id}")
    page.get_by_role("link", name="Edit").click()
    expect(heading(page)).to_have_text("Weekly digest")

    section = page.locator("#routing-fields")
    expect(section.get_by_label("Default provider")).to_be_checked()
    expect(section.get_by_label("Relay A", exact=True)).to_be_hidden()  # only for several providers
    section.get_by_label("Several providers").check()
    section.get_by_label("Relay A", exact=True).check()
    section.get_by_label("Relay B", exact=True).check()
    expect(section.get_by_label("Fail over to the next provider when one errors")).to_be_checked()
    expect(section.get_by_label("Weight of Relay A")).to_be_hidden()  # only for weighted
    section.get_by_label("Strategy").select_option("weighted")
    section.get_by_label("Weight of Relay A").fill("3")
    section.get_by_label("Weight of Relay B").fill("1")
    screenshot(page, "dashboard-campaign-routing-form")
    page.get_by_role("button", name="Save draft").click()

    expect(heading(page)).to_have_text("Weekly digest")
    expect(page.locator("#routing-summary")).to_have_text(
        "Weighted · Relay A (weight 3), Relay B (weight 1) · failover on"
    )
    screenshot(page, "dashboard-campaign-routing-draft")

    page.get_by_role("link", name="Edit").click()
    section = page.locator("#routing-fields")
    expect(section.get_by_label("Several providers")).to_be_checked()
    expect(section.get_by_label("Relay A", exact=True)).to_be_checked()
    expect(section.get_by_label("Relay B", exact=True)).to_be_checked()
    expect(section.get_by_label("Strategy")).to_have_value("weighted")
    expect(section.get_by_label("Weight of Relay A")).to_have_value("3")
    expect(section.get_by_label("Weight of Relay B")).to_have_value("1")
    expect(section.get_by_label("Fail over to the next provider when one errors")).to_be_checked()
