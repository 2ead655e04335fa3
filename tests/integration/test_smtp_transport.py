"""The SMTP transport against a real server: dot-stuffing, refusals, reconnection, with and
without PIPELINING (RFC 2920) offered by the server."""

import pytest
from aiosmtpd.controller import Controller

from app.providers.smtp import SMTPSettings, SMTPTransport
from tests.conftest import PlainSMTPSink, SMTPSink
from tests.support import free_port


class RefusingSender(SMTPSink):
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.startswith("blocked@"):
            return "550 5.7.1 sender refused by policy"
        envelope.mail_from = address
        return "250 OK"


@pytest.fixture(params=["pipelining", "one at a time"])
def smtp_sink(request):
    """The test SMTP server, offering PIPELINING or not: every test here runs against both."""
    base = RefusingSender if request.param == "pipelining" else type("Plain", (RefusingSender, PlainSMTPSink), {})
    sink = base()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    sink.pipelining = request.param == "pipelining"
    yield sink
    controller.stop()


def test_the_server_decides_whether_commands_are_pipelined(smtp_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    assert t.send("a@example.com", "b@example.com", b"Subject: x\r\n\r\nhi\r\n").ok
    assert t.conn.has_extn("pipelining") is smtp_sink.pipelining
    t.close()


def test_a_refused_sender_fails_with_the_reply_to_mail_from_and_nothing_is_sent(smtp_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    refused = t.send("blocked@example.com", "b@example.com", b"Subject: x\r\n\r\nhi\r\n")
    assert not refused.ok and refused.code == 550 and refused.enhanced == "5.7.1"
    assert "sender refused by policy" in refused.detail
    assert t.send("a@example.com", "b@example.com", b"Subject: y\r\n\r\nhi\r\n").ok  # the session goes on
    t.close()
    assert [m["mail_from"] for m in smtp_sink.messages] == ["a@example.com"]


def test_a_temporary_refusal_is_temporary(smtp_sink):
    smtp_sink.refuse["busy@example.com"] = "451 4.3.2 try again later"
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    r = t.send("a@example.com", "busy@example.com", b"Subject: x\r\n\r\nhi\r\n")
    t.close()
    assert not r.ok and r.failure == "temporary" and r.code == 451 and not smtp_sink.messages


def test_lines_starting_with_a_dot_arrive_intact(smtp_sink):
    raw = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nmiddle . dot\r\n."
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    assert t.send("a@example.com", "b@example.com", raw).ok
    t.close()
    body = smtp_sink.messages[0]["raw"].split(b"\r\n\r\n", 1)[1]
    assert body == b".leading dot\r\n..two dots\r\nmiddle . dot\r\n.\r\n"


def test_a_refused_recipient_fails_alone_and_the_connection_is_reused(smtp_sink):
    smtp_sink.refuse["gone@example.com"] = "550 5.1.1 mailbox unknown"
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    bad = t.send("a@example.com", "gone@example.com", b"Subject: x\r\n\r\nhi\r\n")
    good = t.send("a@example.com", "ok@example.com", b"Subject: x\r\n\r\nhi\r\n")
    t.close()
    assert not bad.ok and bad.failure == "permanent" and bad.enhanced == "5.1.1" and bad.code == 550
    assert good.ok and [m["rcpt_tos"] for m in smtp_sink.messages] == [["ok@example.com"]]


def test_a_connection_dropped_between_messages_is_reopened(smtp_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", smtp_sink.port))
    assert t.send("a@example.com", "one@example.com", b"Subject: 1\r\n\r\n1\r\n").ok
    t.conn.sock.close()  # the server closed an idle connection
    assert t.send("a@example.com", "two@example.com", b"Subject: 2\r\n\r\n2\r\n").ok
    t.close()
    assert len(smtp_sink.messages) == 2


@pytest.fixture(params=[True, False], ids=["SMTPUTF8 offered", "no SMTPUTF8"])
def utf8_sink(request, smtp_sink):
    """The test server again, on a second port, offering SMTPUTF8 (RFC 6531) or not."""
    sink = type(smtp_sink)()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, enable_SMTPUTF8=request.param)
    controller.start()
    sink.smtputf8 = request.param
    yield sink
    controller.stop()


UTF8_MESSAGE = "To: müller@example.com\r\nSubject: x\r\n\r\nhi\r\n".encode()


def test_a_non_ascii_local_part_goes_out_with_smtputf8_or_fails_alone_with_a_sentence(utf8_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", utf8_sink.port))
    r = t.send("a@example.com", "müller@example.com", UTF8_MESSAGE)
    after = t.send("a@example.com", "next@example.com", b"Subject: y\r\n\r\nhi\r\n")
    t.close()
    assert after.ok  # the session goes on either way
    if utf8_sink.smtputf8:
        assert r.ok
        assert [m["rcpt_tos"] for m in utf8_sink.messages] == [["müller@example.com"], ["next@example.com"]]
        assert utf8_sink.messages[0]["message"]["To"] == "müller@example.com"
    else:
        assert not r.ok and r.failure == "unsupported" and r.code is None
        assert r.detail.startswith(
            "This address has non-ASCII letters before the @ and the mail server does not accept such "
            "addresses (no SMTPUTF8)."
        )
        assert [m["rcpt_tos"] for m in utf8_sink.messages] == [["next@example.com"]]


def test_a_non_ascii_domain_is_written_in_punycode_whatever_the_server_offers(utf8_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", utf8_sink.port))
    assert t.send("news@shop.example.com", "bob@exämple.com", b"Subject: x\r\n\r\nhi\r\n").ok
    t.close()
    assert utf8_sink.messages[0]["rcpt_tos"] == ["bob@xn--exmple-cua.com"]


def test_a_domain_with_no_ascii_spelling_fails_alone_where_smtputf8_is_not_offered(utf8_sink):
    t = SMTPTransport(SMTPSettings("127.0.0.1", utf8_sink.port))
    r = t.send("a@example.com", "bob@ex_ä.com", b"Subject: x\r\n\r\nhi\r\n")
    t.close()
    assert r.ok is utf8_sink.smtputf8
    if not r.ok:
        assert r.failure == "unsupported" and "not a valid internationalized domain name" in r.detail
