"""Cleaning what a person typed into a text block: a few inline tags, safe links, tame styles."""

import re

import bleach
from bleach.css_sanitizer import CSSSanitizer
from markupsafe import escape

from app.services.designs import dynamic

ALLOWED_TAGS = frozenset({"b", "i", "u", "a", "br", "span", "p", "ul", "ol", "li"})
ALLOWED_CSS = frozenset({"color", "font-weight", "font-style", "text-decoration"})
_SCHEMES_RE = re.compile(r"^(?:https?://|mailto:)\S", re.IGNORECASE)
_URL_UNSAFE_RE = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")
# A tag of bleach's output: its attribute values are quoted and may hold a '>'.
_TAG_RE = re.compile(r"""(<(?:[^>"']|"[^"]*"|'[^']*')*>)""")


def _attributes(placeholders: dynamic.Placeholders):
    def allow(tag: str, name: str, value: str) -> bool:
        if tag == "a" and name == "href":
            value = value.strip()
            if value in placeholders.items:  # the whole href is one {{ variable }}
                inner = placeholders.items[value][2:-2].strip()
                return bool(dynamic.DOTTED_RE.match(inner))
            return bool(_SCHEMES_RE.match(value)) and not _URL_UNSAFE_RE.search(value)
        if tag == "span" and name == "style":
            return True  # bleach's CSSSanitizer keeps only ALLOWED_CSS
        return False

    return allow


_css = CSSSanitizer(allowed_css_properties=ALLOWED_CSS)


def clean_html(value: str, placeholders: dynamic.Placeholders) -> str:
    """`value` (Jinja already swapped for tokens) reduced to the allowed inline HTML."""
    cleaner = bleach.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=_attributes(placeholders),
        protocols={"http", "https", "mailto"},
        strip=True,
        strip_comments=True,
        css_sanitizer=_css,
    )
    cleaned = cleaner.clean(value)

    # An href that is a bare {{ variable }} is printed only when it is a web or mailto URL.
    def _guard(m):
        jinja = placeholders.items.get(m.group(2))
        if jinja is None:
            return m.group(0)
        return m.group(1) + placeholders.add(dynamic.guarded_url(jinja[2:-2].strip())) + '"'

    return re.sub(r'(href=")(' + re.escape(placeholders.prefix) + r'\d{5}Z)"', _guard, cleaned)


def canvas_html(value: str) -> str:
    """A text prop as the builder's canvas shows it: cleaned as for the email, and each
    `{{ expression }}` shown as its source, escaped, never as markup.

    An expression may be a string literal of markup (`{{ '<div hx-post=...>' }}`): the email
    escapes it when it renders, but the canvas is part of the dashboard, where htmx would act on
    it with the person's session. So its source goes back as text: a chip between tags, plain
    escaped text inside an attribute value (the chip has no quotes, so it cannot end one either).
    """
    ph = dynamic.Placeholders("CANVAS")
    cleaned = clean_html(ph.protect(value), ph)
    if not ph.items:
        return cleaned
    token = re.compile(re.escape(ph.prefix) + r"\d{5}Z")

    def source(m) -> str:
        return str(escape(ph.items.get(m.group(0), "")))

    def chip(m) -> str:
        return "<code class=hb-expr>" + source(m) + "</code>"

    parts = _TAG_RE.split(cleaned)  # text, tag, text, tag, ..., text
    return "".join(token.sub(source if i % 2 else chip, part) for i, part in enumerate(parts))
