"""Sending pools: lanes of domains, identities, IPs and providers."""

from app.blueprints.api.schemas.common import ID, ID_LIST, TIMESTAMP, obj, response, text
from app.services.delivery.pools import KINDS, STRATEGIES

POOL_INPUT = obj(
    {
        "name": text(100, min_length=1),
        "strategy": {"enum": list(STRATEGIES), "default": "priority"},
        "domain_ids": ID_LIST,
        "identity_ids": ID_LIST,
        "ip_ids": ID_LIST,
        "provider_ids": {**ID_LIST, "description": "In order of preference (priority)."},
        "weights": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 1000},
            "description": "weighted: provider id -> weight (default 1).",
        },
        "default_for": {
            "enum": [*KINDS, None],
            "description": "Make it the workspace's default lane for marketing or transactional mail.",
        },
    },
    required=("name",),
)

POOL = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "strategy": {"enum": list(STRATEGIES)},
        "default_for": {"type": ["string", "null"]},
        "domain_ids": ID_LIST,
        "identity_ids": ID_LIST,
        "ip_ids": ID_LIST,
        "provider_ids": ID_LIST,
        "weights": {"type": "object"},
        "created_at": TIMESTAMP,
    }
)

SCHEMAS: dict[str, dict] = {"PoolInput": POOL_INPUT, "Pool": POOL}
