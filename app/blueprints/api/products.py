"""The product catalogue: products put by SKU; a lower price or a restock tells the people watching."""

from flask import make_response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import text
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.services.automation import catalogue

TAG = "Products"


def product_json(p, wishlist: int, restock: int) -> dict:
    return {
        "id": p.id,
        "sku": p.sku,
        "name": p.name,
        "url": p.url,
        "image_url": p.image_url,
        "price": f"{p.price:.2f}",
        "currency": p.currency,
        "in_stock": p.in_stock,
        "inventory": p.inventory,
        "watchers": {"wishlist": wishlist, "restock": restock},
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


@operation(
    "PUT",
    "/products/{sku}",
    "Put a product",
    tag=TAG,
    body="ProductInput",
    response="Product",
    status=201,
    also=(200,),
    key_params=("sku",),
)
def put_product(sku: str, body: dict):
    """201 for a new SKU, 200 for one replaced. A price below the previous one raises `price_dropped` for each
    person whose wished price was higher and who was not told about this price (or a lower one) yet; becoming
    available again raises `back_in_stock` for the people asking to be told (once) and those who wished for it.
    A SKU with `/` or other reserved characters is sent percent-encoded."""
    product, created = catalogue.put_product(workspace_id(), sku, body)
    commit()
    return make_response(product_json(product, *catalogue.watcher_counts(product)), 201 if created else 200)


@operation(
    "GET",
    "/products",
    "List products",
    tag=TAG,
    response="Product",
    paginated=True,
    query=(Param("q", text(100), "Products whose name or SKU contains this text."),),
)
def list_products(query: dict):
    """By name, with how many people watch each."""
    rows, total = catalogue.list_products(workspace_id(), query["page"], query["per_page"], query.get("q"))
    return page_json([product_json(r.product, r.wishlist, r.restock) for r in rows], total, query)


@operation("GET", "/products/{sku}", "Get a product", tag=TAG, response="Product", key_params=("sku",))
def get_product(sku: str):
    product = catalogue.get_product(workspace_id(), sku)
    return product_json(product, *catalogue.watcher_counts(product))


@operation("DELETE", "/products/{sku}", "Delete a product", tag=TAG, status=204, key_params=("sku",))
def delete_product(sku: str):
    """Who watches it goes too; the events it raised stay (they happened)."""
    catalogue.delete_product(workspace_id(), sku)
    commit()
    return ""
