"""The hourly rollups (`insight_hours`): a campaign's figures per UTC hour, mailbox provider and sending
identity, kept in the same transaction as the rows they count, so no insights page reads the event log.

Each campaign's hour is kept split (per mailbox provider and identity) and in all (`TOTAL`).
A recipient row counts once in each hour its timestamps fall in (sent, delivered, first open and
click, raw and human; failed at its hand-off attempt, so addresses skipped as suppressed are not
failures); an event counts in the hour it happened (opens and clicks, raw and human;
bounces, deferrals, complaints, unsubscribes, replies). Writers say which rows they are about to
change (`Watch`): the rows' contributions are read before (under a row lock) and after, and the
difference is added in one upsert per batch, `n = n + delta` in the database. That is idempotent
with the event log: an event whose key exists already inserts nothing and so adds nothing; a
verdict turned from a person's to a scanner's takes its click back out. `rebuild` recounts
campaigns from their rows (after a migration, or to check the upkeep: both must agree).
"""

from collections import Counter, defaultdict
from datetime import datetime, timezone

from sqlalchemy import case, func, literal, select, text

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Event, InsightHour
from app.services.events.verdicts import HUMAN_CLICK, HUMAN_OPEN
from app.services.time_buckets import utc_hour

METRICS = ("sent", "delivered", "failed", "bounced", "hard_bounced", "deferred", "opens", "human_opens",
           "unique_opens", "human_unique_opens", "clicks", "human_clicks", "unique_clicks",
           "human_unique_clicks", "replies", "unsubscribes", "complaints")  # fmt: skip
# A recipient row counts in the hour of each of these timestamps.
ROW_METRICS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "unique_opens": "opened_at",
    "human_unique_opens": "human_opened_at",
    "unique_clicks": "clicked_at",
    "human_unique_clicks": "human_clicked_at",
}
# An event counts in one metric by its type (opens and clicks also in a human one: `_event_metrics`).
EVENT_METRICS = {
    "open": "opens",
    "click": "clicks",
    "bounce": "bounced",
    "delivery_delay": "deferred",
    "complaint": "complaints",
    "unsubscribe": "unsubscribes",
    "reply": "replies",
}
_CHUNK = 5000
_cr = CampaignRecipient.__table__
_ev = Event.__table__

# (workspace id, campaign id, UTC hour, mailbox provider or "", identity id or 0) -> metric -> n
Deltas = dict[tuple, Counter]
# Each campaign's hour is also kept in all, under this (mailbox provider, identity): what the overview, the
# workspace's figures and a campaign's unsplit figures read (a tenth of the rows, or fewer). A query over
# the split rows takes `SPLIT`, over the totals `TOTALS`, never both.
TOTAL = ("*", -1)
TOTALS = InsightHour.identity_id == TOTAL[1]
SPLIT = InsightHour.identity_id != TOTAL[1]


def hour_of(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


class Watch:
    """Rows about to change: `recipients(ids)` and `events(ids)` before changing them, then `finish`
    with the ids of events inserted meanwhile. Rows watched twice count once."""

    def __init__(self, recipient_ids=(), event_ids=()):
        self._rids: set[int] = set()
        self._eids: set[int] = set()
        self._delta: Deltas = defaultdict(Counter)
        self._dims: dict[int, tuple] = {}  # recipient id -> (workspace, campaign, mailbox provider, identity)
        self.recipients(recipient_ids)
        self.events(event_ids)

    def recipients(self, ids) -> None:
        """Lock the recipient rows (FOR NO KEY UPDATE, in id order, as the cascade's own locks) and note
        what they count now."""
        new = {i for i in ids if i is not None} - self._rids
        if new:
            self._rids |= new
            _merge(self._delta, _of_recipients(new, lock=True, dims=self._dims), -1)

    def events(self, ids) -> None:
        new = {i for i in ids if i is not None} - self._eids
        if new:
            self._eids |= new
            _merge(self._delta, _of_events(new), -1)

    def finish(self, new_event_ids=(), new_rows=None, dims: dict | None = None, changes=()) -> None:
        """Add the difference. New events by id (read back), or as the rows just inserted (`new_rows`:
        the dicts given to insert_events; their recipients' dimensions from `dims` or the watched rows);
        `changes` of unwatched recipients as their writer told them (`of_changes`)."""
        self._dims.update(dims or {})
        _merge(self._delta, of_changes(list(changes), self._dims), 1)
        _merge(self._delta, _of_recipients(self._rids), 1)
        if new_rows is not None:
            _merge(self._delta, _of_rows(new_rows, self._dims), 1)
        _merge(self._delta, _of_events(self._eids | set(new_event_ids)), 1)
        apply(self._delta)
        self._rids, self._eids, self._delta, self._dims = set(), set(), defaultdict(Counter), {}


def add_events(event_ids) -> None:
    """Count events just inserted (nothing else about them changed)."""
    apply(_of_events(set(event_ids)))


def apply(deltas: Deltas, session=None) -> None:
    """Add the deltas, and each to its campaign's hour in all (`TOTAL`): one upsert per chunk of keys, in
    key order (two writers lock the same rows in the same order and never deadlock)."""
    deltas = _with_totals(deltas)
    rows = []
    for key, counts in sorted(deltas.items(), key=lambda kv: kv[0]):
        values = {m: int(counts.get(m, 0)) for m in METRICS}
        if any(values.values()):
            ws, campaign_id, hour, provider, identity = key
            rows.append({"workspace_id": ws, "campaign_id": campaign_id, "hour": hour,
                         "mailbox_provider": provider or "", "identity_id": identity or 0, **values})  # fmt: skip
    if not rows:
        return
    session = session or db.session
    if session.get_bind().dialect.name == "postgresql":
        for i in range(0, len(rows), 5000):
            chunk = rows[i : i + 5000]
            session.execute(_UPSERT_PG, {c: [r[c] for r in chunk] for c in _KEYS + METRICS})
        return
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(InsightHour)
    upsert = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "hour", "mailbox_provider", "identity_id"],
        set_={m: getattr(InsightHour, m) + stmt.excluded[m] for m in METRICS},
    )
    session.execute(upsert, rows)


def _with_totals(deltas: Deltas) -> Deltas:
    out: Deltas = defaultdict(Counter)
    for (ws, campaign_id, hour, provider, identity), counts in deltas.items():
        for key in ((ws, campaign_id, hour, provider or "", identity or 0), (ws, campaign_id, hour, *TOTAL)):
            for metric, n in counts.items():
                out[key][metric] += n
    return out


_KEYS = ("workspace_id", "campaign_id", "hour", "mailbox_provider", "identity_id")
_TYPES = {"hour": "timestamptz", "mailbox_provider": "varchar"}
# One array per column, as the event log writes (a multi-row VALUES spends its time compiling placeholders).
_UPSERT_PG = text(
    f"INSERT INTO insight_hours ({', '.join(_KEYS + METRICS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {_TYPES.get(c, 'integer')}[])" for c in _KEYS + METRICS)
    + ") ON CONFLICT (campaign_id, hour, mailbox_provider, identity_id) DO UPDATE SET "
    + ", ".join(f"{m} = insight_hours.{m} + excluded.{m}" for m in METRICS)
)


def rebuild(campaign_ids=None, session=None) -> int:
    """Count campaigns again from their recipient rows and events (all campaigns without ids), set-based:
    a grouped query per timestamp and one for the events. Returns the rollup rows written."""
    session = session or db.session
    scope = [] if campaign_ids is None else [list(campaign_ids)]
    if scope == [[]]:
        return 0
    delete = InsightHour.__table__.delete()
    session.execute(delete if not scope else delete.where(InsightHour.campaign_id.in_(scope[0])))
    deltas: Deltas = defaultdict(Counter)
    postgres = session.get_bind().dialect.name == "postgresql"
    for metric, column in (*ROW_METRICS.items(), ("failed", None)):
        at = _cr.c.claimed_at if column is None else _cr.c[column]
        hour, read = utc_hour(at, postgres)
        dims = (Campaign.workspace_id, _cr.c.campaign_id, hour, _cr.c.mailbox_provider, _cr.c.identity_id)
        stmt = select(*dims, func.count()).join(Campaign, Campaign.id == _cr.c.campaign_id)
        stmt = stmt.where(at.is_not(None), *([_cr.c.status == "failed"] if column is None else []))
        if scope:
            stmt = stmt.where(_cr.c.campaign_id.in_(scope[0]))
        for ws, cid, key, provider, identity, n in session.execute(stmt.group_by(*dims)):
            deltas[(ws, cid, read(key), provider or "", identity or 0)][metric] += n
    hour, read = utc_hour(_ev.c.occurred_at, postgres)
    human, hard = human_sql(), (_ev.c.event_type == "bounce") & (Event.data["bounce_type"].as_string() == "hard")
    dims = (_ev.c.workspace_id, _ev.c.campaign_id, hour, _cr.c.mailbox_provider, _cr.c.identity_id, _ev.c.event_type)
    stmt = (
        select(*dims, func.count(), func.sum(case((human, 1), else_=0)), func.sum(case((hard, 1), else_=0)))
        .select_from(_ev)
        .outerjoin(_cr, _cr.c.id == _ev.c.recipient_id)
        .where(_ev.c.campaign_id.is_not(None), _ev.c.event_type.in_(EVENT_METRICS))
    )
    if scope:
        stmt = stmt.where(_ev.c.campaign_id.in_(scope[0]))
    for ws, cid, key, provider, identity, event_type, n, people, hard_n in session.execute(stmt.group_by(*dims)):
        counts = deltas[(ws, cid, read(key), provider or "", identity or 0)]
        for metric, k in _event_metrics(event_type, int(people or 0), int(hard_n or 0), n):
            counts[metric] += k
    apply(deltas, session)
    return len(deltas)


def _event_metrics(event_type: str, people: int, hard: int, n: int):
    """(metric, n) for `n` events of a type, `people` of them a person's and `hard` hard bounces."""
    yield EVENT_METRICS[event_type], n
    if event_type == "open":
        yield "human_opens", people
    elif event_type == "click":
        yield "human_clicks", people
    elif event_type == "bounce":
        yield "hard_bounced", hard


def human_sql():
    """An open or a click a person made (events/verdicts.py); one recorded before verdicts existed
    (NULL) stays a person's until reclassified."""
    person = _ev.c.verdict.is_(None)
    return ((_ev.c.event_type == "open") & (_ev.c.verdict.in_(HUMAN_OPEN) | person)) | (
        (_ev.c.event_type == "click") & (_ev.c.verdict.in_(HUMAN_CLICK) | person)
    )


def of_changes(changes: list, dims: dict) -> Deltas:
    """Deltas of recipient timestamps that changed: [(recipient id, column, before, after)], with each
    recipient's (workspace, campaign, mailbox provider, identity) in `dims`."""
    out: Deltas = defaultdict(Counter)
    metric_of = {column: metric for metric, column in ROW_METRICS.items()}
    for rid, column, before, after in changes:
        ws, cid, provider, identity = dims[rid]
        if before is not None:
            out[(ws, cid, hour_of(before), provider, identity)][metric_of[column]] -= 1
        if after is not None:
            out[(ws, cid, hour_of(after), provider, identity)][metric_of[column]] += 1
    return out


def _of_rows(rows: list[dict], dims: dict) -> Deltas:
    """The contributions of events still in hand (dicts as given to insert_events), without reading them
    back: a recipient's mailbox provider and identity from `dims`, else from its row."""
    out: Deltas = defaultdict(Counter)
    missing = {r["recipient_id"] for r in rows if r.get("campaign_id") and r.get("recipient_id") not in dims}
    if missing - {None}:
        _of_recipients(missing - {None}, dims=dims)
    for r in rows:
        event_type = r["event_type"]
        if not r.get("campaign_id") or event_type not in EVENT_METRICS:
            continue
        ws, _, provider, identity = dims.get(r.get("recipient_id"), (r["workspace_id"], None, "", 0))
        verdict = r.get("verdict")
        person = verdict is None or verdict in (HUMAN_CLICK if event_type == "click" else HUMAN_OPEN)
        hard = event_type == "bounce" and (r.get("data") or {}).get("bounce_type") == "hard"
        counts = out[(r["workspace_id"], r["campaign_id"], hour_of(r["occurred_at"]), provider, identity)]
        for metric, n in _event_metrics(event_type, int(person), int(hard), 1):
            counts[metric] += n
    return out


def _of_recipients(ids: set, lock: bool = False, dims: dict | None = None) -> Deltas:
    """What the rows count now (and, into `dims`, each row's dimensions)."""
    out: Deltas = defaultdict(Counter)
    columns = [_cr.c[c] for c in ROW_METRICS.values()]
    for chunk in _chunks(ids):
        stmt = (
            select(_cr.c.id, Campaign.workspace_id, _cr.c.campaign_id, _cr.c.mailbox_provider, _cr.c.identity_id,
                   _cr.c.status, _cr.c.claimed_at, *columns)
            .join(Campaign, Campaign.id == _cr.c.campaign_id)
            .where(_cr.c.id.in_(chunk))
            .order_by(_cr.c.id)
        )  # fmt: skip
        if lock:  # read what is there now and keep it so until commit: the difference is this change's only.
            # FOR NO KEY UPDATE, as an UPDATE takes: it waits for no one's key-share lock (the foreign key
            # check of another worker's new events), which FOR UPDATE would, in a deadlock.
            stmt = stmt.with_for_update(of=_cr, key_share=True)
        for rid, ws, cid, provider, identity, status, claimed_at, *stamps in db.session.execute(stmt):
            row = (ws, cid, provider or "", identity or 0)
            if dims is not None:
                dims[rid] = row
            for metric, at in zip(ROW_METRICS, stamps, strict=True):
                if at is not None:
                    out[(*row[:2], hour_of(at), *row[2:])][metric] += 1
            if status == "failed" and claimed_at is not None:
                out[(*row[:2], hour_of(claimed_at), *row[2:])]["failed"] += 1
    return out


def _of_events(ids: set) -> Deltas:
    out: Deltas = defaultdict(Counter)
    hard = case((_ev.c.event_type == "bounce", Event.data["bounce_type"].as_string()), else_=literal(None))
    for chunk in _chunks(ids):
        stmt = (
            select(_ev.c.workspace_id, _ev.c.campaign_id, _ev.c.occurred_at, _cr.c.mailbox_provider,
                   _cr.c.identity_id, _ev.c.event_type, case((human_sql(), 1), else_=0), hard)
            .select_from(_ev)
            .outerjoin(_cr, _cr.c.id == _ev.c.recipient_id)
            .where(_ev.c.id.in_(chunk), _ev.c.campaign_id.is_not(None), _ev.c.event_type.in_(EVENT_METRICS))
        )  # fmt: skip
        for ws, cid, at, provider, identity, event_type, person, bounce_type in db.session.execute(stmt):
            counts = out[(ws, cid, hour_of(at), provider or "", identity or 0)]
            for metric, n in _event_metrics(event_type, person, int(bounce_type == "hard"), 1):
                counts[metric] += n
    return out


def _merge(into: Deltas, deltas: Deltas, sign: int) -> None:
    for key, counts in deltas.items():
        for metric, n in counts.items():
            into[key][metric] += sign * n


def _chunks(ids: set):
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def table_rows(campaign_ids) -> dict:
    """{(campaign, hour, provider, identity): {metric: n}} of the stored rollups (for checks and tests)."""
    rows = db.session.execute(select(InsightHour).where(InsightHour.campaign_id.in_(list(campaign_ids)))).scalars()
    out = {}
    for r in rows:
        values = {m: getattr(r, m) for m in METRICS if getattr(r, m)}
        if values:
            out[(r.campaign_id, hour_of(r.hour), r.mailbox_provider, r.identity_id)] = values
    return out
