"""Who watches a product, as the events say: `wishlist_added` puts it on the person's wishlist (with the
price they saw), `wishlist_removed` takes it off, `back_in_stock_requested` asks to be told once when it
is back. All set-based: one look-up of the batch's SKUs, one INSERT of the products the catalogue does
not have yet, one upsert of the watches, one DELETE of those removed.

A SKU the catalogue does not know yet is added from the event (sku, name, price, currency, url,
image_url), so a shop that sends events before its products still works; the event must then carry a
price and a currency (the catalogue stores both), or it is refused with the rest of its batch. Herald
never changes a known product from an event: `PUT /products/{sku}` is the authority.
"""

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import and_, delete, or_, select

from app.extensions import db
from app.models import Product, ProductWatch
from app.services.automation import product_fields
from app.services.automation.sql import insert_into

KIND_OF = {"wishlist_added": "wishlist", "wishlist_removed": "wishlist", "back_in_stock_requested": "restock"}
_CHUNK = 500


def known_products(workspace_id: int, skus) -> dict[str, tuple[int, Decimal]]:
    """sku -> (product id, current price) for the workspace's products among `skus`, in one query."""
    skus = sorted(set(skus))
    found = {}
    for i in range(0, len(skus), 1000):
        for pid, sku, price in db.session.execute(
            select(Product.id, Product.sku, Product.price).where(
                Product.workspace_id == workspace_id, Product.sku.in_(skus[i : i + 1000])
            )
        ):
            found[sku] = (pid, price)
    return found


def check_products(workspace_id: int, events) -> dict[str, str]:
    """{"events.N.properties.price": why} for watch events of a SKU the catalogue lacks that cannot add it."""
    known = known_products(
        workspace_id, (product_fields.clean_sku(e.properties["sku"]) for e in events if e.type != "wishlist_removed")
    )
    problems = {}
    for e in events:
        sku = product_fields.clean_sku(e.properties["sku"])
        if e.type == "wishlist_removed" or sku in known:
            continue
        for name in ("price", "currency"):
            if e.properties.get(name) is None:
                problems[f"events.{e.index}.properties.{name}"] = (
                    f"'{sku[:60]}' is not in the product catalogue yet: send its price and currency with the event "
                    "(or PUT /products/{sku} first) so Herald can add it."
                )
    return problems


def apply(workspace_id: int, changes: list[tuple[int, object]]) -> None:
    """Apply (subscriber id, event) watch changes in the batch's order: the last word on a person's product wins."""
    if not changes:
        return
    products = _products_for(workspace_id, [e for _, e in changes if e.type != "wishlist_removed"])
    final: dict[tuple[int, str, str], object] = {}
    for subscriber_id, event in changes:
        final[(subscriber_id, product_fields.clean_sku(event.properties["sku"]), KIND_OF[event.type])] = event
    upserts, removals = [], []
    for (subscriber_id, sku, kind), event in final.items():
        if event.type == "wishlist_removed":
            removals.append((subscriber_id, sku))
        else:
            product_id, current = products[sku]
            price = event.properties.get("price")
            price_at = product_fields.clean_price(price) if price is not None and kind == "wishlist" else current
            upserts.append({"workspace_id": workspace_id, "subscriber_id": subscriber_id, "product_id": product_id,
                            "kind": kind, "price_at": price_at if kind == "wishlist" else None})  # fmt: skip
    _upsert_watches(upserts)
    _remove_wishes(workspace_id, removals)


def _products_for(workspace_id: int, events) -> dict[str, tuple[int, Decimal]]:
    """sku -> (id, price) of every product the events name, adding those the catalogue lacks."""
    skus = {product_fields.clean_sku(e.properties["sku"]) for e in events}
    known = known_products(workspace_id, skus)
    missing = {}
    for e in events:
        sku = product_fields.clean_sku(e.properties["sku"])
        if sku not in known and sku not in missing:
            missing[sku] = _minimal_product(workspace_id, sku, e.properties)
    if missing:
        stmt = insert_into(Product.__table__).on_conflict_do_nothing(index_elements=["workspace_id", "sku"])
        db.session.execute(stmt, list(missing.values()))  # a PUT of the same SKU at the same moment wins
        known.update(known_products(workspace_id, missing))
    return known


def _minimal_product(workspace_id: int, sku: str, properties: dict) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "workspace_id": workspace_id,
        "sku": sku,
        "name": product_fields.clean_name(properties.get("name"), required=False) or sku,
        "price": product_fields.clean_price(properties["price"]),
        "currency": product_fields.clean_currency(properties["currency"]),
        "url": product_fields.clean_url(properties.get("url")),
        "image_url": product_fields.clean_url(properties.get("image_url")),
        "in_stock": True,
        "inventory": None,
        "created_at": now,
        "updated_at": now,
    }


def _upsert_watches(rows: list[dict]) -> None:
    """A wish made again takes the price seen now and may be told about drops afresh; a restock request
    made again changes nothing."""
    now = datetime.now(timezone.utc)
    for kind in ("wishlist", "restock"):
        batch = [{**r, "created_at": now, "notified_price": None} for r in rows if r["kind"] == kind]
        for i in range(0, len(batch), _CHUNK):
            stmt = insert_into(ProductWatch.__table__)
            target = ["subscriber_id", "product_id", "kind"]
            if kind == "wishlist":
                stmt = stmt.on_conflict_do_update(
                    index_elements=target,
                    set_={
                        "price_at": stmt.excluded.price_at,
                        "notified_price": None,
                        "created_at": stmt.excluded.created_at,
                    },
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=target)
            db.session.execute(stmt, batch[i : i + _CHUNK])


def _remove_wishes(workspace_id: int, removals: list[tuple[int, str]]) -> None:
    for i in range(0, len(removals), _CHUNK):
        pairs = removals[i : i + _CHUNK]
        wished = (
            select(ProductWatch.id)
            .join(Product, Product.id == ProductWatch.product_id)
            .where(
                Product.workspace_id == workspace_id,
                ProductWatch.kind == "wishlist",
                or_(*(and_(ProductWatch.subscriber_id == s, Product.sku == sku) for s, sku in pairs)),
            )
        )
        db.session.execute(delete(ProductWatch).where(ProductWatch.id.in_(wished)))
