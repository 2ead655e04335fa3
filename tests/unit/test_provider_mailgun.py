"""Mailgun: messages.mime played by a local HTTP server answering as Mailgun documents, and
webhooks signed with a test HMAC key, in the JSON and the legacy form shapes. No app, no database."""

import base64
import copy
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from app.providers import BadPayload, TransportUnavailable, WebhookRejected
from app.providers import mailgun as mg
from app.services.content.mime import MessageSkeleton
from tests.support import free_port
from tests.unit.provider_support import connect_times_out, dropping_server, resolve_off_machine

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SIGNING_KEY = "whsec-test-signing-key"
DOMAIN = "mg.example.com"
NOW = 1_700_000_000
RAW = MessageSkeleton("News", "news@mg.example.com").build(
    "Jérôme",
    "jerome@example.org",
    "Hello ✨",
    "<p>Hi</p>",
    "Hi",
    "<c7.r42@mg.example.com>",
    {"List-Unsubscribe": "<https://herald.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
)
BASIC = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()


# The local server plays the provider's API: its answers are shown as the real host's would be.
LOCAL_SERVER = ("localhost", "127.0.0.1")


def transport(server_or_url, **kw) -> mg.MailgunTransport:
    base = server_or_url if isinstance(server_or_url, str) else server_or_url.url_for("").rstrip("/")
    return mg.MailgunTransport(
        {"domain": DOMAIN, "api_base_url": base}, {"api_key": API_KEY}, **{"answer_hosts": LOCAL_SERVER, **kw}
    )


class Capture:
    """A handler that keeps the form Mailgun would have received, and answers `status`/`body`."""

    def __init__(self, body: dict, status: int = 200):
        self.body, self.status, self.form, self.files, self.auth = body, status, None, None, None

    def __call__(self, request: Request) -> Response:
        self.form = request.form.to_dict(flat=False)
        self.files = {k: (f.filename, f.content_type, f.read()) for k, f in request.files.items()}
        self.auth = request.headers.get("Authorization")
        return Response(json.dumps(self.body), status=self.status, content_type="application/json")


QUEUED = {"id": "<20240101120000.1.ABCDEF@mg.example.com>", "message": "Queued. Thank you."}


# Sending --------------------------------------------------------------------------------------


def test_send_posts_the_raw_message_with_the_custom_variable(httpserver):
    capture = Capture(QUEUED)
    httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime", method="POST").respond_with_handler(capture)
    t = transport(httpserver)
    result = t.send("bounce@mg.example.com", "jerome@example.org", RAW, ref="c-7-42")
    t.close()
    assert result.ok and result.provider_message_id == "20240101120000.1.ABCDEF@mg.example.com"
    assert result.detail == "Queued. Thank you."
    assert capture.auth == BASIC
    assert capture.form == {
        "to": ["jerome@example.org"],
        "o:tracking": ["no"],
        "o:tracking-clicks": ["no"],
        "o:tracking-opens": ["no"],
        "v:herald_ref": ["c-7-42"],
    }
    assert capture.files["message"][2] == RAW  # the message exactly as built: Message-ID and headers untouched


def test_sandbox_uses_test_mode_and_tracking_is_passed_on(httpserver):
    capture = Capture(QUEUED)
    httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime").respond_with_handler(capture)
    t = transport(httpserver, sandbox=True, tracking=True)
    assert t.send("b@mg.example.com", "jerome@example.org", RAW).ok
    t.close()
    assert capture.form["o:testmode"] == ["yes"]
    assert (
        capture.form["o:tracking"] == capture.form["o:tracking-clicks"] == capture.form["o:tracking-opens"] == ["yes"]
    )
    assert "v:herald_ref" not in capture.form


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"message": "Internal Server Error"}, "500"),
        (503, "Service Unavailable", "503"),
        (429, {"message": "Too many requests"}, "throttled"),
        (401, "Forbidden", "Forbidden"),
        (404, {"message": "Domain not found: mg.example.com"}, "Domain not found"),
    ],
)
def test_nothing_accepted_raises_transport_unavailable(httpserver, status, body, expected):
    handler = httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime")
    if isinstance(body, dict):
        handler.respond_with_json(body, status=status)
    else:
        handler.respond_with_data(body, status=status)
    t = transport(httpserver)
    with pytest.raises(TransportUnavailable, match=expected):
        t.send("b@mg.example.com", "jerome@example.org", RAW)
    t.close()


def test_a_4xx_about_the_recipient_is_permanent(httpserver):
    message = "'to' parameter is not a valid address. please check documentation"
    httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime").respond_with_json({"message": message}, status=400)
    t = transport(httpserver)
    result = t.send("b@mg.example.com", "not an address", RAW)
    t.close()
    assert (result.ok, result.failure, result.code, result.detail) == (False, "permanent", 400, message)


def test_a_read_timeout_is_unknown(httpserver):
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(json.dumps(QUEUED), content_type="application/json")

    httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime").respond_with_handler(slow)
    t = transport(httpserver, timeout=0.3)
    result = t.send("b@mg.example.com", "jerome@example.org", RAW)
    t.close()
    assert (result.ok, result.failure) == (False, "unknown")
    assert result.detail == "no answer from Mailgun within 0.3 s: it may have accepted the message"


def test_connection_refused_is_transport_unavailable():
    t = transport(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportUnavailable, match="cannot reach Mailgun"):
        t.send("b@mg.example.com", "jerome@example.org", RAW)
    with pytest.raises(TransportUnavailable, match="cannot reach Mailgun"):
        t.check()


def test_missing_domain_is_transport_unavailable():
    with pytest.raises(TransportUnavailable, match="domain"):
        mg.MailgunTransport({}, {"api_key": API_KEY}).send("b@x", "jerome@example.org", RAW)


def test_the_outbound_connection_guard_applies(monkeypatch):
    """The transport really opens sockets (so tests/conftest.py's guard sees them) and lets the guard's error through."""
    resolve_off_machine(monkeypatch)
    t = mg.MailgunTransport({"domain": DOMAIN}, {"api_key": API_KEY})  # the real endpoint, api.mailgun.net
    with pytest.raises(AssertionError, match="test tried to connect"):
        t.send("b@mg.example.com", "jerome@example.org", RAW)


def test_a_connect_timeout_is_transport_unavailable(monkeypatch):
    connect_times_out(monkeypatch)
    with pytest.raises(TransportUnavailable, match="cannot reach Mailgun"):
        transport("http://127.0.0.1:9").send("b@mg.example.com", "jerome@example.org", RAW)


def test_a_connection_dropped_after_the_request_is_unknown():
    with dropping_server() as url:
        result = transport(url).send("b@mg.example.com", "jerome@example.org", RAW)
    assert (result.ok, result.failure) == (False, "unknown")
    assert "it may have accepted the message" in result.detail


def test_check_finds_the_domain(httpserver):
    httpserver.expect_oneshot_request(
        f"/v3/domains/{DOMAIN}", method="GET", headers={"Authorization": BASIC}
    ).respond_with_json(
        {
            "domain": {"name": DOMAIN, "state": "active", "type": "custom"},
            "receiving_dns_records": [],
            "sending_dns_records": [],
        }
    )
    transport(httpserver).check()
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"message": "Domain not found"}, "domain mg.example.com not found in this Mailgun account"),
        (401, "Forbidden", "refused the API key"),
        (200, {"domain": {"name": DOMAIN, "state": "unverified"}}, "unverified"),
    ],
)
def test_check_failing(httpserver, status, body, expected):
    handler = httpserver.expect_oneshot_request(f"/v3/domains/{DOMAIN}")
    if isinstance(body, dict):
        handler.respond_with_json(body, status=status)
    else:
        handler.respond_with_data(body, status=status)
    with pytest.raises(TransportUnavailable, match=expected):
        transport(httpserver).check()


# Webhooks -------------------------------------------------------------------------------------


def signature(timestamp: str, token: str, key: str = SIGNING_KEY) -> dict:
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def payload(
    event_data: dict, timestamp: int = NOW, token: str = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
) -> bytes:
    return json.dumps({"signature": signature(str(timestamp), token), "event-data": event_data}).encode()


def event(name: str, **fields) -> dict:
    base = {
        "event": name,
        "id": f"CPgfbmQMTCKtHW6uIWtuVe-{name}",
        "timestamp": NOW - 0.25,
        "recipient": "alice@example.com",
        "recipient-domain": "example.com",
        "message": {
            "headers": {"message-id": "c7.r42@mg.example.com", "from": "news@mg.example.com", "subject": "Hello"}
        },
        "user-variables": {"herald_ref": "c-7-42"},
        "tags": ["news"],
        "log-level": "info",
    }
    return {**base, **fields}


def failed(severity: str, reason: str, code: int, message: str, description: str = "") -> dict:
    return event(
        "failed",
        severity=severity,
        reason=reason,
        **{
            "log-level": "error",
            "delivery-status": {
                "code": code,
                "message": message,
                "description": description,
                "attempt-no": 1,
                "mx-host": "mx.example.com",
            },
        },
    )


JSON_HEADERS = Headers({"Content-Type": "application/json"})


def parse_one(event_data: dict):
    body = payload(event_data)
    mg.verify_webhook(JSON_HEADERS, body, {}, {"webhook_signing_key": SIGNING_KEY}, NOW)
    (ev,) = mg.parse_webhook(JSON_HEADERS, body)
    return ev


def test_delivered_and_accepted():
    ev = parse_one(event("delivered", **{"delivery-status": {"code": 250, "message": "OK", "description": ""}}))
    assert (ev.event_type, ev.email, ev.ref) == ("delivery", "alice@example.com", "c-7-42")
    assert ev.message_id == "<c7.r42@mg.example.com>" and ev.provider_message_id == "c7.r42@mg.example.com"
    assert ev.event_id == "CPgfbmQMTCKtHW6uIWtuVe-delivered:1699999999.75"
    assert ev.occurred_at.tzinfo is not None and ev.occurred_at.timestamp() == NOW - 0.25
    assert parse_one(event("accepted")).event_type == "send"


@pytest.mark.parametrize(
    ("data", "event_type", "bounce_type"),
    [
        (
            failed("permanent", "bounce", 550, "5.1.1 The email account that you tried to reach does not exist."),
            "bounce",
            "hard",
        ),
        (failed("permanent", "generic", 550, "5.7.1 Message rejected due to local policy"), "bounce", "block"),
        (failed("permanent", "suppress-bounce", 605, "Not delivering to previously bounced address"), "reject", None),
        (failed("temporary", "generic", 421, "4.4.2 Connection timed out"), "delivery_delay", None),
        (
            failed("permanent", "old", 452, "4.2.2 The email account that you tried to reach is over quota"),
            "bounce",
            "soft",
        ),
    ],
)
def test_failed_events_by_severity_and_reason(data, event_type, bounce_type):
    ev = parse_one(data)
    assert (ev.event_type, ev.bounce_type) == (event_type, bounce_type)
    assert ev.data["severity"] == data["severity"] and ev.data["reason"] == data["reason"]
    assert ev.raw_type == f"failed/{data['severity']}/{data['reason']}"


def test_a_hard_bounce_carries_its_smtp_reply():
    ev = parse_one(
        failed("permanent", "bounce", 550, "5.1.1 The email account that you tried to reach does not exist.")
    )
    assert (ev.smtp_code, ev.enhanced) == (550, "5.1.1") and ev.diagnostic.startswith("5.1.1 The email account")


def test_engagement_events_and_an_unknown_one():
    opened = parse_one(
        event("opened", ip="203.0.113.9", **{"client-info": {"client-type": "browser", "user-agent": "Mozilla/5.0"}})
    )
    assert (opened.event_type, opened.ip, opened.user_agent, opened.data["client_type"]) == (
        "open",
        "203.0.113.9",
        "Mozilla/5.0",
        "browser",
    )
    clicked = parse_one(event("clicked", url="https://example.com/offer"))
    assert (clicked.event_type, clicked.url) == ("click", "https://example.com/offer")
    assert parse_one(event("complained")).event_type == "complaint"
    assert parse_one(event("unsubscribed")).event_type == "unsubscribe"
    unknown = parse_one(event("list_member_uploaded"))
    assert (unknown.event_type, unknown.raw_type) == ("unknown", "list_member_uploaded")


def test_parsing_twice_gives_the_same_ids():
    body = payload(failed("permanent", "bounce", 550, "5.1.1 no such user"))
    assert mg.parse_webhook(JSON_HEADERS, body)[0].event_id == mg.parse_webhook(JSON_HEADERS, body)[0].event_id
    no_id = event("delivered")
    del no_id["id"]
    first, second = mg.parse_webhook({}, payload(no_id))[0], mg.parse_webhook({}, payload(copy.deepcopy(no_id)))[0]
    assert first.event_id == second.event_id and first.event_id.startswith("sha256:")


def test_replay_token_is_the_signature_token():
    assert mg.replay_token(JSON_HEADERS, payload(event("delivered"), token="tok-123")) == "tok-123"
    assert mg.replay_token(JSON_HEADERS, b"not json") is None


def test_a_forged_signature_is_rejected():
    body = json.loads(payload(event("delivered")))
    body["signature"]["token"] = "another-token"  # what an attacker replaying with a fresh token would send
    with pytest.raises(WebhookRejected, match="bad webhook signature") as exc:
        mg.verify_webhook(JSON_HEADERS, json.dumps(body).encode(), {}, {"webhook_signing_key": SIGNING_KEY}, NOW)
    assert exc.value.status == 403
    with pytest.raises(WebhookRejected, match="bad webhook signature"):
        mg.verify_webhook(JSON_HEADERS, payload(event("delivered")), {}, {"webhook_signing_key": "other-key"}, NOW)


@pytest.mark.parametrize("skew", [-601, 601])
def test_a_stale_timestamp_is_rejected(skew):
    with pytest.raises(WebhookRejected, match="stale") as exc:
        mg.verify_webhook(
            JSON_HEADERS,
            payload(event("delivered"), timestamp=NOW + skew),
            {},
            {"webhook_signing_key": SIGNING_KEY},
            NOW,
        )
    assert exc.value.status == 403


@pytest.mark.parametrize("timestamp", ["nan", "NaN", "inf", "-inf", "1e400", "1e3", "1_700_000_000", "0x6553f100"])
def test_a_correctly_signed_timestamp_that_is_not_a_unix_time_is_rejected(timestamp):
    """A signature really made with the key, over "nan": float("nan") compares False with every bound."""
    body = json.dumps({"signature": signature(timestamp, "tok-nan-1"), "event-data": event("delivered")}).encode()
    with pytest.raises(WebhookRejected) as exc:
        mg.verify_webhook(JSON_HEADERS, body, {}, {"webhook_signing_key": SIGNING_KEY}, NOW)
    assert exc.value.status == 403
    assert exc.value.reason == "the webhook timestamp is not a Unix time in seconds"


def test_a_json_nan_or_huge_number_as_the_timestamp_is_rejected():
    """JSON numbers, not strings: Python's json reads NaN and Infinity, and 1e999 as inf."""
    for raw_stamp, signed_text in (
        ("NaN", "nan"),
        ("Infinity", "inf"),
        ("1e999", "inf"),
        ("1" + "0" * 19, "1" + "0" * 19),
    ):
        sig = signature(signed_text, "tok-json-1")["signature"]
        body = f'{{"signature": {{"timestamp": {raw_stamp}, "token": "tok-json-1", "signature": "{sig}"}}, "event-data": {{}}}}'
        with pytest.raises(WebhookRejected, match="not a Unix time"):
            mg.verify_webhook(JSON_HEADERS, body.encode(), {}, {"webhook_signing_key": SIGNING_KEY}, NOW)


def test_missing_key_or_signature_is_rejected():
    with pytest.raises(WebhookRejected, match="signing key") as exc:
        mg.verify_webhook(JSON_HEADERS, payload(event("delivered")), {}, {}, NOW)
    assert exc.value.status == 403
    unsigned = json.dumps({"event-data": event("delivered")}).encode()
    with pytest.raises(WebhookRejected, match="no Mailgun signature"):
        mg.verify_webhook(JSON_HEADERS, unsigned, {}, {"webhook_signing_key": SIGNING_KEY}, NOW)


def legacy_form(**fields) -> dict:
    sig = signature(str(NOW), "legacytoken0123456789abcdef0123456789abcdef0123456")
    return {**sig, "domain": DOMAIN, "recipient": "bob@example.com", **fields}


def test_the_legacy_form_webhook_verifies_and_parses():
    fields = legacy_form(
        event="bounced",
        code="550",
        error="550 5.1.1 The email account that you tried to reach does not exist",
        notification="",
        herald_ref="c-7-50",
        **{"message-headers": json.dumps([["Message-Id", "<c7.r50@mg.example.com>"], ["Subject", "Hello"]])},
    )
    body = urlencode(fields).encode()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    mg.verify_webhook(headers, body, {}, {"webhook_signing_key": SIGNING_KEY}, NOW + 10)
    assert mg.replay_token(headers, body) == fields["token"]
    (ev,) = mg.parse_webhook(headers, body)
    assert (ev.event_type, ev.bounce_type, ev.smtp_code, ev.enhanced) == ("bounce", "hard", 550, "5.1.1")
    assert (ev.ref, ev.message_id, ev.email) == ("c-7-50", "<c7.r50@mg.example.com>", "bob@example.com")
    assert ev.event_id == f"token:{fields['token']}"


def test_the_legacy_multipart_webhook_parses():
    fields = legacy_form(
        event="opened", ip="203.0.113.9", **{"user-agent": "Mozilla/5.0", "Message-Id": "<c7.r51@mg.example.com>"}
    )
    boundary = "----herald-test-boundary"
    chunks = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    body = ("".join(chunks) + f"--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    mg.verify_webhook(headers, body, {}, {"webhook_signing_key": SIGNING_KEY}, NOW)
    (ev,) = mg.parse_webhook(headers, body)
    assert (ev.event_type, ev.ip, ev.user_agent, ev.message_id) == (
        "open",
        "203.0.113.9",
        "Mozilla/5.0",
        "<c7.r51@mg.example.com>",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not a Mailgun webhook"),
        (b'{"signature": {}}', "no event-data"),
        (b"[]", "one JSON object"),
    ],
)
def test_a_body_that_is_not_a_mailgun_webhook_is_a_bad_payload(body, message):
    with pytest.raises(BadPayload, match=message):
        mg.parse_webhook(JSON_HEADERS, body)


def test_a_dedicated_ip_pool_is_named_in_each_message(httpserver):
    capture = Capture(QUEUED)
    httpserver.expect_oneshot_request(f"/v3/{DOMAIN}/messages.mime").respond_with_handler(capture)
    t = transport(httpserver, ip_pool="pool-123")
    assert t.send("b@mg.example.com", "jerome@example.org", RAW).ok
    t.close()
    assert capture.form["o:ip-pool"] == ["pool-123"]
