"""The product catalogue (`PUT /products/{sku}`), and the events a change of price or stock raises.

A price lower than before raises `price_dropped` for each person with the product on their wishlist
whose wished price (`price_at`, the price when they wished for it) is above the new one and who was not
told about this price or a lower one yet (`notified_price`); their `notified_price` becomes the new
price, so the same price again, or a rise and a fall back to it, tells nobody twice. Properties:
{sku, name, url, image_url, old_price (their price_at), new_price, currency}, prices as text with two
decimals ("49.90").

Stock coming back (the product could not be bought — `in_stock` false, or inventory 0 — and now can:
in stock with inventory null or above 0) raises one `back_in_stock` per person watching it, whether they
asked to be told (`restock`: their request is then deleted, told once) or wished for it (`wishlist`:
kept). Properties: {sku, name, url, image_url, price, currency, watch: "restock" | "wishlist"}.

Both are derived events (source `herald`), written set-based with one INSERT … SELECT each, keyed so a
retry cannot write them twice, in the caller's transaction, and handed to customer_events.after_ingest.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Text, case, cast, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import CustomerEvent, Product, ProductWatch, Subscriber
from app.services.automation import customer_events, product_fields
from app.services.automation.sql import insert_into, json_with, money_text
from app.services.errors import NotFound, ValidationError
from app.services.platform import audit

_EVENTS = CustomerEvent.__table__
_COLUMNS = ["workspace_id", "subscriber_id", "type", "properties", "occurred_at", "received_at", "idempotency_key",
            "source"]  # fmt: skip


def _sku(sku) -> str:
    try:
        return product_fields.clean_sku(sku)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"sku": exc.message}) from None


def put_product(workspace_id: int, sku, data) -> tuple[Product, bool]:
    """Create or replace the product `sku` (every field of `data`; those left out take their defaults) and
    raise the events its new price or stock means; returns (the product, whether it is new)."""
    sku, clean = _sku(sku), product_fields.clean_product(data)
    product = _find(workspace_id, sku)
    if product is None:
        product = Product(workspace_id=workspace_id, sku=sku, **clean)
        try:
            with db.session.begin_nested():  # the same SKU put twice at once: the second updates the first
                db.session.add(product)
            return product, True
        except IntegrityError:
            product = _find(workspace_id, sku)
    old_price = product.price
    was_available = product_fields.available(product.in_stock, product.inventory)
    for name, value in clean.items():
        setattr(product, name, value)
    db.session.flush()
    raised = []
    if clean["price"] < old_price:
        raised += _raise_price_drops(product)
    if not was_available and product_fields.available(product.in_stock, product.inventory):
        raised += _raise_restock(product)
    customer_events.after_ingest(workspace_id, raised)
    return product, False


def _find(workspace_id: int, sku: str) -> Product | None:
    return db.session.scalar(select(Product).where(Product.workspace_id == workspace_id, Product.sku == sku))


def _base_properties(product: Product) -> dict:
    return {"sku": product.sku, "name": product.name, "url": product.url, "image_url": product.image_url,
            "currency": product.currency}  # fmt: skip


def _derived(product: Product, event_type: str, people, properties, key):
    """The INSERT … SELECT of one derived event per row of `people` (a select of the watches table)."""
    now = datetime.now(timezone.utc)
    rows = people.with_only_columns(
        literal(product.workspace_id).label("workspace_id"),
        ProductWatch.subscriber_id,
        literal(event_type).label("type"),
        properties.label("properties"),
        literal(now, _EVENTS.c.occurred_at.type).label("occurred_at"),
        literal(now, _EVENTS.c.received_at.type).label("received_at"),
        key.label("idempotency_key"),
        literal("herald").label("source"),
    )
    stmt = (
        insert_into(_EVENTS)
        .from_select(_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "idempotency_key"])
        .returning(_EVENTS.c.id)
    )
    return list(db.session.scalars(stmt))


def _raise_price_drops(product: Product) -> list[int]:
    new = product.price
    told = (
        (ProductWatch.product_id == product.id)
        & (ProductWatch.kind == "wishlist")
        & (ProductWatch.price_at > new)
        & (ProductWatch.notified_price.is_(None) | (ProductWatch.notified_price > new))
    )
    new_text = f"{new:.2f}"
    properties = json_with(
        {**_base_properties(product), "new_price": new_text}, "old_price", money_text(ProductWatch.price_at)
    )
    key = literal("price_dropped:") + cast(ProductWatch.id, Text) + literal(f":{new_text}")
    ids = _derived(product, "price_dropped", select(ProductWatch.id).where(told), properties, key)
    db.session.execute(update(ProductWatch).where(told).values(notified_price=new))
    return ids


def _raise_restock(product: Product) -> list[int]:
    """One `back_in_stock` per person watching (a restock request wins over a wish: min of the kinds)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    base = {**_base_properties(product), "price": f"{product.price:.2f}"}
    people = (
        select(ProductWatch.subscriber_id)
        .where(ProductWatch.product_id == product.id, ProductWatch.kind.in_(("restock", "wishlist")))
        .group_by(ProductWatch.subscriber_id)
    )
    key = literal(f"back_in_stock:{product.id}:") + cast(ProductWatch.subscriber_id, Text) + literal(f":{stamp}")
    ids = _derived(product, "back_in_stock", people, json_with(base, "watch", func.min(ProductWatch.kind)), key)
    db.session.execute(
        delete(ProductWatch).where(ProductWatch.product_id == product.id, ProductWatch.kind == "restock")
    )
    return ids


# Reads and removal -------------------------------------------------------------------------------------


def get_product(workspace_id: int, sku) -> Product:
    """The workspace's product `sku`; NotFound for any other (a SKU that could not be stored included)."""
    try:
        product = _find(workspace_id, product_fields.clean_sku(sku))
    except ValidationError:
        product = None
    if product is None:
        raise NotFound("No product with this SKU.")
    return product


def product_by_id(workspace_id: int, product_id: int) -> Product:
    """The dashboard's look-up (its URLs name products by id; the API by SKU)."""
    product = db.session.get(Product, product_id)
    if product is None or product.workspace_id != workspace_id:
        raise NotFound("No such product.")
    return product


@dataclass(frozen=True)
class ProductRow:
    product: Product
    wishlist: int  # people with it on their wishlist
    restock: int  # people waiting to be told it is back

    @property
    def watchers(self) -> int:
        return self.wishlist + self.restock


def list_products(workspace_id: int, page: int = 1, per_page: int = 50, q: str | None = None):
    """(one page of products by name with their watcher counts, the total), in two queries."""
    counts = (
        select(
            ProductWatch.product_id,
            func.sum(_one_if("wishlist")).label("wishlist"),
            func.sum(_one_if("restock")).label("restock"),
        )
        .where(ProductWatch.workspace_id == workspace_id)
        .group_by(ProductWatch.product_id)
        .subquery()
    )
    stmt = select(Product).where(Product.workspace_id == workspace_id)
    if q:
        like = f"%{q.strip()[:100]}%"
        stmt = stmt.where(Product.name.ilike(like) | Product.sku.ilike(like))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    page, per_page = max(1, page), max(1, min(per_page, 200))
    rows = db.session.execute(
        stmt.add_columns(func.coalesce(counts.c.wishlist, 0), func.coalesce(counts.c.restock, 0))
        .outerjoin(counts, counts.c.product_id == Product.id)
        .order_by(Product.name, Product.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [ProductRow(p, int(w), int(r)) for p, w, r in rows], total


def watcher_counts(product: Product) -> tuple[int, int]:
    """(people with it on their wishlist, people waiting to be told it is back)."""
    row = db.session.execute(
        select(func.sum(_one_if("wishlist")), func.sum(_one_if("restock"))).where(ProductWatch.product_id == product.id)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _one_if(kind: str):
    return case((ProductWatch.kind == kind, 1), else_=0)


@dataclass(frozen=True)
class Watcher:
    subscriber_id: int
    email: str
    kind: str
    price_at: Decimal | None
    notified_price: Decimal | None
    since: datetime


def watchers_of(product: Product, limit: int = 100) -> list[Watcher]:
    """The people watching a product (the product page), newest first."""
    rows = db.session.execute(
        select(ProductWatch, Subscriber.email)
        .join(Subscriber, Subscriber.id == ProductWatch.subscriber_id)
        .where(ProductWatch.product_id == product.id)
        .order_by(ProductWatch.created_at.desc(), ProductWatch.id.desc())
        .limit(limit)
    )
    return [Watcher(w.subscriber_id, email, w.kind, w.price_at, w.notified_price, w.created_at) for w, email in rows]


def raised_by(product: Product, limit: int = 50) -> list[customer_events.EventRow]:
    """The events a product's price and stock raised (price_dropped, back_in_stock), newest first."""
    stmt = (
        select(CustomerEvent, Subscriber.email)
        .join(Subscriber, Subscriber.id == CustomerEvent.subscriber_id)
        .where(
            CustomerEvent.workspace_id == product.workspace_id,
            CustomerEvent.type.in_(("price_dropped", "back_in_stock")),
            CustomerEvent.properties["sku"].as_string() == product.sku,
        )
        .order_by(CustomerEvent.occurred_at.desc(), CustomerEvent.id.desc())
        .limit(limit)
    )
    return [customer_events.EventRow(e, email) for e, email in db.session.execute(stmt)]


def delete_product(workspace_id: int, sku) -> None:
    """Delete a product and who watches it (their events stay: they happened). Audit-logged."""
    remove_product(get_product(workspace_id, sku))


def remove_product(product: Product) -> None:
    workspace_id, product_id, sku = product.workspace_id, product.id, product.sku
    db.session.execute(delete(ProductWatch).where(ProductWatch.product_id == product_id))
    db.session.delete(product)
    db.session.flush()
    audit.record(workspace_id, "product.delete", "product", product_id, {"sku": sku})
