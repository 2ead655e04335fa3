"""Mailing lists."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import list_json, page_slice
from app.blueprints.helpers import commit
from app.services.audience import contacts
from app.services.campaigns import drafts

TAG = "Lists"


@operation("POST", "/lists", "Create a list", tag=TAG, body="ListCreate", response="List", status=201)
def create_list(body: dict):
    """A new, empty list."""
    lst = contacts.create_list(
        workspace_id(), body["name"], body.get("description"), double_opt_in=body.get("double_opt_in", False)
    )
    commit()
    return list_json(lst, 0)


@operation("GET", "/lists", "List lists", tag=TAG, response="List", paginated=True)
def list_lists(query: dict):
    """Every list with its number of subscribers, by name."""
    rows = contacts.lists_with_counts(workspace_id())
    return page_slice([list_json(lst, n) for lst, n in rows], query)


@operation("GET", "/lists/{list_id}", "Show a list", tag=TAG, response="List")
def show_list(list_id: int):
    """One list with its number of subscribers."""
    lst = contacts.get_list(workspace_id(), list_id)
    return list_json(lst, drafts.audience_size(workspace_id(), [lst.id]))


@operation("PATCH", "/lists/{list_id}", "Change a list", tag=TAG, body="ListPatch", response="List")
def update_list(list_id: int, body: dict):
    """Rename a list, describe it, or switch its double opt-in on or off."""
    lst = contacts.update_list(workspace_id(), list_id, body)
    commit()
    return list_json(lst, drafts.audience_size(workspace_id(), [lst.id]))
