"""Signup forms: the marketer builds one (fields, lists, tags, what happens after), shares its page or
pastes its HTML; people sign up on the hosted page or from another site. Machines filling the honeypot,
floods from one address, hostile input and another workspace's lists get nowhere."""

import html
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Message, SignupForm, Subscriber
from app.services.audience import contacts, double_opt_in, signup_forms, tags
from app.services.errors import ValidationError

PUBLIC_ID = re.compile(r"/f/([A-Za-z0-9_-]{16,32})")


def csrf(client, path="/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def subscriber(email: str) -> Subscriber | None:
    db.session.expire_all()
    return db.session.scalars(select(Subscriber).where(Subscriber.email == email)).one_or_none()


def make_form(workspace_id: int, **data) -> SignupForm:
    data.setdefault("name", "Blog")
    data.setdefault("fields", ["name"])
    form = signup_forms.create_form(workspace_id, data)
    db.session.commit()
    return form


@pytest.fixture
def visitor(app):
    """A person's browser: no session, no cookies from the dashboard."""
    return app.test_client()


@pytest.fixture
def letters(workspace):
    lst = contacts.create_list(workspace.id, "Letters")
    db.session.commit()
    return lst


def post(visitor, form: SignupForm, ip="198.51.100.1", **fields):
    return visitor.post(f"/f/{form.public_id}", data=fields, environ_base={"REMOTE_ADDR": ip})


# The marketer's side --------------------------------------------------------------------------


def test_a_marketer_creates_a_form_and_gets_its_link_and_html(client, workspace, letters):
    page = client.get("/signup-forms/").get_data(as_text=True)
    assert "No signup forms yet" in page and 'href="/signup-forms/new"' in page
    assert "Signup forms" in client.get("/").get_data(as_text=True)  # in the navigation
    r = client.post(
        "/signup-forms/new",
        data={
            "csrf_token": csrf(client),
            "name": "Blog sidebar",
            "field_name": "1",
            "field_timezone": "1",
            "extra_fields": "Company, city",
            "list_ids": [str(letters.id)],
            "tags": "Blog, spring",
            "thank_you_message": "Thanks!\nSee you Friday.",
        },
    )
    assert r.status_code == 302
    form = db.session.scalars(select(SignupForm)).one()
    assert form.fields == ["name", "timezone", "attributes.company", "attributes.city"]
    assert (form.list_ids, form.tags, form.redirect_url) == ([letters.id], ["blog", "spring"], None)
    assert len(form.public_id) >= 16

    show = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"http://herald.test/f/{form.public_id}" in show
    snippet = html.unescape(re.search(r'<textarea[^>]*id="embed-snippet"[^>]*>(.*?)</textarea>', show, re.S).group(1))
    assert snippet.startswith(f'<form method="post" action="http://herald.test/f/{form.public_id}"')
    for name in ("email", "name", "timezone", "attributes.company", "attributes.city", "website"):
        assert f'name="{name}"' in snippet
    assert "<script" not in snippet and "http" not in snippet.replace(f"http://herald.test/f/{form.public_id}", "")
    assert 'id="form-submissions"' in show
    listed = client.get("/signup-forms/").get_data(as_text=True)
    assert "Blog sidebar" in listed and f"/f/{form.public_id}" in listed


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"name": ""}, "name", "Give the form a name"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url", "full web address"),
        ({"redirect_url": "https://user:pw@example.com/"}, "redirect_url", "password"),
        ({"redirect_url": "https://example.com/ x"}, "redirect_url", "spaces"),
        ({"tags": "x" * 101}, "tags", "longer than 100"),
        ({"extra_fields": "a, b, c, d, e, f, g, h, i, j, k"}, "extra_fields", "At most 10"),
        ({"thank_you_message": "x" * 2001}, "thank_you_message", "under 2,000"),
    ],
)
def test_the_form_settings_are_checked_field_by_field(client, changes, field, message):
    data = {"csrf_token": csrf(client), "name": "Blog", **changes}
    r = client.post("/signup-forms/new", data=data)
    assert r.status_code == 422
    page = html.unescape(r.get_data(as_text=True))
    assert message in page and f'id="f-{field}"' in page
    assert db.session.scalars(select(SignupForm)).all() == []


def test_another_workspaces_lists_are_refused_and_its_forms_answer_404(client, workspace, make_workspace, letters):
    other = make_workspace()
    theirs = contacts.create_list(other.id, "Theirs")
    their_form = make_form(other.id)
    db.session.commit()
    token = csrf(client)
    r = client.post("/signup-forms/new", data={"csrf_token": token, "name": "X", "list_ids": [letters.id, theirs.id]})
    assert r.status_code == 422 and f"No list with id {theirs.id} in this workspace" in r.get_data(as_text=True)
    with pytest.raises(ValidationError, match="No list with id"):
        signup_forms.create_form(workspace.id, {"name": "X", "list_ids": [theirs.id]})
    db.session.rollback()
    mine = make_form(workspace.id, list_ids=[letters.id])
    r = client.post(f"/signup-forms/{mine.id}/edit", data={"csrf_token": token, "name": "X", "list_ids": [theirs.id]})
    assert r.status_code == 422
    db.session.expire_all()
    assert db.session.get(SignupForm, mine.id).list_ids == [letters.id]

    assert client.get(f"/signup-forms/{their_form.id}").status_code == 404
    assert client.get(f"/signup-forms/{their_form.id}/edit").status_code == 404
    assert client.post(f"/signup-forms/{their_form.id}/delete", data={"csrf_token": token}).status_code == 404
    assert db.session.get(SignupForm, their_form.id) is not None


def test_deleting_a_form_closes_its_page_and_is_audited(client, visitor, workspace):
    form = make_form(workspace.id)
    assert visitor.get(f"/f/{form.public_id}").status_code == 200
    r = client.post(f"/signup-forms/{form.id}/delete", data={"csrf_token": csrf(client)})
    assert r.status_code == 302
    gone = visitor.get(f"/f/{form.public_id}")
    assert gone.status_code == 404 and "This link does not work" in gone.get_data(as_text=True)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "signup_form.delete")).one()
    assert entry.detail == {"name": "Blog"} and entry.actor == "owner@example.com"


# A person's side ------------------------------------------------------------------------------


def test_the_hosted_page_is_branded_mobile_first_and_needs_no_script(visitor, workspace):
    workspace.brand_color, workspace.logo_url = "#1a7f5a", "https://cdn.example.com/logo.png"
    form = make_form(workspace.id, fields=["name", "timezone", "attributes.company"])
    r = visitor.get(f"/f/{form.public_id}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'name="viewport"' in page and "<script" not in page
    assert "--brand:#1a7f5a" in page and 'src="https://cdn.example.com/logo.png"' in page and "Acme" in page
    for name in ("email", "name", "timezone", "attributes.company", "website"):
        assert f'name="{name}"' in page
    assert "Europe/Berlin" in page and 'tabindex="-1"' in page
    assert "csrf" not in page  # other sites post here too: the public id is the capability
    assert visitor.get("/f/not-a-form-id-at-all").status_code == 404


def test_a_signup_creates_the_subscriber_with_source_consent_lists_tags_and_attributes(visitor, workspace, letters):
    form = make_form(
        workspace.id,
        fields=["name", "timezone", "attributes.company"],
        list_ids=[letters.id],
        tags=["blog"],
        thank_you_message="Thanks!\n<b>See you</b> Friday.",
    )
    r = post(
        visitor, form, ip="203.0.113.7", email=" Ann@Example.COM ", name="Ann  Lee",
        timezone="europe/berlin", **{"attributes.company": "Northwind"},
    )  # fmt: skip
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Thank you for signing up" in page and "&lt;b&gt;See you&lt;/b&gt; Friday." in page
    ann = subscriber("ann@example.com")
    assert (ann.status, ann.source, ann.name, ann.timezone) == ("active", "form", "Ann Lee", "Europe/Berlin")
    assert ann.attributes == {"company": "Northwind"}
    assert ann.consent["method"] == "form" and ann.consent["ip"] == "203.0.113.7"
    assert ann.consent["form_id"] == form.id and ann.consent["at"]
    assert contacts.subscriber_list_ids(ann.id) == [letters.id] and tags.tags_of(ann.id) == ["blog"]
    db.session.expire_all()
    assert db.session.get(SignupForm, form.id).submissions == 1


def test_an_embedded_copy_posts_from_another_site_without_a_session(visitor, workspace, letters):
    form = make_form(workspace.id, list_ids=[letters.id])
    r = visitor.post(
        f"/f/{form.public_id}",
        data={"email": "bob@example.com", "website": ""},
        headers={"Origin": "https://blog.example.org", "Referer": "https://blog.example.org/post"},
    )
    assert r.status_code == 200 and subscriber("bob@example.com").status == "active"


def test_a_double_opt_in_list_makes_the_signup_pending_until_confirmed(visitor, workspace, mail_catcher, worker):
    lst = contacts.create_list(workspace.id, "Letters", double_opt_in=True)
    form = make_form(workspace.id, list_ids=[lst.id])
    r = post(visitor, form, email="ann@example.com", name="Ann")
    assert "we sent you an email" in r.get_data(as_text=True)
    assert subscriber("ann@example.com").status == "pending"
    worker()
    (msg,) = db.session.scalars(select(Message)).all()
    assert msg.to_email == "ann@example.com" and msg.status == "sent"


def test_a_filled_honeypot_is_answered_like_a_signup_and_stores_nothing(visitor, workspace, letters):
    form = make_form(workspace.id, list_ids=[letters.id])
    r = post(visitor, form, email="bot@example.com", name="Bot", website="http://spam.example")
    assert r.status_code == 200 and "Thank you for signing up" in r.get_data(as_text=True)
    assert subscriber("bot@example.com") is None
    db.session.expire_all()
    assert db.session.get(SignupForm, form.id).submissions == 0
    # A bot that gets it wrong in other ways still learns nothing.
    assert post(visitor, form, email="not-an-email", website="x").status_code == 200


def test_a_flood_from_one_address_meets_a_friendly_429(app, visitor, workspace):
    form, other_form = make_form(workspace.id), make_form(workspace.id, name="Other")
    app.config["SIGNUP_RATE_LIMIT"] = "3 per 10 minutes"
    try:
        for n in range(3):
            assert post(visitor, form, ip="192.0.2.1", email=f"p{n}@example.com").status_code == 200
        r = post(visitor, form, ip="192.0.2.1", email="p3@example.com")
        assert r.status_code == 429
        assert "Please wait a few minutes" in r.get_data(as_text=True) and "Acme" in r.get_data(as_text=True)
        assert subscriber("p3@example.com") is None
        # Another address, and another form, are counted on their own.
        assert post(visitor, form, ip="192.0.2.2", email="p4@example.com").status_code == 200
        assert post(visitor, other_form, ip="192.0.2.1", email="p5@example.com").status_code == 200
        # The honeypot and invalid posts count too: a bot cannot probe past the limit.
        assert post(visitor, form, ip="192.0.2.1", email="p6@example.com", website="x").status_code == 429
    finally:
        app.config["SIGNUP_RATE_LIMIT"] = "10 per 10 minutes"


@pytest.mark.parametrize(
    "fields,input_name,message",
    [
        ({"email": ""}, "email", "Enter your email address"),
        ({"email": "ann@"}, "email", "does not look like an email address"),
        ({"email": "a" * 400 + "@example.com"}, "email", "too long"),
        ({"email": "ann@example.com", "name": "n" * 5000}, "name", "under 200 characters"),
        ({"email": "ann@example.com", "timezone": "Mars/Olympus"}, "timezone", "Choose a timezone"),
        ({"email": "ann@example.com", "attributes.company": "c" * 100_000}, "attributes.company", "under 500"),
    ],
)
def test_a_mistake_shows_the_form_again_with_the_message_and_what_was_typed(
    visitor, workspace, fields, input_name, message
):
    form = make_form(workspace.id, fields=["name", "timezone", "attributes.company"])
    r = post(visitor, form, **fields)
    assert r.status_code == 422
    page = html.unescape(r.get_data(as_text=True))
    assert message in page and 'aria-invalid="true"' in page and "Sign up for emails from Acme" in page
    assert db.session.scalars(select(Subscriber)).all() == []
    if fields.get("email") == "ann@example.com":
        assert 'value="ann@example.com"' in page  # the person does not type it again


def test_hostile_input_is_stored_as_text_and_shown_escaped(client, visitor, workspace):
    form = make_form(workspace.id, fields=["name", "attributes.note"])
    jinja = "{{ config.SECRET_KEY }}{% for x in range(9) %}x{% endfor %}"
    r = post(
        visitor, form, email="eve@example.com", name='<img src=x onerror=alert(1)> ' + jinja,
        **{"attributes.note": '"><script>alert(2)</script>\x00'},
    )  # fmt: skip
    assert r.status_code == 200
    eve = subscriber("eve@example.com")
    assert eve.name.startswith("<img src=x onerror=alert(1)>") and jinja in eve.name
    assert eve.attributes["note"] == '"><script>alert(2)</script>'  # the NUL is gone, the rest kept as text
    page = client.get(f"/subscribers/{eve.id}").get_data(as_text=True)
    assert "<img src=x" not in page and "<script>alert(2)" not in page and "test-secret-key" not in page

    again = post(visitor, form, email='"><script>alert(3)</script>', name="<svg onload=alert(4)>")
    shown = again.get_data(as_text=True)
    assert again.status_code == 422 and "<script>alert(3)" not in shown and "<svg onload" not in shown


def test_the_redirect_goes_only_where_the_form_says(visitor, workspace):
    form = make_form(workspace.id, redirect_url="https://shop.example.com/thanks?from=blog")
    page = visitor.get(f"/f/{form.public_id}")
    assert "form-action 'self' https://shop.example.com" in page.headers["Content-Security-Policy"]
    r = post(visitor, form, email="ann@example.com", redirect_url="https://evil.example/", next="https://evil.example/")
    assert r.status_code == 303 and r.headers["Location"] == "https://shop.example.com/thanks?from=blog"


def test_a_deleted_list_of_the_form_is_skipped(visitor, workspace, letters):
    gone = contacts.create_list(workspace.id, "Gone")
    form = make_form(workspace.id, list_ids=[letters.id, gone.id])
    contacts.delete_list(workspace.id, gone.id)
    db.session.commit()
    assert post(visitor, form, email="ann@example.com").status_code == 200
    assert contacts.subscriber_list_ids(subscriber("ann@example.com").id) == [letters.id]


# People already in the workspace --------------------------------------------------------------


def test_a_known_subscriber_signing_up_again_joins_the_lists_once_and_keeps_their_status(visitor, workspace, letters):
    other = contacts.create_list(workspace.id, "Other")
    contacts.add_subscriber(workspace.id, "ann@example.com", "Ann", {"plan": "gold"}, [other.id])
    form = make_form(workspace.id, list_ids=[letters.id], tags=["blog"])
    for _ in range(2):
        r = post(visitor, form, email="ann@example.com", name="Someone Else")
        assert "Thank you for signing up" in r.get_data(as_text=True)
    ann = subscriber("ann@example.com")
    assert (ann.status, ann.name, ann.attributes, ann.source) == ("active", "Ann", {"plan": "gold"}, "dashboard")
    assert contacts.subscriber_list_ids(ann.id) == sorted([letters.id, other.id])
    assert tags.tags_of(ann.id) == ["blog"]
    assert db.session.scalars(select(Message)).all() == []


def test_an_unsubscribed_person_comes_back_only_by_confirming_the_new_signup(app, visitor, workspace, letters):
    ann = contacts.add_subscriber(workspace.id, "ann@example.com")
    db.session.commit()
    with app.test_request_context():
        old_link = double_opt_in.confirm_url(ann.id, issued_at=1_000_000)  # from before the unsubscribe
    contacts.unsubscribe(ann)
    form = make_form(workspace.id, list_ids=[letters.id])

    r = post(visitor, form, email="ann@example.com")
    assert "Thank you for signing up" in r.get_data(as_text=True)  # the same answer as for anyone
    assert subscriber("ann@example.com").status == "unsubscribed"  # anyone can type anyone's address
    (msg,) = db.session.scalars(select(Message)).all()
    token = msg.context["confirm_url"].rsplit("/", 1)[1]

    stale = visitor.post(old_link.replace("http://herald.test", ""))
    assert "This link no longer works" in stale.get_data(as_text=True)
    assert subscriber("ann@example.com").status == "unsubscribed"
    assert visitor.post(f"/confirm/{token}").status_code == 303
    back = subscriber("ann@example.com")
    assert back.status == "active" and back.consent["method"] == "double opt-in" and back.confirmed_at
    assert contacts.subscriber_list_ids(back.id) == [letters.id]


def test_a_bounced_address_signing_up_changes_nothing_and_gets_no_mail(visitor, workspace, letters):
    sub = contacts.add_subscriber(workspace.id, "gone@example.com")
    sub.status = "bounced"
    form = make_form(workspace.id, list_ids=[letters.id])
    r = post(visitor, form, email="gone@example.com")
    assert r.status_code == 200 and "Thank you for signing up" in r.get_data(as_text=True)
    assert subscriber("gone@example.com").status == "bounced"
    assert contacts.subscriber_list_ids(sub.id) == [] and db.session.scalars(select(Message)).all() == []
