"""SES: sending through SES v2 (moto in server mode, or a fake SES answering errors) and
turning SES events, as SNS delivers them, into ProviderEvents. No app, no database."""

import base64
import json
import time
from datetime import UTC, datetime

import boto3
import pytest
from werkzeug import Response

from app.providers import EVENT_TYPES, BadPayload, TransportUnavailable
from app.providers.ses import SESTransport, parse_webhook
from tests.moto_support import moto_data, moto_endpoint, moto_reset  # noqa: F401  (moto_endpoint: fixture)
from tests.support import free_port

CREDS = {"access_key_id": "AKIDTEST", "secret_access_key": "secret"}
RAW = (
    b"From: Sender <sender@example.com>\r\nTo: jane@example.net\r\nSubject: Hello\r\n"
    b"Message-ID: <c-1-2@herald.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Hello Jane\r\n"
)


# -- sending through moto --------------------------------------------------------------------


@pytest.fixture
def moto(moto_endpoint):  # noqa: F811
    """The shared moto server, emptied, with sender@example.com verified."""
    moto_reset(moto_endpoint)
    admin = boto3.client(
        "sesv2",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
    )
    admin.create_email_identity(EmailIdentity="sender@example.com")
    admin.close()
    return moto_endpoint


def _transport(endpoint: str, **kw) -> SESTransport:
    settings = {"region": "us-east-1", "endpoint_url": endpoint, **kw.pop("settings", {})}
    # The local server plays SES: its answers are shown as Amazon's would be.
    return SESTransport(settings, CREDS, **{"answer_hosts": ("localhost", "127.0.0.1"), **kw})


def test_send_raw_through_moto(moto):
    transport = _transport(moto)
    result = transport.send("sender@example.com", "jane@example.net", RAW, ref="c-1-2")
    assert result.ok and result.provider_message_id and result.failure is None
    sent = moto_data(moto)["ses"]["RawMessage"]
    assert len(sent) == 1
    assert sent[0]["raw_data"].encode() == RAW
    assert "jane@example.net" in sent[0]["destinations"]
    assert sent[0]["source"] == "sender@example.com"
    # one client per transport, reused
    client = transport.client()
    assert transport.send("sender@example.com", "joe@example.net", RAW, ref="m-7").ok
    assert transport.client() is client
    transport.close()


def test_unverified_sender_is_a_permanent_failure(moto):
    result = _transport(moto).send("nobody@unverified.example", "jane@example.net", RAW)
    assert not result.ok
    assert result.failure == "permanent" and result.code == 400
    assert result.detail.startswith("MessageRejected: ")
    assert moto_data(moto)["ses"]["RawMessage"] == []


def test_closed_port_is_unavailable():
    transport = _transport(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(TransportUnavailable, match="cannot reach"):
        transport.send("sender@example.com", "jane@example.net", RAW)
    with pytest.raises(TransportUnavailable):
        transport.check()


def test_missing_credentials_are_unavailable():
    with pytest.raises(TransportUnavailable, match="credentials"):
        SESTransport({"region": "us-east-1"}, {}).send("a@example.com", "b@example.net", RAW)


def test_sandbox_sends_nothing(httpserver):
    result = _transport(httpserver.url_for(""), sandbox=True, tracking=True).send(
        "sender@example.com", "jane@example.net", RAW, ref="c-1-2"
    )
    assert result.ok and result.provider_message_id is None and result.detail == "sandbox: not sent"
    assert httpserver.log == []


def test_invalid_ref_is_a_programming_error():
    with pytest.raises(ValueError):
        _transport("http://127.0.0.1:9").send("a@example.com", "b@example.net", RAW, ref="c 1/2")


# -- a fake SES for what moto cannot do ------------------------------------------------------

SEND_PATH = "/v2/email/outbound-emails"


def _error(code: str, status: int, message: str = "error text") -> Response:
    return Response(
        json.dumps({"message": message}),
        status=status,
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
        content_type="application/json",
    )


def test_request_carries_tags_configuration_set_and_raw(httpserver):
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_json({"MessageId": "ses-id-1"})
    transport = _transport(httpserver.url_for(""), settings={"configuration_set": "herald-events"})
    result = transport.send("sender@example.com", "jane@example.net", RAW, ref="c-12-345")
    assert result.ok and result.provider_message_id == "ses-id-1"
    body = json.loads(httpserver.log[0][0].get_data())
    assert body["FromEmailAddress"] == "sender@example.com"
    assert body["Destination"] == {"ToAddresses": ["jane@example.net"]}
    assert base64.b64decode(body["Content"]["Raw"]["Data"]) == RAW
    assert body["EmailTags"] == [{"Name": "herald_ref", "Value": "c-12-345"}]
    assert body["ConfigurationSetName"] == "herald-events"


@pytest.mark.parametrize(
    "code,status",
    [
        ("TooManyRequestsException", 429),
        ("LimitExceededException", 400),
        ("SendingPausedException", 400),
        ("AccountSuspendedException", 400),
        ("UnrecognizedClientException", 403),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_pauses_credentials_and_5xx_are_unavailable(httpserver, code, status):
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_response(_error(code, status, "slow down"))
    with pytest.raises(TransportUnavailable) as caught:
        _transport(httpserver.url_for("")).send("sender@example.com", "jane@example.net", RAW)
    assert code in str(caught.value) and "slow down" in str(caught.value)
    assert len(httpserver.log) == 1  # botocore did not retry


@pytest.mark.parametrize(
    "code,status",
    [
        ("MessageRejected", 400),
        ("MailFromDomainNotVerifiedException", 400),
        ("BadRequestException", 400),
        ("NotFoundException", 404),
    ],
)
def test_refusals_about_the_message_are_permanent(httpserver, code, status):
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_response(_error(code, status, "no way"))
    result = _transport(httpserver.url_for("")).send("sender@example.com", "jane@example.net", RAW)
    assert not result.ok
    assert (result.failure, result.code, result.detail) == ("permanent", status, f"{code}: no way")


def test_no_answer_in_time_is_unknown(httpserver):
    def slow(request):
        time.sleep(0.8)
        return Response(json.dumps({"MessageId": "late"}), content_type="application/json")

    httpserver.expect_request(SEND_PATH, method="POST").respond_with_handler(slow)
    result = _transport(httpserver.url_for(""), timeout=0.5).send("sender@example.com", "jane@example.net", RAW)
    assert not result.ok and result.failure == "unknown"
    assert result.detail.startswith("no answer from SES within 0.5 s: it may have accepted the message")
    assert len(httpserver.log) <= 1  # one attempt: a retry could send the message twice


def test_unreadable_answer_is_unknown(httpserver):
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_data("<html>proxy error</html>", status=200)
    result = _transport(httpserver.url_for("")).send("sender@example.com", "jane@example.net", RAW)
    assert not result.ok and result.failure == "unknown"


ACCOUNT = {
    "ProductionAccessEnabled": True,
    "SendingEnabled": True,
    "EnforcementStatus": "HEALTHY",
    "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 120.0},
}


def test_check_reports_the_account(httpserver):
    httpserver.expect_request("/v2/email/account", method="GET").respond_with_json(ACCOUNT)
    facts = _transport(httpserver.url_for("")).check()
    assert facts["production_access"] is True and facts["sending_enabled"] is True
    assert (facts["max_send_rate"], facts["max_24_hour_send"], facts["sent_last_24_hours"]) == (14.0, 50000.0, 120.0)


def test_check_paused_account_is_unavailable(httpserver):
    httpserver.expect_request("/v2/email/account").respond_with_json({**ACCOUNT, "SendingEnabled": False})
    with pytest.raises(TransportUnavailable, match="sending is paused for this SES account"):
        _transport(httpserver.url_for("")).check()


def test_check_refused_credentials_are_unavailable(httpserver):
    httpserver.expect_request("/v2/email/account").respond_with_response(
        _error("UnrecognizedClientException", 403, "The security token included in the request is invalid.")
    )
    with pytest.raises(TransportUnavailable, match="security token"):
        _transport(httpserver.url_for("")).check()


# -- events ----------------------------------------------------------------------------------

SES_ID = "0100018f-ses-message-id-000000"


def _mail(destination=("jane@example.net",), tags=True) -> dict:
    mail = {
        "timestamp": "2024-05-01T10:00:00.000Z",
        "source": "Sender <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
        "sendingAccountId": "123456789012",
        "messageId": SES_ID,
        "destination": list(destination),
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "Sender <sender@example.com>"},
            {"name": "To", "value": ", ".join(destination)},
            {"name": "Message-ID", "value": "<c-1-2@herald.test>"},
            {"name": "Subject", "value": "Hello"},
        ],
        "commonHeaders": {"from": ["Sender <sender@example.com>"], "to": list(destination), "messageId": SES_ID},
    }
    if tags:
        mail["tags"] = {"ses:configuration-set": ["herald-events"], "herald_ref": ["c-1-2"]}
    return mail


def _envelope(message, message_id="sns-msg-1", kind="Notification") -> bytes:
    body = {
        "Type": kind,
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2024-05-01T10:05:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    return json.dumps(body).encode()


def _one(event: dict):
    events = parse_webhook({}, _envelope(event))
    assert len(events) == 1
    assert events[0].event_type in EVENT_TYPES
    return events[0]


def _bounce(btype, subtype, status="5.1.1", diagnostic="smtp; 550 5.1.1 user unknown"):
    return {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": btype,
            "bounceSubType": subtype,
            "bouncedRecipients": [
                {"emailAddress": "jane@example.net", "action": "failed", "status": status, "diagnosticCode": diagnostic}
            ],
            "timestamp": "2024-05-01T10:01:02.669Z",
            "feedbackId": "feedback-1",
            "reportingMTA": "dsn; mta.example.net",
        },
        "mail": _mail(),
    }


def test_permanent_bounce_is_hard():
    ev = _one(_bounce("Permanent", "General"))
    assert (ev.event_type, ev.bounce_type, ev.raw_type) == ("bounce", "hard", "Bounce/Permanent/General")
    assert ev.event_id == "sns-msg-1"
    assert ev.email == "jane@example.net"
    assert ev.occurred_at == datetime(2024, 5, 1, 10, 1, 2, 669000, tzinfo=UTC)
    assert (ev.ref, ev.message_id, ev.provider_message_id) == ("c-1-2", "<c-1-2@herald.test>", SES_ID)
    assert (ev.smtp_code, ev.enhanced, ev.diagnostic) == (550, "5.1.1", "smtp; 550 5.1.1 user unknown")
    assert ev.data["bounceSubType"] == "General" and ev.data["feedbackId"] == "feedback-1"


def test_permanent_bounce_with_a_policy_diagnostic_is_a_block():
    ev = _one(_bounce("Permanent", "General", "5.7.1", "smtp; 550 5.7.1 Message rejected due to local policy"))
    assert (ev.event_type, ev.bounce_type, ev.enhanced) == ("bounce", "block", "5.7.1")


def test_noemail_is_hard_and_suppressed_is_a_reject():
    assert _one(_bounce("Permanent", "NoEmail")).bounce_type == "hard"
    for subtype in ("Suppressed", "OnAccountSuppressionList"):
        ev = _one(_bounce("Permanent", subtype, "5.1.1", "Amazon SES did not send the message: suppression list"))
        assert (ev.event_type, ev.raw_type) == ("reject", f"Bounce/Permanent/{subtype}")


def test_transient_and_undetermined_bounces_are_soft():
    ev = _one(_bounce("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 mailbox full"))
    assert (ev.event_type, ev.bounce_type, ev.raw_type) == ("bounce", "soft", "Bounce/Transient/MailboxFull")
    ev = _one(_bounce("Undetermined", "Undetermined", None, None))
    assert (ev.event_type, ev.bounce_type) == ("bounce", "soft")


def test_complaint_and_complaint_on_suppression_list():
    complaint = {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "jane@example.net"}],
            "timestamp": "2024-05-01T11:00:00.000Z",
            "feedbackId": "feedback-2",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2024-05-01T10:59:00.000Z",
        },
        "mail": _mail(),
    }
    ev = _one(complaint)
    assert (ev.event_type, ev.email, ev.user_agent) == ("complaint", "jane@example.net", "Yahoo!-Mail-Feedback/2.0")
    assert ev.data["complaintFeedbackType"] == "abuse" and ev.data["feedbackId"] == "feedback-2"
    complaint["complaint"]["complaintSubType"] = "OnAccountSuppressionList"
    assert _one(complaint).event_type == "reject"


def test_delivery_to_two_recipients_gives_two_events_with_stable_ids():
    delivery = {
        "eventType": "Delivery",
        "mail": _mail(["jane@example.net", "Joe <joe@example.org>"]),
        "delivery": {
            "timestamp": "2024-05-01T10:00:04.133Z",
            "processingTimeMillis": 4133,
            "recipients": ["jane@example.net", "joe@example.org"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-1.smtp-out.amazonses.com",
        },
    }
    body = _envelope(delivery, message_id="sns-msg-9")
    events = parse_webhook({}, body)
    assert [(e.event_type, e.email, e.event_id) for e in events] == [
        ("delivery", "jane@example.net", "sns-msg-9:0"),
        ("delivery", "joe@example.org", "sns-msg-9:1"),
    ]
    assert events[0].data["smtpResponse"] == "250 2.6.0 Message received"
    assert [e.event_id for e in parse_webhook({}, body)] == [e.event_id for e in events]


def test_send_reject_rendering_failure():
    ev = _one({"eventType": "Send", "mail": _mail(), "send": {}})
    assert (ev.event_type, ev.email, ev.occurred_at.year) == ("send", "jane@example.net", 2024)
    ev = _one({"eventType": "Reject", "mail": _mail(), "reject": {"reason": "Bad content"}})
    assert (ev.event_type, ev.diagnostic) == ("reject", "Bad content")
    failure = {"errorMessage": "Attribute 'name' is not present in the rendering data.", "templateName": "T1"}
    ev = _one({"eventType": "Rendering Failure", "mail": _mail(), "failure": failure})
    assert (ev.event_type, ev.raw_type, ev.data["templateName"]) == ("rendering_failure", "Rendering Failure", "T1")


def test_open_and_click():
    opened = {"ipAddress": "192.0.2.1", "timestamp": "2024-05-01T12:00:19.652Z", "userAgent": "Mozilla/5.0 (iPhone)"}
    ev = _one({"eventType": "Open", "mail": _mail(), "open": opened})
    assert (ev.event_type, ev.ip, ev.user_agent, ev.email) == (
        "open",
        "192.0.2.1",
        "Mozilla/5.0 (iPhone)",
        "jane@example.net",
    )
    assert ev.occurred_at == datetime(2024, 5, 1, 12, 0, 19, 652000, tzinfo=UTC)
    click = {**opened, "link": "https://example.com/offer?a=1", "linkTags": {"campaign": ["spring"]}}
    ev = _one({"eventType": "Click", "mail": _mail(), "click": click})
    assert (ev.event_type, ev.url, ev.data["linkTags"]) == (
        "click",
        "https://example.com/offer?a=1",
        {"campaign": ["spring"]},
    )


def test_delivery_delay():
    delay = {
        "timestamp": "2024-05-01T10:25:40.095Z",
        "delayType": "TransientCommunicationFailure",
        "expirationTime": "2024-05-01T22:25:40.914Z",
        "delayedRecipients": [
            {
                "emailAddress": "jane@example.net",
                "status": "4.4.1",
                "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
            }
        ],
    }
    ev = _one({"eventType": "DeliveryDelay", "mail": _mail(), "deliveryDelay": delay})
    assert (ev.event_type, ev.raw_type) == ("delivery_delay", "DeliveryDelay/TransientCommunicationFailure")
    assert (ev.smtp_code, ev.enhanced, ev.data["delayType"]) == (421, "4.4.1", "TransientCommunicationFailure")


def _subscription(old: dict, new: dict) -> dict:
    return {
        "eventType": "Subscription",
        "mail": _mail(),
        "subscription": {
            "contactList": "Newsletter",
            "timestamp": "2024-05-01T13:00:00.000Z",
            "source": "UnsubscribeHeader",
            "newTopicPreferences": new,
            "oldTopicPreferences": old,
        },
    }


def _prefs(all_off=False, **topics) -> dict:
    statuses = [{"topicName": t, "subscriptionStatus": s} for t, s in topics.items()]
    return {"unsubscribeAll": all_off, "topicSubscriptionStatus": statuses}


def test_subscription_compares_topic_preferences():
    ev = _one(_subscription(_prefs(news="OptIn"), _prefs(True, news="OptIn")))
    assert (ev.event_type, ev.data["contactList"]) == ("unsubscribe", "Newsletter")
    ev = _one(_subscription(_prefs(news="OptIn", deals="OptIn"), _prefs(news="OptIn", deals="OptOut")))
    assert (ev.event_type, ev.data["topicsOptedOut"]) == ("unsubscribe", ["deals"])
    assert _one(_subscription(_prefs(True, news="OptIn"), _prefs(news="OptIn"))).event_type == "resubscribe"
    assert _one(_subscription(_prefs(news="OptOut"), _prefs(news="OptIn"))).event_type == "resubscribe"
    assert _one(_subscription(_prefs(news="OptIn"), _prefs(news="OptIn"))).event_type == "unknown"
    mixed = _subscription(_prefs(a="OptIn", b="OptOut"), _prefs(a="OptOut", b="OptIn"))
    assert _one(mixed).event_type == "unknown"


def test_legacy_bounce_notification():
    legacy = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "jane@example.net", "status": "5.1.1", "action": "failed"}],
            "timestamp": "2024-05-01T10:01:02.000Z",
            "feedbackId": "feedback-3",
        },
        "mail": _mail(tags=False),
    }
    ev = _one(legacy)
    assert (ev.event_type, ev.bounce_type, ev.raw_type, ev.ref) == ("bounce", "hard", "Bounce/Permanent/General", None)
    assert ev.message_id == "<c-1-2@herald.test>"


def test_message_id_gets_angle_brackets_and_falls_back_to_common_headers():
    mail = _mail()
    mail["headers"] = [{"name": "Message-ID", "value": "bare-id@herald.test"}]
    assert _one({"eventType": "Send", "mail": mail, "send": {}}).message_id == "<bare-id@herald.test>"
    mail["headers"] = []
    mail["commonHeaders"]["messageId"] = "<common@herald.test>"
    assert _one({"eventType": "Send", "mail": mail, "send": {}}).message_id == "<common@herald.test>"


def test_unknown_event_type_is_kept():
    ev = _one({"eventType": "SomethingNew", "mail": _mail(), "somethingNew": {}})
    assert (ev.event_type, ev.raw_type, ev.email, ev.ref) == ("unknown", "SomethingNew", "jane@example.net", "c-1-2")


def test_messages_without_events():
    validated = "Successfully validated SNS topic for Amazon SES event publishing."
    assert parse_webhook({}, _envelope(validated)) == []
    assert parse_webhook({}, _envelope("You have chosen to subscribe", kind="SubscriptionConfirmation")) == []
    assert parse_webhook({}, _envelope("unsubscribed", kind="UnsubscribeConfirmation")) == []
    legacy_ok = {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "You have successfully subscribed"}
    assert parse_webhook({}, _envelope(legacy_ok)) == []


def test_other_text_notification_is_unknown():
    events = parse_webhook({}, _envelope("hello there"))
    assert [(e.event_type, e.event_id) for e in events] == [("unknown", "sns-msg-1")]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"hello": "world"}', b'{"Type": "Notification"}'])
def test_bad_payloads(body):
    with pytest.raises(BadPayload):
        parse_webhook({}, body)


def test_malformed_event_never_raises():
    events = parse_webhook({}, _envelope({"eventType": "Bounce", "bounce": "oops", "mail": ["x"]}))
    assert [(e.event_type, e.bounce_type, e.email) for e in events] == [("bounce", "soft", None)]
