"""A recipient on their phone changes what they get: from a campaign's "Preferences" link to the
branded preference center, a slower frequency for one category and an opt-out of another."""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Workspace
from app.services.audience import contacts, preferences
from app.services.campaigns import lifecycle
from tests.factories import create_campaign, create_smtp_provider, create_template

pytestmark = pytest.mark.e2e

TEMPLATE = """<!doctype html><html><body><h1>Hello {{ subscriber.name }}</h1>
<p><a href="{{ preferences_url }}">Preferences</a> · <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""


def test_a_recipient_chooses_weekly_promotions_and_no_tips_on_a_phone(
    mobile, live_server, make_workspace, smtp_sink, worker, screenshot
):
    origin = live_server
    ws = make_workspace("Acme", "owner@example.com")
    # The logo as an image of this Herald (the media library's would be too); the colour for header and buttons.
    workspace = db.session.get(Workspace, ws.id)
    workspace.logo_url, workspace.brand_color = f"{origin}/static/favicon.svg", "#1a7f5a"
    promotions = preferences.create_category(ws.id, "Promotions", "Sales and special offers")
    tips = preferences.create_category(ws.id, "Tips", "Ideas to get more out of Acme")
    preferences.create_category(ws.id, "Product news")
    newsletter = contacts.create_list(ws.id, "Newsletter")
    ana = contacts.add_subscriber(ws.id, "ana@example.com", "Ana", list_ids=[newsletter.id])
    provider = create_smtp_provider(ws.id, smtp_sink.port)
    template = create_template(ws.id, html=TEMPLATE, name="Monthly")
    campaign = create_campaign(ws.id, template.id, [newsletter.id], provider.id, category_id=promotions.id)
    db.session.commit()
    lifecycle.send_now(ws.id, campaign.id)
    db.session.commit()
    worker()
    html = smtp_sink.messages[0]["message"].get_body(("html",)).get_content()
    link = re.search(rf'href="({re.escape(origin)}/preferences/[^"]+)"', html).group(1)

    phone = mobile
    phone.goto(link)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your email preferences")
    expect(phone.locator(".masthead")).to_contain_text("Acme")
    expect(phone.locator(".masthead")).to_have_css("background-color", "rgb(26, 127, 90)")
    expect(phone.get_by_role("checkbox", name="Newsletter")).to_be_checked()
    phone.get_by_label("How often to get Promotions").select_option(label="At most once a week")
    phone.get_by_role("checkbox", name=re.compile(r"^Tips")).uncheck()
    screenshot(phone, "public-preference-center-375")
    phone.get_by_role("button", name="Save preferences").click()
    expect(phone.get_by_role("status")).to_have_text("Your preferences are saved.")
    expect(phone.get_by_label("How often to get Promotions")).to_have_value("weekly")
    expect(phone.get_by_role("checkbox", name=re.compile(r"^Tips"))).not_to_be_checked()
    # Nothing wider than the phone: no sideways scrolling.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(phone, "public-preference-center-saved-375")

    db.session.expire_all()
    chosen = {c.category.id: (c.subscribed, c.frequency) for c in preferences.subscriber_preferences(ws.id, ana.id)}
    assert chosen[promotions.id] == (True, "weekly")
    assert chosen[tips.id] == (False, "immediate")
    assert contacts.subscriber_list_ids(ana.id) == [newsletter.id]
