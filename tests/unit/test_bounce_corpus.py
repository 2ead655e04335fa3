"""Real-world bounces, complaints and automatic replies (tests/fixtures/bounces/): each is read as
the recipient it is about, with the class a marketer's suppression list depends on."""

import json
from pathlib import Path

import pytest

from app.providers.bounces import RULES, classify
from app.providers.dsn import Report, parse_report

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())["messages"]
REF = "c-12-345"


def outcome(report: Report) -> tuple[str, str | None, str | None]:
    """(class, address named, status code) the way the corpus states them."""
    if report.kind in ("reply", "autoreply"):
        email = report.events[0].email if report.kind == "reply" and report.events else None
        return report.kind, email, None
    if not report.events:
        return f"{report.kind} without events", None, None
    e = report.events[0]
    if report.kind == "arf":
        return ("complaint" if e.event_type == "complaint" else e.event_type), e.email, None
    kind = "delayed" if e.event_type == "delivery_delay" else (e.bounce_type or e.event_type)
    return kind, e.email, e.enhanced


def read(entry: dict) -> Report:
    return parse_report((CORPUS / entry["file"]).read_bytes(), REF, entry["mail_from"])


def test_the_corpus_covers_every_mta_and_class_with_one_file_each():
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert files == {e["file"] for e in EXPECTED} and len(files) >= 60
    assert {e["class"] for e in EXPECTED} == {"hard", "soft", "block", "delayed", "complaint", "reply", "autoreply"}
    mtas = {e["mta"] for e in EXPECTED}
    for mta in ("postfix", "exim", "sendmail", "qmail", "office365", "exchange", "gmail", "yahoo", "docomo"):
        assert mta in mtas, mta


@pytest.mark.parametrize("entry", EXPECTED, ids=[e["file"] for e in EXPECTED])
def test_each_real_bounce_names_its_recipient_and_class(entry):
    kind, email, status = outcome(read(entry))
    assert kind == entry["class"], entry.get("note")
    assert (email or "").lower() == (entry["email"] or "").lower(), entry.get("note")
    if entry["class"] not in ("complaint", "reply", "autoreply"):
        assert status == entry["status"], entry.get("note")


def test_the_whole_corpus_is_read_right():
    """The hit rate, as one number: every message's address and class (it was 56 of 85 before)."""
    right = [e["file"] for e in EXPECTED if outcome(read(e))[:2] == (e["class"], e["email"])]
    assert len(right) == len(EXPECTED)


@pytest.mark.parametrize(
    "entry", [e for e in EXPECTED if e["mail_from"] == "" or "daemon" in e["file"] or "postmaster" in e["file"]]
)
def test_mail_from_a_mail_system_or_the_null_sender_is_never_a_persons_reply(entry):
    assert read(entry).kind != "reply"


def test_a_block_never_reads_as_a_dead_mailbox_and_a_dead_mailbox_always_does():
    for entry in EXPECTED:
        kind = outcome(read(entry))[0]
        if entry["class"] == "block":
            assert kind == "block", entry["file"]
        if entry["class"] == "hard":
            assert kind == "hard", entry["file"]


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "expected"),
    [
        # The diagnostic's own code wins over the DSN Status when they disagree.
        (550, "5.1.1", "550 5.7.1 IP address blacklisted", "block"),
        (550, "5.0.0", "550 5.1.1 No such user", "hard"),
        # 5.1.0 is "other address status": hard only with unknown-user wording.
        (550, "5.1.0", "550 5.1.0 Address rejected", "soft"),
        (550, "5.1.0", "550 5.1.0 <a@b.example>: User unknown", "hard"),
        (
            550,
            "5.1.10",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "hard",
        ),
        (550, "5.2.1", "550-5.2.1 The email account that you tried to reach is disabled.", "hard"),
        (550, "5.2.1", "550 5.2.1 <a@b.example>: user unknown", "hard"),
        (550, "5.2.1", "550-5.2.1 The user you are trying to contact is receiving mail at a rate that", "soft"),
        (552, "5.2.2", "552 5.2.2 Mailbox full", "soft"),
        (550, None, "550 5.5.0 Requested action not taken: mailbox unavailable", "hard"),
        (554, None, "554: delivery error: dd This user doesn't have a yahoo.com account", "hard"),
        (550, None, "550 No such user here", "hard"),
        (554, None, "554 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "block"),
        (550, None, "550 Rejected by header based Anti-Spoofing policy", "block"),
        (550, "5.7.26", "550-5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", "block"),
        (421, "4.7.0", "421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints", "block"),
        (451, "4.4.1", "451 4.4.1 Temporary failure", "soft"),
        (450, None, "450 mailbox unavailable", "soft"),
        (None, None, "", "soft"),  # undetermined
        (554, "5.7.1", "554 5.7.1 <a@b.example>: Recipient address rejected: Access denied", "block"),
        (550, "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "hard"),
    ],
)
def test_the_classification_table(code, enhanced, text, expected):
    assert classify(code, enhanced, text) == expected


def test_the_classification_is_a_table_that_ends_in_soft():
    assert RULES[-1].kind == "soft" and RULES[-1].wording is None
    assert {r.kind for r in RULES} == {"hard", "soft", "block"}
