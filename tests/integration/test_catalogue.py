"""The product catalogue: products put by SKU (created 201, replaced 200, refused by field), a lower
price telling exactly the people who wished for the product dearer (once per price), a restock telling
those waiting (once) and those who wished for it; the product pages."""

from urllib.parse import quote

from sqlalchemy import func, select

from app.extensions import db
from app.models import CustomerEvent, ProductWatch, Subscriber
from tests.factories import create_subscribers, people
from tests.roles_support import api_client


def _ids(workspace) -> dict[str, int]:
    return {
        s.email: s.id for s in db.session.scalars(select(Subscriber).where(Subscriber.workspace_id == workspace.id))
    }


def _raised(event_type: str) -> list[CustomerEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(CustomerEvent).where(CustomerEvent.type == event_type).order_by(CustomerEvent.id))
    )


def _wish(api, email, sku, **properties):
    resp = api.post(
        "/events", json={"type": "wishlist_added", "email": email, "properties": {"sku": sku, **properties}}
    )
    assert resp.status_code == 202, resp.json


def _ask(api, email, sku):
    body = {"type": "back_in_stock_requested", "email": email, "properties": {"sku": sku}}
    assert api.post("/events", json=body).status_code == 202


def test_products_are_created_replaced_listed_and_refused_by_field(app, api, conforms, workspace, make_workspace):
    scarf = {"name": "Écharpe en laine mérinos", "price": "49.90", "currency": "eur", "url": "https://shop.example/p/%C3%A9charpe",
             "image_url": "https://cdn.example/é.jpg", "in_stock": True, "inventory": 12}  # fmt: skip
    created = conforms(api.put("/products/SCARF-1", json=scarf), "Product", 201)
    assert (created["price"], created["currency"], created["name"]) == ("49.90", "EUR", "Écharpe en laine mérinos")
    replaced = conforms(api.put("/products/SCARF-1", json={**scarf, "price": 45, "inventory": None}), "Product", 200)
    assert replaced["id"] == created["id"] and replaced["price"] == "45.00" and replaced["inventory"] is None

    sku = "BOTTES/À LACETS 42"  # a slash, a space, an accent: percent-encoded in the path
    assert (
        api.put(
            f"/products/{quote(sku, safe='')}", json={"name": "Bottes", "price": 120, "currency": "EUR"}
        ).status_code
        == 201
    )
    assert conforms(api.get(f"/products/{quote(sku, safe='')}"), "Product")["sku"] == sku
    listed = conforms(api.get("/products?per_page=1"), "ProductPage")
    assert listed["total"] == 2 and listed["items"][0]["name"] == "Bottes"
    assert conforms(api.get("/products?q=merinos"), "ProductPage")["total"] == 0  # plain ilike, no accent folding
    assert conforms(api.get("/products?q=mérinos"), "ProductPage")["total"] == 1

    bad = api.put("/products/X-1", json={"name": "X", "price": -1, "currency": "EURO", "url": "javascript:alert(1)",
                                        "inventory": -3})  # fmt: skip
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"price", "currency", "url", "inventory"}
    assert api.put("/products/X-1", json={"price": 1, "currency": "EUR"}).json["error"]["fields"] == {
        "name": "Required."
    }
    assert api.put("/products/X-1", json={"name": "X", "price": "€49,90", "currency": "EUR"}).status_code == 422
    assert (
        api.put("/products/" + quote("bad\tsku"), json={"name": "X", "price": 1, "currency": "EUR"}).status_code == 422
    )
    assert api.put("/products/" + "s" * 101, json={"name": "X", "price": 1, "currency": "EUR"}).status_code == 422
    assert (
        api.get("/products/" + "s" * 101).status_code == 404
        and api.get("/products/" + quote("a\x00b")).status_code == 404
    )

    other = make_workspace("Other", "other@example.com")
    theirs = api_client(app, other.id, "owner")
    assert theirs("GET", "/products/SCARF-1").status_code == 404  # ours: invisible to them
    assert theirs("DELETE", "/products/SCARF-1").status_code == 404
    analyst = api_client(app, workspace.id, "analyst")
    assert analyst("GET", "/products/SCARF-1").status_code == 200
    assert analyst("PUT", "/products/SCARF-1", json=scarf).status_code == 403
    assert analyst("POST", "/events", json={"type": "first_login", "email": "a@example.com"}).status_code == 403
    assert api.delete("/products/SCARF-1").status_code == 204 and api.get("/products/SCARF-1").status_code == 404


def test_a_price_drop_tells_exactly_those_who_wished_for_it_dearer_and_only_once(api, workspace):
    create_subscribers(workspace.id, people(4, email="w{i}@example.com"))
    db.session.commit()
    api.put("/products/LAMP", json={"name": "Lampe à poser", "price": "100.00", "currency": "EUR"})
    _wish(api, "w0@example.com", "LAMP")  # at the catalogue's 100
    _wish(api, "w1@example.com", "LAMP", price="80")  # saw it at 80
    _wish(api, "w2@example.com", "LAMP", price="60")  # saw it at 60
    _ask(api, "w3@example.com", "LAMP")  # a restock request is no wish
    ids = _ids(workspace)

    def put(price):
        return api.put("/products/LAMP", json={"name": "Lampe à poser", "price": price, "currency": "EUR"})

    assert put("70").status_code == 200
    drops = _raised("price_dropped")
    assert {e.subscriber_id for e in drops} == {ids["w0@example.com"], ids["w1@example.com"]}
    by_person = {e.subscriber_id: e.properties for e in drops}
    assert by_person[ids["w0@example.com"]] == {"sku": "LAMP", "name": "Lampe à poser", "url": None, "image_url": None,
                                                "currency": "EUR", "new_price": "70.00", "old_price": "100.00"}  # fmt: skip
    assert by_person[ids["w1@example.com"]]["old_price"] == "80.00"
    assert all(e.source == "herald" for e in drops)

    put("70")  # the same price again
    put("90")  # a rise...
    put("70")  # ...and a fall back to a price they were told about
    assert len(_raised("price_dropped")) == 2
    put("65")  # lower than they were told: told again
    assert len(_raised("price_dropped")) == 4
    put("59.99")  # now below w2's 60 too
    assert {e.subscriber_id for e in _raised("price_dropped")[4:]} == {ids[f"w{i}@example.com"] for i in range(3)}


def test_a_restock_tells_those_waiting_once_and_those_who_wished_for_it_each_time(api, workspace, client):
    create_subscribers(workspace.id, people(3, email="w{i}@example.com"))
    db.session.commit()
    ids = _ids(workspace)
    boots = {"name": "Bottes", "price": "120.00", "currency": "EUR", "in_stock": False}
    api.put("/products/BOOT", json=boots)
    _ask(api, "w0@example.com", "BOOT")
    _ask(api, "w1@example.com", "BOOT")
    _wish(api, "w1@example.com", "BOOT")  # waiting and wishing: told once, as the one who asked
    _wish(api, "w2@example.com", "BOOT")

    api.put("/products/BOOT", json={**boots, "in_stock": True, "inventory": 0})  # "in stock", none left: not yet
    assert _raised("back_in_stock") == []
    api.put("/products/BOOT", json={**boots, "in_stock": True, "inventory": 4})
    back = {e.subscriber_id: e.properties["watch"] for e in _raised("back_in_stock")}
    assert back == {
        ids["w0@example.com"]: "restock",
        ids["w1@example.com"]: "restock",
        ids["w2@example.com"]: "wishlist",
    }
    assert db.session.scalar(select(func.count()).select_from(ProductWatch).where(ProductWatch.kind == "restock")) == 0
    api.put("/products/BOOT", json={**boots, "in_stock": True, "inventory": 3})  # still available: nothing
    assert len(_raised("back_in_stock")) == 3

    api.put("/products/BOOT", json={**boots, "in_stock": True, "inventory": 0})  # sold out
    api.put("/products/BOOT", json={**boots, "in_stock": True, "inventory": None})  # back: only the wishers hear
    assert {e.subscriber_id for e in _raised("back_in_stock")[3:]} == {ids["w1@example.com"], ids["w2@example.com"]}

    product_id = api.get("/products/BOOT").json["id"]
    page = client.get(f"/products/{product_id}").get_data(as_text=True)
    assert 'id="product-watchers"' in page and "w2@example.com" in page and "back_in_stock" in page
    events = client.get("/events/?type=back_in_stock").get_data(as_text=True)
    assert "Derived by Herald" in events and "Bottes" in events


def test_the_products_pages_show_prices_stock_and_watchers_in_a_fixed_number_of_queries(
    api, client, workspace, count_queries
):
    create_subscribers(workspace.id, people(3, email="w{i}@example.com"))
    db.session.commit()
    api.put("/products/A-1", json={"name": "Écharpe <b>rouge</b>", "price": "49.90", "currency": "EUR", "inventory": 0})
    _wish(api, "w0@example.com", "A-1")
    _ask(api, "w1@example.com", "A-1")
    with count_queries() as few:
        index = client.get("/products/")
    page = index.get_data(as_text=True)
    assert "Écharpe &lt;b&gt;rouge&lt;/b&gt;" in page and "49.90 EUR" in page and 'data-stock="out"' in page
    for i in range(2, 12):
        api.put(f"/products/B-{i}", json={"name": f"Produit {i}", "price": i, "currency": "EUR"})
        _wish(api, "w2@example.com", f"B-{i}")
    with count_queries() as many:
        assert client.get("/products/").status_code == 200
    assert many() == few()
    empty = client.get("/products/?q=nothing-like-this").get_data(as_text=True)
    assert "Nothing matches" in empty
    assert client.get("/products/999999").status_code == 404
