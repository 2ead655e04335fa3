"""The segment builder in the dashboard: works as a plain form, counts live, saves, freezes, deletes;
campaigns pick segments and exclusions in their form."""

import re
from datetime import datetime, timedelta, timezone

from app.blueprints.segments import words
from app.extensions import db
from app.models import MailingList, Segment
from app.services.audience import segments
from app.services.automation import customer_events
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


def _row(html: str, path: str) -> str:
    """The builder's row at a path, up to the next row."""
    start = html.index(f'data-path="{path}"')
    following = html.find("data-path=", start + 1)
    return html[start : following if following > 0 else len(html)]


def _carts_and_orders(workspace_id: int) -> None:
    """c0..c2 updated a cart this week and c2 ordered; old0 updated one a month ago; t0 started a trial."""
    create_subscribers(workspace_id, people(3, email="c{i}@example.org") + people(1, email="old{i}@example.org"))
    create_subscribers(workspace_id, people(1, email="t{i}@example.org"))
    month_ago = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    cart = {"type": "cart_updated", "properties": {"items": []}}
    events = [cart | {"email": f"c{i}@example.org"} for i in range(3)]
    events += [cart | {"email": "old0@example.org", "occurred_at": month_ago}]
    events += [{"type": "order_placed", "email": "c2@example.org",
                "properties": {"order_id": "X-1", "total": 12, "currency": "EUR"}}]  # fmt: skip
    events += [{"type": "trial_started", "email": "t0@example.org"}]
    customer_events.ingest(workspace_id, events)
    db.session.commit()


def _did_rows(token: str, first: str, second: str, **extra) -> dict:
    return {
        "csrf_token": token,
        "name": "Carted, not bought",
        "node": ["r", "r.0", "r.1"],
        "type-r": "group",
        "group-r": "all",
        "type-r.0": "did",
        "not-r.0": "",
        "did-r.0": first,
        "count-r.0": "",
        "days-r.0": "7",
        "type-r.1": "did",
        "not-r.1": "1",
        "did-r.1": second,
        "count-r.1": "",
        "days-r.1": "",
        **extra,
    }


def test_a_marketer_builds_a_segment_of_what_people_did_with_plain_form_posts(client, workspace):
    _carts_and_orders(workspace.id)
    token = _token(client.get("/segments/new").text)
    starter = _builder_form(token, action="did:r")

    # "Customer event" adds a did row, suggesting the workspace's event types and the built-in ones.
    added = client.post("/segments/new", data=starter)
    assert added.status_code == 200 and 'name="did-r.1"' in _row(added.text, "r.1")
    datalist = re.search(r'<datalist id="segment-event-types">(.*?)</datalist>', added.text, re.S).group(1)
    for known in ("cart_updated", "order_placed", "trial_started", "price_dropped", "back_in_stock"):
        assert f'value="{known}"' in datalist
    assert 'name="did-r.1"' in client.post("/segments/builder", data=starter).text  # the same with HTMX

    # Fill it in, add a second one, then remove the first row (the plan condition): the rows move up.
    filled = _builder_form(token, **{"node": ["r", "r.0", "r.1"], "type-r.1": "did", "did-r.1": "cart_updated",
                                     "days-r.1": "7", "action": "did:r"})  # fmt: skip
    two = client.post("/segments/new", data=filled)
    assert 'value="cart_updated"' in _row(two.text, "r.1") and 'name="did-r.2"' in two.text
    three = {**filled, "node": ["r", "r.0", "r.1", "r.2"], "type-r.2": "did", "not-r.2": "1", "did-r.2": "order_placed",
             "action": "remove:r.0"}  # fmt: skip
    moved = client.post("/segments/new", data=three)
    assert 'value="cart_updated"' in _row(moved.text, "r.0") and 'data-path="r.2"' not in moved.text
    assert "selected>did not<" in _row(moved.text, "r.1") and 'value="order_placed"' in _row(moved.text, "r.1")

    expected = {"all": [{"did": "cart_updated", "within_days": 7}, {"did": "order_placed", "negate": True}]}
    preview = client.post("/segments/preview", data=_did_rows(token, "cart_updated", "order_placed"))
    service = segments.count(workspace.id, expected).count
    assert service == 2 and re.search(r'id="segment-count"[^>]*>2<', preview.text), preview.text

    saved = client.post("/segments/new", data=_did_rows(token, "cart_updated", "order_placed", action="save"))
    assert saved.status_code == 302
    seg = db.session.scalar(db.select(Segment).where(Segment.workspace_id == workspace.id))
    assert seg.rules == expected
    page = client.get(f"/segments/{seg.id}")
    assert "Did cart_updated in the last 7 days and did not order_placed" in page.text
    assert 'value="cart_updated"' in _row(page.text, "r.0") and 'value="order_placed"' in _row(page.text, "r.1")
    assert f'data-count="{service}"' in client.get(f"/segments/{seg.id}/count").text
    assert "did not order_placed" in client.get("/segments/").text

    # A bad event type is refused on its own row, and nothing is saved.
    bad = client.post("/segments/new", data=_did_rows(token, "cart_updated", "Bad Type!", action="save"))
    assert bad.status_code == 422
    assert "An event type" in _row(bad.text, "r.1") and "is-invalid" in _row(bad.text, "r.1")
    assert "An event type" not in _row(bad.text, "r.0")
    assert db.session.scalar(db.select(db.func.count()).select_from(Segment)) == 1


def test_a_customer_event_condition_reads_in_words():
    often = {"did": "cart_updated", "count_gte": 2, "within_days": 7}
    assert words.rules_words({"all": [often]}) == "Did cart_updated at least 2 times in the last 7 days"
    tree = {"any": [{"did": "order_placed", "negate": True}, {"event": "opened", "within_days": 90}]}
    assert words.rules_words(tree) == "Did not order_placed or opened an email in the last 90 days"
