"""Roles: which role may do which kind of action, for every dashboard page and every API call.

One policy, applied in two places only: a before_request of the dashboard (by endpoint and
method, app/blueprints/roles.py) and one of the API (by registry operation,
app/blueprints/api/auth.py). Views do not check roles themselves; the few decisions that depend
on data (only owners make or unmake owners, a key never outranks its creator) live in the
services that make them (platform/team.py, platform/workspaces.py).

Kinds of action, each with the least role that may take it:

    read   every GET page and GET API call, CSV exports of insights      analyst and up
    write  builds and sends: campaigns, templates, audience, imports...  marketer and up
    admin  team, API keys, providers, domains, IPs, pools, warming,      admin and up
           webhook endpoints, workspace settings
    owner  making or unmaking owners (and deleting a workspace)          owner
    self   one's own account (password, sign out, accepting an invite)   any member
"""

from app.models.workspace import ROLES

RANK = {"analyst": 1, "marketer": 2, "admin": 3, "owner": 4}
LEAST_ROLE = {"read": "analyst", "self": "analyst", "write": "marketer", "admin": "admin", "owner": "owner"}
PERMISSIONS = tuple(LEAST_ROLE)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ROLE_LABELS = {
    "owner": "Owner",
    "admin": "Admin",
    "marketer": "Marketer",
    "analyst": "Analyst",
}
ROLE_DESCRIPTIONS = {
    "owner": "Everything, including making other owners.",
    "admin": "Everything but changing owners: team, API keys, providers, domains, webhooks, settings.",
    "marketer": "Builds and sends: campaigns, templates, audience, segments, forms, imports.",
    "analyst": "Reads everything (pages, API, CSV exports) and changes nothing.",
}
_REFUSALS = {
    "analyst": "Analysts can read everything but change nothing; ask an owner or admin.",
    "marketer": (
        "Marketers build and send, but the team, API keys, providers, domains, webhooks and workspace "
        "settings are for owners and admins; ask one of them."
    ),
    "admin": "Only an owner can do this; ask one of the workspace's owners.",
}

# Dashboard areas (blueprint names) whose changes are the admin's: the sending infrastructure and
# the workspace's own settings. Every other area's changes are a marketer's.
ADMIN_AREAS = frozenset({"api_keys", "providers", "domains", "ips", "pools", "webhook_endpoints", "settings", "team"})
# Endpoints whose kind is not what their method and area say.
ENDPOINT_PERMISSIONS = {
    "settings.account": "self",  # one's own password and sessions
    "team.accept": "self",  # accepting an invitation (the link is the capability)
    # POSTs that only read: checking a typed value, rendering a preview of what is on the page.
    "validation.check": "read",
    "email_templates.preview": "read",
    "email_templates.builder_preview": "read",
    "segments.preview": "read",  # a segment page's live count and sample
    "segments.builder": "read",  # the rule builder drawn again for the tree on the page (nothing saved)
    "domains.dmarc_upload": "write",  # adding a DMARC report file: who sends as the domain is a marketer's concern
    "sms.preview": "read",  # a text's live counter and preview
    "sms.estimate": "read",  # the SMS form's live estimate (nothing saved)
    "sms.save_settings": "admin",  # the workspace's SMS settings, as its frequency cap
}
# Pages outside the workspace's dashboard: recipients' pages, provider webhooks, sign-in, the API
# (which has its own check, by operation).
OPEN_BLUEPRINTS = frozenset({"public", "webhooks", "auth", "api"})

# API tags whose changes are the admin's (GETs stay reads).
ADMIN_API_TAGS = frozenset({"Providers", "Domains", "Identities", "IPs", "Pools", "Warming", "Webhooks", "Team"})


def is_role(value) -> bool:
    return value in ROLES


def allows(role: str | None, permission: str) -> bool:
    """May `role` take an action of this kind?"""
    if role not in RANK:
        return False
    return RANK[role] >= RANK[LEAST_ROLE.get(permission, "owner")]


def refusal(role: str | None) -> str:
    """The sentence a forbidden action answers with."""
    return _REFUSALS.get(role or "", "Your role does not allow this; ask an owner or admin.")


def may_grant(granter: str | None, role: str) -> bool:
    """A person or key never hands out more than it has (an admin makes admins, not owners)."""
    return granter in RANK and role in RANK and RANK[role] <= RANK[granter]


def dashboard_permission(endpoint: str | None, method: str) -> str | None:
    """The kind of action a dashboard request is; None for pages outside the dashboard."""
    if not endpoint:
        return None
    area = endpoint.partition(".")[0] if "." in endpoint else None
    if area is None or area in OPEN_BLUEPRINTS:
        return None  # static files, the favicon, public pages, sign-in, the API
    if endpoint in ENDPOINT_PERMISSIONS:
        return ENDPOINT_PERMISSIONS[endpoint]
    if method in SAFE_METHODS:
        return "read"
    return "admin" if area in ADMIN_AREAS else "write"


def api_permission(method: str, tag: str) -> str:
    """The default kind of an API operation: GET reads; changes are admin's for the sending
    infrastructure, team and webhooks, a marketer's elsewhere."""
    if method in SAFE_METHODS:
        return "read"
    return "admin" if tag in ADMIN_API_TAGS else "write"
