"""The SMTP transport against a real server: dot-stuffing, refusals, reconnection."""

from app.providers.smtp import SMTPSettings, SMTPTransport


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
