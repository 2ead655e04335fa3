"""Health: a 0–100 score per sending domain (and per dedicated IP) over a rolling 7-day window, kept
daily as history; and a score per (domain × destination mailbox provider) over the last 24 hours.

The daily score (seed 001, "Health scoring") weighs four components. Each is a number from 0 to 1
read off a rate by a straight line anchored on the thresholds warming already pauses at
(warming.MAX_BOUNCE_RATE, MAX_COMPLAINT_RATE, MIN_DELIVERY_RATE): 1 when the rate is perfect, 0.5
exactly at the threshold, 0 at twice the threshold's distance from perfect.

    bounce      35%   1 − bounce_rate / 10%          5% → 0.5, 10% or more → 0
    complaint   35%   1 − complaint_rate / 0.2%      0.1% → 0.5, 0.2% or more → 0
    delivery    15%   1 − (1 − delivery_rate) / 20%  90% → 0.5, 80% or less → 0
    engagement  15%   engaged_rate / 15%             7.5% → 0.5, 15% or more (a healthy human open rate) → 1

score = 100 × Σ weight × component, rounded half up; tiers EXCELLENT ≥ 90, GOOD 70–89, FAIR 50–69,
POOR 30–49, CRITICAL < 30. A domain at every threshold at once scores 50, the line between FAIR and
POOR; one component at its worst with the others perfect costs its weight (bounces: 65, FAIR).

Where the counts come from (`score_domain`, two aggregate queries):
- sent, bounced (hard + soft), complained, blocked and rejected: `delivery_stats` for the domain over
  UTC days day−6 … day, the counters warming's thresholds read. Every rate is over sent.
- delivered: per provider, what it reported where it reports deliveries (a webhook provider: any
  `delivered` in the window), else what did not come back bounced, blocked or rejected (an SMTP
  relay reports no deliveries). `components.delivery.reported` says whether any of it was reported.
- engagement: campaign messages from the domain sent in the window by campaigns that track opens or
  clicks, opened or clicked (a click proves an open) over sent. Under MIN_SAMPLE of those (mostly
  transactional mail, tracking off) it is not measured, and the other three share its weight.
Under MIN_SAMPLE sent in the window there is no score (None) and nothing is recorded.

`record_daily` (the daily job `score_health`) scores the last complete UTC day of every sending
domain (and IP, below) and upserts it by (subject, day): running it twice changes nothing. A subject
whose tier drops below its previous recorded one into POOR or CRITICAL (or whose first score is
there) raises a `health_dropped` alert; staying there raises nothing more (a dismissed alert stays
dismissed); back at FAIR or better, the alert is resolved.

Dedicated IPs (`record_ip`, `ip_health`): an IP bound to a provider that binds its connections to it
(SMTP: one address per provider, ips.py) carries exactly that provider's mail, so its window is the
provider's counters and recipients, scored like a domain's. An API provider's pool IP (`pool_name`)
shares its provider with others and nothing records which of them carried a message: it is not
scored. Whoever learns that (a webhook naming the sending IP) counts a window into a `Sample` and
calls `record_score(workspace_id, "ip", ip.id, day, sample, name, url)`: same history and alerts.

Pair scores (seed 002, "Optimized Shared Delivery"): per destination mailbox provider group, over
the domain's campaign messages of the last 24 hours: delivery_rate − 10·bounce_rate −
100·complaint_rate (1 is perfect; 90% delivered with 1% bounces scores 0.8). See `pair_scores`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.event_types import GAVE_UP, SENDER_BLOCKED
from app.extensions import db
from app.models import Campaign, CampaignRecipient, DedicatedIP, DeliveryStat, HealthScore, SendingDomain
from app.models.campaign import HUMAN_OPENED
from app.services.delivery import senders
from app.services.delivery.mailbox_providers import group_label
from app.services.delivery.warming import MAX_BOUNCE_RATE, MAX_COMPLAINT_RATE, MIN_DELIVERY_RATE
from app.services.platform import alerts

WINDOW_DAYS = 7
MIN_SAMPLE = 100  # messages sent in the window before a score (or the engagement part) means anything
HEALTHY_ENGAGEMENT = 0.15  # opened or clicked: a healthy human open rate earns full marks
WEIGHTS = {"bounce": 0.35, "complaint": 0.35, "delivery": 0.15, "engagement": 0.15}
TIERS = (("EXCELLENT", 90), ("GOOD", 70), ("FAIR", 50), ("POOR", 30), ("CRITICAL", 0))  # (tier, lowest score)
_RANK = {name: rank for rank, (name, _) in enumerate(reversed(TIERS))}  # CRITICAL 0 … EXCELLENT 4
ALERT_KIND = "health_dropped"
ALERT_SEVERITY = {"POOR": "warning", "CRITICAL": "critical"}  # the tiers that need a person
HISTORY_DAYS = 90  # how far back the domain page draws

PAIR_HOURS = 24
PAIR_MIN_SAMPLE = 20  # messages to a mailbox provider before its pair score is given
# Statuses that prove a message arrived (events only move forward: an open or a complaint needs a delivery).
DELIVERED_STATES = ("delivered", "opened", "clicked", "complained", "unsubscribed")
# A row refused at hand-off has no sent_at but was tried: its reason starts with one of these
# (campaigns/outcomes.py's table). Suppressed and "not taken" rows were never tried.
REFUSED_AT_HANDOFF = ("smtp rejected", GAVE_UP, SENDER_BLOCKED)


# ---- the scoring itself (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """What a subject sent and got back over a window: the counts a score is made of."""

    sent: int
    delivered: int  # reported by the provider, or inferred (delivery_reported False)
    bounced: int = 0  # hard and soft
    complained: int = 0
    refused: int = 0  # blocked or rejected: neither a bounce nor delivered
    delivery_reported: bool = False
    tracked: int = 0  # campaign messages whose opens and clicks are tracked
    engaged: int = 0  # of those, opened or clicked


@dataclass(frozen=True)
class Health:
    score: int
    tier: str
    components: dict  # per component {rate, count, of, value, weight}; the window and the sample


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def bounce_component(rate: float) -> float:
    """1 with no bounces, 0.5 at warming's 5% threshold, 0 from 10%."""
    return _clamp(1 - rate / (2 * MAX_BOUNCE_RATE))


def complaint_component(rate: float) -> float:
    """1 with no complaints, 0.5 at warming's 0.1% threshold, 0 from 0.2%."""
    return _clamp(1 - rate / (2 * MAX_COMPLAINT_RATE))


def delivery_component(rate: float) -> float:
    """1 when all was delivered, 0.5 at warming's 90% threshold, 0 at 80% or less."""
    return _clamp(1 - (1 - rate) / (2 * (1 - MIN_DELIVERY_RATE)))


def engagement_component(rate: float) -> float:
    """0 when nobody opened or clicked, 1 from HEALTHY_ENGAGEMENT (15%) up."""
    return _clamp(rate / HEALTHY_ENGAGEMENT)


def tier_of(score: int) -> str:
    """EXCELLENT ≥ 90, GOOD 70–89, FAIR 50–69, POOR 30–49, CRITICAL < 30."""
    return next(name for name, lowest in TIERS if score >= lowest)


def _six(x: float | None) -> float | None:
    return round(x, 6) if x is not None else None


def compute(sample: Sample, window: tuple[date, date] | None = None) -> Health | None:
    """The score, tier and components of a sample; None under MIN_SAMPLE sent."""
    sent = sample.sent
    if sent < MIN_SAMPLE:
        return None
    parts = {
        "bounce": (sample.bounced, sent, bounce_component),
        "complaint": (sample.complained, sent, complaint_component),
        "delivery": (min(sample.delivered, sent), sent, delivery_component),
        "engagement": (sample.engaged, sample.tracked, engagement_component),
    }
    measured = {k: w for k, w in WEIGHTS.items() if k != "engagement" or sample.tracked >= MIN_SAMPLE}
    total_weight = sum(measured.values())
    components: dict = {"sent": sent}
    if window:
        components["window"] = {"from": window[0].isoformat(), "to": window[1].isoformat()}
    points = 0.0
    for name, (count, of, curve) in parts.items():
        weight = measured.get(name, 0.0) / total_weight
        rate = min(1.0, count / of) if of and name in measured else None
        value = curve(rate) if rate is not None else None
        points += weight * (value or 0.0)
        components[name] = {"rate": _six(rate), "count": count, "of": of, "value": _six(value), "weight": _six(weight)}
    components["delivery"]["reported"] = sample.delivery_reported
    # Half up, after dropping float noise: 89.5 is 90 (EXCELLENT), 89.49 is 89.
    score = int(math.floor(round(100 * points, 6) + 0.5))
    return Health(score=score, tier=tier_of(score), components=components)


def pair_score(sent: int, delivered: int, bounced: int, complained: int) -> float | None:
    """delivery_rate − 10·bounce_rate − 100·complaint_rate (seed 002); None under PAIR_MIN_SAMPLE sent."""
    if sent < PAIR_MIN_SAMPLE:
        return None
    return round((min(delivered, sent) - 10 * bounced - 100 * complained) / sent, 4)


# ---- a subject's window, counted in the database ---------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose mail a window counts: a sending domain's (From), or an IP's (what its bound provider carried)."""

    workspace_id: int
    domain: str | None = None
    provider_id: int | None = None


def window_of(day: date) -> tuple[date, date]:
    """The UTC days a score for `day` covers: the 7 ending with it."""
    return day - timedelta(days=WINDOW_DAYS - 1), day


def _campaigns(scope: Scope, since: datetime, tracked: bool = False):
    """Ids of the workspace's campaigns that may have sent since `since`."""
    stmt = select(Campaign.id).where(
        Campaign.workspace_id == scope.workspace_id,
        Campaign.status != "draft",
        # A campaign completed before the window sent nothing in it: its recipients are not read.
        or_(Campaign.completed_at.is_(None), Campaign.completed_at >= since),
    )
    if tracked:
        stmt = stmt.where(or_(Campaign.track_opens.is_(True), Campaign.track_clicks.is_(True)))
    return stmt


def _recipients_of(scope: Scope, since: datetime, tracked: bool = False) -> list:
    """The scope's recipient rows: a domain's are those sent from it (a pool's choice or the campaign's From)."""
    cr = CampaignRecipient
    where = [cr.campaign_id.in_(_campaigns(scope, since, tracked))]
    if scope.domain is not None:
        where.append(senders.rows_from(scope.workspace_id, scope.domain))
    if scope.provider_id is not None:
        where.append(cr.provider_id == scope.provider_id)
    return where


def _delivery_counts(scope: Scope, first: date, last: date) -> dict:
    """The window's delivery_stats, with delivered per provider as reported or inferred."""
    ds = DeliveryStat
    cols = (ds.sent, ds.delivered, ds.bounced_hard, ds.bounced_soft, ds.blocked, ds.rejected, ds.complained)
    where = [ds.workspace_id == scope.workspace_id, ds.day >= first, ds.day <= last]
    if scope.domain is not None:
        where.append(ds.sending_domain == scope.domain)
    if scope.provider_id is not None:
        where.append(ds.provider_id == scope.provider_id)
    rows = db.session.execute(
        select(ds.provider_id, *(func.coalesce(func.sum(c), 0) for c in cols)).where(*where).group_by(ds.provider_id)
    ).all()
    out = {"sent": 0, "delivered": 0, "bounced": 0, "complained": 0, "refused": 0, "delivery_reported": False}
    for _, sent, delivered, hard, soft, blocked, rejected, complained in rows:
        bounced, refused = int(hard) + int(soft), int(blocked) + int(rejected)
        if delivered:  # this provider reports deliveries: trust what it said
            out["delivery_reported"] = True
        else:  # it does not (an SMTP relay): delivered unless it came back
            delivered = max(0, int(sent) - bounced - refused)
        out["sent"] += int(sent)
        out["delivered"] += int(delivered)
        out["bounced"] += bounced
        out["complained"] += int(complained)
        out["refused"] += refused
    return out


def _engagement_counts(scope: Scope, start: datetime, end: datetime) -> tuple[int, int]:
    """(tracked campaign messages sent in [start, end), how many of them were opened or clicked)."""
    cr = CampaignRecipient
    engaged = or_(HUMAN_OPENED, cr.human_clicked_at.is_not(None))
    tracked, opened = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((engaged, 1), else_=0)), 0)).where(
            *_recipients_of(scope, start, tracked=True), cr.sent_at >= start, cr.sent_at < end
        )
    ).one()
    return int(tracked), int(opened)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), timezone.utc)


def sample_of(scope: Scope, day: date) -> Sample:
    """What the scope sent and got back in the 7 UTC days ending with `day` (two aggregate queries)."""
    first, last = window_of(day)
    tracked, engaged = _engagement_counts(scope, _day_start(first), _day_start(last + timedelta(days=1)))
    return Sample(**_delivery_counts(scope, first, last), tracked=tracked, engaged=engaged)


def domain_scope(domain: SendingDomain) -> Scope:
    return Scope(domain.workspace_id, domain=domain.domain)


def ip_scope(ip: DedicatedIP) -> Scope | None:
    """An IP's mail is its bound provider's when that provider binds its connections to it (one address
    per provider, ips._binding); an API provider's pool IP (`pool_name`) or an unbound one: None."""
    if ip.provider_id is None or ip.pool_name:
        return None
    return Scope(ip.workspace_id, provider_id=ip.provider_id)


def score_domain(domain: SendingDomain, day: date) -> Health | None:
    """The domain's health over the 7 UTC days ending with `day`; None under MIN_SAMPLE sent."""
    return compute(sample_of(domain_scope(domain), day), window_of(day))


# ---- history and alerts ----------------------------------------------------------------------


def _upsert(workspace_id: int, subject_type: str, subject_id: int, day: date, health: Health) -> None:
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"score": health.score, "tier": health.tier, "components": health.components}
    stmt = insert(HealthScore).values(
        workspace_id=workspace_id, subject_type=subject_type, subject_id=subject_id, day=day, **values
    )
    db.session.execute(stmt.on_conflict_do_update(index_elements=["subject_type", "subject_id", "day"], set_=values))


def _previous(subject_type: str, subject_id: int, day: date) -> HealthScore | None:
    return db.session.scalar(
        select(HealthScore)
        .where(HealthScore.subject_type == subject_type, HealthScore.subject_id == subject_id, HealthScore.day < day)
        .order_by(HealthScore.day.desc())
        .limit(1)
    )


def record_score(
    workspace_id: int, subject_type: str, subject_id: int, day: date, sample: Sample, name: str, url: str
) -> Health | None:
    """Score a domain's or an IP's window ending `day`, keep it as that day's history (upsert), and
    raise or resolve its `health_dropped` alert. None (nothing recorded) under MIN_SAMPLE sent."""
    health = compute(sample, window_of(day))
    if health is None:
        return None
    previous = _previous(subject_type, subject_id, day)
    _upsert(workspace_id, subject_type, subject_id, day, health)
    if health.tier not in ALERT_SEVERITY:
        alerts.resolve_alert(workspace_id, ALERT_KIND, subject_type, subject_id)
    elif previous is None or _RANK[health.tier] < _RANK[previous.tier]:
        _raise(workspace_id, subject_type, subject_id, name, url, health, previous)
    # Still POOR (or CRITICAL and no worse): the alert raised at the drop stands, or a person dismissed it.
    db.session.flush()
    return health


def _raise(workspace_id, subject_type, subject_id, name, url, health: Health, previous: HealthScore | None) -> None:
    before = f" from {previous.tier} ({previous.score})" if previous is not None else ""
    c = health.components
    alerts.raise_alert(
        workspace_id,
        ALERT_KIND,
        ALERT_SEVERITY[health.tier],
        subject_type,
        subject_id,
        f"{name}: health dropped{before} to {health.tier} ({health.score}) over the last 7 days.",
        evidence={
            "score": health.score,
            "previous": f"{previous.tier} ({previous.score}) on {previous.day.isoformat()}" if previous else None,
            **{k: _rate_text(c[k]) for k in WEIGHTS},
        },
        action_label="See its health",
        action_url=url,
    )


def _rate_text(part: dict) -> str:
    if part["rate"] is None:
        return "not measured"
    return f"{100 * part['rate']:.2f}% ({part['count']:,} of {part['of']:,})"


def record_domain(domain: SendingDomain, day: date) -> Health | None:
    """Score the domain for `day`, keep it and alert on a drop (see record_score)."""
    sample = sample_of(domain_scope(domain), day)
    return record_score(domain.workspace_id, "domain", domain.id, day, sample, domain.domain,
                        f"/domains/{domain.id}#health")  # fmt: skip


def record_ip(ip: DedicatedIP, day: date) -> Health | None:
    """Score the IP for `day` when its mail can be told apart (ip_scope), keep it and alert on a drop."""
    scope = ip_scope(ip)
    if scope is None:
        return None
    return record_score(ip.workspace_id, "ip", ip.id, day, sample_of(scope, day), ip.ip_address, f"/ips/{ip.id}")


def record_daily(day: date | None = None) -> dict:
    """The daily job: every sending domain and every IP whose mail can be told apart scored for `day`
    (default: the last complete UTC day), kept and alerted on; one commit per subject. Safe to run
    twice (upsert by subject and day)."""
    day = day or datetime.now(timezone.utc).date() - timedelta(days=1)
    counts = {"day": day.isoformat(), "scored": 0, "too_few": 0}
    for model, record in ((SendingDomain, record_domain), (DedicatedIP, record_ip)):
        for subject_id in db.session.scalars(select(model.id).order_by(model.id)).all():
            health = record(db.session.get(model, subject_id), day)
            db.session.commit()
            counts["scored" if health else "too_few"] += 1
    return counts


def history(subject_type: str, subject_id: int, days: int = HISTORY_DAYS) -> list[HealthScore]:
    """The subject's recorded scores of the last `days` days, oldest first."""
    since = datetime.now(timezone.utc).date() - timedelta(days=days)
    return list(
        db.session.scalars(
            select(HealthScore)
            .where(HealthScore.subject_type == subject_type, HealthScore.subject_id == subject_id,
                   HealthScore.day >= since)
            .order_by(HealthScore.day)
        )
    )  # fmt: skip


def latest_scores(workspace_id: int, subject_type: str = "domain") -> dict[int, HealthScore]:
    """Each subject's latest recorded score, by subject id, in one query (the domains list, the API)."""
    latest = (
        select(HealthScore.subject_id, func.max(HealthScore.day).label("day"))
        .where(HealthScore.workspace_id == workspace_id, HealthScore.subject_type == subject_type)
        .group_by(HealthScore.subject_id)
        .subquery()
    )
    rows = db.session.scalars(
        select(HealthScore).join(
            latest,
            and_(
                HealthScore.subject_type == subject_type,
                HealthScore.subject_id == latest.c.subject_id,
                HealthScore.day == latest.c.day,
            ),
        )
    )
    return {row.subject_id: row for row in rows}


def latest_score(subject_type: str, subject_id: int) -> HealthScore | None:
    return _previous(subject_type, subject_id, date.max)


# ---- per destination mailbox provider, over 24 hours -----------------------------------------


@dataclass(frozen=True)
class PairScore:
    """One destination mailbox provider group's last hours for a domain (`group` None: MX unknown)."""

    group: str | None
    label: str
    sent: int
    delivered: int
    bounced: int
    complained: int
    score: float | None  # None under PAIR_MIN_SAMPLE sent

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None


def pair_scores(
    workspace_id: int, domain: str, hours: int = PAIR_HOURS, now: datetime | None = None
) -> list[PairScore]:
    """Per mailbox provider group, the domain's campaign messages of the last `hours` (see pairs_for)."""
    return pairs_for(Scope(workspace_id, domain=domain), hours, now)


def _pair_counts(scope: Scope, hours: int, now: datetime | None) -> dict[tuple, list[int]]:
    """{(mailbox provider group, provider id): [sent, delivered, bounced, complained]} of the scope's
    campaign messages of the last `hours`: sent (handed off, or refused at hand-off), delivered
    (reported where the provider reports deliveries, else not bounced or failed)."""
    until = now or datetime.now(timezone.utc)
    since = until - timedelta(hours=hours)
    cr = CampaignRecipient
    at = func.coalesce(cr.sent_at, cr.claimed_at)
    tried = or_(
        cr.sent_at.is_not(None),
        cr.status == "bounced",
        and_(cr.status == "failed", or_(*(cr.reason.startswith(p, autoescape=True) for p in REFUSED_AT_HANDOFF))),
    )

    def count_of(cond):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    rows = db.session.execute(
        select(
            cr.mailbox_provider, cr.provider_id, func.count(), count_of(cr.delivered_at.is_not(None)),
            count_of(cr.status.in_(DELIVERED_STATES)), count_of(cr.status == "bounced"),
            count_of(cr.status == "complained"), count_of(cr.status == "failed"),
        )
        .where(*_recipients_of(scope, since), at >= since, at < until, tried)
        .group_by(cr.mailbox_provider, cr.provider_id)
    ).all()  # fmt: skip
    # A provider that reported any delivery in the window reports them all: its unconfirmed rows were not delivered.
    reporting = {pid for _, pid, _, reported, *_ in rows if reported}
    out = {}
    for group, pid, sent, _, delivered, bounced, complained, failed in rows:
        if pid not in reporting:
            delivered = sent - bounced - failed
        out[(group, pid)] = [int(sent), int(delivered), int(bounced), int(complained)]
    return out


def pairs_for(scope: Scope, hours: int = PAIR_HOURS, now: datetime | None = None) -> list[PairScore]:
    """Per mailbox provider group, the scope's campaign messages of the last `hours` with the
    seed-002 score, most sent first. (An IP's scope misses rows refused at hand-off: those keep no
    provider.)"""
    groups: dict[str | None, list[int]] = {}
    for (group, _), counts in _pair_counts(scope, hours, now).items():
        totals = groups.setdefault(group, [0, 0, 0, 0])
        for i, n in enumerate(counts):
            totals[i] += n
    out = [
        PairScore(group, group_label(group), sent, delivered, bounced, complained,
                  pair_score(sent, delivered, bounced, complained))
        for group, (sent, delivered, bounced, complained) in groups.items()
    ]  # fmt: skip
    return sorted(out, key=lambda p: (-p.sent, p.label))


_affinity: dict[int, tuple[float, dict]] = {}  # workspace id -> (expires at, scores): one query per 5 minutes
AFFINITY_SECONDS = 300


def route_affinity(workspace_id: int) -> dict:
    """provider_pair_scores, kept a few minutes per process: each send batch asks, one query serves many."""
    now = monotonic()
    hit = _affinity.get(workspace_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    scores = provider_pair_scores(workspace_id)
    if len(_affinity) > 1000:
        _affinity.clear()
    _affinity[workspace_id] = (now + AFFINITY_SECONDS, scores)
    return scores


def provider_pair_scores(workspace_id: int, hours: int = PAIR_HOURS, now: datetime | None = None) -> dict:
    """{(provider id, mailbox provider group): seed-002 score} of the workspace's last `hours`, for
    pairs with enough mail (PAIR_MIN_SAMPLE): what routing's affinity prefers a route by."""
    out = {}
    for (group, pid), counts in _pair_counts(Scope(workspace_id), hours, now).items():
        score = pair_score(*counts)
        if pid is not None and group is not None and score is not None:
            out[(pid, group)] = score
    return out


# ---- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class HealthReport:
    """A Health card: the latest score, its daily history and the last hours by mailbox provider."""

    latest: HealthScore | None
    history: list[HealthScore]
    pairs: list[PairScore]
    pair_hours: int = PAIR_HOURS


def _report(subject_type: str, subject_id: int, scope: Scope | None) -> HealthReport:
    past = history(subject_type, subject_id)
    return HealthReport(
        latest=past[-1] if past else latest_score(subject_type, subject_id),
        history=past,
        pairs=pairs_for(scope) if scope else [],
    )


def domain_health(domain: SendingDomain) -> HealthReport:
    """The domain page's Health card (the API reads `latest` too)."""
    return _report("domain", domain.id, domain_scope(domain))


def ip_health(ip: DedicatedIP) -> HealthReport:
    """An IP's Health card: empty (no scores, no pairs) while its mail cannot be told apart (ip_scope)."""
    return _report("ip", ip.id, ip_scope(ip))
