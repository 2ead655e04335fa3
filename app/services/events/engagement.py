"""Judging the tracking drain's opens and clicks (verdicts.py) and keeping the human figures true.

`judge` gives each new hit its verdict and signals, then judges the batch's clicks together with
the same recipients' clicks already stored around them (the honeypot's ±30 s, a burst's 2 s), so a
trap clicked in the next batch still taints the clicks before it. Stored events it turns into
scanners are rewritten, and `recount_humans` sets their recipients' first human open and click
again from what is left.
"""

from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, bindparam, func, select, update

from app.extensions import db
from app.models import CampaignRecipient, Event, Link
from app.models.base import utcnow
from app.services.events import rollups, verdicts

_cr = CampaignRecipient.__table__


def ranges() -> verdicts.MachineRanges:
    return verdicts.ranges_for(Path(current_app.config["MACHINE_RANGES_DIR"]))


def is_human(row: dict) -> bool:
    human = verdicts.HUMAN_CLICK if row["event_type"] == "click" else verdicts.HUMAN_OPEN
    return row["verdict"] in human


def judge(rows: list[dict], sent_at: dict, watch: rollups.Watch | None = None) -> set[int]:
    """Set each new row's `verdict` and `data` (its signals); re-judge stored clicks of the same
    recipients near them (told to `watch` before they change). Returns the recipients whose stored
    events changed."""
    machine = ranges()
    for row in rows:
        sent = sent_at.get(row["recipient_id"])
        seconds = (row["occurred_at"] - sent).total_seconds() if sent else None
        hit = verdicts.Hit(row["event_type"], row["method"], row["user_agent"], row["ip"], seconds)
        row["verdict"], signals = verdicts.classify(hit, machine)
        row["data"] = {"signals": signals}
    clicks = [r for r in rows if r["event_type"] == "click"]
    return _judge_clicks_together(clicks, watch or rollups.Watch()) if clicks else set()


def _judge_clicks_together(clicks: list[dict], watch: rollups.Watch) -> set[int]:
    stored = _stored_clicks_near(clicks)
    traps = _honeypots({c["link_id"] for c in clicks} | {s.link_id for s in stored})
    together = [
        verdicts.Click(("new", i), c["recipient_id"], c["link_id"], c["occurred_at"].timestamp(), c["verdict"],
                       c["link_id"] in traps)
        for i, c in enumerate(clicks)
    ] + [
        verdicts.Click(("old", s.id), s.recipient_id, s.link_id, s.occurred_at.timestamp(), s.verdict or "human",
                       s.link_id in traps)
        for s in stored
    ]  # fmt: skip
    changed = verdicts.judge_together(together)
    retold = set()
    by_key = {c.key: c for c in together}
    stored_by_id = {s.id: s for s in stored}
    watch.events(ref for kind, ref in changed if kind == "old")
    for kind, ref in changed:
        click = by_key[(kind, ref)]
        if kind == "new":
            clicks[ref]["verdict"] = click.verdict
            clicks[ref]["data"]["signals"]["rule"] = click.rule
            continue
        old = stored_by_id[ref]
        data = dict(old.data or {})
        data["signals"] = {**data.get("signals", {}), "rule": click.rule}
        db.session.execute(update(Event).where(Event.id == ref).values(verdict=click.verdict, data=data))
        retold.add(old.recipient_id)
    return retold


def _stored_clicks_near(clicks: list[dict]) -> list:
    """The recipients' stored clicks that a honeypot or a burst among the new ones could reach."""
    rids = list({c["recipient_id"] for c in clicks})
    reach = timedelta(seconds=max(verdicts.HONEYPOT_SECONDS, verdicts.BURST_SECONDS))
    first = min(c["occurred_at"] for c in clicks) - reach
    last = max(c["occurred_at"] for c in clicks) + reach
    return db.session.execute(
        select(Event.id, Event.recipient_id, Event.link_id, Event.occurred_at, Event.verdict, Event.data).where(
            Event.recipient_id.in_(rids),
            Event.event_type == "click",
            Event.occurred_at >= first,
            Event.occurred_at <= last,
        )
    ).all()


def _honeypots(link_ids: set) -> set[int]:
    ids = [i for i in link_ids if i is not None]
    if not ids:
        return set()
    return set(db.session.scalars(select(Link.id).where(Link.id.in_(ids), Link.position == verdicts.HONEYPOT_POSITION)))


def recount_humans(recipient_ids) -> None:
    """Each recipient's first human open and click again from its events (after a verdict changed)."""
    rids = list(recipient_ids)
    if not rids:
        return
    ev = Event.__table__
    human_click = and_(ev.c.event_type == "click", rollups.human_sql())
    human_open = and_(ev.c.event_type.in_(("open", "click")), rollups.human_sql())

    def first(cond):
        return select(func.min(ev.c.occurred_at)).where(ev.c.recipient_id == _cr.c.id, cond).scalar_subquery()

    db.session.execute(
        update(_cr)
        .where(_cr.c.id.in_(rids))
        .values(human_opened_at=first(human_open), human_clicked_at=first(human_click))
    )


def refresh_ranges() -> dict[str, int]:
    """The periodic job: download the configured address lists (APPLE_RELAY_RANGES_URL,
    SCANNER_RANGES_URL) into MACHINE_RANGES_DIR. {list: CIDRs kept}; nothing configured: {}."""
    cfg = current_app.config
    urls = {name: cfg.get(setting) for name, setting in verdicts.RANGE_URLS.items()}
    return verdicts.refresh(Path(cfg["MACHINE_RANGES_DIR"]), urls)


def verdict_shares(workspace_id: int, days: int = 30) -> dict:
    """For the settings page: {"opens": {verdict: n}, "clicks": {verdict: n}} over the last `days`
    (one grouped query on the workspace's recent events; "unjudged": recorded before verdicts)."""
    since = utcnow() - timedelta(days=days)
    rows = db.session.execute(
        select(Event.event_type, Event.verdict, func.count())
        .where(Event.workspace_id == workspace_id, Event.occurred_at >= since,
               Event.event_type.in_(("open", "click")))
        .group_by(Event.event_type, Event.verdict)
    ).all()  # fmt: skip
    out: dict[str, dict[str, int]] = {"opens": {}, "clicks": {}}
    for event_type, verdict, n in rows:
        out["opens" if event_type == "open" else "clicks"][verdict or "unjudged"] = n
    return out


def reclassify(since=None, batch: int = 5000, progress=None) -> dict[str, int]:
    """Judge the stored opens and clicks of campaigns again by today's rules, from the signals kept
    with each (after a rule or an address list changed, or for history recorded before verdicts),
    and set their recipients' human figures again. A batch at a time, committed; {verdict: events}."""
    ev = Event.__table__
    counts: dict[str, int] = {}
    last_id, machine = 0, ranges()
    write = update(ev).where(ev.c.id == bindparam("eid")).values(verdict=bindparam("v"), data=bindparam("d"))
    while True:
        stmt = (
            select(ev.c.id, ev.c.event_type, ev.c.recipient_id, ev.c.link_id, ev.c.user_agent, ev.c.ip, ev.c.data,
                   ev.c.occurred_at, _cr.c.sent_at)
            .join(_cr, _cr.c.id == ev.c.recipient_id)
            .where(ev.c.id > last_id, ev.c.event_type.in_(("open", "click")))
            .order_by(ev.c.id)
            .limit(batch)
        )  # fmt: skip
        if since is not None:
            stmt = stmt.where(ev.c.occurred_at >= since)
        rows = db.session.execute(stmt).all()
        if not rows:
            return counts
        last_id = rows[-1].id
        judged = [_rejudge(r, machine) for r in rows]
        _judge_batch_clicks(judged)
        watch = rollups.Watch({j["recipient_id"] for j in judged}, {j["id"] for j in judged})
        db.session.execute(write, [{"eid": j["id"], "v": j["verdict"], "d": j["data"]} for j in judged])
        recount_humans({j["recipient_id"] for j in judged})
        watch.finish()
        db.session.commit()
        for j in judged:
            counts[j["verdict"]] = counts.get(j["verdict"], 0) + 1
        if progress:
            progress(len(rows))


def _rejudge(row, machine) -> dict:
    data = dict(row.data or {})
    method = (data.get("signals") or {}).get("method", "GET")
    seconds = (row.occurred_at - row.sent_at).total_seconds() if row.sent_at else None
    verdict, signals = verdicts.classify(verdicts.Hit(row.event_type, method, row.user_agent, row.ip, seconds), machine)
    data["signals"] = signals
    return {"id": row.id, "event_type": row.event_type, "recipient_id": row.recipient_id, "link_id": row.link_id,
            "occurred_at": row.occurred_at, "verdict": verdict, "data": data}  # fmt: skip


def _judge_batch_clicks(judged: list[dict]) -> None:
    clicks = [j for j in judged if j["event_type"] == "click"]
    traps = _honeypots({c["link_id"] for c in clicks})
    together = [verdicts.Click(i, c["recipient_id"], c["link_id"], c["occurred_at"].timestamp(), c["verdict"],
                               c["link_id"] in traps) for i, c in enumerate(clicks)]  # fmt: skip
    for i in verdicts.judge_together(together):
        clicks[i]["verdict"] = together[i].verdict
        clicks[i]["data"]["signals"]["rule"] = together[i].rule
