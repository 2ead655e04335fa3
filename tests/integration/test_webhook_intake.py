"""Providers' webhooks end to end: signed requests to POST /webhooks/<type>/<id>, stored, processed by
the RQ worker into the event log, and what each event changes (recipient, subscriber, suppression,
counters, outbound webhooks). Real HTTP endpoint, worker, PostgreSQL and Redis; the providers'
signatures are made with test keys, and SNS's certificates come from a local https server."""

import json
import re
import ssl
import threading
import time
from types import SimpleNamespace

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from app.event_types import SENDER_BLOCKED
from app.extensions import db
from app.models import CampaignList, CampaignRecipient, Event, Subscriber, Suppression, WebhookPayload
from app.services import outbound_webhooks
from app.services.campaigns import drafts
from app.services.delivery import delivery_stats
from app.services.events import webhook_intake
from tests.factories import create_provider
from tests.support import free_port
from tests.webhook_support import (
    MAILGUN_KEY,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    SENDGRID_KEY,
    TOPIC,
    another_campaign,
    basic_auth,
    carried_by,
    mailgun_body,
    mailgun_event,
    make_pki,
    post_sendgrid,
    postmark_time,
    public_key_b64,
    sendgrid_event,
    sendgrid_headers,
    sent_campaign,
    ses_mail,
    sns_confirmation,
    sns_headers,
    sns_notification,
    subscriber_status,
)

# Fixtures -------------------------------------------------------------------------------------


def _add_providers(workspace_id: int, key=SENDGRID_KEY) -> SimpleNamespace:
    """One provider of each webhook type, configured as their settings pages would configure them."""
    sg = create_provider(workspace_id, "sendgrid", {"webhook_public_key": public_key_b64(key)}, {"api_key": "SG.x.y"})
    mg = create_provider(
        workspace_id,
        "mailgun",
        {"domain": "mg.shop.example.com"},
        {"api_key": "key-api", "webhook_signing_key": MAILGUN_KEY},
    )
    pm = create_provider(
        workspace_id,
        "postmark",
        {"message_stream": "broadcast"},
        {"server_token": "pm-token", "webhook_username": POSTMARK_USER, "webhook_password": POSTMARK_PASSWORD},
    )
    ses = create_provider(
        workspace_id,
        "ses",
        {"region": "us-east-1", "topic_arns": [TOPIC]},
        {"access_key_id": "AKIATEST", "secret_access_key": "secret"},
    )
    db.session.commit()
    return SimpleNamespace(sg=sg, mg=mg, pm=pm, ses=ses)


@pytest.fixture
def shop(workspace, smtp_sink, worker):
    """A workspace that sent its Spring campaign to six people, with a provider of each webhook type."""
    camp, rcpts = sent_campaign(workspace.id, smtp_sink.port, worker)
    assert len(smtp_sink.messages) == 6
    p = _add_providers(workspace.id)
    return SimpleNamespace(ws=workspace, camp=camp, cid=camp.id, r=rcpts, **vars(p))


@pytest.fixture
def web(app):
    return app.test_client()


def recipient(rid: int) -> CampaignRecipient:
    db.session.expire_all()
    return db.session.get(CampaignRecipient, rid)


def statuses(rcpts: list[dict]) -> list[str]:
    db.session.expire_all()
    by_id = dict(db.session.execute(select(CampaignRecipient.id, CampaignRecipient.status)).all())
    return [by_id[r["id"]] for r in rcpts]


def suppressions(workspace_id: int) -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Suppression.email, Suppression.reason).where(Suppression.workspace_id == workspace_id)
    ).all()
    return dict(rows)


def payloads(provider_id: int | None = None) -> list[WebhookPayload]:
    db.session.expire_all()
    stmt = select(WebhookPayload).order_by(WebhookPayload.id)
    if provider_id is not None:
        stmt = stmt.where(WebhookPayload.provider_id == provider_id)
    return list(db.session.scalars(stmt))


def event_count(**where) -> int:
    stmt = select(func.count()).select_from(Event)
    for k, v in where.items():
        stmt = stmt.where(getattr(Event, k) == v)
    return db.session.scalar(stmt)


def counters(workspace_id: int, provider_id: int | None = None) -> dict:
    db.session.expire_all()
    totals = delivery_stats.totals(workspace_id, provider_id=provider_id)
    return {k: v for k, v in totals.items() if k in delivery_stats.COUNTERS}


def log_row(page: str, payload_id: int) -> str:
    """The provider page's webhook log row for one payload, tags stripped."""
    m = re.search(rf'<tr[^>]*data-payload="{payload_id}".*?</tr>', page, re.S)
    assert m, f"payload {payload_id} is not in the webhook log"
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(0)).split())


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sendgrid_batch(shop) -> list[dict]:
    """Delivered, delivered + open, hard bounce, block, spam report and a type Herald does not know."""
    r, cid = shop.r, shop.cid
    return [
        sendgrid_event("delivered", r[0], cid, response="250 2.0.0 OK 1700000000 q1si"),
        sendgrid_event("delivered", r[1], cid, response="250 2.0.0 OK"),
        sendgrid_event("open", r[1], cid, useragent="Mozilla/5.0 (iPhone)", ip="198.51.100.7", sg_machine_open=False),
        sendgrid_event(
            "bounce",
            r[2],
            cid,
            type="bounce",
            status="5.1.1",
            reason="550 5.1.1 The email account that you tried to reach does not exist",
            bounce_classification="Invalid Address",
        ),
        sendgrid_event(
            "bounce",
            r[3],
            cid,
            type="blocked",
            status="5.7.1",
            reason="550 5.7.1 Message rejected due to local policy",
            bounce_classification="Reputation",
        ),
        sendgrid_event("spamreport", r[4], cid),
        sendgrid_event("ai_insight", r[5], cid),
    ]


# SendGrid -------------------------------------------------------------------------------------


def test_a_signed_sendgrid_batch_updates_recipients_suppresses_and_shows_in_the_log(shop, web, worker, client):
    carried_by(shop.cid, shop.sg.id)
    resp = post_sendgrid(web, shop.sg.id, sendgrid_batch(shop))
    assert resp.status_code == 200 and resp.get_json()["received"] is True
    (stored,) = payloads(shop.sg.id)
    assert stored.status == "received" and stored.workspace_id == shop.ws.id  # stored before the answer
    worker()

    r = shop.r
    assert statuses(r) == ["delivered", "opened", "bounced", "failed", "complained", "sent"]
    assert recipient(r[1]["id"]).delivered_at is not None
    assert "5.1.1" in recipient(r[2]["id"]).reason
    assert recipient(r[3]["id"]).reason.startswith(SENDER_BLOCKED) and "5.7.1" in recipient(r[3]["id"]).reason
    # The hard-bounced and the complaining addresses are suppressed with the reason; the blocked one is not.
    assert suppressions(shop.ws.id) == {r[2]["email"]: "bounced", r[4]["email"]: "complained"}
    details = dict(db.session.execute(select(Suppression.email, Suppression.detail)).all())
    assert "hard bounce" in details[r[2]["email"]] and "5.1.1" in details[r[2]["email"]]
    assert "spam complaint" in details[r[4]["email"]]
    assert [subscriber_status(r[i]["email"]) for i in (2, 3, 4)] == ["bounced", "active", "complained"]
    # The event SendGrid invented after this release is kept, on its recipient.
    unknown = db.session.scalar(select(Event).where(Event.event_type == "unknown"))
    assert unknown.recipient_id == r[5]["id"] and unknown.data["raw_type"] == "ai_insight"
    assert event_count(workspace_id=shop.ws.id) == 7

    stats = drafts.campaign_stats(shop.cid)
    assert (stats["delivered"], stats["bounced"], stats["complained"], stats["failed"]) == (2, 1, 1, 1)
    assert (stats["opens"], stats["unique_opens"]) == (1, 1)
    assert counters(shop.ws.id, shop.sg.id) == {
        **dict.fromkeys(delivery_stats.COUNTERS, 0),
        "delivered": 2,
        "bounced_hard": 1,
        "blocked": 1,
        "complained": 1,
    }

    (done,) = payloads(shop.sg.id)
    assert (done.status, done.events_total, done.events_new, done.events_unmatched) == ("processed", 7, 7, 0)
    assert done.summary == {"delivery": 2, "open": 1, "bounce": 2, "complaint": 1, "unknown": 1}
    page = client.get(f"/providers/{shop.sg.id}").get_data(as_text=True)
    row = log_row(page, done.id)
    assert "processed" in row and "delivery 2" in row and "bounce 2" in row and "unknown 1" in row
    assert re.search(r"processed 7 7 0", row), row


def test_the_same_sendgrid_payload_delivered_three_times_counts_once(shop, web, worker):
    batch = sendgrid_batch(shop)
    body = json.dumps(batch).encode()
    url = f"/webhooks/sendgrid/{shop.sg.id}"
    assert web.post(url, data=body, headers=sendgrid_headers(body)).status_code == 200
    worker()
    stats, totals = drafts.campaign_stats(shop.cid), counters(shop.ws.id)
    before = (statuses(shop.r), suppressions(shop.ws.id), event_count())

    for _ in range(2):  # SendGrid retries: the same body, signed again
        assert web.post(url, data=body, headers=sendgrid_headers(body)).status_code == 200
    worker()

    got = payloads(shop.sg.id)
    assert [p.status for p in got] == ["processed"] * 3
    assert [p.events_new for p in got] == [7, 0, 0] and [p.events_total for p in got] == [7, 7, 7]
    assert drafts.campaign_stats(shop.cid) == stats
    assert counters(shop.ws.id) == totals
    assert (statuses(shop.r), suppressions(shop.ws.id), event_count()) == before


def test_a_payload_queued_twice_keeps_its_counts(shop, web, worker):
    """The periodic requeue may queue a payload whose first job is still waiting in a long queue."""
    assert post_sendgrid(web, shop.sg.id, sendgrid_batch(shop)).status_code == 200
    assert webhook_intake.requeue_stuck(older_than=0) == 1
    worker()
    (done,) = payloads(shop.sg.id)
    assert (done.status, done.events_total, done.events_new) == ("processed", 7, 7)
    assert event_count() == 7 and counters(shop.ws.id)["delivered"] == 2


def test_a_bad_or_stale_sendgrid_signature_is_refused_logged_and_changes_nothing(shop, web, worker, client):
    forger = ec.generate_private_key(ec.SECP256R1())
    bad = post_sendgrid(web, shop.sg.id, sendgrid_batch(shop), key=forger)
    assert bad.status_code == 403 and bad.get_json()["error"]["code"] == "rejected"
    stale = post_sendgrid(web, shop.sg.id, sendgrid_batch(shop), timestamp=int(time.time()) - 3600)
    assert stale.status_code == 403 and "stale" in stale.get_json()["error"]["message"]
    unsigned = web.post(f"/webhooks/sendgrid/{shop.sg.id}", json=sendgrid_batch(shop))
    assert unsigned.status_code == 403
    worker()

    reasons = [r["reason"] for r in webhook_intake.recent_rejections(shop.sg.id)]  # the latest first
    assert len(reasons) == 3 and reasons[0].startswith("missing") and reasons[2] == "bad webhook signature"
    assert reasons[1].startswith("stale webhook timestamp")
    assert all(r["ip"] == "127.0.0.1" for r in webhook_intake.recent_rejections(shop.sg.id))
    assert payloads() == [] and event_count() == 0
    assert statuses(shop.r) == ["sent"] * 6 and suppressions(shop.ws.id) == {}
    assert counters(shop.ws.id)["delivered"] == 0
    page = client.get(f"/providers/{shop.sg.id}").get_data(as_text=True)
    assert "Refused requests" in page and "bad webhook signature" in page and "stale webhook timestamp" in page


def test_mailgun_refuses_a_bad_hmac_and_answers_a_replay_as_a_duplicate(shop, web, worker):
    url = f"/webhooks/mailgun/{shop.mg.id}"
    event = mailgun_event("delivered", shop.r[0], shop.cid, **{"delivery-status": {"code": 250, "message": "OK"}})
    forged = mailgun_body(event, key="not-the-signing-key")
    resp = web.post(url, data=forged, content_type="application/json")
    assert resp.status_code == 403 and "bad webhook signature" in resp.get_json()["error"]["message"]
    assert payloads() == []

    body = mailgun_body(event)
    first = web.post(url, data=body, content_type="application/json")
    replay = web.post(url, data=body, content_type="application/json")
    assert first.status_code == 200 and first.get_json().get("duplicate") is None
    assert replay.status_code == 200 and replay.get_json()["duplicate"] is True
    worker()
    (stored,) = payloads(shop.mg.id)
    assert (stored.status, stored.events_new) == ("processed", 1)
    assert statuses(shop.r)[0] == "delivered" and event_count() == 1


def test_postmark_with_a_wrong_password_gets_a_basic_auth_challenge(shop, web):
    record = {"RecordType": "Delivery", "Recipient": shop.r[0]["email"], "DeliveredAt": postmark_time()}
    url = f"/webhooks/postmark/{shop.pm.id}"
    wrong = web.post(url, json=record, headers=basic_auth(POSTMARK_USER, "guess"))
    missing = web.post(url, json=record)
    for resp in (wrong, missing):
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert payloads() == [] and len(webhook_intake.recent_rejections(shop.pm.id)) == 2


def test_an_unknown_webhook_url_answers_404(shop, web):
    body = json.dumps(sendgrid_batch(shop)).encode()
    headers = sendgrid_headers(body)
    smtp_id = shop.camp.provider_id
    for url in (
        "/webhooks/sendgrid/999999",
        "/webhooks/sendgrid/99999999999999999999999",  # past any integer column: still a 404
        "/webhooks/%3Cscript%3E/1",
        f"/webhooks/mailgun/{shop.sg.id}",  # the id of a SendGrid provider under another type
        f"/webhooks/smtp/{smtp_id}",  # SMTP has no webhooks (VERP instead)
        f"/webhooks/outbox/{smtp_id}",
    ):
        resp = web.post(url, data=body, headers=headers)
        assert resp.status_code == 404, url
        assert not resp.is_json or resp.get_json()["error"]["code"] == "not_found", url
    assert payloads() == []
    # A provider's probe (HEAD, or a person opening the URL) gets a 200 and changes nothing.
    assert web.head(f"/webhooks/sendgrid/{shop.sg.id}").status_code == 200
    assert "by POST" in web.get(f"/webhooks/sendgrid/{shop.sg.id}").get_json()["message"]
    too_big = web.post(f"/webhooks/sendgrid/{shop.sg.id}", data=b"[" + b" " * (6 * 1024 * 1024) + b"]", headers=headers)
    assert too_big.status_code == 413 and payloads() == []


def test_another_workspaces_provider_cannot_touch_this_workspaces_recipients(shop, web, worker, make_workspace):
    other_key = ec.generate_private_key(ec.SECP256R1())
    rival = make_workspace("Rival", "rival@example.com")
    theirs = _add_providers(rival.id, key=other_key)
    r = shop.r
    batch = [
        sendgrid_event("bounce", r[0], shop.cid, type="bounce", status="5.1.1", reason="550 5.1.1 user unknown"),
        sendgrid_event("spamreport", r[1], shop.cid),
    ]
    # Signed by the rival's key, to this workspace's URL: refused.
    assert post_sendgrid(web, shop.sg.id, batch, key=other_key).status_code == 403
    # To the rival's own URL: stored and processed there, as events for nobody the rival knows.
    assert post_sendgrid(web, theirs.sg.id, batch, key=other_key).status_code == 200
    worker()
    (stored,) = payloads()
    assert stored.workspace_id == rival.id and stored.status == "processed"
    assert (stored.events_total, stored.events_new, stored.events_unmatched) == (2, 2, 2)
    assert event_count(workspace_id=rival.id) == 2 and event_count(workspace_id=shop.ws.id) == 0
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.recipient_id.is_not(None))) == 0
    assert statuses(r) == ["sent"] * 6
    assert suppressions(shop.ws.id) == {} and suppressions(rival.id) == {}
    assert [subscriber_status(x["email"]) for x in r[:2]] == ["active", "active"]
    assert counters(shop.ws.id)["bounced_hard"] == 0 and counters(rival.id)["bounced_hard"] == 0


def test_one_sendgrid_account_posting_to_two_workspaces_counts_in_each(shop, web, worker, make_workspace):
    """A SendGrid account may have several event webhooks: each receives every event. The copy that
    reached the other workspace first must not hide the event from the workspace that sent the mail."""
    rival = make_workspace("Agency", "agency@example.com")
    theirs = _add_providers(rival.id)  # the same SendGrid account: the same signing key
    batch = sendgrid_batch(shop)
    assert post_sendgrid(web, theirs.sg.id, batch).status_code == 200
    worker()
    assert post_sendgrid(web, shop.sg.id, batch).status_code == 200
    worker()
    theirs_payload, ours = payloads()
    assert (theirs_payload.events_new, theirs_payload.events_unmatched) == (7, 7)
    assert (ours.events_new, ours.events_unmatched) == (7, 0)
    assert statuses(shop.r) == ["delivered", "opened", "bounced", "failed", "complained", "sent"]
    assert drafts.campaign_stats(shop.cid)["bounced"] == 1


def test_three_soft_bounces_in_a_row_suppress_and_a_delivery_resets_the_streak(shop, web, worker):
    """Two people, four campaigns: one soft-bounces three times running; the other's delivery in
    between starts their count again."""
    ann, bob = shop.r[0], shop.r[1]

    def soft(rcpt, cid):
        return sendgrid_event("bounce", rcpt, cid, type="bounce", status="5.2.2", reason="552 5.2.2 Mailbox full")

    rounds = [(shop.cid, shop.r)]
    for n in (2, 3, 4):
        camp, rcpts = another_campaign(shop.ws.id, _list_id(shop.cid), worker, f"Spring {n}")
        rounds.append((camp.id, rcpts))
    plan = ["soft", "soft", "delivered", "soft"]  # bob's
    for i, (cid, rcpts) in enumerate(rounds[:3]):
        a = next(x for x in rcpts if x["email"] == ann["email"])
        b = next(x for x in rcpts if x["email"] == bob["email"])
        bob_event = soft(b, cid) if plan[i] == "soft" else sendgrid_event("delivered", b, cid)
        assert post_sendgrid(web, shop.sg.id, [soft(a, cid), bob_event]).status_code == 200
        worker()
        if i < 2:
            assert suppressions(shop.ws.id) == {} and subscriber_status(ann["email"]) == "active"
    bob_streak = select(Subscriber.soft_bounces).where(Subscriber.email == bob["email"])
    assert db.session.scalar(bob_streak) == 0  # two soft bounces, then a delivery
    assert suppressions(shop.ws.id) == {ann["email"]: "bounced"}
    assert subscriber_status(ann["email"]) == "bounced"
    detail = db.session.scalar(select(Suppression.detail))
    assert detail.startswith("3 soft bounces in a row") and "5.2.2" in detail

    cid, rcpts = rounds[3]
    b = next(x for x in rcpts if x["email"] == bob["email"])
    assert post_sendgrid(web, shop.sg.id, [soft(b, cid)]).status_code == 200
    worker()
    assert subscriber_status(bob["email"]) == "active" and bob["email"] not in suppressions(shop.ws.id)
    assert db.session.scalar(bob_streak) == 1
    assert counters(shop.ws.id)["bounced_soft"] == 3 + 3  # ann's three, bob's two before his delivery and one after


def _list_id(campaign_id: int) -> int:
    return db.session.scalar(select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id))


# Mailgun, Postmark, SES ------------------------------------------------------------------------


def test_mailgun_events_cascade(shop, web, worker):
    r, cid = shop.r, shop.cid
    failed = mailgun_event(
        "failed",
        r[0],
        cid,
        severity="permanent",
        reason="bounce",
        **{
            "log-level": "error",
            "delivery-status": {
                "code": 550,
                "enhanced-code": "5.1.1",
                "message": "5.1.1 The email account that you tried to reach does not exist.",
                "description": "",
                "attempt-no": 1,
            },
        },
    )
    events = [
        failed,
        mailgun_event("delivered", r[1], cid, **{"delivery-status": {"code": 250, "message": "OK"}}),
        mailgun_event("opened", r[2], cid, ip="203.0.113.9", **{"client-info": {"user-agent": "Mozilla/5.0"}}),
        mailgun_event("complained", r[3], cid),
    ]
    for event in events:  # Mailgun posts one event per request
        resp = web.post(f"/webhooks/mailgun/{shop.mg.id}", data=mailgun_body(event), content_type="application/json")
        assert resp.status_code == 200
    worker()
    assert statuses(r[:4]) == ["bounced", "delivered", "opened", "complained"]
    assert suppressions(shop.ws.id) == {r[0]["email"]: "bounced", r[3]["email"]: "complained"}
    assert [subscriber_status(x["email"]) for x in r[:4]] == ["bounced", "active", "active", "complained"]
    assert [p.status for p in payloads(shop.mg.id)] == ["processed"] * 4
    c = counters(shop.ws.id, shop.mg.id)
    assert (c["bounced_hard"], c["delivered"], c["complained"]) == (1, 1, 1)


def test_postmark_records_cascade(shop, web, worker):
    r, cid = shop.r, shop.cid

    def meta(i):
        return {"MessageID": f"pm-{i}", "Metadata": {"herald_ref": f"c-{cid}-{r[i]['id']}"}, "Tag": "spring"}

    records = [
        {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": r[0]["email"],
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "BouncedAt": postmark_time(),
            **meta(0),
        },
        {"RecordType": "Delivery", "Recipient": r[1]["email"], "DeliveredAt": postmark_time(), **meta(1)},
        {
            "RecordType": "SpamComplaint",
            "ID": 42,
            "Type": "SpamComplaint",
            "Email": r[2]["email"],
            "BouncedAt": postmark_time(),
            **meta(2),
        },
        {"RecordType": "Open", "Recipient": r[3]["email"], "ReceivedAt": postmark_time(), "FirstOpen": True, **meta(3)},
        {
            "RecordType": "Click",
            "Recipient": r[4]["email"],
            "ReceivedAt": postmark_time(),
            "OriginalLink": "https://example.com/offer",
            **meta(4),
        },
        {
            "RecordType": "SubscriptionChange",
            "Recipient": r[5]["email"],
            "ChangedAt": postmark_time(),
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
            "Origin": "Recipient",
            **meta(5),
        },
    ]
    for record in records:
        resp = web.post(f"/webhooks/postmark/{shop.pm.id}", data=json.dumps(record), headers=basic_auth())
        assert resp.status_code == 200, resp.get_data(as_text=True)
    worker()
    assert statuses(r) == ["bounced", "delivered", "complained", "opened", "clicked", "unsubscribed"]
    assert suppressions(shop.ws.id) == {
        r[0]["email"]: "bounced",
        r[2]["email"]: "complained",
        r[5]["email"]: "unsubscribed",
    }
    assert [subscriber_status(x["email"]) for x in (r[0], r[2], r[5], r[1])] == [
        "bounced",
        "complained",
        "unsubscribed",
        "active",
    ]
    stats = drafts.campaign_stats(cid)
    assert (stats["unique_opens"], stats["unique_clicks"], stats["clicks"], stats["unsubscribed"]) == (2, 1, 1, 1)
    assert [p.events_new for p in payloads(shop.pm.id)] == [1] * 6


@pytest.fixture(scope="module")
def sns_pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("sns-pki"))


@pytest.fixture(scope="module")
def sns_server(sns_pki):
    """A local https server playing SNS: it serves the signing certificate and answers SubscribeURLs."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sns_pki["server_cert"], sns_pki["server_key"])
    server = HTTPServer(host="localhost", port=free_port(), ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def sns(sns_server, sns_pki, app, monkeypatch):
    """The web app and the worker trust the test CA and take certificates from localhost."""
    from workers.jobs import _app

    for flask_app in (app, _app()):
        monkeypatch.setitem(flask_app.config, "SNS_CERT_HOST_PATTERN", r"^localhost$")
        monkeypatch.setitem(flask_app.config, "SNS_CA_FILE", sns_pki["ca_file"])
    monkeypatch.setattr(webhook_intake, "_verifiers", {})
    sns_server.clear()
    sns_server.expect_request("/SimpleNotificationService-test.pem").respond_with_data(
        sns_pki["cert_pem"], content_type="application/x-pem-file"
    )
    yield SimpleNamespace(server=sns_server, key=sns_pki["key"])
    sns_server.clear()


def post_sns(web, provider_id: int, message: dict):
    return web.post(f"/webhooks/ses/{provider_id}", data=json.dumps(message), headers=sns_headers(message))


def test_ses_events_through_sns_cascade(shop, web, worker, sns):
    r = shop.r
    bounce = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": r[0]["email"],
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2024-05-01T10:01:02.669Z",
            "feedbackId": "0100018f-bounce",
        },
        "mail": ses_mail(r[0]),
    }
    complaint = {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": r[1]["email"]}],
            "timestamp": "2024-05-01T10:02:00.000Z",
            "feedbackId": "0100018f-complaint",
            "complaintFeedbackType": "abuse",
        },
        "mail": ses_mail(r[1]),
    }
    for event in (bounce, complaint):
        assert post_sns(web, shop.ses.id, sns_notification(sns.server, sns.key, event)).status_code == 200
    worker()
    assert statuses(r[:3]) == ["bounced", "complained", "sent"]
    assert suppressions(shop.ws.id) == {r[0]["email"]: "bounced", r[1]["email"]: "complained"}
    assert [p.status for p in payloads(shop.ses.id)] == ["processed", "processed"]
    # Found by the Message-ID Herald wrote (SES's own tags were not set).
    assert event_count(recipient_id=r[0]["id"]) == 1 and event_count(recipient_id=r[1]["id"]) == 1


def test_an_sns_subscription_is_confirmed_and_another_topic_is_refused(shop, web, worker, sns):
    arn = TOPIC + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
    sns.server.expect_request(
        "/", query_string={"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": "tok123"}
    ).respond_with_data(
        '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult>'
        f"<SubscriptionArn>{arn}</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>",
        content_type="text/xml",
    )
    confirmation = sns_confirmation(sns.server, sns.key, "tok123")
    assert post_sns(web, shop.ses.id, confirmation).status_code == 200
    worker()
    (done,) = payloads(shop.ses.id)
    assert done.status == "processed" and done.summary == {"subscription_confirmed": 1}
    visits = [req for req, _ in sns.server.log if req.args.get("Action") == "ConfirmSubscription"]
    assert len(visits) == 1 and visits[0].args["Token"] == "tok123"

    other_topic = TOPIC.replace("ses-events", "someone-elses-topic")
    foreign = sns_notification(sns.server, sns.key, {"eventType": "Delivery", "mail": ses_mail(shop.r[0])}, other_topic)
    resp = post_sns(web, shop.ses.id, foreign)
    assert resp.status_code == 403 and "unexpected topic" in resp.get_json()["error"]["message"]
    unconfirmed = sns_confirmation(sns.server, sns.key, "tok999", other_topic)
    assert post_sns(web, shop.ses.id, unconfirmed).status_code == 403
    worker()
    assert len(payloads()) == 1 and statuses(shop.r)[0] == "sent"
    assert len([req for req, _ in sns.server.log if req.args.get("Action") == "ConfirmSubscription"]) == 1


# Trouble --------------------------------------------------------------------------------------


def test_an_authentic_but_unreadable_payload_is_stored_and_fails_readably(shop, web, worker, client):
    resp = web.post(f"/webhooks/postmark/{shop.pm.id}", data=b"not json", headers=basic_auth())
    assert resp.status_code == 200
    worker()
    (failed,) = payloads(shop.pm.id)
    assert failed.status == "failed" and "not JSON" in failed.error and failed.error.startswith("Not readable")

    page = client.get(f"/providers/{shop.pm.id}/webhooks/{failed.id}").get_data(as_text=True)
    assert "Payload #" in page and "not JSON" in page and "Process again" in page
    again = client.post(f"/providers/{shop.pm.id}/webhooks/{failed.id}/reprocess", data={"csrf_token": csrf(page)})
    assert again.status_code == 302
    assert "failed again" in client.get(again.headers["Location"]).get_data(as_text=True)
    (still,) = payloads(shop.pm.id)
    assert still.status == "failed" and "not JSON" in still.error
    assert event_count() == 0 and statuses(shop.r) == ["sent"] * 6 and suppressions(shop.ws.id) == {}


def test_a_payload_stored_while_the_queue_is_down_is_processed_later(shop, web, worker, app, monkeypatch, ctx):
    down = f"redis://127.0.0.1:{free_port()}/0"
    with monkeypatch.context() as m:
        m.setitem(app.config, "REDIS_URL", down)
        resp = post_sendgrid(web, shop.sg.id, sendgrid_batch(shop)[:2])
    assert resp.status_code == 200  # durable in the database: the provider need not retry
    worker()
    (waiting,) = payloads(shop.sg.id)
    assert waiting.status == "received" and event_count() == 0

    assert webhook_intake.requeue_stuck(older_than=0) == 1
    worker()
    (done,) = payloads(shop.sg.id)
    assert (done.status, done.events_new) == ("processed", 2)
    assert statuses(shop.r)[:2] == ["delivered", "delivered"]


def test_mailgun_is_stored_while_redis_is_down(shop, web, worker, app, monkeypatch):
    down = f"redis://127.0.0.1:{free_port()}/0"
    event = mailgun_event("delivered", shop.r[0], shop.cid, **{"delivery-status": {"code": 250, "message": "OK"}})
    with monkeypatch.context() as m:
        m.setitem(app.config, "REDIS_URL", down)
        resp = web.post(f"/webhooks/mailgun/{shop.mg.id}", data=mailgun_body(event), content_type="application/json")
    assert resp.status_code == 200
    assert webhook_intake.requeue_stuck(older_than=0) == 1
    worker()
    assert statuses(shop.r)[0] == "delivered"


def test_a_payload_that_deadlocks_with_another_writer_is_processed_on_the_next_try(shop, web, worker):
    """Another writer (as the open-pixel drain) holds a recipient the processing needs, then waits for
    one the processing holds: PostgreSQL undoes the processing, which is tried again, not failed."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and deadlock detection are PostgreSQL's")
    assert post_sendgrid(web, shop.sg.id, sendgrid_batch(shop)).status_code == 200
    dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    first, last = shop.r[0]["id"], shop.r[3]["id"]
    drain = psycopg.connect(dsn)
    drain.execute("SET deadlock_timeout = '10s'")  # the worker's own check (after 1 s) finds the deadlock
    drain.execute("UPDATE campaign_recipients SET opened_at = now() WHERE id = %s", (last,))
    outcome = []

    def then_the_other_row():
        with psycopg.connect(dsn, autocommit=True) as watch:
            deadline = time.monotonic() + 20
            while not watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    outcome.append("the worker never waited for the row")
                    return
                time.sleep(0.02)
        try:
            drain.execute("UPDATE campaign_recipients SET opened_at = now() WHERE id = %s", (first,))
            drain.commit()
            outcome.append("committed")
        except psycopg.Error as exc:
            drain.rollback()
            outcome.append(repr(exc))

    thread = threading.Thread(target=then_the_other_row)
    thread.start()
    try:
        worker()
    finally:
        thread.join(30)
        drain.close()
    assert outcome == ["committed"]
    (done,) = payloads(shop.sg.id)
    assert (done.status, done.events_new, done.error) == ("processed", 7, None)
    assert statuses(shop.r) == ["delivered", "opened", "bounced", "failed", "complained", "sent"]
    assert recipient(first).opened_at is not None and event_count() == 7


def test_ingested_events_reach_the_workspaces_outbound_webhook(shop, web, worker, httpserver):
    httpserver.expect_request("/herald-events", method="POST").respond_with_data("ok")
    endpoint, secret = outbound_webhooks.create_endpoint(shop.ws.id, httpserver.url_for("/herald-events"))
    db.session.commit()
    assert post_sendgrid(web, shop.sg.id, sendgrid_batch(shop)).status_code == 200
    worker()
    outbound_webhooks.deliver_due()
    received = [req for req, _ in httpserver.log]
    assert len(received) == 7
    for req in received:
        assert outbound_webhooks.verify_signature(secret, req.headers["X-Herald-Signature"], req.get_data())
    bodies = [json.loads(req.get_data()) for req in received]
    assert sorted(b["type"] for b in bodies) == sorted(
        ["delivery", "delivery", "open", "bounce", "bounce", "complaint", "unknown"]
    )
    bounced = next(b for b in bodies if b["type"] == "bounce" and b["email"] == shop.r[2]["email"])
    assert bounced["campaign_id"] == shop.cid and bounced["recipient_id"] == shop.r[2]["id"]
    assert bounced["data"]["bounce_type"] == "hard" and bounced["provider_id"] == shop.sg.id


def test_a_transactional_messages_events_reach_the_message_and_a_late_delivery_never_undoes_a_bounce(shop, web, worker):
    from app.models import Message
    from app.services.content import templates
    from app.services.delivery import transactional

    tpl = templates.create_template(
        shop.ws.id,
        {"name": "Receipt", "subject": "Your receipt", "body_html": "<p>Thanks</p>", "category": "transactional"},
    )
    db.session.commit()
    sent = []
    for to in ("buyer@example.com", "gone@example.com"):
        msg = transactional.create_message(shop.ws.id, tpl.id, to, from_email="shop@shop.example.com").message
        db.session.commit()
        worker()
        db.session.expire_all()
        msg = db.session.get(Message, msg.id)
        assert msg.status == "sent"
        sent.append({"id": msg.id, "email": to, "message_id": msg.message_id})
    ok, gone = sent

    def event(name, m, **fields):
        return sendgrid_event(name, m, 0, herald_ref=f"m-{m['id']}", **fields)

    bounce = event("bounce", gone, type="bounce", status="5.1.1", reason="550 5.1.1 No such user")
    late = event("delivered", gone)  # SendGrid's events arrive in any order
    assert post_sendgrid(web, shop.sg.id, [event("delivered", ok), event("open", ok), bounce]).status_code == 200
    assert post_sendgrid(web, shop.sg.id, [late]).status_code == 200
    worker()
    db.session.expire_all()
    delivered, bounced = db.session.get(Message, ok["id"]), db.session.get(Message, gone["id"])
    assert delivered.status == "delivered" and delivered.delivered_at and delivered.opened_at
    assert bounced.status == "bounced" and "5.1.1" in bounced.reason
    assert suppressions(shop.ws.id) == {"gone@example.com": "bounced"}
