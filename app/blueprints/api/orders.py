"""Orders: what the shop sold, credited to the campaign that earned it."""

from flask import make_response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import order_json
from app.blueprints.helpers import commit
from app.services.events import attribution
from app.services.growth import orders as growth_orders

TAG = "Orders"


@operation("POST", "/orders", "Record an order", tag=TAG, body="OrderInput", response="Order", status=201, also=(200,))
def record_order(body: dict):
    """Credits it to the campaign whose message the buyer last clicked as a person within the workspace's
    window (5 days unless changed under Settings → Workspace), or, when the workspace credits opens, last
    opened. A new order also earns the buyer loyalty points (when the workspace has a program in the order's
    currency) and makes a gift card per unit of each item with `gift_card: true`, mailed to the buyer.
    201 for a new order; 200 with the order recorded first when `external_id` was sent before."""
    order, created = attribution.record_order(workspace_id(), body)
    if created:
        growth_orders.on_order(order)
    commit()
    return make_response(order_json(order), 201 if created else 200)


@operation("GET", "/orders/{order_id}", "Get an order", tag=TAG, response="Order")
def get_order(order_id: int):
    return order_json(attribution.get_order(workspace_id(), order_id))
