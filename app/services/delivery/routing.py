"""Which provider carries each message of a campaign, and failover when one stops answering.

A campaign's `routing_config` (None: the campaign's provider, or the workspace default):

    {"strategy": "priority" | "round_robin" | "weighted",
     "providers": [provider ids, in order of preference],
     "weights": {"<provider id>": weight},      # weighted only
     "fallback": true}                          # fail over to the others when the chosen one errors

A provider "errors" when its transport raises TransportUnavailable: connection refused, a
5xx from its API, a throttling answer, credentials refused. Nothing was handed off then,
so the same message goes to the next provider at once, and the failed one is skipped by
every worker for FAILOVER_DOWN_SECONDS (a Redis key) before it is tried again. A message
whose hand-off is unclear (a timeout after the request went out) is never sent elsewhere:
it is recorded `unknown`, as DESIGN.md asks, because the first provider may deliver it.
"""

import json
import random
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Provider, SendingPool
from app.providers import SendResult, TransportUnavailable
from app.redis_client import get_redis
from app.services.delivery import domains, pools
from app.services.delivery.providers import (
    EMAIL_TYPES,
    bound_address,
    email_providers,
    is_development,
    spec_of,
    transport_for,
)
from app.services.delivery.ratelimit import LimitReached, SendLimits
from app.services.delivery.verp import envelope_sender
from app.services.errors import ValidationError

STRATEGIES = ("priority", "round_robin", "weighted")
FAILOVER_DOWN_SECONDS = 30
AFFINITY_MARGIN = 0.05  # a route this far below the best score for a mailbox provider is tried last
_DOWN = "herald:provider:{}:down"
_FAILOVER = "herald:campaign:{}:failover"


def clean_routing(workspace_id: int, config) -> dict | None:
    """Check a routing config from a form or the API; None means "the default provider".

    An empty `providers` list is allowed: the campaign's own provider (or the default) is
    chosen, and with `fallback` the workspace's other providers stand behind it.
    """
    if config in (None, {}, ""):
        return None
    if not isinstance(config, dict):
        raise ValidationError("routing_config is an object.", {"routing_config": "An object."})
    strategy = config.get("strategy") or "priority"
    if strategy not in STRATEGIES:
        raise ValidationError(
            f"Routing strategy is one of: {', '.join(STRATEGIES)}.", {"routing_config.strategy": "Unknown strategy."}
        )
    ids = config.get("providers") or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationError("providers is a list of provider ids.", {"routing_config.providers": "A list of ids."})
    ids = list(dict.fromkeys(ids))[:10]
    rows = db.session.execute(
        select(Provider.id, Provider.name, Provider.provider_type).where(
            Provider.workspace_id == workspace_id, Provider.id.in_(ids)
        )
    ).all()
    names = {pid: name for pid, name, _ in rows}
    if missing := [i for i in ids if i not in names]:
        why = f"Provider {missing[0]} is not one of this workspace's providers."
        raise ValidationError(why, {"routing_config.providers": why})
    if texting := [name for _, name, kind in rows if kind not in EMAIL_TYPES]:
        why = f"“{texting[0]}” sends texts, not email: route email through an email provider."
        raise ValidationError(why, {"routing_config.providers": why})
    weights = {}
    if strategy == "weighted":
        raw = config.get("weights") or {}
        if not isinstance(raw, dict):
            raise ValidationError("weights maps provider ids to numbers.", {"routing_config.weights": "An object."})
        for i in ids:
            w = raw.get(str(i), raw.get(i, 1))
            if not isinstance(w, (int, float)) or isinstance(w, bool) or not 0 <= w <= 1000:
                why = f"The weight of “{names[i]}” is a number from 0 to 1000."
                raise ValidationError(why, {"routing_config.weights": why})
            weights[str(i)] = w
        if ids and not any(weights.values()):
            raise ValidationError("At least one weight must be above 0.", {"routing_config.weights": "All zero."})
    fallback = config.get("fallback", True)
    if not isinstance(fallback, bool):
        raise ValidationError("fallback is true or false.", {"routing_config.fallback": "A boolean."})
    return {"strategy": strategy, "providers": ids, "weights": weights, "fallback": fallback}


def campaign_pool(campaign: Campaign) -> SendingPool | None:
    """The pool the campaign sends through: the one it names; else, when it names no routing config
    and no provider of its own, the workspace's default marketing pool."""
    if campaign.pool_id:
        named = pools.pool_for(campaign.workspace_id, campaign.pool_id, "marketing")
        if named is not None:
            return named
    if campaign.routing_config or campaign.provider_id:
        return None
    return pools.pool_for(campaign.workspace_id, None, "marketing")


def routing_for(campaign: Campaign) -> dict:
    """What routes the campaign: its pool (campaign_pool); else its own routing config or provider;
    else (an empty config) the workspace's default provider."""
    pool = campaign_pool(campaign)
    if pool is not None:
        return pools.routing_of(pool) or {}
    return campaign.routing_config or {}


def source_ip(provider: Provider | None) -> str | None:
    """The dedicated IP a provider's connections leave from (SMTP bound to one), else None."""
    if provider is None or not spec_of(provider).binds_source_address:
        return None
    return bound_address(provider)


def providers_for(campaign: Campaign, cfg: dict | None = None) -> list[Provider]:
    """The campaign's providers, preferred first; then (with fallback) the workspace's others by
    priority — or, for a pool, only the pool's others (lanes never share a provider by accident)."""
    cfg = routing_for(campaign) if cfg is None else cfg
    everyone = email_providers(campaign.workspace_id)  # the default first, then by priority; never an SMS one
    by_id = {p.id: p for p in everyone}
    chosen = [by_id[i] for i in cfg.get("providers") or [] if i in by_id]
    if not chosen:
        first = by_id.get(campaign.provider_id) if campaign.provider_id else None
        chosen = [first or (everyone[0] if everyone else None)]
        chosen = [p for p in chosen if p is not None]
    if cfg.get("fallback"):
        # The development outbox is never a fallback for real providers: it delivers nothing.
        real = any(not is_development(p) for p in chosen)
        within = cfg.get("within")
        chosen += [
            p
            for p in everyone
            if p not in chosen and not (real and is_development(p)) and (within is None or p.id in within)
        ]
    return chosen


@dataclass
class Route:
    provider: Provider
    transport: object
    headers: dict
    limits: SendLimits
    down_until: float = 0.0
    sent: int = 0
    errors: list = field(default_factory=list)


class Router:
    """Picks a route per message and fails over; one per batch (its transports stay open)."""

    def __init__(self, campaign: Campaign, routes: list[Route], cfg: dict | None = None, affinity=None):
        self.campaign = campaign
        # {(provider id, mailbox provider group): seed-002 score over 24 h}: a route clearly worse than
        # another for the recipient's mailbox provider is tried last for that recipient.
        self.affinity = affinity or {}
        cfg = routing_for(campaign) if cfg is None else cfg
        self.strategy = cfg.get("strategy") or "priority"
        self.fallback = bool(cfg.get("fallback"))
        self.weights = [float((cfg.get("weights") or {}).get(str(r.provider.id), 1)) for r in routes]
        self.routes = routes
        self.primary = routes[0]
        self._turn = 0
        self.in_flight = False  # True only while a transport holds the message: its fate is unknown on a crash
        self._checked_at = 0.0
        self._r = get_redis()
        self._secret = current_app.config["SECRET_KEY"]
        # The From domain's own bounce subdomain, once verified: SPF then aligns with the From.
        self._bounces = {campaign.from_email: domains.bounce_domain(campaign.workspace_id, campaign.from_email)}

    @classmethod
    def for_campaign(cls, campaign: Campaign, affinity: dict | None = None) -> "Router":
        routing = routing_for(campaign)
        providers = providers_for(campaign, routing)
        if not providers:
            raise TransportUnavailable("No sending provider is configured.")
        r, cfg = get_redis(), current_app.config
        routes = []
        for p in providers:
            transport, headers = transport_for(p)
            limits = SendLimits(
                r,
                p.id,
                p.max_sends_per_second,
                p.max_sends_per_day,
                campaign.workspace_id,
                cfg.get("CAMPAIGN_SEND_RATE_PER_MINUTE"),
            )
            routes.append(Route(p, transport, headers, limits))
        return cls(campaign, routes, routing, affinity)

    @property
    def headers(self) -> dict:
        return self.primary.headers

    def _refresh_down(self) -> None:
        """Other workers' verdicts: a provider one worker found down is skipped by all (checked once a second)."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return
        self._checked_at = now
        try:
            ttls = [self._r.pttl(_DOWN.format(r.provider.id)) for r in self.routes] if len(self.routes) > 1 else []
        except Exception:
            return
        for route, ttl in zip(self.routes, ttls, strict=False):
            if ttl and ttl > 0:
                route.down_until = max(route.down_until, now + ttl / 1000)

    def order(self, group: str | None = None) -> list[Route]:
        """The routes to try for the next message: the strategy's pick among those that serve the
        recipient's mailbox provider well, then the others (with fallback)."""
        if len(self.routes) == 1:
            return self.routes
        self._refresh_down()
        now = time.monotonic()
        up = [r for r in self.routes if r.down_until <= now] or list(self.routes)  # all down: try anyway
        good, worse = self._by_affinity(up, group) if group is not None and self.affinity else (up, [])
        if self.strategy == "round_robin":
            self._turn += 1
            first = good[self._turn % len(good)]
        elif self.strategy == "weighted":
            weights = [self.weights[self.routes.index(r)] for r in good]
            first = random.choices(good, weights=weights)[0] if any(weights) else good[0]
        else:
            first = good[0]
        if not self.fallback:
            return [first]
        return [first] + [r for r in good if r is not first] + worse

    def _by_affinity(self, up: list[Route], group: str) -> tuple[list[Route], list[Route]]:
        """(routes that serve `group` well, those whose score trails the best by more than
        AFFINITY_MARGIN): the healthy route for Gmail carries Gmail's mail, the other one is its
        fallback. A route without a score yet is not judged."""
        scores = [self.affinity.get((r.provider.id, group)) for r in up]
        known = [s for s in scores if s is not None]
        if not known:
            return up, []
        floor = max(known) - AFFINITY_MARGIN
        good = [r for r, s in zip(up, scores, strict=True) if s is None or s >= floor]
        return good, [r for r in up if r not in good]

    def _bounce(self, from_email: str) -> str | None:
        if from_email not in self._bounces:
            self._bounces[from_email] = domains.bounce_domain(self.campaign.workspace_id, from_email)
        return self._bounces[from_email]

    def send(
        self, rcpt: str, raw: bytes, ref: str, should_stop=None, group: str | None = None, from_email: str | None = None
    ) -> tuple[Route, SendResult, float]:
        """Hand the message to the first route that takes it: (route, result, seconds waited for rate tokens).
        `from_email`: the From a pool chose for this recipient (None: the campaign's own).

        Raises LimitReached when every route's quota is spent (the message waits), or the last
        TransportUnavailable when no route could be reached (nothing was handed off).
        """
        from_email = from_email or self.campaign.from_email
        bounce = self._bounce(from_email)
        waited, held, last = 0.0, None, None
        for route in self.order(group):
            try:
                waited += route.limits.acquire(should_stop)
            except LimitReached as exc:
                held = held or exc
                continue
            envelope = envelope_sender(route.provider, from_email, ref, self._secret, bounce)
            self.in_flight = True
            try:
                result = route.transport.send(envelope, rcpt, raw, ref)
            except TransportUnavailable as exc:
                self.in_flight = False
                last = exc
                self.mark_down(route, exc)
                continue
            self.in_flight = False
            if result.failure == "unknown":
                # No answer in time: this message stays with this provider (it may deliver it),
                # but the next ones go elsewhere until the provider answers again.
                self.mark_down(route, TransportUnavailable(result.detail or "no answer"))
            route.sent += 1
            return route, result, waited
        if held is not None and last is None:
            raise held
        raise last or held

    def mark_down(self, route: Route, exc: Exception) -> None:
        route.down_until = time.monotonic() + FAILOVER_DOWN_SECONDS
        route.errors.append(str(exc))
        try:
            self._r.set(_DOWN.format(route.provider.id), str(exc)[:500], ex=FAILOVER_DOWN_SECONDS)
            others = [r for r in self.routes if r is not route and r.down_until <= time.monotonic()]
            if self.fallback and others:
                note = {
                    "from": route.provider.name,
                    "to": others[0].provider.name,
                    "reason": str(exc)[:300],
                    "at": time.time(),
                }
                self._r.set(_FAILOVER.format(self.campaign.id), json.dumps(note), ex=7 * 86400)
        except Exception:
            pass
        current_app.logger.warning(
            "provider %s unavailable for campaign %s: %s", route.provider.id, self.campaign.id, exc
        )

    def close(self) -> None:
        for route in self.routes:
            try:
                route.transport.close()
            finally:
                route.limits.close()


def failover_note(campaign_id: int) -> dict | None:
    """The last failover of the campaign for its page: {from, to, reason, at}."""
    try:
        raw = get_redis().get(_FAILOVER.format(campaign_id))
    except Exception:
        return None
    return json.loads(raw) if raw else None


def sent_by_provider(campaign_id: int) -> list[tuple[str, int]]:
    """How many recipients each provider carried: [(provider name, count)]."""
    rows = db.session.execute(
        select(Provider.name, func.count())
        .select_from(CampaignRecipient)
        .join(Provider, Provider.id == CampaignRecipient.provider_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(Provider.name)
        .order_by(func.count().desc())
    ).all()
    return [(name, n) for name, n in rows]
