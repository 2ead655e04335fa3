"""Products: the shop's catalogue (kept by `PUT /api/v1/products/{sku}`), who watches each product, and
the price drops and restocks it raised."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, page_number, workspace_view
from app.services.automation import catalogue, customer_events

bp = Blueprint("products", __name__, url_prefix="/products")
PER_PAGE = 50


@bp.route("/")
@workspace_view
def index():
    q = (request.args.get("q") or "").strip()[:100]
    page = page_number()
    rows, total = catalogue.list_products(g.ws_id, page, PER_PAGE, q or None)
    return render_template("products/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE, q=q)


@bp.route("/<int:product_id>")
@workspace_view
def show(product_id):
    product = catalogue.product_by_id(g.ws_id, product_id)
    wishlist, restock = catalogue.watcher_counts(product)
    return render_template(
        "products/show.html",
        product=product,
        wishlist=wishlist,
        restock=restock,
        watchers=catalogue.watchers_of(product),
        raised=catalogue.raised_by(product),
        summary=customer_events.summary,
    )


@bp.route("/<int:product_id>/delete", methods=["POST"])
@workspace_view
def delete(product_id):
    product = catalogue.product_by_id(g.ws_id, product_id)
    name = product.name
    catalogue.remove_product(product)
    commit()
    flash(f"Deleted {name} and the list of people watching it.", "success")
    return redirect(url_for("products.index"))
