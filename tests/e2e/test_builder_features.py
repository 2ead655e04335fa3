"""The visual builder, one capability at a time, as a marketer uses it in Chromium: starters,
the palette by keyboard, the block toolbar, undo and redo, conditions and loops, columns, rich
text, the inbox preview, previewing as a real subscriber, images, saved blocks, version
history, conversion to code, reloads and the page's fit at 1280 px.

Screenshots: builder-gallery, builder-starter-newsletter, builder-image-dialog and
builder-versions (test-artifacts/screenshots/).
"""

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from app.extensions import db
from app.services.audience import contacts
from app.services.designs import starters
from tests.e2e.test_builder import TOP, drag, top_types, wait_saved
from tests.e2e.test_marketer_journeys import heading, menu_item, sign_in

pytestmark = pytest.mark.e2e


# What a person looks at ---------------------------------------------------------------------------


def ready(page):
    expect(page.locator("#hb-builder")).to_have_attribute("data-ready", "true")


def start_blank(page, origin: str, name: str = "Spring news"):
    """Templates → New visual template → Start blank: the builder opens."""
    page.goto(origin + "/templates/new/visual")
    page.get_by_label("Template name").fill(name)
    page.get_by_role("button", name="Start blank").click()
    ready(page)


def palette(page, label: str):
    """A palette item, by what it adds ("Add divider: A horizontal rule")."""
    return page.locator("aside[aria-label=Blocks]").get_by_role("button", name=re.compile(rf"^Add {label}\b", re.I))


def panel(page):
    return page.locator("#hb-props")


def canvas_block(page, btype: str):
    return page.locator(f"#hb-canvas .hb-block[data-type={btype}]")


def toolbar_button(block, name: str):
    """One of the buttons a block shows above itself when pointed at or selected."""
    block.hover()
    return block.locator(":scope > .hb-bar").get_by_role("button", name=name, exact=True)


def show(page, view: str):
    """Edit, Desktop or Mobile, from the builder's toolbar."""
    page.locator("label.btn", has_text=view).click()


def preview_frame(page):
    return page.frame_locator("iframe.hb-preview-frame")


def more_actions(page, item: str):
    page.get_by_role("button", name="More actions").click()
    page.locator(".dropdown-menu.show").get_by_text(item).click()


# Starting ---------------------------------------------------------------------------------------


def test_each_starter_in_the_gallery_opens_the_builder_with_its_design(desktop, live_server, workspace, screenshot):
    page, origin = desktop, live_server
    sign_in(page, origin)
    page.locator("nav[aria-label='Main navigation']").get_by_role("link", name=re.compile(r"Templates$")).click()
    page.get_by_role("link", name="New visual template").first.click()
    expect(heading(page)).to_have_text("New visual template")

    # Every card shows its email as a thumbnail: blank plus the five starters.
    thumbs = page.locator(".hb-starter-thumb iframe")
    expect(thumbs).to_have_count(1 + len(starters.STARTERS))
    expect(page.frame_locator("iframe[title='Blank email']").locator("body")).to_contain_text("Your headline")
    for s in starters.STARTERS:
        thumb = page.frame_locator(f"iframe[title='{s['name']} starter']")
        thumb.locator("body").scroll_into_view_if_needed()
        expect(thumb.locator("img").first).to_be_visible()
    screenshot(page, "builder-gallery")

    for s in starters.STARTERS:
        page.goto(origin + "/templates/new/visual")
        page.get_by_role("button", name=f"Use this starter: {s['name']}").click()
        ready(page)
        # The builder holds that starter: its name, its subject and its blocks, in order.
        expect(page.locator("#hb-title")).to_have_text(s["name"])
        expect(panel(page).get_by_label("Subject")).to_have_value(s["subject"])
        design = starters.load_starter(s["key"], origin)["design"]
        assert top_types(page) == [b["type"] for b in design["blocks"]], s["key"]
        if s["key"] == "newsletter":
            screenshot(page, "builder-starter-newsletter", full_page=False)


# The palette, the toolbar and the keyboard --------------------------------------------------------


def test_a_block_added_by_keyboard_is_moved_duplicated_and_deleted_with_its_toolbar(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    assert top_types(page) == ["section", "footer"]

    # Tab to "Divider" in the palette and press Enter: it goes in above the footer, selected.
    palette(page, "divider").focus()
    page.keyboard.press("Enter")
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "footer"]
    expect(panel(page).locator("h2")).to_contain_text("Divider")
    divider = page.locator(f"{TOP}[data-type=divider]")

    toolbar_button(divider, "Move divider up").click()
    wait_saved(page)
    assert top_types(page) == ["divider", "section", "footer"]
    toolbar_button(divider, "Move divider down").click()
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "footer"]
    toolbar_button(divider, "Duplicate divider").click()
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "divider", "footer"]
    toolbar_button(divider.first, "Delete divider").click()
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "footer"]

    # The same from the keyboard: Ctrl+D duplicates the focused block, Delete removes it,
    # and focus stays on the canvas to carry on.
    divider.first.focus()
    page.keyboard.press("Control+d")
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "divider", "footer"]
    page.keyboard.press("Delete")
    wait_saved(page)
    assert top_types(page) == ["section", "divider", "footer"]
    assert page.evaluate("document.activeElement.closest('#hb-canvas') !== null")

    # A toolbar button pressed with Enter keeps focus, so it can be pressed again.
    toolbar = divider.locator(":scope > .hb-bar")
    divider.focus()
    toolbar.get_by_role("button", name="Move divider up").focus()
    page.keyboard.press("Enter")
    wait_saved(page)
    assert top_types(page) == ["divider", "section", "footer"]
    expect(page.locator(":focus")).to_have_attribute("aria-label", "Move divider up")


def test_undo_and_redo_buttons_step_through_the_changes(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    undo, redo = page.get_by_role("button", name="Undo"), page.get_by_role("button", name="Redo")
    expect(undo).to_be_disabled()

    palette(page, "spacer").click()
    wait_saved(page)
    palette(page, "button").click()
    wait_saved(page)
    assert top_types(page) == ["section", "spacer", "button", "footer"]

    undo.click()
    wait_saved(page)
    assert top_types(page) == ["section", "spacer", "footer"]
    undo.click()
    wait_saved(page)
    assert top_types(page) == ["section", "footer"]
    expect(undo).to_be_disabled()

    redo.click()
    wait_saved(page)
    assert top_types(page) == ["section", "spacer", "footer"]
    expect(redo).to_be_enabled()
    page.reload()
    ready(page)
    assert top_types(page) == ["section", "spacer", "footer"]  # what redo brought back was saved


# Dynamic blocks -------------------------------------------------------------------------------------


def test_a_condition_shows_the_otherwise_text_to_whom_it_does_not_hold(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)

    palette(page, "condition").click()
    wait_saved(page)
    assert top_types(page) == ["section", "conditional", "footer"]
    condition = page.locator(f"{TOP}[data-type=conditional]")
    otherwise = condition.locator(".hb-list[data-slot=else]")
    expect(otherwise).to_have_attribute("data-hint", "Drop blocks shown otherwise")

    # Drag a text from the palette into the "Otherwise" branch, and write it.
    drag(page, palette(page, "text"), otherwise)
    wait_saved(page)
    expect(otherwise.locator(".hb-block[data-type=text]")).to_have_count(1)
    otherwise.locator(".hb-block[data-type=text]").click()
    panel(page).get_by_label("Text", exact=True).fill("Upgrade to silver and save 10%.")
    wait_saved(page)
    expect(otherwise).to_contain_text("Upgrade to silver and save 10%.")

    # The condition asks for silver; the sample subscriber (Jane) is on gold: she sees "Otherwise".
    condition.locator(".hb-dyn-label").first.click()
    panel(page).get_by_label("Condition").fill("subscriber.attributes.plan == 'silver'")
    wait_saved(page)
    expect(condition.locator(".hb-dyn-label").first).to_contain_text("'silver'")
    show(page, "Desktop")
    body = preview_frame(page).locator("body")
    expect(body).to_contain_text("Upgrade to silver and save 10%.")
    expect(body).not_to_contain_text("Shown when the condition holds.")


def test_a_repeat_block_shows_one_line_per_item_in_the_preview(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)

    palette(page, "repeat").click()
    wait_saved(page)
    loop = page.locator(f"{TOP}[data-type=loop]")
    expect(loop.locator(".hb-dyn-label")).to_have_text("For each item in cart.items")
    expect(loop.locator(".hb-block[data-type=text] .hb-view")).to_have_text("{{ item.name }}")

    show(page, "Desktop")
    body = preview_frame(page).locator("body")
    expect(body).to_contain_text("Linen shirt")  # the sample cart's two items
    expect(body).to_contain_text("Canvas tote")


# Columns and rich text --------------------------------------------------------------------------------


def test_add_a_column_to_a_section_from_its_properties(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    section = page.locator(f"{TOP}[data-type=section]")
    columns = section.locator(".hb-t-column")
    expect(columns).to_have_count(1)

    # The blank email's only column fills its section: select the text, then "Columns" in the
    # path shown above its properties.
    section.locator(".hb-block[data-type=text]").click()
    crumbs = panel(page).get_by_role("navigation", name="Where this block stands")
    expect(crumbs).to_have_text(re.compile(r"Email › Columns › Column 1"))
    crumbs.get_by_role("button", name="Columns").click()
    expect(panel(page).locator("h2")).to_contain_text("Columns")

    panel(page).get_by_role("button", name="Add a column").click()
    wait_saved(page)
    expect(columns).to_have_count(2)
    expect(columns.nth(1)).to_contain_text("Write something worth reading")

    # The new column takes a block dragged from the palette.
    drag(page, palette(page, "button"), columns.nth(1).locator(".hb-block").first)
    wait_saved(page)
    expect(columns.nth(1).locator(".hb-block[data-type=button]")).to_have_count(1)


def test_the_bold_button_makes_the_selected_words_bold(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    text = page.locator("#hb-canvas .hb-block[data-type=text]").first
    text.click()

    area = panel(page).get_by_label("Text", exact=True)
    area.fill("Spring is here")
    area.press("Control+Home")
    for _ in range(6):
        area.press("Shift+ArrowRight")  # "Spring"
    panel(page).get_by_role("button", name="Bold", exact=True).click()
    expect(area).to_have_value("<b>Spring</b> is here")
    wait_saved(page)
    expect(text.locator(".hb-view b")).to_have_text("Spring")


# Previews -----------------------------------------------------------------------------------------------


def test_the_subject_and_preview_text_show_in_the_inbox_row_of_the_preview(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)

    settings = panel(page)
    expect(settings.locator("h2")).to_have_text("Email settings")
    settings.get_by_label("Subject").fill("Spring is here, {{ subscriber.name }}")
    settings.get_by_label("Preview text").fill("Ten percent off everything green")
    wait_saved(page)

    show(page, "Desktop")
    inbox = page.get_by_label("How the inbox shows it")
    expect(inbox).to_contain_text("Acme")
    expect(inbox).to_contain_text("Spring is here, Jane Doe — Ten percent off everything green")

    # Edited while the preview is shown: the inbox row follows.
    settings.get_by_label("Subject").fill("Last days of spring, {{ subscriber.name }}")
    expect(inbox).to_contain_text("Last days of spring, Jane Doe")
    show(page, "Mobile")
    phone = page.locator("iframe.hb-preview-frame.mobile")
    expect(phone).to_be_visible()
    assert phone.evaluate("f => f.clientWidth") == 375  # the email's width, inside the phone's frame
    expect(inbox).to_contain_text("Last days of spring, Jane Doe")


def test_preview_as_a_chosen_subscriber_shows_their_name(app, desktop, live_server, workspace):
    page, origin = desktop, live_server
    with app.app_context():
        contacts.add_subscriber(workspace.id, "kim@example.com", "Kim Larsen", {"plan": "free"})
        db.session.commit()
    sign_in(page, origin)
    start_blank(page, origin)

    show(page, "Desktop")
    expect(preview_frame(page).locator("body")).to_contain_text("Hi Jane Doe")  # the sample subscriber
    page.get_by_label("Preview as").select_option(label="Kim Larsen · kim@example.com")
    expect(page.locator("#hb-preview-body .alert")).to_have_count(0)
    expect(preview_frame(page).locator("body")).to_contain_text("Hi Kim Larsen")
    show(page, "Mobile")
    expect(page.locator("iframe.hb-preview-frame.mobile")).to_be_visible()
    expect(preview_frame(page).locator("body")).to_contain_text("Hi Kim Larsen")


# Images ---------------------------------------------------------------------------------------------------


def add_image_and_open_the_dialog(page):
    palette(page, "image").click()
    wait_saved(page)
    expect(panel(page).locator("h2")).to_contain_text("Image")
    panel(page).get_by_role("button", name="Choose").click()
    dialog = page.get_by_role("dialog", name="Choose an image")
    expect(dialog).to_be_visible()
    return dialog


def test_an_uploaded_image_appears_in_the_email_and_its_description_is_asked_for(
    desktop, live_server, workspace, tmp_path, screenshot
):
    page, origin = desktop, live_server
    photo = tmp_path / "spring-garden.png"
    Image.new("RGB", (480, 240), (64, 160, 96)).save(photo)
    sign_in(page, origin)
    start_blank(page, origin)

    dialog = add_image_and_open_the_dialog(page)
    expect(dialog).to_contain_text("No images yet")
    screenshot(page, "builder-image-dialog", full_page=False)
    dialog.get_by_label("Upload an image").set_input_files(str(photo))
    expect(dialog).to_be_hidden()
    wait_saved(page)

    image = page.locator(f"{TOP}[data-type=image] img")
    expect(image).to_have_attribute("src", re.compile(rf"^{re.escape(origin)}/media/\w[\w-]*\.png$"))
    assert image.evaluate("img => img.complete && img.naturalWidth") == 480

    # The placeholder description is gone and the field asks for a real one, with focus.
    alt = panel(page).get_by_label("Alternative text")
    expect(alt).to_be_focused()
    expect(alt).to_have_value("")
    ask = panel(page).locator("[data-alt-ask]")
    expect(ask).to_be_visible()
    alt.fill("A vegetable garden in spring")
    expect(ask).to_be_hidden()
    wait_saved(page)
    expect(image).to_have_attribute("alt", "A vegetable garden in spring")

    # Next time the dialog offers it from the library.
    panel(page).get_by_role("button", name="Choose").click()
    expect(dialog.get_by_role("button", name=re.compile("spring-garden.png"))).to_be_visible()


def test_a_file_that_is_not_an_image_is_refused_with_a_clear_message(desktop, live_server, workspace, tmp_path):
    page, origin = desktop, live_server
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    disguised = tmp_path / "holiday.png"  # text with an image's name: only the server can tell
    disguised.write_text("<svg onload=alert(1)></svg>")
    sign_in(page, origin)
    start_blank(page, origin)

    dialog = add_image_and_open_the_dialog(page)
    upload = dialog.get_by_label("Upload an image")
    upload.set_input_files(str(notes))
    expect(dialog.get_by_role("alert")).to_have_text(re.compile(r"“notes.txt” is not a PNG, JPEG, GIF or WebP image"))
    upload.set_input_files(str(disguised))
    expect(dialog.get_by_role("alert")).to_have_text(re.compile(r"“holiday.png” is not a PNG, JPEG, GIF or WebP image"))
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("No images yet")
    expect(page.locator(f"{TOP}[data-type=image] img")).to_have_attribute("src", re.compile(r"placeholder\.png$"))


# Saved blocks, versions, conversion -------------------------------------------------------------------------


def test_a_saved_block_is_offered_in_another_templates_palette(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin, "Spring news")
    palette(page, "button").click()
    wait_saved(page)
    panel(page).get_by_label("Text", exact=True).fill("Book a table")
    wait_saved(page)

    # A name is needed; then it is in the palette under "Saved blocks".
    panel(page).get_by_role("button", name="Save block").click()
    expect(panel(page).locator('[data-error-for="saved-name"]')).to_have_text(
        "Give the block a name, e.g. Brand footer."
    )
    panel(page).get_by_label("Save for reuse").fill("Booking button")
    panel(page).get_by_role("button", name="Save block").click()
    expect(page.locator("#hb-status")).to_contain_text("Saved “Booking button” to your blocks")
    expect(palette(page, "saved block Booking button")).to_be_visible()

    # In another template it is there too; Enter adds it, with its text.
    start_blank(page, origin, "Autumn news")
    saved = palette(page, "saved block Booking button")
    saved.focus()
    page.keyboard.press("Enter")
    wait_saved(page)
    assert top_types(page) == ["section", "button", "footer"]
    expect(page.locator(f"{TOP}[data-type=button]")).to_have_text(re.compile("Book a table"))


def test_restoring_an_earlier_version_brings_it_back_in_the_builder(desktop, live_server, workspace, screenshot):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    header = page.locator("#hb-canvas .hb-block[data-type=header]")
    header.click()
    panel(page).get_by_label("Text", exact=True).fill("Our spring collection")
    wait_saved(page)
    expect(page.locator("#hb-status")).to_contain_text("version 2")

    more_actions(page, "Version history")
    expect(heading(page)).to_have_text("Spring news")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Version 2")
    expect(rows.first).to_contain_text("current")
    expect(rows.nth(1)).to_contain_text("Created")
    screenshot(page, "builder-versions")

    # Version 1 as it was, then restored (the confirmation is accepted).
    page.get_by_role("link", name="Version 1").click()
    expect(page.frame_locator("iframe.email-frame").locator("body")).to_contain_text("Your headline")
    page.get_by_role("button", name="Restore this version").click()
    ready(page)
    expect(page.get_by_role("alert").filter(has_text="Version 1 restored as version 3.")).to_be_visible()
    expect(header.locator(".hb-view")).to_have_text("Your headline")


def test_converting_to_code_opens_the_template_in_the_html_editor(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    builder_url = page.url

    more_actions(page, "Convert to code template")  # confirmed
    expect(page.get_by_role("alert").filter(has_text="Converted to a code template")).to_be_visible()
    html = page.get_by_label("HTML")
    expect(html).to_be_visible()
    assert "Your headline" in html.input_value()

    # The builder no longer opens it: it sends the marketer to the editor.
    page.goto(builder_url)
    expect(page.get_by_label("HTML")).to_be_visible()
    expect(page.locator("#hb-builder")).to_have_count(0)


# The page itself ----------------------------------------------------------------------------------------------


def test_the_design_survives_a_reload(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    start_blank(page, origin)
    palette(page, "social links").click()
    wait_saved(page)
    page.locator("#hb-canvas .hb-block[data-type=header]").click()
    panel(page).get_by_label("Text", exact=True).fill("Hello again")
    page.get_by_role("button", name="Back to the email settings").click()
    panel(page).get_by_label("Subject").fill("We saved your seat")
    wait_saved(page)

    page.reload()
    ready(page)
    assert top_types(page) == ["section", "social", "footer"]
    expect(page.locator("#hb-canvas .hb-block[data-type=header] .hb-view")).to_have_text("Hello again")
    expect(panel(page).get_by_label("Subject")).to_have_value("We saved your seat")
    expect(page.locator("#hb-status")).to_have_text(re.compile(r"Saved · version 2"))


def test_at_1280_px_the_builder_does_not_scroll_sideways_and_shows_the_email_at_600_px(desktop, live_server, workspace):
    page, origin = desktop, live_server
    sign_in(page, origin)
    page.goto(origin + "/templates/new/visual")
    page.get_by_role("button", name="Use this starter: Newsletter").click()
    ready(page)

    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], width
    # The canvas and the desktop preview show the email at its width, not squeezed.
    assert page.locator(".hb-email-body").bounding_box()["width"] == 600
    show(page, "Desktop")
    frame = page.locator("iframe.hb-preview-frame.desktop")
    expect(frame).to_be_visible()
    assert frame.bounding_box()["width"] >= 600
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], width


def test_the_images_page_is_in_the_navigation(desktop, live_server, workspace, tmp_path):
    page, origin = desktop, live_server
    photo = tmp_path / "logo.png"
    Image.new("RGB", (120, 60), (20, 60, 200)).save(photo)
    sign_in(page, origin)
    start_blank(page, origin)

    menu_item(page, "Images").click()  # from the builder, where the menu is folded to icons
    expect(heading(page)).to_have_text("Images")
    expect(page.get_by_text("No images yet")).to_be_visible()
    page.get_by_label("Image files").set_input_files(str(photo))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert").filter(has_text="Uploaded “logo.png”")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("logo", re.I))).to_be_visible()
