"""Sending identities: marketing@, support@ and noreply@ on one sending domain, each with a display name and
a reply-to. A campaign or a transactional template picks one instead of typing a From, and the mail that
reaches a real SMTP server carries it; a From on a domain that is not verified is allowed but flagged on the
campaign page until a real DNS server on loopback lets the domain verify."""

import re

from app.extensions import db
from app.models import Campaign, Message, SendingIdentity, Template
from app.services.campaigns import lifecycle
from app.services.delivery import domains
from tests.factories import (
    create_identity,
    create_list,
    create_signing_domain,
    create_smtp_provider,
    create_template,
    smtp_campaign,
    txt_zone_line,
)

DOMAIN = "news.acme.example.org"
RESET_HTML = "<p>Hi {{ subscriber.name or 'there' }}, your code is {{ code }}.</p>"


def _publish(dns_server, domain) -> None:
    """Publish every record Herald asks for, as an operator would."""
    lines = [
        f"{r.name}. 60 IN MX {r.value}." if r.type == "MX" else txt_zone_line(r.name, r.value, 60)
        for r in domains.dns_records(domain)
    ]
    dns_server.set(*lines)


def _domain(workspace, name: str = DOMAIN):
    domain = domains.create_domain(workspace.id, name)
    db.session.commit()
    return domain


def _csrf(client, path) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _patch(api, path, body):
    return api.c.patch("/api/v1" + path, json=body, headers=api.h)


def _fields(resp, status: int = 422) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    return resp.json["error"]["fields"]


def _stranger_identity(make_workspace) -> int:
    """An identity of another workspace: its id must mean nothing here."""
    ws = make_workspace("Globex", "owner@globex.example.net")
    identity = create_identity(ws.id, _domain(ws, "mail.globex.example.net").id, "news", "Globex")
    db.session.commit()
    return identity.id


def _count_identities() -> int:
    return db.session.query(SendingIdentity).count()


# ---- the API -----------------------------------------------------------------------------------


def test_an_identity_is_added_listed_shown_changed_and_removed_through_the_api(api, conforms, workspace):
    domain = _domain(workspace)
    made = conforms(
        api.post(
            "/identities",
            json={
                "domain_id": domain.id,
                "email": "marketing",
                "display_name": "Acme News",
                "reply_to": "Help@Acme.example.org",
            },
        ),
        "Identity",
        201,
    )
    assert made["email"] == f"marketing@{DOMAIN}" and made["display_name"] == "Acme News"
    assert (
        made["reply_to"] == "help@acme.example.org" and made["domain"] == DOMAIN and made["domain_status"] == "pending"
    )
    full = api.post(
        "/identities", json={"domain_id": domain.id, "email": f"NoReply@{DOMAIN.upper()}", "display_name": "Acme"}
    )
    assert conforms(full, "Identity", 201)["email"] == f"noreply@{DOMAIN}" and full.json["reply_to"] is None

    listed = conforms(api.get("/identities"), "IdentityPage")
    assert [i["email"] for i in listed["items"]] == [f"marketing@{DOMAIN}", f"noreply@{DOMAIN}"]
    assert conforms(api.get(f"/identities?domain_id={domain.id}"), "IdentityPage")["total"] == 2
    assert conforms(api.get(f"/identities?domain_id={domain.id + 1000}"), "IdentityPage")["total"] == 0
    assert conforms(api.get(f"/identities/{made['id']}"), "Identity") == made

    changed = conforms(
        _patch(api, f"/identities/{made['id']}", {"display_name": "Acme Weekly", "reply_to": None}), "Identity"
    )
    assert changed["display_name"] == "Acme Weekly" and changed["reply_to"] is None
    assert changed["email"] == made["email"]

    assert api.delete(f"/identities/{made['id']}").status_code == 204
    assert api.get(f"/identities/{made['id']}").status_code == 404
    assert conforms(api.get("/identities"), "IdentityPage")["total"] == 1


def test_bad_identities_are_refused_naming_the_field_and_nothing_is_stored(api, workspace, make_workspace):
    domain = _domain(workspace)
    other_ws = make_workspace("Globex", "owner@globex.example.net")
    theirs = _domain(other_ws, "mail.globex.example.net")
    good = {"domain_id": domain.id, "email": "marketing", "display_name": "Acme News"}

    # An address on another domain, or none at all.
    assert "email" in _fields(api.post("/identities", json={**good, "email": "news@elsewhere.example.net"}))
    assert "email" in _fields(api.post("/identities", json={**good, "email": f"news@sub.{DOMAIN}"}))
    assert "email" in _fields(api.post("/identities", json={**good, "email": "not an address"}))
    # Header injection: a line break in the display name or the address would start a header of its own.
    assert "display_name" in _fields(
        api.post("/identities", json={**good, "display_name": "Acme\r\nBcc: all@x.example.net"})
    )
    assert "display_name" in _fields(api.post("/identities", json={**good, "display_name": "Acme\u2028News"}))
    assert "email" in _fields(api.post("/identities", json={**good, "email": "news\r\nBcc: all@x.example.net"}))
    assert "display_name" in _fields(api.post("/identities", json={**good, "display_name": "   "}))
    assert "display_name" in _fields(api.post("/identities", json={**good, "display_name": "x" * 201}))
    assert "reply_to" in _fields(api.post("/identities", json={**good, "reply_to": "help@"}))
    # Another workspace's domain is not one of ours: nothing of theirs is revealed or touched.
    assert "domain_id" in _fields(api.post("/identities", json={**good, "domain_id": theirs.id}))
    assert _count_identities() == 0

    first = api.post("/identities", json=good)
    assert first.status_code == 201
    again = api.post("/identities", json={**good, "email": f"Marketing@{DOMAIN}", "display_name": "Other"})
    assert "already" in again.json["error"]["message"] and "email" in _fields(again)
    assert "email" in _fields(_patch(api, f"/identities/{first.json['id']}", {"email": "news@elsewhere.example.net"}))
    assert _count_identities() == 1

    # Another workspace's identity answers 404, for every verb.
    other = create_identity(other_ws.id, theirs.id, "news", "Globex")
    db.session.commit()
    assert api.get(f"/identities/{other.id}").status_code == 404
    assert _patch(api, f"/identities/{other.id}", {"display_name": "Mine now"}).status_code == 404
    assert api.delete(f"/identities/{other.id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(SendingIdentity, other.id).display_name == "Globex"


def test_identities_are_documented_in_the_openapi_document(document):
    paths = document["paths"]
    assert set(paths["/identities"]) == {"get", "post"}
    assert set(paths["/identities/{identity_id}"]) == {"get", "patch", "delete"}
    create = document["components"]["schemas"]["IdentityCreate"]
    assert set(create["required"]) == {"domain_id", "email", "display_name"}
    assert "identity_id" in document["components"]["schemas"]["CampaignCreate"]["properties"]
    assert "identity_id" in document["components"]["schemas"]["TemplateCreate"]["properties"]
    assert any(t["name"] == "Identities" for t in document["tags"])


# ---- campaigns ---------------------------------------------------------------------------------


def test_a_campaign_created_with_an_identity_sends_with_its_from_and_reply_to_signed_by_its_domain(
    api, conforms, workspace, smtp_sink, worker
):
    domain, _ = create_signing_domain(workspace, "news.example.com", "h1", "verified")
    identity = create_identity(workspace.id, domain.id, "marketing", "Acme News", "help@example.com")
    camp = smtp_campaign(workspace, smtp_sink, [{"email": "ann@example.com", "name": "Ann"}], identity_id=identity.id)
    assert (camp.from_name, camp.from_email, camp.reply_to) == (
        "Acme News",
        "marketing@news.example.com",
        "help@example.com",
    )

    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    [got] = smtp_sink.messages
    msg = got["message"]
    assert msg["From"].addresses[0].display_name == "Acme News"
    assert msg["From"].addresses[0].addr_spec == "marketing@news.example.com"
    assert msg["Reply-To"].addresses[0].addr_spec == "help@example.com"
    assert "d=news.example.com" in " ".join(str(msg["DKIM-Signature"]).split())

    shown = conforms(api.get(f"/campaigns/{camp.id}"), "Campaign")
    assert shown["identity_id"] == identity.id and shown["from_email"] == "marketing@news.example.com"


def test_the_api_copies_an_identity_into_a_campaign_and_a_typed_from_replaces_it(
    api, conforms, workspace, make_workspace
):
    domain = _domain(workspace)
    identity = create_identity(workspace.id, domain.id, "marketing", "Acme News", "help@acme.example.org")
    support = create_identity(workspace.id, domain.id, "support", "Acme Support")
    tpl = create_template(workspace.id)
    db.session.commit()  # before the request: SQLite has one writer at a time
    lst = api.post("/lists", json={"name": "Customers"}).json
    base = {"name": "Spring", "template_id": tpl.id, "list_ids": [lst["id"]]}

    # No From at all: an identity or a typed From is needed.
    assert {"from_name", "from_email"} <= set(_fields(api.post("/campaigns", json=base)))
    made = conforms(api.post("/campaigns", json={**base, "identity_id": identity.id}), "Campaign", 201)
    assert (made["from_name"], made["from_email"], made["reply_to"]) == (
        "Acme News",
        f"marketing@{DOMAIN}",
        "help@acme.example.org",
    )
    assert made["identity_id"] == identity.id

    switched = conforms(_patch(api, f"/campaigns/{made['id']}", {"identity_id": support.id}), "Campaign")
    assert (switched["from_name"], switched["from_email"], switched["reply_to"]) == (
        "Acme Support",
        f"support@{DOMAIN}",
        None,
    )
    typed = conforms(_patch(api, f"/campaigns/{made['id']}", {"from_email": "news@shop.example.net"}), "Campaign")
    assert (
        typed["identity_id"] is None
        and typed["from_email"] == "news@shop.example.net"
        and typed["from_name"] == "Acme Support"
    )

    stranger = _stranger_identity(make_workspace)
    assert "identity_id" in _fields(api.post("/campaigns", json={**base, "identity_id": stranger}))
    assert "identity_id" in _fields(_patch(api, f"/campaigns/{made['id']}", {"identity_id": stranger}))


def test_the_campaign_form_offers_identities_grouped_by_domain_and_fills_the_from(client, workspace):
    domain = _domain(workspace)
    verified, _ = create_signing_domain(workspace, "mail.acme.example.org", "h1", "verified")
    create_identity(workspace.id, verified.id, "news", "Acme Mail")
    identity = create_identity(workspace.id, domain.id, "marketing", "Acme <News>", "help@acme.example.org")
    tpl = create_template(workspace.id)
    lst = create_list(workspace.id)
    db.session.commit()

    page = client.get("/campaigns/new").get_data(as_text=True)
    assert f'<optgroup label="{DOMAIN} · pending (not DKIM-signed)">' in page
    assert '<optgroup label="mail.acme.example.org · verified">' in page
    assert "Acme &lt;News&gt; &lt;marketing@news.acme.example.org&gt;" in page and "Acme <News>" not in page
    assert 'data-show-if="identity_id="' in page and "Type a From address" in page

    token = _csrf(client, "/campaigns/new")
    form = {"name": "Spring", "template_id": str(tpl.id), "list_ids": str(lst.id), "csrf_token": token}
    form["identity_id"] = str(identity.id)
    resp = client.post("/campaigns/new", data={**form, "from_name": "", "from_email": "", "reply_to": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    camp = db.session.query(Campaign).one()
    assert (camp.identity_id, camp.from_email, camp.from_name, camp.reply_to) == (
        identity.id,
        f"marketing@{DOMAIN}",
        "Acme <News>",
        "help@acme.example.org",
    )
    edit = client.get(f"/campaigns/{camp.id}/edit").get_data(as_text=True)
    assert f'<option value="{identity.id}" data-from_name=' in edit and "selected>" in edit

    # Typing a From instead: no identity.
    resp = client.post(
        f"/campaigns/{camp.id}/edit",
        data={**form, "identity_id": "", "from_name": "Acme", "from_email": "hi@acme.example.org"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    camp = db.session.get(Campaign, camp.id)
    assert camp.identity_id is None and camp.from_email == "hi@acme.example.org"


def test_an_unverified_from_domain_is_flagged_on_the_campaign_page_until_it_verifies(
    client, workspace, smtp_sink, dns_server
):
    domain = _domain(workspace)
    identity = create_identity(workspace.id, domain.id, "news", "Acme News")
    camp = smtp_campaign(workspace, smtp_sink, [{"email": "ann@example.com"}], identity_id=identity.id)

    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="sender-unverified"' in page
    assert f"<strong>news@{DOMAIN}</strong> is not on a verified sending domain: mail is not DKIM-signed" in page
    assert "may fail DMARC" in page and f'href="/domains/{domain.id}"' in page
    assert "not DKIM-signed</span>" in page and f"identity news@{DOMAIN}" in page

    # A From on a domain the workspace has not added at all: the link goes to Domains.
    other = smtp_campaign(workspace, smtp_sink, [{"email": "bob@example.com"}], list_name="Other")
    flagged = client.get(f"/campaigns/{other.id}").get_data(as_text=True)
    assert "news@shop.example.com</strong> is not on a verified sending domain" in flagged
    assert 'href="/domains/"' in flagged

    _publish(dns_server, domain)
    token = _csrf(client, f"/domains/{domain.id}")
    verified = client.post(f"/domains/{domain.id}/verify", data={"csrf_token": token}, follow_redirects=True)
    assert "is verified" in verified.get_data(as_text=True)
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="sender-unverified"' not in page and "is not on a verified sending domain" not in page
    assert "DKIM-signed</span>" in page and "not DKIM-signed" not in page


def test_a_draft_whose_identity_changed_says_so_and_takes_the_change_when_saved_again(
    api, client, workspace, smtp_sink
):
    domain, _ = create_signing_domain(workspace, DOMAIN, "h1", "verified")
    identity = create_identity(workspace.id, domain.id, "news", "Acme News")
    camp = smtp_campaign(workspace, smtp_sink, [{"email": "ann@example.com"}], identity_id=identity.id)
    assert 'id="sender-stale"' not in client.get(f"/campaigns/{camp.id}").get_data(as_text=True)

    assert _patch(api, f"/identities/{identity.id}", {"display_name": "Acme Weekly"}).status_code == 200
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="sender-stale"' in page and "now Acme Weekly" in page
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).from_name == "Acme News"  # copied when chosen

    assert _patch(api, f"/campaigns/{camp.id}", {"name": "Spring again"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).from_name == "Acme Weekly"
    assert 'id="sender-stale"' not in client.get(f"/campaigns/{camp.id}").get_data(as_text=True)

    # Removing the identity leaves the campaign its From.
    assert api.delete(f"/identities/{identity.id}").status_code == 204
    db.session.expire_all()
    kept = db.session.get(Campaign, camp.id)
    assert kept.identity_id is None and kept.from_email == f"news@{DOMAIN}"


# ---- transactional templates -------------------------------------------------------------------


def test_a_transactional_send_of_a_template_uses_its_identity_unless_the_call_gives_a_from(
    api, conforms, workspace, make_workspace, smtp_sink, worker
):
    create_smtp_provider(workspace.id, smtp_sink.port)
    domain, _ = create_signing_domain(workspace, "mail.example.com", "h1", "verified")
    identity = create_identity(workspace.id, domain.id, "noreply", "Acme Accounts", "support@example.com")
    db.session.commit()
    body = {"name": "Password reset", "subject": "Your code", "body_html": RESET_HTML, "category": "transactional"}
    tpl = conforms(api.post("/templates", json={**body, "identity_id": identity.id}), "Template", 201)
    assert tpl["identity_id"] == identity.id

    sent = api.post("/messages", json={"template": "password-reset", "to": "ann@example.com", "context": {"code": "1"}})
    assert sent.status_code == 202, sent.json
    assert sent.json["from_email"] == "noreply@mail.example.com" and sent.json["reply_to"] == "support@example.com"
    typed = api.post(
        "/messages",
        json={
            "template": tpl["id"],
            "to": "bob@example.com",
            "from_email": "shop@shop.example.com",
            "context": {"code": "2"},
        },
    )
    assert typed.status_code == 202 and typed.json["from_email"] == "shop@shop.example.com"
    worker()
    by_to = {m["rcpt_tos"][0]: m["message"] for m in smtp_sink.messages}
    ann = by_to["ann@example.com"]
    assert ann["From"].addresses[0].display_name == "Acme Accounts"
    assert ann["From"].addresses[0].addr_spec == "noreply@mail.example.com"
    assert ann["Reply-To"].addresses[0].addr_spec == "support@example.com"
    assert "d=mail.example.com" in " ".join(str(ann["DKIM-Signature"]).split())
    assert by_to["bob@example.com"]["From"].addresses[0].addr_spec == "shop@shop.example.com"
    assert db.session.query(Message).filter_by(status="sent").count() == 2

    # Another workspace's identity is not a choice; PATCH changes it; PUT without it clears it.
    stranger = _stranger_identity(make_workspace)
    assert "identity_id" in _fields(_patch(api, f"/templates/{tpl['id']}", {"identity_id": stranger}))
    assert "identity_id" in _fields(api.post("/templates", json={**body, "name": "Other", "identity_id": stranger}))
    replaced = conforms(api.put(f"/templates/{tpl['id']}", json=body), "Template")
    assert replaced["identity_id"] is None


def test_the_template_form_offers_the_identity_for_transactional_sends(client, workspace):
    domain = _domain(workspace)
    identity = create_identity(workspace.id, domain.id, "noreply", "Acme Accounts")
    db.session.commit()
    page = client.get("/templates/new").get_data(as_text=True)
    assert (
        'data-show-if="category=transactional"' in page
        and "Acme Accounts &lt;noreply@news.acme.example.org&gt;" in page
    )

    token = _csrf(client, "/templates/new")
    form = {"name": "Reset", "subject": "Your code", "body_html": RESET_HTML, "category": "transactional"}
    resp = client.post("/templates/new", data={**form, "identity_id": str(identity.id), "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    tpl = db.session.query(Template).one()
    assert tpl.identity_id == identity.id
    assert f'<option value="{identity.id}" selected>' in client.get(resp.headers["Location"]).get_data(as_text=True)
    bad = client.post(f"/templates/{tpl.id}/edit", data={**form, "identity_id": "999999", "csrf_token": token})
    assert bad.status_code == 422 and "sending identities" in bad.get_data(as_text=True)


# ---- the domain page ---------------------------------------------------------------------------


def test_the_domain_page_lists_adds_and_removes_identities_and_escapes_what_was_typed(
    client, workspace, make_workspace
):
    domain = _domain(workspace)
    page = client.get(f"/domains/{domain.id}").get_data(as_text=True)
    assert 'id="identities"' in page and "No identities yet" in page and f"@{DOMAIN}</span>" in page
    token = _csrf(client, f"/domains/{domain.id}")
    url = f"/domains/{domain.id}/identities"

    hostile = "<script>alert(1)</script> News"
    resp = client.post(url, data={"email": "marketing", "display_name": hostile, "reply_to": "", "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/domains/{domain.id}#identities")
    page = client.get(f"/domains/{domain.id}").get_data(as_text=True)
    assert f"marketing@{DOMAIN}" in page and "&lt;script&gt;alert(1)&lt;/script&gt; News" in page
    assert "<script>alert(1)" not in page

    wrong = client.post(url, data={"email": "news@elsewhere.example.net", "display_name": "A", "csrf_token": token})
    assert wrong.status_code == 422 and f"Use an address @{DOMAIN}." in wrong.get_data(as_text=True)
    injected = client.post(
        url, data={"email": "support", "display_name": "A\r\nBcc: x@y.example.net", "csrf_token": token}
    )
    assert injected.status_code == 422 and "must be one line" in injected.get_data(as_text=True)
    duplicate = client.post(url, data={"email": "Marketing", "display_name": "Again", "csrf_token": token})
    assert duplicate.status_code == 422 and "already an identity" in duplicate.get_data(as_text=True)
    assert _count_identities() == 1

    identity = db.session.query(SendingIdentity).one()
    removed = client.post(f"{url}/{identity.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert f"marketing@{DOMAIN} removed" in removed.get_data(as_text=True) and _count_identities() == 0

    # Another workspace's domain: 404, and nothing is added to it.
    theirs = _domain(make_workspace("Globex", "owner@globex.example.net"), "mail.globex.example.net")
    stranger = client.post(
        f"/domains/{theirs.id}/identities", data={"email": "x", "display_name": "X", "csrf_token": token}
    )
    assert stranger.status_code == 404 and _count_identities() == 0
