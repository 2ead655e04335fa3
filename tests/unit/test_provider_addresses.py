"""Internationalized addresses through the HTTP providers: a non-ASCII domain goes out in IDNA
(punycode), a non-ASCII local part that a provider cannot take fails that recipient with a
sentence (no exception, no request, not a bounce). Providers played by local HTTP servers."""

import json

import pytest

from app.providers import postmark as pm
from app.providers import sendgrid as sg
from app.providers.addresses import UNSUPPORTED, ascii_address
from app.providers.ses import SESTransport
from app.services.content.mime import MessageSkeleton, address

LOCAL = ("localhost", "127.0.0.1")


def _raw(to: str) -> bytes:
    return MessageSkeleton("Acme", "news@example.com").build("Jörg", to, "Hi", "<p>Hi</p>", "Hi", "<m@example.com>")


def test_only_the_domain_of_an_address_has_an_ascii_spelling():
    assert ascii_address("bob@exämple.com") == "bob@xn--exmple-cua.com"
    assert ascii_address("plain@example.com") == "plain@example.com"
    assert ascii_address("müller@example.com") is None
    assert ascii_address("bob@ex_ä.com") is None  # not a valid IDNA name


def test_the_to_header_writes_a_non_ascii_domain_in_punycode_and_keeps_a_utf8_local_part():
    assert address("Bob", "bob@exämple.com") == "Bob <bob@xn--exmple-cua.com>"
    assert address("Jörg Müller", "müller@example.com").endswith("?= <müller@example.com>")  # RFC 6532


@pytest.mark.parametrize(
    "make, provider",
    [
        (lambda: sg.SendGridTransport({"api_base_url": "http://127.0.0.1:9"}, {"api_key": "k"}), "SendGrid"),
        (lambda: pm.PostmarkTransport({"api_base_url": "http://127.0.0.1:9"}, {"server_token": "t"}), "Postmark"),
        (lambda: SESTransport({"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}, {}), "Amazon SES"),
    ],
)
def test_a_non_ascii_local_part_fails_that_recipient_with_a_sentence_and_sends_no_request(make, provider):
    t = make()
    result = t.send("news@example.com", "müller@example.com", _raw("müller@example.com"), ref="c-1-2")
    t.close()
    assert not result.ok and result.failure == UNSUPPORTED
    assert result.detail.startswith(
        f"This address has non-ASCII letters before the @, and {provider} does not accept such addresses."
    )


def test_sendgrid_gets_a_non_ascii_domain_in_punycode(httpserver):
    httpserver.expect_oneshot_request("/v3/mail/send", method="POST").respond_with_data(
        "", status=202, headers={"X-Message-Id": "abc"}
    )
    base = httpserver.url_for("").rstrip("/")
    t = sg.SendGridTransport({"api_base_url": base}, {"api_key": "k"}, answer_hosts=LOCAL)
    result = t.send("news@example.com", "bob@exämple.com", _raw("bob@exämple.com"), ref="c-1-2")
    t.close()
    assert result.ok
    body = json.loads(httpserver.log[-1][0].get_data())
    assert body["personalizations"] == [{"to": [{"email": "bob@xn--exmple-cua.com", "name": "Jörg"}]}]
