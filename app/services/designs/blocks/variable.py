"""variable: a value from the data (`subscriber.name`), with a plain-text fallback."""

from app.services.designs import dynamic
from app.services.designs.blocks.base import REQUIRED, BlockSpec, Palette, Renderer


def jinja(props: dict) -> str:
    """`{{ subscriber['name'] or "there" }}`: the fallback, a string literal, when the value is empty
    (a missing value prints as nothing anyway: rendering's finalize)."""
    fallback = props.get("fallback") or ""
    path = dynamic.path_expr(props["name"])
    return "{{ " + path + (" or " + string_literal(fallback) if fallback else "") + " }}"


def string_literal(value: str) -> str:
    """`value` as a Jinja string literal of printable ASCII: quotes and backslashes escaped, anything
    else as \\U escapes (Jinja decodes those; JSON's surrogate pairs would come out as two halves)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def mjml(r: Renderer, block: dict, _place: str) -> str:
    return f"<mj-text>{r.ph.add(jinja(block['props']))}</mj-text>"


def text(_r: Renderer, block: dict) -> list[str]:
    return [jinja(block["props"])]


SPEC = BlockSpec(
    type="variable",
    label="Variable",
    icon="braces",
    palette=Palette("Dynamic", 1, "A subscriber field, with a fallback"),
    # The fallback is plain text, printed as a Jinja string literal: anything may be typed in it.
    props={"name": ("dotted", None, REQUIRED), "fallback": ("literal", 200, "")},
    mjml=mjml,
    text=text,
    new_props={"name": "subscriber.name", "fallback": "friend"},
)
