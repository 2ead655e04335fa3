"""Double opt-in, as the marketer sets it up and the person lives it: a list that requires confirmation, the
email that arrives in the development outbox, the page behind its link (a GET changes nothing), the button
that confirms, the wording the marketer can edit, and the people who never confirm being purged."""

import email
import re
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditEntry, CaughtMessage, MailingList, Message, Provider, Subscriber, Template
from app.queueing import PERIODIC_BY_NAME
from app.services.audience import contacts, double_opt_in, signups
from app.services.content import templates
from app.services.tokens import make_token

LINK = re.compile(r"http://herald\.test/confirm/([A-Za-z0-9_.-]+)")


def csrf(client, path="/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def patch(api, path: str, body: dict):
    return api.c.patch("/api/v1" + path, json=body, headers=api.h)


def subscriber(email_address: str) -> Subscriber:
    db.session.expire_all()
    return db.session.scalars(select(Subscriber).where(Subscriber.email == email_address)).one()


def caught_for(address: str) -> list:
    db.session.expire_all()
    rows = db.session.scalars(select(CaughtMessage).order_by(CaughtMessage.id)).all()
    return [email.message_from_bytes(c.raw, policy=policy.default) for c in rows if c.rcpt_to == address]


def confirm_token(address: str) -> str:
    """The token in the confirmation email the outbox caught for `address` (its text part)."""
    (message,) = caught_for(address)
    return LINK.search(message.get_body(("plain",)).get_content()).group(1)


@pytest.fixture
def letters(workspace):
    lst = contacts.create_list(workspace.id, "Letters", double_opt_in=True)
    db.session.commit()
    return lst


# From signup to confirmed ---------------------------------------------------------------------


def test_a_person_added_by_api_to_a_double_opt_in_list_confirms_through_the_page(
    app, api, conforms, letters, mail_catcher, worker
):
    created = conforms(
        api.post("/subscribers", json={"email": "Ann@Example.com", "name": "Ann", "list_ids": [letters.id]}),
        "Subscriber",
        201,
    )
    assert created["status"] == "pending" and created["source"] == "api" and created["confirmed_at"] is None
    worker()

    (message,) = caught_for("ann@example.com")
    assert message["Subject"] == "Please confirm your subscription to Acme"
    html = message.get_body(("html",)).get_content()
    assert "Hi Ann" in html and "(Letters)" in html and "Confirm my subscription" in html
    token = confirm_token("ann@example.com")
    assert f'href="http://herald.test/confirm/{token}"' in html  # never a tracked redirect
    assert db.session.scalars(select(Message)).one().context["confirm_url"] == "[removed after sending]"

    browser = app.test_client()
    page = browser.get(f"/confirm/{token}")
    assert page.status_code == 200 and page.headers["Cache-Control"].startswith("no-store")
    text = page.get_data(as_text=True)
    assert "Confirm my subscription" in text and "ann@example.com" in text and 'method="post"' in text
    assert "<script" not in text and 'name="viewport"' in text
    assert subscriber("ann@example.com").status == "pending"  # a link scanner's GET confirms nothing

    pressed = browser.post(f"/confirm/{token}", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert pressed.status_code == 303
    assert "You are subscribed" in browser.get(pressed.headers["Location"]).get_data(as_text=True)
    ann = subscriber("ann@example.com")
    assert ann.status == "active" and ann.confirmed_at is not None
    assert ann.consent["method"] == "double opt-in" and ann.consent["ip"] == "203.0.113.9"
    assert ann.consent["signed_up_at"] == created["consent"]["at"] and ann.consent["at"]

    again = browser.post(f"/confirm/{token}")
    assert again.status_code == 200 and "Already confirmed" in again.get_data(as_text=True)
    assert "Already confirmed" in browser.get(f"/confirm/{token}").get_data(as_text=True)
    shown = conforms(api.get(f"/subscribers/{created['id']}"), "Subscriber")
    assert shown["status"] == "active" and shown["confirmed_at"] and shown["consent"]["method"] == "double opt-in"


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "1.1.AAAAAAAAAAAAAAAAAAAAAA",
        "é.x",
        "x" * 300,
    ],
)
def test_a_link_that_is_not_one_answers_the_public_404_page(app, token):
    r = app.test_client().get(f"/confirm/{token}")
    assert r.status_code == 404 and "This link does not work" in r.get_data(as_text=True)
    assert app.test_client().post(f"/confirm/{token}").status_code == 404


def test_another_purposes_token_or_a_deleted_person_is_not_a_confirmation(app, workspace, letters):
    sub = signups.subscribe(workspace.id, "ann@example.com", list_ids=[letters.id], source="api")
    db.session.commit()
    with app.test_request_context():
        wrong_purpose = make_token("unsubscribe", sub.id, 1)
        good = make_token("confirm", sub.id, int(datetime.now(timezone.utc).timestamp()))
    browser = app.test_client()
    assert browser.get(f"/confirm/{wrong_purpose}").status_code == 404
    assert browser.get(f"/confirm/{good}").status_code == 200
    contacts.delete_subscriber(workspace.id, sub.id)
    db.session.commit()
    assert browser.post(f"/confirm/{good}").status_code == 404


def test_the_dashboard_and_a_list_without_double_opt_in(client, workspace, letters, make_workspace):
    plain = contacts.create_list(workspace.id, "Plain")
    db.session.commit()
    token = csrf(client)
    r = client.post(
        "/subscribers/new", data={"csrf_token": token, "email": "ann@example.com", "list_ids": [str(letters.id)]}
    )
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "pending until they press the link" in page and "Resend confirmation email" in page
    ann = subscriber("ann@example.com")
    assert (ann.status, ann.source, ann.consent["method"]) == ("pending", "dashboard", "dashboard")
    assert db.session.scalars(select(Message.to_email)).all() == ["ann@example.com"]

    client.post("/subscribers/new", data={"csrf_token": token, "email": "bob@example.com", "list_ids": [plain.id]})
    assert subscriber("bob@example.com").status == "active"
    assert db.session.scalars(select(Message.to_email)).all() == ["ann@example.com"]  # nothing to confirm

    r = client.post(f"/subscribers/{ann.id}/confirmation", data={"csrf_token": token})
    assert r.status_code == 302
    assert db.session.scalars(select(Message.to_email)).all() == ["ann@example.com", "ann@example.com"]
    theirs = contacts.add_subscriber(make_workspace().id, "theirs@example.com", status="pending")
    db.session.commit()
    assert client.post(f"/subscribers/{theirs.id}/confirmation", data={"csrf_token": token}).status_code == 404


def test_without_a_provider_the_person_is_kept_pending_and_nothing_fails(api, letters):
    db.session.execute(Provider.__table__.delete())
    db.session.commit()
    r = api.post("/subscribers", json={"email": "ann@example.com", "list_ids": [letters.id]})
    assert r.status_code == 201 and r.json["status"] == "pending"
    assert db.session.scalars(select(Message)).all() == []


def test_a_hostile_name_is_data_in_the_email_never_template_code(api, letters, mail_catcher, worker):
    name = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} <script>alert(1)</script>"
    assert api.post("/subscribers", json={"email": "evil@example.com", "name": name, "list_ids": [letters.id]}).json
    worker()
    (message,) = caught_for("evil@example.com")
    html = message.get_body(("html",)).get_content()
    assert "49" not in html and "xxx" not in html and "<script>" not in html
    assert "{{ 7*7 }}" in html and "&lt;script&gt;" in html


# The wording ----------------------------------------------------------------------------------


def test_herald_wording_lives_in_one_template_per_workspace_made_when_first_needed(workspace, letters):
    for n in range(2):
        signups.subscribe(workspace.id, f"p{n}@example.com", list_ids=[letters.id], source="api")
    db.session.commit()
    (builtin,) = db.session.scalars(select(Template)).all()
    assert builtin.slug == double_opt_in.BUILTIN_SLUG and builtin.category == "transactional"
    assert {m.template_id for m in db.session.scalars(select(Message))} == {builtin.id}


def test_customising_the_confirmation_email_makes_a_template_the_list_then_sends(
    client, workspace, letters, mail_catcher, worker
):
    token = csrf(client)
    page = client.get(f"/lists/{letters.id}").get_data(as_text=True)
    assert "Customise the confirmation email" in page and "Herald’s wording" in page
    r = client.post(f"/lists/{letters.id}/confirmation-email", data={"csrf_token": token})
    db.session.expire_all()
    lst = db.session.get(MailingList, letters.id)
    tpl = db.session.get(Template, lst.confirmation_template_id)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/templates/{tpl.id}/edit")
    assert tpl.name == "Confirmation: Letters" and "{{ confirm_url }}" in tpl.body_html
    # Pressing it again opens the same template rather than making another.
    client.post(f"/lists/{letters.id}/confirmation-email", data={"csrf_token": token})
    assert db.session.query(Template).count() == 1

    templates.update_template(
        workspace.id,
        tpl.id,
        {
            "name": tpl.name,
            "subject": "One click, {{ subscriber.name or 'friend' }}",
            "body_html": '<p>Welcome to {{ workspace_name }}! <a href="{{ confirm_url }}">Yes, sign me up</a></p>',
            "category": "transactional",
            "template_type": "code",
        },
    )
    db.session.commit()
    signups.subscribe(workspace.id, "ann@example.com", "Ann", list_ids=[letters.id], source="api")
    db.session.commit()
    worker()
    (message,) = caught_for("ann@example.com")
    assert message["Subject"] == "One click, Ann"
    assert re.search(
        r'href="http://herald\.test/confirm/[^"]+">Yes, sign me up', message.get_body(("html",)).get_content()
    )

    page = client.get(f"/lists/{letters.id}").get_data(as_text=True)
    assert "Edit the confirmation email" in page and "Confirmation: Letters" in page
    client.post(f"/lists/{letters.id}/confirmation-email/builtin", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(MailingList, letters.id).confirmation_template_id is None


# Lists ----------------------------------------------------------------------------------------


def test_the_list_setting_in_the_dashboard_and_the_api(client, api, conforms, workspace, make_workspace):
    token = csrf(client)
    r = client.post("/lists/", data={"csrf_token": token, "name": "News", "double_opt_in": "1"})
    assert r.status_code == 302
    news = db.session.scalars(select(MailingList).where(MailingList.name == "News")).one()
    assert news.double_opt_in
    edit = client.get(f"/lists/{news.id}/edit").get_data(as_text=True)
    assert "Require confirmation (double opt-in)" in edit and "checked" in edit
    client.post(f"/lists/{news.id}/edit", data={"csrf_token": token, "name": "News"})
    db.session.expire_all()
    assert not db.session.get(MailingList, news.id).double_opt_in

    created = conforms(api.post("/lists", json={"name": "Weekly", "double_opt_in": True}), "List", 201)
    assert created["double_opt_in"] is True and created["confirmation_template_id"] is None
    patched = conforms(patch(api, f"/lists/{created['id']}", {"double_opt_in": False}), "List")
    assert patched["double_opt_in"] is False and patched["name"] == "Weekly"
    assert conforms(api.get("/lists"), "ListPage")["items"][0]["double_opt_in"] in (True, False)
    theirs = contacts.create_list(make_workspace().id, "Theirs")
    db.session.commit()
    assert patch(api, f"/lists/{theirs.id}", {"double_opt_in": True}).status_code == 404
    assert client.get(f"/lists/{theirs.id}/edit").status_code == 404
    assert client.post(f"/lists/{theirs.id}/confirmation-email", data={"csrf_token": token}).status_code == 404


# Purging --------------------------------------------------------------------------------------


def _age(address: str, days: float) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=days)
    db.session.execute(update(Subscriber).where(Subscriber.email == address).values(created_at=old, updated_at=old))
    db.session.commit()


def test_people_who_never_confirm_are_purged_after_the_workspaces_days(workspace, make_workspace, letters):
    other = make_workspace()
    other.unconfirmed_purge_days = 30
    theirs = contacts.create_list(other.id, "Theirs", double_opt_in=True)
    for address in ("old@example.com", "new@example.com"):
        signups.subscribe(workspace.id, address, list_ids=[letters.id], source="api")
    signups.subscribe(other.id, "patient@example.com", list_ids=[theirs.id], source="api")
    contacts.add_subscriber(workspace.id, "active@example.com")
    db.session.commit()
    _age("old@example.com", 8)
    _age("new@example.com", 6)
    _age("patient@example.com", 8)
    _age("active@example.com", 400)

    assert double_opt_in.purge_unconfirmed() == 1
    db.session.commit()
    left = set(db.session.scalars(select(Subscriber.email)))
    assert left == {"new@example.com", "patient@example.com", "active@example.com"}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "subscriber.purge_unconfirmed")).one()
    assert (entry.workspace_id, entry.actor, entry.detail) == (workspace.id, "system", {"count": 1, "days": 7})
    assert double_opt_in.purge_unconfirmed() == 0  # safe to run twice
    assert PERIODIC_BY_NAME["purge_unconfirmed_subscribers"].interval <= 3600


def test_the_purge_job_runs_from_the_jobs_table(app, workspace, letters):
    from workers import jobs

    signups.subscribe(workspace.id, "old@example.com", list_ids=[letters.id], source="api")
    db.session.commit()
    _age("old@example.com", 30)
    assert jobs.purge_unconfirmed_subscribers() == 1
    db.session.expire_all()
    assert db.session.scalars(select(Subscriber)).all() == []


def test_the_number_of_days_is_a_workspace_setting(client, workspace):
    token = csrf(client)
    page = client.get("/settings/workspace").get_data(as_text=True)
    assert 'name="unconfirmed_purge_days"' in page and 'value="7"' in page
    r = client.post("/settings/unconfirmed", data={"csrf_token": token, "unconfirmed_purge_days": "30"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#unconfirmed")
    db.session.expire_all()
    assert db.session.get(type(workspace), workspace.id).unconfirmed_purge_days == 30
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "settings.unconfirmed_purge_days")).one()
    assert entry.detail == {"from": 7, "to": 30} and entry.actor == "owner@example.com"
    for bad in ("0", "366", "abc", "", "9" * 40):
        client.post("/settings/unconfirmed", data={"csrf_token": token, "unconfirmed_purge_days": bad})
        db.session.expire_all()
        assert db.session.get(type(workspace), workspace.id).unconfirmed_purge_days == 30
    assert "Give a number of days from 1 to 365" in client.get("/settings/workspace").get_data(as_text=True)
