"""The visual builder's dashboard routes, through the real test client.

Happy paths (starters, canvas, autosave into versions, panel, preview, test sends, saved
blocks, versions, restore, conversion), then hostile input: every refusal is a clear message
(for a save: 200 with `HX-Reswap: none` and an `hb-invalid` trigger), never a 500, and
nothing is stored. Another workspace's ids answer 404; query counts stay flat.
"""

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from sqlalchemy import func, select, update

from app.blueprints.email_templates.builder import AUTOSAVE_WINDOW, MAX_DESIGN_BYTES, rich_preview
from app.blueprints.email_templates.builder_fields import default_block
from app.extensions import db
from app.models import CaughtMessage, SavedBlock, Template, TemplateVersion, User
from app.services import designs
from app.services.audience import contacts
from app.services.content import saved_blocks, templates
from app.services.designs import MAX_DEPTH, starters
from tests.conftest import TEMPLATE_HTML
from tests.factories import create_smtp_provider

BASE_URL = "http://herald.test"

DESIGN = {
    "version": 1,
    "settings": {"backgroundColor": "#f4f5f7", "width": 600, "fontFamily": "Arial, Helvetica, sans-serif"},
    "blocks": [
        {"id": "title", "type": "header", "props": {"text": "Spring sale", "level": 1}},
        {"id": "intro", "type": "text", "props": {"text": "Hello {{ subscriber.name }}, the <b>sale</b> starts now."}},
        {
            "id": "cols",
            "type": "section",
            "props": {"padding": "10px 0px"},
            "children": [
                {
                    "id": "left",
                    "type": "column",
                    "props": {"width": "50%"},
                    "children": [{"id": "left-text", "type": "text", "props": {"text": "Linen shirts"}}],
                },
                {
                    "id": "right",
                    "type": "column",
                    "props": {"width": "50%"},
                    "children": [
                        {
                            "id": "cta",
                            "type": "button",
                            "props": {
                                "text": "Shop the sale",
                                "href": "https://shop.example.com/sale",
                                "backgroundColor": "#d9774b",
                            },
                        }
                    ],
                },
            ],
        },
        {"id": "foot", "type": "footer", "props": {"text": "Acme Ltd", "address": "1 Main St, Springfield"}},
    ],
}
# What a recipient reads, top to bottom (sample subscriber: Jane Doe).
READING_ORDER = ["Spring sale", "Hello Jane Doe", "Linen shirts", "Shop the sale", "Acme Ltd", "1 Main St"]


# -- helpers ------------------------------------------------------------------------------


def walk(blocks):
    for b in blocks:
        yield b
        yield from walk(b.get("children") or [])
        yield from walk(b.get("else") or [])


def edited(design: dict = DESIGN, **props_by_id) -> dict:
    """A copy of `design` with some blocks' props changed: edited(intro={"text": "Hi"})."""
    out = copy.deepcopy(design)
    for b in walk(out["blocks"]):
        if b["id"] in props_by_id:
            b["props"].update(props_by_id[b["id"]])
    return out


def with_blocks(*blocks, footer: bool = True) -> dict:
    """A design made of `blocks` (plus a footer with the unsubscribe link unless told)."""
    tail = [{"id": "foot", "type": "footer", "props": {}}] if footer else []
    return {"version": 1, "blocks": [*blocks, *tail]}


def nested_containers(levels: int) -> dict:
    block = {"id": "inner", "type": "text", "props": {"text": "Deep down"}}
    for i in range(levels):
        block = {"id": f"box{i}", "type": "container", "props": {}, "children": [block]}
    return block


class _Executable(HTMLParser):
    """Anything a browser would run: script-like elements, on* handlers, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "base", "meta", "form"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith(("on", "hx-", "data-hx-")):  # htmx acts on hx-* with the person's session
                self.found.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "formaction", "xlink:href", "background") and value:
                squashed = re.sub(r"[\s\x00-\x1f]+", "", value).lower()
                if squashed.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.found.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def executable(html: str) -> list[str]:
    p = _Executable()
    p.feed(html)
    p.close()
    # MJML's own head: a <meta> for the viewport and charset is part of every email.
    return [x for x in p.found if x != "<meta>"]


def srcdoc(html: str) -> str:
    """The document inside the preview's iframe (attribute unescaped)."""

    class Frame(HTMLParser):
        doc = None

        def handle_starttag(self, tag, attrs):
            if tag == "iframe":
                self.doc = dict(attrs).get("srcdoc")

    p = Frame()
    p.feed(html)
    assert p.doc is not None, html[:2000]
    return p.doc


def in_order(haystack: str, needles: list[str]) -> bool:
    at = -1
    for n in needles:
        at = haystack.find(n, at + 1)
        if at < 0:
            return False
    return True


def snapshot(template_id: int) -> dict:
    """What the database holds for a template (read fresh), with its number of versions."""
    db.session.expire_all()
    t = db.session.get(Template, template_id)
    if t is None:
        return {}
    count = db.session.scalar(
        select(func.count()).select_from(TemplateVersion).where(TemplateVersion.template_id == template_id)
    )
    keys = ("name", "subject", "preview_text", "category", "template_type", "version", "design", "body_html")
    return {k: getattr(t, k) for k in keys} | {"versions": count}


def saved_block_count(workspace_id: int | None = None) -> int:
    q = select(func.count()).select_from(SavedBlock)
    if workspace_id is not None:
        q = q.where(SavedBlock.workspace_id == workspace_id)
    return db.session.scalar(q)


def trigger(r) -> dict:
    return json.loads(r.headers["HX-Trigger"])


def text(r) -> str:
    return r.get_data(as_text=True)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def token(client):
    return re.search(r'name="csrf-token" content="([^"]+)"', text(client.get("/"))).group(1)


@pytest.fixture
def hx(client, token):
    """POST as htmx does: form-encoded values, the CSRF token in a header."""

    def post(path, data=None, **kw):
        return client.post(path, data=data or {}, headers={"HX-Request": "true", "X-CSRFToken": token}, **kw)

    return post


@pytest.fixture
def owner_id(workspace):
    return db.session.scalar(select(User.id).where(User.email == "owner@example.com"))


def make_visual(workspace_id: int, user_id=None, design=DESIGN, **fields):
    tpl = templates.create_template(
        workspace_id,
        {
            "name": "Spring",
            "subject": "Sale for {{ subscriber.name }}",
            "preview_text": "Three days only",
            "category": "marketing",
            "template_type": "visual",
            "design": design,
            **fields,
        },
        user_id,
        "Created",
    )
    db.session.commit()
    return tpl


@pytest.fixture
def tpl(workspace, owner_id):
    return make_visual(workspace.id, owner_id)


@pytest.fixture
def sink_provider(workspace, smtp_sink):
    """The workspace sends through the SMTP sink by default."""
    p = create_smtp_provider(workspace.id, smtp_sink.port, "Sink")
    db.session.commit()
    return p


def save(hx, template_id: int, design, **meta):
    raw = design if isinstance(design, str) else json.dumps(design)
    return hx(f"/templates/{template_id}/builder/save", {"design": raw, **meta})


def assert_refused(r, template_id: int, before: dict, *words: str) -> dict:
    """A save the builder refused: 200, no swap, an hb-invalid trigger with a message; nothing stored."""
    assert r.status_code == 200, text(r)[:2000]
    assert r.headers.get("HX-Reswap") == "none"
    detail = trigger(r)["hb-invalid"]
    for word in words:
        assert word in detail["message"] or any(word in str(v) for v in detail["fields"].values()), detail
    assert len(r.headers["HX-Trigger"]) < 16_000  # a proxy refuses huge response headers
    assert snapshot(template_id) == before
    return detail


# -- new from a starter -------------------------------------------------------------------


@pytest.mark.parametrize("key", [s["key"] for s in starters.STARTERS] + ["blank"])
def test_new_from_a_starter_or_blank_creates_a_visual_template_and_opens_the_builder(client, token, workspace, key):
    gallery = client.get("/templates/new/visual")
    assert gallery.status_code == 200 and f'value="{key}"' in text(gallery)

    r = client.post("/templates/new/visual", data={"csrf_token": token, "starter": key, "name": ""})

    assert r.status_code == 302, text(r)[:2000]
    tpl = db.session.scalar(select(Template).where(Template.workspace_id == workspace.id))
    assert r.headers["Location"].endswith(f"/templates/{tpl.id}/builder")
    if key == "blank":
        expected = {"name": "Untitled email", "category": "marketing", "design": starters.blank_design()}
    else:
        expected = starters.load_starter(key, BASE_URL)
    assert tpl.template_type == "visual" and tpl.version == 1
    assert tpl.name == expected["name"] and tpl.category == expected["category"]
    assert tpl.design == expected["design"] and tpl.body_html.strip()
    assert [v.note for v in templates.list_versions(workspace.id, tpl.id)] == ["Created"]

    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    html = text(page)
    for b in walk(tpl.design["blocks"]):
        assert f'data-id="{b["id"]}"' in html, b["id"]
        p = b["props"]
        if b["type"] == "text":
            assert str(rich_preview(p["text"])) in html, b["id"]
        for prop in ("text", "title", "subtitle", "buttonText", "address") if b["type"] != "text" else ():
            if p.get(prop):
                assert str(escape(p[prop])) in html, (b["id"], prop)

    thumb = client.get(f"/templates/starters/{key}/preview")
    assert thumb.status_code == 200 and "default-src 'none'" in thumb.headers["Content-Security-Policy"]
    assert thumb.headers["Content-Security-Policy"].endswith("; sandbox")  # never the dashboard's origin


def test_new_visual_takes_the_given_name(client, token, workspace):
    r = client.post(
        "/templates/new/visual", data={"csrf_token": token, "starter": "welcome", "name": "  My   welcome "}
    )
    assert r.status_code == 302
    assert db.session.scalar(select(Template.name).where(Template.workspace_id == workspace.id)) == "My welcome"


@pytest.mark.parametrize(
    "data,message",
    [
        ({"starter": "no-such-starter"}, "no starter design called"),
        ({"starter": "../../etc/passwd"}, "no starter design called"),
        ({"starter": "blank", "name": "x" * 10_000}, "under 200 characters"),
    ],
    ids=["unknown", "path", "long-name"],
)
def test_new_visual_with_bad_input_is_refused_and_creates_nothing(client, token, workspace, data, message):
    r = client.post("/templates/new/visual", data={"csrf_token": token, **data})
    assert r.status_code == 422, text(r)[:2000]
    assert message in text(r)
    assert db.session.scalar(select(func.count()).select_from(Template)) == 0


def test_an_unknown_starter_preview_answers_404(client):
    assert client.get("/templates/starters/nope/preview").status_code == 404


# -- the builder page and saving ----------------------------------------------------------


def test_the_builder_renders_the_canvas_with_every_block(client, tpl):
    r = client.get(f"/templates/{tpl.id}/builder")
    assert r.status_code == 200
    html = text(r)
    for b in walk(DESIGN["blocks"]):
        assert f'data-id="{b["id"]}"' in html
    canvas = html.split('id="hb-canvas"', 1)[1]
    assert in_order(
        canvas,
        [
            "Spring sale",
            "Hello <code class=hb-expr>{{ subscriber.name }}</code>, the <b>sale</b> starts now.",  # as typed, as text
            "Linen shirts",
            "Shop the sale",
        ],
    )
    assert "Acme Ltd" in canvas and "1 Main St, Springfield" in canvas and "Unsubscribe" in canvas
    design = re.search(r'<script type="application/json" id="hb-design">(.*?)</script>', html, re.S).group(1)
    assert json.loads(design) == tpl.design
    assert "Saved · version 1" in html


def test_saving_changes_makes_a_version_and_a_burst_of_saves_folds_into_it(client, hx, tpl, owner_id):
    r = save(hx, tpl.id, edited(intro={"text": "Fresh <i>news</i> for {{ subscriber.name }}"}))

    assert r.status_code == 200 and "HX-Reswap" not in r.headers
    saved = trigger(r)["hb-saved"]
    assert saved["version"] == 2 and saved["sizeBytes"] > 0 and not saved["clipped"]
    assert "Fresh <i>news</i> for <code class=hb-expr>{{ subscriber.name }}</code>" in text(r)
    assert "the <b>sale</b>" not in text(r)
    assert 'data-id="intro"' in text(r) and "Shop the sale" in text(r)
    after = snapshot(tpl.id)
    assert after["version"] == 2 and after["versions"] == 2
    assert "Fresh <i>news</i> for {{ subscriber.name }}" in after["body_html"]

    for n in range(4):  # autosave while typing: one version
        r = save(hx, tpl.id, edited(intro={"text": f"Draft {n}"}), subject=f"Subject {n}")
        assert trigger(r)["hb-saved"]["version"] == 2
    after = snapshot(tpl.id)
    assert after["version"] == 2 and after["versions"] == 2 and after["subject"] == "Subject 3"
    latest = templates.get_version(tpl.workspace_id, tpl.id, 2)
    assert "Draft 3" in latest.body_html and latest.created_by == owner_id and latest.note == "Saved"
    assert "Hello {{ subscriber.name }}" in templates.get_version(tpl.workspace_id, tpl.id, 1).body_html

    # Once the window has passed, the next edit is a version of its own.
    db.session.execute(
        update(TemplateVersion)
        .where(TemplateVersion.template_id == tpl.id, TemplateVersion.number == 2)
        .values(created_at=datetime.now(timezone.utc) - timedelta(seconds=AUTOSAVE_WINDOW + 5))
    )
    db.session.commit()
    r = save(hx, tpl.id, edited(intro={"text": "Final words"}))
    assert trigger(r)["hb-saved"]["version"] == 3 and snapshot(tpl.id)["versions"] == 3

    # A save that changes nothing records nothing.
    r = save(hx, tpl.id, edited(intro={"text": "Final words"}))
    assert trigger(r)["hb-saved"]["version"] == 3 and snapshot(tpl.id)["versions"] == 3


def test_saving_the_email_settings(hx, tpl):
    r = save(
        hx,
        tpl.id,
        DESIGN,
        name="  Summer   sale ",
        subject="Hi {{ subscriber.name }}",
        preview_text="Don't miss it",
        category="newsletter",
    )
    assert "hb-saved" in trigger(r)
    after = snapshot(tpl.id)
    assert (after["name"], after["subject"], after["preview_text"], after["category"]) == (
        "Summer sale",
        "Hi {{ subscriber.name }}",
        "Don't miss it",
        "newsletter",
    )


def test_the_saved_trigger_stays_small_for_a_large_design(hx, tpl):
    """A proxy in front of Herald refuses responses with huge headers: the design is not echoed there."""
    big = with_blocks(*({"id": f"t{i}", "type": "text", "props": {"text": "word " * 300}} for i in range(100)))
    r = save(hx, tpl.id, big)
    assert trigger(r)["hb-saved"]["version"] == 2
    assert len(r.headers["HX-Trigger"]) < 8_000


def test_a_design_near_a_megabyte_saves_as_the_builder_and_its_closing_beacon_send_it(hx, tpl):
    """The builder posts form-encoded (htmx, and the beacon sent when the page closes); a big
    design must fit, not answer 413 and be lost."""
    big = with_blocks(*({"id": f"t{i}", "type": "text", "props": {"text": "word " * 3800}} for i in range(48)))
    raw = json.dumps(big)
    assert len(raw) > 900_000
    r = save(hx, tpl.id, raw)
    assert r.status_code == 200 and trigger(r)["hb-saved"]["version"] == 2


def test_the_panel_opens_a_block_that_exists_only_in_an_unsaved_design(hx, tpl):
    """A field is being fixed (the design does not validate), and the person selects a block
    they just added: its properties open anyway."""
    broken = with_blocks(
        {"id": "cta", "type": "button", "props": {"text": "Go", "href": "https://e.example", "color": "#12"}},
        {"id": "new-spacer", "type": "spacer", "props": {"height": 30}},
    )
    r = hx(f"/templates/{tpl.id}/builder/panel", {"design": json.dumps(broken), "block": "new-spacer"})
    assert 'data-block="new-spacer"' in text(r) and 'value="30"' in text(r)


# -- the properties panel -----------------------------------------------------------------


def test_the_panel_shows_a_blocks_fields_with_their_current_values(hx, tpl):
    url = f"/templates/{tpl.id}/builder/panel"
    r = hx(url, {"design": json.dumps(DESIGN), "block": "cta"})
    html = text(r)
    assert r.status_code == 200 and 'id="hb-panel-form"' in html
    assert 'data-block="cta"' in html and 'data-type="button"' in html
    assert 'value="Shop the sale"' in html and 'value="https://shop.example.com/sale"' in html
    assert 'data-prop="backgroundColor" value="#d9774b"' in html

    # A nested block, and the design as posted (not yet saved) is what the panel shows.
    r = hx(url, {"design": json.dumps(edited(**{"left-text": {"text": "Unsaved <b>words</b>"}})), "block": "left-text"})
    html = text(r)
    assert 'data-block="left-text"' in html and "Unsaved &lt;b&gt;words&lt;/b&gt;</textarea>" in html


@pytest.mark.parametrize("block", ["", "no-such-block", "<script>", "x" * 5000])
def test_the_panel_falls_back_to_the_email_settings_for_an_unknown_block(hx, tpl, block):
    r = hx(f"/templates/{tpl.id}/builder/panel", {"design": json.dumps(DESIGN), "block": block})
    html = text(r)
    assert r.status_code == 200 and 'id="hb-settings-form"' in html and 'value="Spring"' in html
    assert 'id="hb-panel-form"' not in html and "<script>" not in html


@pytest.mark.parametrize("design", ["{not json", "[]", "null", json.dumps({"version": 1, "blocks": [{"id": "cta"}]})])
def test_the_panel_with_a_bad_design_uses_the_stored_one(hx, tpl, design):
    r = hx(f"/templates/{tpl.id}/builder/panel", {"design": design, "block": "cta"})
    assert r.status_code == 200 and 'value="Shop the sale"' in text(r)


# -- preview and test sends ---------------------------------------------------------------


@pytest.fixture
def zoe(workspace):
    sub = contacts.add_subscriber(workspace.id, "zoe@example.com", "Zoë Quinn", {"plan": "gold"})
    db.session.commit()
    return sub


@pytest.mark.parametrize("device", ["desktop", "mobile"])
def test_preview_personalizes_for_a_chosen_subscriber_and_shows_subject_and_preview_text(hx, tpl, zoe, device):
    r = hx(f"/templates/{tpl.id}/builder/preview", {"device": device, "subscriber_id": str(zoe.id)})
    html = text(r)
    assert r.status_code == 200 and f"hb-preview-frame {device}" in html
    assert "Sale for Zoë Quinn" in html and "Three days only" in html
    doc = srcdoc(html)
    assert in_order(doc, [x.replace("Jane Doe", "Zoë Quinn") for x in READING_ORDER])
    assert "Jane Doe" not in html and executable(doc) == []

    sample = text(hx(f"/templates/{tpl.id}/builder/preview", {"device": device}))
    assert "Sale for Jane Doe" in sample and in_order(srcdoc(sample), READING_ORDER)


def test_preview_of_an_unknown_device_is_the_desktop_one(hx, tpl):
    r = hx(f"/templates/{tpl.id}/builder/preview", {"device": '"><script>alert(1)</script>'})
    assert r.status_code == 200 and "hb-preview-frame desktop" in text(r) and "<script>" not in text(r)


def test_a_test_send_arrives_marked_as_a_test_with_the_texts_in_order(hx, tpl, zoe, sink_provider, smtp_sink):
    r = hx(
        f"/templates/{tpl.id}/builder/test",
        {
            "emails": "ana@example.com,\nbob@example.com",
            "from_email": "news@acme.example.com",
            "from_name": "Acme News",
            "subscriber_id": str(zoe.id),
        },
    )

    assert r.status_code == 200 and "ana@example.com: sent" in text(r) and "bob@example.com: sent" in text(r)
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["ana@example.com", "bob@example.com"]
    msg = smtp_sink.messages[0]["message"]
    assert msg["Subject"] == "[Test] Sale for Zoë Quinn" and msg["X-Herald-Test"] == "1"
    assert "news@acme.example.com" in msg["From"] and "Acme News" in msg["From"]
    html = msg.get_body(("html",)).get_content()
    plain = msg.get_body(("plain",)).get_content()
    expected = [x.replace("Jane Doe", "Zoë Quinn") for x in READING_ORDER]
    assert in_order(html, expected) and in_order(plain, expected)
    assert executable(html) == []


def test_a_test_send_through_the_development_outbox(hx, client, tpl, workspace, mail_catcher):
    r = hx(f"/templates/{tpl.id}/builder/test", {"emails": "me@example.com", "from_email": "news@acme.example.com"})
    assert "me@example.com: sent" in text(r), text(r)
    caught = db.session.scalars(select(CaughtMessage)).all()
    assert [(c.workspace_id, c.subject) for c in caught] == [(workspace.id, "[Test] Sale for Jane Doe")]
    msg = BytesParser(policy=policy.default).parsebytes(caught[0].raw)
    assert in_order(msg.get_body(("html",)).get_content(), READING_ORDER)
    assert "[Test] Sale for Jane Doe" in text(client.get("/outbox/"))


@pytest.mark.parametrize(
    "form,message",
    [
        ({"emails": ", ".join(f"p{i}@example.com" for i in range(11))}, "at most 10 addresses"),
        ({"emails": "ana@example.com, not-an-address"}, "is not an email address"),
        ({"emails": "ana@example.com\r\nBcc: eve@example.com"}, "is not an email address"),
        ({"emails": ""}, "at least one address"),
        ({"emails": "ana@example.com", "from_email": ""}, "which address the test comes from"),
        ({"emails": "ana@example.com", "from_email": "news@"}, "which address the test comes from"),
        ({"emails": "ana@example.com", "from_email": "a@example.com\r\nBcc: eve@example.com"}, "which address"),
    ],
    ids=["eleven", "bad-address", "header-injection", "none", "no-sender", "bad-sender", "sender-injection"],
)
def test_a_bad_test_send_is_a_clear_error_and_sends_nothing(hx, tpl, sink_provider, smtp_sink, form, message):
    data = {"from_email": "news@acme.example.com", **form}
    r = hx(f"/templates/{tpl.id}/builder/test", data)
    assert r.status_code == 200 and 'role="alert"' in text(r)
    assert message in text(r).replace("&#39;", "'"), text(r)
    assert smtp_sink.messages == []


# -- saved blocks -------------------------------------------------------------------------


def test_a_saved_block_is_created_listed_in_the_palette_and_deleted(client, hx, tpl, workspace):
    url = f"/templates/{tpl.id}/builder/blocks"
    footer = {"id": "f9", "type": "footer", "props": {"text": "Acme, since 1999"}}
    r = hx(url, {"name": " Brand   footer ", "block": json.dumps(footer)})

    assert r.status_code == 200 and trigger(r) == {"hb-block-saved": {"name": "Brand footer"}}
    saved = db.session.scalar(select(SavedBlock).where(SavedBlock.workspace_id == workspace.id))
    assert saved.name == "Brand footer" and saved.blocks[0]["props"]["showUnsubscribe"] is True
    assert f'data-saved="{saved.id}"' in text(r)
    group = [{"id": "g1", "type": "divider"}, {"id": "g2", "type": "text", "props": {"text": "Thanks!"}}]
    r = hx(url, {"name": "Sign-off", "block": json.dumps(group)})
    assert "Sign-off" in text(r) and saved_block_count(workspace.id) == 2

    page = text(client.get(f"/templates/{tpl.id}/builder"))
    palette = page.split('id="hb-saved"', 1)[1].split("</ul>", 1)[0]
    assert f'data-saved="{saved.id}"' in palette and "Brand footer" in palette and "Sign-off" in palette

    r = hx(f"/templates/{tpl.id}/builder/blocks/{saved.id}/delete")
    assert r.status_code == 200 and "Brand footer" not in text(r) and "Sign-off" in text(r)
    assert saved_block_count(workspace.id) == 1
    assert "Brand footer" not in text(client.get(f"/templates/{tpl.id}/builder"))


@pytest.mark.parametrize(
    "form,message",
    [
        ({"block": json.dumps({"id": "c", "type": "column", "props": {}, "children": []})}, "only be inside a section"),
        ({"block": ""}, "Save at least one block"),
        ({"block": "[]"}, "Save at least one block"),
        ({"block": "{oops"}, "not JSON"),
        ({"block": "[" * 5000 + "]" * 5000}, "nested"),
        ({"block": json.dumps({"id": "t", "type": "text", "props": {"text": "{% for x in y %}"}})}, "{%"),
        ({"name": ""}, "Give the saved block a name"),
        ({"name": "x" * 10_000}, "under 200 characters"),
    ],
    ids=["column-at-top", "empty", "empty-list", "bad-json", "deep-json", "jinja", "no-name", "long-name"],
)
def test_a_bad_saved_block_is_a_clear_error_and_saves_nothing(hx, tpl, workspace, form, message):
    data = {"name": "Brand footer", "block": json.dumps({"id": "f", "type": "footer", "props": {}}), **form}
    r = hx(f"/templates/{tpl.id}/builder/blocks", data)
    assert r.status_code == 200 and 'role="alert"' in text(r)
    assert message in text(r).replace("&#39;", "'"), text(r)[:1000]
    assert "HX-Trigger" not in r.headers and saved_block_count() == 0


def test_a_workspace_keeps_at_most_200_saved_blocks(hx, tpl, workspace):
    for i in range(saved_blocks.MAX_SAVED_BLOCKS):
        saved_blocks.create_saved_block(workspace.id, f"B{i}", {"id": "d", "type": "divider"})
    db.session.commit()
    r = hx(
        f"/templates/{tpl.id}/builder/blocks", {"name": "One more", "block": json.dumps({"id": "d", "type": "spacer"})}
    )
    assert "at most 200 saved blocks" in text(r) and saved_block_count() == saved_blocks.MAX_SAVED_BLOCKS


# -- versions, restore and conversion -----------------------------------------------------


def test_the_versions_page_lists_versions_and_an_old_one_can_be_restored(client, hx, token, tpl):
    save(hx, tpl.id, edited(intro={"text": "Second draft"}))
    before = snapshot(tpl.id)
    v1 = templates.get_version(tpl.workspace_id, tpl.id, 1)

    page = text(client.get(f"/templates/{tpl.id}/versions"))
    assert "Version 1" in page and "Version 2" in page and "current" in page and "Created" in page
    old = client.get(f"/templates/{tpl.id}/versions/1")
    assert old.status_code == 200 and "Hello Jane Doe" in srcdoc(text(old))
    assert client.get(f"/templates/{tpl.id}/versions/99").status_code == 404

    r = client.post(f"/templates/{tpl.id}/versions/1/restore", data={"csrf_token": token})

    assert r.status_code == 302 and r.headers["Location"].endswith(f"/templates/{tpl.id}/builder")
    after = snapshot(tpl.id)
    assert after["version"] == 3 and after["versions"] == 3
    assert after["design"] == v1.design and after["body_html"] == v1.body_html
    builder = text(client.get(r.headers["Location"]))
    assert "Version 1 restored as version 3" in builder and "Hello {{ subscriber.name }}" in builder
    page = text(client.get(f"/templates/{tpl.id}/versions"))
    assert "Restored version 1" in page and "Second draft" not in page
    assert "Second draft" in templates.get_version(tpl.workspace_id, tpl.id, 2).body_html  # nothing lost

    r = client.post(f"/templates/{tpl.id}/versions/99/restore", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "no version 99" in text(r)
    assert snapshot(tpl.id)["versions"] == before["versions"] + 1


def test_convert_to_code_opens_the_html_editor_and_the_builder_redirects_there(client, hx, token, tpl):
    design = snapshot(tpl.id)["design"]
    r = client.post(f"/templates/{tpl.id}/convert", data={"csrf_token": token})

    assert r.status_code == 302 and r.headers["Location"].endswith(f"/templates/{tpl.id}/edit")
    after = snapshot(tpl.id)
    assert after["template_type"] == "code" and after["design"] == design and after["versions"] == 2
    edit = client.get(r.headers["Location"])
    assert edit.status_code == 200 and 'name="body_html"' in text(edit) and "Spring sale" in text(edit)
    b = client.get(f"/templates/{tpl.id}/builder")
    assert b.status_code == 302 and b.headers["Location"].endswith(f"/templates/{tpl.id}/edit")

    # Converting twice is a clear message; a builder tab left open cannot turn it back.
    r = client.post(f"/templates/{tpl.id}/convert", data={"csrf_token": token}, follow_redirects=True)
    assert "already a code template" in text(r)
    assert_refused(save(hx, tpl.id, edited(intro={"text": "Stale tab"})), tpl.id, after, "code template")


def test_a_code_templates_builder_url_redirects_to_its_editor(client, workspace):
    code = templates.create_template(workspace.id, {"name": "Code", "subject": "Hi", "body_html": TEMPLATE_HTML})
    db.session.commit()
    r = client.get(f"/templates/{code.id}/builder")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/templates/{code.id}/edit")
    assert 'name="body_html"' in text(client.get(r.headers["Location"]))


# -- hostile designs ----------------------------------------------------------------------


def _deep_value() -> dict:
    d = edited()
    value = "#fff"
    for _ in range(900):
        value = [value]
    for b in walk(d["blocks"]):
        if b["id"] == "cta":
            b["props"]["backgroundColor"] = value
    return json.dumps(d)


BAD_DESIGNS = [
    ("not-json", "{not json", ["not JSON"]),
    ("empty", "", ["not JSON"]),
    ("array", "[]", ["must be a JSON object"]),
    ("number", "42", ["must be a JSON object"]),
    ("null", "null", ["needs a design"]),
    ("string", '"design"', ["must be a JSON object"]),
    (
        "three-mb",
        lambda: json.dumps(with_blocks({"id": "t", "type": "text", "props": {"text": "a" * 3_000_000}})),
        ["2 MB"],
    ),
    ("deep-json", '{"version": 1, "blocks": ' + "[" * 5000 + "]" * 5000 + "}", ["nested"]),
    ("deep-value", _deep_value, ["nested"]),
    ("unknown-type", json.dumps(with_blocks({"id": "m", "type": "marquee", "props": {}})), ["not a block type"]),
    ("missing-required", json.dumps(edited(title={"text": None})), ["a header block needs text"]),
    ("bad-colour", json.dumps(edited(cta={"backgroundColor": "#12"})), ["is not a colour"]),
    ("unknown-prop", json.dumps(edited(cta={"onclick": "alert(1)"})), ["unknown prop"]),
    (
        "child-not-allowed",
        json.dumps(with_blocks({"id": "t", "type": "text", "props": {"text": "x"}, "children": []})),
        ["cannot have children"],
    ),
    (
        "column-at-top",
        json.dumps(with_blocks({"id": "c", "type": "column", "props": {}, "children": []})),
        ["only be inside a section"],
    ),
    (
        "duplicate-id",
        json.dumps(with_blocks(*({"id": "same", "type": "spacer"} for _ in range(2)))),
        ["used by more than one block"],
    ),
    ("too-deep", json.dumps(with_blocks(nested_containers(MAX_DEPTH + 2))), ["nested too deep"]),
    ("too-many", json.dumps(with_blocks(*({"id": f"s{i}", "type": "spacer"} for i in range(600)))), ["at most 500"]),
    ("bad-version", json.dumps({**DESIGN, "version": 2}), ["not a supported version"]),
    ("bad-id", json.dumps(with_blocks({"id": "<b>", "type": "spacer"})), ["not a valid id"]),
    ("huge-key", json.dumps({**DESIGN, "k" * 200_000: 1}), ["unknown field"]),
    ("javascript-button", json.dumps(edited(cta={"href": "javascript:alert(1)"})), ["not an allowed link"]),
    (
        "javascript-image",
        json.dumps(with_blocks({"id": "i", "type": "image", "props": {"src": "javascript:x"}})),
        ["link"],
    ),
    ("nul-in-text", json.dumps(edited(intro={"text": "a\x00b"})), ["control characters"]),
    ("jinja-loop", json.dumps(edited(intro={"text": "{% for i in range(10**9) %}x{% endfor %}"})), ["{%"]),
    ("jinja-unclosed", json.dumps(edited(intro={"text": "Hi {{ subscriber.name"})), ["{{"]),
    ("jinja-comment", json.dumps(edited(title={"text": "{# hidden #}"})), ["{#"]),
    ("jinja-safe", json.dumps(edited(intro={"text": "{{ subscriber.name|safe }}"})), ["'safe' filter"]),
    ("jinja-dunder", json.dumps(edited(intro={"text": "{{ ''.__class__ }}"})), ["__class__"]),
    ("jinja-mro", json.dumps(edited(title={"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})), ["__"]),
    ("jinja-item-dunder", json.dumps(edited(intro={"text": "{{ subscriber['__class__'] }}"})), ["__class__"]),
    ("jinja-power", json.dumps(edited(intro={"text": "{{ 9**9**9 }}"})), ["**"]),
    (
        "jinja-variable-dunder",
        json.dumps(with_blocks({"id": "v", "type": "variable", "props": {"name": "subscriber.__class__"}})),
        ["__class__"],
    ),
    (
        "jinja-condition-dunder",
        json.dumps(
            with_blocks(
                {"id": "c", "type": "conditional", "props": {"condition": "subscriber.__class__ == 1"}, "children": []}
            )
        ),
        ["__class__"],
    ),
    ("jinja-in-href", json.dumps(edited(cta={"href": "{{ ''.__class__ }}"})), ["private"]),
    (
        "bad-condition",
        json.dumps(with_blocks({"id": "c", "type": "conditional", "props": {"condition": "{% if %}"}})),
        ["condition"],
    ),
]


@pytest.mark.parametrize("raw,words", [b[1:] for b in BAD_DESIGNS], ids=[b[0] for b in BAD_DESIGNS])
def test_a_bad_design_is_refused_with_a_clear_message_and_nothing_is_saved(hx, tpl, raw, words):
    raw = raw() if callable(raw) else raw
    before = snapshot(tpl.id)
    detail = assert_refused(save(hx, tpl.id, raw), tpl.id, before, *words)
    assert detail["message"] and detail["fields"]


def test_ordinary_expressions_are_kept(hx, tpl):
    text_ = "{{ subscriber.name | upper }} has {{ 2 ** 3 }} points and {{ subscriber.attributes['plan'] }}"
    r = save(hx, tpl.id, edited(intro={"text": text_}))
    assert trigger(r)["hb-saved"]["version"] == 2
    doc = srcdoc(text(hx(f"/templates/{tpl.id}/builder/preview", {})))
    assert "JANE DOE has 8 points and gold" in doc


def test_the_size_limit_is_the_design_limit(hx, tpl):
    assert MAX_DESIGN_BYTES == 2_000_000
    big = json.dumps(
        with_blocks(*({"id": f"t{i}", "type": "text", "props": {"text": "x" * 19_000}} for i in range(60)))
    )
    assert 1_000_000 < len(big) < MAX_DESIGN_BYTES
    r = save(hx, tpl.id, big)  # under the limit: read, and refused for what it compiles to (over 1 MB of HTML)
    assert_refused(r, tpl.id, snapshot(tpl.id), "1 MB")


def test_a_marketing_design_without_unsubscribe_is_refused_and_a_transactional_one_saved(hx, tpl):
    no_unsubscribe = edited(foot={"showUnsubscribe": False})
    before = snapshot(tpl.id)
    detail = assert_refused(save(hx, tpl.id, no_unsubscribe), tpl.id, before, "unsubscribe")
    assert "Marketing email must let people unsubscribe" in detail["message"]
    # An unsubscribe link hidden in a conditional does not count either.
    hidden = with_blocks(
        {
            "id": "if",
            "type": "conditional",
            "props": {"condition": "subscriber.attributes.plan == 'gold'"},
            "children": [{"id": "f", "type": "footer", "props": {}}],
        },
        footer=False,
    )
    assert_refused(save(hx, tpl.id, hidden), tpl.id, before, "unsubscribe")

    r = save(hx, tpl.id, no_unsubscribe, category="transactional")
    assert trigger(r)["hb-saved"]["version"] == 2
    after = snapshot(tpl.id)
    assert after["category"] == "transactional" and "unsubscribe_url" not in after["body_html"]


SCRIPTY = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)">one</a> <a href="JaVaScRiPt:alert(4)">two</a> '
    '<a href="java&#x09;script:alert(5)">three</a> <a href=" javascript:alert(6)">four</a> '
    '<span style="color:red" onmouseover="alert(7)">hover</span><p onclick="alert(8)">para</p>'
    "<svg onload=alert(9)></svg><iframe src=javascript:alert(10)></iframe>"
    '<a href="https://example.com/ok" onclick="alert(11)">safe link</a>'
    '<style>body{background:url("javascript:alert(12)")}</style><b>Bold stays</b>'
)


def test_script_and_handlers_in_text_blocks_are_saved_cleaned(client, hx, tpl):
    design = edited(intro={"text": SCRIPTY}, title={"text": "<script>alert('title')</script>"})
    r = save(hx, tpl.id, design)

    assert trigger(r)["hb-saved"]["version"] == 2
    body = snapshot(tpl.id)["body_html"]
    assert executable(body) == [], executable(body)
    assert executable(text(r)) == [], executable(text(r))
    assert "<style>body" not in body and "<style>body" not in text(r)  # its text may stay, as text
    for html in (body, text(r)):
        assert "<b>Bold stays</b>" in html and 'href="https://example.com/ok"' in html and "safe link" in html
        assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html or "&lt;script&gt;alert('title')" in html

    page = text(client.get(f"/templates/{tpl.id}/builder"))
    canvas = page.split('id="hb-canvas"', 1)[1].split('id="hb-preview"', 1)[0]
    assert executable(canvas) == [], executable(canvas)
    design_json = re.search(r'id="hb-design">(.*?)</script>', page, re.S).group(1)
    assert "<" not in design_json and json.loads(design_json)["blocks"][1]["props"]["text"] == SCRIPTY

    preview = text(hx(f"/templates/{tpl.id}/builder/preview", {}))
    assert executable(srcdoc(preview)) == []


# String literals of markup in {{ }}: valid Jinja (the email escapes them), never markup on the canvas.
MARKUP_EXPRESSIONS = (
    """Hi {{ '<div hx-post="/settings/webhooks/new" hx-trigger="load">' }} """
    """{{ "<img src=x onerror=alert(1)>" }} {{ '<a hx-get="/workspaces/switch" hx-trigger="load">' ~ 'x' }}"""
)


def test_markup_in_an_expression_of_a_design_stored_through_the_api_is_text_on_the_canvas(client, hx, api):
    design = edited(intro={"text": MARKUP_EXPRESSIONS})
    stored = api.post("/designs", json={"name": "Hostile", "subject": "S", "design": design})
    assert stored.status_code == 201, stored.json

    page = text(client.get(f"/templates/{stored.json['id']}/builder"))
    canvas = page.split('id="hb-canvas"', 1)[1].split('id="hb-preview"', 1)[0]
    assert re.match(r"[^>]*\bhx-disable\b", canvas)  # htmx ignores whatever a design puts there
    answer = text(save(hx, stored.json["id"], edited(design, title={"text": "Again"})))  # the canvas a save swaps in
    for html in (canvas, answer):
        assert executable(html) == [], executable(html)
        assert str(escape("""{{ '<div hx-post="/settings/webhooks/new" hx-trigger="load">' }}""")) in html
        assert "<code class=hb-expr>{{ &#34;&lt;img src=x onerror=alert(1)&gt;&#34; }}</code>" in html


@pytest.mark.parametrize(
    "meta,words",
    [
        ({"subject": "Hi\r\nBcc: eve@example.com"}, "one line"),
        ({"subject": "Hi\nthere"}, "one line"),
        ({"subject": ""}, "subject is required"),
        ({"subject": "Hi {{ subscriber.name "}, "Template error"),
        ({"name": "x" * 10_000}, "under 200 characters"),
        ({"name": "   "}, "Give the template a name"),
        ({"preview_text": "p" * 600}, "under 500 characters"),
        ({"category": "spam"}, "Choose one of"),
    ],
    ids=[
        "crlf",
        "newline",
        "empty",
        "jinja",
        "long-name",
        "blank-name",
        "long-preview",
        "category",
    ],
)
def test_bad_email_settings_are_refused_and_nothing_is_saved(hx, tpl, meta, words):
    before = snapshot(tpl.id)
    assert_refused(save(hx, tpl.id, edited(intro={"text": "Changed"}), **meta), tpl.id, before, words)


def test_nul_bytes_in_the_form_are_dropped_before_anything_is_stored(hx, tpl, workspace):
    r = save(hx, tpl.id, DESIGN, name="Spr\x00ing", subject="Hi\x00 there", preview_text="So\x00on")
    assert "hb-saved" in trigger(r)
    after = snapshot(tpl.id)
    assert (after["name"], after["subject"], after["preview_text"]) == ("Spring", "Hi there", "Soon")
    r = hx(
        f"/templates/{tpl.id}/builder/blocks",
        {"name": "Foo\x00ter", "block": json.dumps({"id": "d", "type": "divider"})},
    )
    assert trigger(r) == {"hb-block-saved": {"name": "Footer"}}


# -- other workspaces ---------------------------------------------------------------------


@pytest.fixture
def theirs(make_workspace, workspace):
    other = make_workspace("Other", "other@example.com")
    tpl = make_visual(other.id, design=edited(title={"text": "Their secret sale"}))
    block = saved_blocks.create_saved_block(other.id, "Their block", {"id": "d", "type": "divider"})
    sub = contacts.add_subscriber(other.id, "their@example.com", "Their Person")
    db.session.commit()
    return {"ws": other, "tpl": tpl, "block": block, "sub": sub}


def test_another_workspaces_template_answers_404_on_every_route(client, hx, token, theirs, sink_provider, smtp_sink):
    tid, bid = theirs["tpl"].id, theirs["block"].id
    before = snapshot(tid)
    hijack = json.dumps(edited(title={"text": "Hijacked"}))
    routes = [
        ("GET", f"/templates/{tid}/builder", None),
        ("GET", f"/templates/{tid}/edit", None),
        ("GET", f"/templates/{tid}/versions", None),
        ("GET", f"/templates/{tid}/versions/1", None),
        ("POST", f"/templates/{tid}/builder/save", {"design": hijack, "name": "Hijacked"}),
        ("POST", f"/templates/{tid}/builder/panel", {"design": hijack, "block": "title"}),
        ("POST", f"/templates/{tid}/builder/preview", {}),
        ("POST", f"/templates/{tid}/builder/test", {"emails": "eve@example.com", "from_email": "eve@example.com"}),
        (
            "POST",
            f"/templates/{tid}/builder/blocks",
            {"name": "Stolen", "block": json.dumps({"id": "x", "type": "spacer"})},
        ),
        ("POST", f"/templates/{tid}/builder/blocks/{bid}/delete", {}),
        ("POST", f"/templates/{tid}/versions/1/restore", {}),
        ("POST", f"/templates/{tid}/convert", {}),
        ("POST", f"/templates/{tid}/edit", {"name": "Hijacked", "subject": "x", "body_html": TEMPLATE_HTML}),
        ("POST", f"/templates/{tid}/delete", {}),
    ]
    for method, path, data in routes:
        if method == "GET":
            r = client.get(path)
        else:
            r = hx(path, data)
            assert r.status_code == 404, (path, r.status_code, text(r)[:500])
            r = client.post(path, data={"csrf_token": token, **data})  # as a plain form
        assert r.status_code == 404, (method, path, r.status_code, text(r)[:500])
        assert "Their secret sale" not in text(r)
    assert snapshot(tid) == before
    assert saved_block_count(theirs["ws"].id) == 1 and saved_block_count() == 1
    assert smtp_sink.messages == []


@pytest.mark.parametrize("which", ["theirs", "unknown", "text", "huge", "negative", "float"])
def test_a_subscriber_of_another_workspace_or_no_subscriber_is_a_clear_error(
    hx, tpl, theirs, sink_provider, smtp_sink, which
):
    sub_id = {
        "theirs": str(theirs["sub"].id),
        "unknown": "999999",
        "text": "abc",
        "huge": "9" * 30,
        "negative": "-1",
        "float": "1.5",
    }[which]
    r = hx(f"/templates/{tpl.id}/builder/preview", {"subscriber_id": sub_id})
    assert r.status_code == 200 and "No such subscriber" in text(r), text(r)[:500]
    assert "Their Person" not in text(r) and "hb-preview-frame" not in text(r)

    r = hx(
        f"/templates/{tpl.id}/builder/test",
        {"emails": "ana@example.com", "from_email": "news@acme.example.com", "subscriber_id": sub_id},
    )
    assert r.status_code == 200 and "No such subscriber" in text(r), text(r)[:500]
    assert smtp_sink.messages == []


def test_deleting_another_workspaces_saved_block_deletes_nothing(hx, tpl, theirs, workspace):
    mine = saved_blocks.create_saved_block(workspace.id, "Mine", {"id": "d", "type": "divider"})
    db.session.commit()
    for bid in (theirs["block"].id, 999_999):
        r = hx(f"/templates/{tpl.id}/builder/blocks/{bid}/delete")
        assert r.status_code == 200 and "No such saved block" in text(r) and "Mine" in text(r)
        assert "Their block" not in text(r)
    assert saved_block_count(theirs["ws"].id) == 1 and saved_block_count(workspace.id) == 1
    assert mine.id


# -- CSRF ---------------------------------------------------------------------------------


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(client, tpl, workspace, sink_provider, smtp_sink):
    before = snapshot(tpl.id)
    changed = json.dumps(edited(title={"text": "Forged"}))
    posts = [
        (f"/templates/{tpl.id}/builder/save", {"design": changed}),
        (f"/templates/{tpl.id}/builder/blocks", {"name": "Forged", "block": json.dumps({"id": "x", "type": "spacer"})}),
        (f"/templates/{tpl.id}/builder/test", {"emails": "eve@example.com", "from_email": "eve@example.com"}),
        (f"/templates/{tpl.id}/versions/1/restore", {}),
        (f"/templates/{tpl.id}/convert", {}),
        ("/templates/new/visual", {"starter": "welcome"}),
    ]
    for path, data in posts:
        for headers in ({}, {"X-CSRFToken": "forged"}, {"HX-Request": "true"}):
            r = client.post(path, data=data, headers=headers)
            assert r.status_code == 400 and "Form expired" in text(r), (path, headers, r.status_code)
    assert snapshot(tpl.id) == before
    assert saved_block_count() == 0 and smtp_sink.messages == []
    assert db.session.scalar(select(func.count()).select_from(Template)) == 1


# -- query counts -------------------------------------------------------------------------


def test_the_builder_and_a_save_do_not_grow_with_saved_blocks_or_versions(client, hx, tpl, workspace, count_queries):
    def measure(n: int) -> tuple[int, int]:
        with count_queries() as page:
            assert client.get(f"/templates/{tpl.id}/builder").status_code == 200
        with count_queries() as saving:
            r = save(hx, tpl.id, edited(intro={"text": f"Measured {n}"}))
            assert "hb-saved" in trigger(r)
        return page(), saving()

    saved_blocks.create_saved_block(workspace.id, "One", {"id": "d", "type": "divider"})
    db.session.commit()
    first = measure(1)

    db.session.expire_all()  # the requests changed the template behind this session's back
    for i in range(25):
        saved_blocks.create_saved_block(workspace.id, f"Block {i}", {"id": "d", "type": "divider"})
        templates.update_template(workspace.id, tpl.id, {"design": edited(intro={"text": f"Version {i}"})})
    db.session.commit()
    assert snapshot(tpl.id)["versions"] > 25
    second = measure(2)

    assert second == first, (first, second)


@pytest.mark.parametrize("btype", [t for t in designs.BLOCK_TYPES if t != "column"])
def test_the_panel_opens_for_a_new_block_of_every_type(hx, tpl, btype):
    """A block just dropped from the palette, with its default props, opens in the panel."""
    block = {"id": "fresh", **default_block(btype, "https://herald.example.com")}
    design = {**DESIGN, "blocks": [*DESIGN["blocks"], block]}
    r = hx(f"/templates/{tpl.id}/builder/panel", {"design": json.dumps(design), "block": "fresh"})
    assert r.status_code == 200, btype
    assert f'data-type="{btype}"' in text(r)
