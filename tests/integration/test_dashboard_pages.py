"""Every dashboard page renders for a signed-in marketer, and the main forms work."""

import re

import pytest

from app.extensions import db
from tests.conftest import PASSWORD, TEMPLATE_HTML
from tests.import_support import import_through_pages


def csrf(client, path="/"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_signup_creates_workspace_signs_in_and_shows_checklist(app):
    c = app.test_client()
    page = c.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post(
        "/signup",
        data={
            "csrf_token": token,
            "workspace": "Bloom & Co",
            "email": "Ana@Bloom.example.com",
            "password": "a long enough password",
        },
    )
    assert r.status_code == 302
    home = c.get("/").get_data(as_text=True)
    assert "Get started" in home and "Bloom &amp; Co" in home
    assert 'href="/outbox/"' in home  # new workspaces send to the development outbox


def test_signup_rejects_bad_input_without_500(app):
    c = app.test_client()
    page = c.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/signup", data={"csrf_token": token, "workspace": "", "email": "bob@", "password": "short"})
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "Give the workspace a name" in body and "not an email address" in body and "at least 10" in body


def test_forms_without_csrf_token_are_refused(client):
    r = client.post("/lists/", data={"name": "Sneaky"})
    assert r.status_code == 400 and "Form expired" in r.get_data(as_text=True)


def test_login_rejects_wrong_password(app, workspace):
    c = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    r = c.post("/login", data={"email": "owner@example.com", "password": "wrong password!", "csrf_token": token})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/campaigns/",
        "/campaigns/new",
        "/templates/",
        "/templates/new",
        "/subscribers/",
        "/subscribers/new",
        "/subscribers/import",
        "/lists/",
        "/suppressions/",
        "/providers/",
        "/providers/new",
        "/settings/workspace",
        "/settings/api-keys/",
        "/outbox/",
    ],
)
def test_every_navigation_page_renders(client, path):
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert "Content-Security-Policy" in r.headers


def test_the_checklists_build_a_template_opens_the_visual_builders_starters(client):
    home = client.get("/").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)"[^>]*>(?:(?!</a>).)*Build a template', home, re.S)
    assert link and link.group(1) == "/templates/new/visual", link and link.group(1)
    starters = client.get(link.group(1)).get_data(as_text=True)
    assert "New visual template" in starters and "Start blank" in starters and "Welcome" in starters


def test_pages_need_sign_in(app, workspace):
    r = app.test_client().get("/campaigns/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_marketer_builds_and_sends_a_campaign_through_the_pages(client, app, smtp_sink, worker):
    t = csrf(client)
    r = client.post("/lists/", data={"csrf_token": t, "name": "Newsletter"})
    list_id = int(r.headers["Location"].rsplit("/", 1)[-1])
    csv = b"email,name,plan\nana@example.com,Ana,gold\nbob@,Bob,free\nANA@example.com,Ana again,gold\ncy@example.com,Cy,free\n"
    r = import_through_pages(client, t, csv, list_ids=[list_id])
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Row 3" not in body and ">3<" in body  # bob@ is on row 3
    assert "&#39;bob@&#39; is not an email address" in body or "'bob@' is not an email address" in body
    r = client.post(
        "/providers/new",
        data={
            "csrf_token": t,
            "name": "Relay",
            "host": "127.0.0.1",
            "port": str(smtp_sink.port),
            "use_tls": "",
            "is_default": "on",
        },
    )
    assert r.status_code == 302
    r = client.post(
        "/templates/new",
        data={
            "csrf_token": t,
            "name": "Hello",
            "subject": "Hi {{ subscriber.name }}",
            "body_html": TEMPLATE_HTML,
            "category": "marketing",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    template_id = int(r.headers["Location"].split("/")[-2])
    r = client.post(
        "/campaigns/new",
        data={
            "csrf_token": t,
            "name": "First",
            "template_id": str(template_id),
            "list_ids": str(list_id),
            "from_name": "Acme",
            "from_email": "news@shop.example.com",
            "track_opens": "on",
            "track_clicks": "on",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    campaign_url = r.headers["Location"]
    assert "Send now" in client.get(campaign_url).get_data(as_text=True)
    r = client.post(campaign_url + "/send", data={"csrf_token": t})
    assert r.status_code == 302
    progress = client.get(campaign_url + "/progress")
    assert progress.status_code == 200  # still sending: keep polling
    worker()
    progress = client.get(campaign_url + "/progress")
    assert progress.status_code == 286  # done: htmx stops polling
    page = client.get(campaign_url).get_data(as_text=True)
    assert 'data-status="sent"' in page
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["ana@example.com", "cy@example.com"]


def test_template_with_script_or_broken_jinja_is_refused_with_a_clear_error(client):
    t = csrf(client)
    r = client.post(
        "/templates/new",
        data={
            "csrf_token": t,
            "name": "Bad",
            "subject": "Hi",
            "body_html": "<p>{{ unsubscribe_url }}</p><script>alert(1)</script>",
        },
    )
    assert r.status_code == 422 and "&lt;script&gt; is not allowed" in r.get_data(as_text=True)
    r = client.post(
        "/templates/new",
        data={"csrf_token": t, "name": "Bad", "subject": "Hi {{ name", "body_html": "<p>{{ unsubscribe_url }}</p>"},
    )
    assert r.status_code == 422 and "Template error on line 1" in r.get_data(as_text=True)


def test_template_preview_renders_sample_data_in_a_sandboxed_frame(client):
    t = csrf(client)
    r = client.post(
        "/templates/preview", data={"csrf_token": t, "subject": "Hi {{ subscriber.name }}", "body_html": TEMPLATE_HTML}
    )
    body = r.get_data(as_text=True)
    assert "Hi Jane Doe" in body and "<iframe" in body and "sandbox" in body


def test_sandbox_blocks_unsafe_template_code(client):
    t = csrf(client)
    r = client.post(
        "/templates/preview",
        data={
            "csrf_token": t,
            "subject": "x",
            "body_html": "{{ ''.__class__.__mro__[1].__subclasses__() }} {{ unsubscribe_url }}",
        },
    )
    assert "cannot be rendered" in r.get_data(as_text=True)


def test_other_workspace_ids_answer_404(client, make_workspace, app):
    from app.services.audience import contacts

    other = make_workspace("Other")
    lst = contacts.create_list(other.id, "Theirs")
    db.session.commit()
    assert client.get(f"/lists/{lst.id}").status_code == 404


def test_login_is_rate_limited_per_address_and_email(app, workspace):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        c = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
        codes = [
            c.post(
                "/login", data={"email": "owner@example.com", "password": "guess number x", "csrf_token": token}
            ).status_code
            for _ in range(5)
        ]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_session_cookie_is_httponly_samesite_and_secure_behind_https():
    from app.config import Config

    cfg = Config(BASE_URL="https://mail.example.com")
    assert cfg.SESSION_COOKIE_SECURE and cfg.SESSION_COOKIE_HTTPONLY and cfg.SESSION_COOKIE_SAMESITE == "Lax"
    assert not Config(BASE_URL="http://127.0.0.1:5000").SESSION_COOKIE_SECURE


def test_csp_allows_only_our_own_scripts(client):
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "<script>" not in r.get_data(as_text=True)


def test_outbox_shows_caught_messages_of_this_workspace_only(client, app, mail_catcher, worker, make_workspace):
    from app.models import Workspace
    from app.services.audience import contacts
    from app.services.campaigns import drafts, lifecycle
    from app.services.content import templates

    ws = db.session.scalar(db.select(Workspace).where(Workspace.slug == "acme"))
    lst = contacts.create_list(ws.id, "L")
    contacts.import_subscribers(ws.id, [{"email": "zoe@example.com", "name": "Zoë"}], [lst.id])
    tpl = templates.create_template(
        ws.id, {"name": "T", "subject": "Bonjour {{ subscriber.name }}", "body_html": TEMPLATE_HTML}
    )
    c = drafts.create_campaign(
        ws.id,
        {
            "name": "C",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Acme",
            "from_email": "news@shop.example.com",
        },
    )
    db.session.commit()
    lifecycle.send_now(ws.id, c.id)
    db.session.commit()
    worker()
    page = client.get("/outbox/").get_data(as_text=True)
    assert "Bonjour Zoë" in page and "zoe@example.com" in page
    msg_id = int(re.search(r'href="/outbox/(\d+)"', page).group(1))
    detail = client.get(f"/outbox/{msg_id}").get_data(as_text=True)
    assert "List-Unsubscribe" in detail and "Hello Zoë" in detail and "sandbox" in detail
    make_workspace("Other", "other@example.com")
    c2 = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c2.get("/login").get_data(as_text=True)).group(1)
    c2.post("/login", data={"email": "other@example.com", "password": PASSWORD, "csrf_token": token})
    assert "Bonjour" not in c2.get("/outbox/").get_data(as_text=True)
    assert c2.get(f"/outbox/{msg_id}").status_code == 404


def test_a_large_import_runs_in_the_background_with_progress(client, app, worker):
    app.config["IMPORT_INLINE_BYTES"] = 1000
    try:
        t = csrf(client)
        rows = "\n".join(f"person{i}@example.com,Person {i}" for i in range(12000))
        csv = ("email,name\n" + rows + "\nnot-an-email,Nobody\n").encode()
        r = import_through_pages(client, t, csv, "big.csv")
    finally:
        app.config["IMPORT_INLINE_BYTES"] = 512 * 1024
    assert r.status_code == 302 and "/subscribers/imports/" in r.headers["Location"]
    url = r.headers["Location"]
    assert "Waiting for a worker" in client.get(url).get_data(as_text=True)
    worker()
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286
    body = done.get_data(as_text=True)
    assert "12,000" in body and "12002" in body  # the bad row is reported by its spreadsheet row number
    assert client.get("/subscribers/imports/" + "0" * 32).status_code == 404


def test_a_field_is_checked_as_it_is_left(client):
    t = csrf(client)
    h = {"HX-Request": "true", "HX-Trigger-Name": "from_email", "X-CSRFToken": t}
    r = client.post("/validate/email", data={"from_email": "bob@"}, headers=h)
    assert "not an email address" in r.get_data(as_text=True)
    assert (
        client.post("/validate/email", data={"from_email": "bob@example.com"}, headers=h).get_data(as_text=True).strip()
        == ""
    )
    h["HX-Trigger-Name"] = "body_html"
    r = client.post("/validate/jinja_html", data={"body_html": "<p>{{ oops </p>"}, headers=h)
    assert "Template error on line 1" in r.get_data(as_text=True)
    r = client.post("/validate/jinja_html", data={"body_html": "<script>x</script>"}, headers=h)
    assert "not allowed" in r.get_data(as_text=True)
    assert client.post("/validate/nope", data={}, headers=h).status_code == 404


def test_marketer_edits_a_subscriber_and_their_lists(client, workspace):
    from app.services.audience import contacts

    a = contacts.create_list(workspace.id, "A")
    b = contacts.create_list(workspace.id, "B")
    sub = contacts.add_subscriber(workspace.id, "kim@example.com", "Kim", {"plan": "free", "city": "Oslo"}, [a.id])
    db.session.commit()
    t = csrf(client)
    r = client.post(
        f"/subscribers/{sub.id}/edit",
        data={"csrf_token": t, "name": "Kim Lee", "attributes": "plan: gold", "list_ids": [str(b.id)]},
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert sub.name == "Kim Lee" and sub.attributes == {"plan": "gold"}
    assert contacts.subscriber_list_ids(sub.id) == [b.id]
    r = client.post(f"/subscribers/{sub.id}/edit", data={"csrf_token": t, "attributes": "no colon here"})
    assert r.status_code == 422 and "write it as name: value" in r.get_data(as_text=True)


def test_a_fresh_install_sends_the_first_visitor_to_sign_up(app):
    c = app.test_client()
    r = c.get("/", follow_redirects=True)
    assert r.request.path == "/signup" and "Sign in to continue" not in r.get_data(as_text=True)
    assert c.get("/favicon.ico").status_code == 200


def test_preview_names_the_field_with_the_template_error(client):
    t = csrf(client)
    r = client.post("/templates/preview", data={"csrf_token": t, "subject": "Hi {{ name", "body_html": "<p>ok</p>"})
    assert "Subject, line 1" in r.get_data(as_text=True)


def test_importing_again_into_a_list_says_how_many_were_added_and_warns_without_a_list(client, workspace):
    from app.services.audience import contacts

    lst = contacts.create_list(workspace.id, "Later")
    db.session.commit()
    t = csrf(client)
    csv = b"email\nann@example.com\nbob@example.com\n"
    first = import_through_pages(client, t, csv, "a.csv").get_data(as_text=True)
    assert 'id="import-no-list"' in first
    again = import_through_pages(client, t, csv, "a.csv", list_ids=[lst.id]).get_data(as_text=True)
    assert "2 added to the chosen list" in again and 'id="import-no-list"' not in again
