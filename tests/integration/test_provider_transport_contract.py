"""Every provider transport keeps the one contract the send engine relies on (app/providers/__init__.py):
a message handed off comes back ok (with the provider's message id where the provider names one) and
arrives; a refusal about the recipient is a `permanent` failure with the provider's code and words; a
temporary refusal is either a `temporary` failure (SMTP's 4xx) or TransportUnavailable (an API that
throttles: nothing was handed off); an endpoint that cannot be reached raises TransportUnavailable; a
connection lost once the message went out is `unknown`, never TransportUnavailable (sending it again
could deliver it twice).

Each transport is built as the send engine builds it: a provider saved through the service
(tests/factories.py), then `transport_for`. The providers are played by local servers: an aiosmtpd sink
(SMTP), moto in server mode (SES, with a fake SES for the throttling moto cannot do) and local HTTP
servers answering as SendGrid, Mailgun and Postmark document."""

import email
import json
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.utils import parseaddr
from urllib.parse import urlsplit

import boto3
import pytest
from werkzeug import Request, Response

from app.providers import SendResult, TransportUnavailable
from app.services.content.mime import MessageSkeleton
from app.services.delivery import providers
from tests.factories import create_provider
from tests.moto_support import moto_data, moto_endpoint, moto_reset  # noqa: F401  (moto_endpoint: fixture)
from tests.support import free_port
from tests.unit.provider_support import dropping_server

SENDER = "news@shop.example.com"
RCPT = "jane@example.net"
SUBJECT = "Spring sale ✨"
HTML = "<p>Bonjour Jane</p>"
REF = "c-7-42"
RAW = MessageSkeleton("Acme Shop", SENDER, None, {"X-Herald-Campaign": "7"}).build(
    "Jane Doe",
    RCPT,
    SUBJECT,
    HTML,
    "Bonjour Jane",
    "<c7.r42@shop.example.com>",
    {"List-Unsubscribe": "<https://herald.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
)


# What each transport promises ---------------------------------------------------------------------

ANY_ID = object()  # the provider names the message, with an id of its own choosing


@dataclass(frozen=True)
class Failed:
    """send() returns a failure of this kind, with the provider's code, enhanced code and words."""

    failure: str
    code: int | None = None
    words: str = ""
    enhanced: str | None = None


@dataclass(frozen=True)
class Unavailable:
    """send() raises TransportUnavailable saying `words`: nothing was handed off."""

    words: str


@dataclass(frozen=True)
class Contract:
    message_id: object  # the provider message id of a hand-off (None: the provider names none)
    keeps_bytes: bool  # the message arrives byte for byte (raw MIME), not rebuilt from its fields (JSON APIs)
    permanent: Failed
    temporary: Failed | Unavailable
    unreachable: Unavailable
    lost: Failed


CONTRACTS = [
    pytest.param(
        "smtp",
        Contract(
            # SMTP names no message: Herald's own Message-ID header, sent untouched, is the reference.
            message_id=None,
            keeps_bytes=True,
            permanent=Failed("permanent", 550, "Recipient address rejected: User unknown", enhanced="5.1.1"),
            temporary=Failed("temporary", 450, "Mailbox busy, try again later", enhanced="4.2.1"),
            unreachable=Unavailable("cannot connect to 127.0.0.1"),
            lost=Failed("unknown", words="connection lost during hand-off"),
        ),
        id="smtp",
    ),
    pytest.param(
        "ses",
        Contract(
            message_id=ANY_ID,
            keeps_bytes=True,
            permanent=Failed("permanent", 400, "MessageRejected: "),
            temporary=Unavailable("TooManyRequestsException: Maximum sending rate exceeded."),
            unreachable=Unavailable("cannot reach"),
            lost=Failed("unknown", words="it may have accepted the message"),
        ),
        id="ses",
    ),
    pytest.param(
        "sendgrid",
        Contract(
            message_id="W86EgYT6SQKk0lRflfLRsA",
            keeps_bytes=False,
            permanent=Failed("permanent", 400, "Does not contain a valid address. (personalizations.0.to.0.email)"),
            temporary=Unavailable("SendGrid throttled the request (429): too many requests"),
            unreachable=Unavailable("cannot reach SendGrid"),
            lost=Failed("unknown", words="it may have accepted the message"),
        ),
        id="sendgrid",
    ),
    pytest.param(
        "mailgun",
        Contract(
            message_id="20240101120000.1.ABCDEF@mg.shop.example.com",  # Mailgun's "<id>", bare
            keeps_bytes=True,
            permanent=Failed("permanent", 400, "'to' parameter is not a valid address. please check documentation"),
            temporary=Unavailable("Mailgun throttled the request (429): Too many requests"),
            unreachable=Unavailable("cannot reach Mailgun"),
            lost=Failed("unknown", words="it may have accepted the message"),
        ),
        id="mailgun",
    ),
    pytest.param(
        "postmark",
        Contract(
            message_id="0a129aee-e1cd-480d-b08d-4f48548ff48d",
            keeps_bytes=False,
            permanent=Failed("permanent", 422, "ErrorCode 406 (inactive recipient (suppressed by Postmark)): "),
            temporary=Unavailable("Postmark throttled the request (429): ErrorCode 429 (rate limit exceeded)"),
            unreachable=Unavailable("cannot reach Postmark"),
            lost=Failed("unknown", words="it may have accepted the message"),
        ),
        id="postmark",
    ),
]


# The providers, played locally --------------------------------------------------------------------


@dataclass
class Arrival:
    """One message as it reached the provider."""

    rcpt: str
    subject: str
    html: str
    raw: bytes | None = None  # the MIME bytes, where the provider takes them


def from_raw(rcpt: str, raw: bytes) -> Arrival:
    msg = email.message_from_bytes(raw, policy=policy.default)
    return Arrival(rcpt, str(msg["Subject"]), msg.get_body(("html",)).get_content(), raw)


@contextmanager
def smtp_server_hanging_up_on_the_message():
    """An SMTP server on 127.0.0.1 that takes the envelope and the message, then closes without a reply."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve_one():
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            conn.settimeout(5)
            conn.sendall(b"220 relay.test ESMTP\r\n")
            for line in lines:
                if line[:4].upper() == b"DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    for body_line in lines:
                        if body_line == b".\r\n":
                            return  # the whole message is here: hang up instead of answering
                elif line[:4].upper() in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 relay.test\r\n")
                else:
                    conn.sendall(b"250 OK\r\n")

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"smtp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        thread.join(5)
        server.close()


class SMTPFake:
    """The SMTP sink (tests/conftest.py): takes every message, or refuses the recipient as told."""

    provider_type = "smtp"
    REFUSALS = {
        "permanent": f"550 5.1.1 <{RCPT}>: Recipient address rejected: User unknown",
        "temporary": f"450 4.2.1 <{RCPT}>: Mailbox busy, try again later",
    }

    def __init__(self, request):
        self.sink = request.getfixturevalue("smtp_sink")
        self.url = f"smtp://127.0.0.1:{self.sink.port}"

    def settings(self, url: str) -> dict:
        return {"host": "127.0.0.1", "port": urlsplit(url).port}

    def accept(self) -> None:
        self.sink.refuse.clear()

    def refuse(self, kind: str) -> None:
        self.sink.refuse[RCPT] = self.REFUSALS[kind]

    def received(self) -> list[Arrival]:
        return [from_raw(m["rcpt_tos"][0], m["raw"]) for m in self.sink.messages]

    hanging_up = staticmethod(smtp_server_hanging_up_on_the_message)


class HTTPFake:
    """A local HTTP server answering as the provider's API documents (pytest-httpserver)."""

    provider_type = ""
    path = ""
    accepted: Response
    refusals: dict[str, Response]

    def __init__(self, request):
        self.server = request.getfixturevalue("httpserver")
        self.url = self.server.url_for("").rstrip("/")
        self.arrivals: list[Arrival] = []

    def settings(self, url: str) -> dict:
        return {"api_base_url": url}

    def answer(self, response: Response) -> None:
        def handle(request: Request) -> Response:
            if 200 <= response.status_code < 300:
                self.arrivals.append(self.arrival(request))
            return response

        self.server.clear()
        self.server.expect_request(self.path, method="POST").respond_with_handler(handle)

    def accept(self) -> None:
        self.answer(self.accepted)

    def refuse(self, kind: str) -> None:
        self.answer(self.refusals[kind])

    def received(self) -> list[Arrival]:
        return self.arrivals

    hanging_up = staticmethod(dropping_server)

    def arrival(self, request: Request) -> Arrival:
        raise NotImplementedError


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class SendGridFake(HTTPFake):
    provider_type, path = "sendgrid", "/v3/mail/send"
    accepted = Response("", status=202, headers={"X-Message-Id": "W86EgYT6SQKk0lRflfLRsA"})
    refusals = {
        "permanent": _json(
            {"errors": [{"message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email"}]},
            400,
        ),
        "temporary": _json({"errors": [{"field": None, "message": "too many requests"}]}, 429),
    }

    def arrival(self, request: Request) -> Arrival:
        body = json.loads(request.get_data())
        html = next(c["value"] for c in body["content"] if c["type"] == "text/html")
        return Arrival(body["personalizations"][0]["to"][0]["email"], body["subject"], html)


class MailgunFake(HTTPFake):
    provider_type, path = "mailgun", "/v3/mg.shop.example.com/messages.mime"
    accepted = _json({"id": "<20240101120000.1.ABCDEF@mg.shop.example.com>", "message": "Queued. Thank you."})
    refusals = {
        "permanent": _json({"message": "'to' parameter is not a valid address. please check documentation"}, 400),
        "temporary": _json({"message": "Too many requests"}, 429),
    }

    def settings(self, url: str) -> dict:
        return {"domain": "mg.shop.example.com", "api_base_url": url}

    def arrival(self, request: Request) -> Arrival:
        return from_raw(request.form["to"], request.files["message"].read())


class PostmarkFake(HTTPFake):
    provider_type, path = "postmark", "/email"
    accepted = _json(
        {
            "To": RCPT,
            "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
            "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
            "ErrorCode": 0,
            "Message": "OK",
        }
    )
    refusals = {
        "permanent": _json(
            {
                "ErrorCode": 406,
                "Message": f"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {RCPT}.",
            },
            422,
        ),
        "temporary": _json({"ErrorCode": 429, "Message": "Rate limit exceeded."}, 429),
    }

    def arrival(self, request: Request) -> Arrival:
        body = json.loads(request.get_data())
        return Arrival(parseaddr(body["To"])[1], body["Subject"], body["HtmlBody"])


class SESFake:
    """moto in server mode (the sender verified, or not: SES then rejects the message); for throttling,
    which moto does not play, a local server answering as SES's API does."""

    provider_type = "ses"
    SEND_PATH = "/v2/email/outbound-emails"

    def __init__(self, request):
        self.moto = request.getfixturevalue("moto_endpoint")
        self.server = request.getfixturevalue("httpserver")
        self.url = self.moto

    def settings(self, url: str) -> dict:
        return {"region": "us-east-1", "endpoint_url": url}

    def accept(self) -> None:
        moto_reset(self.moto)
        admin = boto3.client(
            "sesv2",
            region_name="us-east-1",
            endpoint_url=self.moto,
            aws_access_key_id="AKIDTEST",
            aws_secret_access_key="secret",
        )
        admin.create_email_identity(EmailIdentity=SENDER)
        admin.close()
        self.url = self.moto

    def refuse(self, kind: str) -> None:
        if kind == "permanent":  # the sender is not verified: SES rejects the message
            moto_reset(self.moto)
            self.url = self.moto
            return
        throttled = Response(
            json.dumps({"message": "Maximum sending rate exceeded."}),
            status=429,
            headers={
                "x-amzn-ErrorType": "TooManyRequestsException:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
            },
            content_type="application/json",
        )
        self.server.clear()
        self.server.expect_request(self.SEND_PATH, method="POST").respond_with_response(throttled)
        self.url = self.server.url_for("").rstrip("/")

    def received(self) -> list[Arrival]:
        sent = moto_data(self.moto)["ses"]["RawMessage"]
        return [from_raw(m["destinations"][0], m["raw_data"].encode()) for m in sent]

    hanging_up = staticmethod(dropping_server)


FAKES = {fake.provider_type: fake for fake in (SMTPFake, SESFake, SendGridFake, MailgunFake, PostmarkFake)}


# The contract -------------------------------------------------------------------------------------


def send_through(workspace, fake, url: str) -> SendResult | TransportUnavailable:
    """Save a provider of the fake's type pointing at `url`, and send RAW with the transport the send
    engine would use; the result, or the TransportUnavailable raised."""
    provider = create_provider(workspace.id, fake.provider_type, fake.settings(url))
    transport, _ = providers.transport_for(provider)
    try:
        return transport.send(SENDER, RCPT, RAW, ref=REF)
    except TransportUnavailable as exc:
        return exc
    finally:
        transport.close()


def assert_outcome(got, expected: Failed | Unavailable, clause: str) -> None:
    if isinstance(expected, Unavailable):
        assert isinstance(got, TransportUnavailable), f"{clause}: expected TransportUnavailable, got {got!r}"
        assert expected.words in str(got), (clause, str(got))
        return
    assert isinstance(got, SendResult), f"{clause}: expected a {expected.failure} failure, got {got!r}"
    assert (got.ok, got.failure) == (False, expected.failure), (clause, got)
    assert expected.words in (got.detail or ""), (clause, got.detail)
    if expected.code is not None:
        assert got.code == expected.code, (clause, got)
    if expected.enhanced is not None:
        assert got.enhanced == expected.enhanced, (clause, got)


@pytest.mark.parametrize(("provider_type", "contract"), CONTRACTS)
def test_every_transport_keeps_the_send_contract(provider_type, contract, request, ctx, workspace):
    fake = FAKES[provider_type](request)

    # Handed off: ok, with the provider's message id, and the message reached the provider.
    fake.accept()
    result = send_through(workspace, fake, fake.url)
    assert isinstance(result, SendResult) and result.ok and result.failure is None, result
    if contract.message_id is ANY_ID:
        assert isinstance(result.provider_message_id, str) and result.provider_message_id, result
    else:
        assert result.provider_message_id == contract.message_id, result
    [arrival] = fake.received()
    assert (arrival.rcpt, arrival.subject) == (RCPT, SUBJECT)
    assert "Bonjour Jane" in arrival.html
    if contract.keeps_bytes:
        assert arrival.raw == RAW

    # Refused: for good (about this recipient), or for now.
    for kind, expected in (("permanent", contract.permanent), ("temporary", contract.temporary)):
        fake.refuse(kind)
        assert_outcome(send_through(workspace, fake, fake.url), expected, kind)

    # Nobody answers: nothing was handed off.
    nobody = f"http://127.0.0.1:{free_port()}"
    assert_outcome(send_through(workspace, fake, nobody), contract.unreachable, "unreachable")

    # The connection is lost once the message went out: the provider may have it.
    with fake.hanging_up() as url:
        assert_outcome(send_through(workspace, fake, url), contract.lost, "lost after the hand-off")
