"""Provider webhooks as the providers send them, for the intake tests: SendGrid batches signed
with a test ECDSA key, Mailgun events signed with an HMAC key, Postmark basic auth, SNS
messages signed with a test RSA key whose certificate a local https server serves; and a
campaign whose recipients Herald has sent, for the events to be about."""

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select, text, update

from app.extensions import db
from app.models import CampaignRecipient, Subscriber
from app.services.campaigns import lifecycle, recipients
from app.services.delivery import providers as provider_service
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)
from tests.unit.test_sns_verify import _cert, _pem, _sign

# SendGrid -------------------------------------------------------------------------------------

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def public_key_b64(private_key) -> str:
    """The public key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sendgrid_headers(body: bytes, key=SENDGRID_KEY, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "SendGrid Event API",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def sendgrid_event(name: str, recipient: dict, campaign_id: int, **fields) -> dict:
    """One event as SendGrid posts it, about a recipient Herald sent (its `herald_ref` custom arg)."""
    event = {
        "email": recipient["email"],
        "timestamp": int(time.time()),
        "smtp-id": recipient["message_id"],
        "event": name,
        "category": ["spring"],
        "sg_event_id": fields.pop("sg_event_id", None) or secrets.token_urlsafe(16),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "herald_ref": f"c-{campaign_id}-{recipient['id']}",
    }
    event.update(fields)
    return event


def post_sendgrid(client, provider_id: int, events: list, key=SENDGRID_KEY, timestamp: int | None = None):
    body = json.dumps(events).encode()
    return client.post(f"/webhooks/sendgrid/{provider_id}", data=body, headers=sendgrid_headers(body, key, timestamp))


# Mailgun --------------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-webhook-signing-test"


def mailgun_body(event_data: dict, key: str = MAILGUN_KEY, token: str | None = None, timestamp=None) -> bytes:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": stamp, "token": token, "signature": digest}, "event-data": event_data}
    ).encode()


def mailgun_event(name: str, recipient: dict, campaign_id: int, **fields) -> dict:
    event = {
        "event": name,
        "id": secrets.token_urlsafe(16),
        "timestamp": time.time(),
        "recipient": recipient["email"],
        "message": {"headers": {"message-id": recipient["message_id"].strip("<>"), "subject": "Spring"}},
        "user-variables": {"herald_ref": f"c-{campaign_id}-{recipient['id']}"},
        "log-level": "info",
    }
    event.update(fields)
    return event


# Postmark -------------------------------------------------------------------------------------

POSTMARK_USER, POSTMARK_PASSWORD = "herald-hooks", "s3cret:with:colons"


def basic_auth(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def postmark_time(offset_seconds: float = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_seconds, UTC).isoformat().replace("+00:00", "Z")


# SNS ------------------------------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def make_pki(folder: Path) -> dict:
    """A test CA, the https server's certificate for localhost, and an SNS signing key and certificate."""
    now = dt.datetime.now(dt.UTC)
    year = dt.timedelta(days=365)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Herald Test CA", ca_key, "Herald Test CA", ca_key, start=now - year, end=now + year, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = _cert("localhost", server_key, "Herald Test CA", ca_key, start=now - year, end=now + year, sans=sans)
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing = _cert("sns.amazonaws.com", signing_key, "Amazon (test)", ca_key, start=now - year, end=now + year)
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "server.pem").write_bytes(_pem(server))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return {
        "ca_file": str(folder / "ca.pem"),
        "server_cert": str(folder / "server.pem"),
        "server_key": str(folder / "server.key"),
        "key": signing_key,
        "cert_pem": _pem(signing),
    }


def sns_notification(server, key, ses_event: dict, topic: str = TOPIC) -> dict:
    message = {
        "Type": "Notification",
        "MessageId": secrets.token_hex(16),
        "TopicArn": topic,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(ses_event),
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "SigningCertURL": server.url_for("/SimpleNotificationService-test.pem"),
        "UnsubscribeURL": server.url_for("/?Action=Unsubscribe"),
    }
    return _sign(message, key, "2")


def sns_confirmation(server, key, token: str, topic: str = TOPIC) -> dict:
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": secrets.token_hex(16),
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": server.url_for(f"/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}"),
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "SigningCertURL": server.url_for("/SimpleNotificationService-test.pem"),
    }
    return _sign(message, key, "1")


def sns_headers(message: dict) -> dict:
    return {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
    }


def ses_mail(recipient: dict) -> dict:
    """SES's `mail` object: no tags here, only the Message-ID header Herald wrote."""
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "messageId": "0100018f-ses-" + secrets.token_hex(8),
        "source": "news@shop.example.com",
        "destination": [recipient["email"]],
        "headers": [{"name": "Message-ID", "value": recipient["message_id"]}],
    }


# A campaign Herald sent -----------------------------------------------------------------------


def sent_campaign(workspace_id: int, smtp_port: int, worker, n: int = 6, prefix: str = "person", name="Spring"):
    """n subscribers on a list, a campaign sent to them through a local SMTP relay; its recipients."""
    lst = create_list(workspace_id, f"{name} list")
    create_subscribers(workspace_id, people(n, prefix + "{i}@example.com", "Person {i}"), lst.id)
    relay = provider_service.default_provider(workspace_id)
    if relay is None or relay.provider_type != "smtp":
        relay = create_smtp_provider(workspace_id, smtp_port)
    tpl = create_template(workspace_id, name=f"{name} template")
    camp = create_campaign(workspace_id, tpl.id, [lst.id], relay.id, name=name, from_name="Acme Shop")
    db.session.commit()
    lifecycle.send_now(workspace_id, camp.id)
    db.session.commit()
    worker()
    return camp, recipients_of(camp.id)


def another_campaign(workspace_id: int, list_id: int, worker, name: str):
    """The same list, sent again (a new campaign through the default relay)."""
    relay = provider_service.default_provider(workspace_id)
    tpl = create_template(workspace_id, name=f"{name} template")
    camp = create_campaign(workspace_id, tpl.id, [list_id], relay.id, name=name, from_name="Acme Shop")
    db.session.commit()
    lifecycle.send_now(workspace_id, camp.id)
    db.session.commit()
    worker()
    return camp, recipients_of(camp.id)


def bulk_sent_campaign(workspace_id: int, n: int, provider_id: int, prefix: str = "flood"):
    """A campaign to n subscribers whose recipients are written set-based and marked sent through
    `provider_id` (as if handed off there), without sending any message; its recipients."""
    lst = create_list(workspace_id, "Everyone")
    rows = people(n, prefix + "{i:05d}@example.com", name=None)
    for i in range(0, n, 5000):
        create_subscribers(workspace_id, rows[i : i + 5000], lst.id)
    tpl = create_template(workspace_id, name="Flood template")
    camp = create_campaign(workspace_id, tpl.id, [lst.id], provider_id, name="Flood", from_name="Acme Shop")
    camp.status = "sending"
    camp.total_recipients = recipients.materialize_recipients(camp)  # one INSERT ... SELECT
    db.session.execute(
        text(
            "UPDATE campaign_recipients SET status = 'sent', sent_at = :now, provider_id = :pid, "
            "message_id = '<' || campaign_id || '.' || id || '.5eed@shop.example.com>' WHERE campaign_id = :cid"
        ),
        {"now": datetime.now(UTC), "pid": provider_id, "cid": camp.id},
    )
    recipients.finish_if_done(camp.id)
    db.session.commit()
    return camp, recipients_of(camp.id)


def recipients_of(campaign_id: int) -> list[dict]:
    rows = db.session.execute(
        select(
            CampaignRecipient.id, CampaignRecipient.email, CampaignRecipient.message_id, CampaignRecipient.subscriber_id
        )
        .where(CampaignRecipient.campaign_id == campaign_id)
        .order_by(CampaignRecipient.id)
    ).all()
    return [{"id": r[0], "email": r[1], "message_id": r[2], "subscriber_id": r[3]} for r in rows]


def carried_by(campaign_id: int, provider_id: int) -> None:
    """Record that the campaign's messages went out through `provider_id` (as a hand-off there would)."""
    db.session.execute(
        update(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id).values(provider_id=provider_id)
    )
    db.session.commit()


def subscriber_status(email: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber.status).where(Subscriber.email == email))
