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
from markupsafe import escape

from app.services.content.html_text import html_to_text
from app.services.content.rendering import html_env, text_env
from app.services.designs import dynamic
from app.services.designs.sanitize import clean_html
from app.services.designs.schema import validate_design
from app.services.errors import ValidationError

GMAIL_CLIP_BYTES = 102 * 1024
HEADER_SIZES = {1: 28, 2: 22, 3: 18}
SOCIAL_LABELS = {"x": "X", "web": "Website", "github": "GitHub", "linkedin": "LinkedIn", "youtube": "YouTube"}

_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
_JINJA_START_RE = re.compile(r"\{(?=[{%#])")


@dataclass
class CompiledDesign:
    mjml: str
    html: str
    text: str
    size_bytes: int
    warnings: list[str] = field(default_factory=list)


def _attr(value) -> str:
    return str(escape(value))


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
        return _attr(self.ph.protect(value)).replace("\n", "<br>")

    def href(self, value: str) -> str:
        whole = dynamic.EXPR_RE.fullmatch(value)
        if whole:
            return self.ph.add(dynamic.guarded_url(whole.group(1).strip()))
        return _attr(self.ph.protect(value))

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
            f'<mj-all font-family="{_attr(s["fontFamily"])}" />'
            '<mj-text line-height="1.5" />'
            "</mj-attributes></mj-head>"
        )
        body = self.body(self.design["blocks"], "body")
        return (
            f'<mjml>{head}<mj-body width="{s["width"]}px" background-color="{s["backgroundColor"]}">'
            f"{body}</mj-body></mjml>"
        )

    def body(self, blocks: list, place: str) -> str:
        """Blocks where sections stand: runs of content blocks get a full-width section."""
        out: list[str] = []
        run: list[str] = []

        def flush():
            if run:
                out.append("<mj-section><mj-column>" + "".join(run) + "</mj-column></mj-section>")
                run.clear()

        for b in blocks:
            t = b["type"]
            if t == "section":
                flush()
                out.append(self.section(b))
            elif t == "container":
                flush()
                p = b["props"]
                bg = f' background-color="{p["backgroundColor"]}"' if p.get("backgroundColor") else ""
                out.append(
                    f'<mj-wrapper padding="{p["padding"]}"{bg}>{self.body(b["children"], "wrapper")}</mj-wrapper>'
                )
            elif t in ("conditional", "loop"):
                flush()
                out.append(self.dynamic_block(b, place, self.body))
            else:
                run.append(self.content(b))
        flush()
        return "".join(out)

    def section(self, b: dict) -> str:
        p = b["props"]
        bg = f' background-color="{p["backgroundColor"]}"' if p.get("backgroundColor") else ""
        cols = []
        for c in b["children"]:
            cp = c["props"]
            attrs = f' vertical-align="{cp["verticalAlign"]}"'
            if cp.get("width"):
                attrs += f' width="{cp["width"]}"'
            if cp.get("backgroundColor"):
                attrs += f' background-color="{cp["backgroundColor"]}"'
            if cp.get("padding"):
                attrs += f' padding="{cp["padding"]}"'
            cols.append(f"<mj-column{attrs}>{self.column(c['children'])}</mj-column>")
        inner = "".join(cols)
        if not p["stackOnMobile"]:
            inner = f"<mj-group>{inner}</mj-group>"  # side by side on phones too (e.g. item rows)
        return f'<mj-section padding="{p["padding"]}"{bg}>{inner}</mj-section>'

    def column(self, blocks: list) -> str:
        out = []
        for b in blocks:
            if b["type"] in ("conditional", "loop"):
                out.append(self.dynamic_block(b, "column", lambda bs, _place: self.column(bs)))
            else:
                out.append(self.content(b))
        return "".join(out)

    def dynamic_block(self, b: dict, place: str, inner) -> str:
        p = b["props"]
        if b["type"] == "loop":
            return (
                self.control(f"{{% for {p['as']} in {dynamic.path_expr(p['items'])} %}}", place)
                + inner(b["children"], place)
                + self.control("{% endfor %}", place)
            )
        out = self.control(f"{{% if {p['condition']} %}}", place) + inner(b["children"], place)
        if b["else"]:
            out += self.control("{% else %}", place) + inner(b["else"], place)
        return out + self.control("{% endif %}", place)

    def content(self, b: dict) -> str:
        t, p = b["type"], b["props"]
        if t == "divider":
            return f'<mj-divider border-color="{p["color"]}" border-width="{p["thickness"]}px" />'
        if t == "spacer":
            return f'<mj-spacer height="{p["height"]}px" />'
        if t == "header":
            size = HEADER_SIZES[p["level"]]
            return (
                f'<mj-text align="{p["align"]}" color="{p["color"]}" font-size="{size}px" line-height="1.3">'
                f'<h{p["level"]} style="margin:0;font-size:{size}px;font-weight:bold">{self.plain(p["text"])}'
                f"</h{p['level']}></mj-text>"
            )
        if t == "text":
            return (
                f'<mj-text align="{p["align"]}" color="{p["color"]}" font-size="{p["fontSize"]}px">'
                f"{self.rich(b)}</mj-text>"
            )
        if t == "image":
            if not p.get("alt", "").strip():
                self.warnings.append(f"image {b['id']} has no alt text")
            attrs = f'src="{self.href(p["src"])}" alt="{self.plain(p.get("alt", ""))}" align="{p["align"]}"'
            if p.get("href"):
                attrs += f' href="{self.href(p["href"])}"'
            if p.get("width"):
                # A narrow image keeps its width on phones; a wide one fills the screen.
                attrs += f' width="{p["width"]}px" fluid-on-mobile="true"'
            if p.get("padding"):
                attrs += f' padding="{p["padding"]}"'
            return f"<mj-image {attrs} />"
        if t == "button":
            width = ' width="100%"' if p["fullWidth"] else ""
            return (
                f'<mj-button href="{self.href(p["href"])}" background-color="{p["backgroundColor"]}" '
                f'color="{p["color"]}" align="{p["align"]}" font-size="{p["fontSize"]}px" '
                f'border-radius="{p["borderRadius"]}px" inner-padding="12px 24px"{width}>'
                f"{self.plain(p['text'])}</mj-button>"
            )
        if t == "link":
            return (
                f'<mj-text align="{p["align"]}"><a href="{self.href(p["href"])}" style="color:{p["color"]}">'
                f"{self.plain(p['text'])}</a></mj-text>"
            )
        if t == "hero":
            bg = f'container-background-color="{p["backgroundColor"]}"'
            out = []
            if p.get("imageUrl"):
                out.append(
                    f'<mj-image src="{self.href(p["imageUrl"])}" alt="{self.plain(p.get("imageAlt", ""))}" {bg} />'
                )
            out.append(
                f'<mj-text align="center" font-size="30px" line-height="1.25" color="{p["color"]}" {bg}>'
                f'<h1 style="margin:0;font-size:30px;font-weight:bold">{self.plain(p["title"])}</h1></mj-text>'
            )
            if p.get("subtitle"):
                out.append(
                    f'<mj-text align="center" font-size="18px" color="{p["color"]}" {bg}>'
                    f"{self.plain(p['subtitle'])}</mj-text>"
                )
            if p.get("buttonText"):
                out.append(
                    f'<mj-button href="{self.href(p["buttonHref"])}" background-color="{p["buttonBackgroundColor"]}" '
                    f'color="{p["buttonColor"]}" font-size="16px" border-radius="4px" inner-padding="12px 24px" {bg}>'
                    f"{self.plain(p['buttonText'])}</mj-button>"
                )
            return "".join(out)
        if t == "footer":
            lines = [self.plain(p[k]) for k in ("text", "address") if p.get(k)]
            links = []
            if p["showUnsubscribe"]:
                links.append(f'<a href="{self.href("{{ unsubscribe_url }}")}" style="color:#777777">Unsubscribe</a>')
            if p["showPreferences"]:
                links.append(
                    f'<a href="{self.href("{{ preferences_url }}")}" style="color:#777777">Manage preferences</a>'
                )
            if links:
                lines.append(" | ".join(links))
            return f'<mj-text align="{p["align"]}" font-size="12px" color="{p["color"]}">{"<br>".join(lines)}</mj-text>'
        if t == "social":
            # Icons served by Herald ({{ assets_url }}), never MJML's default third-party host.
            assets = self.ph.add("{{ assets_url }}")
            items = "".join(
                f'<mj-social-element src="{assets}/img/social/{link["network"]}.png" '
                f'href="{self.href(link["href"])}" alt="{_attr(_social_label(link["network"]))}" '
                f'background-color="transparent" icon-size="28px" padding="4px 6px" />'
                for link in p["links"]
            )
            return f'<mj-social mode="horizontal" align="center">{items}</mj-social>'
        if t == "variable":
            return f"<mj-text>{self.ph.add(_variable(p))}</mj-text>"
        raise AssertionError(t)  # pragma: no cover

    # -- text part ----------------------------------------------------------------------

    def text(self, blocks: list) -> list[str]:
        """Text-part chunks (joined by blank lines); `{%-` keeps a false branch from leaving gaps."""
        out: list[str] = []
        for b in blocks:
            t, p = b["type"], b["props"]
            if t in ("section", "container", "column"):
                out.extend(self.text(b["children"]))
            elif t == "loop":
                out.append(f"{{%- for {p['as']} in {dynamic.path_expr(p['items'])} %}}")
                out.extend(self.text(b["children"]))
                out.append("{%- endfor %}")
            elif t == "conditional":
                out.append(f"{{%- if {p['condition']} %}}")
                out.extend(self.text(b["children"]))
                if b["else"]:
                    out.append("{%- else %}")
                    out.extend(self.text(b["else"]))
                out.append("{%- endif %}")
            elif t == "header":
                out.append(p["text"])
            elif t == "text":
                out.append(self.ph.restore(html_to_text(self.rich(b))).strip())
            elif t == "image":
                if p.get("alt"):
                    out.append(f"{p['alt']}: {_text_url(p['href'])}" if p.get("href") else p["alt"])
            elif t in ("button", "link"):
                out.append(f"{p['text']}: {_text_url(p['href'])}")
            elif t == "divider":
                out.append("-" * 40)
            elif t == "hero":
                out.extend(x for x in (p["title"], p.get("subtitle")) if x)
                if p.get("buttonText"):
                    out.append(f"{p['buttonText']}: {_text_url(p['buttonHref'])}")
            elif t == "footer":
                lines = [p[k] for k in ("text", "address") if p.get(k)]
                if p["showUnsubscribe"]:
                    lines.append("Unsubscribe: {{ unsubscribe_url }}")
                if p["showPreferences"]:
                    lines.append("Manage preferences: {{ preferences_url }}")
                out.append("-" * 40 + "\n" + "\n".join(lines))
            elif t == "social":
                out.append("\n".join(f"{_social_label(x['network'])}: {_text_url(x['href'])}" for x in p["links"]))
            elif t == "variable":
                out.append(_variable(p))
        return [x for x in out if x]


def _social_label(network: str) -> str:
    return SOCIAL_LABELS.get(network, network.capitalize())


def _variable(p: dict) -> str:
    """`{{ subscriber['name'] or "there" }}`: the fallback, a string literal, when the value is empty
    (a missing value prints as nothing anyway: rendering's finalize)."""
    fallback = p.get("fallback") or ""
    path = dynamic.path_expr(p["name"])
    return "{{ " + path + (" or " + _string_literal(fallback) if fallback else "") + " }}"


def _string_literal(value: str) -> str:
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


def _text_url(value: str) -> str:
    whole = dynamic.EXPR_RE.fullmatch(value)
    return dynamic.guarded_url(whole.group(1).strip()) if whole else value


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
            t, p = b["type"], b["props"]
            if t in ("conditional", "loop"):
                continue
            if t == "footer" and p.get("showUnsubscribe"):
                return True
            hrefs = [p.get("href"), p.get("buttonHref")] + [x.get("href") for x in p.get("links") or []]
            if any(isinstance(h, str) and _is_unsubscribe(h) for h in hrefs):
                return True
            if t == "text" and re.search(r"href\s*=\s*[\"']\s*\{\{\s*unsubscribe_url\s*\}\}", p.get("text", "")):
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
