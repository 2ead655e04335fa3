"""Customer events through the API: a batch stored once per idempotency key, all or nothing with every
problem named by its place, people found or (when the event says so) added, orders recorded for
attribution, wishlists and restock requests kept as watches; the events page and a person's timeline."""

import json
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import CustomerEvent, Order, Product, ProductWatch, Subscriber
from app.services.audience import contacts, privacy
from tests.factories import create_subscribers, people


def _subscribers(workspace, n=3):
    create_subscribers(workspace.id, people(n, email="p{i}@example.com"))
    db.session.commit()  # the API's own session must see them (SQLite)
    return {
        s.email: s.id for s in db.session.scalars(select(Subscriber).where(Subscriber.workspace_id == workspace.id))
    }


def _count(model=CustomerEvent) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_batch_with_a_key_seen_twice_stores_two_and_counts_one_duplicate(api, conforms, workspace):
    _subscribers(workspace)
    batch = {"events": [
        {"type": "user_registered", "email": "p0@example.com", "idempotency_key": "reg-0"},
        {"type": "first_login", "email": "P1@Example.com", "idempotency_key": "login-1"},
        {"type": "user_registered", "email": "p0@example.com", "idempotency_key": "reg-0"},
    ]}  # fmt: skip
    first = conforms(api.post("/events", json=batch), "Ingested", 202)
    assert (first["accepted"], first["duplicates"], len(first["event_ids"])) == (2, 1, 2)
    again = conforms(api.post("/events", json=batch), "Ingested", 202)  # a retry of the whole call
    assert (again["accepted"], again["duplicates"], again["event_ids"]) == (0, 3, [])
    assert _count() == 2

    one = conforms(api.post("/events", json={"type": "trial.started", "email": "p2@example.com"}), "Ingested", 202)
    assert one["accepted"] == 1 and _count() == 3  # no key: every call is new
    listed = conforms(api.get("/events?type=user_registered"), "CustomerEventPage")
    assert listed["total"] == 1 and listed["items"][0]["email"] == "p0@example.com"
    assert listed["items"][0]["source"] == "api" and listed["items"][0]["idempotency_key"] == "reg-0"


def test_an_unknown_address_is_refused_by_its_place_unless_the_event_says_to_add_the_person(api, workspace):
    _subscribers(workspace, 1)
    events = [
        {"type": "cart_updated", "email": "p0@example.com"},
        {"type": "user_registered", "email": "new@example.com"},
    ]
    refused = api.post("/events", json={"events": events})
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == ["events.1.email"]
    assert "create_subscriber" in error["fields"]["events.1.email"] and "Nothing was stored" in error["message"]
    assert _count() == 0 and _count(Subscriber) == 1  # nothing at all, not even the valid event

    events[1]["create_subscriber"] = True
    events.append({"type": "first_login", "email": "New@example.com"})  # the same person, without the flag
    assert api.post("/events", json={"events": events}).json["accepted"] == 3
    new = db.session.scalar(select(Subscriber).where(Subscriber.email == "new@example.com"))
    assert (new.source, new.status, new.consent["method"]) == ("api", "active", "api")
    assert _count() == 3

    single = api.post("/events", json={"type": "first_login", "email": "ghost@example.com"})
    assert single.status_code == 422 and list(single.json["error"]["fields"]) == ["email"]  # a single event: by field


def test_hostile_and_malformed_events_are_refused_with_every_problem_named(api, make_workspace, workspace):
    ids = _subscribers(workspace, 2)
    theirs = contacts.add_subscriber(make_workspace("Other", "other@example.com").id, "them@example.com")
    db.session.commit()
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    events = [
        {"type": "price_dropped", "email": "p0@example.com"},  # Herald's own
        {"type": "Order Placed!", "email": "p0@example.com"},
        {"type": "custom_thing", "email": "p0@example.com", "properties": {"blob": "x" * (33 * 1024)}},
        {"type": "first_login", "email": "p0@example.com", "occurred_at": "yesterday"},
        {"type": "first_login", "email": "p0@example.com", "occurred_at": future},
        {"type": "first_login", "subscriber_id": theirs.id},  # another workspace's person
        {"type": "first_login", "email": "not-an-address"},
        {"type": "order_placed", "subscriber_id": ids["p1@example.com"], "properties": {"total": "abc"}},
        {"type": "first_login", "email": "p0@example.com", "subscriber_id": ids["p0@example.com"]},
        {"type": "first_login", "email": "p1@example.com", "properties": [1, 2]},
        {"type": "first_login", "email": "p1@example.com"},  # the only good one
    ]
    resp = api.post("/events", json={"events": events})
    assert resp.status_code == 422
    fields = resp.json["error"]["fields"]
    assert "raised by Herald" in fields["events.0.type"] and "not an event type" in fields["events.1.type"]
    assert "32 KB" in fields["events.2.properties"] and "ISO 8601" in fields["events.3.occurred_at"]
    assert "future" in fields["events.4.occurred_at"] and "No subscriber" in fields["events.5.subscriber_id"]
    assert "events.6.email" in fields and "Required" in fields["events.7.properties.order_id"]
    assert "events.7.properties.total" in fields and "events.7.properties.currency" in fields
    assert "not both" in fields["events.8.subscriber_id"] and "events.9.properties" in fields
    assert not any(f.startswith("events.10") for f in fields)
    assert "them@example.com" not in resp.get_data(as_text=True) and _count() == 0

    too_many = api.post("/events", json={"events": [{"type": "first_login", "email": "p0@example.com"}] * 1001})
    assert too_many.status_code == 422 and "1000" in too_many.json["error"]["fields"]["events"]
    assert api.post("/events", json={"events": []}).status_code == 422
    assert api.post("/events", json={"events": [], "type": "x"}).status_code == 422
    assert api.post("/events", json={"type": "first_login", "email": "p0@example.com", "extra": 1}).status_code == 422
    assert _count() == 0


def test_an_order_placed_event_records_an_order_for_attribution(api, conforms, workspace):
    _subscribers(workspace, 1)
    when = "2026-11-30T09:15:00+01:00"
    event = {"type": "order_placed", "email": "p0@example.com", "occurred_at": when, "idempotency_key": "o-1",
             "properties": {"order_id": "SO-77", "total": "129.90", "currency": "eur",
                            "items": [{"sku": "ÉCH-1", "name": "Écharpe en laine", "price": 64.95, "quantity": 2}]}}  # fmt: skip
    assert conforms(api.post("/events", json=event), "Ingested", 202)["accepted"] == 1
    assert api.post("/events", json=event).json["duplicates"] == 1
    orders = db.session.scalars(select(Order)).all()
    assert len(orders) == 1
    order = orders[0]
    assert (order.external_id, str(order.amount), order.currency, order.email) == (
        "SO-77",
        "129.90",
        "EUR",
        "p0@example.com",
    )
    assert (
        order.placed_at == datetime(2026, 11, 30, 8, 15, tzinfo=timezone.utc)
        and order.items[0]["name"] == "Écharpe en laine"
    )
    assert order.subscriber_id is not None


def test_wishlist_and_restock_events_keep_who_watches_a_product(api, workspace):
    ids = _subscribers(workspace, 2)
    api.put("/products/SCARF-1", json={"name": "Écharpe", "price": "59.00", "currency": "EUR"})
    events = [
        {"type": "wishlist_added", "email": "p0@example.com", "properties": {"sku": "SCARF-1", "price": "64.00"}},
        {"type": "wishlist_added", "email": "p1@example.com", "properties": {"sku": "SCARF-1"}},
        {"type": "back_in_stock_requested", "email": "p1@example.com",
         "properties": {"sku": "BOOT/42", "name": "Bottes à lacets", "price": 120, "currency": "EUR"}},
        {"type": "wishlist_added", "email": "p1@example.com", "properties": {"sku": "HAT-9"}},  # unknown, no price
    ]  # fmt: skip
    refused = api.post("/events", json={"events": events})
    assert refused.status_code == 422 and set(refused.json["error"]["fields"]) == {
        "events.3.properties.price",
        "events.3.properties.currency",
    }
    assert api.post("/events", json={"events": events[:3]}).json["accepted"] == 3
    watches = {(w.subscriber_id, w.kind): w for w in db.session.scalars(select(ProductWatch))}
    assert watches[(ids["p0@example.com"], "wishlist")].price_at == 64  # the price they saw
    assert watches[(ids["p1@example.com"], "wishlist")].price_at == 59  # the catalogue's
    boots = db.session.scalar(select(Product).where(Product.sku == "BOOT/42"))
    assert (boots.name, str(boots.price), boots.currency) == (
        "Bottes à lacets",
        "120.00",
        "EUR",
    )  # added from the event
    removed = {"type": "wishlist_removed", "email": "p0@example.com", "properties": {"sku": "SCARF-1"}}
    assert api.post("/events", json=removed).json["accepted"] == 1
    assert _count(ProductWatch) == 2


def test_the_events_page_filters_escapes_and_links_to_the_person(api, client, workspace):
    ids = _subscribers(workspace, 2)
    hostile = "<script>alert(1)</script>"
    api.post("/events", json={"events": [
        {"type": "cart_updated", "email": "p0@example.com", "properties": {"total": "19.90", "currency": "EUR", "cart_url": hostile}},
        {"type": "milestone_reached", "email": "p1@example.com", "properties": {"milestone": "Première commande"}},
    ]})  # fmt: skip
    page = client.get("/events/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="/subscribers/{ids["p0@example.com"]}"' in page and "Première commande" in page
    filtered = client.get("/events/?type=milestone_reached").get_data(as_text=True)
    assert "Première commande" in filtered and "19.90" not in filtered
    timeline = client.get(f"/subscribers/{ids['p0@example.com']}").get_data(as_text=True)
    assert 'id="customer-events"' in timeline and "cart_updated" in timeline and "&lt;script&gt;" in timeline
    nav = client.get("/").get_data(as_text=True)
    assert 'href="/events/"' in nav and 'href="/products/"' in nav


def test_the_timeline_api_and_privacy_export_and_erase_the_persons_events(api, conforms, workspace, make_workspace):
    ids = _subscribers(workspace, 2)
    sid = ids["p0@example.com"]
    api.put("/products/SKU-1", json={"name": "Lamp", "price": 10, "currency": "EUR"})
    api.post("/events", json={"events": [
        {"type": "first_login", "subscriber_id": sid},
        {"type": "wishlist_added", "subscriber_id": sid, "properties": {"sku": "SKU-1"}},
        {"type": "first_login", "subscriber_id": ids["p1@example.com"]},
    ]})  # fmt: skip
    mine = conforms(api.get(f"/subscribers/{sid}/events"), "CustomerEventPage")
    assert mine["total"] == 2 and {e["subscriber_id"] for e in mine["items"]} == {sid}
    theirs = contacts.add_subscriber(make_workspace("Other", "other@example.com").id, "them@example.com")
    db.session.commit()
    assert api.get(f"/subscribers/{theirs.id}/events").status_code == 404

    doc = conforms(api.get(f"/subscribers/{sid}/export"), "SubscriberExport")
    assert {e["type"] for e in doc["customer_events"]} == {"first_login", "wishlist_added"}
    assert doc["product_watches"][0]["sku"] == "SKU-1"
    privacy.erase_subscriber(workspace.id, sid)
    db.session.commit()
    assert _count() == 1 and _count(ProductWatch) == 0
    refused = api.post("/events", json={"type": "first_login", "subscriber_id": sid})
    assert refused.status_code == 422 and "erased" in json.dumps(refused.json)
    again = api.post("/events", json={"type": "first_login", "email": "p0@example.com", "create_subscriber": True})
    assert again.status_code == 422 and re.search(r"erased on request", again.json["error"]["fields"]["email"])


def test_customer_events_can_be_used_in_segments(api, workspace):
    from app.services.audience import segments

    events = [{"type": "cart_updated", "email": f"s{i}@example.org", "create_subscriber": True,
               "properties": {"items": []}} for i in range(3)]  # fmt: skip
    events += [{"type": "order_placed", "email": "s0@example.org",
                "properties": {"order_id": "X-1", "total": 12, "currency": "EUR"}}]  # fmt: skip
    events += [{"type": "cart_updated", "email": "s1@example.org", "properties": {"items": []}}]
    assert api.post("/events", json={"events": events}).status_code == 202
    carted_not_bought = {"all": [{"did": "cart_updated", "within_days": 7}, {"did": "order_placed", "negate": True}]}
    assert segments.count(workspace.id, segments.clean(workspace.id, carted_not_bought)).count == 2
    twice = {"all": [{"did": "cart_updated", "count_gte": 2}]}
    assert segments.count(workspace.id, segments.clean(workspace.id, twice)).count == 1
    counted = api.post("/segments/count", json={"rules": carted_not_bought})
    assert counted.status_code == 200 and counted.get_json()["count"] == 2, counted.get_json()
    bad = api.post("/segments/count", json={"rules": {"all": [{"did": "Bad Type!"}]}})
    assert bad.status_code == 422 and "rules.all.0.did" in str(bad.get_json())
