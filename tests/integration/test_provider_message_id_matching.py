"""Provider events that carry only the provider's own message id (the id its API answered at hand-off)
still reach their recipient: through the real webhook endpoints and the RQ worker."""

import json
import secrets
import time
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from app.extensions import db
from app.models import CampaignRecipient, Event, Message, Suppression
from tests.factories import create_provider
from tests.webhook_support import (
    MAILGUN_KEY,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    SENDGRID_KEY,
    basic_auth,
    mailgun_body,
    post_sendgrid,
    postmark_time,
    public_key_b64,
    sent_campaign,
    subscriber_status,
)


def _providers(workspace_id: int, key=SENDGRID_KEY) -> SimpleNamespace:
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
    db.session.commit()
    return SimpleNamespace(sg=sg, mg=mg, pm=pm)


def handed_off(recipient_id: int, provider_id: int, provider_message_id: str) -> None:
    """What a hand-off through an API provider records: the provider and the id its API answered."""
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.id == recipient_id)
        .values(provider_id=provider_id, provider_message_id=provider_message_id)
    )
    db.session.commit()


@pytest.fixture
def shop(workspace, smtp_sink, worker):
    camp, rcpts = sent_campaign(workspace.id, smtp_sink.port, worker)
    return SimpleNamespace(ws=workspace, cid=camp.id, r=rcpts, **vars(_providers(workspace.id)))


@pytest.fixture
def web(app):
    return app.test_client()


def status(rid: int) -> str:
    db.session.expire_all()
    return db.session.get(CampaignRecipient, rid).status


def suppressed(workspace_id: int) -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Suppression.email, Suppression.reason).where(Suppression.workspace_id == workspace_id)
    )
    return dict(rows.all())


def bare_sendgrid(name: str, email: str, sg_message_id: str, **fields) -> dict:
    """A SendGrid event without Herald's custom argument or Message-ID: only SendGrid's own id."""
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": name,
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": sg_message_id,
        **fields,
    }


def test_a_sendgrid_bounce_with_only_its_message_id_bounces_the_recipient_and_suppresses(shop, web, worker):
    gone, blocked, fine = shop.r[0], shop.r[1], shop.r[2]
    for rcpt, xid in (
        (gone, "Lkfj8H2qRqWdSfR0hJ2wVw"),
        (blocked, "7OHo8xhUQfaJNRuDshwYkA"),
        (fine, "14c5d75ce93.dfd.64b469"),
    ):
        handed_off(rcpt["id"], shop.sg.id, xid)
    batch = [
        # Event names as some SendGrid payloads spell them.
        bare_sendgrid("Processed", gone["email"], "Lkfj8H2qRqWdSfR0hJ2wVw.filterdrecv-p3mdw1-756b745b58-kmzbl-18-0"),
        bare_sendgrid(
            "Bounce",
            gone["email"],
            "Lkfj8H2qRqWdSfR0hJ2wVw.filterdrecv-p3mdw1-756b745b58-kmzbl-18-0",
            type="Bounce",
            status="5.1.1",
            reason="550 5.1.1 The email account that you tried to reach does not exist",
        ),
        bare_sendgrid(
            "bounce",
            blocked["email"],
            "7OHo8xhUQfaJNRuDshwYkA.filter0001.16648.5515E0B88.0",
            type="blocked",
            status="5.7.1",
            reason="550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        ),
        # The older id format: X-Message-Id itself has dots, the suffix starts at ".filter".
        bare_sendgrid("Delivered", fine["email"], "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"),
    ]
    assert post_sendgrid(web, shop.sg.id, batch).status_code == 200
    worker()
    assert [status(r["id"]) for r in (gone, blocked, fine)] == ["bounced", "failed", "delivered"]
    # A dead mailbox is suppressed; a policy block never is.
    assert suppressed(shop.ws.id) == {gone["email"]: "bounced"}
    assert subscriber_status(gone["email"]) == "bounced" and subscriber_status(blocked["email"]) == "active"
    db.session.expire_all()
    types = db.session.execute(select(Event.event_type, Event.recipient_id).order_by(Event.id)).all()
    assert types == [("send", gone["id"]), ("bounce", gone["id"]), ("bounce", blocked["id"]), ("delivery", fine["id"])]


def test_a_mailgun_failure_and_a_postmark_complaint_are_matched_by_the_providers_ids(shop, web, worker):
    mg_rcpt, pm_rcpt = shop.r[3], shop.r[4]
    handed_off(mg_rcpt["id"], shop.mg.id, "20250301101500.abc123@mg.shop.example.com")  # stored bare
    handed_off(pm_rcpt["id"], shop.pm.id, "883953f4-6105-42a2-a16a-77a8eac79483")
    failed = {
        "event": "failed",
        "id": secrets.token_urlsafe(16),
        "timestamp": time.time(),
        "severity": "permanent",
        "reason": "bounce",
        "recipient": mg_rcpt["email"],
        # Angle brackets, as some Mailgun payloads carry it; no user-variables.
        "message": {"headers": {"message-id": "<20250301101500.abc123@mg.shop.example.com>"}},
        "delivery-status": {"code": 550, "message": "5.1.1 No such user here", "description": ""},
    }
    resp = web.post(f"/webhooks/mailgun/{shop.mg.id}", data=mailgun_body(failed), content_type="application/json")
    assert resp.status_code == 200
    complaint = {
        "RecordType": "SpamComplaint",
        "ID": 4242,
        "Type": "SpamComplaint",
        "Email": pm_rcpt["email"],
        "BouncedAt": postmark_time(),
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    }
    resp = web.post(f"/webhooks/postmark/{shop.pm.id}", data=json.dumps(complaint), headers=basic_auth())
    assert resp.status_code == 200
    worker()
    assert [status(mg_rcpt["id"]), status(pm_rcpt["id"])] == ["bounced", "complained"]
    assert suppressed(shop.ws.id) == {mg_rcpt["email"]: "bounced", pm_rcpt["email"]: "complained"}


def test_a_transactional_message_is_matched_by_the_providers_id(shop, web, worker):
    message = Message(
        workspace_id=shop.ws.id,
        to_email="buyer@example.com",
        from_email="shop@shop.example.com",
        status="sent",
        provider_id=shop.sg.id,
        provider_message_id="Rcpt0nlyX1d",
    )
    db.session.add(message)
    db.session.commit()
    event = bare_sendgrid(
        "bounce", "buyer@example.com", "Rcpt0nlyX1d.filterdrecv-1", type="bounce", reason="550 5.1.1 user unknown"
    )
    assert post_sendgrid(web, shop.sg.id, [event]).status_code == 200
    worker()
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "bounced"
    assert suppressed(shop.ws.id) == {"buyer@example.com": "bounced"}


def test_a_provider_message_id_never_matches_across_workspaces_or_providers(shop, web, worker, make_workspace):
    target = shop.r[5]
    handed_off(target["id"], shop.sg.id, "SharedLookingId")
    rival_key = ec.generate_private_key(ec.SECP256R1())
    rival = make_workspace("Rival", "rival@example.com")
    theirs = _providers(rival.id, key=rival_key)
    event = bare_sendgrid("bounce", target["email"], "SharedLookingId.filter1", type="bounce", reason="550 5.1.1 gone")
    # The rival's own SendGrid webhook: the id is not theirs, nobody in their workspace is touched.
    assert post_sendgrid(web, theirs.sg.id, [event], key=rival_key).status_code == 200
    # The same id on this workspace's Mailgun webhook: stored for SendGrid, so no match either.
    mg = {
        "event": "failed",
        "id": secrets.token_urlsafe(16),
        "timestamp": time.time(),
        "severity": "permanent",
        "reason": "bounce",
        "recipient": target["email"],
        "message": {"headers": {"message-id": "SharedLookingId"}},
        "delivery-status": {"code": 550, "message": "5.1.1 gone"},
    }
    assert (
        web.post(f"/webhooks/mailgun/{shop.mg.id}", data=mailgun_body(mg), content_type="application/json").status_code
        == 200
    )
    worker()
    assert status(target["id"]) == "sent"
    assert suppressed(shop.ws.id) == {} and suppressed(rival.id) == {}
    db.session.expire_all()
    assert db.session.scalar(select(Event.recipient_id).where(Event.recipient_id.is_not(None))) is None
