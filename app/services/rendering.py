"""Personalization in Jinja's sandbox, compiled once per campaign and rendered per recipient."""

import re
import signal
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from app.services.html_text import html_to_text
from app.services import qp_jinja
from app.services.mime import QuotedPrintable

LOOP_BUDGET = 200_000  # range() items one render may produce, nested loops included
MAX_SEQUENCE = 100_000  # longest string or list a `*` may build
PREVIEW_SECONDS = 2.0
_loop_budget: ContextVar[int] = ContextVar("loop_budget", default=LOOP_BUDGET)
_DICT_ATTRIBUTES = frozenset(dir(dict))


def _bounded_range(*args) -> range:
    r = range(*args)
    left = _loop_budget.get() - len(r)
    if left < 0:
        raise SecurityError("the template loops too many times")
    _loop_budget.set(left)
    return r


class HeraldSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus limits on the work one render may do."""

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range

    def getattr(self, obj, attribute):
        # `subscriber.attributes.plan`: Jinja tries getattr() first and takes the key only after
        # its AttributeError, ~1.7 µs an access, dozens a message. A plain dict has no attribute
        # but its class's, so for any other name the key is what Jinja would return anyway.
        if obj.__class__ is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise SecurityError("the template builds too large a value")
        return super().call_binop(context, operator, left, right)


html_env = HeraldSandbox(autoescape=True)
text_env = HeraldSandbox(autoescape=False)
# The same sandboxes, rendering quoted-printable for sending (see qp_jinja).
html_qp_env = qp_jinja.encoding_env(html_env)
text_qp_env = qp_jinja.encoding_env(text_env)


@contextmanager
def time_limit(seconds: float):
    """Stop a render that runs too long (main thread only: where gunicorn and RQ run work)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum, frame):
        raise SecurityError(f"the template took longer than {seconds:g} s to render")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


SAMPLE_SUBSCRIBER = {
    "id": 0,
    "email": "jane.doe@example.com",
    "name": "Jane Doe",
    "attributes": {"first_name": "Jane", "city": "Lisbon", "plan": "gold"},
}

# Only absolute web links are tracked; links that are Jinja expressions (unsubscribe_url...) stay as written.
_HREF_RE = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE | re.DOTALL)
_PLACEHOLDER_RE = re.compile(r"HERALD(LINK(\d{4})|PIXEL|PREHEADER)X")
_BODY_CLOSE_RE = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_OPEN_RE = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_PIXEL_TAG = '<img src="{}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]+")


class TemplateProblem(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_syntax(field: str, source: str | None, html: bool = False) -> None:
    """Raise TemplateProblem naming the field and line when Jinja cannot compile `source`."""
    if not source:
        return
    try:
        (html_env if html else text_env).parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(field, f"line {exc.lineno}: {exc.message}") from None


def extract_links(html: str) -> list[str]:
    """The distinct trackable URLs of `html`, in order of first appearance."""
    seen: dict[str, None] = {}
    for m in _HREF_RE.finditer(html or ""):
        seen.setdefault(m.group(3).replace("&amp;", "&"), None)
    return list(seen)


def header_safe(value: str) -> str:
    return _HEADER_UNSAFE.sub(" ", value).strip()


@dataclass
class Rendered:
    subject: str
    html: str
    text: str


@dataclass
class RenderedMime:
    subject: str
    html: bytes  # quoted-printable, CRLF
    text: bytes


# Rendered parts, encoded line by line with the lines every recipient shares remembered.
_QP = QuotedPrintable(_PLACEHOLDER_RE)


class CompiledMessage:
    """A template compiled once; `render()` personalizes it for one recipient.

    Links become placeholders at compile time so that per message the only work left
    is the Jinja render and one HMAC per link (STACK.md "Where the time goes").
    """

    def __init__(
        self,
        subject: str,
        body_html: str,
        body_text: str | None,
        preview_text: str | None,
        link_ids: dict[str, int] | None = None,
        track_opens: bool = False,
    ):
        self.link_ids = link_ids or {}
        html = body_html or ""
        if self.link_ids:

            def _sub(m):
                url = m.group(3).replace("&amp;", "&")
                link_id = self.link_ids.get(url)
                return f"{m.group(1)}{m.group(2)}HERALDLINK{link_id:04d}X{m.group(2)}" if link_id else m.group(0)

            html = _HREF_RE.sub(_sub, html)
        text = body_text if body_text and body_text.strip() else html_to_text(body_html or "")
        for url, link_id in sorted(self.link_ids.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(url, f"HERALDLINK{link_id:04d}X")
        if preview_text:
            block = (
                '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
                'overflow:hidden;mso-hide:all">HERALDPREHEADERX' + "&#847;&zwnj;&nbsp;" * 20 + "</div>"
            )
            m = _BODY_OPEN_RE.search(html)
            html = html[: m.end()] + block + html[m.end() :] if m else block + html
        if track_opens:
            pixel = "HERALDPIXELX"  # the whole <img> tag, filled per message (left out of browser views)
            closes = list(_BODY_CLOSE_RE.finditer(html))
            at = closes[-1].start() if closes else len(html)
            html = html[:at] + pixel + html[at:]
        try:
            self.subject_t = text_env.from_string(subject or "")
            self.html_t = html_env.from_string(html)
            self.text_t = text_env.from_string(text)
            self.preview_t = text_env.from_string(preview_text) if preview_text else None
            # For sending: the parts' text encoded once here (None: encoded per message instead).
            self.html_qp = qp_jinja.compile_encoded(html_qp_env, html)
            self.text_qp = qp_jinja.compile_encoded(text_qp_env, text)
        except TemplateSyntaxError as exc:
            raise TemplateProblem("template", f"line {exc.lineno}: {exc.message}") from None

    def _filler(self, context: dict, link_url, pixel_url: str | None):
        preheader = str(escape(self.preview_t.render(context))) if self.preview_t else ""

        def _fill(m):
            if m.group(2):
                return link_url(int(m.group(2))) if link_url else ""
            if m.group(1) == "PIXEL":
                return _PIXEL_TAG.format(pixel_url) if pixel_url else ""
            return preheader

        return _fill

    def render(self, context: dict, link_url=None, pixel_url: str | None = None) -> Rendered:
        """Personalize for one recipient; `link_url(link_id)` gives each tracked link's URL."""
        _loop_budget.set(LOOP_BUDGET)
        _fill = self._filler(context, link_url, pixel_url)
        html = _PLACEHOLDER_RE.sub(_fill, self.html_t.render(context))
        text = _PLACEHOLDER_RE.sub(_fill, self.text_t.render(context))
        return Rendered(header_safe(self.subject_t.render(context)), html, text)

    def render_encoded(self, context: dict, link_url=None, pixel_url: str | None = None) -> "RenderedMime":
        """`render()` for sending: the parts come out quoted-printable (what MessageSkeleton.build
        takes), the links and pixel filled in as they are rendered (see qp_jinja)."""
        _loop_budget.set(LOOP_BUDGET)
        if self.html_qp is None or self.text_qp is None:
            _fill = self._filler(context, link_url, pixel_url)
            html = _QP.encode(self.html_t.render(context), _fill)
            text = _QP.encode(self.text_t.render(context), _fill)
        else:
            ctx = {
                **context,
                qp_jinja.LINK: qp_jinja.LinkURLs(link_url),
                qp_jinja.PIXEL: Markup(_PIXEL_TAG.format(pixel_url)) if pixel_url else "",
                qp_jinja.PREHEADER: self.preview_t.render(context) if self.preview_t else "",
            }
            html = qp_jinja.finish(self.html_qp.render(ctx))
            text = qp_jinja.finish(self.text_qp.render(ctx))
        return RenderedMime(header_safe(self.subject_t.render(context)), html, text)


def render_once(subject, body_html, body_text, preview_text, context) -> Rendered:
    """Render a template for a preview; errors become TemplateProblem, never a 500."""
    try:
        with time_limit(PREVIEW_SECONDS):
            return CompiledMessage(subject, body_html, body_text, preview_text).render(context)
    except TemplateProblem:
        raise
    except TemplateError as exc:
        raise TemplateProblem("template", str(exc)) from None
    except Exception as exc:  # a marketer's expression failing (e.g. 1/0) is their error to see
        raise TemplateProblem("template", f"{type(exc).__name__}: {exc}") from None


def build_context(
    subscriber: dict,
    campaign_name: str,
    unsubscribe_url: str,
    preferences_url: str,
    view_url: str,
    extra: dict | None = None,
    base_url: str = "",
) -> dict:
    ctx = {
        "subscriber": subscriber,
        "campaign": {"name": campaign_name},
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
        "view_in_browser_url": view_url,
        # Where images Herald itself serves (social icons) live; visual designs refer to it.
        "assets_url": f"{base_url}/static",
    }
    if extra:
        ctx.update(extra)
    return ctx
