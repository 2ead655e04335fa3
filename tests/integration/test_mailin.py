"""Bounces, complaints and replies mailed back to a VERP return path reach the marketer."""

import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, InboundMessage, Subscriber, Suppression
from app.services.audience import contacts
from app.services.campaigns import drafts, lifecycle
from app.services.content import templates
from app.services.delivery import providers
from app.services.delivery.verp import return_path
from app.services.events.mailin import start_mailin
from tests.conftest import TEMPLATE_HTML
from tests.factories import people, smtp_campaign
from tests.support import free_port

BOUNCE_DOMAIN = "bounces.example.com"


@pytest.fixture
def mailin(app):
    """The real listener on a port of its own; yields the port."""
    port = free_port()
    controller = start_mailin(app, "127.0.0.1", port)
    yield port
    controller.stop()


@pytest.fixture
def sent(workspace, smtp_sink, worker, app):
    """A campaign sent to three people through an SMTP provider; (campaign, {email: recipient})."""
    rows = people(3, "person{i}@example.com", name=None)
    template = {"name": "Spring", "subject": "Spring sale"}
    camp = smtp_campaign(workspace, smtp_sink, rows, template, {"name": "Relay"}, from_name="Acme Shop")
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    recipients = {r.email: r for r in db.session.scalars(drafts.recipients_query(camp.id))}
    assert {r.status for r in recipients.values()} == {"sent"}
    return camp, recipients


def verp(app, camp, recipient) -> str:
    return return_path(f"c-{camp.id}-{recipient.id}", BOUNCE_DOMAIN, app.config["SECRET_KEY"])


def deliver(port: int, rcpt: str, raw: bytes, mail_from: str = "") -> None:
    """Mail `raw` to the listener as an MTA would (the null sender by default, as bounces use)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(mail_from, [rcpt], raw)


def dsn(email: str, status: str, diagnostic: str, message_id: str = "<dsn-1@mx.example.net>") -> bytes:
    return f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
Message-ID: {message_id}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {email}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}
--b
Content-Type: text/rfc822-headers

Message-ID: <original@shop.example.com>
Subject: Spring sale
--b--
""".encode()


def arf(email: str) -> bytes:
    return f"""From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
Subject: FW: Spring sale
Message-ID: <arf-1@arf.mail.yahoo.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="f"

--f
Content-Type: text/plain

This is an email abuse report.
--f
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Rcpt-To: {email}
Reported-Domain: shop.example.com

--f
Content-Type: message/rfc822

Message-ID: <original@shop.example.com>
Subject: Spring sale

Hello
--f--
""".encode()


def reply(sender: str, subject: str, body: str, auto: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = sender, subject, f"<{abs(hash(subject))}@example.org>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body)
    msg.add_alternative(f"<p>{body}</p><img src='https://tracker.example/x.gif'>", subtype="html")
    return msg.as_bytes()


def _subscriber(email: str) -> Subscriber:
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


def _suppression(email: str) -> Suppression | None:
    return db.session.scalar(select(Suppression).where(Suppression.email == email))


# Without provider_events ------------------------------------------------------------------------


def test_forged_or_foreign_addresses_are_refused_at_rcpt(app, mailin):
    good = return_path("c-1-2", BOUNCE_DOMAIN, app.config["SECRET_KEY"])
    forged = good.replace(good.split("@")[0].rsplit(".", 1)[1], "00000000")
    other_secret = return_path("c-1-2", BOUNCE_DOMAIN, "someone else's secret")
    for rcpt in (forged, other_secret, "b+c-1-2@bounces.example.com", "postmaster@bounces.example.com"):
        with smtplib.SMTP("127.0.0.1", mailin, timeout=10) as smtp:
            smtp.ehlo()
            smtp.mail("")
            code, text = smtp.rcpt(rcpt)
            assert (code, text) == (550, b"5.1.1 No such mailbox here"), rcpt


def test_a_ref_that_no_longer_resolves_is_kept_as_unmatched(app, ctx, mailin):
    rcpt = return_path("c-41-999", BOUNCE_DOMAIN, app.config["SECRET_KEY"])
    deliver(mailin, rcpt, dsn("gone@example.com", "5.1.1", "550 5.1.1 user unknown"))
    row = db.session.scalar(select(InboundMessage))
    assert (row.kind, row.workspace_id, row.campaign_id) == ("unmatched", None, None)
    assert row.rcpt_to == rcpt.lower() and row.mail_from == "" and "dsn" in row.summary
    deliver(mailin, rcpt, dsn("gone@example.com", "5.1.1", "550 5.1.1 user unknown"))  # a retry
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_a_message_over_the_size_limit_is_refused_with_552(app, mailin, monkeypatch):
    from app.services.events import mailin as mailin_module

    rcpt = return_path("c-1-2", BOUNCE_DOMAIN, app.config["SECRET_KEY"])
    big = b"Subject: big\n\n" + (b"x" * 998 + b"\n") * (mailin_module.MAX_MESSAGE_BYTES // 999 + 10)
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        deliver(mailin, rcpt, big)
    assert refused.value.smtp_code == 552


def test_a_processing_error_answers_451_and_stores_nothing(app, ctx, mailin, monkeypatch):
    from app.services.events import mailin as mailin_module

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(mailin_module, "parse_report", broken)
    rcpt = return_path("c-1-2", BOUNCE_DOMAIN, app.config["SECRET_KEY"])
    with pytest.raises(smtplib.SMTPDataError) as refused:
        deliver(mailin, rcpt, reply("a@example.org", "Hello", "Hi"))
    assert refused.value.smtp_code == 451 and b"try again later" in refused.value.smtp_error
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 0


# With provider_events: what the marketer sees ---------------------------------------------------


def test_a_dsn_bounces_the_recipient_suppresses_the_address_and_counts_once(app, ctx, workspace, sent, mailin):
    camp, recipients = sent
    person = recipients["person1@example.com"]
    raw = dsn(person.email, "5.1.1", "550 5.1.1 <person1@example.com>: Recipient address rejected: User unknown")
    deliver(mailin, verp(app, camp, person), raw)
    db.session.expire_all()
    assert db.session.get(CampaignRecipient, person.id).status == "bounced"
    assert recipients["person2@example.com"].status == "sent"
    assert _subscriber("person1@example.com").status == "bounced"
    sup = _suppression("person1@example.com")
    assert sup.reason == "bounced" and "Recipient address rejected: User unknown" in sup.detail
    assert drafts.campaign_stats(camp.id)["bounced"] == 1
    inbound = db.session.scalar(select(InboundMessage))
    assert (inbound.kind, inbound.workspace_id, inbound.campaign_id, inbound.recipient_id) == (
        "dsn",
        workspace.id,
        camp.id,
        person.id,
    )
    assert "5.1.1" in inbound.summary

    deliver(mailin, verp(app, camp, person), raw)  # the same DSN again (a retry, a second MX)
    db.session.expire_all()
    assert drafts.campaign_stats(camp.id)["bounced"] == 1
    assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 1
    bounces = select(func.count()).where(Event.recipient_id == person.id, Event.event_type == "bounce")
    assert db.session.scalar(bounces) == 1


def test_an_arf_complaint_marks_complained_and_suppresses(app, ctx, sent, mailin):
    camp, recipients = sent
    person = recipients["person0@example.com"]
    deliver(mailin, verp(app, camp, person), arf(person.email), mail_from="feedback@arf.mail.yahoo.com")
    db.session.expire_all()
    assert db.session.get(CampaignRecipient, person.id).status == "complained"
    assert _subscriber(person.email).status == "complained"
    assert _suppression(person.email).reason == "complained"
    assert drafts.campaign_stats(camp.id)["complained"] == 1
    assert db.session.scalar(select(InboundMessage.kind)) == "arf"


def test_a_reply_shows_on_the_campaign_page_and_autoreplies_do_not_count(app, ctx, client, sent, mailin):
    camp, recipients = sent
    person = recipients["person2@example.com"]
    rcpt = verp(app, camp, person)
    # From another address of the person's: the signed return path says whose reply it is.
    # A person's mail comes from their own envelope sender (the null sender is for mail systems).
    deliver(
        mailin,
        rcpt,
        reply("Person Two <p2@home.example>", "Re: Spring sale", "Do you ship <b>abroad</b>?"),
        mail_from="p2@home.example",
    )
    deliver(mailin, rcpt, reply("person2@example.com", "Out of office", "Back Monday", auto=True))
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).replies == 1
    assert db.session.get(CampaignRecipient, person.id).status == "sent"  # a reply changes no status
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="replies"' in page and "Re: Spring sale" in page and "p2@home.example" in page
    assert "1 automatic reply" in page and "Out of office" not in page
    inbound = db.session.scalar(select(InboundMessage).where(InboundMessage.kind == "reply"))
    link = f"/campaigns/{camp.id}/replies/{inbound.id}"
    assert link in page
    shown = client.get(link)
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Do you ship &lt;b&gt;abroad&lt;/b&gt;?" in text
    assert "tracker.example" not in text and "<b>abroad" not in text  # the HTML part is never rendered
    assert "Message-ID" in text and "Re: Spring sale" in text

    # A person's mail comes from their own envelope sender (the null sender is for mail systems).
    deliver(
        mailin,
        rcpt,
        reply("Person Two <p2@home.example>", "Re: Spring sale", "Do you ship <b>abroad</b>?"),
        mail_from="p2@home.example",
    )
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).replies == 1  # the same reply twice counts once


def test_another_workspaces_reply_is_not_found(app, ctx, client, sent, make_workspace):
    camp, _ = sent
    other = make_workspace("Other", "other@example.com")
    theirs = InboundMessage(
        workspace_id=other.id, campaign_id=camp.id, kind="reply", rcpt_to="x@example.com", raw=b"Subject: secret\n\nx"
    )
    db.session.add(theirs)
    db.session.commit()
    assert client.get(f"/campaigns/{camp.id}/replies/{theirs.id}").status_code == 404
    assert client.get(f"/campaigns/{camp.id}/replies/{theirs.id + 1000}").status_code == 404
    assert "secret" not in client.get(f"/campaigns/{camp.id}").get_data(as_text=True)


def test_a_bounce_for_a_transactional_message_is_filed_under_its_workspace(app, ctx, workspace, mailin):
    from app.models import Message

    message = Message(
        workspace_id=workspace.id, to_email="buyer@example.com", from_email="shop@shop.example.com", status="sent"
    )
    db.session.add(message)
    db.session.commit()
    rcpt = return_path(f"m-{message.id}", BOUNCE_DOMAIN, app.config["SECRET_KEY"])
    deliver(mailin, rcpt, dsn("buyer@example.com", "5.1.1", "550 5.1.1 user unknown"))
    db.session.expire_all()
    inbound = db.session.scalar(select(InboundMessage))
    assert (inbound.kind, inbound.workspace_id, inbound.message_id, inbound.campaign_id) == (
        "dsn",
        workspace.id,
        message.id,
        None,
    )
    assert _suppression("buyer@example.com").reason == "bounced"


def test_a_provider_with_a_return_path_domain_sends_with_verp_and_its_bounce_comes_home(
    workspace, smtp_sink, worker, app, mailin
):
    """The whole loop: the envelope sender Herald wrote is where the receiving MTA's DSN goes."""
    from app.services.delivery.verp import read_return_path

    lst = contacts.create_list(workspace.id, "Customers")
    contacts.import_subscribers(workspace.id, [{"email": "gone@example.com"}, {"email": "here@example.com"}], [lst.id])
    prov = providers.create_provider(
        workspace.id,
        "Relay",
        "smtp",
        {"host": "127.0.0.1", "port": smtp_sink.port, "return_path_domain": BOUNCE_DOMAIN},
        {},
        is_default=True,
    )
    tpl = templates.create_template(workspace.id, {"name": "T", "subject": "Hello", "body_html": TEMPLATE_HTML})
    camp = drafts.create_campaign(
        workspace.id,
        {
            "name": "VERP",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Acme",
            "from_email": "news@shop.example.com",
            "provider_id": prov.id,
        },
    )
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    envelopes = {m["rcpt_tos"][0]: m["mail_from"] for m in smtp_sink.messages}
    rows = {r.email: r for r in db.session.scalars(drafts.recipients_query(camp.id))}
    for email, mail_from in envelopes.items():
        assert mail_from.endswith("@" + BOUNCE_DOMAIN)
        assert read_return_path(mail_from, app.config["SECRET_KEY"]) == f"c-{camp.id}-{rows[email].id}"
    # The receiving MTA accepted "gone@" and later bounced it to the envelope sender.
    deliver(mailin, envelopes["gone@example.com"], dsn("gone@example.com", "5.1.1", "550 5.1.1 User unknown"))
    db.session.expire_all()
    assert db.session.get(CampaignRecipient, rows["gone@example.com"].id).status == "bounced"
    assert db.session.get(CampaignRecipient, rows["here@example.com"].id).status == "sent"
    assert db.session.scalar(select(Suppression.email).where(Suppression.workspace_id == workspace.id)) == (
        "gone@example.com"
    )


# Real-world bounces through the listener --------------------------------------------------------

CORPUS = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "bounces"


def test_every_real_bounce_in_the_corpus_reaches_its_recipient_with_the_right_consequence(
    app, ctx, workspace, smtp_sink, worker, mailin
):
    """Each corpus message mailed to the VERP return path of the recipient it is about: dead
    mailboxes and complaints suppress, blocks and soft bounces never do, delays change nothing,
    and only a person's reply counts as a reply."""
    import json

    from tests.webhook_support import recipients_of

    entries = json.loads((CORPUS / "expected.json").read_text())["messages"]
    lst = contacts.create_list(workspace.id, "Everyone")
    contacts.import_subscribers(workspace.id, [{"email": e["rcpt"]} for e in entries], [lst.id])
    prov = providers.create_provider(
        workspace.id, "Relay", "smtp", {"host": "127.0.0.1", "port": smtp_sink.port}, {}, is_default=True
    )
    tpl = templates.create_template(workspace.id, {"name": "T", "subject": "Spring sale", "body_html": TEMPLATE_HTML})
    camp = drafts.create_campaign(
        workspace.id,
        {"name": "Corpus", "template_id": tpl.id, "list_ids": [lst.id], "from_name": "Acme",
         "from_email": "news@shop.example.com", "provider_id": prov.id},
    )  # fmt: skip
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    rows = {r["email"]: r for r in recipients_of(camp.id)}
    for e in entries:
        raw = (CORPUS / e["file"]).read_bytes().replace(b"\n", b"\r\n")  # on the wire, as an MTA sends it
        deliver(mailin, verp(app, camp, SimpleRecipient(rows[e["rcpt"]]["id"])), raw, mail_from=e["mail_from"])
    db.session.expire_all()
    suppressed = set(db.session.scalars(select(Suppression.email).where(Suppression.workspace_id == workspace.id)))
    wanted_status = {"hard": "bounced", "soft": "bounced", "block": "failed", "complaint": "complained",
                     "delayed": "sent", "reply": "sent", "autoreply": "sent"}  # fmt: skip
    for e in entries:
        status = db.session.get(CampaignRecipient, rows[e["rcpt"]]["id"]).status
        assert status == wanted_status[e["class"]], (e["file"], status)
        assert (e["rcpt"] in suppressed) == (e["class"] in ("hard", "complaint")), e["file"]
    replies = sum(1 for e in entries if e["class"] == "reply")
    assert db.session.get(Campaign, camp.id).replies == replies
    kinds = dict(db.session.execute(select(InboundMessage.recipient_id, InboundMessage.kind)).all())
    for e in entries:
        assert kinds[rows[e["rcpt"]]["id"]] == {"complaint": "arf", "reply": "reply", "autoreply": "autoreply"}.get(
            e["class"], "dsn"
        ), e["file"]


class SimpleRecipient:
    def __init__(self, rid: int):
        self.id = rid


def test_a_dsn_about_someone_else_at_a_recipients_return_path_changes_nobody(app, ctx, workspace, sent, mailin):
    """The signed return path names person0, the DSN names a stranger: neither is bounced or suppressed."""
    camp, recipients = sent
    person = recipients["person0@example.com"]
    raw = dsn("stranger@elsewhere.example", "5.1.1", "550 5.1.1 <stranger@elsewhere.example>: User unknown")
    deliver(mailin, verp(app, camp, person), raw)
    db.session.expire_all()
    assert db.session.get(CampaignRecipient, person.id).status == "sent"
    assert _suppression("stranger@elsewhere.example") is None and _suppression(person.email) is None
    event = db.session.scalar(select(Event).where(Event.event_type == "bounce"))
    assert event.recipient_id is None and event.email == "stranger@elsewhere.example"


def test_a_mailer_daemon_bounce_with_auto_submitted_is_no_reply_and_bounces_the_recipient(app, ctx, sent, mailin):
    camp, recipients = sent
    person = recipients["person1@example.com"]
    raw = (
        "From: MAILER-DAEMON@relay.example.net\nSubject: Notice\nAuto-Submitted: auto-replied\nPrecedence: bulk\n"
        "Message-ID: <n1@relay.example.net>\n\nYour message to <person1@example.com> could not be delivered:\n"
        "550 5.1.1 <person1@example.com>... user unknown\n"
    ).encode()
    deliver(mailin, verp(app, camp, person), raw)
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).replies == 0
    assert db.session.get(CampaignRecipient, person.id).status == "bounced"
    assert _suppression(person.email).reason == "bounced"
    assert db.session.scalar(select(InboundMessage.kind)) == "dsn"
