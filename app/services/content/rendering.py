"""Personalization in Jinja's sandbox, compiled once per campaign and rendered per recipient."""

import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import update_wrapper
from types import BuiltinMethodType, MethodType

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from app.services.content import qp_jinja, render_limits
from app.services.content.html_text import html_to_text
from app.services.content.mime import QuotedPrintable
from app.services.content.render_limits import RenderLimitError

LOOP_BUDGET = render_limits.MAX_STEPS  # loop items (of every kind), calls and filter work one message may take
MAX_SEQUENCE = render_limits.MAX_SEQUENCE  # longest string or list a `*` may build
PREVIEW_SECONDS = render_limits.RENDER_SECONDS
_DICT_ATTRIBUTES = frozenset(dir(dict))
_active, _bounded_join = render_limits.active, render_limits.bounded_join

# What a render error means to a marketer (most specific first); the error's own words follow.
_RENDER_ERRORS = (
    (SecurityError, "it went past a safety limit"),
    (UndefinedError, "it uses a value this recipient does not have"),
    (ZeroDivisionError, "it divides by zero"),
    (TypeError, "it combines values of kinds that do not go together"),
    (OverflowError, "a number in it grew too large"),
    (ValueError, "it was given a value it cannot use"),
    (TemplateError, "Jinja could not render it"),
)


def _bounded_range(*args) -> range:
    r = range(*args)
    if len(r) > LOOP_BUDGET:  # its items are counted as they are used; this many could never be
        raise RenderLimitError(f"This template asks for a range of {len(r):,} numbers (at most {LOOP_BUDGET:,}).")
    return r


class MeteredCodeGenerator(CodeGenerator):
    """Jinja's code generator, writing the budget's hooks into templates as they compile:
    every for-loop's items are counted, and `~` and literal lists are weighed as they are built."""

    def visit_For(self, node, frame) -> None:
        # The iterable is written by Jinja's own visit_For: mark it for `visit` to wrap.
        self.__dict__.setdefault("_herald_counted", set()).add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node, *args, **kwargs):
        counted = self.__dict__.get("_herald_counted")
        if counted and id(node) in counted:
            counted.discard(id(node))
            self.write("environment.metered(")
            super().visit(node, *args, **kwargs)
            self.write(")")
            return None
        return super().visit(node, *args, **kwargs)

    def _output_child_to_const(self, node, frame, finalize):
        # Jinja escapes a constant before finalize sees it: `{{ none }}` would print "None".
        if node.as_const(frame.eval_ctx) is None:
            return ""
        return super()._output_child_to_const(node, frame, finalize)

    def visit_Concat(self, node, frame) -> None:
        if frame.eval_ctx.volatile:
            self.write("environment.join_parts(context.eval_ctx.volatile, (")
        else:
            self.write(f"environment.join_parts({bool(frame.eval_ctx.autoescape)}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _weighed(self, visit, node, frame) -> None:
        self.write("environment.check_value(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame) -> None:
        self._weighed(super().visit_List, node, frame)

    def visit_Dict(self, node, frame) -> None:
        self._weighed(super().visit_Dict, node, frame)

    def visit_Tuple(self, node, frame) -> None:
        if node.ctx == "load":
            self._weighed(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


class HeraldSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus limits on the work and memory one render may take
    (render_limits), and a missing value (None) printing as nothing rather than "None"."""

    intercepted_binops = frozenset(["*", "**", "%", "+"])
    code_generator_class = MeteredCodeGenerator

    def __init__(self, **kwargs):
        kwargs.setdefault("finalize", render_limits.printable)
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = render_limits.lipsum
        render_limits.guard_filters(self.filters)

    # Hooks the compiled templates call (MeteredCodeGenerator).
    metered = staticmethod(render_limits.metered)
    check_value = staticmethod(render_limits.check_value)

    @staticmethod
    def join_parts(markup: bool, parts: tuple) -> str:
        """`a ~ b`, weighed before it is built; a missing value (None) joins as nothing."""
        render_limits.check_parts(parts)
        if None in parts:
            parts = tuple("" if p is None else p for p in parts)
        return markup_join(parts) if markup else str_join(parts)

    def concat(self, pieces) -> str:
        """A whole template's output (Template.render), within the output limit and a budget:
        the message's (CompiledMessage) or, for a template rendered alone, one of its own."""
        if _active():
            return _bounded_join(pieces)
        token = render_limits.start()
        try:
            return render_limits.bounded_join(pieces)
        finally:
            render_limits.stop(token)

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

    def getitem(self, obj, argument):
        # `event.properties['items']` (a design's loop) on a cart sent without items is missing, not the
        # dict's own `items` method, which Jinja falls back to and which no loop can iterate.
        if obj.__class__ is dict and isinstance(argument, str):
            try:
                return obj[argument]
            except KeyError:
                return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def call_binop(self, context, operator, left, right):
        render_limits.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context, obj, /, *args, **kwargs):
        """A call from a template: counted (macros, `loop()` recursion), and refused before a
        str method builds too large a value (`'a'.ljust(10**8)`)."""
        render_limits.meter().tick()
        if isinstance(obj, LoopContext) and args:  # loop(children): the next level of a recursive loop
            args = (render_limits.metered(args[0]), *args[1:])
        else:
            args = render_limits.checked_call_args(obj, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value):
        """`'{:>9}'.format(x)`: Jinja's sandboxed str.format, its widths and its result bounded."""
        if not isinstance(value, (MethodType, BuiltinMethodType)) or value.__name__ not in ("format", "format_map"):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_map = value.__name__ == "format_map"

        def wrapper(*args, **kwargs):
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            if isinstance(f_self, Markup):
                formatter = render_limits.BoundedEscapeFormatter(self, escape=f_self.escape)
            else:
                formatter = render_limits.BoundedFormatter(self)
            return type(f_self)(formatter.vformat(f_self, args, kwargs))

        return update_wrapper(wrapper, value)


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
        raise render_limits.RenderLimitError(
            f"This template took too long to render (over {seconds:g} s): check the loops in it."
        )

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
    "loyalty": {"points": 1250, "tier": "Gold"},  # growth/loyalty.py; campaigns/send_checks.loyalty_of
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
        budget = render_limits.start()  # one budget (steps, time) for all of the message's parts
        try:
            _fill = self._filler(context, link_url, pixel_url)
            html = _PLACEHOLDER_RE.sub(_fill, self.html_t.render(context))
            text = _PLACEHOLDER_RE.sub(_fill, self.text_t.render(context))
            return Rendered(header_safe(self.subject_t.render(context)), html, text)
        finally:
            render_limits.stop(budget)

    def render_encoded(self, context: dict, link_url=None, pixel_url: str | None = None) -> "RenderedMime":
        """`render()` for sending: the parts come out quoted-printable (what MessageSkeleton.build
        takes), the links and pixel filled in as they are rendered (see qp_jinja)."""
        budget = render_limits.start()
        try:
            return self._render_encoded(context, link_url, pixel_url)
        finally:
            render_limits.stop(budget)

    def _render_encoded(self, context: dict, link_url, pixel_url: str | None) -> "RenderedMime":
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


def render_problem(exc: Exception) -> str:
    """What went wrong in a render, in words a marketer can act on (no exception reprs)."""
    what = next((text for kind, text in _RENDER_ERRORS if isinstance(exc, kind)), "an expression in it failed")
    detail = " ".join(str(exc).split())[:300]
    return f"{what} ({detail})" if detail else what


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
        raise TemplateProblem("template", render_problem(exc)) from None


def limit_problems(parts, context: dict) -> dict[str, str]:
    """Render each (field, source, is_html) of `parts` with `context` (sample data); the fields whose
    render goes past a limit of render_limits, each with its sentence. Other render errors are left
    to the real data (a sample may lack what a real recipient has)."""
    problems = {}
    for field, source, is_html in parts:
        if not source:
            continue
        budget = render_limits.start()
        try:
            with time_limit(PREVIEW_SECONDS):
                (html_env if is_html else text_env).from_string(source).render(context)
        except RenderLimitError as exc:
            problems[field] = str(exc)
        except Exception:  # the sample's own shortcomings, not the template's size
            pass
        finally:
            render_limits.stop(budget)
    return problems


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
