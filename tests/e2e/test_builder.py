"""A marketer builds an email in the visual builder, in Chromium: drags blocks from the palette,
reorders them, drops into a column, edits a block and sees the canvas change, previews on a
phone, reloads and finds it as they left it, and sends a test that arrives with the blocks in
that order."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CaughtMessage, Template
from app.services.delivery.outbox import parse_caught
from tests.e2e.test_marketer_journeys import heading, sign_in

pytestmark = pytest.mark.e2e

TOP = "#hb-canvas .hb-email-body > .hb-list > .hb-block"


def top_types(page) -> list[str]:
    return page.eval_on_selector_all(TOP, "els => els.map(e => e.dataset.type)")


def wait_saved(page):
    expect(page.locator("#hb-status")).to_have_attribute("data-state", "saved", timeout=10_000)


def drag(page, source, target, where: str = "below"):
    """Press on `source`, move in steps (Sortable's fallback follows real mouse moves) over the upper
    or lower part of `target`, and release once the placeholder stands on that side of it, as a
    person watching the placeholder would. Where Sortable first puts the placeholder depends on the
    path the pointer took; passing through the middle of `target` moves it to the other side."""
    source.scroll_into_view_if_needed()
    s = source.bounding_box()
    page.mouse.move(s["x"] + s["width"] / 2, s["y"] + s["height"] / 2)
    page.mouse.down()
    page.mouse.move(s["x"] + s["width"] / 2 + 8, s["y"] + s["height"] / 2 + 8, steps=4)
    t = target.bounding_box()
    x, middle = t["x"] + t["width"] / 2, t["y"] + t["height"] / 2
    edge = t["y"] + (t["height"] * (0.93 if where == "below" else 0.07))
    page.mouse.move(x, edge, steps=20)
    page.mouse.move(x, edge + (2 if where == "below" else -2), steps=4)
    for _ in range(3):
        if placeholder_is(target, where):
            break
        page.mouse.move(x, middle, steps=6)
        page.mouse.move(x, edge, steps=6)
    page.mouse.up()


def placeholder_is(target, where: str) -> bool:
    """Sortable's placeholder (.sortable-ghost) stands just above or below `target`, or inside it
    (an empty list)."""
    return target.evaluate(
        """(t, where) => {
            const ghost = document.querySelector('#hb-canvas .sortable-ghost');
            if (!ghost || t.contains(ghost)) return true;
            return (where === 'below' ? t.nextElementSibling : t.previousElementSibling) === ghost;
        }""",
        where,
    )


def test_marketer_builds_an_email_by_drag_and_drop_and_sends_a_test(app, desktop, stack, workspace, screenshot):
    page, origin = desktop, stack
    sign_in(page, origin)

    # Templates → New visual template → Start blank: the builder opens with a heading, a text and a footer.
    page.locator("nav[aria-label='Main navigation']").get_by_role("link", name=re.compile(r"Templates$")).click()
    page.get_by_role("link", name="New visual template").first.click()
    expect(heading(page)).to_have_text("New visual template")
    page.get_by_label("Template name").fill("Spring launch")
    page.get_by_role("button", name="Start blank").click()
    expect(page.locator("#hb-builder")).to_have_attribute("data-ready", "true")
    assert top_types(page) == ["section", "footer"]
    column = page.locator("#hb-canvas .hb-t-column").first

    def column_types():
        return column.locator(":scope > .hb-list > .hb-block").evaluate_all("els => els.map(e => e.dataset.type)")

    assert column_types() == ["header", "text"]

    # Drag a button from the palette under the heading.
    drag(page, page.locator(".hb-palette-item[data-type=button]"), column.locator(".hb-block[data-type=header]"))
    wait_saved(page)
    assert column_types() == ["header", "button", "text"]

    # Drag the text above the heading (reorder).
    drag(page, column.locator(".hb-block[data-type=text]"), column.locator(".hb-block[data-type=header]"), "above")
    wait_saved(page)
    assert column_types() == ["text", "header", "button"]

    # Add two columns above the footer, then drop an image into the second column.
    drag(page, page.locator(".hb-palette-item[data-type=section]"), page.locator(f"{TOP}[data-type=footer]"), "above")
    wait_saved(page)
    assert top_types(page) == ["section", "section", "footer"]
    second_column = page.locator(f"{TOP}[data-type=section]").nth(1).locator(".hb-t-column").nth(1)
    drag(page, page.locator(".hb-palette-item[data-type=image]"), second_column.locator(".hb-block").first)
    wait_saved(page)
    expect(second_column.locator(".hb-block[data-type=image]")).to_have_count(1)

    # Select the heading and retype it: the canvas follows as they type.
    header = column.locator(".hb-block[data-type=header]")
    header.click()
    field = page.locator("#hb-panel-form").get_by_label("Text", exact=True)
    field.fill("Spring is here, {{ subscriber.name }}")
    expect(header.locator(".hb-view")).to_have_text("Spring is here, {{ subscriber.name }}")
    wait_saved(page)

    # A colour that is not one gets an error under the field, and nothing is saved.
    page.locator("#hb-panel-form").get_by_label("Colour", exact=True).fill("#12")
    expect(page.locator('[data-error-for="color"]')).to_contain_text("is not a colour")
    expect(page.locator("#hb-status")).to_have_attribute("data-state", "error")
    page.locator("#hb-panel-form").get_by_label("Colour", exact=True).fill("#123456")
    wait_saved(page)

    # Keyboard: the selected heading moves up with Alt+↑, and Ctrl+Z takes it back.
    header.focus()
    page.keyboard.press("Alt+ArrowUp")
    wait_saved(page)
    assert column_types() == ["header", "text", "button"]
    column.locator(".hb-block[data-type=header]").focus()
    page.keyboard.press("Control+z")
    wait_saved(page)
    assert column_types() == ["text", "header", "button"]
    screenshot(page, "builder-desktop", full_page=False)

    # Mobile preview: the email fits a 375 px phone without sideways scrolling.
    page.get_by_text("Mobile", exact=True).click()
    frame_el = page.locator("iframe.hb-preview-frame.mobile")
    expect(frame_el).to_be_visible()
    frame = frame_el.content_frame
    expect(frame.locator("body")).to_contain_text("Spring is here, Jane Doe")
    width = frame.locator("html").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width[0] <= width[1], width
    expect(page.locator(".hb-inbox")).to_contain_text("A subject people will open")
    screenshot(page, "builder-mobile-preview", full_page=False)
    page.get_by_text("Edit", exact=True).click()

    # Reload: the design is as they left it.
    page.reload()
    expect(page.locator("#hb-builder")).to_have_attribute("data-ready", "true")
    assert top_types(page) == ["section", "section", "footer"]
    assert column_types() == ["text", "header", "button"]
    expect(column.locator(".hb-block[data-type=header] .hb-view")).to_have_text("Spring is here, {{ subscriber.name }}")

    # Send a test: it arrives with the blocks in this order.
    page.get_by_role("button", name="Send test").first.click()
    dialog = page.locator("#hb-test-form")
    dialog.get_by_label("To", exact=True).fill("qa@example.com")
    dialog.get_by_label("From address").fill("news@acme.example.com")
    dialog.get_by_role("button", name="Send test").click()
    expect(page.locator("#hb-test-result")).to_contain_text("qa@example.com: sent")

    with app.app_context():
        tpl = db.session.scalar(select(Template).where(Template.name == "Spring launch"))
        assert tpl.template_type == "visual" and tpl.version >= 2
        caught = None
        for _ in range(50):
            caught = db.session.scalar(select(CaughtMessage).order_by(CaughtMessage.id.desc()))
            if caught:
                break
            page.wait_for_timeout(100)
        assert caught is not None, "the test message never reached the outbox"
        msg = parse_caught(caught)
        assert dict(msg["headers"])["Subject"].startswith("[Test] ")
        html = msg["html"]
        order = [
            html.index("start writing your email here"),  # the blank design's paragraph, now first
            html.index("Spring is here, Jane Doe"),
            html.index("Shop now"),
            html.index("Right column"),
            html.index("Unsubscribe"),
        ]
        assert order == sorted(order), order


def test_the_keyboard_moves_a_block_into_a_column_without_dragging(app, desktop, live_server, workspace):
    """What drag does, the keyboard does too: select a block, choose where it goes, Alt+↑ to place it."""
    from app.services.content import templates

    design = {
        "version": 1,
        "blocks": [
            {"id": "intro", "type": "text", "props": {"text": "Move me into the second column"}},
            {
                "id": "cols",
                "type": "section",
                "children": [
                    {"id": "c1", "type": "column", "children": [{"id": "l", "type": "text", "props": {"text": "L"}}]},
                    {"id": "c2", "type": "column", "children": [{"id": "r", "type": "text", "props": {"text": "R"}}]},
                ],
            },
            {"id": "foot", "type": "footer", "props": {}},
        ],
    }
    with app.app_context():
        tpl = templates.create_template(
            workspace.id,
            {"name": "Keyboard", "subject": "Hi", "template_type": "visual", "design": design},
        )
        db.session.commit()
        tpl_id = tpl.id
    page = desktop
    sign_in(page, live_server)
    page.goto(f"{live_server}/templates/{tpl_id}/builder")
    expect(page.locator("#hb-builder")).to_have_attribute("data-ready", "true")

    page.locator("#hb-canvas .hb-block[data-id=intro]").focus()
    page.keyboard.press("Enter")
    move = page.locator("#hb-panel-form").get_by_label("Move to")
    expect(move).to_be_visible()
    move.select_option(label="Columns 2 › Column 2")
    wait_saved(page)
    col2 = page.locator("#hb-canvas .hb-block[data-id=c2] > .hb-list > .hb-block")
    expect(col2).to_have_count(2)
    assert col2.evaluate_all("els => els.map(e => e.dataset.id)") == ["r", "intro"]
    page.keyboard.press("Alt+ArrowUp")
    wait_saved(page)
    assert col2.evaluate_all("els => els.map(e => e.dataset.id)") == ["intro", "r"]
    assert top_types(page) == ["section", "footer"]
