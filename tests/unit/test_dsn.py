"""Reading what comes back to a return path: DSNs, ARF complaints, odd bounces, replies."""

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from app.providers import EVENT_TYPES
from app.providers.dsn import MAX_SUMMARY, fingerprint, parse_report

REF = "c-12-345"

POSTFIX_DSN = b"""Return-Path: <>
Received: by mail.example.net (Postfix) id 1A4E96097D; Wed,  5 Dec 2018 18:04:50 -0600 (CST)
Date: Wed,  5 Dec 2018 18:04:50 -0600 (CST)
From: MAILER-DAEMON@mail.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: b+c-12-345.0123abcd@bounces.example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="1A4E96097D.1544054690/mail.example.net"
Message-Id: <20181206000450.1A4E96097D@mail.example.net>

This is a MIME-encapsulated message.

--1A4E96097D.1544054690/mail.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<nobody@example.org>: host mx.example.org[192.0.2.25] said: 550 5.1.1
    <nobody@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--1A4E96097D.1544054690/mail.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.net
X-Postfix-Queue-ID: 1A4E96097D
X-Postfix-Sender: rfc822; b+c-12-345.0123abcd@bounces.example.com
Arrival-Date: Wed,  5 Dec 2018 18:04:49 -0600 (CST)

Final-Recipient: rfc822; nobody@example.org
Original-Recipient: rfc822;nobody@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

--1A4E96097D.1544054690/mail.example.net
Content-Description: Undelivered Message
Content-Type: message/rfc822

Received: from herald.example.com (herald.example.com [203.0.113.7])
Message-ID: <c12.r345@shop.example.com>
From: Acme Shop <news@shop.example.com>
To: nobody@example.org
Subject: Spring sale

Hello!

--1A4E96097D.1544054690/mail.example.net--
"""

EXIM_DSN = b"""From: Mail Delivery System <Mailer-Daemon@mx1.exim.example>
To: b+c-12-345.0123abcd@bounces.example.com
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1tXYZ-000123-AB@mx1.exim.example>
Date: Mon, 03 Mar 2025 10:15:00 +0000
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=1741000500-eximdsn-12345

--1741000500-eximdsn-12345
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  blocked@corp.example
    host mx.corp.example [198.51.100.4]
    SMTP error from remote mail server after RCPT TO:<blocked@corp.example>:
    550 5.7.1 Message rejected due to local policy

--1741000500-eximdsn-12345
Content-type: message/delivery-status

Reporting-MTA: dns; mx1.exim.example

Action: failed
Final-Recipient: rfc822;blocked@corp.example
Status: 5.0.0
Remote-MTA: dns; mx.corp.example
Diagnostic-Code: smtp; 550 5.7.1 Message rejected due to local policy

Action: delayed
Final-Recipient: rfc822;slow@corp.example
Status: 4.0.0
Remote-MTA: dns; mx2.corp.example
Diagnostic-Code: smtp; 451 4.4.1 Temporary failure, please try again later
Last-Attempt-Date: Mon, 03 Mar 2025 10:14:00 +0000
Will-Retry-Until: Thu, 06 Mar 2025 10:00:00 +0000

--1741000500-eximdsn-12345
Content-type: message/rfc822

Message-ID: <exim-original@shop.example.com>
From: news@shop.example.com
To: blocked@corp.example, slow@corp.example
Subject: News

body
--1741000500-eximdsn-12345--
"""

HEADERS_ONLY_DSN = b"""From: postmaster@relay.example.net
To: b+c-12-345.0123abcd@bounces.example.com
Subject: Delivery Status Notification (Failure)
Message-ID: <dsn-headers-only@relay.example.net>
Content-Type: multipart/report; report-type="delivery-status"; boundary="b1"

--b1
Content-Type: text/plain

Delivery failed.
--b1
Content-Type: message/delivery-status

Reporting-MTA: dns;relay.example.net

Final-Recipient: rfc822;<gone@example.com>
Action: failed
Status: 5.1.2
Diagnostic-Code: X-Postfix; Host or domain name not found. Name service error
    for name=example.com type=MX: Host not found
--b1
Content-Type: text/rfc822-headers

Message-ID: <headers-only-original@shop.example.com>
From: news@shop.example.com
To: gone@example.com
Subject: Hello
--b1--
"""

GMAIL_INACTIVE = b"""Delivered-To: b+c-12-345.0123abcd@bounces.example.com
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: b+c-12-345.0123abcd@bounces.example.com
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Message-ID: <5f2c.0x1@mx.google.com>
Date: Tue, 04 Mar 2025 08:00:01 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000abcdef"; report-type=delivery-status

--000000000000abcdef
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to old.friend@gmail.com because the address couldn't be found, or is unable to receive mail.

--000000000000abcdef
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; herald.example.com
Arrival-Date: Tue, 04 Mar 2025 07:59:58 -0800 (PST)
X-Original-Message-ID: <gmail-original@shop.example.com>

Final-Recipient: rfc822; old.friend@gmail.com
Action: failed
Status: 5.2.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.27, the server for the domain gmail.com.)
Diagnostic-Code: smtp; 550-5.2.1 The email account that you tried to reach is inactive.
 For more information, go to https://support.google.com/mail/?p=DisabledUser
Last-Attempt-Date: Tue, 04 Mar 2025 08:00:01 -0800 (PST)

--000000000000abcdef
Content-Type: message/rfc822

Message-ID: <gmail-original@shop.example.com>
To: old.friend@gmail.com
Subject: We miss you

--000000000000abcdef--
"""

YAHOO_ARF = b"""Return-Path: <feedback@arf.mail.yahoo.com>
DKIM-Signature: v=1; a=rsa-sha256; d=arf.mail.yahoo.com; s=arf; c=relaxed/relaxed; h=From:Subject; bh=x=; b=y=
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
Subject: FW: Spring sale
To: b+c-12-345.0123abcd@bounces.example.com
Message-ID: <arf-yahoo-1@arf.mail.yahoo.com>
Date: 5 Mar 2025 12:00:00 -0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="----=_Part_ARF"

------=_Part_ARF
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from IP 203.0.113.7 on Wed, 05 Mar 2025 11:58:00 +0000.
For more information about this format please see http://www.mipassoc.org/arf/.

------=_Part_ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 0.1
Original-Mail-From: <b+c-12-345.0123abcd@bounces.example.com>
Original-Rcpt-To: reader@yahoo.com
Received-Date: Wed, 05 Mar 2025 11:58:00 +0000
Reported-Domain: shop.example.com
Authentication-Results: mta1000.mail.bf1.yahoo.com; dkim=pass header.d=shop.example.com; spf=pass

------=_Part_ARF
Content-Type: message/rfc822
Content-Disposition: inline

DKIM-Signature: v=1; a=rsa-sha256; d=shop.example.com; s=herald; h=From:To:Subject; bh=a=; b=b=
Message-ID: <arf-original@shop.example.com>
From: Acme Shop <news@shop.example.com>
To: redacted@yahoo.com
Subject: Spring sale

Hello
------=_Part_ARF--
"""

QMAIL_BOUNCE = b"""Return-Path: <>
Date: 6 Mar 2025 09:30:00 -0000
From: MAILER-DAEMON@mail.qmail.example
To: b+c-12-345.0123abcd@bounces.example.com
Subject: failure notice
Message-ID: <20250306093000.123.qmail@mail.qmail.example>

Hi. This is the qmail-send program at mail.qmail.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@qmail.example>:
192.0.2.7 does not like recipient.
Remote host said: 550 5.1.1 <nobody@qmail.example>... User unknown
Giving up on 192.0.2.7.

--- Below this line is a copy of the message.

Return-Path: <b+c-12-345.0123abcd@bounces.example.com>
Message-ID: <qmail-original@shop.example.com>
From: news@shop.example.com
To: nobody@qmail.example
Subject: Deals at 500 percent off

Call 555 0100 now.
"""

OUT_OF_OFFICE = b"""From: Reader <reader@example.org>
To: b+c-12-345.0123abcd@bounces.example.com
Subject: Automatic reply: Spring sale
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
In-Reply-To: <c12.r345@shop.example.com>
Message-ID: <ooo-1@example.org>
Date: Fri, 07 Mar 2025 10:00:00 +0100
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday.
"""

HUMAN_REPLY = """From: =?utf-8?q?Zo=C3=AB_Reader?= <zoe@example.org>
To: b+c-12-345.0123abcd@bounces.example.com
Subject: Re: Spring sale
In-Reply-To: <c12.r345@shop.example.com>
References: <c12.r345@shop.example.com>
Message-ID: <reply-1@example.org>
Date: Fri, 07 Mar 2025 11:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Do you ship to Zürich? <script>alert(1)</script>
--alt
Content-Type: text/html; charset=utf-8

<p>Do you ship to Zürich?</p>
--alt--
""".encode()


def test_postfix_dsn_is_a_hard_bounce_with_everything_filled():
    r = parse_report(POSTFIX_DSN, REF, "")
    assert r.kind == "dsn" and len(r.events) == 1
    e = r.events[0]
    assert (e.event_type, e.bounce_type, e.raw_type) == ("bounce", "hard", "dsn/failed")
    assert e.email == "nobody@example.org" and e.ref == REF
    assert e.enhanced == "5.1.1" and e.smtp_code == 550
    assert e.diagnostic.startswith("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown")
    assert e.message_id == r.original_message_id == "<c12.r345@shop.example.com>"
    assert e.occurred_at == datetime(2018, 12, 6, 0, 4, 49, tzinfo=timezone.utc)
    assert e.data == {
        "reporting_mta": "mail.example.net",
        "remote_mta": "mx.example.org",
        "original_recipient": "nobody@example.org",
    }
    assert "failed 5.1.1 nobody@example.org" in r.summary and "\n" not in r.summary
    assert r.subject == "Undelivered Mail Returned to Sender"


def test_crlf_line_endings_read_the_same():
    crlf = parse_report(POSTFIX_DSN.replace(b"\n", b"\r\n"), REF, "")
    assert crlf.events[0].bounce_type == "hard" and crlf.events[0].email == "nobody@example.org"


def test_exim_dsn_with_two_recipients_gives_a_block_and_a_delay():
    r = parse_report(EXIM_DSN, REF)
    failed, delayed = r.events
    # Exim writes a vague Status 5.0.0; the diagnostic's 5.7.1 says it is the sender being refused.
    assert (failed.event_type, failed.bounce_type, failed.enhanced) == ("bounce", "block", "5.7.1")
    assert failed.email == "blocked@corp.example" and failed.raw_type == "dsn/failed"
    assert (delayed.event_type, delayed.bounce_type, delayed.enhanced) == ("delivery_delay", None, "4.4.1")
    assert delayed.smtp_code == 451 and delayed.raw_type == "dsn/delayed"
    assert delayed.occurred_at == datetime(2025, 3, 3, 10, 14, tzinfo=timezone.utc)
    assert failed.occurred_at is None  # neither Last-Attempt-Date nor Arrival-Date
    assert failed.event_id != delayed.event_id
    assert {e.message_id for e in r.events} == {"<exim-original@shop.example.com>"}


def test_dsn_with_only_the_original_headers():
    r = parse_report(HEADERS_ONLY_DSN, REF)
    (e,) = r.events
    assert r.original_message_id == "<headers-only-original@shop.example.com>"
    assert e.email == "gone@example.com" and e.bounce_type == "hard" and e.enhanced == "5.1.2"
    assert e.diagnostic.startswith("Host or domain name not found") and e.smtp_code is None


def test_gmail_inactive_account_is_hard_and_the_ip_in_remote_mta_is_not_a_code():
    r = parse_report(GMAIL_INACTIVE, REF, "")
    (e,) = r.events
    assert (e.bounce_type, e.enhanced, e.smtp_code) == ("hard", "5.2.1", 550)
    assert "inactive" in e.diagnostic and e.email == "old.friend@gmail.com"
    assert e.message_id == "<gmail-original@shop.example.com>"
    assert e.data["remote_mta"].startswith("gmail-smtp-in.l.google.com.")


def test_yahoo_arf_is_one_complaint():
    r = parse_report(YAHOO_ARF, REF, "feedback@arf.mail.yahoo.com")
    assert r.kind == "arf"
    (e,) = r.events
    assert (e.event_type, e.raw_type, e.email) == ("complaint", "arf/abuse", "reader@yahoo.com")
    assert e.message_id == r.original_message_id == "<arf-original@shop.example.com>"
    assert e.data["feedback_type"] == "abuse" and e.data["user_agent"] == "Yahoo!-Mail-Feedback/2.0"
    assert e.data["reporter"] == "arf.mail.yahoo.com" and e.data["reported_domain"] == "shop.example.com"
    assert e.occurred_at == datetime(2025, 3, 5, 11, 58, tzinfo=timezone.utc)
    assert e.ref == REF and "complaint (abuse)" in r.summary


def test_arf_without_a_recipient_falls_back_to_the_original_to_and_not_spam_is_no_complaint():
    raw = YAHOO_ARF.replace(b"Original-Rcpt-To: reader@yahoo.com\n", b"").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    # The feedback loop redacted the original's To: no address rather than a made-up one.
    (e,) = parse_report(raw, REF).events
    assert e.email is None and e.event_type == "unknown" and e.raw_type == "arf/not-spam"
    (e,) = parse_report(raw.replace(b"To: redacted@yahoo.com", b"To: reader.two@yahoo.com"), REF).events
    assert e.email == "reader.two@yahoo.com"


def test_qmail_bounce_without_a_report_is_read_best_effort():
    r = parse_report(QMAIL_BOUNCE, REF, "")
    assert r.kind == "dsn"
    (e,) = r.events
    assert (e.event_type, e.bounce_type, e.smtp_code, e.enhanced) == ("bounce", "hard", 550, "5.1.1")
    assert e.email == "nobody@qmail.example" and e.raw_type == "bounce/unstructured"
    assert "User unknown" in e.diagnostic
    assert e.message_id == "<qmail-original@shop.example.com>"


def test_bounce_without_a_clear_code_is_soft():
    raw = QMAIL_BOUNCE.replace(b"Remote host said: 550 5.1.1 <nobody@qmail.example>... User unknown\n", b"")
    (e,) = parse_report(raw, REF, "").events
    assert e.event_type == "bounce" and e.bounce_type == "soft" and e.smtp_code is None
    assert "no code" in parse_report(raw, REF, "").summary


def test_null_sender_without_a_failure_is_an_automatic_message_never_a_reply():
    # Autoresponders send from <> too (RFC 3834); a person's mail never does. A number is no SMTP code.
    raw = (
        b"From: Someone <someone@example.org>\nSubject: Thanks!\nMessage-ID: <t@example.org>\n\nCall me at 555 1234.\n"
    )
    r = parse_report(raw, REF, "")
    assert r.kind == "autoreply" and r.events == []
    assert parse_report(raw, REF, "someone@example.org").kind == "reply"


def test_out_of_office_is_an_autoreply_without_events():
    r = parse_report(OUT_OF_OFFICE, REF)
    assert r.kind == "autoreply" and r.events == []
    assert r.original_message_id == "<c12.r345@shop.example.com>"
    for header in (b"X-Autoreply: yes", b"Precedence: auto_reply", b"Precedence: bulk"):
        raw = b"From: a@example.org\nSubject: Hello\n" + header + b"\n\nbody\n"
        assert parse_report(raw, REF).kind == "autoreply", header
    raw = b"From: a@example.org\nSubject: Out of Office: Spring sale\n\nAway\n"
    assert parse_report(raw, REF).kind == "autoreply"
    raw = b"From: a@example.org\nSubject: Hello\nAuto-Submitted: no\n\nbody\n"
    assert parse_report(raw, REF).kind == "reply"


def test_human_reply_is_one_reply_event():
    r = parse_report(HUMAN_REPLY, REF)
    assert r.kind == "reply"
    (e,) = r.events
    assert (e.event_type, e.raw_type, e.email, e.ref) == ("reply", "reply", "zoe@example.org", REF)
    assert e.message_id == "<c12.r345@shop.example.com>"
    assert e.occurred_at == datetime(2025, 3, 7, 10, 0, tzinfo=timezone.utc)
    assert r.subject == "Re: Spring sale" and r.from_header == "Zoë Reader <zoe@example.org>"
    assert "Re: Spring sale" in r.summary


def test_garbage_never_raises():
    for raw in (b"", b"\x00\xff\xfe garbage \x81", b"\n\n\n", b"no colon here\n\nbody", bytes(range(256)) * 50):
        r = parse_report(raw, REF)
        assert r.kind == "reply" and r.events == [] and r.summary.startswith("unparseable")


def test_broken_report_parts_do_not_raise():
    raw = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status; boundary=zz\n\n--zz\nContent-Type: message/delivery-status\n\n\n--zz"
    r = parse_report(raw, REF, "")
    # No recipient block and nothing in the text: an undetermined (soft) bounce of nobody named.
    assert r.kind == "dsn" and "without recipient" in r.summary
    assert [(e.event_type, e.bounce_type, e.email) for e in r.events] == [("bounce", "soft", None)]
    raw = b"From: x@y.example\nSubject: =?bogus?q?=FF?=\nContent-Type: text/plain; charset=nonexistent\n\n\xff\xfe"
    assert parse_report(raw, REF).kind == "reply"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([None, "", "x@example.org"]))
def test_any_bytes_give_a_report(raw, mail_from):
    r = parse_report(raw, REF, mail_from)
    assert r.kind in ("dsn", "arf", "reply", "autoreply") and len(r.summary) <= MAX_SUMMARY
    assert all(e.event_type in EVENT_TYPES for e in r.events)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=500), st.text(max_size=200))
def test_any_text_in_a_dsn_gives_a_report(diagnostic, recipient):
    raw = EXIM_DSN.replace(b"550 5.7.1 Message rejected due to local policy", diagnostic.encode("utf-8", "replace"))
    raw = raw.replace(b"rfc822;blocked@corp.example", b"rfc822;" + recipient.encode("utf-8", "replace"))
    r = parse_report(raw, REF)
    assert r.kind == "dsn" and all(e.event_type in EVENT_TYPES for e in r.events)


def test_huge_message_keeps_small_values():
    big_diag = b"550 5.1.1 " + b"x" * 50_000
    raw = POSTFIX_DSN.replace(b"550 5.1.1 <nobody@example.org>: Recipient address", big_diag)
    raw = raw.replace(b"Hello!\n", b"Hello!\n" + (b"A" * 998 + b"\n") * 12_000)  # a 12 MB original
    r = parse_report(raw, REF, "")
    (e,) = r.events
    assert e.bounce_type == "hard" and len(e.diagnostic) <= 1000 and len(r.summary) <= MAX_SUMMARY
    long_subject = b"Subject: " + b"Re: " * 5000 + b"\n"
    r = parse_report(b"From: a@example.org\n" + long_subject + b"\nhi\n", REF)
    assert len(r.subject) <= 998 and len(r.events[0].data["subject"]) <= 200


def test_event_ids_are_stable_per_report_and_ref():
    first, again = parse_report(EXIM_DSN, REF), parse_report(EXIM_DSN, REF)
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    other = parse_report(EXIM_DSN, "c-12-346")
    assert not {e.event_id for e in first.events} & {e.event_id for e in other.events}
    # A relay that adds a Received header on a second delivery does not make it a new report.
    relayed = b"Received: from backup-mx.example.com\n" + EXIM_DSN
    assert [e.event_id for e in parse_report(relayed, REF).events] == [e.event_id for e in first.events]
    assert all(len(f"mailin:{e.event_id}") <= 128 for e in first.events)


def test_fingerprint_without_message_id_hashes_the_body():
    raw = b"From: a@example.org\nSubject: hi\n\nbody one\n"
    assert fingerprint(raw, REF) == fingerprint(b"Received: by relay\n" + raw, REF)
    assert fingerprint(raw, REF) != fingerprint(raw.replace(b"one", b"two"), REF)
