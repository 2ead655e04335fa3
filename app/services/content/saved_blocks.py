"""Saved blocks: a block, or a group of blocks, a workspace keeps for reuse in the builder."""

from sqlalchemy import select

from app.extensions import db
from app.models import SavedBlock
from app.services import designs
from app.services.errors import NotFound, ValidationError

MAX_SAVED_BLOCKS = 200


def _clean_name(name) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError("Give the saved block a name.", {"name": "required"})
    if len(name) > 200:
        raise ValidationError("Keep the name under 200 characters.", {"name": "too long"})
    return name


def _clean_blocks(blocks) -> list:
    """The blocks as they would stand at the top of a design, with defaults filled in."""
    if isinstance(blocks, dict):
        blocks = [blocks]
    if not isinstance(blocks, list) or not blocks:
        raise ValidationError("Save at least one block.", {"blocks": "a block or a non-empty list of blocks"})
    design = designs.validate_design({"version": 1, "blocks": blocks})
    return design["blocks"]


def create_saved_block(workspace_id: int, name, blocks) -> SavedBlock:
    count = db.session.scalar(
        select(db.func.count()).select_from(SavedBlock).where(SavedBlock.workspace_id == workspace_id)
    )
    if count >= MAX_SAVED_BLOCKS:
        raise ValidationError(f"A workspace keeps at most {MAX_SAVED_BLOCKS} saved blocks: delete some first.")
    saved = SavedBlock(workspace_id=workspace_id, name=_clean_name(name), blocks=_clean_blocks(blocks))
    db.session.add(saved)
    db.session.flush()
    return saved


def list_saved_blocks(workspace_id: int) -> list[SavedBlock]:
    return list(
        db.session.scalars(
            select(SavedBlock).where(SavedBlock.workspace_id == workspace_id).order_by(SavedBlock.name, SavedBlock.id)
        )
    )


def get_saved_block(workspace_id: int, block_id: int) -> SavedBlock:
    saved = db.session.scalar(
        select(SavedBlock).where(SavedBlock.id == block_id, SavedBlock.workspace_id == workspace_id)
    )
    if saved is None:
        raise NotFound("No such saved block.")
    return saved


def update_saved_block(workspace_id: int, block_id: int, data: dict) -> SavedBlock:
    saved = get_saved_block(workspace_id, block_id)
    if "name" in data:
        saved.name = _clean_name(data["name"])
    if "blocks" in data:
        saved.blocks = _clean_blocks(data["blocks"])
    db.session.flush()
    return saved


def delete_saved_block(workspace_id: int, block_id: int) -> None:
    db.session.delete(get_saved_block(workspace_id, block_id))
    db.session.flush()
