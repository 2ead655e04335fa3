"""Design -> MJML -> responsive HTML (CSS inlined) and a text part, both Jinja for the sandbox.

Every `{{ expression }}` a person wrote, and every control tag the compiler writes for a
conditional or loop, travels through bleach, MJML and css-inline as an inert token and is
put back at the end: none of those tools ever sees (or re-escapes) Jinja. Control tags
inside a column travel as HTML comments, which an HTML parser leaves where they are
(bare text inside a table would be moved out of it).
"""

import re
import secrets
from dataclasses import dataclass, field

import css_inline
import mjml
from jinja2 import TemplateSyntaxError

from app.services.content.rendering import html_env, text_env
from app.services.designs import dynamic
from app.services.designs.blocks import BLOCKS
from app.services.designs.blocks.base import attr
from app.services.designs.sanitize import clean_html
from app.services.designs.schema import validate_design
from app.services.errors import ValidationError

GMAIL_CLIP_BYTES = 102 * 1024

_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_JINJA_START_RE = re.compile(r"\{(?=[{%#])")


@dataclass
class CompiledDesign:
    mjml: str
    html: str
    text: str
    size_bytes: int
    warnings: list[str] = field(default_factory=list)


class _Compiler:
    def __init__(self, design: dict):
        self.design = design
        nonce = secrets.token_hex(4).upper()
        self.ph = dynamic.Placeholders(nonce)
        self.cleaned: dict[str, str] = {}  # text block id -> cleaned HTML (with tokens)
        self.warnings: list[str] = []

    # -- values -------------------------------------------------------------------------

    def plain(self, value: str) -> str:
        """A plain-text prop as HTML: escaped, line breaks kept, expressions as tokens."""
        return attr(self.ph.protect(value)).replace("\n", "<br>")

    def href(self, value: str) -> str:
        whole = dynamic.EXPR_RE.fullmatch(value)
        if whole:
            return self.ph.add(dynamic.guarded_url(whole.group(1).strip()))
        return attr(self.ph.protect(value))

    def control(self, jinja: str, place: str) -> str:
        token = self.ph.add(jinja)
        return f"<mj-raw><!--{token}--></mj-raw>" if place == "column" else f"<mj-raw>{token}</mj-raw>"

    def rich(self, block: dict) -> str:
        if block["id"] not in self.cleaned:
            self.cleaned[block["id"]] = clean_html(self.ph.protect(block["props"]["text"]), self.ph)
        return self.cleaned[block["id"]]

    # -- MJML ---------------------------------------------------------------------------

    def mjml(self) -> str:
        s = self.design["settings"]
        head = (
            "<mj-head><mj-attributes>"
            f'<mj-all font-family="{attr(s["fontFamily"])}" />'
            '<mj-text line-height="1.5" />'
            "</mj-attributes></mj-head>"
        )
        body = self.blocks(self.design["blocks"], "body")
        return (
            f'<mjml>{head}<mj-body width="{s["width"]}px" background-color="{s["backgroundColor"]}">'
            f"{body}</mj-body></mjml>"
        )

    def blocks(self, blocks: list, place: str) -> str:
        """Blocks at `place`: where sections stand ("body", "wrapper"), runs of content blocks get a
        full-width section; in a section (columns) or a column, each block renders as it is."""
        if place in ("section", "column"):
            return "".join(BLOCKS[b["type"]].mjml(self, b, place) for b in blocks)
        out: list[str] = []
        run: list[str] = []
        for b in blocks:
            spec = BLOCKS[b["type"]]
            if spec.children is None:  # content
                run.append(spec.mjml(self, b, place))
                continue
            if run:
                out.append(_full_width(run))
                run = []
            out.append(spec.mjml(self, b, place))
        if run:
            out.append(_full_width(run))
        return "".join(out)

    # -- text part ----------------------------------------------------------------------

    def text(self, blocks: list) -> list[str]:
        """Text-part chunks (joined by blank lines), empty ones left out."""
        out: list[str] = []
        for b in blocks:
            out.extend(BLOCKS[b["type"]].text(self, b))
        return [x for x in out if x]


def _full_width(run: list[str]) -> str:
    return "<mj-section><mj-column>" + "".join(run) + "</mj-column></mj-section>"


def _join_text(chunks: list[str]) -> str:
    text = "\n\n".join(chunks)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def compile_design(design) -> CompiledDesign:
    """Validate and compile; raises ValidationError for a bad design, never anything else."""
    design = validate_design(design)
    c = _Compiler(design)
    source = c.mjml()
    html = _inliner.inline(mjml.mjml2html(source))
    # MJML's own CSS never starts Jinja by accident ("{#outlook" would open a comment).
    html = c.ph.restore(_JINJA_START_RE.sub("{ ", html), comments=True)
    text = _join_text(c.text(design["blocks"]))
    for name, env, value in (("html", html_env, html), ("text", text_env, text)):
        try:
            env.parse(value)
        except TemplateSyntaxError as exc:  # should not happen: the design was validated
            raise ValidationError(
                "The design compiles to a template Jinja cannot read.", {"design": f"{name}: {exc.message}"}
            ) from None
    size = len(html.encode("utf-8"))
    warnings = list(c.warnings)
    if size > GMAIL_CLIP_BYTES:
        warnings.append(
            f"The email is {size / 1024:.0f} KB; Gmail clips messages above 102 KB (tracking links add more)."
        )
    return CompiledDesign(
        mjml=c.ph.restore(source, comments=False), html=html, text=text, size_bytes=size, warnings=warnings
    )


def has_unsubscribe_link(design: dict) -> bool:
    """Whether every recipient sees an unsubscribe link (one outside conditionals and loops)."""

    def walk(blocks) -> bool:
        for b in blocks:
            spec, p = BLOCKS.get(b["type"]), b["props"]
            if spec and not spec.for_everyone:
                continue
            if spec and spec.unsubscribes(p):
                return True
            hrefs = [p.get("href"), p.get("buttonHref")] + [x.get("href") for x in p.get("links") or []]
            if any(isinstance(h, str) and _is_unsubscribe(h) for h in hrefs):
                return True
            if walk(b.get("children") or []):
                return True
        return False

    return walk(design.get("blocks") or [])


def _is_unsubscribe(href: str) -> bool:
    m = dynamic.EXPR_RE.fullmatch(href.strip())
    return bool(m and m.group(1).strip() == "unsubscribe_url")


def require_unsubscribe(design: dict, category: str | None) -> None:
    """Refuse a design without an unsubscribe link unless its category is transactional."""
    if (category or "marketing") == "transactional":
        return
    if not has_unsubscribe_link(validate_design(design)):
        raise ValidationError(
            "Marketing email must let people unsubscribe: add a footer block (with showUnsubscribe) "
            "or a link to {{ unsubscribe_url }}.",
            {"blocks": "no unsubscribe link outside conditionals and loops"},
        )
