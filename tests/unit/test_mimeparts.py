"""mimeparts.split: a message Herald built, taken apart for the JSON APIs (SendGrid, Postmark)."""

from app.providers.mimeparts import split
from app.services.content.mime import MessageSkeleton

LONG_UNSUBSCRIBE = (
    "<https://herald.test/u/" + "eyJyIjo0MiwiYyI6N30" * 8 + ">, "
    "<mailto:unsubscribe@bounces.example.com?subject=unsubscribe-" + "c7-r42-" * 6 + ">"
)


def build(**overrides) -> bytes:
    skeleton = MessageSkeleton(
        overrides.get("from_name", "Zoë Müller, Équipe"),
        "news@example.com",
        overrides.get("reply_to", "Support Team <help@example.com>"),
        {"X-Herald-Campaign": "7", "Feedback-ID": "c7:acme:herald"},
    )
    return skeleton.build(
        "Jérôme Dupont",
        "jerome@example.org",
        "Ça va, Jérôme ? Les nouveautés de décembre ✨ — et bien plus encore pour vous cette saison",
        "<p>Bonjour Jérôme, voilà l’offre ☕</p>\n<p>Second line</p>",
        "Bonjour Jérôme, voilà l’offre ☕\nSecond line",
        "<c7.r42.9f3a@example.com>",
        {"List-Unsubscribe": LONG_UNSUBSCRIBE, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def test_split_reads_back_what_was_built():
    parts = split(build())
    assert (parts.from_name, parts.from_email) == ("Zoë Müller, Équipe", "news@example.com")
    assert (parts.to_name, parts.to_email) == ("Jérôme Dupont", "jerome@example.org")
    assert parts.subject == "Ça va, Jérôme ? Les nouveautés de décembre ✨ — et bien plus encore pour vous cette saison"
    assert (parts.reply_to, parts.reply_to_name) == ("help@example.com", "Support Team")
    assert parts.message_id == "<c7.r42.9f3a@example.com>"
    # Bodies decoded from quoted-printable, with LF line breaks as the JSON APIs expect.
    assert parts.text == "Bonjour Jérôme, voilà l’offre ☕\nSecond line"
    assert parts.html == "<p>Bonjour Jérôme, voilà l’offre ☕</p>\n<p>Second line</p>"


def test_split_forwards_list_and_x_headers_only():
    parts = split(build())
    assert parts.headers == {
        "X-Herald-Campaign": "7",
        "Feedback-ID": "c7:acme:herald",
        "List-Unsubscribe": LONG_UNSUBSCRIBE,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_split_without_reply_to_or_names():
    raw = MessageSkeleton("", "news@example.com").build(
        None, "a@example.org", "Hi", "<p>x</p>", "x", "<m1@example.com>"
    )
    parts = split(raw)
    assert parts.reply_to is None and parts.reply_to_name == ""
    assert (parts.from_name, parts.to_name, parts.to_email) == ("", "", "a@example.org")


def test_split_unfolds_folded_headers_and_reads_single_part_messages():
    raw = (
        b"From: News <news@example.com>\r\nTo: a@example.org\r\nSubject: Hello\r\n"
        b"List-Unsubscribe: <https://herald.test/u/abc>,\r\n <mailto:u@example.com>\r\n"
        b"X-Mailer-Tag: one\r\nX-Mailer-Tag: two\r\nDKIM-Signature: v=1; a=rsa-sha256\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Just text\r\n"
    )
    parts = split(raw)
    assert parts.headers == {
        "List-Unsubscribe": "<https://herald.test/u/abc>, <mailto:u@example.com>",
        "X-Mailer-Tag": "one",
    }
    assert (parts.text, parts.html, parts.message_id) == ("Just text\n", "", None)
