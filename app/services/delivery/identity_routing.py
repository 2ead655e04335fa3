"""Which of a pool's identities each recipient of a campaign is sent from: the healthiest domains,
the one that serves the recipient's mailbox provider, within the warming capacity left today.

A campaign opts in by sending through a pool (its own, or the workspace's default marketing lane)
with the From set to one of the pool's identities, when the pool holds two or more. Each pending
recipient row is then given one of those identities at materialization, set-based per mailbox
provider group (a handful of UPDATEs, whatever the audience's size):

1. Eligible: identities on a domain that signs (verified, warming or active) and is not paused. A
   paused or failing domain fails over to the others; with none eligible, every row keeps the
   campaign's own From (and waits, if that domain is paused).
2. Health: a domain whose latest daily score (at most HEALTH_MAX_AGE_DAYS old) is POOR or CRITICAL,
   or trails the best by more than HEALTH_MARGIN points, gets no mail while a healthier one can take
   it. A domain with no recent score is not judged.
3. Affinity: for the recipient's mailbox provider group, a domain whose seed-002 pair score over the
   last 24 hours trails the best by more than routing.AFFINITY_MARGIN is a fallback only.
4. Strategy (the pool's): `priority` fills the first identity in the pool's order, then the next;
   `round_robin` and `weighted` spread evenly (identities carry no weight of their own).
5. Warming: an identity whose domain is warming takes at most the room its plan has left today, and
   the most engaged recipients (warming's order); what does not fit goes to an identity without a
   cap, or, when every one has a cap, waits for tomorrow on the preferred ones (warming_holds).

The message keeps the campaign's (or the A/B variant's) display name; the identity gives the address
and the reply-to. Everything downstream reads the row's From from `identity_id` (senders.py).
"""

import math
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, SendingDomain, SendingIdentity, WarmingDay
from app.services.delivery import dkim, health, pools, routing, warming_holds
from app.services.delivery.warming_plans import limit_on, local_today, plan_of

HEALTH_MARGIN = 15  # points below the best domain's score before a domain stops taking mail
POOR_BELOW = 50  # under this (POOR, CRITICAL) a domain gets mail only when no other domain can take it
HEALTH_MAX_AGE_DAYS = 8  # an older score says nothing about the domain today
ELIGIBLE_STATES = ("verified", "warming", "active")
_cr = CampaignRecipient.__table__


@dataclass
class Candidate:
    """One of the pool's identities, with what decides how much of the audience it takes."""

    identity_id: int
    email: str
    domain: str
    eligible: bool
    health: int | None = None  # the domain's latest recent score (None: not judged)
    room: int | None = None  # warming capacity left today (None: no cap)
    affinity: dict = field(default_factory=dict)  # mailbox provider group -> pair score over 24 h


@dataclass
class Share:
    """One mailbox provider group's split: `capped` [(identity id, rows)] take the most engaged rows
    first, then the rest is spread evenly over `rest` [identity ids]."""

    capped: list = field(default_factory=list)
    rest: list = field(default_factory=list)


def rotates(campaign: Campaign) -> list[int]:
    """The pool's identities the campaign's recipients are spread over (empty: it sends as its own From)."""
    pool = routing.campaign_pool(campaign)
    if pool is None or campaign.identity_id is None:
        return []
    ids = pools.members(pool)["identity"]
    return ids if campaign.identity_id in ids and len(ids) > 1 else []


def candidates(campaign: Campaign) -> list[Candidate]:
    """The campaign's rotation with each identity's health, affinity and warming room (pool order)."""
    ids = rotates(campaign)
    if not ids:
        return []
    rows = db.session.execute(
        select(SendingIdentity.id, SendingIdentity.email, SendingDomain)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingIdentity.id.in_(ids), SendingIdentity.workspace_id == campaign.workspace_id)
    ).all()
    today = local_today(campaign.workspace_id)
    recent = today - timedelta(days=HEALTH_MAX_AGE_DAYS)
    scores = health.latest_scores(campaign.workspace_id, "domain")
    by_id, affinity = {}, {}
    for identity_id, email, domain in rows:
        score = scores.get(domain.id)
        if domain.domain not in affinity:
            affinity[domain.domain] = {
                p.group: p.score
                for p in health.pair_scores(campaign.workspace_id, domain.domain)
                if p.score is not None
            }
        plan = plan_of(domain)
        by_id[identity_id] = Candidate(
            identity_id,
            email,
            domain.domain,
            eligible=domain.status in ELIGIBLE_STATES and (plan is None or plan.status != "paused"),
            health=score.score if score is not None and score.day >= recent else None,
            room=_room(plan, today) if plan is not None and plan.status == "warming" else None,
            affinity=affinity[domain.domain],
        )
    return [by_id[i] for i in ids if i in by_id]


def _room(plan, today) -> int | None:
    limit = limit_on(plan, today)
    if limit is None:
        return None
    day = db.session.get(WarmingDay, (plan.id, today))
    return max(0, limit - (day.released if day else 0))


# ---- the choice (pure) ---------------------------------------------------------------------


def _healthiest(cands: list[Candidate]) -> list[Candidate]:
    """Those within HEALTH_MARGIN of the best score; a POOR or CRITICAL domain only when no other can send."""
    fair = [c for c in cands if c.health is None or c.health >= POOR_BELOW] or cands
    known = [c.health for c in fair if c.health is not None]
    if not known:
        return fair
    floor = max(known) - HEALTH_MARGIN
    return [c for c in fair if c.health is None or c.health >= floor]


def _by_affinity(cands: list[Candidate], group: str | None) -> tuple[list[Candidate], list[Candidate]]:
    scores = [c.affinity.get(group) for c in cands]
    known = [s for s in scores if s is not None]
    if group is None or not known:
        return cands, []
    floor = max(known) - routing.AFFINITY_MARGIN
    good = [c for c, s in zip(cands, scores, strict=True) if s is None or s >= floor]
    return good, [c for c in cands if c not in good]


def choose(cands: list[Candidate], sizes: dict, strategy: str) -> dict:
    """{mailbox provider group: Share} for `sizes` {group: pending rows}; empty: nobody is eligible.
    Warming rooms are spent across groups, the biggest group first."""
    eligible = [c for c in cands if c.eligible]
    if not eligible:
        return {}
    healthy = _healthiest(eligible)
    rooms = {c.domain: c.room for c in eligible}  # a domain's room is shared by its identities
    out = {}
    for group, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0] or "")):
        good, fallbacks = _by_affinity(healthy, group)
        if strategy == "priority":
            out[group] = _fill_in_order(n, good + fallbacks, rooms)
        else:
            out[group] = _spread(n, good, fallbacks, rooms)
    return out


def _take(share: Share, c: Candidate, want: int, rooms: dict) -> int:
    k = min(want, rooms[c.domain])
    if k > 0:
        share.capped.append((c.identity_id, k))
        rooms[c.domain] -= k
    return k


def _fill_in_order(n: int, order: list[Candidate], rooms: dict) -> Share:
    """priority: the first identity takes all it can, then the next; over every cap, the first waits."""
    share, left = Share(), n
    for c in order:
        if left <= 0:
            return share
        if rooms[c.domain] is None:
            share.rest = [c.identity_id]
            return share
        left -= _take(share, c, left, rooms)
    if left > 0:
        share.rest = [order[0].identity_id]
    return share


def _spread(n: int, good: list[Candidate], fallbacks: list[Candidate], rooms: dict) -> Share:
    """round_robin, weighted: capped identities take their even share (or their room), the others
    split what is left; with every good one capped, an uncapped fallback; else the good ones wait."""
    share, left = Share(), n
    even = math.ceil(n / len(good))
    for c in good:
        if rooms[c.domain] is not None and left > 0:
            left -= _take(share, c, min(even, left), rooms)
    if left <= 0:
        return share
    uncapped = [c.identity_id for c in good if rooms[c.domain] is None]
    spare = [c.identity_id for c in fallbacks if rooms[c.domain] is None][:1]
    share.rest = uncapped or spare or [c.identity_id for c in good]
    return share


# ---- writing it down -------------------------------------------------------------------------


def assign(campaign: Campaign) -> dict[int, int]:
    """Give each pending row of a rotating campaign its identity (at materialization, before the A/B
    split and the warming hold). {identity id: rows}; empty when the campaign does not rotate."""
    cands = candidates(campaign)
    if not cands:
        return {}
    pending = (_cr.c.campaign_id == campaign.id, _cr.c.status == "pending")
    sizes = dict(
        db.session.execute(
            select(_cr.c.mailbox_provider, func.count()).where(*pending).group_by(_cr.c.mailbox_provider)
        ).all()
    )
    pool = routing.campaign_pool(campaign)
    out: dict[int, int] = {}
    for group, share in choose(cands, sizes, pool.strategy).items():
        in_group = _cr.c.mailbox_provider.is_(None) if group is None else _cr.c.mailbox_provider == group
        for identity_id, k in share.capped:
            rows = _cr.alias("engaged")
            top = (
                select(rows.c.id)
                .where(rows.c.campaign_id == campaign.id, rows.c.status == "pending", rows.c.identity_id.is_(None))
                .where(rows.c.mailbox_provider.is_(None) if group is None else rows.c.mailbox_provider == group)
                .order_by(*warming_holds.engagement_order(rows))
                .limit(k)
            )
            n = _set(identity_id, _cr.c.id.in_(select(top.subquery().c.id)))
            out[identity_id] = out.get(identity_id, 0) + n
        for turn, identity_id in enumerate(share.rest):
            cond = [*pending, in_group, _cr.c.identity_id.is_(None)]
            if len(share.rest) > 1:
                cond.append(_cr.c.id % len(share.rest) == turn)
            out[identity_id] = out.get(identity_id, 0) + _set(identity_id, *cond)
    db.session.flush()
    return out


def _set(identity_id: int, *cond) -> int:
    return db.session.execute(update(_cr).where(*cond).values(identity_id=identity_id)).rowcount


def spread_of(campaign: Campaign) -> list[dict]:
    """For the campaign page: [{identity_id, email, domain, recipients, signs}] of a rotating campaign,
    the most recipients first; before its audience is prepared, the identities it will rotate over
    (recipients None)."""
    if campaign.status in ("draft", "scheduled"):
        return _identities(rotates(campaign), {})
    counts = dict(
        db.session.execute(
            select(_cr.c.identity_id, func.count())
            .where(_cr.c.campaign_id == campaign.id, _cr.c.identity_id.is_not(None))
            .group_by(_cr.c.identity_id)
        ).all()
    )
    return _identities(list(counts), counts)


def _identities(ids: list[int], counts: dict) -> list[dict]:
    if not ids:
        return []
    rows = db.session.execute(
        select(SendingIdentity.id, SendingIdentity.email, SendingDomain.domain, SendingDomain.status)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingIdentity.id.in_(ids))
    ).all()
    return sorted(
        (
            {"identity_id": i, "email": email, "domain": domain, "recipients": counts.get(i),
             "signs": status in dkim.SIGNING_DOMAIN_STATES}
            for i, email, domain, status in rows
        ),
        key=lambda row: (-(row["recipients"] or 0), row["email"]),
    )  # fmt: skip
