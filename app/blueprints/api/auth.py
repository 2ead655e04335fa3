"""Bearer API keys: the key's workspace is the workspace of every request."""

from flask import current_app, g, request

from app.blueprints.api.errors import ApiError
from app.blueprints.api.registry import operation_for
from app.extensions import db
from app.services.platform import roles
from app.services.platform.workspaces import find_api_key


def authenticate() -> None:
    """Before every API view but the public ones: find the key, remember its workspace."""
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "public", False):
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.")
    api_key = find_api_key(key.strip())
    if api_key is None:
        raise ApiError(401, "unauthorized", "That API key is not valid, or it was revoked.")
    g.api_workspace_id = api_key.workspace_id
    g.api_key_id, g.api_key_name, g.api_role = api_key.id, api_key.name, api_key.role or "owner"
    db.session.commit()  # keeps last_used_at even when the request itself fails


def authorize() -> None:
    """After `authenticate`: the key's role must allow the operation's kind of action (the one role
    check of the API; see services/platform/roles.py)."""
    op = operation_for(request.endpoint)
    if op is None or op.public:
        return
    role = g.api_role
    if not roles.allows(role, op.required_permission):
        raise ApiError(403, "forbidden", roles.refusal(role))


def workspace_id() -> int:
    return g.api_workspace_id
