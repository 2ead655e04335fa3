"""A person's data on request: the export holds everything, erasure leaves nothing that names them on any
page or API answer while every figure still adds up, and an erased address never comes back; the
subscriber API's PATCH, unsubscribe and delete; other workspaces' ids answer 404."""

import hashlib
import io
import json
import re
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    AuditEntry,
    CampaignRecipient,
    CaughtMessage,
    Event,
    InboundMessage,
    Subscriber,
    Suppression,
    WebhookDelivery,
    WebhookPayload,
)
from app.services.audience import contacts, preferences, privacy, suppression, tags
from app.services.campaigns import lifecycle
from app.services.events import tracking
from app.services.outbound_webhooks import endpoints
from tests.factories import create_list, create_provider, create_template, smtp_campaign
from tests.import_support import import_through_pages
from tests.integration.test_engagement import HTML, _hit, _urls
from tests.webhook_support import SENDGRID_KEY, carried_by, post_sendgrid, public_key_b64, sendgrid_event

PERSON = {"email": "zelda.quinn@example.org", "name": "Zelda Quinn", "timezone": "Europe/Paris",
          "attributes": {"plan": "gold", "city": "Lyon", "first_name": "Zelda"}}  # fmt: skip
OTHER = {"email": "bob.other@example.org", "name": "Bob Other"}
# However the person could show up: the address as stored, typed, URL-encoded; the name; the first name.
NEEDLES = ("zelda.quinn@example.org", "zelda.quinn%40example.org", "zelda.quinn", "zelda quinn", "zelda")
RECEIPT = ('<p>Hi {{ subscriber.name }}, <a href="https://shop.example.com/receipt?for={{ subscriber.email }}">'
           "your receipt</a> · <a href=\"https://shop.example.com/help\">help</a></p>")  # fmt: skip


def csrf(client, path="/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def person() -> Subscriber:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.name == PERSON["name"])) or db.session.scalar(
        select(Subscriber).where(Subscriber.email.like("erased-%"))
    )


def assert_nowhere(where: str, text) -> None:
    text = (text if isinstance(text, str) else json.dumps(text)).lower()
    found = [needle for needle in NEEDLES if needle in text]
    assert not found, f"{where} still shows {found}: …{text[max(0, text.find(found[0]) - 200) :][:400]}…"


def _world(workspace, smtp_sink, worker, app, api, httpserver):
    """The person received a campaign and a receipt, opened, clicked, ordered, was reported on by the
    provider, replied; they are on a list, tagged, have a preference, a note on the suppression list."""
    httpserver.expect_request("/hooks").respond_with_data("ok")
    endpoints.create_endpoint(workspace.id, httpserver.url_for("/hooks"))
    camp = smtp_campaign(workspace, smtp_sink, [PERSON, OTHER], template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    web = app.test_client()
    pixel, links = _urls(html[PERSON["email"]])
    _hit(web, pixel, ip="198.51.100.23")
    _hit(web, links[0], ip="198.51.100.23")
    _hit(web, _urls(html[OTHER["email"]])[0], ip="203.0.113.99")
    tracking.process_hits()
    db.session.commit()

    assert api.post("/orders", json={"external_id": "SO-1", "email": PERSON["email"], "amount": "19.90",
                                     "currency": "EUR"}).status_code == 201  # fmt: skip
    receipt = create_template(workspace.id, "Your receipt, {{ subscriber.name }}", RECEIPT, "Receipt",
                              category="transactional")  # fmt: skip
    db.session.commit()
    sent = api.post("/messages", json={"template": receipt.id, "to": PERSON["email"], "from_email": "shop@shop.example.com",
                                       "track_clicks": True, "context": {"note": "for Zelda Quinn"}})  # fmt: skip
    assert sent.status_code == 202, sent.json
    worker()
    mail = smtp_sink.messages[-1]["message"].get_body(("html",)).get_content()
    tracked = re.findall(r'href="https?://[^/"]+(/t/m/c/[^"]+)"', mail)
    _hit(web, tracked[0], ip="198.51.100.23")  # the receipt link that names them

    sendgrid = create_provider(workspace.id, "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)})
    db.session.commit()
    carried_by(camp.id, sendgrid.id)
    rec = {"id": _recipient_id(camp.id, PERSON["email"]), "email": PERSON["email"], "message_id": "<m1@x>"}
    events = [sendgrid_event("delivered", rec, camp.id, response="250 OK for zelda.quinn@example.org"),
              sendgrid_event("open", rec, camp.id, useragent="Mozilla/5.0 (iPhone)", ip="198.51.100.23")]  # fmt: skip
    assert post_sendgrid(web, sendgrid.id, events).status_code == 200
    worker()

    sub = person()
    tags.add_tags(workspace.id, sub.id, ["vip"])
    promotions = preferences.create_category(workspace.id, "Promotions")
    preferences.set_preferences(workspace.id, sub.id, {promotions.id: {"frequency": "weekly"}})
    contacts.suppress_address(workspace.id, PERSON["email"], "manual", "Zelda Quinn asked by phone", source="dashboard")
    db.session.add(CaughtMessage(workspace_id=workspace.id, mail_from="news@shop.example.com", rcpt_to=PERSON["email"],
                                 subject="Hello Zelda Quinn", raw=b"To: zelda.quinn@example.org\r\n\r\nHello Zelda Quinn"))  # fmt: skip
    db.session.add(InboundMessage(workspace_id=workspace.id, campaign_id=camp.id, recipient_id=rec["id"], kind="reply",
                                  mail_from=PERSON["email"], rcpt_to="bounces@shop.example.com",
                                  from_header="Zelda Quinn <zelda.quinn@example.org>", subject="Re: hello",
                                  raw=b"From: Zelda Quinn <zelda.quinn@example.org>\r\n\r\nThanks!"))  # fmt: skip
    db.session.commit()
    return camp, sub.id, sendgrid, sent.json["id"]


def _recipient_id(campaign_id: int, email: str) -> int:
    return db.session.scalar(
        select(CampaignRecipient.id).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.email == email
        )
    )


def test_the_export_holds_everything_and_erasure_leaves_no_trace_while_figures_add_up(
    workspace, smtp_sink, worker, app, api, client, conforms, httpserver
):
    camp, sid, sendgrid, message_id = _world(workspace, smtp_sink, worker, app, api, httpserver)

    # The export: one document with everything, from the API and from the subscriber page.
    doc = conforms(api.get(f"/subscribers/{sid}/export"), "SubscriberExport")
    assert doc["profile"]["email"] == PERSON["email"] and doc["profile"]["name"] == "Zelda Quinn"
    assert doc["profile"]["attributes"]["plan"] == "gold" and doc["profile"]["timezone"] == "Europe/Paris"
    assert [lst["name"] for lst in doc["lists"]] == ["Customers"] and doc["tags"] == ["vip"]
    assert [(p["category"], p["frequency"]) for p in doc["preferences"]] == [("Promotions", "weekly")]
    assert [(s["reason"], s["source"]) for s in doc["suppressions"]] == [("manual", "dashboard")]
    (received,) = doc["campaigns"]
    assert received["campaign"] == "Spring" and received["opened_at"] and received["clicked_at"]
    assert [m["subject"] for m in doc["messages"]] == ["Your receipt, Zelda Quinn"]
    kinds = {e["type"] for e in doc["events"]}
    assert {"open", "click", "delivery"} <= kinds
    assert any(e["ip"] == "198.51.100.23" for e in doc["events"])
    assert [(o["external_id"], o["amount"], o["currency"]) for o in doc["orders"]] == [("SO-1", "19.90", "EUR")]
    download = client.get(f"/subscribers/{sid}/export.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert json.loads(download.get_data())["profile"]["email"] == PERSON["email"]
    assert 'href="/subscribers/%d/export.json"' % sid in client.get(f"/subscribers/{sid}").get_data(as_text=True)

    stats_before = api.get(f"/campaigns/{camp.id}").json["stats"]
    events_before = db.session.scalar(select(func.count()).select_from(Event))
    other_ips = set(db.session.scalars(select(Event.ip).where(Event.email == OTHER["email"])))
    assert other_ips == {"203.0.113.99"}

    # Erase, from the subscriber page's button (its confirm dialog says what happens).
    page = client.get(f"/subscribers/{sid}").get_data(as_text=True)
    assert "Erase personal data" in page and "cannot be undone" in page
    erased = client.post(f"/subscribers/{sid}/erase", data={"csrf_token": csrf(client, f"/subscribers/{sid}")})
    assert erased.status_code == 302
    anon = privacy.erased_address(sid)
    shown = conforms(api.get(f"/subscribers/{sid}"), "Subscriber")
    assert (shown["email"], shown["name"], shown["status"], shown["attributes"], shown["timezone"]) == (
        anon, None, "unsubscribed", {}, None)  # fmt: skip

    # Nothing any API answer or page shows names them.
    wd = db.session.scalar(select(WebhookDelivery.endpoint_id))
    assert wd is not None, "the events went out as webhooks too"
    payload_ids = db.session.scalars(select(WebhookPayload.id)).all()
    answers = {
        "API subscriber": api.get(f"/subscribers/{sid}").json,
        "API subscribers": api.get("/subscribers?per_page=200").json,
        "API export": api.get(f"/subscribers/{sid}/export").json,
        "API recipients": api.get(f"/campaigns/{camp.id}/recipients?per_page=200").json,
        "API campaign": api.get(f"/campaigns/{camp.id}").json,
        "API deliveries by message": api.get(f"/deliveries?message_id={quote(_mid(camp.id, sid))}").json,
        "API messages": api.get("/messages").json,
        "API message": api.get(f"/messages/{message_id}").json,
        "API orders": api.get(f"/orders/{_order_id()}").json,
        "API suppressions": api.get("/suppressions?per_page=200").json,
        "page subscribers": client.get("/subscribers/").get_data(as_text=True),
        "page subscriber": client.get(f"/subscribers/{sid}").get_data(as_text=True),
        "page campaign": client.get(f"/campaigns/{camp.id}").get_data(as_text=True),
        "page insights": client.get(f"/campaigns/{camp.id}/insights").get_data(as_text=True),
        "page deliveries": client.get(f"/deliveries/?q={quote(_mid(camp.id, sid))}").get_data(as_text=True),
        "page messages": client.get("/messages/").get_data(as_text=True),
        "page message": client.get(f"/messages/{message_id}").get_data(as_text=True),
        "page outbox": client.get("/outbox/").get_data(as_text=True),
        "page suppressions": client.get("/suppressions/").get_data(as_text=True),
        "page suppressions CSV": client.get("/suppressions/export.csv").get_data(as_text=True),
        "page audit log": client.get("/settings/audit-log/").get_data(as_text=True),
        "page webhook log": client.get(f"/settings/webhooks/{wd}/log").get_data(as_text=True),
        "page provider": client.get(f"/providers/{sendgrid.id}").get_data(as_text=True),
        **{
            f"page payload {p}": client.get(f"/providers/{sendgrid.id}/webhooks/{p}").get_data(as_text=True)
            for p in payload_ids
        },  # fmt: skip
    }
    for where, text in answers.items():
        assert_nowhere(where, text)
    assert api.get(f"/subscribers?email={PERSON['email']}").json["total"] == 0
    assert api.get(f"/deliveries?email={PERSON['email']}").json["items"] == []
    assert client.get(f"/messages/?to={PERSON['email']}").status_code == 200

    # ...nor anything stored that a page could show tomorrow.
    db.session.expire_all()
    assert_nowhere("events", [(e.email, e.ip, e.user_agent, e.data) for e in db.session.scalars(
        select(Event).where(Event.email != OTHER["email"]))])  # fmt: skip
    assert_nowhere("webhook deliveries", [d.payload for d in db.session.scalars(select(WebhookDelivery))])
    assert_nowhere("webhook payloads", [bytes(p.body).decode() for p in db.session.scalars(select(WebhookPayload))])
    assert db.session.scalar(select(func.count()).select_from(CaughtMessage)) == 0
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 0
    digest = hashlib.sha256(PERSON["email"].encode()).hexdigest()
    assert [(s.email, s.reason, s.source, s.email_hash, s.detail) for s in db.session.scalars(select(Suppression))] == [
        (f"erased:{digest}", "erased", "erasure", digest, None)
    ]
    assert tags.tags_of(sid) == [] and contacts.subscriber_list_ids(sid) == []
    assert preferences.subscriber_preferences(workspace.id, sid)[0].frequency == "immediate"  # back to the default

    # The figures still add up, and the other person is untouched.
    assert api.get(f"/campaigns/{camp.id}").json["stats"] == stats_before
    assert db.session.scalar(select(func.count()).select_from(Event)) == events_before
    assert set(db.session.scalars(select(Event.ip).where(Event.email == OTHER["email"]))) == {"203.0.113.99"}
    assert api.get(f"/subscribers?email={OTHER['email']}").json["items"][0]["name"] == "Bob Other"

    logged = db.session.execute(
        select(AuditEntry.action, AuditEntry.subject_id, AuditEntry.detail).where(
            AuditEntry.action.in_(("subscriber.export", "subscriber.erase"))
        )
    ).all()
    # Two exports before (API, download), the erasure, the export the sweep above asked for.
    assert [a for a, _, _ in logged] == [
        "subscriber.export",
        "subscriber.export",
        "subscriber.erase",
        "subscriber.export",
    ]
    assert all(subject == sid for _, subject, _ in logged)
    assert_nowhere("audit", [d for _, _, d in logged])

    # Erasing twice changes nothing; the erased person cannot be changed back.
    again = conforms(api.post(f"/subscribers/{sid}/erase"), "Subscriber")
    assert again["email"] == anon
    assert api.c.patch(f"/api/v1/subscribers/{sid}", json={"status": "active"}, headers=api.h).status_code == 409
    assert conforms(api.post(f"/subscribers/{sid}/unsubscribe"), "Subscriber")["status"] == "unsubscribed"
    assert "Subscribe again" not in client.get(f"/subscribers/{sid}").get_data(as_text=True)


def _mid(campaign_id: int, subscriber_id: int) -> str:
    return db.session.scalar(
        select(CampaignRecipient.message_id).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.subscriber_id == subscriber_id
        )
    )


def _order_id() -> int:
    from app.models import Order

    return db.session.scalar(select(Order.id).where(Order.external_id == "SO-1"))


def test_an_erased_address_is_never_added_or_imported_again(workspace, api, client, count_queries):
    sub = contacts.add_subscriber(workspace.id, "Gone@Example.com", "Gone Person")
    lst = create_list(workspace.id, "News")
    db.session.commit()
    privacy.erase_subscriber(workspace.id, sub.id)
    db.session.commit()

    refused = api.post("/subscribers", json={"email": "gone@example.com"})
    assert refused.status_code == 409 and "erased on request" in refused.json["error"]["message"]
    page = client.post("/subscribers/new", data={"csrf_token": csrf(client), "email": "GONE@example.com"})
    assert page.status_code == 422 and "Erased on request" in page.get_data(as_text=True)

    rows = [{"email": "fresh@example.com"}, {"email": "gone@example.com", "name": "Back Again"}]
    summary = api.post("/subscribers/import", json={"rows": rows, "list_ids": [lst.id]}).json
    assert summary["created"] == 1
    assert summary["errors"] == [{"row": 2, "error": "Not imported: this address was erased on request."}]
    upload = import_through_pages(client, csrf(client), b"email,name\nother@example.com,O\nGone@example.com,G\n")
    text = upload.get_data(as_text=True)
    assert re.search(r"<td>3</td><td>Not imported: this address was erased on request.</td>", text), text[-3000:]
    emails = set(db.session.scalars(select(Subscriber.email)))
    assert emails == {privacy.erased_address(sub.id), "fresh@example.com", "other@example.com"}

    # The check is set-based: a large import costs the same few statements, erased person or not.
    big = [{"email": f"bulk{i}@example.com"} for i in range(3000)] + [{"email": "gone@example.com"}]
    with count_queries() as n:
        result = contacts.import_subscribers(workspace.id, big)
    assert result.created == 3000 and result.errors[-1]["row"] == 3002 and n() < 30, n()
    db.session.commit()

    # Taking the erased entry off the suppression list (on the person's new consent) lets them back.
    sup = db.session.scalar(select(Suppression).where(Suppression.reason == "erased"))
    assert api.delete(f"/suppressions/{sup.id}").status_code == 204
    assert api.post("/subscribers", json={"email": "gone@example.com"}).status_code == 201


def test_other_workspaces_ids_answer_404_everywhere(workspace, api, client, make_workspace):
    rival = make_workspace("Rival", "rival@example.com")
    theirs = contacts.add_subscriber(rival.id, "theirs@example.com", "Their Person")
    db.session.commit()
    for method, path in [("get", "/export"), ("post", "/erase"), ("post", "/unsubscribe"), ("delete", "")]:
        r = getattr(api, method)(f"/subscribers/{theirs.id}{path}")
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found", (method, path)
    assert api.c.patch(f"/api/v1/subscribers/{theirs.id}", json={"name": "x"}, headers=api.h).status_code == 404
    token = csrf(client)
    assert client.get(f"/subscribers/{theirs.id}/export.json").status_code == 404
    assert client.post(f"/subscribers/{theirs.id}/erase", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    kept = db.session.get(Subscriber, theirs.id)
    assert (kept.email, kept.name, kept.erased_at) == ("theirs@example.com", "Their Person", None)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.workspace_id == workspace.id,
                                                                                AuditEntry.action.like("subscriber.%"))) == 0  # fmt: skip


# The subscriber API ------------------------------------------------------------------------------


def patch(api, sid, body):
    return api.c.patch(f"/api/v1/subscribers/{sid}", json=body, headers=api.h)


def test_patch_changes_only_what_it_names(workspace, api, conforms, make_workspace):
    news, offers = create_list(workspace.id, "News"), create_list(workspace.id, "Offers")
    sub = contacts.add_subscriber(workspace.id, "pat@example.com", "Pat", {"plan": "free", "city": "Oslo"}, [news.id])
    db.session.commit()

    changed = patch(api, sub.id, {"attributes": {"plan": "gold", "city": None, "size": 42}, "timezone": "Asia/Tokyo"})
    body = conforms(changed, "Subscriber")
    assert body["attributes"] == {"plan": "gold", "size": 42} and body["timezone"] == "Asia/Tokyo"
    assert body["name"] == "Pat" and body["lists"] == [news.id]
    body = conforms(patch(api, sub.id, {"name": "  Pat   Lee ", "list_ids": [offers.id, offers.id]}), "Subscriber")
    assert body["name"] == "Pat Lee" and body["lists"] == [offers.id] and body["attributes"]["plan"] == "gold"
    assert conforms(patch(api, sub.id, {"timezone": None, "list_ids": []}), "Subscriber")["lists"] == []

    # Status: unsubscribe (source api), and back, only as the rules allow.
    assert conforms(patch(api, sub.id, {"status": "unsubscribed"}), "Subscriber")["status"] == "unsubscribed"
    assert db.session.scalar(select(Suppression.source).where(Suppression.email == "pat@example.com")) == "api"
    assert conforms(patch(api, sub.id, {"status": "active"}), "Subscriber")["status"] == "active"
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
    bounced = contacts.add_subscriber(workspace.id, "bounced@example.com")
    bounced.status = "bounced"
    pending = contacts.add_subscriber(workspace.id, "pending@example.com")
    pending.status = "pending"
    db.session.commit()
    for sid, status in ((bounced.id, "active"), (bounced.id, "unsubscribed"), (pending.id, "active")):
        r = patch(api, sid, {"status": status})
        assert r.status_code == 409 and r.json["error"]["message"], (sid, status)
    assert conforms(patch(api, pending.id, {"status": "unsubscribed"}), "Subscriber")["status"] == "unsubscribed"

    rival = make_workspace("Rival", "rival@example.com")
    their_list = create_list(rival.id, "Theirs")
    db.session.commit()
    for body, status, field in [
        ({"status": "bounced"}, 422, "status"),
        ({"timezone": "Mars/Olympus"}, 422, "timezone"),
        ({"attributes": "plan=gold"}, 422, "attributes"),
        ({"attributes": {"": 1}}, 422, "attributes"),
        ({"name": "x" * 201}, 422, "name"),
        ({"email": "new@example.com"}, 422, "email"),
        ({"list_ids": [their_list.id]}, 404, "list_ids"),
        ({"name": "nul\x00"}, 422, "name"),
    ]:
        r = patch(api, sub.id, body)
        assert r.status_code == status, (body, r.json)
        if field:
            assert field in r.json["error"]["fields"], (body, r.json)
    assert api.get(f"/subscribers/{sub.id}").json["name"] == "Pat Lee"  # nothing half done
    assert conforms(patch(api, sub.id, {}), "Subscriber")["name"] == "Pat Lee"
    assert patch(api, 999_999, {"name": "x"}).status_code == 404


def test_unsubscribe_and_delete_through_the_api(workspace, api, conforms):
    sub = contacts.add_subscriber(workspace.id, "leave@example.com", "Lea")
    complained = contacts.add_subscriber(workspace.id, "angry@example.com")
    complained.status = "complained"
    db.session.commit()
    first = conforms(api.post(f"/subscribers/{sub.id}/unsubscribe"), "Subscriber")
    assert first["status"] == "unsubscribed" and first["unsubscribed_at"]
    assert (
        conforms(api.post(f"/subscribers/{sub.id}/unsubscribe"), "Subscriber")["unsubscribed_at"]
        == first["unsubscribed_at"]
    )
    assert conforms(api.post(f"/subscribers/{complained.id}/unsubscribe"), "Subscriber")["status"] == "complained"
    entries = db.session.execute(select(Suppression.email, Suppression.source, Suppression.detail)).all()
    assert entries == [("leave@example.com", "api", "through the API")]
    assert [s.source for s in suppression.unsubscribe_sources(workspace.id)] == ["api"]

    assert api.delete(f"/subscribers/{sub.id}").status_code == 204
    assert api.get(f"/subscribers/{sub.id}").status_code == 404
    assert api.delete(f"/subscribers/{sub.id}").status_code == 404
    (action, subject, detail) = db.session.execute(
        select(AuditEntry.action, AuditEntry.subject_id, AuditEntry.detail).where(
            AuditEntry.action == "subscriber.delete"
        )
    ).one()
    assert (subject, detail) == (sub.id, None)


@pytest.mark.parametrize("raw", ["zoë@exämple.com", "O'Brien+news@Example.com"])
def test_odd_but_valid_addresses_are_erased_too(workspace, raw):
    sub = contacts.add_subscriber(workspace.id, raw, "Odd One")
    db.session.commit()
    address = sub.email
    privacy.erase_subscriber(workspace.id, sub.id)
    db.session.commit()
    assert contacts.erased_addresses(workspace.id, [address]) == {address}
    with pytest.raises(Exception, match="erased on request"):
        contacts.add_subscriber(workspace.id, raw)
    db.session.rollback()
    result = contacts.import_subscribers(workspace.id, [{"email": raw}], first_row_number=1)
    assert result.created == 0 and result.errors[0]["row"] == 1


def test_the_export_download_is_json_even_for_hostile_values(workspace, client):
    sub = contacts.add_subscriber(workspace.id, "h@example.com", "<script>alert(1)</script>",
                                  {"=cmd": "=HYPERLINK(1)", "html": "<img src=x onerror=alert(1)>"})  # fmt: skip
    db.session.commit()
    r = client.get(f"/subscribers/{sub.id}/export.json")
    assert r.mimetype == "application/json"
    doc = json.load(io.BytesIO(r.get_data()))
    assert (
        doc["profile"]["name"] == "<script>alert(1)</script>"
        and doc["profile"]["attributes"]["=cmd"] == "=HYPERLINK(1)"
    )
    assert "<script>alert(1)</script>" not in client.get(f"/subscribers/{sub.id}").get_data(as_text=True)
