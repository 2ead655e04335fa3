"""Transactional messages (POST /api/v1/messages): one email to one person, at once, on a queue of its own —
what a shop's backend sees through the API, what arrives at a real SMTP server, and the dashboard's pages."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, Message, Suppression
from app.services.audience import contacts
from app.services.campaigns import lifecycle
from app.services.content import templates
from app.services.designs import compile_design, starters
from tests.conftest import TEMPLATE_HTML
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)

ROOT = Path(__file__).resolve().parents[2]

RESET_HTML = """<!doctype html><html><body>
<h1>Hi {{ subscriber.name or 'there' }}</h1>
<p>Your code is <b>{{ code }}</b>. Or <a href="{{ reset_url }}">choose a new password</a>.</p>
<p>Need help? <a href="https://shop.example.com/help">Contact us</a></p>
</body></html>"""


def _provider(workspace, sink, per_second=None):
    prov = create_smtp_provider(workspace.id, sink.port, max_sends_per_second=per_second)
    db.session.commit()
    return prov


def _reset_template(workspace, name="Password reset"):
    subject = "Reset your password, {{ subscriber.name or 'there' }}"
    tpl = create_template(workspace.id, subject, RESET_HTML, name, category="transactional")
    db.session.commit()
    return tpl


def _send(api, **body):
    body.setdefault("from_email", "shop@shop.example.com")
    body.setdefault("from_name", "Northwind")
    return api.post("/messages", json=body)


def _to(message) -> str:
    return message["rcpt_tos"][0]


def _html(message) -> str:
    return message["message"].get_body(("html",)).get_content()


def _text(message) -> str:
    return message["message"].get_body(("plain",)).get_content()


def _message(message_id) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


# -- Sending ------------------------------------------------------------------------------------


def test_a_message_sent_through_the_api_arrives_rendered_and_is_listed_as_sent(
    api, conforms, workspace, smtp_sink, worker
):
    _provider(workspace, smtp_sink)
    contacts.add_subscriber(workspace.id, "ann@example.com", "Ann Example")
    tpl = _reset_template(workspace)
    assert tpl.slug == "password-reset"

    resp = _send(
        api,
        template="password-reset",
        to="Ann@Example.com",
        context={"code": "481 516", "reset_url": "https://shop.example.com/reset/abc"},
    )
    accepted = conforms(resp, "Message", 202)
    assert accepted["status"] == "queued" and accepted["to"] == "ann@example.com"
    assert accepted["template_id"] == tpl.id and accepted["subscriber_id"] is not None
    assert accepted["subject"] == "Reset your password, Ann Example"
    assert smtp_sink.messages == []  # queued, not sent on the request

    worker()
    assert len(smtp_sink.messages) == 1
    got = smtp_sink.messages[0]
    assert _to(got) == "ann@example.com" and got["mail_from"] == "shop@shop.example.com"
    assert got["message"]["Subject"] == "Reset your password, Ann Example"
    assert "Northwind" in got["message"]["From"]
    html, text = _html(got), _text(got)
    assert "481 516" in html and "481 516" in text and "Hi Ann Example" in html
    assert 'href="https://shop.example.com/reset/abc"' in html  # untracked by default: the link as given
    assert "/t/m/o/" not in html and "/t/m/c/" not in html
    assert got["message"]["List-Unsubscribe"] is None  # not a bulk message

    shown = conforms(api.get(f"/messages/{accepted['id']}"), "Message")
    assert shown["status"] == "sent" and shown["sent_at"] and shown["reason"] is None
    assert shown["message_id"] == got["message"]["Message-ID"]
    # The code and the reset link open the account: once the message is out, the log forgets them.
    assert shown["context"] == {"code": "[removed after sending]", "reset_url": "[removed after sending]"}
    listed = conforms(api.get("/messages?status=sent"), "MessageSummaryPage")
    assert [m["id"] for m in listed["items"]] == [accepted["id"]] and "context" not in listed["items"][0]
    assert conforms(api.get("/messages?status=queued"), "MessageSummaryPage")["total"] == 0
    assert conforms(api.get("/messages?to=ANN@example.com"), "MessageSummaryPage")["total"] == 1
    assert conforms(api.get("/messages?to=bob@example.com"), "MessageSummaryPage")["total"] == 0


def test_a_template_is_named_by_slug_or_id_and_a_stranger_gets_the_address_only(api, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    tpl = _reset_template(workspace)
    ctx = {"code": "1", "reset_url": "https://shop.example.com/r"}
    for ref in (tpl.id, str(tpl.id), "password-reset", "Password-Reset"):
        assert _send(api, template=ref, to="new@example.com", context=ctx).status_code == 202, ref
    worker()
    assert len(smtp_sink.messages) == 4
    assert all("Hi there" in _html(m) for m in smtp_sink.messages)  # no subscriber: just the address


def test_another_workspaces_template_is_not_found_and_nothing_is_recorded(api, workspace, make_workspace, smtp_sink):
    _provider(workspace, smtp_sink)
    other = make_workspace("Other shop", "other@example.com")
    theirs = _reset_template(other, "Their reset")
    for ref in (theirs.id, "their-reset", "no-such-template", 999_999):
        resp = _send(api, template=ref, to="ann@example.com", context={})
        assert resp.status_code == 404, (ref, resp.json)
        assert resp.json["error"]["fields"] == {"template": "Not found."}
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_bad_input_answers_422_naming_the_field(api, workspace, smtp_sink):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    tpl = create_template(workspace.id, "Average", "<p>{{ total / count }}</p>", "Average", category="transactional")
    db.session.commit()
    cases = [
        ({"to": "ann@example.com"}, "template"),
        ({"template": "password-reset"}, "to"),
        ({"template": "password-reset", "to": "not an address"}, "to"),
        ({"template": "password-reset", "to": "ann@"}, "to"),
        ({"template": "", "to": "ann@example.com"}, "template"),
        ({"template": 0, "to": "ann@example.com"}, "template"),
        ({"template": True, "to": "ann@example.com"}, "template"),
        ({"template": "password-reset", "to": "ann@example.com", "context": "code=1"}, "context"),
        ({"template": "password-reset", "to": "ann@example.com", "context": {"blob": "x" * 70_000}}, "context"),
        ({"template": "password-reset", "to": "ann@example.com", "context": {"subscriber": {}}}, "context.subscriber"),
        ({"template": "password-reset", "to": "ann@example.com", "category": "marketing"}, "category"),
        ({"template": "password-reset", "to": "ann@example.com", "from_email": "nope"}, "from_email"),
        ({"template": "password-reset", "to": "ann@example.com", "surprise": 1}, "surprise"),
        ({"template": tpl.id, "to": "ann@example.com", "context": {"total": 3, "count": 0}}, "context"),
    ]
    for body, field in cases:
        resp = _send(api, **body)
        assert resp.status_code == 422, (body.keys(), resp.status_code, resp.get_data(as_text=True)[:300])
        assert field in resp.json["error"]["fields"], (field, resp.json)
        assert resp.json["error"]["message"]
    resp = api.post("/messages", json={"template": "password-reset", "to": "ann@example.com"})  # no campaign yet
    assert resp.status_code == 422 and "from_email" in resp.json["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
    assert _send(api, template="password-reset", to="ann@example.com", context={"x": 1}).status_code == 202


def test_an_unsubscribed_person_still_gets_a_reset_but_a_bounced_or_complained_address_does_not(
    api, conforms, workspace, smtp_sink, worker
):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    gone = contacts.add_subscriber(workspace.id, "gone@example.com", "Gone")
    contacts.unsubscribe(gone)
    contacts.suppress_address(workspace.id, "manual@example.com", "manual")
    contacts.suppress_address(workspace.id, "bounced@example.com", "bounced", "550 5.1.1 no such user")
    angry = contacts.add_subscriber(workspace.id, "angry@example.com", "Angry")
    angry.status = "complained"
    db.session.commit()
    ctx = {"code": "7", "reset_url": "https://shop.example.com/r"}

    for address in ("gone@example.com", "manual@example.com"):
        assert _send(api, template="password-reset", to=address, context=ctx).status_code == 202
    refused = {}
    for address, reason in (
        ("bounced@example.com", "suppressed:bounced"),
        ("angry@example.com", "suppressed:complained"),
    ):
        resp = _send(api, template="password-reset", to=address, context=ctx)
        assert resp.status_code == 422, resp.json
        assert resp.json["error"]["fields"] == {"to": reason}
        assert address in resp.json["error"]["message"]
        refused[address] = reason
    worker()
    assert sorted(_to(m) for m in smtp_sink.messages) == ["gone@example.com", "manual@example.com"]
    suppressed = conforms(api.get("/messages?status=suppressed"), "MessageSummaryPage")
    assert {m["to"]: m["reason"] for m in suppressed["items"]} == refused
    assert conforms(api.get("/messages?status=sent"), "MessageSummaryPage")["total"] == 2


def test_the_same_idempotency_key_twice_sends_one_message(api, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    body = {
        "template": "password-reset",
        "to": "ann@example.com",
        "context": {"code": "1", "reset_url": "https://x.example/r"},
    }
    first = _send(api, idempotency_key="order-10482-reset", **body)
    again = _send(api, idempotency_key="order-10482-reset", **body)
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    worker()
    late = _send(api, idempotency_key="order-10482-reset", **body)  # after it was sent: still the first
    assert late.json["id"] == first.json["id"] and late.json["status"] == "sent"
    # The header works the same; a different key is a different message.
    h = {"Idempotency-Key": "hdr-1", **api.h}
    one = api.c.post("/api/v1/messages", json={**body, "from_email": "shop@shop.example.com"}, headers=h)
    two = api.c.post("/api/v1/messages", json={**body, "from_email": "shop@shop.example.com"}, headers=h)
    assert one.status_code == 202 and one.json["id"] == two.json["id"] != first.json["id"]
    worker()
    assert len(smtp_sink.messages) == 2
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2


def test_a_mailbox_that_does_not_exist_fails_the_message_and_is_suppressed(api, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    smtp_sink.refuse["ghost@example.com"] = "550 5.1.1 <ghost@example.com>: no such mailbox"
    resp = _send(
        api,
        template="password-reset",
        to="ghost@example.com",
        context={"code": "1", "reset_url": "https://x.example/r"},
    )
    worker()
    msg = _message(resp.json["id"])
    assert msg.status == "failed" and "5.1.1" in msg.reason
    assert db.session.scalar(select(Suppression.reason).where(Suppression.email == "ghost@example.com")) == "bounced"
    again = _send(api, template="password-reset", to="ghost@example.com", context={})
    assert again.status_code == 422 and again.json["error"]["fields"] == {"to": "suppressed:bounced"}


def test_a_provider_that_cannot_be_reached_leaves_the_message_queued_for_a_retry(api, workspace, smtp_sink, worker):
    from tests.support import free_port

    prov = _provider(workspace, smtp_sink)
    prov.settings = {**prov.settings, "port": free_port()}  # nothing listens there
    db.session.commit()
    _reset_template(workspace)
    resp = _send(
        api, template="password-reset", to="ann@example.com", context={"code": "1", "reset_url": "https://x.example/r"}
    )
    worker()
    msg = _message(resp.json["id"])
    assert msg.status == "queued" and "retrying" in msg.reason and msg.attempts == 1
    assert smtp_sink.messages == []


def test_tracked_opens_and_clicks_point_at_the_message(api, app, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    resp = _send(
        api,
        template="password-reset",
        to="ann@example.com",
        context={"code": "1", "reset_url": "https://shop.example.com/reset/xyz"},
        track_opens=True,
        track_clicks=True,
    )
    worker()
    html = _html(smtp_sink.messages[0])
    base = app.config["BASE_URL"]
    pixel = re.search(rf'src="{re.escape(base)}(/t/m/o/[^"]+\.gif)"', html).group(1)
    clicks = re.findall(rf'href="{re.escape(base)}(/t/m/c/[^"]+)"', html)
    assert clicks and "https://shop.example.com/help" not in html
    web = app.test_client()
    assert web.get(pixel).status_code == 200
    targets = {web.get(path).headers["Location"] for path in clicks}
    assert targets == {"https://shop.example.com/help"}  # the one absolute link; {{ reset_url }} is data
    msg = _message(resp.json["id"])
    assert msg.opened_at is not None and msg.clicked_at is not None
    forged = clicks[0][:-3] + ("AAA" if not clicks[0].endswith("AAA") else "BBB")
    assert web.get(forged).status_code == 404
    assert web.get("/t/m/o/nonsense.gif").status_code == 200  # a broken image helps nobody


# -- Templates' slugs ---------------------------------------------------------------------------


def test_templates_get_a_unique_slug_that_can_be_changed(api, workspace):
    first = api.post("/templates", json={"name": "Order confirmation", "subject": "S", "body_html": TEMPLATE_HTML})
    second = api.post("/templates", json={"name": "Order  Confirmation!", "subject": "S", "body_html": TEMPLATE_HTML})
    assert first.json["slug"] == "order-confirmation" and second.json["slug"] == "order-confirmation-2"
    assert api.get(f"/templates/{first.json['id']}").json["slug"] == "order-confirmation"
    assert {t["slug"] for t in api.get("/templates").json["items"]} == {"order-confirmation", "order-confirmation-2"}
    for slug, status in (("Has Spaces", 422), ("order-confirmation", 422), ("-x", 422), ("receipt", 200)):
        resp = api.c.patch(f"/api/v1/templates/{second.json['id']}", json={"slug": slug}, headers=api.h)
        assert resp.status_code == status, (slug, resp.json)
        if status == 422:
            assert "slug" in resp.json["error"]["fields"]
    renamed = api.c.patch(f"/api/v1/templates/{second.json['id']}", json={"name": "Renamed"}, headers=api.h)
    assert renamed.json["slug"] == "receipt"  # a new name keeps the slug the API already uses


def test_the_template_form_shows_and_saves_the_slug(client, workspace):
    tpl = _reset_template(workspace)
    page = client.get(f"/templates/{tpl.id}/edit").get_data(as_text=True)
    assert 'name="slug"' in page and 'value="password-reset"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": token,
        "name": tpl.name,
        "subject": tpl.subject,
        "body_html": tpl.body_html,
        "category": "transactional",
        "slug": "forgot-password",
    }
    assert client.post(f"/templates/{tpl.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert templates.get_template(workspace.id, tpl.id).slug == "forgot-password"
    resp = client.post(f"/templates/{tpl.id}/edit", data={**form, "slug": "Not OK"})
    assert resp.status_code == 422 and "lower-case letters" in resp.get_data(as_text=True)


# -- The dashboard ------------------------------------------------------------------------------


def test_the_transactional_pages_list_messages_and_show_one(
    api, client, workspace, make_workspace, smtp_sink, worker, count_queries
):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    ids = [
        _send(
            api,
            template="password-reset",
            to=f"p{i}@example.com",
            context={"code": f"C{i}", "reset_url": "https://x.example/r"},
        ).json["id"]
        for i in range(3)
    ]
    contacts.suppress_address(workspace.id, "bounced@example.com", "bounced")
    db.session.commit()
    _send(api, template="password-reset", to="bounced@example.com", context={})
    worker()
    page = client.get("/messages/").get_data(as_text=True)
    assert "Transactional" in page and 'href="/messages/"' in page  # in the navigation
    for i in range(3):
        assert f"p{i}@example.com" in page
    assert "suppressed:bounced" in page and "Password reset" in page
    only = client.get("/messages/?status=suppressed").get_data(as_text=True)
    assert "bounced@example.com" in only and "p0@example.com" not in only
    assert "p1@example.com" in client.get("/messages/?to=p1@example.com").get_data(as_text=True)
    assert "p2@example.com" not in client.get("/messages/?to=p1@example.com").get_data(as_text=True)
    with count_queries() as n:
        client.get("/messages/")
    few = n()
    for i in range(3, 13):
        _send(
            api,
            template="password-reset",
            to=f"p{i}@example.com",
            context={"code": "x", "reset_url": "https://x.example/r"},
        )
    with count_queries() as n:
        client.get("/messages/")
    assert n() == few  # no query per row

    detail = client.get(f"/messages/{ids[0]}").get_data(as_text=True)
    assert "p0@example.com" in detail and "sent" in detail and "<iframe" in detail
    assert "C0" not in detail and "[removed after sending]" in detail  # the one-time code is not kept
    other = make_workspace("Other", "other@example.com")
    assert other.id != workspace.id
    assert client.get(f"/messages/{ids[0] + 1000}").status_code == 404
    assert client.get("/messages/?status=<script>").status_code == 200


def test_another_workspaces_message_is_not_found(api, workspace, make_workspace, smtp_sink, app):
    from app.services.platform.workspaces import create_api_key

    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    mine = _send(api, template="password-reset", to="ann@example.com", context={}).json["id"]
    other = make_workspace("Other", "other@example.com")
    _, key = create_api_key(other.id, "theirs")
    db.session.commit()
    theirs = app.test_client()
    resp = theirs.get(f"/api/v1/messages/{mine}", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 404
    assert theirs.get("/api/v1/messages", headers={"Authorization": f"Bearer {key}"}).json["total"] == 0


# -- The store mailers --------------------------------------------------------------------------

IMG = "http://herald.test/static/img/starters/"
STARTER_CONTEXTS = {
    "order_confirmation": (
        {
            "order": {
                "number": "20931",
                "date": "3 December 2026",
                "url": "https://shop.example.com/orders/20931",
                "currency": "EUR",
                "subtotal": 48.5,
                "shipping": 0,
                "total": 48.5,
                "items": [
                    {"name": "Stoneware mug", "quantity": 2, "price": 14.25, "image_url": IMG + "product-mug.png"},
                    {
                        "name": "Beeswax candle",
                        "quantity": 1,
                        "price": "20.00",
                        "image_url": IMG + "product-candle.png",
                    },
                ],
            }
        },
        ["Order #20931 confirmed", "3 December 2026", "Stoneware mug", "Beeswax candle", "EUR 28.50", "EUR 48.50"],
    ),
    "password_reset": (
        {"reset_url": "https://shop.example.com/reset?t=q1w2e3", "expires_in": "30 minutes"},
        ["Reset your password", "https://shop.example.com/reset?t=q1w2e3", "30 minutes", "Hi Ann Example"],
    ),
    "one_time_code": ({"code": "730 114"}, ["Your sign-in code: 730 114", "730 114", "10 minutes"]),
    "shipping_confirmation": (
        {
            "order": {"number": "20931"},
            "shipment": {
                "carrier": "PostNL",
                "tracking_number": "3SABCD1234567",
                "tracking_url": "https://shop.example.com/track/3SABCD1234567",
                "estimated_delivery": "Friday 4 December",
                "address": "Ann Example, Keizersgracht 1, Amsterdam",
                "items": [{"name": "Stoneware mug", "quantity": 2}, {"name": "Beeswax candle"}],
            },
        },
        [
            "Order #20931 has shipped",
            "PostNL",
            "3SABCD1234567",
            "Friday 4 December",
            "2 × Stoneware mug",
            "1 × Beeswax candle",
            "Keizersgracht 1",
        ],
    ),
    "gift_card": (
        {
            "gift_card": {
                "amount": 25,
                "currency": "EUR",
                "code": "NWS-AAAA-BBBB",
                "sender_name": "Ben",
                "message": "Enjoy!",
                "redeem_url": "https://shop.example.com/redeem",
                "expires_on": "1 January 2028",
            }
        },
        ["Ben sent you a Northwind Supply gift card", "EUR 25.00", "NWS-AAAA-BBBB", "Enjoy!", "1 January 2028"],
    ),
    "payout_notice": (
        {
            "payout": {
                "amount": "310.4",
                "currency": "USD",
                "account": "•••• 1234",
                "date": "7 December 2026",
                "reference": "PO-77",
                "url": "https://shop.example.com/payouts/PO-77",
            }
        },
        ["Your payout of USD 310.40 is on its way", "USD 310.40", "•••• 1234", "7 December 2026", "PO-77"],
    ),
    "back_in_stock": (
        {
            "product": {
                "name": "Linen table lamp",
                "url": "https://shop.example.com/p/lamp",
                "image_url": IMG + "product-lamp.png",
                "price": 59,
                "currency": "EUR",
            }
        },
        ["Linen table lamp is back in stock", "Linen table lamp", "EUR 59.00", "https://shop.example.com/p/lamp"],
    ),
}


def test_every_store_mailer_has_a_documented_context_and_a_sample():
    keys = [s["key"] for s in starters.TRANSACTIONAL_STARTERS]
    assert keys == list(STARTER_CONTEXTS)
    sample = templates.sample_event_data("http://herald.test")
    for s in starters.TRANSACTIONAL_STARTERS:
        assert s["category"] == "transactional"
        start = starters.load_starter(s["key"], "http://herald.test")
        compiled = compile_design(start["design"])
        assert compiled.warnings == [] and "unsubscribe_url" not in compiled.html
        for name in STARTER_CONTEXTS[s["key"]][0]:
            assert name in s["description"], (s["key"], name)  # the gallery says what to send
            assert name in sample, name  # and the builder's preview has something real to show
        preview = templates.preview("http://herald.test", start["subject"], compiled.html, compiled.text, None)
        assert "{{" not in preview["html"] and "{{" not in preview["subject"]


def test_every_store_mailer_compiles_and_sends_through_the_api(api, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    contacts.add_subscriber(workspace.id, "ann@example.com", "Ann Example")
    db.session.commit()
    sent = {}
    for s in starters.TRANSACTIONAL_STARTERS:
        start = starters.load_starter(s["key"], "http://herald.test")
        tpl = templates.create_template(workspace.id, {**start, "template_type": "visual"})
        db.session.commit()
        context, _ = STARTER_CONTEXTS[s["key"]]
        resp = _send(api, template=tpl.slug, to="ann@example.com", context=context)
        assert resp.status_code == 202, (s["key"], resp.json)
        sent[resp.json["id"]] = s["key"]
    worker()
    assert len(smtp_sink.messages) == len(sent)
    by_key = {}
    for m in smtp_sink.messages:
        number = int(re.match(r"<m(\d+)\.", m["message"]["Message-ID"]).group(1))
        by_key[sent[number]] = m
    for key, (_, expected) in STARTER_CONTEXTS.items():
        m = by_key[key]
        subject = m["message"]["Subject"]
        html = _html(m).replace("&amp;", "&").replace("&#x27;", "'")
        text = _text(m)
        for phrase in expected:
            assert phrase in subject or (phrase in html and phrase in text), (key, phrase)
        assert "{{" not in html and "{%" not in html and "{{" not in text
        assert "Unsubscribe" not in html and m["message"]["List-Unsubscribe"] is None
    listed = api.get("/messages?status=sent&per_page=20").json
    assert listed["total"] == len(sent)


# -- Never behind a campaign --------------------------------------------------------------------


def _rq_worker(redis_url: str, *queues: str) -> subprocess.Popen:
    rq = Path(sys.executable).parent / "rq"
    return subprocess.Popen(
        [
            str(rq),
            "worker",
            "--url",
            redis_url,
            "--path",
            ".",
            "--worker-class",
            "workers.worker.HeraldWorker",
            *queues,
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_message_is_delivered_promptly_while_a_big_campaign_crawls_through_the_same_provider(
    api, workspace, smtp_sink, redis_url
):
    """The Procfile's two workers: `worker` busy with a 300-recipient campaign at 5 messages a second
    (a minute of sending), `transactional` free for the password reset, which shares the provider's rate."""
    prov = _provider(workspace, smtp_sink, per_second=5)
    lst = create_list(workspace.id, "Everyone")
    create_subscribers(workspace.id, people(300, "bulk{i}@example.com", name=None), lst.id)
    bulk_tpl = create_template(workspace.id, "Sale", name="Sale")
    camp = create_campaign(workspace.id, bulk_tpl.id, [lst.id], prov.id, name="Big sale", from_name="Shop")
    _reset_template(workspace)
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    bulk = _rq_worker(redis_url, "transactional", "sends", "webhooks", "default")
    fast = _rq_worker(redis_url, "transactional")
    try:
        deadline = time.monotonic() + 60
        while len(smtp_sink.messages) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp_sink.messages) >= 10, "the campaign did not start sending"
        started = time.monotonic()
        resp = _send(
            api,
            template="password-reset",
            to="ann@example.com",
            context={"code": "9", "reset_url": "https://x.example/r"},
        )
        assert resp.status_code == 202
        while time.monotonic() - started < 30 and not any(_to(m) == "ann@example.com" for m in smtp_sink.messages):
            time.sleep(0.05)
        took = time.monotonic() - started
        received = [_to(m) for m in smtp_sink.messages]
        assert "ann@example.com" in received, "the message never arrived"
        # At 5/s the campaign needs a minute: the message came long before it was done.
        print(f"transactional message took {took:.2f} s during the campaign")
        assert took < 15, took
        assert received.index("ann@example.com") < 250
        # The worker records the result just after the server took the message: give it a moment.
        deadline = time.monotonic() + 10
        while _message(resp.json["id"]).status != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _message(resp.json["id"]).status == "sent"
        db.session.expire_all()
        assert db.session.get(Campaign, camp.id).status == "sending"
        lifecycle.pause(workspace.id, camp.id)
        db.session.commit()
    finally:
        for proc in (bulk, fast):
            proc.terminate()
        for proc in (bulk, fast):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_secret_looking_context_values_are_removed_after_sending_and_the_rest_is_kept():
    from app.services.delivery.transactional import redact_secrets

    context = {
        "order": {"number": "A-1001", "items": [{"name": "Mug", "sku": "M-1"}], "shipping": "4.90"},
        "giftCard": {"code": "GIFT-XYZ", "redeemUrl": "https://shop.example/r/1", "amount": "50"},
        "magic_link": "https://shop.example/login/abc",
        "one_time_password": "123456",
        "api_key": "k",
        "postcode_hint": "kept? no: 'postcode' is not 'code'",
    }
    out = redact_secrets(context)
    assert out["order"] == context["order"]  # 'shipping' is not 'pin'; order numbers stay
    assert out["giftCard"] == {
        "code": "[removed after sending]",
        "redeemUrl": "[removed after sending]",
        "amount": "50",
    }
    assert out["magic_link"] == out["one_time_password"] == out["api_key"] == "[removed after sending]"
    assert out["postcode_hint"] == context["postcode_hint"]


def test_a_message_whose_job_redis_lost_is_queued_again_and_sent_once(api, workspace, smtp_sink, worker, redis_url):
    from app.services.delivery import transactional
    from tests.support import reset_test_redis

    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    accepted = _send(api, template="password-reset", to="ann@example.com", context={"code": "1"}).json
    assert transactional.requeue_lost_messages(min_age_seconds=0) == []  # its job is there
    reset_test_redis(redis_url)  # Redis restarted without its data (the test run keeps its claim)
    assert transactional.requeue_lost_messages(min_age_seconds=3600) == []  # too young to call lost
    assert transactional.requeue_lost_messages(min_age_seconds=0) == [accepted["id"]]
    db.session.commit()
    assert transactional.requeue_lost_messages(min_age_seconds=0) == []  # queued once, not twice
    worker()
    assert [_to(m) for m in smtp_sink.messages] == ["ann@example.com"]
    assert _message(accepted["id"]).status == "sent"
