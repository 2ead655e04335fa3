"""Signing up, in Chromium: a marketer makes a signup form; a person fills its hosted page on a phone, the
confirmation email reaches the development outbox, its link opens a page with a button, and pressing it
makes them an active subscriber with their consent recorded."""

import email
import re
from email import policy

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CaughtMessage, SignupForm, Subscriber
from app.services.audience import contacts, signup_forms
from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in

pytestmark = pytest.mark.e2e


def subscriber(address: str) -> Subscriber:
    db.session.expire_all()
    return db.session.scalars(select(Subscriber).where(Subscriber.email == address)).one()


def confirmation_link(address: str) -> str:
    db.session.expire_all()
    (caught,) = [c for c in db.session.scalars(select(CaughtMessage)) if c.rcpt_to == address]
    message = email.message_from_bytes(caught.raw, policy=policy.default)
    return re.search(r"https?://\S+/confirm/\S+", message.get_body(("plain",)).get_content()).group(0)


def test_a_person_signs_up_on_a_phone_and_confirms_by_email(
    mobile, live_server, workspace, mail_catcher, worker, screenshot
):
    page, origin = mobile, live_server
    workspace.brand_color = "#1a7f5a"
    letters = contacts.create_list(workspace.id, "Weekly letters", double_opt_in=True)
    form = signup_forms.create_form(
        workspace.id, {"name": "Blog", "fields": ["name", "timezone"], "list_ids": [letters.id], "tags": ["blog"]}
    )
    db.session.commit()

    page.goto(f"{origin}/f/{form.public_id}")
    expect(page.get_by_role("heading", name="Sign up for emails from Acme")).to_be_visible()
    page.get_by_label("Email address").fill("ana@example.com")
    page.get_by_label("Name").fill("Ana Lima")
    page.get_by_label("Timezone").select_option("America/Sao_Paulo")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    screenshot(page, "signup-form-mobile")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("we sent you an email")
    screenshot(page, "signup-thanks-mobile")
    assert subscriber("ana@example.com").status == "pending"

    worker()  # the transactional queue sends the confirmation into the development outbox
    link = confirmation_link("ana@example.com")
    assert link.startswith(origin + "/confirm/")
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    screenshot(page, "confirm-subscription-mobile")
    assert subscriber("ana@example.com").status == "pending"  # opening the link changed nothing

    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    screenshot(page, "confirmed-subscription-mobile")
    ana = subscriber("ana@example.com")
    assert (ana.status, ana.source, ana.name, ana.timezone) == ("active", "form", "Ana Lima", "America/Sao_Paulo")
    assert ana.confirmed_at is not None and ana.consent["method"] == "double opt-in"
    assert ana.consent["ip"] == "127.0.0.1" and ana.consent["form_id"] == form.id

    page.goto(link)
    expect(page.get_by_role("heading", name="Already confirmed")).to_be_visible()


def test_a_marketer_makes_a_form_and_copies_its_html(desktop, live_server, workspace, screenshot):
    page, origin = desktop, live_server
    contacts.create_list(workspace.id, "Weekly letters", double_opt_in=True)
    db.session.commit()
    sign_in(page, origin)

    menu_item(page, "Signup forms").click()
    expect(heading(page)).to_have_text("Signup forms")
    page.get_by_role("link", name="New signup form").first.click()
    page.get_by_label("Form name").fill("Blog sidebar")
    page.get_by_label("Timezone (send windows use it)").check()
    page.get_by_label("Extra fields").fill("company")
    page.get_by_label(re.compile("Weekly letters")).check()
    page.get_by_label("Tags").fill("blog")
    page.get_by_label("Thank-you message").fill("Thanks! Our next letter goes out on Friday.")
    screenshot(page, "signup-form-edit")
    page.get_by_role("button", name="Create signup form").click()

    expect(heading(page)).to_have_text("Blog sidebar")
    form = db.session.scalars(select(SignupForm)).one()
    expect(page.get_by_label("Link to the form’s own page")).to_have_value(f"{origin}/f/{form.public_id}")
    snippet = page.get_by_label("HTML for your website").input_value()
    assert snippet.startswith(f'<form method="post" action="{origin}/f/{form.public_id}"')
    assert 'name="attributes.company"' in snippet and 'name="website"' in snippet and "<script" not in snippet
    screenshot(page, "signup-form-show")
