"""Categories: the kinds of campaign (promotions, tips…) people can opt out of or get less often (a
subscriber's choices are their `preferences`: PATCH /subscribers/{id})."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import category_json, page_slice
from app.blueprints.helpers import commit
from app.services.audience import preferences

TAG = "Categories"


@operation(
    "POST", "/categories", "Create a category", tag=TAG, body="CategoryCreate", response="Category", status=201,
    errors=(409,),
)  # fmt: skip
def create_category(body: dict):
    """409 when the workspace has a category of that name (whatever its case). Campaigns name it by
    `category_id`."""
    category = preferences.create_category(workspace_id(), body["name"], body.get("description"))
    commit()
    return category_json(category, preferences.category_counts(workspace_id()).get(category.id))


@operation("GET", "/categories", "List categories", tag=TAG, response="Category", paginated=True)
def list_categories(query: dict):
    """Every category by name, with how many active subscribers opted out and chose each frequency."""
    rows = preferences.categories_with_counts(workspace_id())
    return page_slice([category_json(c, n) for c, n in rows], query)


@operation("GET", "/categories/{category_id}", "Show a category", tag=TAG, response="Category")
def show_category(category_id: int):
    """One category with its counts."""
    category = preferences.get_category(workspace_id(), category_id)
    return category_json(category, preferences.category_counts(workspace_id()).get(category.id))


@operation(
    "PATCH", "/categories/{category_id}", "Rename a category", tag=TAG, body="CategoryPatch", response="Category",
    errors=(409,),
)  # fmt: skip
def update_category(category_id: int, body: dict):
    """Only the fields given change; people's choices for it stay."""
    category = preferences.update_category(workspace_id(), category_id, **body)
    commit()
    return category_json(category, preferences.category_counts(workspace_id()).get(category.id))


@operation("DELETE", "/categories/{category_id}", "Delete a category", tag=TAG, status=204)
def delete_category(category_id: int):
    """People's choices for it are forgotten; its campaigns keep their settings with `category_id` null."""
    preferences.delete_category(workspace_id(), category_id)
    commit()
    return Response(status=204)
