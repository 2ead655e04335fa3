"""Templates that render straight to quoted-printable: the encoding done once per campaign.

Quoted-printable by line after rendering costs ~0.25 ms a message on a 25 KB email, about a
third of a worker's time. But all of a template's text (its data) is the same for every
recipient: here it is encoded when the template is compiled, and per message only the
values of `{{ … }}` expressions are escaped, by the environment's `finalize`.

This works because quoted-printable lets a soft line break ("=" CRLF) stand anywhere: every
piece — a run of template data, or one expression's value — is encoded as if it started a
line and ends with a line break (its own CRLF, or a soft break). So no piece needs to know
the column where the one before it ended, each encoded line stays within 76 characters, and
the whole decodes to exactly what the plain template renders (property-tested against it).

The tracking placeholders of rendering.py (links, pixel, preheader) become expressions
(`{{ _herald_links[n] }}`…) so that they are filled in at the same time.

Templates whose output is captured and reused — macros, `call`, `filter` and `set` blocks,
inheritance — would encode some text twice: for these `compile_encoded` answers None and
the caller encodes the rendered text instead (mime.QuotedPrintable).
"""

import re

from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.lexer import Token
from markupsafe import escape

from app.services.content.mime import qp_escape, qp_wrap
from app.services.content.render_limits import printable

LINK, PIXEL, PREHEADER = "_herald_links", "_herald_pixel", "_herald_preheader"
SOFT_BREAK = "=\r\n"
_PLAIN = re.compile(r"[!-<>-~]([ -<>-~]{0,73}[!-<>-~])?")  # printable ASCII, no "=", no edge whitespace
_PLAIN_HTML = re.compile(r"[!#-%(-;?-~]([ !#-%(-;?-~]{0,73}[!#-%(-;?-~])?")  # nor anything escape() changes
# Nodes that capture output to use it again: their text would be encoded twice.
_CAPTURING = (nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock, nodes.Block, nodes.Extends)
_CAPTURING += (nodes.Include, nodes.Import, nodes.FromImport)
_CAPTURING += (nodes.EvalContextModifier,)  # {% autoescape %}: the escaping would change inside


def encode_piece(text: str) -> str:
    """`text` as quoted-printable that starts at column 0 and ends with a line break."""
    if not text:
        return ""
    if _PLAIN.fullmatch(text):  # the usual value: a name, a URL
        return text + SOFT_BREAK
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    last = lines.pop()
    out = [qp_wrap(qp_escape(line)) + b"\r\n" for line in lines]
    if last:
        out.append(qp_wrap(qp_escape(last), 1) + SOFT_BREAK.encode())
    return b"".join(out).decode("ascii")


def _encode_html(value) -> str:
    """An expression's value in an HTML part: escaped as autoescape would, then encoded
    (a missing value, None, as nothing: what the plain environments' finalize does)."""
    if value.__class__ is str and _PLAIN_HTML.fullmatch(value):
        return value + SOFT_BREAK
    return encode_piece(str(escape(printable(value))))


def _encode_text(value) -> str:
    if value.__class__ is str and _PLAIN.fullmatch(value):
        return value + SOFT_BREAK
    return encode_piece(str(printable(value)))


class EncodingOutput:
    """Code generator mixin (over the environment's own generator, which keeps its hooks): writes `environment.finalize(value)` for each expression instead of Jinja's
    `escape(finalize(value))` / `str(finalize(value))`: finalize escapes and encodes, and an
    escape() around its answer would only wrap it in Markup again (~1 µs a value)."""

    def _output_child_pre(self, node, frame, finalize) -> None:
        self.write("environment.finalize(")

    def _output_child_post(self, node, frame, finalize) -> None:
        self.write(")")


class EncodeData(Extension):
    """Encodes the template's data at compile time and turns the tracking placeholders into
    expressions (rendering._PLACEHOLDER_RE: HERALDLINKnnnnX, HERALDPIXELX, HERALDPREHEADERX)."""

    placeholders = re.compile(r"HERALD(?:LINK(\d{4})|(PIXEL)|(PREHEADER))X")

    def filter_stream(self, stream):
        for token in stream:
            if token.type != "data":
                yield token
                continue
            at = 0
            for m in self.placeholders.finditer(token.value):
                yield from self._data(token.lineno, token.value[at : m.start()])
                yield from self._placeholder(token.lineno, m)
                at = m.end()
            yield from self._data(token.lineno, token.value[at:])

    @staticmethod
    def _data(lineno: int, text: str):
        if text:
            yield Token(lineno, "data", encode_piece(text))

    @staticmethod
    def _placeholder(lineno: int, m):
        yield Token(lineno, "variable_begin", "{{")
        if m.group(1):
            yield Token(lineno, "name", LINK)
            yield Token(lineno, "lbracket", "[")
            yield Token(lineno, "integer", int(m.group(1)))
            yield Token(lineno, "rbracket", "]")
        else:
            yield Token(lineno, "name", PIXEL if m.group(2) else PREHEADER)
        yield Token(lineno, "variable_end", "}}")


class LinkURLs(dict):
    """A message's tracked-link URLs by link id, each made (signed) the first time it is used;
    a subscript costs a fraction of a call from sandboxed code."""

    def __init__(self, link_url):
        super().__init__()
        self.link_url = link_url

    def __missing__(self, link_id: int) -> str:
        url = self[link_id] = self.link_url(link_id) if self.link_url else ""
        return url


def encoding_env(env):
    """A copy of `env` (its sandbox and limits) whose templates render quoted-printable."""
    rv = env.overlay(finalize=_encode_html if env.autoescape else _encode_text, extensions=[EncodeData])
    rv.code_generator_class = type("EncodingCodeGenerator", (EncodingOutput, env.code_generator_class), {})
    return rv


def compile_encoded(env, source: str):
    """`source` compiled to render quoted-printable (`env` from `encoding_env`), or None where it
    cannot be (see the module's docstring), or where a placeholder sits outside template data
    (inside a string literal, say) and would not be filled in."""
    ast = env.parse(source)
    if any(True for _ in ast.find_all(_CAPTURING)):
        return None
    filled = sum(1 for n in ast.find_all(nodes.Name) if n.name in (LINK, PIXEL, PREHEADER))
    if filled != len(EncodeData.placeholders.findall(source)):
        return None
    return env.from_string(ast)


def finish(rendered: str) -> bytes:
    """A rendered part as MIME body bytes (without the soft break that may end it, unless
    that would leave a line of a lone dot, which some transports take for the end of DATA)."""
    if rendered.endswith(SOFT_BREAK) and rendered[-5:-3] != "\n." and rendered != "." + SOFT_BREAK:
        rendered = rendered[:-3]
    return rendered.encode("ascii")
