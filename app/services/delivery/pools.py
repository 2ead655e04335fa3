"""Sending pools: lanes of domains, identities, IPs and providers that mail goes through.

A campaign (or a transactional template) names a pool, or takes the workspace's default pool for
its kind (`default_for`: marketing | transactional), so transactional and marketing mail never
share a lane by accident. The pool's providers, in its strategy (priority, round-robin or
weighted by each member's weight), carry the mail, and fail over only to one another — never to a
provider of another lane. Its domains and identities say which From addresses belong to the lane
(a campaign whose From is on none of them is flagged); its IPs are its providers' bound addresses.
"""

import random

from sqlalchemy import delete, select

from app.extensions import db
from app.models import DedicatedIP, PoolMember, Provider, SendingDomain, SendingIdentity, SendingPool
from app.services.delivery.providers import EMAIL_TYPES
from app.services.errors import NotFound, ValidationError

STRATEGIES = ("priority", "round_robin", "weighted")
KINDS = ("marketing", "transactional")
MEMBER_MODELS = {"domain": SendingDomain, "identity": SendingIdentity, "ip": DedicatedIP, "provider": Provider}
FIELDS = {"domain": "domain_ids", "identity": "identity_ids", "ip": "ip_ids", "provider": "provider_ids"}
MAX_MEMBERS = 100


def _ids(value, field: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValidationError(f"{field} is a list of ids.", {field: "A list of ids."})
    if len(value) > MAX_MEMBERS:
        raise ValidationError(f"A pool holds at most {MAX_MEMBERS} of each kind.", {field: "Too many."})
    return list(dict.fromkeys(value))


def _check_owned(workspace_id: int, member_type: str, ids: list[int], field: str) -> None:
    model = MEMBER_MODELS[member_type]
    found = set(db.session.scalars(select(model.id).where(model.workspace_id == workspace_id, model.id.in_(ids))))
    if missing := [i for i in ids if i not in found]:
        why = f"{member_type.capitalize()} {missing[0]} is not one of this workspace's."
        raise ValidationError(why, {field: why})
    if member_type == "provider" and ids:
        # A pool is a lane of email: a provider that sends texts never carries it.
        texting = db.session.scalar(
            select(Provider.name).where(Provider.id.in_(ids), Provider.provider_type.not_in(EMAIL_TYPES)).limit(1)
        )
        if texting is not None:
            why = f"“{texting}” sends texts, not email: a pool's providers carry email."
            raise ValidationError(why, {field: why})


def _clean(workspace_id: int, data: dict, pool_id: int | None = None) -> dict:
    name = data.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError("Give the pool a name of up to 100 characters.", {"name": "Required."})
    taken = select(SendingPool.id).where(SendingPool.workspace_id == workspace_id, SendingPool.name == name)
    if pool_id is not None:
        taken = taken.where(SendingPool.id != pool_id)
    if db.session.scalar(taken):
        raise ValidationError(f"A pool called “{name}” exists already.", {"name": "Taken."})
    strategy = data.get("strategy") or "priority"
    if strategy not in STRATEGIES:
        raise ValidationError(f"strategy is one of: {', '.join(STRATEGIES)}.", {"strategy": "Unknown strategy."})
    default_for = data.get("default_for") or None
    if default_for is not None and default_for not in KINDS:
        raise ValidationError("default_for is marketing, transactional or null.", {"default_for": "Unknown kind."})
    members = {}
    for member_type, field in FIELDS.items():
        ids = _ids(data.get(field), field)
        _check_owned(workspace_id, member_type, ids, field)
        members[member_type] = ids
    weights = data.get("weights") or {}
    if not isinstance(weights, dict) or not all(
        isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 1000 for w in weights.values()
    ):
        raise ValidationError("weights maps provider ids to whole numbers from 0 to 1000.", {"weights": "Bad weights."})
    if strategy == "weighted" and members["provider"]:
        if not any(weights.get(str(i), 1) for i in members["provider"]):
            raise ValidationError("At least one provider's weight must be above 0.", {"weights": "All zero."})
    return {"name": name, "strategy": strategy, "default_for": default_for, "members": members, "weights": weights}


def _write(workspace_id: int, pool: SendingPool, clean: dict) -> SendingPool:
    pool.name, pool.strategy = clean["name"], clean["strategy"]
    if clean["default_for"]:  # one default lane per kind: this one takes over
        for other in db.session.scalars(
            select(SendingPool).where(
                SendingPool.workspace_id == workspace_id, SendingPool.default_for == clean["default_for"]
            )
        ):
            if other is not pool:
                other.default_for = None
    pool.default_for = clean["default_for"]
    db.session.add(pool)
    db.session.flush()
    db.session.execute(delete(PoolMember).where(PoolMember.pool_id == pool.id))
    for member_type, ids in clean["members"].items():
        for rank, member_id in enumerate(ids):
            weight = clean["weights"].get(str(member_id), 1) if member_type == "provider" else 1
            db.session.add(
                PoolMember(pool_id=pool.id, member_type=member_type, member_id=member_id, weight=weight, priority=rank)
            )
    db.session.flush()
    return pool


def create_pool(workspace_id: int, data: dict) -> SendingPool:
    if not isinstance(data, dict):
        raise ValidationError("A pool is an object.", {"form": "An object."})
    return _write(workspace_id, SendingPool(workspace_id=workspace_id), _clean(workspace_id, data))


def update_pool(workspace_id: int, pool_id: int, data: dict) -> SendingPool:
    pool = get_pool(workspace_id, pool_id)
    return _write(workspace_id, pool, _clean(workspace_id, data, pool.id))


def get_pool(workspace_id: int, pool_id) -> SendingPool:
    pool = db.session.get(SendingPool, pool_id) if isinstance(pool_id, int) else None
    if pool is None or pool.workspace_id != workspace_id:
        raise NotFound("No such pool.")
    return pool


def delete_pool(workspace_id: int, pool_id: int) -> None:
    db.session.delete(get_pool(workspace_id, pool_id))
    db.session.flush()


def list_pools(workspace_id: int) -> list[SendingPool]:
    return list(
        db.session.scalars(
            select(SendingPool).where(SendingPool.workspace_id == workspace_id).order_by(SendingPool.name)
        )
    )


def members(pool: SendingPool) -> dict[str, list[int]]:
    """{"domain": [ids], "identity": […], "ip": […], "provider": [ids, in order]}."""
    out: dict[str, list[int]] = {t: [] for t in MEMBER_MODELS}
    rows = db.session.execute(
        select(PoolMember.member_type, PoolMember.member_id)
        .where(PoolMember.pool_id == pool.id)
        .order_by(PoolMember.priority, PoolMember.id)
    )
    for member_type, member_id in rows:
        out.setdefault(member_type, []).append(member_id)
    return out


def weights(pool: SendingPool) -> dict[str, int]:
    rows = db.session.execute(
        select(PoolMember.member_id, PoolMember.weight).where(
            PoolMember.pool_id == pool.id, PoolMember.member_type == "provider"
        )
    )
    return {str(i): w for i, w in rows}


def pool_for(workspace_id: int, pool_id: int | None, kind: str) -> SendingPool | None:
    """The pool mail of `kind` goes through: the one named, else the workspace's default for the kind."""
    if pool_id:
        pool = db.session.get(SendingPool, pool_id)
        if pool is not None and pool.workspace_id == workspace_id:
            return pool
    return db.session.scalar(
        select(SendingPool).where(SendingPool.workspace_id == workspace_id, SendingPool.default_for == kind)
    )


def routing_of(pool: SendingPool) -> dict | None:
    """The pool as a routing config (app/services/delivery/routing.py): its providers in order,
    its strategy and weights, failing over only within the pool. None: the pool has no provider."""
    provider_ids = members(pool)["provider"]
    if not provider_ids:
        return None
    return {"strategy": pool.strategy, "providers": provider_ids, "weights": weights(pool), "fallback": True,
            "within": provider_ids}  # fmt: skip


def pick_provider(pool: SendingPool) -> int | None:
    """One message's provider from the pool (transactional mail, one at a time): the first for
    `priority`, else drawn by weight (round-robin draws evenly, which over many messages is the same)."""
    provider_ids = members(pool)["provider"]
    if not provider_ids:
        return None
    if pool.strategy == "priority":
        return provider_ids[0]
    by_weight = weights(pool) if pool.strategy == "weighted" else {}
    chances = [by_weight.get(str(i), 1) for i in provider_ids]
    return random.choices(provider_ids, weights=chances)[0] if any(chances) else provider_ids[0]
