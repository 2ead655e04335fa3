"""Per-day delivery counters by provider and sending domain (the `delivery_stats` table).

The send pipeline adds what it handed off; provider events add what came back. One upsert
per (day, provider, domain) touched, so a chunk of 100 messages or a payload of 1,000
events costs a statement or two, and two workers adding at once never lose a count
(`count = count + n` in the database, never read-modify-write in Python).
"""

from collections import Counter
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import DeliveryStat

COUNTERS = ("sent", "delivered", "bounced_hard", "bounced_soft", "blocked", "complained", "deferred", "rejected",
            "unsubscribed")  # fmt: skip


def add(workspace_id: int, counters: dict[tuple[date, int, str], Counter]) -> None:
    """Add counts: {(day, provider id or 0, sending domain): Counter(counter name -> n)}."""
    if not counters:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # In key order: two workers upserting the same rows lock them in the same order (no deadlock).
    for (day, provider_id, domain), counts in sorted(counters.items()):
        values = {name: int(counts.get(name, 0)) for name in COUNTERS}
        if not any(values.values()):
            continue
        stmt = insert(DeliveryStat).values(
            workspace_id=workspace_id, day=day, provider_id=provider_id or 0, sending_domain=domain or "", **values
        )
        changed = {name: getattr(DeliveryStat, name) + stmt.excluded[name] for name, n in values.items() if n}
        db.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "day", "provider_id", "sending_domain"], set_=changed
            )
        )


def add_sent(workspace_id: int, counts: dict[tuple[int, str], int]) -> None:
    """What the send pipeline handed off just now: {(provider id, From address): messages}."""
    day = datetime.now(timezone.utc).date()
    per_domain: Counter = Counter()
    for (pid, from_email), n in counts.items():
        per_domain[(day, pid, from_email.rpartition("@")[2].lower())] += n
    add(workspace_id, {key: Counter(sent=n) for key, n in per_domain.items() if n})


def totals(workspace_id: int, days: int = 30, provider_id: int | None = None, domain: str | None = None) -> dict:
    """Sums over the last `days` days, with bounce and complaint rates over what was delivered or sent."""
    since = datetime.now(timezone.utc).date() - timedelta(days=days - 1)
    stmt = select(*(func.coalesce(func.sum(getattr(DeliveryStat, c)), 0) for c in COUNTERS)).where(
        DeliveryStat.workspace_id == workspace_id, DeliveryStat.day >= since
    )
    if provider_id is not None:
        stmt = stmt.where(DeliveryStat.provider_id == provider_id)
    if domain is not None:
        stmt = stmt.where(DeliveryStat.sending_domain == domain)
    out = dict(zip(COUNTERS, (int(v) for v in db.session.execute(stmt).one()), strict=True))
    base = out["delivered"] or out["sent"]
    bounced = out["bounced_hard"] + out["bounced_soft"]
    out["bounce_rate"] = bounced / out["sent"] if out["sent"] else None
    out["complaint_rate"] = out["complained"] / base if base else None
    return out
