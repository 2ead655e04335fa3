"""HTML → readable plain text for the text part, and the checks HTML must pass."""

import re
from html.parser import HTMLParser

_BLOCK = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "ul",
    "ol",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "hr",
}
_SKIP = {"style", "script", "head", "title", "noscript"}


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.href: list[str | None] = []
        self.link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.link_text.append("")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(alt)

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            text = self.link_text.pop().strip()
            if href and not href.startswith("#") and href != text:
                self.out.append(f" ({href})")

    def handle_data(self, data):
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        self.out.append(text)
        if self.link_text:
            self.link_text[-1] += text


def html_to_text(html: str) -> str:
    """A plain-text rendering that keeps paragraphs, list items and link targets."""
    parser = _TextParser()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.out)
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


_DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "applet", "frame", "frameset", "base", "form", "meta"}
_URL_ATTRS = {"href", "src", "action", "background", "formaction", "poster", "xlink:href"}


class _SafetyParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def _where(self) -> str:
        return f"line {self.getpos()[0]}"

    def handle_starttag(self, tag, attrs):
        if tag in _DANGEROUS_TAGS and not (
            tag == "meta" and not any(k == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs)
        ):
            self.problems.append(f"{self._where()}: <{tag}> is not allowed in an email")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{self._where()}: event attribute {name}= is not allowed")
            if name in _URL_ATTRS and value:
                v = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                if v.startswith(("javascript:", "vbscript:")) or (
                    v.startswith("data:") and not v.startswith("data:image/")
                ):
                    self.problems.append(f"{self._where()}: {name}= may not be a {v.split(':')[0]}: URL")

    handle_startendtag = handle_starttag


def unsafe_html_problems(html: str) -> list[str]:
    """What in marketer HTML could run code in a reader's client or our pages (empty when safe)."""
    parser = _SafetyParser()
    parser.feed(html or "")
    parser.close()
    return parser.problems[:20]
