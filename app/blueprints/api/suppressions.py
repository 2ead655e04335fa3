"""The suppression list: addresses and @domains no campaign sends to."""

from flask import make_response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas import text
from app.blueprints.api.serializers import page_json, suppression_json
from app.blueprints.helpers import commit
from app.models.audience import SUPPRESSION_SOURCES
from app.services.audience import suppression
from app.services.pagination import paginate

TAG = "Suppressions"


@operation(
    "GET",
    "/suppressions",
    "List suppressions",
    tag=TAG,
    response="Suppression",
    paginated=True,
    query=(
        Param("email", text(320), "Entries containing this text (an address, a domain, part of either)."),
        Param("reason", {"enum": list(suppression.REASONS)}),
        Param("source", {"enum": list(SUPPRESSION_SOURCES)}),
    ),
)
def list_suppressions(query: dict):
    """Newest first."""
    stmt = suppression.search_suppressions(workspace_id(), query.get("email"), query.get("reason"), query.get("source"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([suppression_json(s) for s in items], total, query)


@operation(
    "POST",
    "/suppressions",
    "Suppress an address or a domain",
    tag=TAG,
    body="SuppressionCreate",
    response="Suppression",
    status=201,
    also=(200,),
)
def create_suppression(body: dict):
    """`email` is an address or a whole domain as `@example.com` (every address there). Recorded with source
    `api`. 201 for a new entry; 200 with the entry already there (its reason stays) when it was suppressed."""
    sup, created = suppression.add_suppression(
        workspace_id(), body["email"], body.get("reason", "manual"), body.get("detail"), source="api"
    )
    commit()
    return make_response(suppression_json(sup), 201 if created else 200)


@operation("DELETE", "/suppressions/{suppression_id}", "Remove a suppression", tag=TAG, status=204)
def delete_suppression(suppression_id: int):
    """Campaigns may send to the address (or domain) again; an unsubscribed subscriber stays unsubscribed.
    Removing an erased person's entry lets their address be added again."""
    suppression.remove_suppression(workspace_id(), suppression_id)
    commit()
    return ""
