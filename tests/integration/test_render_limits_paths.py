"""A subscriber without a name and a hostile template, on every path a template takes: saved
through the API (code and design), previewed, shown in the builder, and sent through a real
SMTP server. No "None", no 500, and a sentence quickly for what goes past a limit."""

import json
import re
import time

import pytest

from app.extensions import db
from app.services.audience import contacts
from app.services.campaigns import drafts, lifecycle
from app.services.content import templates
from app.services.delivery import providers
from app.services.errors import ValidationError
from tests.integration.test_api import assert_error

GREETING_HTML = """<!doctype html><html><body>
<p>Hi {{ subscriber.name or 'there' }},</p>
<p>Dear {{ subscriber.name }},</p>
<p>Wide: [{{ 'x'.ljust(subscriber.attributes.width|default(0)) }}]</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""

HOSTILE = [
    "{{ 'a'.ljust(10**8) }}",
    "{{ '{:>100000000}'.format('a') }}",
    "{{ '%100000000s'|format('a') }}",
    "{{ 'a'|center(10**8) }}",
    "{{ ('a' * 100000).replace('a', 'b' * 1000) }}",
    "{% for a in 'a' * 100000 %}{% for b in 'a' * 100000 %}{% endfor %}{% endfor %}",
]


def _design(text: str) -> dict:
    return {
        "version": 1,
        "blocks": [
            {"id": "t", "type": "text", "props": {"text": text}},
            {"id": "f", "type": "footer", "props": {}},
        ],
    }


@pytest.mark.parametrize("expression", HOSTILE)
def test_a_hostile_expression_is_refused_with_a_sentence_when_saved_through_the_api(api, expression):
    started = time.monotonic()
    attempts = [
        api.post("/designs", json={"name": "D", "subject": "S", "design": _design(f"<p>{expression}</p>")}),
        api.post(
            "/templates",
            json={"name": "C", "subject": "S", "body_html": f"<p>{expression}</p>{{{{ unsubscribe_url }}}}"},
        ),
        api.post("/templates", json={"name": "C", "subject": expression, "body_html": "<p>{{ unsubscribe_url }}</p>"}),
    ]
    assert time.monotonic() - started < 6  # three saves, each stopped well within a second of rendering
    for resp in attempts:
        error = assert_error(resp, 422, "invalid")
        assert "Error" not in error["message"]
        # (A design's text takes {{ expressions }} only: a {% for %} is refused before it is rendered.)
        if not (resp is attempts[0] and expression.startswith("{%")):
            assert error["message"].startswith("This template"), error
    assert api.get("/templates").json["total"] == 0


def test_template_validation_names_the_field_that_goes_past_a_limit(workspace):
    with pytest.raises(ValidationError) as caught:
        templates.create_template(
            workspace.id,
            {"name": "T", "subject": "Hi", "body_html": "<p>{{ unsubscribe_url }}</p>", "body_text": HOSTILE[0]},
        )
    assert caught.value.fields == {
        "body_text": "This template asks for a width of 100,000,000 (at most 1,000): use smaller widths, counts and repeats."
    }


def test_a_preview_greets_the_nameless_and_refuses_a_value_past_a_limit_with_a_sentence(api):
    tpl = api.post("/templates", json={"name": "G", "subject": "Hi {{ subscriber.name }}", "body_html": GREETING_HTML})
    assert tpl.status_code == 201, tpl.json
    url = f"/templates/{tpl.json['id']}/preview"
    nameless = api.post(url, json={"context": {"subscriber": {"name": None}}})
    assert nameless.status_code == 200, nameless.json
    assert "Hi there," in nameless.json["html"] and "Dear ," in nameless.json["html"]
    assert "None" not in json.dumps(nameless.json)
    started = time.monotonic()
    wide = api.post(url, json={"context": {"subscriber": {"attributes": {"width": 10**8}}}})
    assert time.monotonic() - started < 1
    error = assert_error(wide, 422)
    assert "width of 100,000,000" in error["message"] and "SecurityError" not in error["message"]


def test_the_send_path_greets_the_nameless_and_fails_only_the_recipient_past_a_limit(workspace, smtp_sink, worker):
    lst = contacts.create_list(workspace.id, "Customers")
    rows = [{"email": "named@example.com", "name": "Ann"}, {"email": "nameless@example.com"}]
    rows += [{"email": f"p{i}@example.com", "name": f"P {i}"} for i in range(4)]
    rows += [
        {"email": "wide@example.com", "name": "Wide", "attributes": {"width": 10**8}}
    ]  # after the preflight sample
    contacts.import_subscribers(workspace.id, rows, [lst.id])
    prov = providers.create_provider(
        workspace.id, "Sink", "smtp", {"host": "127.0.0.1", "port": smtp_sink.port}, {}, is_default=True
    )
    tpl = templates.create_template(
        workspace.id, {"name": "G", "subject": "Hi {{ subscriber.name }}", "body_html": GREETING_HTML}
    )
    camp = drafts.create_campaign(
        workspace.id,
        {
            "name": "Greeting",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Acme",
            "from_email": "news@shop.example.com",
            "provider_id": prov.id,
        },
    )
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    started = time.monotonic()
    worker()
    assert time.monotonic() - started < 30

    by_address = {m["rcpt_tos"][0]: m["message"] for m in smtp_sink.messages}
    assert "wide@example.com" not in by_address and len(by_address) == 6
    nameless = by_address["nameless@example.com"]
    html = nameless.get_body(("html",)).get_content()
    text = nameless.get_body(("plain",)).get_content()
    assert nameless["Subject"] == "Hi"  # "Hi " with nothing after it, trimmed
    assert "Hi there," in html and "Dear ," in html and "Hi there," in text
    assert "None" not in html + text + nameless["Subject"]
    assert "Hi Ann," in by_address["named@example.com"].get_body(("html",)).get_content()

    reasons = {r.email: (r.status, r.reason) for r in db.session.scalars(drafts.recipients_query(camp.id))}
    status, reason = reasons["wide@example.com"]
    assert status == "failed" and "width of 100,000,000" in reason
    assert "SecurityError" not in reason and "RenderLimitError" not in reason


# -- the builder's Name button ---------------------------------------------------------------------


@pytest.fixture
def hx(client):
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    return lambda path, data: client.post(path, data=data, headers={"HX-Request": "true", "X-CSRFToken": token})


def test_the_builders_name_button_inserts_the_name_with_a_fallback(workspace, hx):
    design = _design("<p>Hello</p>")
    tpl = templates.create_template(
        workspace.id, {"name": "B", "subject": "S", "template_type": "visual", "design": design}
    )
    db.session.commit()
    r = hx(f"/templates/{tpl.id}/builder/panel", {"design": json.dumps(design), "block": "t"})
    assert r.status_code == 200
    button = re.search(r'<button[^>]*data-insert="([^"]*)"[^>]*>', r.get_data(as_text=True))
    assert button.group(1) == "{{ subscriber.name or &#39;there&#39; }}"
    # What it inserts renders "there" for a subscriber without a name.
    inserted = _design("<p>Hi {{ subscriber.name or 'there' }},</p>")
    saved = templates.update_template(workspace.id, tpl.id, {"design": inserted})
    out = templates.preview(
        "http://herald.test", "S", saved.body_html, saved.body_text, None, {"subscriber": {"name": ""}}
    )
    assert "Hi there," in out["html"] and "Hi there," in out["text"]
