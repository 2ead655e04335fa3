"""The design compiler through the JSON API: check and render a design."""

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
