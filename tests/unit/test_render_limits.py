"""What one render may cost: a missing value prints as nothing, every kind of loop is counted,
every render has a deadline (in any thread), and no expression builds a value past the limits."""

import quopri
import threading
import time
import tracemalloc

import pytest

from app.services.content.render_limits import MAX_OUTPUT, RenderLimitError
from app.services.content.rendering import CompiledMessage, TemplateProblem, limit_problems, render_once
from app.services.designs import compile_design

NAMELESS = {
    "subscriber": {"id": 1, "email": "a@example.com", "name": None, "attributes": {"city": None}},
    "campaign": {"name": "Spring"},
    "unsubscribe_url": "https://h.example/u/t",
}


def _decoded(part: bytes) -> str:
    return quopri.decodestring(part).decode("utf-8")


# -- "Hi None" -------------------------------------------------------------------------------------


def test_a_subscriber_without_a_name_is_greeted_without_none_on_every_part_and_path():
    compiled = CompiledMessage(
        "Hi {{ subscriber.name }}, news",
        "<p>Hi {{ subscriber.name }},</p><p>{{ subscriber.attributes.city }}|{{ none }}|{{ subscriber.name|title }}</p>",
        "Hi {{ subscriber.name }}, from {{ subscriber.attributes.city }}",
        "For {{ subscriber.name }}",
    )
    plain = compiled.render(NAMELESS)
    encoded = compiled.render_encoded(NAMELESS)  # the campaign send path (quoted-printable)
    for text in (
        plain.subject,
        plain.html,
        plain.text,
        encoded.subject,
        _decoded(encoded.html),
        _decoded(encoded.text),
    ):
        assert "None" not in text
    assert plain.subject == "Hi , news" and "<p>Hi ,</p><p>||</p>" in plain.html
    assert "<p>Hi ,</p><p>||</p>" in _decoded(encoded.html) and _decoded(encoded.text).startswith("Hi , from")


def test_a_fallback_greets_a_subscriber_without_a_name_and_the_name_wins_when_there_is_one():
    source = "Hi {{ subscriber.name or 'there' }}, {{ 'Dear ' ~ subscriber.name }}|{{ '{}'.format(subscriber.name) }}"
    assert render_once("s", source, None, None, NAMELESS).html == "Hi there, Dear |"
    named = {**NAMELESS, "subscriber": {**NAMELESS["subscriber"], "name": "Ann"}}
    assert render_once("s", source, None, None, named).html == "Hi Ann, Dear Ann|Ann"


def _variable_design(fallback: str) -> dict:
    return {
        "version": 1,
        "blocks": [
            {"id": "v", "type": "variable", "props": {"name": "subscriber.name", "fallback": fallback}},
            {"id": "f", "type": "footer", "props": {}},
        ],
    }


def test_the_variable_block_compiles_to_the_value_or_its_fallback():
    compiled = compile_design(_variable_design("there"))
    assert "{{ subscriber['name'] or \"there\" }}" in compiled.text
    out = render_once("s", compiled.html, compiled.text, None, NAMELESS)
    assert ">there<" in out.html.replace("\n", "") or "there" in out.html
    assert out.text.startswith("there")


@pytest.mark.parametrize(
    "fallback", ['x"}} {{ 7*7 }}', "it's {% if 1 %}y{% endif %}", '\\" }}{{ subscriber.email }}', "<b>é 😀</b> {# #}"]
)
def test_a_hostile_fallback_stays_literal_text(fallback):
    compiled = compile_design(_variable_design(fallback))
    out = render_once("s", compiled.html, compiled.text, None, NAMELESS)
    assert out.text.splitlines()[0] == fallback
    assert "49" not in out.html and "a@example.com" not in out.html and "<b>" not in out.html


# -- loops and time --------------------------------------------------------------------------------


LOOPS = [
    "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",  # nested loops over strings
    "{% for k, v in big.items() %}{% for c in s %}{% endfor %}{% endfor %}",  # dict items
    "{% for i in range(150000) %}{% for j in range(150000) %}{% endfor %}{% endfor %}",
    "{% for x in s|select %}{% for y in s|reject('none') %}{% endfor %}{% endfor %}",  # generators
    "{{ s|list|map('upper')|map('lower')|join }}{{ s|list|map('upper')|join }}{{ s|list|join }}",
    "{% for x in tree recursive %}{% for c in s[:5000] %}{% endfor %}{{ loop(x.c) }}{% endfor %}",
    "{% macro m(n) %}{% for i in 'abcdefghij' %}{{ m(n - 1) if n > 0 }}{% endfor %}{% endmacro %}{{ m(9) }}",
    "{% set l = s|list %}{% for x in l %}{{ l|length }}{% endfor %}{% for x in l %}{{ x }}{% endfor %}",
]


def _tree(levels: int) -> dict:
    node = {"c": []}
    for _ in range(levels):
        node = {"c": [node] * 10}
    return node


@pytest.mark.parametrize("source", LOOPS)
def test_every_kind_of_loop_is_counted_and_stopped_with_a_sentence(source):
    ctx = {**NAMELESS, "s": "a" * 100_000, "big": {i: i for i in range(1000)}, "tree": [_tree(4)]}
    started = time.monotonic()
    with pytest.raises(TemplateProblem) as caught:
        render_once("s", source, None, None, ctx)
    assert time.monotonic() - started < 2.5
    assert caught.value.message.startswith("This template") and "check the loops" in caught.value.message.lower()


def test_a_render_that_runs_past_its_deadline_stops_even_outside_the_main_thread():
    # Few loop steps, each slow (searching a megabyte): only the clock stops this one, and a
    # worker thread has no SIGALRM.
    source = "{% for i in range(90000) %}{{ s.count('ab') }}{% endfor %}"
    compiled = CompiledMessage("s", source, "text", None)
    context = {**NAMELESS, "s": "a" * 1_000_000}
    outcome = {}

    def send():
        started = time.monotonic()
        try:
            compiled.render_encoded(context)
        except RenderLimitError as exc:
            outcome["error"] = str(exc)
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=send)
    worker.start()
    worker.join(30)
    assert outcome["error"] == "This template took too long to render (over 2 s): check the loops in it."
    assert outcome["seconds"] < 4  # 2 s, and at most CHECK_EVERY steps more (a loaded machine is slower)


def test_each_message_gets_a_fresh_budget():
    compiled = CompiledMessage("s", "{% for i in range(150000) %}{% endfor %}ok", "text", None)
    for _ in range(3):  # 450,000 steps in all, 150,000 a message
        assert compiled.render(NAMELESS).html == "ok"


def test_ordinary_templates_are_unaffected():
    source = (
        "{% for i in range(3) %}{{ loop.index }}{{ ',' if not loop.last }}{% endfor %} "
        "{{ 'Total: %.2f'|format(12.5) }} {{ '{:>6}'.format('x') }} {{ 'ab'.center(6, '*') }} "
        "{{ [1, 2, 3]|join('-') }} {{ 'a b c'|replace(' ', '_') }} {{ 'x'.ljust(3, '.') }} {{ 'hi'|center(6) }}|"
    )
    assert (
        render_once("s", source, None, None, NAMELESS).html
        == "1,2,3 Total: 12.50      x **ab** 1-2-3 a_b_c x..   hi  |"
    )


# -- sizes -----------------------------------------------------------------------------------------

HOSTILE = [
    "{{ 'a'.ljust(10**8) }}",
    "{{ 'a'.rjust(100000000) }}",
    "{{ 'a'.center(10**8) }}",
    "{{ 'a'.zfill(10**8) }}",
    "{{ ('\t' * 100000).expandtabs(1000) }}",
    "{{ ('a' * 100000).replace('a', 'b' * 1000) }}",
    "{{ ('a' * 100000).replace('', 'bbbbbbbbbbbbbbbbbbbb') }}",
    "{{ '{:>100000000}'.format('a') }}",
    "{{ '{:>{w}}'.format('a', w=10**8) }}",
    "{{ '{:>100000000}'|format }}{{ '%100000000s'|format('a') }}",
    "{{ '%*s'|format(10**8, 'a') }}",
    "{{ '%100000000s' % 'a' }}",
    "{{ 'a'|center(10**8) }}",
    "{{ ('a\n' * 50000)|indent(1000) }}",
    "{{ ('a ' * 50000)|wordwrap(1, wrapstring='x' * 1000) }}",
    "{{ ('a' * 100000)|replace('a', 'bb' * 100) }}",
    "{{ range(100000)|join('x' * 100000) }}",
    "{{ ('x' * 100000).join(('a' * 1000)|list) }}",
    "{% set s = 'a' * 100000 %}{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}{{ s }}",
    "{% set s = 'a' * 100000 %}{% set s = s + s %}{% set s = s + s %}{% set s = s + s %}{% set s = s + s %}",
    "{% set s = 'a' * 100000 %}{% set l = [s, s, s, s, s, s, s, s, s, s, s] %}{{ l }}",
    "{% set s = 'a' * 100000 %}{{ [s] * 100 }}",
    "{{ ('a' * 99999).translate({97: 'b' * 100}) }}",
    "{{ ('{0}' * 30000).format('x' * 100) }}",
    "{{ ('%(a)s' * 20000)|format(a='x' * 100) }}",
    "{{ lipsum(10**6) }}",
    "{{ [1]|batch(10**8, 'x')|list }}",
    "{{ [1]|slice(10**8)|list }}",
    "{{ {'a': 'a' * 1000}|tojson(indent=10**6) }}",
    "{{ 9 ** 99 ** 99 }}",
    "{% set x = 10**100 %}{% set x = x*x %}{% set x = x*x %}{% set x = x*x %}{% set x = x*x %}{% set x = x*x %}{% set x = x*x %}{{ x }}",
    "{% for i in range(199000) %}" + "x" * 100 + "{% endfor %}",  # the output limit
    "{% set s = 'a' * 100000 %}" + "{{ s }}" * 30,
]


@pytest.mark.parametrize("source", HOSTILE)
def test_a_hostile_expression_is_refused_quickly_with_bounded_memory_and_a_sentence(source):
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateProblem) as caught:
            render_once("s", source, None, None, NAMELESS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 1.5  # (under tracemalloc; about ten times faster without)
    assert peak < 3 * MAX_OUTPUT + 20_000_000
    message = caught.value.message
    assert message.startswith("This ") and message.endswith(".") and "Error" not in message


def test_limit_problems_name_the_field_and_let_data_errors_pass():
    problems = limit_problems(
        [
            ("subject", "{{ 'a'.ljust(10**8) }}", False),
            ("body_html", "{{ 1 / 0 }}{{ missing.deeper }}", True),  # the sample's shortcomings, not the size
            ("body_text", "fine", False),
        ],
        NAMELESS,
    )
    assert problems == {
        "subject": "This template asks for a width of 100,000,000 (at most 1,000): use smaller widths, counts and repeats."
    }
