"""Sending identities: the From addresses (with display name and reply-to) campaigns and templates pick."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.extensions import db
from app.models import SendingDomain, SendingIdentity
from app.services.delivery import identities
from app.services.ids import MAX_ID

TAG = "Identities"


def identity_json(i: SendingIdentity, domain: SendingDomain | None = None) -> dict:
    domain = domain or db.session.get(SendingDomain, i.sending_domain_id)
    return {
        "id": i.id,
        "domain_id": i.sending_domain_id,
        "domain": domain.domain,
        "domain_status": domain.status,
        "email": i.email,
        "display_name": i.display_name,
        "reply_to": i.reply_to,
        "created_at": iso(i.created_at),
    }


@operation(
    "POST", "/identities", "Add a sending identity", tag=TAG, body="IdentityCreate", response="Identity", status=201
)
def create_identity(body: dict):
    """A From address on one of the workspace's sending domains (422 for another workspace's domain, an
    address on another domain, a display name with a line break, or an address that is one already)."""
    identity = identities.create_identity(
        workspace_id(), body["domain_id"], body["email"], body["display_name"], body.get("reply_to")
    )
    commit()
    return identity_json(identity)


@operation(
    "GET",
    "/identities",
    "List sending identities",
    tag=TAG,
    response="Identity",
    paginated=True,
    query=(Param("domain_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "Only this domain's."),),
)
def list_identities(query: dict):
    """By domain, then address."""
    groups = identities.identity_choices(workspace_id())
    items = [identity_json(i, d) for d, group in groups for i in group if query.get("domain_id") in (None, d.id)]
    return page_slice(items, query)


@operation("GET", "/identities/{identity_id}", "Show a sending identity", tag=TAG, response="Identity")
def show_identity(identity_id: int):
    """The identity with its domain's status."""
    return identity_json(identities.get_identity(workspace_id(), identity_id))


@operation(
    "PATCH",
    "/identities/{identity_id}",
    "Change a sending identity",
    tag=TAG,
    body="IdentityPatch",
    response="Identity",
)
def update_identity(identity_id: int, body: dict):
    """Only the fields given change. Campaigns copied the From when they chose the identity: a draft takes
    the new values when it is saved again; a transactional send of a template takes them at once."""
    identity = identities.update_identity(workspace_id(), identity_id, body)
    commit()
    return identity_json(identity)


@operation("DELETE", "/identities/{identity_id}", "Remove a sending identity", tag=TAG, status=204)
def delete_identity(identity_id: int):
    """Campaigns and templates that used it keep their From; their identity_id becomes null."""
    identities.delete_identity(workspace_id(), identity_id)
    commit()
    return Response(status=204)
