"""A design stored through the API whose text holds a string literal of markup in `{{ }}` (valid
Jinja: the email escapes it) is opened in the builder in Chromium: the canvas shows the expression
as text, and htmx never acts on it, so no request leaves for the target the markup names and no
webhook endpoint is created with the marketer's session."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.models import WebhookEndpoint
from tests.e2e.test_marketer_journeys import sign_in

pytestmark = pytest.mark.e2e


def hostile_expressions(receiver: str) -> list[str]:
    """What an attacker with an API key could store: htmx that fires on load, a handler, a switch."""
    vals = '{"url": "' + receiver + '", "description": "planted", "events": "all"}'
    vals = vals.replace('"', "&#34;")  # the attribute's quotes, as markup spells them
    return [
        "{{ \"<div hx-post='/settings/webhooks/new' hx-vals='" + vals + "' hx-trigger='load'></div>\" }}",
        '{{ "<img src=x onerror=alert(1)>" }}',
        "{{ '<a hx-post=\"/workspaces/switch\" hx-trigger=\"load\">' ~ 'x' }}",
    ]


def test_markup_in_a_stored_designs_expression_is_shown_as_text_and_never_acted_on(
    desktop, live_server, workspace, api, httpserver, screenshot
):
    page, origin = desktop, live_server
    exprs = hostile_expressions(httpserver.url_for("/planted"))
    design = {
        "version": 1,
        "blocks": [
            {"id": "h", "type": "header", "props": {"text": "Spring sale"}},
            {"id": "t", "type": "text", "props": {"text": "Hi " + " ".join(exprs)}},
            {"id": "f", "type": "footer", "props": {}},
        ],
    }
    stored = api.post("/designs", json={"name": "Planted", "subject": "Hello", "design": design})
    assert stored.status_code == 201, stored.json

    requests: list[str] = []
    sign_in(page, origin)
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    page.goto(f"{origin}/templates/{stored.json['id']}/builder")
    expect(page.locator("#hb-builder")).to_have_attribute("data-ready", "true")

    # The canvas shows each expression as the text typed, as chips.
    chips = page.locator("#hb-canvas .hb-t-text .hb-expr")
    expect(chips).to_have_count(3)
    for i, expr in enumerate(exprs):
        expect(chips.nth(i)).to_have_text(expr)
    expect(page.locator("#hb-canvas [hx-post], #hb-canvas img")).to_have_count(0)

    # A save swaps a fresh canvas in: htmx must ignore that too.
    page.locator("#hb-canvas .hb-block[data-type=header]").click()
    page.locator("#hb-panel-form").get_by_label("Text", exact=True).fill("Spring sale, again")
    expect(page.locator("#hb-status")).to_have_attribute("data-state", "saved", timeout=10_000)
    expect(chips).to_have_count(3)
    page.wait_for_timeout(500)  # an hx-trigger="load" would have fired by now
    screenshot(page, "builder-canvas-markup-as-text", full_page=False)

    assert not [r for r in requests if "/settings/webhooks" in r or "/workspaces/switch" in r], requests
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0
