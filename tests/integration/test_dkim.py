"""DKIM: every message from a sending domain that signs arrives signed, and dkimpy, a receiver's
library, verifies the signature with the public key it reads from a real DNS server (dnslib on
loopback) — campaigns, transactional messages and tests alike; everything else arrives unsigned."""

import email
import re
from datetime import datetime, timezone
from email import policy

import dkim as dkimpy
import dns.resolver
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from app.dns import make_resolver
from app.extensions import db
from app.models.deliverability import DkimKey
from app.services.campaigns import drafts, lifecycle, test_sends
from app.services.content.mime import MessageSkeleton
from app.services.crypto import encrypt_text
from app.services.delivery import dkim, transactional
from tests.dns_support import ZoneServer
from tests.factories import (
    create_signing_domain,
    create_smtp_provider,
    create_template,
    people,
    smtp_campaign,
    txt_zone_line,
)

DOMAIN = "news.example.com"  # (.test names are refused as sender addresses)


@pytest.fixture(scope="module")
def zone():
    with ZoneServer() as server:
        yield server


@pytest.fixture
def verify(zone):
    """dkimpy's verify, its key lookups sent to the zone server through the app's resolver (dnspython)."""
    resolver = make_resolver(zone.address, timeout=2.0)

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)  # a long record comes as several strings

    def check(raw: bytes) -> bool:
        return dkimpy.verify(raw, dnsfunc=txt)

    return check


def signature(raw: bytes) -> dict[str, str]:
    """The DKIM-Signature's tags, whitespace removed (as a verifier reads them)."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    value = re.sub(r"\s+", "", msg["DKIM-Signature"])
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def send_campaign(workspace, sink, worker, **fields):
    camp = smtp_campaign(workspace, sink, people(3, "reader{i}@example.com", "Reader {i}"), **fields)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert drafts.get_campaign(workspace.id, camp.id).status == "sent"
    assert len(sink.messages) == 3
    return [m["raw"] for m in sink.messages]


# -- What arrives ---------------------------------------------------------------------------------


def test_a_campaign_from_a_verified_domain_arrives_signed_by_that_domain_and_verifies(
    workspace, smtp_sink, worker, zone, verify
):
    _, record = create_signing_domain(workspace, DOMAIN, "h1")
    zone.set(record)
    db.session.commit()
    raws = send_campaign(workspace, smtp_sink, worker, from_email=f"hello@{DOMAIN}", reply_to=f"help@{DOMAIN}")
    for raw in raws:
        assert raw.startswith(b"DKIM-Signature: ")
        tags = signature(raw)
        assert tags["d"] == DOMAIN and tags["s"] == "h1" and tags["a"] == "rsa-sha256"
        assert tags["c"] == "relaxed/relaxed" and tags["t"].isdigit()
        signed = tags["h"].split(":")
        for name in ("from", "to", "subject", "date", "message-id", "reply-to", "mime-version", "content-type"):
            assert name in signed, name
        assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed  # the one-click pair
        assert signed.count("from") == 2  # once more than present: a second From breaks it
        assert verify(raw), raw[:1500]
    assert zone.queries[(f"h1._domainkey.{DOMAIN}", "TXT")] >= 1  # the key really came from DNS


def test_a_changed_message_no_longer_verifies_but_a_relay_refolding_whitespace_does_no_harm(
    workspace, smtp_sink, worker, zone, verify
):
    _, record = create_signing_domain(workspace, DOMAIN)
    zone.set(record)
    db.session.commit()
    raw = send_campaign(workspace, smtp_sink, worker, from_email=f"hello@{DOMAIN}")[0]
    head, body = raw.split(b"\r\n\r\n", 1)
    assert verify(raw)
    # relaxed/relaxed: spaces doubled, a header refolded and trailing blanks added still verify.
    relayed = head.replace(b"\r\nSubject: ", b"\r\nSubject:\r\n\t ") + b"\r\n\r\n" + body.replace(b" ", b"  ") + b"\r\n"
    assert verify(relayed)
    assert not verify(raw.replace(b"Reader", b"Raider", 1))  # a header
    assert not verify(head + b"\r\n\r\n" + body.replace(b"/t/c/", b"/t/x/", 1))  # a link in the body
    assert not verify(raw.replace(b"\r\nFrom: ", b"\r\nFrom: Mallory <m@evil.test>\r\nFrom: ", 1))  # a second From


def test_non_ascii_subject_and_display_names_fold_and_still_verify(workspace, smtp_sink, worker, zone, verify):
    _, record = create_signing_domain(workspace, DOMAIN)
    zone.set(record)
    db.session.commit()
    subject = "Grüße aus München, {{ subscriber.name }}: unsere Frühjahrsauswahl für Sie — jetzt mit Rabatt"
    camp = smtp_campaign(
        workspace,
        smtp_sink,
        [{"email": "jurgen@example.com", "name": "Jürgen Müller-Lüdenscheidt"}],
        template={"subject": subject},
        from_name="Zoë Ünïcode & Söhne",
        from_email=f"hallo@{DOMAIN}",
    )
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    raw = smtp_sink.messages[0]["raw"]
    assert re.search(rb"\r\nSubject: =\?utf-8\?[qb]\?[^\r]*\r\n =\?utf-8", raw)  # an encoded, folded subject
    assert b"From: =?utf-8?" in raw and b"To: =?utf-8?" in raw
    assert smtp_sink.messages[0]["message"]["Subject"].startswith("Grüße aus München, Jürgen")
    assert verify(raw)


def test_a_transactional_message_is_signed_without_list_unsubscribe_and_verifies(
    workspace, smtp_sink, worker, zone, verify
):
    _, record = create_signing_domain(workspace, DOMAIN, "tx1")
    zone.set(record)
    create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(
        workspace.id, "Your code, {{ subscriber.name }}", "<p>Code {{ code }}</p>", "Code", category="transactional"
    )
    db.session.commit()
    accepted = transactional.create_message(
        workspace.id, tpl.id, "ann@example.com", {"code": "481 516"}, to_name="Ann", from_email=f"shop@{DOMAIN}"
    )
    db.session.commit()
    worker()
    assert transactional.get_message(workspace.id, accepted.message.id).status == "sent"
    raw = smtp_sink.messages[0]["raw"]
    tags = signature(raw)
    assert tags["d"] == DOMAIN and tags["s"] == "tx1"
    assert "list-unsubscribe" not in tags["h"].split(":")  # not a bulk message: nothing to list
    assert verify(raw)


def test_a_test_send_is_signed_as_the_real_message_would_be(workspace, smtp_sink, zone, verify):
    _, record = create_signing_domain(workspace, DOMAIN)
    zone.set(record)
    create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(workspace.id)
    db.session.commit()
    results = test_sends.send_test(workspace.id, tpl.id, "me@example.com", from_email=f"news@{DOMAIN}")
    assert [r.ok for r in results] == [True]
    raw = smtp_sink.messages[0]["raw"]
    assert signature(raw)["d"] == DOMAIN and verify(raw)


def test_mail_from_a_domain_that_is_not_verified_here_goes_out_unsigned(
    workspace, make_workspace, smtp_sink, worker, zone
):
    other = make_workspace("Other shop", "other@example.com")
    create_signing_domain(other, DOMAIN)  # verified, but in another workspace
    create_signing_domain(workspace, "pending.example.com", status="pending")
    db.session.commit()
    for from_email in (f"hello@{DOMAIN}", "hello@pending.example.com", "hello@shop.example.com"):
        smtp_sink.messages.clear()
        raws = send_campaign(workspace, smtp_sink, worker, from_email=from_email, list_name=from_email)
        assert not any(b"DKIM-Signature" in raw for raw in raws), from_email


# -- Which key signs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, signs",
    [
        ("verified", True),
        ("warming", True),
        ("active", True),
        ("paused", True),  # paused sending is throttling: what still goes out is signed
        ("pending", False),
        ("verifying", False),
        ("failed", False),
    ],
)
def test_a_domain_signs_only_in_the_states_that_send(workspace, status, signs):
    create_signing_domain(workspace, DOMAIN, status=status)
    db.session.commit()
    assert (dkim.signer_for(workspace.id, f"news@{DOMAIN}") is not None) is signs


@pytest.mark.parametrize("key_status", ["new", "verified", "retiring", "retired"])
def test_only_a_key_in_the_signing_state_signs(workspace, key_status):
    row, _ = create_signing_domain(workspace, DOMAIN)
    db.session.execute(update(DkimKey).where(DkimKey.sending_domain_id == row.id).values(status=key_status))
    db.session.commit()
    dkim.forget()
    assert dkim.signer_for(workspace.id, f"news@{DOMAIN}") is None


def test_the_from_domain_matches_exactly_whatever_its_case_or_script(workspace):
    create_signing_domain(workspace, "xn--bcher-kva.example.com", "u1")  # bücher.example.com, as DNS spells it
    create_signing_domain(workspace, DOMAIN)
    db.session.commit()
    assert dkim.signer_for(workspace.id, "Hello@News.EXAMPLE.com").domain == DOMAIN
    assert dkim.signer_for(workspace.id, "post@bücher.example.com").domain == "xn--bcher-kva.example.com"
    assert dkim.signer_for(workspace.id, f"a@mail.{DOMAIN}") is None  # a subdomain is another domain
    assert dkim.signer_for(workspace.id, "example.com") is None
    assert dkim.signer_for(workspace.id, "") is None


def test_a_rotation_signs_with_the_newest_key(workspace, zone, verify):
    row, old = create_signing_domain(workspace, DOMAIN, "2026a")
    pem, public = dkim.generate_key()
    row.keys.append(  # both sign for a moment, as while a rotation commits
        DkimKey(
            selector="2026b",
            private_key_encrypted=encrypt_text(pem),
            public_key=public,
            status="signing",
            signing_since=datetime.now(timezone.utc),
        )
    )
    db.session.commit()
    dkim.forget(workspace.id)
    signer = dkim.signer_for(workspace.id, f"news@{DOMAIN}")
    assert signer.selector == "2026b"
    zone.set(old, txt_zone_line(f"2026b._domainkey.{DOMAIN}", dkim.record_value(public)))
    assert verify(signer.sign(plain_message(b"Hello\r\n")))


def test_one_lookup_serves_a_whole_campaign_until_forgotten(app, workspace, count_queries):
    create_signing_domain(workspace, DOMAIN)
    db.session.commit()
    ws = workspace.id
    dkim.forget()
    with app.app_context(), count_queries() as n:
        first = dkim.signer_for(ws, f"news@{DOMAIN}")
        assert dkim.signer_for(ws, "news@elsewhere.example.com") is None
        assert n() == 2
        for _ in range(100):
            assert dkim.signer_for(ws, f"news@{DOMAIN}") is first
            assert dkim.signer_for(ws, "news@elsewhere.example.com") is None
        assert n() == 2  # one query per domain, the answer "unsigned" kept too
        dkim.forget(ws + 1)  # another workspace's keys changed
        assert dkim.signer_for(ws, f"news@{DOMAIN}") is first and n() == 2
        dkim.forget(ws)
        again = dkim.signer_for(ws, f"news@{DOMAIN}")
        assert again is not first and again.selector == first.selector and n() == 3


# -- Canonicalization edge cases, each signature checked by dkimpy ---------------------------------


@pytest.fixture(scope="module")
def unit_signer(zone):
    pem, public = dkim.generate_key()
    return dkim.DkimSigner("unit.acme.test", "u1", pem), txt_zone_line(
        "u1._domainkey.unit.acme.test", dkim.record_value(public)
    )


@pytest.fixture
def signs(unit_signer, zone, verify):
    signer, record = unit_signer
    zone.set(record)

    def check(message: bytes) -> bytes:
        signed = signer.sign(message)
        assert verify(signed), signed
        return signed

    return check


def plain_message(body: bytes, *headers: bytes) -> bytes:
    head = [
        b"From: Acme <news@unit.acme.test>",
        b"To: ann@example.com",
        b"Subject: Hello",
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000",
        b"Message-ID: <1@unit.acme.test>",
        *headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty body"),
        pytest.param(b"\r\n", id="one empty line"),
        pytest.param(b"\r\n\r\n\r\n", id="only empty lines"),
        pytest.param(b"  \t \r\n \r\n", id="only blank lines"),
        pytest.param(b"Hello\r\n\r\n\r\n", id="trailing empty lines"),
        pytest.param(b"Hello  \r\nworld\t\r\nend \t \r\n", id="trailing whitespace"),
        pytest.param(b"Hello", id="no final line break"),
        pytest.param(b"Hello \t ", id="no final line break, trailing whitespace"),
        pytest.param(b"a  b\t\tc \t d\r\n\t indented\r\n", id="runs of spaces and tabs"),
        pytest.param(b"a" + b" " * 1000 + b"b\r\n", id="a long run"),
        pytest.param(b"=C3=BC soft break=\r\n next\r\n.\r\n..dots\r\n", id="quoted-printable and dots"),
    ],
)
def test_bodies_canonicalize_as_a_verifier_does(signs, body):
    signs(plain_message(body))


@pytest.mark.parametrize(
    "headers, listed",
    [
        pytest.param(
            [b"List-Unsubscribe: <https://x.test/u/1>,\r\n <mailto:u@x.test>"], {"list-unsubscribe": 1}, id="folded"
        ),
        pytest.param([b"List-Id:\r\n\t  Acme news \t <news.acme.test>  "], {"list-id": 1}, id="folded, tabs, trailing"),
        pytest.param([b"Reply-To:   a@x.test"], {"reply-to": 1}, id="runs after the colon"),
        pytest.param([b"MIME-VERSION: 1.0", b"content-type: text/plain"], {"mime-version": 1}, id="any case"),
        pytest.param([b"To: second@example.com", b"Subject: second"], {"to": 2, "subject": 2}, id="duplicates"),
        pytest.param([b"X-Other: not signed", b"Received: from a by b"], {"x-other": 0, "received": 0}, id="unsigned"),
    ],
)
def test_headers_canonicalize_as_a_verifier_does(signs, headers, listed):
    names = signature(signs(plain_message(b"Hi\r\n", *headers)))["h"].split(":")
    for name, count in listed.items():
        assert names.count(name) == count, (name, names)


def test_a_folded_encoded_subject_from_the_mime_builder_verifies(signs):
    skeleton = MessageSkeleton("Zoë Ünïcode", "news@unit.acme.test", None, {"X-Provider": "a"})
    raw = skeleton.build(
        "Jürgen", "j@example.com", "Grüße " * 30, b"<p>Hallo</p>", b"Hallo", "<2@unit.acme.test>", {"List-Id": "<x>"}
    )
    assert b"\r\n =?utf-8?" in raw
    signs(raw)


_line = st.text(alphabet=" \tab=.-", max_size=30).map(str.encode)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_line, max_size=8),
    final_break=st.booleans(),
    subject_parts=st.lists(st.text(alphabet="ab \t", min_size=1, max_size=12).map(str.encode), min_size=1, max_size=4),
    folds=st.sampled_from([b"\r\n ", b"\r\n\t", b"\r\n \t "]),
)
def test_any_whitespace_and_folding_verifies(signs, lines, final_break, subject_parts, folds):
    body = b"\r\n".join(lines) + (b"\r\n" if final_break else b"")
    subject = b"Subject: x" + folds.join(subject_parts)
    signs(plain_message(body).replace(b"Subject: Hello", subject))
    assert dkim.relaxed_body(body) == dkimpy.RelaxedCanonicalization.canonicalize_body(body)


def test_the_published_record_is_the_rsa_2048_public_key():
    pem, public = dkim.generate_key()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert dkim.record_value(public) == f"v=DKIM1; k=rsa; p={public}"
    assert dkim.DkimSigner("a.test", "s", pem).key.key_size == 2048
    line = txt_zone_line("s._domainkey.a.test", dkim.record_value(public))
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', line))
