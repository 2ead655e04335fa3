"""An owner invites a teammate as analyst; the teammate joins in another browser, reads the campaigns
and finds nothing to send with, and the server refuses a send all the same."""

import re

from playwright.sync_api import expect

from app.extensions import db
from tests import factories
from tests.e2e.test_marketer_journeys import sign_in


def test_an_analyst_joins_by_invitation_reads_campaigns_and_cannot_send(
    desktop, new_context, live_server, ctx, workspace, screenshot
):
    lst = factories.create_list(workspace.id)
    factories.create_subscribers(workspace.id, factories.people(3), lst.id)
    tpl = factories.create_template(workspace.id)
    campaign = factories.create_campaign(workspace.id, tpl.id, [lst.id], name="Spring sale")
    db.session.commit()
    page, origin = desktop, live_server

    sign_in(page, origin)
    page.get_by_role("link", name="Team").click()
    expect(page.locator(".page-title")).to_have_text("Team")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Role", exact=True).select_option("analyst")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#invitation-link")).to_contain_text("ana@example.com is invited as analyst")
    link = page.locator("#invitation-url").inner_text()
    assert link.startswith(origin + "/invite/")
    expect(page.locator("#invitations")).to_contain_text("ana@example.com")
    screenshot(page, "team-invited")

    # The teammate, in a browser of their own.
    ana = new_context(viewport={"width": 1280, "height": 900}).new_page()
    ana.set_default_timeout(10_000)
    ana.goto(link)
    expect(ana.get_by_role("heading", name="Join Acme")).to_be_visible()
    screenshot(ana, "team-accept")
    ana.get_by_label("Your name").fill("Ana Lyst")
    ana.get_by_label("Password", exact=True).fill("ana's long passphrase")
    ana.get_by_label("Password again").fill("ana's long passphrase")
    ana.get_by_role("button", name="Join Acme").click()
    expect(ana.locator(".page-title")).to_have_text("Overview")
    expect(ana.get_by_role("alert")).to_contain_text("Welcome to Acme")

    ana.get_by_role("link", name="Campaigns", exact=True).click()
    expect(ana.get_by_role("link", name="Spring sale")).to_be_visible()
    expect(ana.get_by_role("link", name="New campaign")).to_have_count(0)
    ana.get_by_role("link", name="Spring sale").click()
    expect(ana.locator(".page-title")).to_have_text("Spring sale")
    expect(ana.get_by_role("button", name="Send now")).to_have_count(0)
    expect(ana.get_by_role("button", name="Schedule")).to_have_count(0)
    screenshot(ana, "team-analyst-campaign")

    # Posting the send anyway (the form the owner sees) is refused with the reason, the menu kept.
    ana.evaluate(
        """([action]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            const token = document.createElement('input');
            token.type = 'hidden';
            token.name = 'csrf_token';
            token.value = document.querySelector('meta[name=csrf-token]').content;
            form.appendChild(token);
            document.body.appendChild(form);
            form.submit();
        }""",
        [f"/campaigns/{campaign.id}/send"],
    )
    expect(ana.get_by_text("Analysts can read everything but change nothing; ask an owner or admin.")).to_be_visible()
    expect(ana.get_by_role("navigation", name="Main navigation")).to_be_visible()
    screenshot(ana, "team-analyst-forbidden")
    db.session.expire_all()
    from app.models import Campaign

    assert db.session.get(Campaign, campaign.id).status == "draft"

    # The owner sees the new member, and the audit log says who did what.
    page.get_by_role("link", name="Team").click()
    expect(page.locator("#members")).to_contain_text("Ana Lyst")
    page.get_by_role("link", name="Audit log").first.click()
    expect(page.locator("#audit-entries")).to_contain_text("Teammate joined")
    expect(page.locator("#audit-entries")).to_contain_text(re.compile(r"Teammate invited"))
    screenshot(page, "audit-log")
