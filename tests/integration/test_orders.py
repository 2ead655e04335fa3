"""Orders and attribution: an order goes to the campaign whose message the buyer last clicked as a
person, within the workspace's window; scanners and Apple's prefetches earn nothing; the same
order sent twice is one order."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Event, Workspace
from app.services.campaigns import lifecycle
from app.services.events import tracking
from tests.factories import people, smtp_campaign
from tests.integration.test_engagement import HTML, _delivered, _hit, _urls


def _sent(workspace, smtp_sink, worker, n=3):
    camp = smtp_campaign(workspace, smtp_sink, people(n, email="b{i}@example.org"), template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    _delivered(camp.id, timedelta(minutes=30))
    return camp, html


def _order(api, external_id, email, amount="49.90", **extra):
    return api.post("/orders", json={"external_id": external_id, "email": email, "amount": amount, "currency": "eur",
                                     **extra})  # fmt: skip


def test_an_order_goes_to_the_campaign_a_person_clicked(api, conforms, workspace, smtp_sink, worker, app, client):
    camp, html = _sent(workspace, smtp_sink, worker)
    web = app.test_client()
    _hit(web, _urls(html["b0@example.org"])[1][0])  # b0 clicks, as a person
    _hit(web, _urls(html["b1@example.org"])[1][0], ua="curl/8.5.0")  # a scanner "clicks" b1's
    tracking.process_hits()

    first = conforms(_order(api, "SO-1001", "B0@example.org", items=[{"sku": "SH-1", "name": "Shoes", "price": 49.9,
                                                                     "quantity": 1}]), "Order", 201)  # fmt: skip
    assert (first["campaign_id"], first["attributed_by"], first["currency"], first["amount"]) == (
        camp.id,
        "click",
        "EUR",
        49.9,
    )
    again = conforms(_order(api, "SO-1001", "b0@example.org", amount="999"), "Order", 200)
    assert again["id"] == first["id"] and again["amount"] == 49.9  # the same order, once
    scanned = conforms(_order(api, "SO-1002", "b1@example.org", amount="20"), "Order", 201)
    assert scanned["campaign_id"] is None  # a scanner's click earns nothing
    stranger = conforms(_order(api, "SO-1003", "nobody@example.org"), "Order", 201)
    assert stranger["subscriber_id"] is None and stranger["campaign_id"] is None

    stats = conforms(api.get(f"/campaigns/{camp.id}"), "Campaign")["stats"]
    assert (stats["conversions"], stats["revenue"], stats["revenue_currency"]) == (1, 49.9, "EUR")
    assert "49.90 EUR" in client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert api.get(f"/orders/{first['id']}").get_json()["external_id"] == "SO-1001"


def test_the_window_decides_and_opens_count_only_when_the_workspace_says_so(api, workspace, smtp_sink, worker, app, client):  # fmt: skip
    camp, html = _sent(workspace, smtp_sink, worker)
    web = app.test_client()
    _hit(web, _urls(html["b0@example.org"])[1][0])
    _hit(web, _urls(html["b1@example.org"])[0])  # b1 opens, as a person
    _hit(web, _urls(html["b2@example.org"])[0], ua="Mozilla/5.0", ip="17.3.3.3")  # Apple prefetches b2's
    tracking.process_hits()
    week_ago = datetime.now(timezone.utc) - timedelta(days=6)
    db.session.execute(update(Event).where(Event.email == "b0@example.org").values(occurred_at=week_ago))
    db.session.commit()

    assert _order(api, "A-1", "b0@example.org").get_json()["campaign_id"] is None  # clicked 6 days ago: outside 5
    assert _order(api, "A-2", "b1@example.org").get_json()["campaign_id"] is None  # opens do not count yet
    form = client.get("/settings/workspace").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert 'name="attribution_click_days"' in form and 'value="5"' in form
    saved = client.post("/settings/workspace", data={"csrf_token": token, "name": "Acme", "timezone": "UTC", "attribution_click_days": "7",
                                                     "attribution_open_hours": "24"})  # fmt: skip
    assert saved.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Workspace, workspace.id).attribution_click_days, db.session.get(Workspace, workspace.id).attribution_open_hours) == (7, 24)  # fmt: skip
    assert _order(api, "A-3", "b0@example.org").get_json()["attributed_by"] == "click"  # 6 days: inside 7 now
    assert _order(api, "A-4", "b1@example.org").get_json()["attributed_by"] == "open"
    assert _order(api, "A-5", "b2@example.org").get_json()["campaign_id"] is None  # Apple's prefetch is no one
    before = datetime.now(timezone.utc) - timedelta(days=30)
    assert _order(api, "A-6", "b0@example.org", placed_at=before.isoformat()).get_json()["campaign_id"] is None

    bad = client.post("/settings/workspace", data={"csrf_token": token, "name": "Acme", "timezone": "UTC", "attribution_click_days": "0",
                                                   "attribution_open_hours": "x"})  # fmt: skip
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a@example.org", "amount": 1, "currency": "EUR"}, "external_id"),
        ({"external_id": "x", "email": "not an address", "amount": 1, "currency": "EUR"}, None),
        ({"external_id": "x", "email": "a@example.org", "amount": -1, "currency": "EUR"}, "amount"),
        ({"external_id": "x", "email": "a@example.org", "amount": "1e99", "currency": "EUR"}, "amount"),
        ({"external_id": "x", "email": "a@example.org", "amount": "NaN", "currency": "EUR"}, "amount"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "EURO"}, "currency"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "E1R"}, "currency"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "EUR", "placed_at": "yesterday"}, "placed_at"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "EUR", "placed_at": "2099-01-01T00:00:00Z"}, "placed_at"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "EUR", "items": [{"quantity": 0}]}, "items"),
        ({"external_id": "x", "email": "a@example.org", "amount": 1, "currency": "EUR", "items": ["shoes"]}, "items"),
        ({"external_id": "x" * 201, "email": "a@example.org", "amount": 1, "currency": "EUR"}, None),
    ],
)  # fmt: skip
def test_bad_orders_get_a_clear_answer_and_nothing_is_stored(api, body, field):
    answer = api.post("/orders", json=body)
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["message"]
    if field:
        assert any(key.startswith(field) for key in error["fields"]), error
    assert api.post("/orders", json={"external_id": "ok", "email": "a@example.org", "amount": 1, "currency": "EUR"}).status_code == 201  # fmt: skip


def test_another_workspaces_order_is_not_found(api, make_workspace):
    from app.services.events import attribution

    other = make_workspace()
    theirs, _ = attribution.record_order(other.id, {"external_id": "T", "email": "t@example.org", "amount": 5, "currency": "USD"})  # fmt: skip
    db.session.commit()
    assert api.get(f"/orders/{theirs.id}").status_code == 404
    mine = api.post("/orders", json={"external_id": "T", "email": "t@example.org", "amount": 5, "currency": "USD"})
    assert mine.status_code == 201 and mine.get_json()["id"] != theirs.id  # external ids are per workspace
