"""What a block type declares (`BlockSpec`) and what the compiler lends its renderers (`Renderer`).

A block module builds one `BlockSpec`: its props (kind, options, default), where it may
stand, what it holds, its palette entry and what the builder drops in, and two renderers:
`mjml(r, block, place) -> str` and `text(r, block) -> list[str]` (text-part chunks; empty
ones are dropped). Renderers get validated blocks, so every prop with a default is there.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from markupsafe import escape

from app.services.designs import dynamic

REQUIRED = object()  # the default of a prop that must be given
ALIGN = ("enum", ("left", "center", "right"))
SAME_PLACE = "same"  # children stand where the block itself stands (conditional, loop)
# Places (API.md): "body" is the top level or inside a container, "section" holds columns,
# "column" holds content. The compiler also renders a container's children at "wrapper".
CONTENT_PLACES = frozenset({"body", "column"})


class Renderer(Protocol):
    """The compiler as a block's renderers see it (app/services/designs/compiler.py)."""

    ph: dynamic.Placeholders  # Jinja travels through MJML as inert tokens
    warnings: list[str]

    def plain(self, value: str) -> str: ...  # a plain-text prop as HTML
    def href(self, value: str) -> str: ...  # a link prop as an attribute value
    def rich(self, block: dict) -> str: ...  # a text block's cleaned HTML
    def control(self, jinja: str, place: str) -> str: ...  # a control tag as MJML at `place`
    def blocks(self, blocks: list, place: str) -> str: ...  # child blocks as MJML
    def text(self, blocks: list) -> list[str]: ...  # child blocks as text-part chunks


@dataclass(frozen=True)
class Palette:
    """Where the builder's palette offers a block: its group, its rank in the group, a tooltip."""

    group: str
    rank: int
    help: str


def _no_problems(_value: dict) -> list[tuple[str, str]]:
    return []


def _never(_props: dict) -> bool:
    return False


@dataclass(frozen=True)
class BlockSpec:
    """One block type: everything validation, the compiler and the builder know about it."""

    type: str
    label: str  # what people call it ("Columns", "Condition")
    icon: str  # a Tabler icon name
    props: dict[str, tuple]  # name -> (kind, options, default or REQUIRED); schema.py checks the kinds
    mjml: Callable[[Renderer, dict, str], str]
    text: Callable[[Renderer, dict], list[str]]
    palette: Palette | None = None  # None: not offered on its own (a column comes with its section)
    places: frozenset[str] = CONTENT_PLACES
    children: str | None = None  # the place its children stand in, SAME_PLACE, or None for none
    has_else: bool = False
    nonempty: str | None = None  # a prop that must hold more than spaces
    check: Callable[[dict], list[tuple[str, str]]] = _no_problems  # validated props -> (prop, problem)
    check_block: Callable[[dict], list[tuple[str, str]]] = _no_problems  # validated block -> (field, problem)
    unsubscribes: Callable[[dict], bool] = _never  # props -> whether they carry an unsubscribe link
    for_everyone: bool = True  # False: what it holds is shown to some recipients only
    new_props: dict = field(default_factory=dict)  # what the builder drops in: always valid
    new_children: list | None = None  # the children a dropped block starts with (no ids)


def attr(value) -> str:
    """`value` escaped for HTML text or a double-quoted attribute."""
    return str(escape(value))


def text_url(value: str) -> str:
    """A link prop as the text part prints it (a lone `{{ variable }}` guarded like in the HTML)."""
    whole = dynamic.EXPR_RE.fullmatch(value)
    return dynamic.guarded_url(whole.group(1).strip()) if whole else value


def link_text(_r: Renderer, block: dict) -> list[str]:
    """The text part of a block that is a labelled link (a button, a link): `label: url`."""
    p = block["props"]
    return [f"{p['text']}: {text_url(p['href'])}"]


def background(props: dict) -> str:
    """` background-color="…"` when the block has one, else nothing."""
    return f' background-color="{props["backgroundColor"]}"' if props.get("backgroundColor") else ""


def children_text(r: Renderer, block: dict) -> list[str]:
    """The text part of a block that only holds others."""
    return r.text(block["children"])


def no_text(_r: Renderer, _block: dict) -> list[str]:
    """For a block the text part leaves out."""
    return []
