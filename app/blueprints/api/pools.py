"""Sending pools: the lanes campaigns and transactional mail go through."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.services.delivery import pools

TAG = "Pools"


def pool_json(pool) -> dict:
    m = pools.members(pool)
    return {
        "id": pool.id,
        "name": pool.name,
        "strategy": pool.strategy,
        "default_for": pool.default_for,
        "domain_ids": m["domain"],
        "identity_ids": m["identity"],
        "ip_ids": m["ip"],
        "provider_ids": m["provider"],
        "weights": pools.weights(pool),
        "created_at": iso(pool.created_at),
    }


@operation("POST", "/pools", "Add a sending pool", tag=TAG, body="PoolInput", response="Pool", status=201)
def create_pool(body: dict):
    """Its providers carry the mail in its strategy and fail over only to one another;
    `default_for` makes it the workspace's lane for marketing or transactional mail."""
    pool = pools.create_pool(workspace_id(), body)
    commit()
    return pool_json(pool)


@operation("GET", "/pools", "List sending pools", tag=TAG, response="Pool", paginated=True)
def list_pools(query: dict):
    """Alphabetical."""
    return page_slice([pool_json(p) for p in pools.list_pools(workspace_id())], query)


@operation("GET", "/pools/{pool_id}", "Show a sending pool", tag=TAG, response="Pool")
def show_pool(pool_id: int):
    """Its members and strategy."""
    return pool_json(pools.get_pool(workspace_id(), pool_id))


@operation("PUT", "/pools/{pool_id}", "Change a sending pool", tag=TAG, body="PoolInput", response="Pool")
def update_pool(pool_id: int, body: dict):
    """Members, strategy and weights are replaced."""
    pool = pools.update_pool(workspace_id(), pool_id, body)
    commit()
    return pool_json(pool)


@operation("DELETE", "/pools/{pool_id}", "Remove a sending pool", tag=TAG, status=204)
def delete_pool(pool_id: int):
    """Campaigns and templates that named it go through their kind's default lane."""
    pools.delete_pool(workspace_id(), pool_id)
    commit()
    return Response(status=204)
