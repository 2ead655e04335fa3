"""Templates rendered straight to quoted-printable decode to exactly what the plain template
renders, with every encoded line valid; the templates that cannot be encoded ahead fall back."""

import quopri

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from app.services.content import qp_jinja
from app.services.content.rendering import (
    _PLACEHOLDER_RE,
    CompiledMessage,
    html_env,
    html_qp_env,
    text_env,
    text_qp_env,
)
from tests.unit.test_mime_fast import _check_lines, _normalized

PIECES = ["a", "Z", "0", " ", "\t", ".", "=", "-", "\n", "\r\n", "é", "✓", "😀", "<", ">", "&", '"', "'", "\x7f"]
LINK_URL = "https://h.example/t/c/AbC_d-9.{}.sig=="


def _decoded(qp: bytes) -> str:
    return quopri.decodestring(qp.replace(b"\r\n", b"\n")).decode("utf-8")


text_runs = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.integers(60, 300).map(lambda n: "x" * n),  # longer than a line
    st.integers(1, 90).map(lambda n: "=" * n),  # escapes at every column
    st.sampled_from(["HERALDLINK0001X", "HERALDLINK0002X", "HERALDPIXELX", "HERALDPREHEADERX", "\n.\n"]),
)
expressions = st.sampled_from(
    [
        "{{ v.a }}",
        "{{ v.b }}",
        "{{ v.a|safe }}",
        "{{ v.missing }}",
        "{{ '<lit> é' }}",
        "{{ 40 + 2 }}",
        "{{ v.a ~ v.b }}",
        "{{ v.items }}",  # a dict's attribute wins over its key, as in Jinja
    ]
)


@st.composite
def templates(draw, depth=0):
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "text", "expr", "if", "for"] if depth < 2 else ["text", "expr"]))
        if kind == "text":
            parts.append(draw(text_runs).replace("{", "(").replace("}", ")").replace("#", "_"))
        elif kind == "expr":
            parts.append(draw(expressions))
        elif kind == "if":
            body, other = draw(templates(depth + 1)), draw(templates(depth + 1))
            parts.append(f"{{% if v.flag %}}{body}{{% else %}}{other}{{% endif %}}")
        else:
            parts.append(f"{{% for i in v.list %}}{draw(templates(depth + 1))}{{{{ i }}}}{{% endfor %}}")
    return "".join(parts)


values = st.fixed_dictionaries(
    {
        "a": st.lists(st.sampled_from(PIECES + ["x" * 90]), max_size=12).map("".join),
        "b": st.sampled_from(["Zoë", "", "plain", " lead", "trail ", "a=b", "x" * 80, "line\nbreak", "<b>"]),
        "flag": st.booleans(),
        "list": st.lists(st.sampled_from(["", "é", "<i>", "y" * 100, "\n"]), max_size=3),
        "items": st.just("the key, not the method"),
    }
)


def _fill(preheader: str, escape_html: bool):
    def fill(m):
        if m.group(2):
            url = LINK_URL.format(int(m.group(2)))
            return str(escape(url)) if escape_html else url
        if m.group(1) == "PIXEL":
            return '<img src="https://h.example/t/o/1.gif">'
        return preheader

    return fill


@settings(max_examples=300, deadline=None)
@given(source=templates(), v=values, html=st.booleans(), preheader=st.sampled_from(["", "Soon: é & <co>", "p" * 90]))
def test_decodes_to_what_the_plain_template_renders(source, v, html, preheader):
    plain_env, qp_env = (html_env, html_qp_env) if html else (text_env, text_qp_env)
    compiled = qp_jinja.compile_encoded(qp_env, source)
    assert compiled is not None
    ctx = {"v": v}
    expected = _PLACEHOLDER_RE.sub(
        _fill(str(escape(preheader)) if html else preheader, html), plain_env.from_string(source).render(ctx)
    )
    pixel = '<img src="https://h.example/t/o/1.gif">'
    rendered = compiled.render(
        {
            **ctx,
            qp_jinja.LINK: qp_jinja.LinkURLs(LINK_URL.format),
            qp_jinja.PIXEL: Markup(pixel) if html else pixel,  # as render_encoded gives it
            qp_jinja.PREHEADER: preheader,
        }
    )
    out = qp_jinja.finish(rendered)
    _check_lines(out)
    assert _decoded(out) == _normalized(expected)


@pytest.mark.parametrize(
    "source",
    [
        "{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}{{ m(v.a) }}",
        "{% set block %}é {{ v.a }}{% endset %}{{ block }}",
        "{% filter upper %}é = {{ v.a }}{% endfilter %}",
        "{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}x{% endcall %}",
        "{% autoescape false %}{{ v.a }}{% endautoescape %}",
        "{% set s = 'HERALDLINK0001X' %}<a href=\"{{ s }}\">x</a>",  # a placeholder in a string
    ],
)
def test_templates_that_capture_output_fall_back_and_still_encode_right(source):
    assert qp_jinja.compile_encoded(html_qp_env, source) is None
    compiled = CompiledMessage("s", source, "t", None, link_ids={"https://x.example/": 1})
    assert compiled.html_qp is None
    ctx = {"v": {"a": "<é = ü>"}}
    plain = compiled.render(ctx, link_url=LINK_URL.format)
    enc = compiled.render_encoded(ctx, link_url=LINK_URL.format)
    assert _decoded(enc.html) == _normalized(plain.html)


def test_a_campaign_message_is_the_same_either_way():
    html = (
        '<html><body><p>Hi {{ subscriber.attributes.first_name|default("there") }},</p>'
        + '<a href="https://shop.example.com/a?x=1&amp;y=2">Shop</a> '
        + "<p>" + "Long paragraph é " * 30 + "</p>\n"
        + "{% for item in subscriber.attributes.cart %}<li>{{ item.name }} — {{ item.price }}</li>\n{% endfor %}"
        + '<a href="https://shop.example.com/b">Again</a>'
        + '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
    )  # fmt: skip
    compiled = CompiledMessage(
        "Hi {{ subscriber.name }}",
        html,
        None,
        "Just for you, {{ subscriber.name }}",
        link_ids={"https://shop.example.com/a?x=1&y=2": 1, "https://shop.example.com/b": 2},
        track_opens=True,
    )
    assert compiled.html_qp is not None and compiled.text_qp is not None
    ctx = {
        "subscriber": {
            "name": "Zoë & co",
            "attributes": {"first_name": "Zoë", "cart": [{"name": "Mug <large>", "price": "€9"}] * 3},
        },
        "unsubscribe_url": "https://h.example/u/tok=en",
    }
    plain = compiled.render(ctx, link_url=LINK_URL.format, pixel_url="https://h.example/t/o/x.gif")
    enc = compiled.render_encoded(ctx, link_url=LINK_URL.format, pixel_url="https://h.example/t/o/x.gif")
    assert enc.subject == plain.subject
    assert _decoded(enc.html) == _normalized(plain.html)
    assert _decoded(enc.text) == _normalized(plain.text)
    _check_lines(enc.html)
    _check_lines(enc.text)


def test_dict_lookups_keep_jinjas_rules():
    ctx = {"d": {"plan": "gold", "items": "key"}, "s": "text"}
    assert html_env.from_string("{{ d.plan }}|{{ d.nope }}|{{ d.items is callable }}").render(ctx) == "gold||True"
    assert html_env.from_string("{{ d.__class__ }}").render(ctx) == ""  # still refused by the sandbox
    assert html_env.from_string("{{ d['items'] }}").render(ctx) == "key"
