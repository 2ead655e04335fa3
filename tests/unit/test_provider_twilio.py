"""The Twilio transport against the local Twilio REST API (tests/twilio_support.py), and its settings."""

import time
from decimal import Decimal

import pytest

from app.providers import TransportUnavailable
from app.providers.spec import InvalidSettings
from app.providers.twilio import TwilioClient, clean_settings, segment_price, sender_rate, senders
from tests.support import free_port
from tests.twilio_support import SERVICE_SID, segments
from tests.unit.provider_support import dropping_server

FROM = "+15557650001"
CALLBACK = "http://herald.test/webhooks/twilio/1/status"


@pytest.fixture
def client(twilio_server):
    c = TwilioClient(twilio_server.settings(), twilio_server.credentials(), timeout=5, answer_hosts=("127.0.0.1",))
    yield c
    c.close()


def test_a_text_is_handed_off_with_basic_auth_and_recorded(twilio_server, client):
    result = client.send_sms("+15550001111", "Hello from Herald", FROM, CALLBACK)
    assert result.ok and result.failure is None
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert (result.status, result.segments, result.error_code) == ("queued", 1, None)
    [kept] = twilio_server.messages
    assert {k: kept[k] for k in ("sid", "to", "body", "from", "messaging_service_sid", "status_callback")} == {
        "sid": result.sid,
        "to": "+15550001111",
        "body": "Hello from Herald",
        "from": FROM,
        "messaging_service_sid": None,
        "status_callback": CALLBACK,
    }
    assert kept["at"] <= time.monotonic()


def test_a_messaging_service_sends_by_its_sid_and_twilio_says_accepted(twilio_server, client):
    result = client.send_sms("+15550001111", "ж" * 71, SERVICE_SID, None)
    assert result.ok and result.status == "accepted" and result.segments == 2  # UCS-2: 70 a segment, then 67
    [kept] = twilio_server.messages
    assert kept["messaging_service_sid"] == SERVICE_SID and kept["from"] is None and kept["status_callback"] is None


@pytest.mark.parametrize("code", [21610, 21211, 21408, 21612, 21614])
def test_an_answer_about_the_number_is_a_permanent_failure_with_twilios_code(twilio_server, client, code):
    twilio_server.fail("+15550000001", code=code, message="Attempt to send to unsubscribed recipient")
    result = client.send_sms("+15550000001", "Hi", FROM, None)
    assert (result.ok, result.failure, result.error_code, result.sid) == (False, "permanent", code, None)
    assert f"error {code}" in result.error_message
    assert twilio_server.messages == [] and twilio_server.attempts[-1]["answered"] == 400
    assert client.send_sms("+15550000002", "Hi", FROM, None).ok  # the others go on


def test_the_code_is_read_even_when_the_answers_text_is_not_shown(twilio_server):
    hidden = TwilioClient(twilio_server.settings(), twilio_server.credentials(), timeout=5)
    twilio_server.fail("+15550000001", code=21610)
    result = hidden.send_sms("+15550000001", "Hi", FROM, None)
    assert (result.failure, result.error_code) == ("permanent", 21610)
    assert "Scripted" not in result.error_message and "shown only from Twilio's own API host" in result.error_message


def test_throttling_and_5xx_hand_nothing_off(twilio_server, client):
    twilio_server.throttle(1)
    with pytest.raises(TransportUnavailable, match="throttled"):
        client.send_sms("+15550001111", "Hi", FROM, None)
    twilio_server.unavailable(1, status=503)
    with pytest.raises(TransportUnavailable, match="Twilio answered 503"):
        client.send_sms("+15550001111", "Hi", FROM, None)
    assert twilio_server.messages == []
    assert client.send_sms("+15550001111", "Hi", FROM, None).ok  # the next one goes through


def test_an_account_or_sender_problem_is_unavailable_not_the_numbers_fault(twilio_server, client):
    twilio_server.fail("+15550001111", code=21606, message="The From phone number is not a valid SMS number")
    with pytest.raises(TransportUnavailable, match="cannot send for this account"):
        client.send_sms("+15550001111", "Hi", FROM, None)


def test_wrong_credentials_are_refused_with_a_clear_reason(twilio_server):
    wrong = TwilioClient(
        twilio_server.settings(), {**twilio_server.credentials(), "auth_token": "nope"}, answer_hosts=("127.0.0.1",)
    )
    with pytest.raises(TransportUnavailable, match="refused the credentials"):
        wrong.send_sms("+15550001111", "Hi", FROM, None)
    with pytest.raises(TransportUnavailable, match="refused the credentials"):
        wrong.check()
    assert twilio_server.messages == [] and twilio_server.attempts == []


def test_a_read_timeout_is_unknown_and_twilio_may_have_the_text(twilio_server):
    slow = TwilioClient(twilio_server.settings(), twilio_server.credentials(), timeout=0.3)
    twilio_server.hang_after_receive("+15550001111")
    started = time.monotonic()
    result = slow.send_sms("+15550001111", "Hi", FROM, None)
    assert time.monotonic() - started < 3
    assert (result.ok, result.failure, result.sid) == (False, "unknown", None)
    assert "may have accepted" in result.error_message
    assert len(twilio_server.sent_to("+15550001111")) == 1  # why it must never be sent again
    slow.close()


def test_a_connection_dropped_after_the_request_is_unknown():
    with dropping_server() as base:
        c = TwilioClient({"api_base_url": base}, {"account_sid": "AC" + "1" * 32, "auth_token": "t"}, timeout=2)
        result = c.send_sms("+15550001111", "Hi", FROM, None)
    assert (result.ok, result.failure) == (False, "unknown")


def test_nothing_listening_is_unavailable():
    c = TwilioClient(
        {"api_base_url": f"http://127.0.0.1:{free_port()}"}, {"account_sid": "AC" + "1" * 32, "auth_token": "t"}
    )
    with pytest.raises(TransportUnavailable, match="cannot reach Twilio"):
        c.send_sms("+15550001111", "Hi", FROM, None)
    with pytest.raises(TransportUnavailable, match="connection refused"):
        c.check()


def test_missing_credentials_and_a_bad_sender_are_refused_before_any_request(twilio_server):
    with pytest.raises(TransportUnavailable, match="no Twilio account SID"):
        TwilioClient(twilio_server.settings(), {}).send_sms("+15550001111", "Hi", FROM, None)
    c = TwilioClient(twilio_server.settings(), twilio_server.credentials())
    with pytest.raises(ValueError, match="messaging service SID"):
        c.send_sms("+15550001111", "Hi", "Acme", None)
    assert twilio_server.attempts == []


def test_check_passes_for_an_active_account_and_fails_for_a_suspended_one(twilio_server, client):
    client.check()
    twilio_server.account_status = "suspended"
    with pytest.raises(TransportUnavailable, match="account is suspended"):
        client.check()


def test_the_test_server_refuses_what_twilio_refuses(twilio_server, client):
    for fields, code in (({"Body": "x"}, 21604), ({"To": "+15550001111"}, 21602)):
        resp = client.http.request(
            "POST", client._account_url("/Messages.json"), fields={**fields, "From": FROM}, encode_multipart=False,
            headers=client.headers,
        )  # fmt: skip
        assert resp.status == 400 and resp.json()["code"] == code
    both = {"To": "+15550001111", "Body": "x", "From": FROM, "MessagingServiceSid": SERVICE_SID}
    resp = client.http.request(
        "POST", client._account_url("/Messages.json"), fields=both, encode_multipart=False, headers=client.headers
    )
    assert resp.status == 400 and resp.json()["code"] == 21603
    assert twilio_server.messages == []


def test_segments_are_counted_roughly_as_twilio_does():
    assert [segments("a" * 160), segments("a" * 161), segments("€" * 80), segments("😀" * 35)] == [1, 2, 1, 1]
    assert [segments("€" * 81), segments("😀" * 36), segments("ü" * 306)] == [2, 2, 2]


# Settings ------------------------------------------------------------------------------------------

CREDS = {"account_sid": "AC" + "ab" * 16, "auth_token": "tok"}


def errors(settings: dict, credentials: dict = CREDS) -> dict:
    with pytest.raises(InvalidSettings) as caught:
        clean_settings(settings, credentials)
    return caught.value.fields


def test_numbers_are_cleaned_to_e164_and_sids_to_twilios_spelling():
    settings, creds = clean_settings(
        {"from_numbers": "+1 (555) 765-0001, +44 7700 900123\n\n+15557650001", "rate_per_second": "5"},
        {"account_sid": " ac" + "AB" * 16 + " ", "auth_token": " tok "},
    )
    assert settings == {"from_numbers": ["+15557650001", "+447700900123"], "sender_type": "long_code",
                        "rate_per_second": 5}  # fmt: skip
    assert creds == {"account_sid": "AC" + "ab" * 16, "auth_token": "tok"}
    settings, _ = clean_settings(
        {"messaging_service_sid": "mg" + "CD" * 16, "sender_type": "toll_free", "price_per_segment": 0.0083}, CREDS
    )
    assert settings == {"messaging_service_sid": "MG" + "cd" * 16, "sender_type": "toll_free",
                        "price_per_segment": "0.0083"}  # fmt: skip


def test_exactly_one_of_messaging_service_and_from_numbers():
    both = errors({"messaging_service_sid": "MG" + "0" * 32, "from_numbers": ["+15557650001"]})
    neither = errors({})
    for found in (both, neither):
        assert set(found) == {"settings.messaging_service_sid", "settings.from_numbers"}
    assert "not both" in both["settings.from_numbers"] and "at least one" in neither["settings.from_numbers"]


@pytest.mark.parametrize(
    "settings, credentials, field",
    [
        ({"from_numbers": "5557650001"}, CREDS, "settings.from_numbers"),
        ({"from_numbers": "+1234567"}, CREDS, "settings.from_numbers"),  # 7 digits
        ({"from_numbers": "+1234567890123456"}, CREDS, "settings.from_numbers"),  # 16 digits
        ({"from_numbers": [15557650001]}, CREDS, "settings.from_numbers"),
        ({"messaging_service_sid": "MG123"}, CREDS, "settings.messaging_service_sid"),
        ({"from_numbers": "+15557650001", "sender_type": "pigeon"}, CREDS, "settings.sender_type"),
        ({"from_numbers": "+15557650001", "rate_per_second": 0}, CREDS, "settings.rate_per_second"),
        ({"from_numbers": "+15557650001", "rate_per_second": "1001"}, CREDS, "settings.rate_per_second"),
        ({"from_numbers": "+15557650001", "rate_per_second": True}, CREDS, "settings.rate_per_second"),
        ({"from_numbers": "+15557650001", "price_per_segment": "cheap"}, CREDS, "settings.price_per_segment"),
        ({"from_numbers": "+15557650001", "price_per_segment": "-1"}, CREDS, "settings.price_per_segment"),
        ({"from_numbers": "+15557650001", "api_base_url": "ftp://x"}, CREDS, "settings.api_base_url"),
        ({"from_numbers": "+15557650001"}, {**CREDS, "account_sid": "AC" + "g" * 32}, "credentials.account_sid"),
        ({"from_numbers": "+15557650001"}, {**CREDS, "account_sid": ""}, "credentials.account_sid"),
        ({"from_numbers": "+15557650001"}, {**CREDS, "auth_token": " "}, "credentials.auth_token"),
    ],
)
def test_bad_settings_name_their_field(settings, credentials, field):
    assert field in errors(settings, credentials)


def test_what_the_sending_code_reads():
    numbers = {"from_numbers": ["+15557650001", "+15557650002"], "sender_type": "toll_free"}
    assert senders(numbers) == ["+15557650001", "+15557650002"] and sender_rate(numbers) == 3
    service = {"messaging_service_sid": SERVICE_SID, "sender_type": "short_code", "price_per_segment": "0.0083"}
    assert senders(service) == [SERVICE_SID] and sender_rate(service) == 100
    assert segment_price(service) == Decimal("0.0083") and segment_price(numbers) is None
    assert sender_rate({**numbers, "rate_per_second": 7}) == 7 and sender_rate({}) == 1
