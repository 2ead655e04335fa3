"""SendGrid: Mail Send v3 played by a local HTTP server answering as SendGrid documents, and
Event Webhook payloads signed with a test ECDSA key. No app, no database."""

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from app.providers import EVENT_TYPES, BadPayload, TransportUnavailable, WebhookRejected
from app.providers import sendgrid as sg
from app.services.content.mime import MessageSkeleton
from tests.support import free_port
from tests.unit.provider_support import connect_times_out, dropping_server, fail_dns, resolve_off_machine

API_KEY = "SG.test-key.abc"
NOW = 1_700_000_000
RAW = MessageSkeleton("Zoë Müller", "news@example.com", "help@example.com", {"X-Herald-Campaign": "7"}).build(
    "Jérôme Dupont",
    "jerome@example.org",
    "Les nouveautés ✨",
    "<p>Bonjour</p>",
    "Bonjour",
    "<c7.r42@example.com>",
    {"List-Unsubscribe": "<https://herald.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
)
SG_ERROR = {"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email"}]}


# The local server plays the provider's API: its answers are shown as the real host's would be.
LOCAL_SERVER = ("localhost", "127.0.0.1")


def transport(server_or_url, **kw) -> sg.SendGridTransport:
    base = server_or_url if isinstance(server_or_url, str) else server_or_url.url_for("").rstrip("/")
    return sg.SendGridTransport({"api_base_url": base}, {"api_key": API_KEY}, **{"answer_hosts": LOCAL_SERVER, **kw})


def sent_json(httpserver: HTTPServer) -> dict:
    request, _ = httpserver.log[-1]
    return json.loads(request.get_data())


# Sending --------------------------------------------------------------------------------------


def test_send_posts_mail_send_json_and_returns_the_message_id(httpserver):
    httpserver.expect_oneshot_request(
        "/v3/mail/send", method="POST", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_data("", status=202, headers={"X-Message-Id": "W86EgYT6SQKk0lRflfLRsA"})
    t = transport(httpserver)
    result = t.send("bounce@example.com", "jerome@example.org", RAW, ref="c-7-42")
    t.close()
    httpserver.check_assertions()
    assert result.ok and result.provider_message_id == "W86EgYT6SQKk0lRflfLRsA" and result.code == 202
    body = sent_json(httpserver)
    assert body["personalizations"] == [{"to": [{"email": "jerome@example.org", "name": "Jérôme Dupont"}]}]
    assert body["from"] == {"email": "news@example.com", "name": "Zoë Müller"}
    assert body["reply_to"] == {"email": "help@example.com"}
    assert body["subject"] == "Les nouveautés ✨"
    assert body["content"] == [
        {"type": "text/plain", "value": "Bonjour"},
        {"type": "text/html", "value": "<p>Bonjour</p>"},
    ]
    assert body["headers"] == {
        "X-Herald-Campaign": "7",
        "List-Unsubscribe": "<https://herald.test/u/tok>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["custom_args"] == {"herald_ref": "c-7-42"}
    assert body["mail_settings"] == {"sandbox_mode": {"enable": False}}
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": False, "enable_text": False},
        "open_tracking": {"enable": False},
    }


def test_sandbox_and_tracking_flags(httpserver):
    # In sandbox mode SendGrid validates the request and answers 200 with no body, sending nothing.
    httpserver.expect_oneshot_request("/v3/mail/send", method="POST").respond_with_data("", status=200)
    t = transport(httpserver, sandbox=True, tracking=True)
    result = t.send("b@example.com", "jerome@example.org", RAW, ref="m-9")
    t.close()
    body = sent_json(httpserver)
    assert result.ok and result.provider_message_id is None and "sandbox" in result.detail
    assert body["mail_settings"]["sandbox_mode"]["enable"] is True
    assert body["tracking_settings"]["click_tracking"]["enable"] is True
    assert body["tracking_settings"]["open_tracking"]["enable"] is True


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"errors": [{"message": "Internal server error", "field": None}]}, "Internal server error"),
        (503, {"errors": [{"message": "Service Unavailable", "field": None}]}, "503"),
        (429, {"errors": [{"field": None, "message": "too many requests"}]}, "throttled"),
        (401, {"errors": [{"field": None, "message": "The provided authorization grant is invalid"}]}, "invalid"),
        (
            403,
            {"errors": [{"message": "The from address does not match a verified Sender Identity.", "field": "from"}]},
            "Sender Identity",
        ),
        (404, {"errors": [{"message": "Not Found", "field": None}]}, "api_base_url"),
    ],
)
def test_nothing_accepted_raises_transport_unavailable(httpserver, status, body, expected):
    httpserver.expect_oneshot_request("/v3/mail/send").respond_with_json(body, status=status)
    t = transport(httpserver)
    with pytest.raises(TransportUnavailable, match=expected):
        t.send("b@example.com", "jerome@example.org", RAW)
    t.close()


def test_a_4xx_about_the_recipient_is_permanent(httpserver):
    httpserver.expect_oneshot_request("/v3/mail/send").respond_with_json(SG_ERROR, status=400)
    t = transport(httpserver)
    result = t.send("b@example.com", "not-an-address", RAW)
    t.close()
    assert (result.ok, result.failure, result.code) == (False, "permanent", 400)
    assert result.detail == "Does not contain a valid address. (personalizations.0.to.0.email)"


def test_a_read_timeout_is_unknown_never_unavailable(httpserver):
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("", status=202)

    httpserver.expect_oneshot_request("/v3/mail/send").respond_with_handler(slow)
    t = transport(httpserver, timeout=0.3)
    result = t.send("b@example.com", "jerome@example.org", RAW)
    t.close()
    assert (result.ok, result.failure) == (False, "unknown")
    assert result.detail == "no answer from SendGrid within 0.3 s: it may have accepted the message"


def test_connection_refused_is_transport_unavailable():
    t = transport(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportUnavailable, match="cannot reach SendGrid"):
        t.send("b@example.com", "jerome@example.org", RAW)
    with pytest.raises(TransportUnavailable, match="cannot reach SendGrid"):
        t.check()


def test_dns_failure_is_transport_unavailable(monkeypatch):
    fail_dns(monkeypatch)
    t = transport("https://api.sendgrid.invalid")
    with pytest.raises(TransportUnavailable, match="resolve"):
        t.send("b@example.com", "jerome@example.org", RAW)


def test_missing_api_key_is_transport_unavailable():
    t = sg.SendGridTransport({}, {})
    with pytest.raises(TransportUnavailable, match="API key"):
        t.send("b@example.com", "jerome@example.org", RAW)


def test_the_outbound_connection_guard_applies(monkeypatch):
    """The transport really opens sockets (so tests/conftest.py's guard sees them) and lets the guard's error through."""
    resolve_off_machine(monkeypatch)
    t = sg.SendGridTransport({}, {"api_key": API_KEY})  # the real endpoint, api.sendgrid.com
    with pytest.raises(AssertionError, match="test tried to connect"):
        t.send("b@example.com", "jerome@example.org", RAW)


def test_a_connect_timeout_is_transport_unavailable(monkeypatch):
    connect_times_out(monkeypatch)
    with pytest.raises(TransportUnavailable, match="cannot reach SendGrid"):
        transport("http://127.0.0.1:9").send("b@example.com", "jerome@example.org", RAW)


def test_a_connection_dropped_after_the_request_is_unknown():
    with dropping_server() as url:
        result = transport(url).send("b@example.com", "jerome@example.org", RAW)
    assert (result.ok, result.failure) == (False, "unknown")
    assert "it may have accepted the message" in result.detail


def test_connections_are_reused_between_sends():
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)  # keep-alive needs HTTP/1.1
    server.start()
    try:
        server.expect_request("/v3/mail/send").respond_with_data("", status=202, headers={"X-Message-Id": "x"})
        t = transport(server)
        assert all(t.send("b@example.com", "jerome@example.org", RAW).ok for _ in range(3))
        pool = t.http.connection_from_url(server.url_for("/"))
        assert (pool.num_requests, pool.num_connections) == (3, 1)
        t.close()
    finally:
        server.clear()
        server.stop()


def test_check_needs_the_mail_send_scope(httpserver):
    httpserver.expect_oneshot_request(
        "/v3/scopes", method="GET", headers={"Authorization": f"Bearer {API_KEY}"}
    ).respond_with_json({"scopes": ["alerts.read", "mail.send", "mail.batch.read"]})
    transport(httpserver).check()
    httpserver.check_assertions()
    httpserver.expect_oneshot_request("/v3/scopes").respond_with_json({"scopes": ["stats.read"]})
    with pytest.raises(TransportUnavailable, match="mail.send"):
        transport(httpserver).check()


def test_check_reports_a_refused_key(httpserver):
    httpserver.expect_oneshot_request("/v3/scopes").respond_with_json(
        {"errors": [{"field": None, "message": "authorization required"}]}, status=401
    )
    with pytest.raises(TransportUnavailable, match="authorization required"):
        transport(httpserver).check()


# Webhooks -------------------------------------------------------------------------------------

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_DER_B64 = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
SETTINGS = {"webhook_public_key": PUBLIC_DER_B64}

MESSAGE_ID = "W86EgYT6SQKk0lRflfLRsA.filterdrecv-5645d9c87f-78xgx-1-5E3A9D"


def sg_event(event: str, sg_event_id: str, email: str = "a@example.com", ago: int = 0, **fields) -> dict:
    """One event as SendGrid posts it: common fields, custom args merged at the top level."""
    return {"email": email, "timestamp": NOW - ago, "event": event, "sg_event_id": sg_event_id, **fields}


BATCH = [
    sg_event(
        "processed",
        "cHJvY2Vzc2VkLTE",
        ago=50,
        sg_message_id=MESSAGE_ID,
        herald_ref="c-7-42",
        **{"smtp-id": "<c7.r42@example.com>"},
    ),
    sg_event(
        "delivered",
        "ZGVsaXZlcmVkLTA",
        ago=40,
        sg_message_id=MESSAGE_ID + ".0",
        herald_ref="c-7-42",
        response="250 2.0.0 OK 1513299569 s2si",
        tls=1,
        **{"smtp-id": "<c7.r42@example.com>"},
    ),
    sg_event(
        "bounce",
        "Ym91bmNlLTE",
        "b@example.com",
        30,
        type="bounce",
        status="5.1.1",
        reason="550 5.1.1 The email account that you tried to reach does not exist.",
        bounce_classification="Invalid Address",
        herald_ref="c-7-43",
        **{"smtp-id": "c7.r43@example.com"},
    ),
    sg_event(
        "bounce",
        "YmxvY2tlZC0x",
        "c@example.com",
        30,
        type="blocked",
        status="5.7.1",
        reason="550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        bounce_classification="Reputation",
        herald_ref="c-7-44",
    ),
    sg_event(
        "deferred",
        "ZGVmZXJyZWQtMQ",
        "d@example.com",
        20,
        response="421 4.7.0 try again later",
        attempt="5",
        herald_ref="c-7-45",
        category=["news"],
    ),
    sg_event("dropped", "ZHJvcHBlZC0x", "e@example.com", 20, reason="Bounced Address"),
    sg_event(
        "open", "b3Blbi0x", ago=10, sg_machine_open=True, ip="17.58.0.1", useragent="Mozilla/5.0", herald_ref="c-7-42"
    ),
    sg_event(
        "click",
        "Y2xpY2stMQ",
        ago=5,
        url="https://example.com/offer?a=1",
        url_offset={"index": 0, "type": "html"},
        ip="203.0.113.9",
        useragent="Mozilla/5.0 (Macintosh)",
        herald_ref="c-7-42",
    ),
    sg_event("spamreport", "c3BhbS0x", herald_ref="c-7-42"),
    sg_event("unsubscribe", "dW5zdWItMQ", "f@example.com"),
    sg_event("group_unsubscribe", "Z3JvdXAtMQ", "g@example.com", asm_group_id=42),
    sg_event("account_status_change", "YWNjdC0x", "h@example.com"),
]


def sign(body: bytes, timestamp: int = NOW) -> Headers:
    """The headers SendGrid's signed Event Webhook sends with `body`."""
    signature = PRIVATE_KEY.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return Headers(
        {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
        }
    )


def test_a_signed_batch_verifies_and_maps_every_event():
    body = json.dumps(BATCH).encode()
    headers = sign(body)
    sg.verify_webhook(headers, body, SETTINGS, {}, NOW + 30)
    events = {e.event_id: e for e in sg.parse_webhook(headers, body)}
    types = ["send", "delivery", "bounce", "bounce", "delivery_delay", "reject", "open", "click", "complaint"]
    assert [e.event_type for e in events.values()] == types + ["unsubscribe", "unsubscribe", "unknown"]
    assert all(e.event_type in EVENT_TYPES for e in events.values())

    processed = events["cHJvY2Vzc2VkLTE"]
    assert processed.ref == "c-7-42" and processed.message_id == "<c7.r42@example.com>"
    assert processed.provider_message_id == "W86EgYT6SQKk0lRflfLRsA"
    assert processed.occurred_at == datetime.fromtimestamp(NOW - 50, UTC) and processed.occurred_at.tzinfo is not None

    hard = events["Ym91bmNlLTE"]
    assert (hard.bounce_type, hard.smtp_code, hard.enhanced, hard.raw_type) == ("hard", 550, "5.1.1", "bounce/bounce")
    assert hard.message_id == "<c7.r43@example.com>" and hard.data["bounce_classification"] == "Invalid Address"
    assert hard.diagnostic.startswith("550 5.1.1")

    blocked = events["YmxvY2tlZC0x"]
    assert (blocked.bounce_type, blocked.raw_type, blocked.email) == ("block", "bounce/blocked", "c@example.com")

    deferred = events["ZGVmZXJyZWQtMQ"]
    assert (deferred.smtp_code, deferred.enhanced, deferred.data["attempt"]) == (421, "4.7.0", "5")
    assert deferred.bounce_type is None

    assert events["ZHJvcHBlZC0x"].diagnostic == "Bounced Address"
    opened = events["b3Blbi0x"]
    assert (opened.machine, opened.ip, opened.user_agent) == (True, "17.58.0.1", "Mozilla/5.0")
    assert events["Y2xpY2stMQ"].url == "https://example.com/offer?a=1"
    assert events["Z3JvdXAtMQ"].data == {"asm_group_id": 42}
    unknown = events["YWNjdC0x"]
    assert (unknown.event_type, unknown.raw_type) == ("unknown", "account_status_change")


def test_parsing_twice_gives_the_same_ids_even_without_sg_event_id():
    body = json.dumps(BATCH + [{"email": "x@example.com", "timestamp": NOW, "event": "delivered"}]).encode()
    first, second = sg.parse_webhook({}, body), sg.parse_webhook({}, body)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)


def test_a_pem_key_is_accepted_and_header_names_are_case_insensitive():
    pem = PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = json.dumps(BATCH[:1]).encode()
    lowercase = {k.lower(): v for k, v in sign(body).items()}
    sg.verify_webhook(lowercase, body, {"webhook_public_key": pem.decode()}, {}, NOW)


def test_a_tampered_body_is_rejected():
    body = json.dumps(BATCH).encode()
    headers = sign(body)
    with pytest.raises(WebhookRejected) as exc:
        sg.verify_webhook(headers, body.replace(b"bounce", b"delivered", 1), SETTINGS, {}, NOW)
    assert exc.value.status == 403


def test_a_signature_from_another_key_is_rejected():
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = b"[]"
    with pytest.raises(WebhookRejected, match="bad webhook signature"):
        sg.verify_webhook(sign(body), body, {"webhook_public_key": base64.b64encode(der).decode()}, {}, NOW)


@pytest.mark.parametrize("skew", [-601, 601])
def test_a_stale_timestamp_is_rejected(skew):
    body = b"[]"
    with pytest.raises(WebhookRejected, match="stale") as exc:
        sg.verify_webhook(sign(body, NOW + skew), body, SETTINGS, {}, NOW)
    assert exc.value.status == 403


@pytest.mark.parametrize("timestamp", ["nan", "inf", "1e400", "1_700_000_000", "+1700000000", "9" * 5000])
def test_a_correctly_signed_timestamp_that_is_not_a_unix_time_is_rejected(timestamp):
    body = b"[]"
    with pytest.raises(WebhookRejected, match="not a Unix time") as exc:
        sg.verify_webhook(sign(body, timestamp), body, SETTINGS, {}, NOW)
    assert exc.value.status == 403


def test_missing_key_or_signature_is_rejected():
    body = b"[]"
    with pytest.raises(WebhookRejected, match="paste") as exc:
        sg.verify_webhook(sign(body), body, {}, {}, NOW)
    assert exc.value.status == 403
    with pytest.raises(WebhookRejected, match="missing") as exc:
        sg.verify_webhook({"Content-Type": "application/json"}, body, SETTINGS, {}, NOW)
    assert exc.value.status == 403
    with pytest.raises(WebhookRejected, match="not a P-256 public key"):
        sg.verify_webhook(sign(body), body, {"webhook_public_key": "not base64 DER"}, {}, NOW)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html>oops</html>", "not JSON"), (b'{"event": "open"}', "JSON array"), (b"[1, 2]", "event 0")],
)
def test_a_body_that_is_not_a_sendgrid_batch_is_a_bad_payload(body, message):
    with pytest.raises(BadPayload, match=message):
        sg.parse_webhook({}, body)


def test_event_names_in_any_case_and_the_x_message_id_of_sg_message_id():
    processed = sg.parse_event(sg_event("Processed", "cA", sg_message_id="Lkfj8H2q.filterdrecv-p3mdw1-1-0"))
    bounce = sg.parse_event(sg_event("BOUNCE", "cB", type="Blocked", reason="550 5.7.1 blocked using Spamhaus"))
    assert (processed.event_type, processed.raw_type, processed.provider_message_id) == (
        "send",
        "processed",
        "Lkfj8H2q",
    )
    assert (bounce.event_type, bounce.bounce_type) == ("bounce", "block")
    older = sg.parse_event(sg_event("delivered", "cC", sg_message_id="14c5d75ce93.dfd.64b469.filter0001.16648.0"))
    assert older.provider_message_id == "14c5d75ce93.dfd.64b469"


def test_a_dedicated_ip_pool_is_named_in_each_message(httpserver):
    httpserver.expect_oneshot_request("/v3/mail/send", method="POST").respond_with_data("", status=202)
    t = transport(httpserver, ip_pool="marketing-warm")
    assert t.send("b@example.com", "jerome@example.org", RAW).ok
    t.close()
    assert sent_json(httpserver)["ip_pool_name"] == "marketing-warm"
