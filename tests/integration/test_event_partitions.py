"""The event log by month on PostgreSQL: each event lands in its month's partition, the coming months
exist ahead, an event dated outside them waits in the default partition until its month is made, a
payload posted twice still counts once, and an old month detaches for archiving while the insights
keep its figures."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Event, EventKey
from app.queueing import PERIODIC_BY_NAME
from app.services.events import insights, partitions, rollups
from app.services.events.event_log import insert_events
from tests.integration.test_engagement import _sent


@pytest.fixture(autouse=True)
def _postgres_only(ctx):
    if not partitions.partitioned():
        pytest.skip("the event log is partitioned on PostgreSQL only")


def _open(camp, rid, at, key):
    return {"workspace_id": camp.workspace_id, "event_key": key, "event_type": "open", "campaign_id": camp.id,
            "recipient_id": rid, "verdict": "human", "occurred_at": at, "created_at": at}  # fmt: skip


def _home(event_id) -> str:
    return db.session.scalar(text("SELECT tableoid::regclass::text FROM events WHERE id = :i"), {"i": event_id})


def test_events_land_in_their_month_and_the_coming_months_exist(workspace, smtp_sink, worker):
    today = datetime.now(timezone.utc).date()
    names = {m["name"] for m in partitions.months()}
    for k in range(partitions.MONTHS_AHEAD + 1):
        first = partitions.add_months(date(today.year, today.month, 1), k)
        assert f"events_{first.year:04d}_{first.month:02d}" in names
    assert "events_default" in names and partitions.ensure() == []  # made already: nothing to do
    assert "ensure_event_partitions" in PERIODIC_BY_NAME

    camp, _ = _sent(workspace, smtp_sink, worker, 1)
    rid = db.session.scalar(text("SELECT id FROM campaign_recipients WHERE campaign_id = :c"), {"c": camp.id})
    now = datetime.now(timezone.utc)
    ids = insert_events([_open(camp, rid, now, "p:now"), _open(camp, rid, now - timedelta(days=5 * 365), "p:old")])
    assert _home(ids["p:now"]) == f"events_{now.year:04d}_{now.month:02d}"
    assert _home(ids["p:old"]) == "events_default"
    assert insert_events([_open(camp, rid, now, "p:now")]) == {}  # posted again: counted once
    old = now - timedelta(days=5 * 365)
    assert partitions.make_month(db.session, date(old.year, old.month, 1))  # its month made: the row moves in
    assert _home(ids["p:old"]) == f"events_{old.year:04d}_{old.month:02d}"
    db.session.execute(text(f"ALTER TABLE events DETACH PARTITION events_{old.year:04d}_{old.month:02d}"))
    db.session.execute(text(f"DROP TABLE events_{old.year:04d}_{old.month:02d}"))
    db.session.commit()


def test_an_old_month_detaches_and_the_insights_keep_its_figures(workspace, smtp_sink, worker, app):
    camp, _ = _sent(workspace, smtp_sink, worker, 2)
    rids = list(db.session.scalars(text("SELECT id FROM campaign_recipients WHERE campaign_id = :c"), {"c": camp.id}))
    today = datetime.now(timezone.utc).date()
    last = partitions.add_months(date(today.year, today.month, 1), -1)
    name = f"events_{last.year:04d}_{last.month:02d}"
    partitions.make_month(db.session, last)
    then = datetime(last.year, last.month, 15, 12, tzinfo=timezone.utc)
    added = insert_events([_open(camp, rid, then, f"old:{rid}") for rid in rids])
    rollups.add_events(added.values())
    db.session.commit()
    before = insights.campaign_series(camp)["totals"]
    assert before["opens"] == 2 and before["human_opens"] == 2

    runner = app.test_cli_runner()
    listed = runner.invoke(args=["events-partitions"])
    assert listed.exit_code == 0 and name in listed.output
    assert "YYYY-MM" in runner.invoke(args=["events-detach", "last-month"]).output
    this_month = runner.invoke(args=["events-detach", today.strftime("%Y-%m")])
    assert this_month.exit_code != 0 and "past month" in this_month.output
    out = runner.invoke(args=["events-detach", last.strftime("%Y-%m")])
    try:
        assert out.exit_code == 0 and f"Detached {name}" in out.output and "pg_dump" in out.output, out.output
        db.session.expire_all()
        assert (
            db.session.scalar(select(func.count()).select_from(Event).where(Event.occurred_at < then + timedelta(1)))
            == 0
        )
        assert (
            db.session.scalar(select(func.count()).select_from(EventKey).where(EventKey.event_key.like("old:%"))) == 0
        )
        assert insights.campaign_series(camp)["totals"] == before  # read from the rollups: unchanged
        assert "no partition" in runner.invoke(args=["events-detach", last.strftime("%Y-%m")]).output
    finally:
        db.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        db.session.commit()
