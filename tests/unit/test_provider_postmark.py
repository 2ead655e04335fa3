"""Postmark: /email played by a local HTTP server answering as Postmark documents, and webhook
records in Postmark's documented shapes behind HTTP basic auth. No app, no database."""

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from app.providers import BadPayload, TransportUnavailable, WebhookRejected
from app.providers import postmark as pm
from app.services.content.mime import MessageSkeleton
from tests.support import free_port
from tests.unit.provider_support import connect_times_out, dropping_server, resolve_off_machine

TOKEN = "f0e4b7a2-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
CREDENTIALS = {"server_token": TOKEN, "webhook_username": "herald", "webhook_password": "s3cret:with:colons"}
RAW = MessageSkeleton("Zoë Müller, CEO", "news@example.com", "help@example.com", {"X-Herald-Campaign": "7"}).build(
    "Jérôme Dupont",
    "jerome@example.org",
    "Les nouveautés ✨",
    "<p>Bonjour</p>",
    "Bonjour",
    "<c7.r42@example.com>",
    {"List-Unsubscribe": "<https://herald.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
)
ACCEPTED = {
    "To": "jerome@example.org",
    "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
    "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
    "ErrorCode": 0,
    "Message": "OK",
}


# The local server plays the provider's API: its answers are shown as the real host's would be.
LOCAL_SERVER = ("localhost", "127.0.0.1")


def transport(server_or_url, settings=None, **kw) -> pm.PostmarkTransport:
    base = server_or_url if isinstance(server_or_url, str) else server_or_url.url_for("").rstrip("/")
    return pm.PostmarkTransport(
        {"api_base_url": base, **(settings or {})}, CREDENTIALS, **{"answer_hosts": LOCAL_SERVER, **kw}
    )


def sent_json(httpserver) -> dict:
    request, _ = httpserver.log[-1]
    return json.loads(request.get_data())


# Sending --------------------------------------------------------------------------------------


def test_send_posts_email_json_and_returns_the_message_id(httpserver):
    httpserver.expect_oneshot_request(
        "/email", method="POST", headers={"X-Postmark-Server-Token": TOKEN, "Accept": "application/json"}
    ).respond_with_json(ACCEPTED)
    t = transport(httpserver, {"message_stream": "broadcast"})
    result = t.send("bounce@example.com", "jerome@example.org", RAW, ref="c-7-42")
    t.close()
    httpserver.check_assertions()
    assert result.ok and result.provider_message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert sent_json(httpserver) == {
        "From": '"Zoë Müller, CEO" <news@example.com>',
        "To": "Jérôme Dupont <jerome@example.org>",
        "Subject": "Les nouveautés ✨",
        "HtmlBody": "<p>Bonjour</p>",
        "TextBody": "Bonjour",
        "ReplyTo": "help@example.com",
        "Headers": [
            {"Name": "X-Herald-Campaign", "Value": "7"},
            {"Name": "List-Unsubscribe", "Value": "<https://herald.test/u/tok>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "MessageStream": "broadcast",
        "Metadata": {"herald_ref": "c-7-42"},
        "TrackOpens": False,
        "TrackLinks": "None",
    }


def test_default_stream_and_tracking(httpserver):
    httpserver.expect_oneshot_request("/email").respond_with_json(ACCEPTED)
    t = transport(httpserver, tracking=True)
    assert t.send("b@example.com", "jerome@example.org", RAW).ok
    t.close()
    body = sent_json(httpserver)
    assert (body["MessageStream"], body["TrackOpens"], body["TrackLinks"]) == ("outbound", True, "HtmlAndText")


def test_sandbox_validates_locally_and_calls_nothing(httpserver):
    t = transport(httpserver, sandbox=True)
    result = t.send("b@example.com", "jerome@example.org", RAW, ref="m-1")
    assert (result.ok, result.provider_message_id, result.detail) == (True, None, "sandbox: not sent")
    refused = t.send("b@example.com", "not an address", RAW)
    assert (refused.ok, refused.failure) == (False, "permanent") and "invalid recipient" in refused.detail
    t.close()
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"ErrorCode": 0, "Message": "Internal server error"}, "500"),
        (503, "Service Unavailable", "503"),
        (429, {"ErrorCode": 429, "Message": "Rate limit exceeded."}, "throttled"),
        (401, {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}, "valid Server token"),
        (
            422,
            {
                "ErrorCode": 400,
                "Message": "The 'From' address you supplied (news@example.com) is not a Sender Signature on your account.",
            },
            "sender signature not found",
        ),
        (
            422,
            {"ErrorCode": 1235, "Message": "The message stream for the provided 'ID' was not found."},
            "message stream not found",
        ),
    ],
)
def test_nothing_accepted_raises_transport_unavailable(httpserver, status, body, expected):
    handler = httpserver.expect_oneshot_request("/email")
    if isinstance(body, dict):
        handler.respond_with_json(body, status=status)
    else:
        handler.respond_with_data(body, status=status)
    t = transport(httpserver)
    with pytest.raises(TransportUnavailable, match=expected):
        t.send("b@example.com", "jerome@example.org", RAW)
    t.close()


@pytest.mark.parametrize(
    ("error_code", "message"),
    [
        (
            406,
            "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: jerome@example.org. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.",
        ),
        (300, "Error parsing 'To': Illegal email address 'jerome@example'. It must contain the '@' symbol."),
    ],
)
def test_an_inactive_or_invalid_recipient_is_permanent(httpserver, error_code, message):
    httpserver.expect_oneshot_request("/email").respond_with_json(
        {"ErrorCode": error_code, "Message": message}, status=422
    )
    t = transport(httpserver)
    result = t.send("b@example.com", "jerome@example.org", RAW)
    t.close()
    assert (result.ok, result.failure, result.code) == (False, "permanent", 422)
    assert result.detail.startswith(f"ErrorCode {error_code} (") and message in result.detail


def test_a_read_timeout_is_unknown(httpserver):
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(json.dumps(ACCEPTED), content_type="application/json")

    httpserver.expect_oneshot_request("/email").respond_with_handler(slow)
    t = transport(httpserver, timeout=0.3)
    result = t.send("b@example.com", "jerome@example.org", RAW)
    t.close()
    assert (result.ok, result.failure) == (False, "unknown")
    assert result.detail == "no answer from Postmark within 0.3 s: it may have accepted the message"


def test_connection_refused_is_transport_unavailable():
    t = transport(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportUnavailable, match="cannot reach Postmark"):
        t.send("b@example.com", "jerome@example.org", RAW)
    with pytest.raises(TransportUnavailable, match="cannot reach Postmark"):
        t.check()


def test_the_outbound_connection_guard_applies(monkeypatch):
    """The transport really opens sockets (so tests/conftest.py's guard sees them) and lets the guard's error through."""
    resolve_off_machine(monkeypatch)
    t = pm.PostmarkTransport({}, CREDENTIALS)  # the real endpoint, api.postmarkapp.com
    with pytest.raises(AssertionError, match="test tried to connect"):
        t.send("b@example.com", "jerome@example.org", RAW)


def test_a_connect_timeout_is_transport_unavailable(monkeypatch):
    connect_times_out(monkeypatch)
    with pytest.raises(TransportUnavailable, match="cannot reach Postmark"):
        transport("http://127.0.0.1:9").send("b@example.com", "jerome@example.org", RAW)


def test_a_connection_dropped_after_the_request_is_unknown():
    with dropping_server() as url:
        result = transport(url).send("b@example.com", "jerome@example.org", RAW)
    assert (result.ok, result.failure) == (False, "unknown")
    assert "it may have accepted the message" in result.detail


def test_check(httpserver):
    httpserver.expect_oneshot_request(
        "/server", method="GET", headers={"X-Postmark-Server-Token": TOKEN}
    ).respond_with_json({"ID": 1, "Name": "Herald", "ApiTokens": [TOKEN], "Color": "red", "DeliveryType": "Live"})
    transport(httpserver).check()
    httpserver.check_assertions()
    httpserver.expect_oneshot_request("/server").respond_with_json(
        {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}, status=401
    )
    with pytest.raises(TransportUnavailable, match="valid Server token"):
        transport(httpserver).check()


# Webhooks -------------------------------------------------------------------------------------


def basic(user: str, password: str) -> Headers:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Headers({"Authorization": f"Basic {token}", "Content-Type": "application/json"})


AUTH = basic("herald", "s3cret:with:colons")

HARD_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "broadcast",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "news",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"herald_ref": "c-7-42"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "john@example.com",
    "From": "news@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Les nouveautés",
    "Content": "<Full dump of bounce>",
}
DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "broadcast",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Recipient": "john@example.com",
    "Tag": "news",
    "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"herald_ref": "c-7-42"},
}
OPEN = {
    "RecordType": "Open",
    "MessageStream": "broadcast",
    "FirstOpen": True,
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5)",
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad", "IP": "188.2.95.4"},
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"herald_ref": "c-7-42"},
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "news",
    "Recipient": "john@example.com",
}
CLICK = {
    **{
        k: OPEN[k]
        for k in (
            "MessageStream",
            "Client",
            "OS",
            "Platform",
            "UserAgent",
            "Geo",
            "MessageID",
            "Metadata",
            "Tag",
            "Recipient",
        )
    },
    "RecordType": "Click",
    "ClickLocation": "HTML",
    "OriginalLink": "https://example.com/offer",
    "ReceivedAt": "2019-11-05T16:34:10Z",
}
SPAM_COMPLAINT = {
    **{k: HARD_BOUNCE[k] for k in ("MessageStream", "MessageID", "ServerID", "Email", "From", "BouncedAt", "Metadata")},
    "RecordType": "SpamComplaint",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Inactive": True,
}
UNSUBSCRIBED = {
    "RecordType": "SubscriptionChange",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "ServerID": 23,
    "MessageStream": "broadcast",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "bounced-address@wildbit.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "ManualSuppression",
    "Tag": "news",
    "Metadata": {"herald_ref": "c-7-42"},
}


def parse_one(record: dict):
    body = json.dumps(record).encode()
    pm.verify_webhook(AUTH, body, {}, CREDENTIALS, 0)
    (ev,) = pm.parse_webhook(AUTH, body)
    return ev


def test_a_hard_bounce():
    ev = parse_one(HARD_BOUNCE)
    assert (ev.event_type, ev.bounce_type, ev.raw_type) == ("bounce", "hard", "Bounce/HardBounce")
    assert (ev.event_id, ev.email, ev.ref) == ("4323372036854775807", "john@example.com", "c-7-42")
    assert ev.provider_message_id == "883953f4-6105-42a2-a16a-77a8eac79483" and ev.message_id is None
    assert (ev.smtp_code, ev.enhanced) == (550, "5.1.1")
    assert ev.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    assert ev.data["Inactive"] is True and ev.data["CanActivate"] is True


@pytest.mark.parametrize(
    ("bounce_type", "details", "event_type", "expected"),
    [
        ("SoftBounce", "smtp;452 4.2.2 Mailbox full", "bounce", "soft"),
        ("Blocked", "smtp;550 5.7.1 Blocked by policy", "bounce", "block"),
        ("DMARCPolicy", "smtp;550 5.7.26 Unauthenticated email", "bounce", "block"),
        ("BadEmailAddress", "Invalid email address", "reject", None),
        ("ManuallyDeactivated", "", "reject", None),
        ("Transient", "smtp;421 4.4.2 timeout", "delivery_delay", None),
        ("DnsError", "DNS lookup failed", "delivery_delay", None),
        ("SpamNotification", "", "complaint", None),
        ("TemplateRenderingFailed", "", "rendering_failure", None),
        ("AutoResponder", "Out of office", "unknown", None),
    ],
)
def test_bounce_records_by_type(bounce_type, details, event_type, expected):
    ev = parse_one({**HARD_BOUNCE, "Type": bounce_type, "Details": details})
    assert (ev.event_type, ev.bounce_type, ev.raw_type) == (event_type, expected, f"Bounce/{bounce_type}")


def test_delivery_open_click_complaint_and_unsubscribe():
    delivery = parse_one(DELIVERY)
    assert (delivery.event_type, delivery.email, delivery.diagnostic) == (
        "delivery",
        "john@example.com",
        "Test delivery webhook details",
    )
    opened = parse_one(OPEN)
    assert (opened.event_type, opened.ip, opened.user_agent, opened.ref) == (
        "open",
        "188.2.95.4",
        OPEN["UserAgent"],
        "c-7-42",
    )
    assert opened.data["FirstOpen"] is True and opened.data["Platform"] == "WebMail"
    clicked = parse_one(CLICK)
    assert (clicked.event_type, clicked.url) == ("click", "https://example.com/offer")
    assert parse_one(SPAM_COMPLAINT).event_type == "complaint"
    assert parse_one(UNSUBSCRIBED).event_type == "unsubscribe"
    assert parse_one({**UNSUBSCRIBED, "SuppressSending": False, "SuppressionReason": None}).event_type == "resubscribe"
    assert parse_one({**UNSUBSCRIBED, "SuppressionReason": "HardBounce"}).event_type == "unknown"
    assert parse_one({"RecordType": "SomethingNew", "MessageID": "x"}).event_type == "unknown"


def test_an_array_of_records_and_stable_ids():
    body = json.dumps([HARD_BOUNCE, DELIVERY, OPEN, CLICK, SPAM_COMPLAINT, UNSUBSCRIBED]).encode()
    first, second = pm.parse_webhook(AUTH, body), pm.parse_webhook(AUTH, body)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == 6
    assert all(len(e.event_id) <= 128 for e in first)
    later_open = pm.parse_webhook(AUTH, json.dumps({**OPEN, "ReceivedAt": "2019-11-06T08:00:00Z"}).encode())[0]
    assert later_open.event_id != first[2].event_id  # a second open is a second event


def test_wrong_or_missing_basic_auth_is_a_401_challenge():
    body = json.dumps(DELIVERY).encode()
    for headers in (
        basic("herald", "wrong"),
        basic("someone", "s3cret:with:colons"),
        Headers(),
        Headers({"Authorization": "Bearer x"}),
    ):
        with pytest.raises(WebhookRejected) as exc:
            pm.verify_webhook(headers, body, {}, CREDENTIALS, 0)
        assert exc.value.status == 401
        assert exc.value.headers == {"WWW-Authenticate": 'Basic realm="Herald webhooks"'}


def test_no_configured_credentials_is_refused():
    with pytest.raises(WebhookRejected) as exc:
        pm.verify_webhook(AUTH, b"{}", {}, {"server_token": TOKEN}, 0)
    assert exc.value.status == 403


def test_header_names_are_case_insensitive():
    pm.verify_webhook({"authorization": AUTH["Authorization"]}, b"{}", {}, CREDENTIALS, 0)


@pytest.mark.parametrize(("body", "message"), [(b"RecordType=Bounce", "not JSON"), (b'["a"]', "record 0")])
def test_a_body_that_is_not_postmark_json_is_a_bad_payload(body, message):
    with pytest.raises(BadPayload, match=message):
        pm.parse_webhook(AUTH, body)
