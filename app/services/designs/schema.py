"""Validation of the visual design JSON (API.md "Visual design JSON").

`validate_design` accepts any JSON value and either returns the design normalized (every
default filled in, nothing unknown kept) or raises ValidationError whose `fields` name the
block and prop: {"blocks.b3.props.color": "'#12' is not a colour (use #rgb or #rrggbb)"}.
"""

import re

from app.services.designs import dynamic
from app.services.designs.blocks import BLOCK_TYPES, BLOCKS
from app.services.designs.blocks.base import REQUIRED, SAME_PLACE, BlockSpec
from app.services.errors import ValidationError

MAX_DEPTH = 6  # a top-level block is at depth 1; section > column > content is depth 3
MAX_BLOCKS = 500
MAX_ERRORS = 50
MAX_ID = 64
MAX_SOCIAL_LINKS = 12

SAFE_FONTS = (
    "Arial, Helvetica, sans-serif",
    "Helvetica, Arial, sans-serif",
    "Verdana, Geneva, sans-serif",
    "Tahoma, Geneva, sans-serif",
    "Trebuchet MS, Helvetica, sans-serif",
    "Georgia, serif",
    "Times New Roman, Times, serif",
    "Courier New, Courier, monospace",
)
_FONT_STACK_RE = re.compile(r"^[A-Za-z0-9 ,'\"\-]{1,200}\Z")
_COLOUR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,%d}\Z" % MAX_ID)
_PX_RE = re.compile(r"^(\d{1,3})(?:px)?\Z")
_PCT_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,2})?)%\Z")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL_UNSAFE_RE = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")
_SCHEMES = ("http://", "https://", "mailto:")
SOCIAL_NETWORKS = (
    "facebook",
    "x",
    "twitter",
    "instagram",
    "linkedin",
    "youtube",
    "pinterest",
    "github",
    "tumblr",
    "vimeo",
    "medium",
    "snapchat",
    "dribbble",
    "soundcloud",
    "xing",
    "web",
)

# Each block type's props (kind, options, default or REQUIRED) live in its module in blocks/.
PROPS: dict[str, dict[str, tuple]] = {t: spec.props for t, spec in BLOCKS.items()}
_SETTINGS = {"backgroundColor", "width", "fontFamily"}
_DEFAULT_SETTINGS = {"backgroundColor": "#ffffff", "width": 600, "fontFamily": SAFE_FONTS[0]}


def describe_block_types() -> str:
    """The block types and their props in one paragraph (the OpenAPI document shows it)."""
    parts = []
    for btype, spec in BLOCKS.items():
        props = ", ".join(
            f"{name}{'*' if default is REQUIRED else ''}" for name, (_k, _o, default) in spec.props.items()
        )
        parts.append(f"{btype} ({props}{_holds(spec)})")
    return "Block types, their props (* required): " + "; ".join(parts) + "."


def _holds(spec: BlockSpec) -> str:
    if spec.children is None:
        return ""
    what = "columns" if spec.children == "section" else "blocks"
    return f"; children and else: {what}" if spec.has_else else f"; children: {what}"


class _Problem(ValueError):
    pass


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _string(value, max_len: int, allow_newlines: bool = True) -> str:
    if not isinstance(value, str):
        raise _Problem(f"must be a string, not {_json_type(value)}")
    if len(value) > max_len:
        raise _Problem(f"is {len(value)} characters long; the limit is {max_len}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Problem("contains characters that are not valid Unicode") from None
    if _CONTROL_RE.search(value) or (not allow_newlines and ("\n" in value or "\r" in value)):
        raise _Problem("contains control characters")
    return value


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _int(value, lo: int, hi: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Problem(f"must be a whole number from {lo} to {hi}, not {_describe(value)}")
    if not lo <= value <= hi:
        raise _Problem(f"{value} is out of range ({lo} to {hi})")
    return value


def _jinja_text(value: str) -> None:
    try:
        dynamic.check_text(value)
    except dynamic.JinjaProblem as exc:
        raise _Problem(str(exc)) from None


def _url(value, images: bool = False) -> str:
    value = _string(value, 2000, allow_newlines=False).strip()
    if not value:
        raise _Problem("must not be empty")
    _jinja_text(value)
    whole = dynamic.EXPR_RE.fullmatch(value)
    if whole:
        if not dynamic.DOTTED_RE.match(whole.group(1).strip()):
            raise _Problem(
                "a Jinja link must be a single variable such as {{ unsubscribe_url }} or {{ item.url }}; "
                "or start the link with https:// and put expressions after it"
            )
        return value
    schemes = ("http://", "https://") if images else _SCHEMES
    lowered = value.lower()
    if not lowered.startswith(schemes) or len(value) <= len(next(s for s in schemes if lowered.startswith(s))):
        allowed = "http or https" if images else "http, https or mailto"
        raise _Problem(f"{_describe(value)} is not an allowed link (use {allowed}, or a {{{{ variable }}}})")
    if _URL_UNSAFE_RE.search(dynamic.EXPR_RE.sub("", value)):
        raise _Problem("contains spaces, quotes or characters not allowed in a link")
    return value


def _padding(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{_int(value, 0, 200)}px"
    if not isinstance(value, str):
        raise _Problem(f"must be like '10px' or '10px 20px', not {_describe(value)}")
    parts = value.split()
    if not 1 <= len(parts) <= 4:
        raise _Problem(f"{_describe(value)} must have 1 to 4 values like '10px 20px'")
    out = []
    for part in parts:
        m = _PX_RE.match(part)
        if not m or int(m.group(1)) > 200:
            raise _Problem(f"{_describe(part)} is not a padding from 0px to 200px")
        out.append(f"{int(m.group(1))}px")
    return " ".join(out)


def _colwidth(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{_int(value, 1, 800)}px"
    if isinstance(value, str):
        m = _PCT_RE.match(value.strip())
        if m and 0 < float(m.group(1)) <= 100:
            return f"{float(m.group(1)):g}%"
        m = _PX_RE.match(value.strip())
        if m and 1 <= int(m.group(1)) <= 800:
            return f"{int(m.group(1))}px"
    raise _Problem(f"{_describe(value)} is not a width (use a percentage like '50%' or pixels like '300px')")


def _social(value) -> list:
    if not isinstance(value, list):
        raise _Problem(f"must be a list of {{network, href}}, not {_json_type(value)}")
    if not 1 <= len(value) <= MAX_SOCIAL_LINKS:
        raise _Problem(f"must have 1 to {MAX_SOCIAL_LINKS} links")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Problem(f"item {i} must be an object with network and href")
        unknown = set(item) - {"network", "href"}
        if unknown:
            raise _Problem(f"item {i} has unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        network = item.get("network")
        if network not in SOCIAL_NETWORKS:
            raise _Problem(f"item {i}: network must be one of {', '.join(SOCIAL_NETWORKS)}")
        try:
            href = _url(item.get("href"))
        except _Problem as exc:
            raise _Problem(f"item {i}: href {exc}") from None
        out.append({"network": network, "href": href})
    return out


def _colour(_options, value) -> str:
    if not isinstance(value, str) or not _COLOUR_RE.match(value):
        raise _Problem(f"{_describe(value)} is not a colour (use #rgb or #rrggbb)")
    return value.lower()


def _bool(_options, value) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"must be true or false, not {_describe(value)}")
    return value


def _enum(options, value):
    if value not in options:
        raise _Problem(f"{_describe(value)} must be one of: {', '.join(options)}")
    return value


def _text(max_len: int, value) -> str:
    value = _string(value, max_len)
    _jinja_text(value)
    return value


def _imgwidth(_options, value) -> int:
    if isinstance(value, str):
        m = _PX_RE.match(value.strip())
        if not m:
            raise _Problem(f"{_describe(value)} is not a width in pixels (e.g. 300 or '300px')")
        value = int(m.group(1))
    return _int(value, 1, 800)


def _dotted(_options, value) -> str:
    value = _string(value, 200, allow_newlines=False).strip()
    if not dynamic.DOTTED_RE.match(value):
        raise _Problem(f"{_describe(value)} must be a dotted name like subscriber.name or cart.items")
    return value


def _ident(_options, value) -> str:
    value = _string(value, 64, allow_newlines=False).strip()
    if not dynamic.IDENT_RE.match(value):
        raise _Problem(f"{_describe(value)} must be a simple name like item")
    if value in dynamic.RESERVED_NAMES:
        raise _Problem(f"{_describe(value)} is a reserved name; choose another, e.g. item")
    return value


def _condition(_options, value) -> str:
    value = _string(value, dynamic.MAX_EXPRESSION, allow_newlines=False)
    try:
        return dynamic.check_condition(value)
    except dynamic.JinjaProblem as exc:
        raise _Problem(str(exc)) from None


# The kinds of prop value a block module may declare: kind -> check(options, value) -> normalized value.
PROP_KINDS = {
    "colour": _colour,
    "int": lambda options, value: _int(value, *options),
    "bool": _bool,
    "enum": _enum,
    "text": _text,
    "html": _text,
    "literal": lambda max_len, value: _string(value, max_len, allow_newlines=False),
    "href": lambda _options, value: _url(value),
    "src": lambda _options, value: _url(value, images=True),
    "padding": lambda _options, value: _padding(value),
    "colwidth": lambda _options, value: _colwidth(value),
    "imgwidth": _imgwidth,
    "dotted": _dotted,
    "ident": _ident,
    "condition": _condition,
    "social": lambda _options, value: _social(value),
}


def _check_prop(kind: str, options, value):
    return PROP_KINDS[kind](options, value)


class _Validator:
    def __init__(self):
        self.errors: dict[str, str] = {}
        self.ids: set[str] = set()
        self.count = 0

    def error(self, field: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.setdefault(field, message)

    def settings(self, raw) -> dict:
        if raw is None:
            return dict(_DEFAULT_SETTINGS)
        if not isinstance(raw, dict):
            self.error("settings", f"must be an object, not {_json_type(raw)}")
            return dict(_DEFAULT_SETTINGS)
        out = dict(_DEFAULT_SETTINGS)
        for key in raw:
            if key not in _SETTINGS:
                self.error(f"settings.{key}", f"unknown setting (allowed: {', '.join(sorted(_SETTINGS))})")
        try:
            if "backgroundColor" in raw:
                out["backgroundColor"] = _check_prop("colour", None, raw["backgroundColor"])
        except _Problem as exc:
            self.error("settings.backgroundColor", str(exc))
        try:
            if "width" in raw:
                out["width"] = _int(raw["width"], 320, 800)
        except _Problem as exc:
            self.error("settings.width", str(exc))
        if "fontFamily" in raw:
            font = raw["fontFamily"]
            if isinstance(font, str) and (font in SAFE_FONTS or _FONT_STACK_RE.match(font)):
                out["fontFamily"] = font
            else:
                self.error(
                    "settings.fontFamily",
                    f"{_describe(font)} is not a font stack (letters, digits, spaces, commas, quotes and "
                    f"hyphens only, e.g. {SAFE_FONTS[0]!r})",
                )
        return out

    def blocks(self, raw, where: str, place: str, depth: int) -> list:
        if not isinstance(raw, list):
            self.error(where, f"must be a list of blocks, not {_json_type(raw)}")
            return []
        return [b for b in (self.block(item, f"{where}[{i}]", place, depth) for i, item in enumerate(raw)) if b]

    def block(self, raw, where: str, place: str, depth: int) -> dict | None:
        if not isinstance(raw, dict):
            self.error(where, f"a block must be an object, not {_json_type(raw)}")
            return None
        self.count += 1
        if self.count == MAX_BLOCKS + 1:
            self.error("blocks", f"a design may have at most {MAX_BLOCKS} blocks")
        if self.count > MAX_BLOCKS:
            return None
        name = self.block_id(raw.get("id"), where)
        for key in raw:
            if key not in ("id", "type", "props", "children", "else"):
                self.error(f"{name}.{key}", "unknown field (a block has id, type, props, children and else)")
        btype = raw.get("type")
        spec = BLOCKS.get(btype) if isinstance(btype, str) else None
        if spec is None:
            self.error(f"{name}.type", f"{_describe(btype)} is not a block type (one of: {', '.join(BLOCK_TYPES)})")
            return None
        if place not in spec.places:
            self.error(f"{name}.type", _misplaced(spec, place))
            return None
        if depth > MAX_DEPTH:
            self.error(f"{name}", f"nested too deep: blocks may be nested at most {MAX_DEPTH} levels")
            return None
        out = {"id": raw.get("id"), "type": btype, "props": self.props(spec, raw.get("props"), name)}
        self.children(spec, raw, out, name, place, depth)
        for field, message in spec.check_block(out):
            self.error(f"{name}.{field}", message)
        return out

    def block_id(self, block_id, where: str) -> str:
        """The name errors give the block ("blocks.b3"; its position while its id is unusable)."""
        if isinstance(block_id, str) and _ID_RE.match(block_id):
            if block_id in self.ids:
                self.error(f"blocks.{block_id}.id", f"the id '{block_id}' is used by more than one block")
            self.ids.add(block_id)
            return f"blocks.{block_id}"
        self.error(
            f"{where}.id",
            "every block needs an id: 1 to 64 letters, digits, '-' or '_'"
            if block_id is None
            else f"{_describe(block_id)} is not a valid id (1 to 64 letters, digits, '-' or '_')",
        )
        return where

    def children(self, spec: BlockSpec, raw: dict, out: dict, name: str, place: str, depth: int) -> None:
        inner = place if spec.children == SAME_PLACE else spec.children
        if spec.children is not None:
            out["children"] = self.blocks(raw.get("children", []), f"{name}.children", inner, depth + 1)
        elif "children" in raw:
            self.error(f"{name}.children", f"a {spec.type} block cannot have children")
        if spec.has_else:
            out["else"] = self.blocks(raw.get("else", []), f"{name}.else", inner, depth + 1)
        elif "else" in raw:
            self.error(f"{name}.else", "only a conditional block has an else branch")

    def props(self, spec: BlockSpec, raw, name: str) -> dict:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.error(f"{name}.props", f"must be an object, not {_json_type(raw)}")
            raw = {}
        out = {}
        for key in raw:
            if key not in spec.props:
                allowed = ", ".join(spec.props) or "none"
                self.error(f"{name}.props.{key}", f"unknown prop for a {spec.type} block (allowed: {allowed})")
        for key, (kind, options, default) in spec.props.items():
            value = raw.get(key)
            if value is None:
                if default is REQUIRED:
                    self.error(f"{name}.props.{key}", f"a {spec.type} block needs {key}")
                elif default is not None:
                    out[key] = default
                continue
            try:
                out[key] = _check_prop(kind, options, value)
            except _Problem as exc:
                self.error(f"{name}.props.{key}", str(exc))
        for key, message in spec.check(out):
            self.error(f"{name}.props.{key}", message)
        # Said once: not when a text or title prop (even one the type does not have) already has a problem.
        if (
            spec.nonempty
            and not str(out.get(spec.nonempty, "")).strip()
            and f"{name}.props.text" not in self.errors
            and f"{name}.props.title" not in self.errors
        ):
            self.error(f"{name}.props.{spec.nonempty}", "must not be empty")
        return out


def _misplaced(spec: BlockSpec, place: str) -> str:
    if "section" in spec.places:
        return f"a {spec.type} can only be inside a section"
    if "column" not in spec.places:
        where = "a column" if place == "column" else "a section"
        return f"a {spec.type} cannot be inside {where}"
    return f"a {spec.type} block cannot be directly inside a section (put it in a column)"


def validate_design(design) -> dict:
    """The design normalized (defaults filled), or ValidationError naming block and field."""
    v = _Validator()
    if not isinstance(design, dict):
        raise ValidationError(
            "The design must be a JSON object.", {"design": f"must be an object, not {_json_type(design)}"}
        )
    for key in design:
        if key not in ("version", "settings", "blocks"):
            v.error(str(key), "unknown field (a design has version, settings and blocks)")
    version = design.get("version")
    if version != 1 or isinstance(version, bool):
        v.error("version", f"{_describe(version)} is not a supported version (use 1)")
    settings = v.settings(design.get("settings"))
    blocks = v.blocks(design.get("blocks", []), "blocks", "body", 1)
    if v.errors:
        field, message = next(iter(v.errors.items()))
        more = f" (and {len(v.errors) - 1} more)" if len(v.errors) > 1 else ""
        raise ValidationError(f"The design is not valid: {field}: {message}{more}", dict(v.errors))
    return {"version": 1, "settings": settings, "blocks": blocks}
