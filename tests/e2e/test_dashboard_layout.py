"""The dashboard's frame in Chromium, on a phone (375 px) and a desktop: page-header buttons never
sit on the title, the welcome toast never covers the primary button, and the dark sidebar runs to
the bottom of a tall page. Screenshots go to test-artifacts/screenshots/."""

import shutil

import pytest
from PIL import Image
from playwright.sync_api import expect

from app.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import DESKTOP, MOBILE, SCREENSHOTS
from tests.e2e.test_marketer_journeys import heading, sign_in

pytestmark = pytest.mark.e2e

TEMPLATE = """<!doctype html><html><body><h1>Hello {{ subscriber.name }}</h1>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


@pytest.fixture
def shop(workspace):
    """A list of 120 subscribers (a tall subscribers page), a template and a draft campaign with a long name."""
    from app.services.audience import contacts
    from app.services.campaigns import drafts
    from app.services.content import templates

    lst = contacts.create_list(workspace.id, "Spring newsletter subscribers")
    for n in range(120):
        contacts.add_subscriber(workspace.id, f"reader{n:03d}@example.com", f"Reader {n}", {}, [lst.id])
    tpl = templates.create_template(workspace.id, {"name": "Digest", "subject": "News", "body_html": TEMPLATE})
    db.session.flush()
    campaign = drafts.create_campaign(
        workspace.id,
        {
            "name": "Spring sale announcement for loyal customers",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Acme",
            "from_email": "news@acme.example.com",
        },
    )
    db.session.commit()
    return campaign


def box(locator) -> dict:
    locator.scroll_into_view_if_needed()
    b = locator.bounding_box()
    assert b, locator
    return b


def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes share any area (touching edges do not count)."""
    return (
        a["x"] < b["x"] + b["width"] - 0.5
        and b["x"] < a["x"] + a["width"] - 0.5
        and a["y"] < b["y"] + b["height"] - 0.5
        and b["y"] < a["y"] + a["height"] - 0.5
    )


TEXT_BOXES = """el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return Array.from(range.getClientRects(), r => ({x: r.x, y: r.y, width: r.width, height: r.height}));
}"""


def header_clear(page) -> None:
    """Every page-header button lies beside or below the title's text (each of its lines, where the
    letters are, not the box they may overflow), never on it, and inside the screen."""
    title = heading(page)
    title.scroll_into_view_if_needed()
    lines = title.evaluate(TEXT_BOXES)
    assert lines
    width = page.viewport_size["width"]
    buttons = page.locator(".page-header .btn-list > *")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        b = box(buttons.nth(i))
        for line in lines:
            assert not overlap(line, b), (page.url, buttons.nth(i).inner_text(), line, b)
        assert b["x"] >= 0 and b["x"] + b["width"] <= width + 0.5, (page.url, buttons.nth(i).inner_text(), b)
    for line in lines:
        assert line["x"] >= 0 and line["x"] + line["width"] <= width + 0.5, (page.url, line)


def test_on_a_phone_the_page_header_buttons_sit_below_the_title(new_context, live_server, shop, screenshot):
    context = new_context(viewport=MOBILE)
    context.set_default_timeout(10_000)
    page, origin = context.new_page(), live_server
    sign_in(page, origin)
    for path, name in (
        ("/campaigns/", "campaigns"),
        ("/lists/", "lists"),
        (f"/campaigns/{shop.id}", "campaign-show"),
    ):
        page.goto(origin + path)
        expect(heading(page)).to_be_visible()
        screenshot(page, f"dashboard-375-{name}", full_page=False)
        header_clear(page)


def test_the_dark_sidebar_runs_to_the_bottom_of_a_tall_page(desktop, live_server, shop, tmp_path):
    page, origin = desktop, live_server
    sign_in(page, origin)
    page.goto(origin + "/subscribers/")
    expect(page.locator("table tbody tr")).to_have_count(50)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height > DESKTOP["height"] * 2  # a tall page

    sidebar = page.locator("aside.navbar-vertical")
    assert sidebar.evaluate("el => el.getBoundingClientRect().bottom + window.scrollY") >= height - 1
    # A full-page capture (as a reviewer's screenshot tool takes it) shows it dark to the bottom.
    shot = tmp_path / "subscribers-full.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "dashboard-subscribers-tall-full-page.png")
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.height >= height - 1
        for y in (DESKTOP["height"] + 50, rgb.height // 2, rgb.height - 5):
            assert sum(rgb.getpixel((40, y))) < 200, (y, rgb.getpixel((40, y)))  # dark, not the page's grey

    # Scrolled to the bottom, the menu is still in view.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    menu_link = page.locator("nav[aria-label='Main navigation'] a", has_text="Subscribers")
    expect(menu_link).to_be_in_viewport()


@pytest.mark.parametrize("viewport", [MOBILE, DESKTOP], ids=["phone", "desktop"])
def test_the_welcome_toast_does_not_cover_the_primary_button(new_context, live_server, viewport, screenshot):
    context = new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    page, origin = context.new_page(), live_server
    page.goto(origin + "/signup")
    page.get_by_label("Workspace name").fill("Bloom & Co")
    page.get_by_label("Your name").fill("Dana")
    page.get_by_label("Email").fill("dana@bloom.example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create workspace").click()
    expect(heading(page)).to_have_text("Overview")
    toast = page.get_by_role("alert").filter(has_text="Welcome to Herald")
    expect(toast).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"dashboard-welcome-toast-{viewport['width']}", full_page=False)
    primary = page.locator(".page-header .btn-primary").first
    t, p = toast.bounding_box(), primary.bounding_box()
    assert not overlap(t, p), (t, p)
    assert not overlap(t, heading(page).bounding_box())
