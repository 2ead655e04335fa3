"""The Jinja a design may carry, checked before it goes anywhere near the sandbox.

Marketers write `{{ ... }}` expressions in text props, a `condition` for a conditional and
dotted paths for variables and loops. Everything else that looks like Jinja (`{% %}`,
`{# #}`, a stray `{{`) is refused, so the compiled template's control flow is only ever
the one the compiler writes.
"""

import json
import re

from jinja2 import TemplateSyntaxError, nodes

from app.services.content.rendering import html_env

EXPR_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
DOTTED_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*){0,7}\Z")  # no _private names
IDENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
MAX_EXPRESSION = 500

# Names a loop variable may not shadow: the URLs Herald fills in, and Jinja's own words.
RESERVED_NAMES = frozenset(
    {
        "subscriber",
        "campaign",
        "unsubscribe_url",
        "preferences_url",
        "view_in_browser_url",
        "assets_url",
        "loop",
        "range",
        "self",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "for",
        "recursive",
        "with",
        "without",
        "block",
        "import",
        "include",
    }
)
# URLs Herald itself fills in per recipient: written into hrefs as they are.
HERALD_URLS = frozenset({"unsubscribe_url", "preferences_url", "view_in_browser_url"})
_FORBIDDEN_FILTERS = frozenset({"safe"})  # would let recipient data bypass autoescaping


class JinjaProblem(ValueError):
    pass


MAX_EXPONENT = 100  # as the sandbox allows at render time


def _check_ast(source: str) -> None:
    """Refuse at save time what the sandbox would refuse only when a recipient's message renders."""
    try:
        tree = html_env.parse(source)
    except TemplateSyntaxError as exc:
        raise JinjaProblem(f"not a valid expression: {exc.message}") from None
    for f in tree.find_all(nodes.Filter):
        if f.name in _FORBIDDEN_FILTERS:
            raise JinjaProblem(f"the '{f.name}' filter is not allowed")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Pow)):
        name = node.attr if isinstance(node, nodes.Getattr) else node.name if isinstance(node, nodes.Name) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise JinjaProblem(f"'{name[:40]}' is private: names starting with _ cannot be used in an expression")
        # Jinja's ** is left-associative: 9**9**9 is (9**9)**9, and chained powers grow without bound.
        if isinstance(node, nodes.Pow) and (
            isinstance(node.left, nodes.Pow)
            or not isinstance(node.right, nodes.Const)
            or not isinstance(node.right.value, (int, float))
            or abs(node.right.value) > MAX_EXPONENT
        ):
            raise JinjaProblem(f"a power ('**') cannot be chained and takes a number up to {MAX_EXPONENT}")


def check_expression(expr: str) -> str:
    """A single Jinja expression (no delimiters); returns it stripped."""
    expr = expr.strip()
    if not expr:
        raise JinjaProblem("an empty {{ }} expression")
    if len(expr) > MAX_EXPRESSION:
        raise JinjaProblem(f"an expression longer than {MAX_EXPRESSION} characters")
    if any(d in expr for d in ("{{", "}}", "{%", "%}", "{#", "#}")):
        raise JinjaProblem("Jinja delimiters inside an expression")
    _check_ast("{{ " + expr + " }}")
    return expr


def check_condition(cond: str) -> str:
    cond = cond.strip()
    if not cond:
        raise JinjaProblem("the condition is empty")
    if len(cond) > MAX_EXPRESSION:
        raise JinjaProblem(f"a condition longer than {MAX_EXPRESSION} characters")
    if any(d in cond for d in ("{{", "}}", "{%", "%}", "{#", "#}")):
        raise JinjaProblem("write the condition without {{ }} or {% %}, e.g. subscriber.attributes.plan == 'gold'")
    _check_ast("{% if " + cond + " %}{% endif %}")
    return cond


def check_text(value: str) -> None:
    """A text prop: literal text plus `{{ expression }}`s, nothing else Jinja understands."""
    if "{" not in value:
        return
    for m in EXPR_RE.finditer(value):
        check_expression(m.group(1))
    rest = EXPR_RE.sub("", value)
    for d in ("{{", "{%", "{#"):
        if d in rest:
            raise JinjaProblem(f"'{d}' is only allowed as part of a {{{{ expression }}}}")
    if "}}" in rest or "%}" in rest or "#}" in rest:
        raise JinjaProblem("an unmatched '}}', '%}' or '#}'")


def jinja_string(value: str) -> str:
    """A Jinja string literal for `value` (JSON escapes are valid Jinja escapes)."""
    return json.dumps(value, ensure_ascii=True)


def path_expr(path: str) -> str:
    """A dotted path as Jinja subscripts: `cart.items` must be the key, not dict.items()."""
    root, *rest = path.split(".")
    return root + "".join(f"['{part}']" for part in rest)


def guarded_url(path: str) -> str:
    """Jinja printing the URL at `path` only if it is http(s)/mailto at render time (else '#')."""
    if path in HERALD_URLS:
        return "{{ " + path + " }}"
    path = path_expr(path)
    return "{{ " + path + " if ((" + path + ")|string|lower).startswith(('http://', 'https://', 'mailto:')) else '#' }}"


class Placeholders:
    """Jinja swapped for inert tokens while text goes through bleach, MJML and css-inline."""

    def __init__(self, nonce: str):
        self.prefix = f"HJ{nonce}N"
        self.items: dict[str, str] = {}
        token = "(" + re.escape(self.prefix) + r"\d{5}Z)"
        self._bare = re.compile(token)
        self._commented = re.compile(r"(?:<!--)?" + token + r"(?:-->)?")

    def add(self, jinja: str) -> str:
        token = f"{self.prefix}{len(self.items):05d}Z"
        self.items[token] = jinja
        return token

    def protect(self, value: str) -> str:
        """Replace each `{{ expr }}` of a (validated) text with a token."""
        if "{{" not in value:
            return value
        return EXPR_RE.sub(lambda m: self.add("{{ " + m.group(1).strip() + " }}"), value)

    def restore(self, text: str, comments: bool = False) -> str:
        """Tokens back to their Jinja; with `comments`, a token's `<!-- -->` wrapper goes too."""
        if not self.items:
            return text
        return (self._commented if comments else self._bare).sub(lambda m: self.items.get(m.group(1), ""), text)
