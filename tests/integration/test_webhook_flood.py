"""A flood of SendGrid events: 10,000 events about 2,000 recipients of a real campaign, posted as
signed batches of 1,000 (some posted twice, as SendGrid retries), processed by RQ workers, two of
them at once at the end. Nothing is lost and everything counts once."""

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, Subscriber, Suppression, WebhookPayload
from app.services.campaigns import drafts
from app.services.delivery import delivery_stats
from app.services.delivery.providers import create_provider
from tests.webhook_support import SENDGRID_KEY, bulk_sent_campaign, post_sendgrid, public_key_b64, sendgrid_event

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECIPIENTS = 2_000
EVENTS = 10_000
BATCH = 1_000
HARD, SOFT, BLOCKED = 60, 25, 15  # the last 100 recipients bounce; the others are delivered
RETRIED = (1, 4, 8)  # batches SendGrid posts a second time


def flood_events(rcpts: list[dict], campaign_id: int) -> list[dict]:
    rng = random.Random(20240501)
    bounced = rcpts[-(HARD + SOFT + BLOCKED) :]
    delivered = rcpts[: len(rcpts) - len(bounced)]
    now = int(time.time())
    events = [sendgrid_event("delivered", r, campaign_id, response="250 2.0.0 OK", timestamp=now) for r in delivered]
    for i, r in enumerate(bounced):
        if i < HARD:
            fields = {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown"}
        elif i < HARD + SOFT:
            fields = {"type": "bounce", "status": "5.2.2", "reason": "552 5.2.2 mailbox full"}
        else:
            fields = {"type": "blocked", "status": "5.7.1", "reason": "550 5.7.1 rejected by policy"}
        events.append(sendgrid_event("bounce", r, campaign_id, timestamp=now, **fields))
    while len(events) < EVENTS:
        r = rng.choice(delivered)
        events.append(sendgrid_event("open", r, campaign_id, timestamp=now, useragent="Mozilla/5.0", ip="192.0.2.1"))
    rng.shuffle(events)
    return events


def workers_in_parallel(n: int) -> None:
    """Run n `rq worker --burst` processes (the Procfile's worker class) on the queued payloads."""
    procs = [
        subprocess.Popen(
            [str(BIN / "rq"), "worker", "--burst", "--url", os.environ["REDIS_URL"], "--path", str(REPO)]
            + ["--worker-class", "workers.worker.HeraldWorker", "--name", f"flood-{os.getpid()}-{i}", "webhooks"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(n)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-3000:]
    db.session.expire_all()


def test_ten_thousand_events_in_signed_batches_are_all_counted_once(workspace, app, worker):
    sg = create_provider(
        workspace.id, "SendGrid", "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)}, {"api_key": "SG.x"}
    )
    camp, rcpts = bulk_sent_campaign(workspace.id, RECIPIENTS, sg.id)
    assert len(rcpts) == RECIPIENTS
    events = flood_events(rcpts, camp.id)
    batches = [events[i : i + BATCH] for i in range(0, EVENTS, BATCH)]
    web = app.test_client()
    order = list(range(len(batches))) + list(RETRIED)
    for n, i in enumerate(order):
        resp = post_sendgrid(web, sg.id, batches[i])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        if n == 3:
            worker()  # a worker keeps up with the start of the flood; then the rest queues up
    workers_in_parallel(2)  # two worker processes take the rest: their payloads are about the same people

    db.session.expire_all()
    stored = list(db.session.scalars(select(WebhookPayload).order_by(WebhookPayload.id)))
    assert len(stored) == len(order) and {p.status for p in stored} == {"processed"}
    assert sum(p.events_total for p in stored) == EVENTS + len(RETRIED) * BATCH
    assert sum(p.events_new for p in stored) == EVENTS
    assert [p.events_new for p in stored[len(batches) :]] == [0] * len(RETRIED)
    assert db.session.scalar(select(func.count()).select_from(Event)) == EVENTS
    kinds = Counter(e["event"] for e in events)
    by_type = dict(db.session.execute(select(Event.event_type, func.count()).group_by(Event.event_type)).all())
    assert by_type == {"delivery": kinds["delivered"], "bounce": kinds["bounce"], "open": kinds["open"]}
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.recipient_id.is_(None))) == 0

    opened = {e["herald_ref"] for e in events if e["event"] == "open"}
    stats = drafts.campaign_stats(camp.id)
    assert stats["delivered"] == RECIPIENTS - (HARD + SOFT + BLOCKED)
    assert (stats["bounced"], stats["failed"]) == (HARD + SOFT, BLOCKED)
    assert (stats["opens"], stats["unique_opens"]) == (kinds["open"], len(opened))

    totals = delivery_stats.totals(workspace.id, provider_id=sg.id)
    assert (totals["delivered"], totals["bounced_hard"], totals["bounced_soft"], totals["blocked"]) == (
        RECIPIENTS - (HARD + SOFT + BLOCKED),
        HARD,
        SOFT,
        BLOCKED,
    )
    assert totals["complained"] == totals["deferred"] == totals["rejected"] == 0
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == HARD
    assert db.session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.soft_bounces == 1)) == SOFT
