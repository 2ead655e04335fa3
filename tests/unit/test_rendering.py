"""Rendering, links, text parts and the checks marketer HTML must pass."""

import email
from email import policy

import pytest

from app.services.content.html_text import html_to_text, unsafe_html_problems
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import CompiledMessage, TemplateProblem, extract_links, render_once

CTX = {
    "subscriber": {"email": "a@example.com", "name": "<b>Ann</b>", "attributes": {"plan": "gold"}},
    "campaign": {"name": "Spring"},
    "unsubscribe_url": "https://h.example/u/t",
    "preferences_url": "",
    "view_in_browser_url": "",
}


def test_recipient_data_is_escaped_in_html_but_not_in_text():
    out = render_once("Hi {{ subscriber.name }}", "<p>Hi {{ subscriber.name }}</p>", None, None, CTX)
    assert "&lt;b&gt;Ann&lt;/b&gt;" in out.html
    assert out.subject == "Hi <b>Ann</b>"
    assert "Hi <b>Ann</b>" in out.text


def test_sandbox_refuses_attribute_tricks():
    with pytest.raises(TemplateProblem):
        render_once("x", "{{ ''.__class__.__mro__[1].__subclasses__() }}", None, None, CTX)


def test_subject_cannot_inject_headers():
    ctx = dict(CTX, subscriber={**CTX["subscriber"], "name": "Ann\r\nBcc: evil@example.com"})
    out = render_once("Hi {{ subscriber.name }}", "<p>x</p>", None, None, ctx)
    assert "\n" not in out.subject and "\r" not in out.subject


def test_links_become_tracked_once_per_campaign_and_jinja_links_stay():
    html = (
        '<a href="https://e.example/a?x=1&amp;y=2">A</a><a href="https://e.example/a?x=1&amp;y=2">A again</a>'
        '<a href="{{ unsubscribe_url }}">U</a><a href="mailto:x@example.com">M</a>'
    )
    assert extract_links(html) == ["https://e.example/a?x=1&y=2"]
    compiled = CompiledMessage("s", html, None, None, link_ids={"https://e.example/a?x=1&y=2": 7}, track_opens=True)
    out = compiled.render(
        CTX, link_url=lambda lid: f"https://h.example/t/c/r.{lid}", pixel_url="https://h.example/p.gif"
    )
    assert out.html.count("https://h.example/t/c/r.7") == 2
    assert "https://h.example/u/t" in out.html and "mailto:x@example.com" in out.html
    assert out.html.endswith('style="display:block;border:0;width:1px;height:1px">')
    assert "https://h.example/t/c/r.7" in out.text


def test_text_part_keeps_structure_and_link_targets():
    text = html_to_text(
        "<html><head><style>p{}</style></head><body><h1>Title</h1><p>One <a href='https://x.example'>link</a></p>"
        "<ul><li>first</li><li>second</li></ul></body></html>"
    )
    assert text.startswith("Title\n\nOne link (https://x.example)")
    assert "- first\n- second" in text and "p{}" not in text


def test_preheader_is_hidden_and_escaped():
    out = render_once("s", "<html><body><p>x</p></body></html>", None, "Save {{ subscriber.name }} & more", CTX)
    assert "display:none" in out.html and "Save &lt;b&gt;Ann&lt;/b&gt; &amp; more" in out.html


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<img src=x onerror="alert(1)">',
        '<a href=" jav&#x09;ascript:alert(1)">x</a>',
        '<iframe src="https://x.example"></iframe>',
        '<a href="data:text/html,hi">x</a>',
    ],
)
def test_executable_html_is_reported(html):
    assert unsafe_html_problems(html)


def test_ordinary_email_html_passes():
    assert (
        unsafe_html_problems(
            '<table><tr><td style="color:red"><img src="data:image/png;base64,AA" alt=""></td></tr></table>'
        )
        == []
    )


def test_mime_message_parses_as_multipart_alternative_with_utf8():
    raw = MessageSkeleton("Boutique Élise", "news@shop.example.com", "help@shop.example.com").build(
        "Zoë",
        "zoe@example.com",
        "Ça va? ✓",
        "<p>Grüße " + "x" * 200 + "</p>",
        "Grüße\n.\nend",
        "<1.2.ab@shop.example.com>",
        {"List-Unsubscribe": "<https://h.example/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Ça va? ✓"
    assert msg["From"].addresses[0].display_name == "Boutique Élise"
    assert msg["Message-ID"] == "<1.2.ab@shop.example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("html",)).get_content().startswith("<p>Grüße xxx")
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == "Grüße\n.\nend"


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}{{ unsubscribe_url }}",
        "{{ 'a' * 1000000000 }}",
        "{{ [1] * 10**8 }}",
        "{{ 9 ** 9999999 }}",
    ],
)
def test_templates_that_would_exhaust_the_server_are_stopped(source):
    with pytest.raises(TemplateProblem):
        render_once("s", source, None, None, CTX)


def test_ordinary_loops_and_arithmetic_still_work():
    out = render_once(
        "s", "{% for i in range(3) %}{{ i * 2 }}{% endfor %} {{ 'ab' * 2 }} {{ 2 ** 10 }}", None, None, CTX
    )
    assert out.html == "024 abab 1024"
