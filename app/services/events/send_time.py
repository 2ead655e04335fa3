"""Send-time optimization: each person's best hour of the week, from when they opened and clicked as
a person (machines' opens say nothing about a reader).

A 168-slot histogram (UTC weekday × hour) of the person's human opens and clicks over the last 180
days, smoothed over the neighbouring hours, and shrunk toward the workspace's own histogram by how
little history the person has: with n events, weight n / (n + PRIOR_STRENGTH) on theirs. A small
share of people (EXPLORE, chosen by a hash, so the same people each time) get a slot spread at random
instead, so the histograms keep learning hours nobody tried. Within a window (24 hours ahead), the
slot with the highest score wins.

    scores(workspace_id, subscriber_ids)  {subscriber id: 168 scores}
    best_in_window(scores, now, hours)     the start of the best hour within the window
    schedule_campaign(campaign)            a campaign's pending rows wait for each person's best hour
                                           (their `retry_at`: the claims and requeue_due_retries obey it)
    spread(campaign)                       per hour of its 24: people scheduled and sent
"""

import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, union_all, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient
from app.services.time_buckets import hour_of_week, utc_hour

SLOTS = 168
HISTORY_DAYS = 180
PRIOR_STRENGTH = 8.0  # a person with 8 engagements weighs as much as the workspace's pattern
SMOOTHING = (0.25, 0.5, 0.25)  # an hour shares with its neighbours: opens at 9:55 and 10:05 are one habit
EXPLORE = 0.05
DEFAULT_HOUR = 10  # with no history anywhere: mid-morning UTC


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _engagements(workspace_id: int, subscriber_ids, since: datetime):
    """(subscriber id, hour of week, count) of human opens and clicks (`subscriber_ids`: a list, a
    SELECT of ids, or None for everyone)."""
    cr = CampaignRecipient
    parts = []
    for column in (cr.human_opened_at, cr.human_clicked_at):
        stmt = (
            select(cr.subscriber_id.label("sid"), hour_of_week(column).label("slot"))
            .join(Campaign, Campaign.id == cr.campaign_id)
            .where(Campaign.workspace_id == workspace_id, column >= since)
        )
        if subscriber_ids is not None:
            stmt = stmt.where(cr.subscriber_id.in_(subscriber_ids))
        parts.append(stmt)
    both = union_all(*parts).subquery()
    return db.session.execute(select(both.c.sid, both.c.slot, func.count()).group_by(both.c.sid, both.c.slot)).all()


def _smooth(counts: list[float]) -> list[float]:
    a, b, c = SMOOTHING
    return [a * counts[(i - 1) % SLOTS] + b * counts[i] + c * counts[(i + 1) % SLOTS] for i in range(SLOTS)]


def _normalized(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [x / total for x in counts] if total else [0.0] * SLOTS


def workspace_pattern(workspace_id: int, now: datetime | None = None) -> list[float]:
    """The workspace's smoothed, normalized histogram; with no history, mid-morning every day."""
    counts = [0.0] * SLOTS
    since = (now or _now()) - timedelta(days=HISTORY_DAYS)
    for _sid, slot, n in _engagements(workspace_id, None, since):
        counts[int(slot) % SLOTS] += n
    if not any(counts):
        for day in range(7):
            counts[day * 24 + DEFAULT_HOUR] = 1.0
    return _normalized(_smooth(counts))


def scores(workspace_id: int, subscriber_ids: list[int], now: datetime | None = None) -> dict[int, list[float]]:
    """Each person's 168 scores: their habit shrunk toward the workspace's, or (for the exploring
    share) a spread that favours no hour."""
    now = now or _now()
    prior = workspace_pattern(workspace_id, now)
    own: dict[int, list[float]] = {sid: [0.0] * SLOTS for sid in subscriber_ids}
    for sid, slot, n in _engagements(workspace_id, subscriber_ids, now - timedelta(days=HISTORY_DAYS)):
        own[sid][int(slot) % SLOTS] += n
    out = {}
    for sid, counts in own.items():
        if _explores(sid):
            out[sid] = _exploration(sid)
            continue
        n = sum(counts)
        weight = n / (n + PRIOR_STRENGTH)
        mine = _normalized(_smooth(counts))
        out[sid] = [weight * m + (1 - weight) * p for m, p in zip(mine, prior, strict=True)]
    return out


def _digest(sid: int, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{sid}".encode()).digest()[:8], "big")


def _explores(sid: int) -> bool:
    return _digest(sid, "explore") % 10_000 < EXPLORE * 10_000


def _exploration(sid: int) -> list[float]:
    """A slot of the day chosen by the person's hash: their sends land at an hour the data may not cover."""
    hour = _digest(sid, "hour") % 24
    return [1.0 if i % 24 == hour else 0.0 for i in range(SLOTS)]


def slot_of(when: datetime) -> int:
    """UTC hour of the week: Monday 00:00 is 0."""
    when = when.astimezone(timezone.utc)
    return when.weekday() * 24 + when.hour


def best_in_window(person: list[float], now: datetime, hours: int = 24) -> datetime:
    """The start of the highest-scored hour within the next `hours` (now, when it is the current hour)."""
    start = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    best, best_score = now, -1.0
    for k in range(hours):
        at = start + timedelta(hours=k)
        score = person[slot_of(at)]
        if score > best_score + 1e-12:
            best, best_score = max(at, now), score
    return best


def _window(start: datetime, hours: int = 24) -> list[int]:
    return [slot_of(start + timedelta(hours=k)) for k in range(hours)]


def _best_k(window: list[int], person: dict[int, int], total: int, prior: list[float]) -> int:
    """The best hour (0–23 from the start) for someone with `total` engagements, `person` by slot."""
    weight = total / (total + PRIOR_STRENGTH)
    a, b, c = SMOOTHING
    best, best_score = 0, -1.0
    for k, s in enumerate(window):
        mine = (a * person.get((s - 1) % SLOTS, 0) + b * person.get(s, 0) + c * person.get((s + 1) % SLOTS, 0)) / total
        score = weight * mine + (1 - weight) * prior[s]
        if score > best_score + 1e-12:
            best, best_score = k, score
    return best


def schedule_campaign(campaign: Campaign, now: datetime | None = None) -> dict[int, int]:
    """Give each pending, unheld recipient of the campaign their best hour within 24 hours (retry_at;
    the current hour: none, they go now). Set-based: everyone without history takes the workspace's
    best hour in one UPDATE; the rest are grouped by hour. Returns {hours from now: people}."""
    cr = CampaignRecipient.__table__
    now = now or _now()
    start = now.replace(minute=0, second=0, microsecond=0)
    window = _window(start)
    prior = workspace_pattern(campaign.workspace_id, now)
    default_k = max(range(24), key=lambda k: (prior[window[k]], -k))
    eligible = [
        cr.c.campaign_id == campaign.id,
        cr.c.status == "pending",
        cr.c.retry_at.is_(None),
        cr.c.reason.is_(None),
    ]
    people = select(cr.c.subscriber_id).where(*eligible)
    history: dict[int, dict[int, int]] = {}
    for sid, slot, n in _engagements(campaign.workspace_id, people, now - timedelta(days=HISTORY_DAYS)):
        history.setdefault(sid, {})[int(slot) % SLOTS] = n
    chosen: dict[int, list[int]] = {}
    everyone = db.session.scalars(people).all()
    for sid in everyone:
        if _explores(sid):
            hour = _digest(sid, "hour") % 24
            k = next(k for k, s in enumerate(window) if s % 24 == hour)
        elif sid in history:
            k = _best_k(window, history[sid], sum(history[sid].values()), prior)
        else:
            continue
        if k != default_k:
            chosen.setdefault(k, []).append(sid)
    at = {k: None if k == 0 else start + timedelta(hours=k) for k in range(24)}
    db.session.execute(update(cr).where(*eligible).values(retry_at=at[default_k]))
    for k, sids in chosen.items():
        for i in range(0, len(sids), 1000):
            db.session.execute(
                update(cr).where(cr.c.campaign_id == campaign.id, cr.c.status == "pending",
                                 cr.c.subscriber_id.in_(sids[i : i + 1000])).values(retry_at=at[k])
            )  # fmt: skip
    counts = {k: len(v) for k, v in chosen.items()}
    counts[default_k] = len(everyone) - sum(counts.values())
    return dict(sorted(counts.items()))


def spread(campaign: Campaign) -> list[dict]:
    """The 24 hours from the campaign's start: people still scheduled for each, and sent in each (two
    grouped queries)."""
    start = (campaign.started_at or _now()).replace(minute=0, second=0, microsecond=0)
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    cr = CampaignRecipient
    rows = {k: {"hour": (start + timedelta(hours=k)).isoformat(), "scheduled": 0, "sent": 0} for k in range(24)}
    for column, kind, where in ((cr.retry_at, "scheduled", cr.status == "pending"), (cr.sent_at, "sent", True)):
        bucket, read = utc_hour(column)
        for key, n in db.session.execute(
            select(bucket, func.count())
            .where(cr.campaign_id == campaign.id, column.is_not(None), where)
            .group_by(bucket)
        ):
            k = int((read(key) - start).total_seconds() // 3600)
            if 0 <= k < 24:
                rows[k][kind] += n
    return list(rows.values())
