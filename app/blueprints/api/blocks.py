"""Saved blocks: a block, or a group of blocks, a workspace keeps for reuse in the visual builder."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import page_slice, saved_block_json
from app.blueprints.helpers import commit
from app.services.content import saved_blocks

TAG = "Saved blocks"


def _blocks(body: dict):
    """`blocks` (a list), or `block` (one), as the service takes them; None when neither was given."""
    return body["blocks"] if "blocks" in body else body.get("block")


@operation("GET", "/blocks", "List saved blocks", tag=TAG, response="SavedBlock", paginated=True)
def list_blocks(query: dict):
    """By name."""
    return page_slice([saved_block_json(b) for b in saved_blocks.list_saved_blocks(workspace_id())], query)


@operation(
    "POST",
    "/blocks",
    "Save blocks for reuse",
    tag=TAG,
    body="SavedBlockCreate",
    response="SavedBlock",
    status=201,
    errors=(422,),
)
def create_block(body: dict):
    """Checked like the top of a design (a column must stay inside its section), defaults filled in; 422 with
    `fields` naming block and prop otherwise."""
    saved = saved_blocks.create_saved_block(workspace_id(), body["name"], _blocks(body))
    commit()
    return saved_block_json(saved)


@operation("GET", "/blocks/{block_id}", "Show saved blocks", tag=TAG, response="SavedBlock")
def show_block(block_id: int):
    """The saved blocks, ready to insert into a design (give them fresh ids there if they are used twice)."""
    return saved_block_json(saved_blocks.get_saved_block(workspace_id(), block_id))


@operation(
    "PATCH",
    "/blocks/{block_id}",
    "Rename or replace saved blocks",
    tag=TAG,
    body="SavedBlockPatch",
    response="SavedBlock",
    errors=(422,),
)
def update_block(block_id: int, body: dict):
    """Only the fields given change; designs that used the blocks keep their own copy."""
    data = {k: v for k, v in body.items() if k == "name"}
    if "blocks" in body or "block" in body:
        data["blocks"] = _blocks(body)
    saved = saved_blocks.update_saved_block(workspace_id(), block_id, data)
    commit()
    return saved_block_json(saved)


@operation("DELETE", "/blocks/{block_id}", "Delete saved blocks", tag=TAG, status=204)
def delete_block(block_id: int):
    """Designs that used the blocks keep their own copy."""
    saved_blocks.delete_saved_block(workspace_id(), block_id)
    commit()
    return Response(status=204)
