"""Designs through the JSON API: the compiler (check, render), visual templates stored as designs
(versions, preview, test send, conversion to code) and saved blocks."""

import copy
import json

import pytest

from app.extensions import db
from app.services.audience import contacts
from app.services.content import saved_blocks, templates
from tests.conftest import TEMPLATE_HTML
from tests.integration.test_api import assert_error, patch

# `document` and `conforms` (the OpenAPI document and the answer-checker) come from tests/conftest.py.

DESIGN = {
    "version": 1,
    "settings": {"backgroundColor": "#f8f9fa", "width": 600, "fontFamily": "Arial, sans-serif"},
    "blocks": [
        {
            "id": "b1",
            "type": "hero",
            "props": {
                "title": "Welcome!",
                "subtitle": "Get started",
                "buttonText": "Learn more",
                "buttonHref": "https://example.com/docs",
            },
        },
        {
            "id": "b2",
            "type": "text",
            "props": {"text": "Hello {{ subscriber.name }}! <script>alert(1)</script>", "color": "#333333"},
        },
        {"id": "b3", "type": "footer", "props": {"text": "Acme, 1 Main St"}},
    ],
}


def test_a_design_renders_to_html_and_text_with_jinja_kept_for_sending(api):
    r = api.post("/designs/render", json={"design": DESIGN, "category": "marketing"})
    assert r.status_code == 200, r.json
    body = r.json
    assert "Welcome!" in body["html"] and "{{ subscriber.name" in body["html"] and "<script" not in body["html"]
    assert "unsubscribe_url" in body["html"] and "Welcome!" in body["text"]
    assert body["size_bytes"] > 1000 and isinstance(body["warnings"], list)
    assert body["mjml"].startswith("<mjml")


def test_an_invalid_design_names_the_block_and_field(api):
    bad = {"version": 1, "blocks": [{"id": "b1", "type": "text", "props": {"text": "x", "color": "#12"}}]}
    r = api.post("/designs/validate", json={"design": bad})
    assert r.status_code == 422
    assert "blocks.b1.props.color" in r.json["error"]["fields"]


def test_a_marketing_design_without_unsubscribe_is_refused(api):
    design = {"version": 1, "blocks": [{"id": "b1", "type": "text", "props": {"text": "Buy now"}}]}
    r = api.post("/designs/render", json={"design": design, "category": "newsletter"})
    assert r.status_code == 422 and "unsubscribe" in r.json["error"]["message"]
    assert api.post("/designs/render", json={"design": design, "category": "transactional"}).status_code == 200


def test_designs_need_an_api_key(app, workspace):
    assert app.test_client().post("/api/v1/designs/render", json={"design": DESIGN}).status_code == 401


# Designs stored as visual templates ---------------------------------------------------------------


def normalized(api, design: dict) -> dict:
    r = api.post("/designs/validate", json={"design": design})
    assert r.status_code == 200, r.json
    return r.json["design"]


def make_design(api, conforms, design=DESIGN, **fields) -> dict:
    body = {"name": "Welcome", "subject": "Hi {{ subscriber.name }}", "design": design, **fields}
    return conforms(api.post("/designs", json=body), "Design", 201)


def with_text(design: dict, text: str) -> dict:
    changed = copy.deepcopy(design)
    changed["blocks"][1]["props"]["text"] = text
    return changed


def test_a_design_round_trips_through_its_template_and_survives_conversion_to_code(api, conforms):
    expected = normalized(api, DESIGN)
    assert expected["blocks"][1]["props"]["fontSize"] == 16  # defaults filled in
    created = make_design(api, conforms, preview_text="Start here", category="newsletter")
    assert created["design"] == expected and created["template_type"] == "visual" and created["version"] == 1
    assert created["preview_text"] == "Start here" and created["category"] == "newsletter"
    assert created["size_bytes"] > 1000 and isinstance(created["warnings"], list)

    shown = conforms(api.get(f"/designs/{created['id']}"), "Design")
    assert shown == created
    again = make_design(api, conforms, design=shown["design"], name="Welcome again")
    assert again["design"] == expected  # normalizing a normalized design changes nothing

    template = conforms(api.get(f"/templates/{created['id']}"), "Template")
    assert template["template_type"] == "visual" and template["design"] == expected and template["version"] == 1
    rendered = api.post("/designs/render", json={"design": expected}).json
    assert template["body_html"] == rendered["html"] and template["body_text"] == rendered["text"]
    assert len(template["body_html"].encode()) == created["size_bytes"]

    page = conforms(api.get("/designs"), "DesignSummaryPage")
    assert page["total"] == 2 and "design" not in page["items"][0]
    make_template = api.post("/templates", json={"name": "Code", "subject": "S", "body_html": TEMPLATE_HTML})
    assert make_template.json["design"] is None and make_template.json["version"] == 1
    assert api.get("/designs").json["total"] == 2  # code templates are not designs
    assert api.get("/templates").json["total"] == 3

    converted = conforms(api.post(f"/designs/{created['id']}/convert"), "Template")
    assert converted["template_type"] == "code" and converted["version"] == 2
    assert converted["design"] == expected and converted["body_html"] == template["body_html"]
    kept = conforms(api.get(f"/templates/{created['id']}"), "Template")
    assert kept["design"] == expected and kept["body_html"] == rendered["html"]
    assert_error(api.post(f"/designs/{created['id']}/convert"), 409, "invalid_state")
    assert "not a visual template" in assert_error(api.get(f"/designs/{created['id']}"), 404)["message"]
    assert_error(api.post(f"/designs/{make_template.json['id']}/convert"), 404)
    assert api.get("/designs").json["total"] == 1


def test_visual_templates_are_made_and_changed_through_the_templates_api_too(api, conforms):
    expected = normalized(api, DESIGN)
    created = conforms(
        api.post("/templates", json={"name": "V", "subject": "S", "template_type": "visual", "design": DESIGN}),
        "Template",
        201,
    )
    assert created["design"] == expected and "Welcome!" in created["body_html"] and created["version"] == 1
    changed = conforms(
        patch(api, f"/templates/{created['id']}", json={"design": with_text(DESIGN, "Patched")}), "Template"
    )
    assert changed["version"] == 2 and "Patched" in changed["body_html"] and changed["template_type"] == "visual"
    replaced = conforms(
        api.put(f"/templates/{created['id']}", json={"name": "V", "subject": "New", "design": DESIGN}), "Template"
    )
    assert replaced["template_type"] == "visual" and replaced["design"] == expected and replaced["version"] == 3
    error = assert_error(patch(api, f"/templates/{created['id']}", json={"design": {"version": 1, "blocks": 3}}), 422)
    assert "blocks" in error["fields"]
    # A code template keeps no design sent along with it.
    code = api.post("/templates", json={"name": "C", "subject": "S", "body_html": TEMPLATE_HTML, "design": DESIGN})
    assert code.status_code == 201 and code.json["design"] is None and code.json["template_type"] == "code"
    assert patch(api, f"/templates/{code.json['id']}", json={"design": DESIGN}).json["design"] is None


def test_each_save_is_a_version_and_a_restore_brings_back_the_old_design_as_a_new_one(api, conforms):
    created = make_design(api, conforms)
    original = created["design"]
    saved = conforms(api.put(f"/designs/{created['id']}", json={"design": with_text(DESIGN, "Second")}), "Design")
    assert saved["version"] == 2 and saved["design"]["blocks"][1]["props"]["text"] == "Second"
    assert saved["name"] == "Welcome" and saved["subject"] == created["subject"]  # unchanged unless given
    same = conforms(api.put(f"/designs/{created['id']}", json={"design": saved["design"]}), "Design")
    assert same["version"] == 2  # nothing changed: no version
    third = conforms(
        api.put(f"/designs/{created['id']}", json={"design": saved["design"], "subject": "Third", "name": "Renamed"}),
        "Design",
    )
    assert third["version"] == 3 and third["subject"] == "Third" and third["name"] == "Renamed"

    versions = conforms(api.get(f"/designs/{created['id']}/versions"), "TemplateVersionSummaryPage")
    assert [v["number"] for v in versions["items"]] == [3, 2, 1] and versions["total"] == 3
    assert versions["items"][-1]["note"] == "Created" and versions["items"][0]["subject"] == "Third"
    assert versions["items"][0]["created_by"] is None  # an API key is nobody in particular
    first = conforms(api.get(f"/designs/{created['id']}/versions/1"), "TemplateVersion")
    assert first["design"] == original and "Hello {{ subscriber.name" in first["body_html"]
    assert_error(api.get(f"/designs/{created['id']}/versions/99"), 404)
    assert_error(api.post(f"/designs/{created['id']}/versions/99/restore"), 404)

    restored = conforms(api.post(f"/designs/{created['id']}/versions/1/restore"), "Design")
    assert restored["version"] == 4 and restored["design"] == original and restored["subject"] == created["subject"]
    assert restored["name"] == "Renamed"
    assert api.get(f"/designs/{created['id']}").json["design"] == original
    latest = api.get(f"/designs/{created['id']}/versions?per_page=1").json
    assert latest["total"] == 4 and latest["items"][0]["note"] == "Restored version 1"

    # The same history through /templates, where code templates have theirs.
    assert [v["number"] for v in api.get(f"/templates/{created['id']}/versions").json["items"]] == [4, 3, 2, 1]
    assert conforms(api.get(f"/templates/{created['id']}/versions/2"), "TemplateVersion")["design"] == saved["design"]
    code = api.post("/templates", json={"name": "C", "subject": "One", "body_html": TEMPLATE_HTML}).json
    patch(api, f"/templates/{code['id']}", json={"subject": "Two"})
    back = conforms(api.post(f"/templates/{code['id']}/versions/1/restore"), "Template")
    assert back["subject"] == "One" and back["version"] == 3 and back["design"] is None
    assert conforms(api.get(f"/templates/{code['id']}/versions/2"), "TemplateVersion")["subject"] == "Two"
    assert_error(api.get(f"/designs/{code['id']}/versions"), 404)  # a code template is not a design


def _nested(depth: int) -> dict:
    block = {"id": f"c{depth}", "type": "text", "props": {"text": "deep"}}
    for level in range(depth - 1, 0, -1):
        block = {"id": f"c{level}", "type": "container", "children": [block]}
    return block


def _design(*blocks) -> dict:
    return {"version": 1, "blocks": [*blocks, {"id": "foot", "type": "footer"}]}


BAD_DESIGNS = [
    (_design({"id": "b1", "type": "carousel"}), "blocks.b1.type"),
    (_design({"id": "b1", "type": "button", "props": {"text": "Go"}}), "blocks.b1.props.href"),
    (_design({"id": "b1", "type": "text", "props": {"text": "x", "color": "red"}}), "blocks.b1.props.color"),
    (_design({"id": "b1", "type": "text", "props": {"text": "x", "colour": "#ffffff"}}), "blocks.b1.props.colour"),
    (
        _design({"id": "b1", "type": "text", "props": {"text": "x"}, "children": [{"id": "b2", "type": "spacer"}]}),
        "blocks.b1.children",
    ),
    (_design({"id": "b1", "type": "spacer"}, {"id": "b1", "type": "divider"}), "blocks.b1.id"),
    (_design(_nested(8)), "blocks.c7"),
    (_design({"id": "col", "type": "column"}), "blocks.col.type"),
    (_design({"id": "b1", "type": "text", "props": {"text": "x" * 20_001}}), "blocks.b1.props.text"),
    (_design(*({"id": f"s{i}", "type": "spacer"} for i in range(501))), "blocks"),
    (_design({"id": "b1", "type": "text", "props": {"text": "{{ subscriber.name"}}), "blocks.b1.props.text"),
    ({"version": 2, "blocks": []}, "version"),
    ([{"id": "b1", "type": "text"}], "design"),
    ("<p>hello</p>", "design"),
]


@pytest.mark.parametrize("design,field", BAD_DESIGNS, ids=[f for _, f in BAD_DESIGNS])
def test_invalid_designs_answer_422_naming_the_block_and_field(api, design, field):
    existing = api.post("/designs", json={"name": "Ok", "subject": "S", "design": DESIGN}).json
    attempts = [
        api.post("/designs", json={"name": "Bad", "subject": "S", "design": design}),
        api.put(f"/designs/{existing['id']}", json={"design": design}),
        api.post("/templates", json={"name": "Bad", "subject": "S", "template_type": "visual", "design": design}),
        patch(api, f"/templates/{existing['id']}", json={"design": design}),
    ]
    for resp in attempts:
        error = assert_error(resp, 422, "invalid")
        assert field in error["fields"], error
        assert len(json.dumps(error)) < 5000  # never echoes a huge value back
    assert api.get("/designs").json["total"] == 1
    assert api.get(f"/designs/{existing['id']}").json["version"] == 1


def test_a_marketing_design_needs_an_unsubscribe_link_and_a_transactional_one_does_not(api, conforms):
    design = {"version": 1, "blocks": [{"id": "b1", "type": "text", "props": {"text": "Your receipt"}}]}
    for category in (None, "marketing", "newsletter"):
        body = {"name": "R", "subject": "S", "design": design, **({"category": category} if category else {})}
        error = assert_error(api.post("/designs", json=body), 422, "invalid")
        assert "unsubscribe" in error["message"] and "blocks" in error["fields"]
    receipt = make_design(api, conforms, design=design, category="transactional")
    error = assert_error(api.put(f"/designs/{receipt['id']}", json={"design": design, "category": "marketing"}), 422)
    assert "unsubscribe" in error["message"]
    assert api.get(f"/designs/{receipt['id']}").json["category"] == "transactional"


def test_a_design_preview_is_personalized_with_sample_event_data(api, conforms, workspace):
    design = {
        "version": 1,
        "blocks": [
            {
                "id": "t1",
                "type": "text",
                "props": {"text": "Hello {{ subscriber.name }}, plan {{ subscriber.attributes.plan }}"},
            },
            {
                "id": "l1",
                "type": "loop",
                "props": {"items": "cart.items"},
                "children": [
                    {"id": "v1", "type": "variable", "props": {"name": "item.name"}},
                ],
            },
            {"id": "f1", "type": "footer"},
        ],
    }
    created = make_design(api, conforms, design=design, preview_text="For {{ subscriber.name }}")
    sample = conforms(api.post(f"/designs/{created['id']}/preview"), "DesignPreview")
    assert sample["subject"] == "Hi Jane Doe" and sample["preview_text"] == "For Jane Doe"
    assert "Hello Jane Doe, plan gold" in sample["html"] and "Linen shirt" in sample["html"]
    assert "Canvas tote" in sample["text"] and sample["size_bytes"] == len(sample["html"].encode())
    assert "{{" not in sample["html"] and "http://herald.test/u/sample" in sample["html"]

    sub = contacts.add_subscriber(workspace.id, "ana@example.com", name="Ana <b>", attributes={"plan": "silver"})
    db.session.commit()
    real = conforms(
        api.post(
            f"/designs/{created['id']}/preview",
            json={"subscriber_id": sub.id, "context": {"cart": {"items": [{"name": "Wool hat"}]}}},
        ),
        "DesignPreview",
    )
    assert "Hello Ana &lt;b&gt;, plan silver" in real["html"] and "Wool hat" in real["html"]
    assert "Linen shirt" not in real["html"]
    merged = api.post(
        f"/designs/{created['id']}/preview", json={"subscriber_id": sub.id, "context": {"subscriber": {"name": "Bo"}}}
    ).json
    assert "Hello Bo, plan silver" in merged["html"]
    assert_error(api.post(f"/designs/{created['id']}/preview", json={"subscriber_id": 99999}), 404)
    assert_error(api.post(f"/designs/{created['id']}/preview", json={"context": "x"}), 422)


def test_a_test_send_arrives_marked_with_the_blocks_in_order(api, conforms, smtp_sink, workspace):
    provider = api.post(
        "/providers",
        json={"name": "Sink", "provider_type": "smtp", "settings": {"host": "127.0.0.1", "port": smtp_sink.port}},
    ).json
    design = {
        "version": 1,
        "blocks": [
            {"id": "h", "type": "header", "props": {"text": "Alpha headline"}},
            {
                "id": "s",
                "type": "section",
                "children": [
                    {
                        "id": "c1",
                        "type": "column",
                        "children": [{"id": "t1", "type": "text", "props": {"text": "Bravo left"}}],
                    },
                    {
                        "id": "c2",
                        "type": "column",
                        "children": [{"id": "t2", "type": "text", "props": {"text": "Charlie right"}}],
                    },
                ],
            },
            {"id": "t3", "type": "text", "props": {"text": "Delta for {{ subscriber.name }}"}},
            {"id": "b", "type": "button", "props": {"text": "Echo button", "href": "https://example.com/e"}},
            {"id": "f", "type": "footer", "props": {"text": "Foxtrot footer"}},
        ],
    }
    created = make_design(api, conforms, design=design, subject="News for {{ subscriber.name }}")
    sub = contacts.add_subscriber(workspace.id, "gus@example.com", name="Gus")
    db.session.commit()
    result = conforms(
        api.post(
            f"/designs/{created['id']}/test",
            json={
                "emails": ["one@example.com", "Two@Example.com"],
                "from_email": "news@acme.example.com",
                "from_name": "Acme",
                "subscriber_id": sub.id,
                "provider_id": provider["id"],
            },
        ),
        "TestSendResult",
    )
    assert result["results"] == [
        {"email": "one@example.com", "ok": True, "detail": None},
        {"email": "two@example.com", "ok": True, "detail": None},
    ]
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["one@example.com", "two@example.com"]
    message = smtp_sink.messages[0]["message"]
    assert message["Subject"] == "[Test] News for Gus" and "news@acme.example.com" in message["From"]
    html = message.get_body(preferencelist=("html",)).get_content()
    words = ["Alpha headline", "Bravo left", "Charlie right", "Delta for Gus", "Echo button", "Foxtrot footer"]
    positions = [html.find(w) for w in words]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "Delta for Gus" in message.get_body(preferencelist=("plain",)).get_content()
    assert "/t/o/" not in html and "/t/c/" not in html  # a test is not tracked


def test_a_test_send_goes_through_the_default_outbox_and_refuses_bad_input(api, conforms, mail_catcher, workspace):
    from app.services.delivery import outbox

    created = make_design(api, conforms)
    url = f"/designs/{created['id']}/test"
    error = assert_error(api.post(url, json={"emails": ["a@example.com"]}), 422, "invalid")
    assert "from_email" in error["fields"]  # no campaign yet to take the sender from
    for emails in (["not an address"], [], ["a@example.com"] * 11, "a@example.com"):
        error = assert_error(api.post(url, json={"emails": emails, "from_email": "news@acme.example.com"}), 422)
        assert "emails" in error["fields"], (emails, error)
    assert_error(api.post(url, json={"emails": ["a@example.com"], "from_email": "nobody"}), 422)
    assert_error(api.post(url, json={"emails": ["a@example.com"], "from_email": "n@x.com", "provider_id": 99999}), 404)

    ok = conforms(
        api.post(url, json={"emails": ["a@example.com"], "from_email": "news@acme.example.com"}), "TestSendResult"
    )
    assert ok["results"] == [{"email": "a@example.com", "ok": True, "detail": None}]
    caught = list(db.session.scalars(outbox.list_caught(workspace.id)))
    assert len(caught) == 1 and caught[0].subject == "[Test] Hi Jane Doe"
    assert "Welcome!" in outbox.parse_caught(caught[0])["html"]


# Saved blocks -------------------------------------------------------------------------------------


def test_saved_blocks_are_created_listed_shown_changed_and_deleted(api, conforms):
    row = {
        "id": "row",
        "type": "section",
        "children": [
            {"id": "l", "type": "column", "children": [{"id": "t", "type": "text", "props": {"text": "Left"}}]},
            {
                "id": "r",
                "type": "column",
                "children": [{"id": "i", "type": "image", "props": {"src": "https://example.com/a.png"}}],
            },
        ],
    }
    created = conforms(api.post("/blocks", json={"name": "Two columns", "blocks": [row]}), "SavedBlock", 201)
    assert created["blocks"] == normalized(api, {"version": 1, "blocks": [row]})["blocks"]
    assert created["blocks"][0]["children"][0]["children"][0]["props"]["color"] == "#333333"
    one = conforms(
        api.post(
            "/blocks",
            json={
                "name": "A button",
                "block": {"id": "b", "type": "button", "props": {"text": "Go", "href": "https://example.com"}},
            },
        ),
        "SavedBlock",
        201,
    )
    assert [b["id"] for b in one["blocks"]] == ["b"]

    page = conforms(api.get("/blocks"), "SavedBlockPage")
    assert [b["name"] for b in page["items"]] == ["A button", "Two columns"] and page["total"] == 2
    assert conforms(api.get(f"/blocks/{created['id']}"), "SavedBlock") == created

    renamed = conforms(patch(api, f"/blocks/{one['id']}", json={"name": "Call to action"}), "SavedBlock")
    assert renamed["name"] == "Call to action" and renamed["blocks"] == one["blocks"]
    replaced = conforms(
        patch(
            api,
            f"/blocks/{one['id']}",
            json={"blocks": [{"id": "d", "type": "divider"}, {"id": "s", "type": "spacer"}]},
        ),
        "SavedBlock",
    )
    assert [b["type"] for b in replaced["blocks"]] == ["divider", "spacer"] and replaced["name"] == "Call to action"

    resp = api.delete(f"/blocks/{one['id']}")
    assert resp.status_code == 204 and resp.data == b""
    assert_error(api.get(f"/blocks/{one['id']}"), 404)
    assert_error(api.delete(f"/blocks/{one['id']}"), 404)
    assert api.get("/blocks").json["total"] == 1


BAD_BLOCKS = [
    ({"name": "Col", "blocks": [{"id": "c", "type": "column"}]}, "blocks.c.type"),
    ({"name": "Empty", "blocks": []}, "blocks"),
    ({"name": "Nothing"}, "blocks"),
    (
        {"name": "Bad", "block": {"id": "t", "type": "text", "props": {"text": "x", "color": "#12"}}},
        "blocks.t.props.color",
    ),
    ({"name": "Bad", "blocks": [{"id": "t", "type": "text"}]}, "blocks.t.props.text"),
    ({"name": "Bad", "blocks": ["text"]}, "blocks.0"),
    ({"name": "Dup", "blocks": [{"id": "a", "type": "spacer"}, {"id": "a", "type": "spacer"}]}, "blocks.a.id"),
    ({"name": "", "blocks": [{"id": "a", "type": "spacer"}]}, "name"),
    ({"name": "   ", "blocks": [{"id": "a", "type": "spacer"}]}, "name"),
    ({"blocks": [{"id": "a", "type": "spacer"}]}, "name"),
    ({"name": "X", "blocks": [{"id": "a", "type": "spacer"}], "extra": 1}, "extra"),
]


def test_bad_saved_blocks_are_refused_by_field(api):
    good = api.post("/blocks", json={"name": "Good", "blocks": [{"id": "a", "type": "spacer"}]}).json
    for body, field in BAD_BLOCKS:
        error = assert_error(api.post("/blocks", json=body), 422, "invalid")
        assert any(k == field or k.startswith(field) for k in error["fields"]), (body, error)
    for body, field in BAD_BLOCKS[:2] + BAD_BLOCKS[3:7]:
        error = assert_error(
            patch(api, f"/blocks/{good['id']}", json={k: v for k, v in body.items() if k != "name"}), 422
        )
        assert any(k == field or k.startswith(field) for k in error["fields"]), (body, error)
    assert_error(patch(api, f"/blocks/{good['id']}", json={}), 422)
    assert api.get("/blocks").json["total"] == 1
    assert api.get(f"/blocks/{good['id']}").json == good


# Tenancy and the document -------------------------------------------------------------------------


def test_another_workspaces_designs_and_blocks_answer_404_everywhere(api, make_workspace):
    ws = make_workspace("Other", "other@example.com")
    theirs = templates.create_template(
        ws.id, {"name": "T", "subject": "S", "template_type": "visual", "design": DESIGN}
    )
    block = saved_blocks.create_saved_block(ws.id, "Theirs", [{"id": "a", "type": "spacer"}])
    db.session.commit()
    t, b = theirs.id, block.id
    requests = [
        ("get", f"/designs/{t}", None),
        ("put", f"/designs/{t}", {"design": DESIGN}),
        ("post", f"/designs/{t}/preview", {}),
        ("post", f"/designs/{t}/convert", None),
        ("get", f"/designs/{t}/versions", None),
        ("get", f"/designs/{t}/versions/1", None),
        ("post", f"/designs/{t}/versions/1/restore", None),
        ("post", f"/designs/{t}/test", {"emails": ["a@example.com"], "from_email": "n@example.com"}),
        ("get", f"/templates/{t}", None),
        ("get", f"/templates/{t}/versions", None),
        ("get", f"/templates/{t}/versions/1", None),
        ("post", f"/templates/{t}/versions/1/restore", None),
        ("patch", f"/templates/{t}", {"design": DESIGN}),
        ("get", f"/blocks/{b}", None),
        ("patch", f"/blocks/{b}", {"name": "Mine"}),
        ("delete", f"/blocks/{b}", None),
    ]
    for method, path, body in requests:
        if method == "get" or method == "delete":
            resp = getattr(api, method)(path)
        elif method == "patch":
            resp = patch(api, path, body)
        else:
            resp = getattr(api, method)(path, json=body)
        error = assert_error(resp, 404, "not_found")
        assert "Other" not in json.dumps(error) and "Welcome!" not in resp.get_data(as_text=True), path
    db.session.expire_all()
    assert templates.get_template(ws.id, t).template_type == "visual" and theirs.version == 1
    assert saved_blocks.get_saved_block(ws.id, b).name == "Theirs"
    assert api.get("/designs").json["total"] == 0 and api.get("/blocks").json["total"] == 0
    # With a subscriber or provider of the other workspace, our own design answers 404 too.
    sub = contacts.add_subscriber(ws.id, "them@example.com")
    db.session.commit()
    mine = api.post("/designs", json={"name": "Mine", "subject": "S", "design": DESIGN}).json
    assert_error(api.post(f"/designs/{mine['id']}/preview", json={"subscriber_id": sub.id}), 404)


def test_every_design_and_block_operation_is_in_the_openapi_document(document):
    expected = {
        ("get", "/designs"),
        ("post", "/designs"),
        ("post", "/designs/validate"),
        ("post", "/designs/render"),
        ("get", "/designs/{design_id}"),
        ("put", "/designs/{design_id}"),
        ("post", "/designs/{design_id}/preview"),
        ("post", "/designs/{design_id}/convert"),
        ("post", "/designs/{design_id}/test"),
        ("get", "/designs/{design_id}/versions"),
        ("get", "/designs/{design_id}/versions/{number}"),
        ("post", "/designs/{design_id}/versions/{number}/restore"),
        ("get", "/templates/{template_id}/versions"),
        ("get", "/templates/{template_id}/versions/{number}"),
        ("post", "/templates/{template_id}/versions/{number}/restore"),
        ("get", "/blocks"),
        ("post", "/blocks"),
        ("get", "/blocks/{block_id}"),
        ("patch", "/blocks/{block_id}"),
        ("delete", "/blocks/{block_id}"),
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert expected <= documented, expected - documented
    ops = document["paths"]
    assert ops["/designs"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DesignCreate"
    }
    assert "content" not in ops["/blocks/{block_id}"]["delete"]["responses"]["204"]
    assert "409" in ops["/designs/{design_id}/convert"]["post"]["responses"]
    template_props = document["components"]["schemas"]["TemplateCreate"]["properties"]
    assert template_props["template_type"]["enum"] == ["code", "visual"] and "design" in template_props
    assert {"version", "design"} <= set(document["components"]["schemas"]["Template"]["required"])
