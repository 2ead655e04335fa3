"""A marketer adds marketing@ on a sending domain's page in Chromium, picks it as a campaign's From
identity (the From fields fill themselves and step aside), and the campaign page warns that the domain
is not verified yet. Screenshots: domain-identities, campaign-form-identity, campaign-unverified-from."""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services.delivery import domains
from tests.e2e.test_marketer_journeys import heading, sign_in
from tests.factories import create_list, create_template

pytestmark = pytest.mark.e2e
DOMAIN = "news.acme.example.org"


def test_a_marketer_adds_an_identity_and_sends_a_campaign_from_it(live_server, desktop, workspace, screenshot):
    domain = domains.create_domain(workspace.id, DOMAIN)
    create_template(workspace.id, name="Welcome")
    create_list(workspace.id, "Customers")
    db.session.commit()
    page = desktop
    sign_in(page, live_server)

    page.goto(f"{live_server}/domains/{domain.id}")
    expect(heading(page)).to_have_text(DOMAIN)
    identities = page.locator("#identities")
    expect(identities).to_contain_text("No identities yet")
    identities.get_by_label("Address").fill("marketing")
    identities.get_by_label("Display name").fill("Acme News")
    identities.get_by_label("Reply-to (optional)").fill("help@acme.example.org")
    identities.get_by_role("button", name="Add identity").click()
    expect(page.locator(f"#identities [data-identity='marketing@{DOMAIN}']")).to_contain_text("Acme News")
    screenshot(page, "domain-identities")

    page.goto(f"{live_server}/campaigns/new")
    typed = page.locator("[data-show-if='identity_id=']")
    expect(typed).to_be_visible()  # no identity chosen: the From is typed
    page.get_by_label("Campaign name").fill("Spring")
    page.get_by_label("Template").select_option(label="Welcome — Hi {{ subscriber.name }}")
    page.locator("input[name=list_ids]").first.check()
    page.get_by_label("From identity").select_option(
        label=f"Acme News <marketing@{DOMAIN}> · replies to help@acme.example.org"
    )
    expect(typed).to_be_hidden()
    expect(page.locator("#f-from_email")).to_have_value(f"marketing@{DOMAIN}")
    expect(page.locator("#f-from_name")).to_have_value("Acme News")
    screenshot(page, "campaign-form-identity")
    page.get_by_role("button", name="Save draft").click()

    expect(heading(page)).to_have_text("Spring")
    expect(page.locator("#campaign-from")).to_contain_text(f"Acme News <marketing@{DOMAIN}>")
    warning = page.locator("#sender-unverified")
    expect(warning).to_contain_text(f"marketing@{DOMAIN} is not on a verified sending domain")
    warning.get_by_role("link", name="publish its records and verify it").click()
    expect(heading(page)).to_have_text(DOMAIN)
    page.go_back()
    screenshot(page, "campaign-unverified-from")
