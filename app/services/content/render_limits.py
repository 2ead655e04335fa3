"""The work and the memory one render may take, whatever the template asks for.

A template is a small program a marketer (or an API key) wrote, run for every recipient on a
shared worker. Jinja's sandbox stops it reaching Python's internals but not from looping for
minutes or building a gigabyte string; these limits do, each failure a `RenderLimitError`
whose text is a sentence for the person who wrote the template:

- a *meter* per message counts loop items of every kind (for-loops over anything, recursion
  through `loop()` and macros, calls, filters over big values) and checks a wall-clock
  deadline every `CHECK_EVERY` steps: one comparison per step, a clock read per thousand;
- width and count arguments (`ljust`, `'{:>n}'`, `|center`, `|indent`, `replace` …) are capped
  before the value is built, since a check afterwards comes after the memory is gone;
- lists and dicts are weighed (the characters they print as) before they are turned into text,
  and one rendered part may not pass `MAX_OUTPUT` characters.

rendering.HeraldSandbox wires these into Jinja.
"""

import re
import time
from contextvars import ContextVar
from functools import lru_cache, wraps
from itertools import islice
from types import BuiltinMethodType, MethodType

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum

MAX_STEPS = 200_000  # loop items, calls and filter work one message may take
RENDER_SECONDS = 2.0  # wall-clock time one message may take to render
MAX_WIDTH = 1_000  # a width, padding, indent or count argument
MAX_SEQUENCE = 100_000  # items (or characters) `*` may build
MAX_VALUE = 1_000_000  # characters one value a template builds may have
MAX_OUTPUT = 2_000_000  # characters of one rendered part (subject, HTML, text)
MAX_INT_BITS = 14_000  # the largest number `*` and `**` may make (Python prints up to 4,300 digits)
MAX_DEPTH = 20  # lists in lists a template may print
CHECK_EVERY = 1024  # steps between two reads of the clock
_JOIN_CHUNK = 256  # pieces of output counted at a time (each at most a value's size)

_CONTAINERS = (list, tuple, dict, set, frozenset)
_SIZED_TEXT = (str, bytes)
_CHARGED_WHOLE = frozenset({list, tuple, dict, str, range})


class RenderLimitError(SecurityError):
    """A template asked for more work or memory than one email may take (str(): a sentence)."""


def _too_slow(seconds: float) -> RenderLimitError:
    return RenderLimitError(f"This template took too long to render (over {seconds:g} s): check the loops in it.")


def _too_big(what: str) -> RenderLimitError:
    return RenderLimitError(f"This template {what}: use smaller widths, counts and repeats.")


class Meter:
    """One message's budget: steps left and a deadline, checked every CHECK_EVERY steps."""

    __slots__ = ("left", "check_at", "deadline", "seconds")

    def __init__(self, steps: int = MAX_STEPS, seconds: float = RENDER_SECONDS):
        self.left = steps
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.check_at = steps - CHECK_EVERY

    def tick(self, n: int = 1) -> None:
        self.left -= n
        if self.left <= self.check_at:
            self.check()

    def check(self) -> None:
        """Raise when the steps or the time are spent; otherwise set the next check."""
        if self.left < 0:
            raise RenderLimitError(
                f"This template repeats too much: its loops ran more than {MAX_STEPS:,} steps for one email. "
                "Check the loops in it."
            )
        if time.monotonic() > self.deadline:
            raise _too_slow(self.seconds)
        self.check_at = max(self.left - CHECK_EVERY, -1)


_meter: ContextVar[Meter | None] = ContextVar("render_meter", default=None)


def start(seconds: float = RENDER_SECONDS):
    """Give the renders that follow (until `stop(token)`) one fresh budget; returns the token."""
    return _meter.set(Meter(seconds=seconds))


def stop(token) -> None:
    _meter.reset(token)


def active() -> bool:
    return _meter.get() is not None


def meter() -> Meter:
    """The running render's meter (a throwaway one outside a render, so nothing goes stale)."""
    return _meter.get() or Meter()


def metered(iterable):
    """`iterable`, its items counted against the render's budget (every `{% for %}` goes through here).

    A short list, string, dict or range is charged its length up front, at no cost per item;
    anything else (a long one, a generator from `|select`) is counted item by item, so that the
    clock is read during the loop too.
    """
    if iterable.__class__ in _CHARGED_WHOLE and len(iterable) <= CHECK_EVERY:
        meter().tick(len(iterable))
        return iterable
    return _counted(iterable)


def _counted(iterable):
    m = meter()
    for item in iterable:
        m.left -= 1
        if m.left <= m.check_at:
            m.check()
        yield item


def cost(value) -> int:
    """Steps a filter or call on `value` is charged: its items, or a step per 256 characters."""
    try:
        n = len(value)
    except TypeError:
        return 1
    return 1 + (n >> 8 if isinstance(value, _SIZED_TEXT) else n)


# -- Sizes ---------------------------------------------------------------------------------------


def weight(value, depth: int = 0, memo: dict | None = None) -> int:
    """About how many characters `value` prints as; raises once past MAX_VALUE.

    Lists may hold the same big string many times over; `memo` weighs each object once.
    """
    if isinstance(value, _SIZED_TEXT):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 8
    if depth > MAX_DEPTH:
        raise _too_big(f"nests lists more than {MAX_DEPTH} deep")
    memo = {} if memo is None else memo
    known = memo.get(id(value))
    if known is not None:
        return known
    total = 2
    items = value.items() if isinstance(value, dict) else ((x,) for x in value)
    for pair in items:
        for item in pair:
            total += 2 + (len(item) if isinstance(item, _SIZED_TEXT) else weight(item, depth + 1, memo))
        if total > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")
    memo[id(value)] = total
    return total


def check_value(value):
    """`value`, refused when it is (or prints as) more than MAX_VALUE characters."""
    if isinstance(value, _SIZED_TEXT):
        if len(value) > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")
    elif isinstance(value, _CONTAINERS):
        weight(value)
    return value


def printable(value):
    """What `{{ value }}` prints: nothing for a missing value (None), never "None"."""
    if value is None:
        return ""
    if isinstance(value, _CONTAINERS):
        weight(value)
    return value


def check_width(width, what: str) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise _too_big(f"asks for a {what} of {width:,} (at most {MAX_WIDTH:,})")


def charge(size: int) -> None:
    """Charge building a value of `size` characters: a step per 4 KB (copying a megabyte takes time)."""
    if size > 4096:
        meter().tick(size >> 12)


def check_repeat(seq, n) -> None:
    """`seq * n`: at most MAX_SEQUENCE items and MAX_VALUE characters."""
    if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int):
        charge(len(seq) * n)
        if len(seq) * n > MAX_SEQUENCE:
            raise _too_big(f"repeats a value into more than {MAX_SEQUENCE:,} items or characters")
        if n > 1 and not isinstance(seq, _SIZED_TEXT) and weight(seq) * n > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")


def check_sum(left, right) -> None:
    """`left + right` of two strings or lists: at most MAX_VALUE characters."""
    if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
        size = weight(left) + weight(right)
        if size > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")
        charge(size)


def check_parts(parts) -> None:
    """The operands of `~`, before they are joined."""
    total = 0
    for part in parts:
        if part is None:
            continue
        total += weight(part)
        if total > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")
    charge(total)


def _check_number(operator: str, left, right) -> None:
    if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
        raise RenderLimitError("This template raises a number to a power over 100.")
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() * abs(right) if operator == "**" else left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise RenderLimitError("This template makes a number too large to print.")


def check_binop(operator: str, left, right) -> None:
    """`left <operator> right` in a template (the sandbox's intercepted `*`, `**`, `+`, `%`)."""
    if type(left) is float or type(right) is float:  # prices and rates: nothing to build, nothing to print big
        if operator == "**" and abs(right) > 100:
            raise RenderLimitError("This template raises a number to a power over 100.")
        return
    if operator in ("*", "**"):
        _check_number(operator, left, right)
    if operator == "*":
        check_repeat(left, right)
        check_repeat(right, left)
    elif operator == "+":
        check_sum(left, right)
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)


class OutputTooLarge(RenderLimitError):
    pass


def bounded_join(pieces) -> str:
    """A rendered part from its pieces, stopped once it passes MAX_OUTPUT characters.

    Joined a chunk of pieces at a time (in C: islice, join): an email is a few dozen pieces,
    and a Python step per piece would cost more than the rest of this check.
    """
    it = iter(pieces)
    out = "".join(islice(it, _JOIN_CHUNK))
    if len(out) > MAX_OUTPUT:
        raise _output_too_large()
    more = next(it, None)
    if more is None:  # the usual email: all of it in one chunk
        return out
    parts = [out, more]
    size = len(out) + len(more)
    while chunk := "".join(islice(it, _JOIN_CHUNK)):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _output_too_large()
        parts.append(chunk)
    return "".join(parts)


def _output_too_large() -> RenderLimitError:
    return OutputTooLarge(
        f"This email came out larger than {MAX_OUTPUT // 1_000_000} MB: check the loops and repeated content in the template."
    )


# -- Formatting: str.format and % ----------------------------------------------------------------

_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT = re.compile(r"%(\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def check_spec(spec: str) -> None:
    """A format spec ('>10', '.2f') with no width or precision over MAX_WIDTH."""
    for m in _SPEC_NUMBER.finditer(spec or ""):
        if len(m.group()) > 6 or int(m.group()) > MAX_WIDTH:
            raise _too_big(f"asks for a width of {m.group()[:12]} in a format (at most {MAX_WIDTH:,})")


def _percent_shape(fmt: str) -> tuple[int, bool]:
    """How many conversions a % format has and whether one takes its width from the values (`*`);
    raises when a width or precision in it is over MAX_WIDTH."""
    conversions, starred = 0, False
    for m in _PERCENT.finditer(fmt):
        conversions += 1
        for number in (m.group(2), m.group(3)):
            if number == "*":
                starred = True
            elif number:
                check_spec(number)
    return conversions, starred


# A template's formats are the same few literals for every recipient: read each once per worker.
_short_percent_shape = lru_cache(maxsize=512)(_percent_shape)


def check_percent(fmt: str, values) -> None:
    """`fmt % values` (and `|format`): widths capped, the result no larger than MAX_VALUE."""
    conversions, starred = (_short_percent_shape if len(fmt) <= 200 else _percent_shape)(fmt)
    args = values if isinstance(values, tuple) else (values,)
    if starred:
        for arg in args:
            check_width(arg, "width")
    weights = [weight(v) for v in (values.values() if isinstance(values, dict) else args)]
    each = max(weights, default=0) if isinstance(values, dict) else sum(weights)
    total = len(fmt) + (each * conversions if isinstance(values, dict) else each)
    if total > MAX_VALUE:
        raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")


class _BoundedFields:
    """Formatter mixin: every field's spec is checked and the text made so far is counted."""

    made = 0

    def format_field(self, value, format_spec):
        check_spec(format_spec)
        weight(value)
        if value is None:  # '{}'.format(subscriber.name): nothing, not "None"
            value = ""
        rv = super().format_field(value, format_spec)
        self.made += len(rv)
        if self.made > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")
        return rv


class BoundedFormatter(_BoundedFields, SandboxedFormatter):
    pass


class BoundedEscapeFormatter(_BoundedFields, SandboxedEscapeFormatter):
    pass


# -- str methods called from a template ----------------------------------------------------------


def _arg(args, kwargs, i: int, name: str, default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _check_replace(s, args, kwargs) -> None:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    if not isinstance(old, _SIZED_TEXT) or not isinstance(new, _SIZED_TEXT) or len(new) <= len(old):
        return
    count = _arg(args, kwargs, 2, "count", -1)
    found = len(s) + 1 if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(s) + found * (len(new) - len(old)) > MAX_VALUE:
        raise _too_big(f"replaces text into a value of more than {MAX_VALUE:,} characters")


def _check_expandtabs(s, args, kwargs) -> None:
    size = _arg(args, kwargs, 0, "tabsize", 8)
    check_width(size, "tab size")
    if isinstance(size, int) and len(s) + s.count("\t" if isinstance(s, str) else b"\t") * size > MAX_VALUE:
        raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")


def _check_translate(s, args, kwargs) -> None:
    table = _arg(args, kwargs, 0, "table")
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, _SIZED_TEXT)), default=1)
        if len(s) * longest > MAX_VALUE:
            raise _too_big(f"builds a value of more than {MAX_VALUE:,} characters")


def _check_pad(s, args, kwargs) -> None:
    width = _arg(args, kwargs, 0, "width")
    if isinstance(width, int) and width > len(s):
        check_width(width, "width")


_STR_CHECKS = {
    "center": _check_pad,
    "ljust": _check_pad,
    "rjust": _check_pad,
    "zfill": _check_pad,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "translate": _check_translate,
}


def checked_call_args(obj, args: tuple, kwargs: dict) -> tuple:
    """The arguments of a call from a template, once the call is known not to build too much.

    `'a'.ljust(10**8)` is refused here, before Python allocates the value; `sep.join(items)`
    gets its items as a list, weighed first.
    """
    if obj.__class__ is not BuiltinMethodType and obj.__class__ is not MethodType:
        return args
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, _SIZED_TEXT):
        return args
    name = obj.__name__
    if name == "join" and args:
        items = list(_counted(args[0]))
        check_parts(items)
        if len(owner) * max(len(items) - 1, 0) > MAX_VALUE:
            raise _too_big(f"joins text into a value of more than {MAX_VALUE:,} characters")
        return (items, *args[1:])
    check = _STR_CHECKS.get(name)
    if check is not None:
        check(owner, args, kwargs)
    return args


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 (Jinja's names)
    """Jinja's `lipsum()`, at most 100 paragraphs of at most 100 words."""
    for value, what in ((n, "paragraph count"), (min, "word count"), (max, "word count")):
        if isinstance(value, int) and value > 100:
            raise _too_big(f"asks lipsum() for a {what} of {value:,} (at most 100)")
    return generate_lorem_ipsum(n, html, min, max)


# -- Filters -------------------------------------------------------------------------------------


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


def _pre_replace(value, args, kwargs):
    _check_replace(_text(value), args, kwargs)
    return value


def _pre_center(value, args, kwargs):
    width = _arg(args, kwargs, 0, "width", 80)
    if isinstance(width, int) and width > len(_text(value)):
        check_width(width, "width")
    return value


def _pre_indent(value, args, kwargs):
    width = _arg(args, kwargs, 0, "width", 4)
    size = len(width) if isinstance(width, str) else width
    check_width(size, "indent")
    if isinstance(size, int) and (_text(value).count("\n") + 1) * size > MAX_VALUE:
        raise _too_big(f"indents text into a value of more than {MAX_VALUE:,} characters")
    return value


def _pre_wordwrap(value, args, kwargs):
    text = _text(value)
    width = _arg(args, kwargs, 0, "width", 79)
    wrapstring = _arg(args, kwargs, 2, "wrapstring") or "\n"
    if isinstance(width, int) and isinstance(wrapstring, str):
        breaks = len(text) // max(width, 1) + text.count(" ") + text.count("\n") + 1
        if len(text) + breaks * len(wrapstring) > MAX_VALUE:
            raise _too_big(f"wraps text into a value of more than {MAX_VALUE:,} characters")
    return value


def _pre_format(value, args, kwargs):
    check_percent(_text(value), kwargs or args)
    return value


def _pre_join(value, args, kwargs):
    items = list(_counted(value))
    check_parts(items)
    sep = _arg(args, kwargs, 0, "d", "")
    if isinstance(sep, str) and len(sep) * max(len(items) - 1, 0) > MAX_VALUE:
        raise _too_big(f"joins text into a value of more than {MAX_VALUE:,} characters")
    return items


def _pre_batch(value, args, kwargs):
    check_width(_arg(args, kwargs, 0, "linecount"), "batch size")
    return value


def _pre_slice(value, args, kwargs):
    check_width(_arg(args, kwargs, 0, "slices"), "number of slices")
    return value


def _pre_sum(value, args, kwargs):
    start = _arg(args, kwargs, 1, "start", 0)
    if isinstance(start, (int, float)):
        return value
    items = list(_counted(value))
    check_parts([*items, start])
    return items


def _pre_urlize(value, args, kwargs):
    for i, name in ((2, "target"), (3, "rel")):
        extra = _arg(args, kwargs, i, name)
        if isinstance(extra, str):
            check_width(len(extra), f"{name} attribute")
    return value


def _pre_tojson(value, args, kwargs):
    indent = _arg(args, kwargs, 0, "indent")
    if isinstance(indent, int) and indent > 8:
        raise _too_big(f"asks tojson for an indent of {indent:,} (at most 8)")
    return value


# Filters that build text or lists from their input; the others (default, round, length…)
# return something no bigger than what they are given and run unguarded.
_FILTER_CHECKS = {
    "replace": _pre_replace,
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "format": _pre_format,
    "join": _pre_join,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "sum": _pre_sum,
    "urlize": _pre_urlize,
    "tojson": _pre_tojson,
}
_GUARDED_FILTERS = (
    *_FILTER_CHECKS,
    *("truncate", "string", "e", "escape", "forceescape", "pprint", "xmlattr", "striptags", "urlencode"),
    *("upper", "lower", "title", "capitalize", "trim", "wordcount", "list", "sort", "unique", "dictsort"),
    *("reverse", "groupby", "map", "select", "reject", "selectattr", "rejectattr"),
)

_TEXT_FILTERS = frozenset(
    {"replace", "center", "indent", "wordwrap", "format", "truncate", "string", "e", "escape", "forceescape"}
    | {"striptags", "urlencode", "upper", "lower", "title", "capitalize", "trim", "urlize", "wordcount"}
)


def guarded_filter(func, pre=None, text: bool = False):
    """`func` (a Jinja filter), charged to the meter, its input weighed, its arguments checked by `pre`;
    a `text` filter takes None as the empty string."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) else 0

    @wraps(func)
    def guarded(*args, **kwargs):
        value = args[skip] if len(args) > skip else None
        if value is None and text:  # {{ subscriber.name|title }}: nothing, not "None"
            value = ""
            args = (*args[:skip], "", *args[skip + 1 :])
        m = meter()
        m.tick(cost(value))
        if isinstance(value, _CONTAINERS):
            weight(value)
        if pre is not None:
            value = pre(value, args[skip + 1 :], kwargs)
            args = (*args[:skip], value, *args[skip + 1 :])
        rv = func(*args, **kwargs)
        if isinstance(rv, _CONTAINERS):
            m.tick(len(rv))
        return check_value(rv)

    return guarded


def guard_filters(filters: dict) -> None:
    """Replace, in an environment's `filters`, those that can build big values by guarded ones."""
    for name in _GUARDED_FILTERS:
        if name in filters:
            filters[name] = guarded_filter(filters[name], _FILTER_CHECKS.get(name), name in _TEXT_FILTERS)
