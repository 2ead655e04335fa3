"""X-Twilio-Signature as Twilio computes it ("Webhooks security"), and the signed requests the test server makes."""

import pytest
from flask import Flask, request
from werkzeug.datastructures import MultiDict

from app.providers.twilio import signature, url_variants, verify_signature
from tests.twilio_support import AUTH_TOKEN, TwilioServer

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def docs_params(number: str) -> dict:
    return {"CallSid": "CA1234567890ABCDE", "Caller": number, "Digits": "1234", "From": number, "To": "+18005551212"}


# Twilio's guide has printed its worked example (auth token 12345) with two caller numbers over the
# years; each signature belongs to its own number (checked against both, and Twilio's libraries' tests).
@pytest.mark.parametrize(
    "number, expected",
    [("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="), ("+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")],
)
def test_twilios_published_examples(number, expected):
    params = docs_params(number)
    assert signature("12345", URL, params) == expected
    assert verify_signature("12345", URL, params, expected)
    # Written in another order: the names are sorted before signing.
    assert signature("12345", URL, dict(reversed(list(params.items())))) == expected


def test_anything_changed_fails_the_check():
    params, good = docs_params("+14158675310"), "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert not verify_signature("12345", URL, {**params, "Digits": "9999"}, good)
    assert not verify_signature("12345", URL, {**params, "Extra": ""}, good)
    assert not verify_signature("12345", URL.replace("foo=1", "foo=2"), params, good)
    assert not verify_signature("12345", URL.replace("https:", "http:"), params, good)
    assert not verify_signature("54321", URL, params, good)
    assert not verify_signature("12345", URL, params, good[:-1])


@pytest.mark.parametrize("header", [None, "", "   ", b"GvWf1cFY/Q7PnoempGyD5oXAezc=", "é" * 28])
def test_a_missing_or_odd_header_fails_closed(header):
    assert not verify_signature("12345", URL, docs_params("+14158675310"), header)


def test_no_auth_token_fails_closed_even_with_a_signature_made_without_one():
    params = docs_params("+14158675310")
    assert not verify_signature("", URL, params, signature("", URL, params))


def test_https_with_or_without_port_443_both_verify():
    params = docs_params("+14158675310")
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_signature("12345", with_port, params, "GvWf1cFY/Q7PnoempGyD5oXAezc=")
    assert verify_signature("12345", URL, params, signature("12345", with_port, params))
    assert url_variants("http://herald.test/x") == ["http://herald.test/x", "http://herald.test:80/x"]
    assert url_variants("http://127.0.0.1:5000/x") == ["http://127.0.0.1:5000/x", "http://127.0.0.1/x"]


def test_a_repeated_name_signs_each_value_sorted_as_twilios_libraries_do():
    form = MultiDict([("MediaUrl", "https://b.example/2"), ("Body", "hi"), ("MediaUrl", "https://a.example/1")])
    as_list = {"Body": "hi", "MediaUrl": ["https://b.example/2", "https://a.example/1"]}
    expected = signature("t", URL, {"Body": "hi", "MediaUrl": ["https://a.example/1", "https://b.example/2"]})
    assert signature("t", URL, form) == signature("t", URL, as_list) == expected
    assert expected != signature("t", URL, {"Body": "hi", "MediaUrl": "https://a.example/1"})


def _verifying_app() -> Flask:
    """An app that checks Twilio's signature over the URL it was called at, as Herald's routes do."""
    app = Flask(__name__)

    @app.post("/webhooks/twilio/<int:provider_id>/<kind>")
    def receive(provider_id, kind):
        ok = verify_signature(AUTH_TOKEN, request.url, request.form, request.headers.get("X-Twilio-Signature"))
        return {"ok": ok, "form": request.form.to_dict()}, 200 if ok else 403

    return app


def test_the_test_server_signs_callbacks_and_inbound_texts_for_a_flask_test_client(twilio_server):
    from app.providers.twilio import TwilioClient

    client = TwilioClient(twilio_server.settings(), twilio_server.credentials(), timeout=5)
    status_url = "http://herald.test/webhooks/twilio/7/status?r=42"
    sent = client.send_sms("+15550001111", "Hello", "+15557650001", status_url)
    client.close()
    flask_client = _verifying_app().test_client()

    url, params, headers = twilio_server.callback_request(sent.sid, "undelivered", error_code=30003)
    assert url == status_url
    assert params["MessageSid"] == params["SmsSid"] == sent.sid and params["ErrorCode"] == "30003"
    assert (params["MessageStatus"], params["From"], params["To"]) == ("undelivered", "+15557650001", "+15550001111")
    resp = twilio_server.callback(flask_client, sent.sid, "delivered")
    assert resp.status_code == 200 and resp.json["form"]["MessageStatus"] == "delivered"
    assert twilio_server.callback(flask_client, sent.sid, "delivered", auth_token="wrong").status_code == 403

    inbound = twilio_server.inbound_request(
        "+15550001111", "+15557650001", "STOP", "http://herald.test/webhooks/twilio/7/inbound"
    )
    resp = TwilioServer.post(flask_client, *inbound)
    assert resp.status_code == 200
    assert resp.json["form"]["Body"] == "STOP" and resp.json["form"]["NumMedia"] == "0"
    forged = (inbound[0], {**inbound[1], "Body": "START"}, inbound[2])
    assert TwilioServer.post(flask_client, *forged).status_code == 403
