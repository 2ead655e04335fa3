"""SNS signature verification against a local https server playing SNS's certificate host.

A test CA issues the https server's certificate for "localhost"; the verifier trusts only
that CA and accepts only the host "localhost". Messages are signed here, exactly as SNS
signs them, with SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA).
"""

import base64
import datetime as dt
import ipaddress
import json
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Response

from app.providers import WebhookRejected
from app.providers.ses import parse_webhook
from app.providers.sns import (
    SNSVerifier,
    SubscriptionConfirmationFailed,
    confirm_subscription,
    string_to_sign,
    verify_webhook,
)
from tests.support import free_port

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
SUB_ARN = TOPIC + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, *, start, end, ca=False, sans=None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False)
    else:
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
            **usage,
        ),
        critical=True,
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A test CA, the https server's certificate, and SNS signing keys and certificates."""
    folder = tmp_path_factory.mktemp("sns-pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    year = dt.timedelta(days=365)
    ca = _cert("Herald Test CA", ca_key, "Herald Test CA", ca_key, start=NOW - year, end=NOW + year, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = _cert("localhost", server_key, "Herald Test CA", ca_key, start=NOW - year, end=NOW + year, sans=sans)
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "server.pem").write_bytes(_pem(server))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sns_ca = "Amazon RSA 2048 M01 (test)"

    def signing(start, end):
        return _pem(_cert("sns.amazonaws.com", signing_key, sns_ca, ca_key, start=start, end=end))

    return {
        "ca_file": str(folder / "ca.pem"),
        "server_cert": str(folder / "server.pem"),
        "server_key": str(folder / "server.key"),
        "key": signing_key,
        "other_key": other_key,
        "cert_pem": signing(NOW - year, NOW + year),
        "expired_pem": signing(NOW - 2 * year, NOW - year),
    }


@pytest.fixture(scope="session")
def sns_https_server(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def sns_host(sns_https_server, pki):
    """The https server, emptied, serving the signing certificates."""
    server = sns_https_server
    server.clear()
    server.expect_request("/SimpleNotificationService-test.pem").respond_with_data(
        pki["cert_pem"], content_type="application/x-pem-file"
    )
    server.expect_request("/expired.pem").respond_with_data(pki["expired_pem"])
    yield server
    server.clear()


@pytest.fixture
def verifier(pki):
    return SNSVerifier(host_pattern=r"^localhost$", ca_file=pki["ca_file"], timeout=2)


def _sign(message: dict, key, version: str = "1") -> dict:
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}


def _notification(server, key, version="1", subject="Amazon SES Email Event Notification", message=None, **kw):
    msg = {
        "Type": "Notification",
        "MessageId": kw.pop("message_id", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"),
        "TopicArn": kw.pop("topic", TOPIC),
        "Message": message if message is not None else json.dumps({"eventType": "Send", "mail": {"messageId": "m1"}}),
        "Timestamp": "2024-05-01T10:05:00.000Z",
        "SigningCertURL": kw.pop("cert_url", server.url_for("/SimpleNotificationService-test.pem")),
        "UnsubscribeURL": server.url_for("/?Action=Unsubscribe"),
    }
    if subject is not None:
        msg["Subject"] = subject
    return _sign(msg, key, version)


def _confirmation(server, key, version="2") -> dict:
    msg = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": server.url_for(f"/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb"),
        "Timestamp": "2024-05-01T10:00:00.000Z",
        "SigningCertURL": server.url_for("/SimpleNotificationService-test.pem"),
    }
    return _sign(msg, key, version)


def _rejected(verifier, message, status=403, **kw) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verifier.verify(message, **kw)
    assert caught.value.status == status
    return caught.value.reason


def _cert_fetches(server) -> int:
    return sum(1 for request, _ in server.log if request.path.endswith(".pem"))


# -- valid messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", ["Amazon SES Email Event Notification", None])
def test_valid_notifications_pass(sns_host, verifier, pki, version, subject):
    message = _notification(sns_host, pki["key"], version, subject=subject)
    verifier.verify(message)
    headers = {"X-Amz-Sns-Message-Type": "Notification", "x-amz-sns-message-id": message["MessageId"]}
    verifier.verify(message, headers=headers)


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_subscription_confirmation_passes_and_confirms(sns_host, verifier, pki, version):
    message = _confirmation(sns_host, pki["key"], version)
    verifier.verify(message)
    answer = (
        '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<ConfirmSubscriptionResult><SubscriptionArn>{SUB_ARN}</SubscriptionArn></ConfirmSubscriptionResult>"
        "<ResponseMetadata><RequestId>075ecce8-8dac-11e1-bf80-f781d96e9307</RequestId></ResponseMetadata>"
        "</ConfirmSubscriptionResponse>"
    )
    sns_host.expect_request(
        "/", query_string={"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": "2336412f37fb"}
    ).respond_with_data(answer, content_type="text/xml")
    assert confirm_subscription(message, verifier) == SUB_ARN


def test_certificate_fetched_once_for_many_messages(sns_host, verifier, pki):
    for n in range(6):
        verifier.verify(_notification(sns_host, pki["key"], "2", message_id=f"id-{n}", message=f"event {n}"))
    assert _cert_fetches(sns_host) == 1


def test_verify_webhook_checks_the_topic(sns_host, verifier, pki):
    body = json.dumps(_notification(sns_host, pki["key"])).encode()
    verify_webhook({}, body, {"topic_arns": [TOPIC]}, {}, time.time(), verifier=verifier)
    verify_webhook({}, body, {}, {}, time.time(), verifier=verifier)  # no allow-list: any signed topic
    with pytest.raises(WebhookRejected) as caught:
        verify_webhook({}, body, {"topic_arns": [TOPIC + "-other"]}, {}, time.time(), verifier=verifier)
    assert caught.value.status == 403 and "unexpected topic" in caught.value.reason


def test_verify_webhook_refuses_what_is_not_sns(verifier):
    for body in (b"not json", b"[]", b'{"hello": 1}'):
        with pytest.raises(WebhookRejected) as caught:
            verify_webhook({}, body, {}, {}, time.time(), verifier=verifier)
        assert caught.value.status == 403 and "not an SNS message" in caught.value.reason


def test_signed_ses_bounce_end_to_end(sns_host, verifier, pki):
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "jane@example.net",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2024-05-01T10:01:02.669Z",
        },
        "mail": {"messageId": "ses-1", "destination": ["jane@example.net"], "tags": {"herald_ref": ["m-42"]}},
    }
    message = _notification(sns_host, pki["key"], "2", message=json.dumps(event))
    body = json.dumps(message).encode()
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": message["MessageId"]}
    verify_webhook(headers, body, {"topic_arns": [TOPIC]}, {}, time.time(), verifier=verifier)
    [ev] = parse_webhook(headers, body)
    assert (ev.event_type, ev.bounce_type, ev.ref, ev.email) == ("bounce", "hard", "m-42", "jane@example.net")


# -- forgeries --------------------------------------------------------------------------------


def test_tampered_message_is_rejected(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], "2")
    message["Message"] = message["Message"].replace("Send", "Complaint")
    assert "does not match" in _rejected(verifier, message)


def test_tampered_subject_and_topic_are_rejected(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], "1")
    assert "does not match" in _rejected(verifier, {**message, "Subject": "other"})
    assert "does not match" in _rejected(verifier, {**message, "TopicArn": TOPIC + "x"})
    without_subject = dict(message)
    del without_subject["Subject"]
    assert "does not match" in _rejected(verifier, without_subject)


def test_signature_by_another_key_is_rejected(sns_host, verifier, pki):
    assert "does not match" in _rejected(verifier, _notification(sns_host, pki["other_key"], "1"))
    # a v1 signature presented as v2 fails too
    message = _notification(sns_host, pki["key"], "1")
    assert "does not match" in _rejected(verifier, {**message, "SignatureVersion": "2"})


def test_unsupported_signature_version_is_rejected_without_fetching(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], "2")
    for version in ("3", "", None, 1.5):
        assert "SignatureVersion" in _rejected(verifier, {**message, "SignatureVersion": version})
    assert "Signature" in _rejected(verifier, {**message, "Signature": "***"})
    assert _cert_fetches(sns_host) == 0


def test_cert_url_over_http_is_rejected_without_fetching(sns_host, verifier, pki):
    url = sns_host.url_for("/SimpleNotificationService-test.pem").replace("https://", "http://")
    message = _notification(sns_host, pki["key"], cert_url=url)
    assert "https" in _rejected(verifier, message)
    assert _cert_fetches(sns_host) == 0


def test_non_pem_path_is_rejected(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], cert_url=sns_host.url_for("/cert.txt"))
    assert ".pem" in _rejected(verifier, message)
    assert sns_host.log == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-x.pem",
        "https://amazonaws.com@evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://evil.example\\@sns.us-east-1.amazonaws.com/x.pem",
        "https://user:pw@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us.amazonaws.com/x.pem",
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem.txt",
        "https://sns.us-east-1.amazonaws.com:notaport/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem\n",
        "//sns.us-east-1.amazonaws.com/x.pem",
        "",
        None,
    ],
)
def test_default_pattern_refuses_foreign_cert_urls(url, monkeypatch):
    verifier = SNSVerifier()

    def no_fetch(*args, **kwargs):
        raise AssertionError("fetched a certificate from an unchecked URL")

    monkeypatch.setattr(verifier.pool, "request", no_fetch)
    message = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": TOPIC,
        "Message": "x",
        "Timestamp": "2024-05-01T10:05:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertURL": url,
    }
    _rejected(verifier, message)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
        "https://sns.eu-west-3.amazonaws.com:443/SimpleNotificationService-x.pem",
    ],
)
def test_default_pattern_accepts_real_sns_cert_urls(url):
    assert SNSVerifier().safe_url(url, pem=True).startswith("https://sns.")


def test_header_body_mismatch_is_rejected(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], "2")
    assert "x-amz-sns-message-type" in _rejected(
        verifier,
        message,
        headers={"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": message["MessageId"]},
    )
    assert "x-amz-sns-message-id" in _rejected(
        verifier, message, headers={"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": "other"}
    )
    assert _cert_fetches(sns_host) == 0


def test_expired_certificate_is_rejected(sns_host, verifier, pki):
    message = _notification(sns_host, pki["key"], "2", cert_url=sns_host.url_for("/expired.pem"))
    assert "not valid" in _rejected(verifier, message)
    # a valid certificate, judged at a moment after it expires
    message = _notification(sns_host, pki["key"], "2")
    assert "not valid" in _rejected(verifier, message, now=time.time() + 3 * 365 * 86400)


def test_redirects_and_bad_answers_are_not_followed(sns_host, verifier, pki):
    target = sns_host.url_for("/SimpleNotificationService-test.pem")
    sns_host.expect_request("/moved.pem").respond_with_response(Response(status=302, headers={"Location": target}))
    sns_host.expect_request("/junk.pem").respond_with_data("not a certificate")
    message = _notification(sns_host, pki["key"], cert_url=sns_host.url_for("/moved.pem"))
    assert "HTTP 302" in _rejected(verifier, message)
    message = _notification(sns_host, pki["key"], cert_url=sns_host.url_for("/junk.pem"))
    assert "not a PEM" in _rejected(verifier, message)
    assert [r.path for r, _ in sns_host.log] == ["/moved.pem", "/junk.pem"]


def test_untrusted_or_unreachable_cert_host_is_a_503(sns_host, pki):
    untrusting = SNSVerifier(host_pattern=r"^localhost$", ca_file=certifi_or_system(), timeout=2)
    message = _notification(sns_host, pki["key"], "2")
    assert "cannot fetch" in _rejected(untrusting, message, status=503)
    verifier = SNSVerifier(host_pattern=r"^localhost$", ca_file=pki["ca_file"], timeout=2)
    closed = f"https://localhost:{free_port()}/x.pem"
    assert "cannot fetch" in _rejected(verifier, _notification(sns_host, pki["key"], cert_url=closed), status=503)


def certifi_or_system() -> str | None:
    """A CA bundle that does not hold the test CA."""
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


# -- confirming subscriptions -----------------------------------------------------------------


def test_confirm_subscription_failures(sns_host, verifier, pki):
    message = _confirmation(sns_host, pki["key"])
    sns_host.expect_request("/").respond_with_data("<Error>denied</Error>", status=403)
    with pytest.raises(SubscriptionConfirmationFailed, match="HTTP 403"):
        confirm_subscription(message, verifier)
    with pytest.raises(SubscriptionConfirmationFailed, match="not an SNS host"):
        confirm_subscription({**message, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}, verifier)
    with pytest.raises(SubscriptionConfirmationFailed, match="not a SubscriptionConfirmation"):
        confirm_subscription(_notification(sns_host, pki["key"]), verifier)


def test_confirm_subscription_without_arn_fails(sns_host, verifier, pki):
    message = _confirmation(sns_host, pki["key"])
    sns_host.expect_request("/").respond_with_data("<ConfirmSubscriptionResponse/>", content_type="text/xml")
    with pytest.raises(SubscriptionConfirmationFailed, match="no SubscriptionArn"):
        confirm_subscription(message, verifier)
