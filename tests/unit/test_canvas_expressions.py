"""The builder's canvas shows a text block's `{{ expressions }}` as their source, as text: a string
literal of markup in one (`{{ '<div hx-post=...>' }}`) must never reach the dashboard as markup,
where htmx would act on it with the signed-in person's session."""

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.content.rendering import render_once
from app.services.designs import compile_design, validate_design
from app.services.designs.sanitize import ALLOWED_TAGS, canvas_html


class Parsed(HTMLParser):
    """Every tag and attribute a browser would build from the canvas HTML, and its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


HOSTILE = [
    """{{ '<div hx-post="/settings/webhooks/new" hx-trigger="load">' }}""",
    """{{ "<img src=x onerror=alert(1)>" }}""",
    """{{ '<a hx-get="/workspaces/switch" hx-trigger="load">' ~ 'x' }}""",
    """{{ '<form action=/x><button>go' }}""",
    """{{ "</code><script>alert(1)</script>" }}""",
    """{{ '"><svg onload=alert(1)>' }}""",
    """{{ "<span hx-on::load=alert(1)>" | upper }}""",
]


def inert(parsed: Parsed) -> None:
    """Only the text block's own inline tags and the expression chip; no handlers, no htmx."""
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS | {"code"}, tag
        for name in attrs:
            assert not name.startswith(("hx-", "data-hx", "on")), (tag, name)


@pytest.mark.parametrize("expr", HOSTILE)
def test_markup_in_an_expression_shows_on_the_canvas_as_the_text_typed(expr):
    # A design may hold it: it is valid Jinja, and the email escapes the string when it renders.
    validate_design({"version": 1, "blocks": [{"id": "t", "type": "text", "props": {"text": expr}}]})
    html = canvas_html(f"Hello {expr}!")
    parsed = Parsed(html)
    inert(parsed)
    assert parsed.text == f"Hello {expr}!"
    assert ("code", {"class": "hb-expr"}) in parsed.tags


def test_an_expression_inside_a_link_or_a_style_stays_inside_its_attribute():
    text = (
        '<a href="{{ subscriber.attributes.url }}">Open</a> '
        """<span style="color: {{ '&quot; onmouseover=alert(1) x=&quot;' }}">x</span> """
        """<span style='color: ">"'>{{ '<b hx-get=/x>' }}</span>"""
    )
    parsed = Parsed(canvas_html(text))
    inert(parsed)
    link = next(attrs for tag, attrs in parsed.tags if tag == "a")
    assert set(link) == {"href"} and "subscriber" in link["href"]
    assert "<b hx-get=/x>" in parsed.text


def test_ordinary_text_keeps_its_formatting_and_its_variables_as_chips():
    html = canvas_html("Hi {{ subscriber.name }}, the <b>sale</b> starts <i>now</i>.")
    assert html == "Hi <code class=hb-expr>{{ subscriber.name }}</code>, the <b>sale</b> starts <i>now</i>."
    assert canvas_html("No expressions, <u>just text</u> & more") == "No expressions, <u>just text</u> &amp; more"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{}'\\\x00", blacklist_categories=("Cs",)), max_size=60))
def test_no_string_in_an_expression_becomes_markup_on_the_canvas(literal):
    expr = "{{ '" + literal + "' }}"
    parsed = Parsed(canvas_html("a " + expr + " b"))
    inert(parsed)
    assert [t for t, _ in parsed.tags] == ["code"]


def test_the_email_prints_such_a_string_escaped_too():
    text = "Hi " + " ".join(HOSTILE)
    compiled = compile_design({"version": 1, "blocks": [{"id": "t", "type": "text", "props": {"text": text}}]})
    out = render_once("s", compiled.html, compiled.text, None, {"subscriber": {"name": "Ann"}})
    assert "&lt;div hx-post=" in out.html and "<div hx-post" not in out.html and "<img src=x" not in out.html
