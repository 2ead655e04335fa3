"""The segment builder in the dashboard: works as a plain form, counts live, saves, freezes, deletes;
campaigns pick segments and exclusions in their form."""

import re

from app.extensions import db
from app.models import MailingList, Segment
from app.services.audience import segments
from tests.factories import create_list, create_subscribers, people


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _builder_form(token: str, **extra) -> dict:
    return {
        "csrf_token": token,
        "name": "Pros",
        "node": ["r", "r.0"],
        "type-r": "group",
        "group-r": "all",
        "type-r.0": "condition",
        "field-r.0": "attributes.plan",
        "op-r.0": "eq",
        "value-r.0": "pro",
        **extra,
    }


def test_a_marketer_builds_counts_and_saves_a_segment(client, workspace):
    lst = create_list(workspace.id, "Newsletter")
    create_subscribers(workspace.id, people(7, email="pro{i}@example.org", plan="pro"), lst.id)
    create_subscribers(workspace.id, people(3, email="free{i}@example.org", plan="free"), lst.id)
    db.session.commit()
    page = client.get("/segments/new")
    assert page.status_code == 200 and 'id="builder"' in page.text
    token = _token(page.text)

    preview = client.post("/segments/preview", data=_builder_form(token), headers={"HX-Request": "true"})
    assert 'id="segment-count"' in preview.text and ">7<" in preview.text and "pro0@example.org" in preview.text

    # "Condition" adds a row (HTMX, and without JavaScript the same button re-shows the page).
    added = client.post("/segments/builder", data=_builder_form(token, action="add:r"))
    assert 'data-path="r.1"' in added.text
    plain = client.post("/segments/new", data=_builder_form(token, action="group:r"))
    assert plain.status_code == 200 and 'data-path="r.1"' in plain.text and 'name="group-r.1"' in plain.text

    bad = client.post("/segments/new", data=_builder_form(token, **{"op-r.0": "between", "value-r.0": "x"}))
    assert bad.status_code == 422 and "text-danger" in bad.text

    saved = client.post("/segments/new", data=_builder_form(token, action="save"))
    assert saved.status_code == 302
    seg = db.session.scalar(db.select(Segment).where(Segment.workspace_id == workspace.id))
    assert seg.rules == {"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}
    assert segments.count(workspace.id, seg.rules).count == 7
    index = client.get("/segments/")
    assert "Pros" in index.text and client.get(f"/segments/{seg.id}/count").text.count("7") >= 1

    frozen = client.post(f"/segments/{seg.id}/freeze", data={"csrf_token": token, "list_name": "Pros today"})
    assert frozen.status_code == 302
    assert db.session.scalar(db.select(MailingList).where(MailingList.name == "Pros today")) is not None

    form = client.get(f"/campaigns/new?segment_id={seg.id}")
    assert f'name="segment_ids" value="{seg.id}" checked' in form.text and 'name="exclude_list_ids"' in form.text

    seg_id = seg.id
    assert client.post(f"/segments/{seg_id}/delete", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(db.select(Segment.id).where(Segment.id == seg_id)) is None


def test_another_workspaces_segment_is_not_found(client, make_workspace):
    other = make_workspace("Other", "other@example.com")
    theirs = segments.create_segment(other.id, "Theirs", {"field": "email", "op": "is_set"})
    db.session.commit()
    assert client.get(f"/segments/{theirs.id}").status_code == 404
    assert client.get(f"/segments/{theirs.id}/count").status_code == 404
