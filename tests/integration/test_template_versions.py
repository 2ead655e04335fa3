"""Template versions through the service: what is recorded on each save, autosave folding, restore
and conversion of a visual template to code."""

import copy
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services.content import templates
from app.services.errors import InvalidState, NotFound
from tests.conftest import TEMPLATE_HTML

DESIGN = {
    "version": 1,
    "settings": {"backgroundColor": "#f8f9fa", "width": 600, "fontFamily": "Arial, sans-serif"},
    "blocks": [
        {"id": "h1", "type": "header", "props": {"text": "Spring sale"}},
        {"id": "t1", "type": "text", "props": {"text": "Hello {{ subscriber.name }}!"}},
        {"id": "f1", "type": "footer", "props": {"text": "Acme, 1 Main St"}},
    ],
}


def with_text(design: dict, text: str) -> dict:
    changed = copy.deepcopy(design)
    changed["blocks"][1]["props"]["text"] = text
    return changed


@pytest.fixture
def users(make_workspace, workspace):
    make_workspace("Second", "second@example.com")
    return [u.id for u in db.session.scalars(select(User).order_by(User.id))]


def visual(workspace_id: int, user_id: int | None = None, design: dict = DESIGN):
    tpl = templates.create_template(
        workspace_id,
        {"name": "Spring", "subject": "Sale", "template_type": "visual", "design": design},
        user_id=user_id,
    )
    db.session.commit()
    return tpl


def numbers(tpl) -> list[int]:
    return [v.number for v in templates.list_versions(tpl.workspace_id, tpl.id)]


def test_creating_records_version_one_and_each_change_a_new_version(workspace):
    tpl = visual(workspace.id)
    assert tpl.version == 1 and numbers(tpl) == [1]
    first = templates.get_version(workspace.id, tpl.id, 1)
    assert first.note == "Created" and first.design == tpl.design and first.body_html == tpl.body_html

    templates.update_template(workspace.id, tpl.id, {"design": with_text(DESIGN, "Hi {{ subscriber.name }}")})
    db.session.commit()
    assert tpl.version == 2 and numbers(tpl) == [2, 1]  # newest first
    second = templates.get_version(workspace.id, tpl.id, 2)
    assert "Hi {{ subscriber.name }}" in second.body_html and second.design["blocks"][1]["props"]["text"].startswith(
        "Hi"
    )
    assert "Hello" in templates.get_version(workspace.id, tpl.id, 1).body_html  # the old one is untouched

    templates.update_template(workspace.id, tpl.id, {"subject": "Sale ends soon"})
    db.session.commit()
    assert tpl.version == 3 and templates.get_version(workspace.id, tpl.id, 3).subject == "Sale ends soon"
    with pytest.raises(NotFound):
        templates.get_version(workspace.id, tpl.id, 99)


def test_a_save_that_changes_nothing_records_no_version(workspace):
    tpl = visual(workspace.id)
    html = tpl.body_html
    templates.update_template(workspace.id, tpl.id, {"design": copy.deepcopy(DESIGN), "subject": "Sale"})
    templates.update_template(workspace.id, tpl.id, {"design": tpl.design})  # already normalized
    db.session.commit()
    assert tpl.version == 1 and numbers(tpl) == [1] and tpl.body_html == html  # the compiler is deterministic

    code = templates.create_template(workspace.id, {"name": "Code", "subject": "S", "body_html": TEMPLATE_HTML})
    templates.update_template(workspace.id, code.id, {"body_html": TEMPLATE_HTML, "subject": "S"})
    db.session.commit()
    assert code.version == 1 and numbers(code) == [1]


def test_autosaves_by_one_person_fold_into_one_version_within_the_window(workspace, users):
    alice, bob = users
    tpl = visual(workspace.id, user_id=alice)

    def autosave(user_id, text):
        templates.update_template(
            workspace.id, tpl.id, {"design": with_text(DESIGN, text)}, user_id=user_id, coalesce_seconds=60
        )
        db.session.commit()

    autosave(alice, "Draft one")  # the first save after "Created" is a version of its own
    autosave(alice, "Draft two")
    autosave(alice, "Draft three")
    assert numbers(tpl) == [2, 1]
    folded = templates.get_version(workspace.id, tpl.id, 2)
    assert folded.created_by == alice and "Draft three" in folded.body_html and "Draft three" in str(folded.design)

    autosave(bob, "Bob's words")  # someone else's edit is never folded into Alice's version
    assert numbers(tpl) == [3, 2, 1] and templates.get_version(workspace.id, tpl.id, 3).created_by == bob
    assert "Draft three" in templates.get_version(workspace.id, tpl.id, 2).body_html

    latest = templates.get_version(workspace.id, tpl.id, 3)
    latest.created_at = latest.created_at - timedelta(seconds=120)  # the window has passed
    db.session.commit()
    autosave(bob, "Bob, later")
    assert numbers(tpl) == [4, 3, 2, 1]
    assert "Bob's words" in templates.get_version(workspace.id, tpl.id, 3).body_html

    # Without coalesce_seconds (an explicit save) every change is a version.
    templates.update_template(workspace.id, tpl.id, {"design": with_text(DESIGN, "Saved")}, user_id=bob)
    db.session.commit()
    assert numbers(tpl)[0] == 5


def test_restoring_brings_back_the_old_content_as_a_new_version(workspace):
    tpl = visual(workspace.id)
    original_design, original_html = copy.deepcopy(tpl.design), tpl.body_html
    templates.update_template(
        workspace.id, tpl.id, {"design": with_text(DESIGN, "Changed"), "subject": "Other", "name": "Renamed"}
    )
    db.session.commit()
    assert tpl.version == 2

    restored = templates.restore_version(workspace.id, tpl.id, 1)
    db.session.commit()
    assert restored.version == 3 and numbers(tpl) == [3, 2, 1]
    assert restored.design == original_design and restored.body_html == original_html
    assert restored.subject == "Sale" and restored.name == "Renamed"  # the name is not part of a version
    assert templates.get_version(workspace.id, tpl.id, 3).note == "Restored version 1"
    assert "Changed" in templates.get_version(workspace.id, tpl.id, 2).body_html


def test_converting_to_code_keeps_the_design_frozen_and_bumps_the_version(workspace):
    tpl = visual(workspace.id)
    design, html = copy.deepcopy(tpl.design), tpl.body_html
    converted = templates.convert_to_code(workspace.id, tpl.id)
    db.session.commit()
    assert converted.template_type == "code" and converted.version == 2
    assert converted.design == design and converted.body_html == html
    version = templates.get_version(workspace.id, tpl.id, 2)
    assert version.note == "Converted to code" and version.template_type == "code" and version.design == design
    with pytest.raises(InvalidState):
        templates.convert_to_code(workspace.id, tpl.id)

    # From now on the HTML is edited directly; a design sent along is ignored, the frozen one stays.
    edited = templates.update_template(
        workspace.id, tpl.id, {"body_html": html.replace("Spring sale", "Summer sale"), "design": None}
    )
    db.session.commit()
    assert edited.template_type == "code" and edited.design == design and "Summer sale" in edited.body_html
    assert edited.version == 3


def test_a_code_template_ignores_a_design_in_a_patch(workspace):
    code = templates.create_template(workspace.id, {"name": "Code", "subject": "S", "body_html": TEMPLATE_HTML})
    db.session.commit()
    templates.update_template(workspace.id, code.id, {"design": DESIGN})
    db.session.commit()
    assert code.template_type == "code" and code.design is None and code.body_html == TEMPLATE_HTML
    assert code.version == 1 and numbers(code) == [1]


def test_versions_of_another_workspace_are_not_found(workspace, make_workspace):
    tpl = visual(workspace.id)
    other = make_workspace("Other", "other@example.com")
    for call in (
        lambda: templates.list_versions(other.id, tpl.id),
        lambda: templates.get_version(other.id, tpl.id, 1),
        lambda: templates.restore_version(other.id, tpl.id, 1),
        lambda: templates.convert_to_code(other.id, tpl.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert tpl.version == 1 and tpl.template_type == "visual"
