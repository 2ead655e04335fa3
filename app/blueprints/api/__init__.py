"""JSON API v1: bearer-key authentication, one error shape, and an OpenAPI document made from the
same declarations that register the routes (registry.operation)."""

from flask import Blueprint

from app.extensions import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # authenticated by a bearer key, never by a cookie
limiter.exempt(bp)

from app.blueprints.api import (  # noqa: E402, F401  (each module declares its operations)
    advisor,
    alerts,
    blocks,
    campaigns,
    categories,
    customer_events,
    deliveries,
    designs,
    dmarc,
    domains,
    email_templates,
    flows,
    frequency_cap,
    gift_cards,
    identities,
    images,
    ips,
    lists,
    loyalty,
    messages,
    openapi,
    orders,
    pools,
    products,
    providers,
    referrals,
    segments,
    sms,
    subscribers,
    suppressions,
    team,
    warming,
    webhook_endpoints,
)
from app.blueprints.api.auth import authenticate, authorize  # noqa: E402
from app.blueprints.api.errors import register_error_handlers  # noqa: E402
from app.blueprints.api.registry import OPERATIONS, view_for  # noqa: E402

bp.before_request(authenticate)
bp.before_request(authorize)  # the key's role, by operation
register_error_handlers(bp)
for _op in OPERATIONS:
    bp.add_url_rule(_op.rule, endpoint=_op.endpoint, view_func=view_for(_op), methods=[_op.method])
