"""Webhook benchmark: SendGrid events end to end, from signed POSTs to the event log and its cascade.

    python -m bench.webhook_bench --events 50000 [--batch 1000] [--clients 4] [--workers 1] [--sqlite] [--json]

Setup: an isolated database and Redis db; a workspace with a SendGrid provider (a fresh ECDSA key)
and a campaign whose recipients are marked sent through it (one per 5 events, written set-based:
no message is sent). The events are what SendGrid posts about such a campaign: every recipient
delivered, or for 5% of them a bounce (hard, soft or blocked), and opens for the rest; shuffled,
cut into batches of --batch events (SendGrid's shape), each signed as SendGrid signs it; --repeat
of the batches are posted a second time (SendGrid's retries).

Run: Herald on gunicorn (the Procfile's command: `gunicorn --no-control-socket -w 2 wsgi:app`)
and real `rq worker` processes on the `webhooks` queue (the Procfile's worker class), started
and registered before the clock starts. --clients threads POST the batches over keep-alive
connections. The clock starts at the first POST:
- intake: requests and events answered 2xx per second, until the last answer;
- processing: events per second until every stored payload is processed.
Reference: `provider_events.ingest` called directly in this process, batch by batch with a commit
each, on the same mix of events about a second campaign to the same people (parsing excluded).

Proof: every POST answered 2xx, every payload processed, the event log holds exactly the distinct
events, and the campaign's figures and the delivery counters equal what the payloads contain.
Exit 1 otherwise.
"""

import argparse
import base64
import http.client
import json
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter

from bench.common import (
    BIN,
    REPO,
    Isolated,
    Terminated,
    create_campaign,
    free_port,
    install_signal_handlers,
    make_app,
    print_json,
    print_table,
    spawn,
    stop,
    tail,
    wait_for_port,
)
from bench.send_bench import worker_class

BOUNCE_SHARE = 0.05
EVENTS_PER_RECIPIENT = 5


# Setup ------------------------------------------------------------------------------------------


def new_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, base64.b64encode(der).decode()


def sign(key, body: bytes) -> dict:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "User-Agent": "SendGrid Event API",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def setup(app, n_recipients: int, public_key: str) -> dict:
    """Workspace, list, SendGrid provider, and two campaigns whose recipients were sent through it."""
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from app.extensions import db
    from app.models import Campaign, CampaignRecipient
    from app.services.campaigns import drafts, recipients
    from app.services.delivery import providers

    with app.app_context():
        try:
            ids = create_campaign(n_recipients, free_port(), prefix="hook")
            sg = providers.create_provider(
                ids["workspace_id"], "SendGrid", "sendgrid", {"webhook_public_key": public_key}, {"api_key": "SG.bench"}
            )
            reference = drafts.create_campaign(
                ids["workspace_id"],
                {
                    "name": "Spring collection (reference)",
                    "template_id": ids["template_id"],
                    "list_ids": [ids["list_id"]],
                    "from_name": "Bench Outfitters",
                    "from_email": "news@shop.bench.example.com",
                    "provider_id": ids["provider_id"],
                },
            )
            out = {"workspace_id": ids["workspace_id"], "provider_id": sg.id, "campaigns": {}}
            for label, cid in (("http", ids["campaign_id"]), ("reference", reference.id)):
                camp = db.session.get(Campaign, cid)
                camp.status = "sending"
                camp.total_recipients = recipients.materialize_recipients(camp)
                db.session.execute(
                    text(
                        "UPDATE campaign_recipients SET status = 'sent', sent_at = :now, provider_id = :pid, "
                        "message_id = '<' || campaign_id || '.' || id || '.5eed@shop.bench.example.com>' "
                        "WHERE campaign_id = :cid"
                    ),
                    {"now": datetime.now(UTC), "pid": sg.id, "cid": cid},
                )
                recipients.finish_if_done(cid)
                rows = db.session.execute(
                    select(CampaignRecipient.id, CampaignRecipient.email, CampaignRecipient.message_id)
                    .where(CampaignRecipient.campaign_id == cid)
                    .order_by(CampaignRecipient.id)
                ).all()
                out["campaigns"][label] = {"id": cid, "recipients": [tuple(r) for r in rows]}
            db.session.commit()
            return out
        finally:
            db.session.remove()


def make_events(recipients: list[tuple], campaign_id: int, n: int, seed: int) -> tuple[list[dict], dict]:
    """n SendGrid events about the campaign, shuffled; and the figures they must produce."""
    rng = random.Random(seed)
    bounced = recipients[: max(3, int(len(recipients) * BOUNCE_SHARE))]
    delivered = recipients[len(bounced) :]
    now = int(time.time())
    kinds = [
        ("bounce", "5.1.1", "550 5.1.1 user unknown"),
        ("bounce", "5.2.2", "552 5.2.2 mailbox full"),
        ("blocked", "5.7.1", "550 5.7.1 rejected by policy"),
    ]

    def event(name: str, rcpt: tuple, **fields) -> dict:
        rid, email, message_id = rcpt
        return {
            "email": email,
            "timestamp": now,
            "smtp-id": message_id,
            "event": name,
            "category": ["spring"],
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"bench{rid}.filter0001.16648.5515E0B88.0",
            "herald_ref": f"c-{campaign_id}-{rid}",
            **fields,
        }

    events = [event("delivered", r, response="250 2.0.0 OK") for r in delivered]
    expect = Counter(delivered=len(delivered))
    for i, r in enumerate(bounced):
        kind, status, reason = kinds[i % 3]
        events.append(event("bounce", r, type=kind, status=status, reason=reason))
        expect[{"5.1.1": "bounced_hard", "5.2.2": "bounced_soft", "5.7.1": "blocked"}[status]] += 1
    opened = set()
    while len(events) < n:
        r = rng.choice(delivered)
        opened.add(r[0])
        events.append(event("open", r, useragent="Mozilla/5.0 (iPhone)", ip="192.0.2.1"))
    rng.shuffle(events)
    expect.update(opens=len(events) - len(delivered) - len(bounced), unique_opens=len(opened))
    return events, dict(expect)


# The HTTP run -----------------------------------------------------------------------------------


def start_workers(iso: Isolated, n: int, cls: str) -> tuple[list, list]:
    from rq import Worker

    from app.redis_client import redis_for

    procs, logs = [], []
    for i in range(n):
        log = iso.tmp / f"worker-{i}.log"
        logs.append(log)
        cmd = [str(BIN / "rq"), "worker", "--url", iso.redis_url, "--path", str(REPO), "--worker-class", cls]
        procs.append(spawn(cmd + ["--name", f"hooks-{os.getpid()}-{i}", "webhooks"], iso.env, log))
    conn, deadline = redis_for(iso.redis_url), time.monotonic() + 60
    while Worker.count(connection=conn) < n:
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError("workers did not start:\n" + "\n".join(tail(log) for log in logs))
        time.sleep(0.05)
    return procs, logs


def post_all(port: int, path: str, bodies: list[bytes], key, clients: int) -> dict:
    """POST every body from `clients` threads over keep-alive connections; statuses and timings."""
    lock = threading.Lock()
    queue = list(enumerate(bodies))
    statuses: list[int | None] = [None] * len(bodies)
    answered: list[float] = [0.0] * len(bodies)
    errors: list[str] = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    i, body = queue.pop(0)
                try:
                    conn.request("POST", path, body=body, headers=sign(key, body))
                    resp = conn.getresponse()
                    resp.read()
                    statuses[i], answered[i] = resp.status, time.perf_counter()
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"request {i}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"t0": t0, "statuses": statuses, "answered": answered, "errors": errors}


def warm_up(port: int, path: str, processes: int) -> None:
    """GET the webhook URL until every gunicorn worker has built the app and answers (not on the clock)."""
    deadline = time.monotonic() + 60
    fast = 0
    while fast < 4 * processes:
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn's workers did not start answering within 60 s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}")
            fast = fast + 1 if time.perf_counter() - t0 < 0.1 else 0
        finally:
            conn.close()


def payload_progress(app) -> tuple[int, int, int]:
    """(payloads stored, processed, failed)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import WebhookPayload

    with app.app_context():
        try:
            rows = dict(
                db.session.execute(select(WebhookPayload.status, func.count()).group_by(WebhookPayload.status)).all()
            )
        finally:
            db.session.remove()
    return sum(rows.values()), rows.get("processed", 0), rows.get("failed", 0)


def failures(app) -> list[str]:
    """The errors of failed payloads, one line each (the first few)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import WebhookPayload

    with app.app_context():
        try:
            errors = db.session.scalars(
                select(WebhookPayload.error).where(WebhookPayload.status == "failed").order_by(WebhookPayload.id)
            ).all()
        finally:
            db.session.remove()
    return [" ".join((e or "").split())[:300] for e in errors[:5]]


def run_http(args, iso: Isolated, app, ids: dict, bodies: list[bytes], key) -> dict:
    port = free_port()
    log = iso.tmp / "gunicorn.log"
    web = spawn(
        [str(BIN / "gunicorn"), "--no-control-socket", "-w", str(args.gunicorn_workers), "-b", f"127.0.0.1:{port}"]
        + ["wsgi:app"],
        iso.env,
        log,
    )
    workers, logs = [], []
    try:
        wait_for_port("127.0.0.1", port, 30, web)
        warm_up(port, f"/webhooks/sendgrid/{ids['provider_id']}", args.gunicorn_workers)
        workers, logs = start_workers(iso, args.workers, worker_class(args.worker_class))
        posted = post_all(port, f"/webhooks/sendgrid/{ids['provider_id']}", bodies, key, args.clients)
        timeout = args.timeout or max(120.0, len(bodies) * args.batch * 0.01)
        stored = processed = failed = 0
        while time.perf_counter() - posted["t0"] < timeout:
            stored, processed, failed = payload_progress(app)
            if processed + failed >= len(bodies) or all(w.poll() is not None for w in workers):
                break
            time.sleep(0.05)
        done = time.perf_counter()
        if processed + failed < len(bodies):
            print(
                f"only {processed + failed} of {len(bodies)} payloads processed after {timeout:.0f} s", file=sys.stderr
            )
            for path in logs:
                print(f"--- {path.name}\n{tail(path)}", file=sys.stderr)
        if web.poll() is not None:
            raise RuntimeError(f"gunicorn exited during the run:\n{tail(log)}")
    finally:
        for w in workers:
            stop(w)
        stop(web)
    ok_times = [t for s, t in zip(posted["statuses"], posted["answered"], strict=True) if s and 200 <= s < 300]
    return {
        **posted,
        "ok": len(ok_times),
        "intake_seconds": (max(ok_times) - posted["t0"]) if ok_times else 0.0,
        "processing_seconds": done - posted["t0"],
        "stored": stored,
        "processed": processed,
        "failed": failed,
        "failures": failures(app) if failed else [],
    }


def check(app, ids: dict, campaign: str, expect: dict) -> dict:
    """What the event log, the campaign and the counters hold, against what the events say."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Event, WebhookPayload
    from app.services.campaigns import drafts
    from app.services.delivery import delivery_stats

    cid = ids["campaigns"][campaign]["id"]
    with app.app_context():
        try:
            events = db.session.scalar(select(func.count()).select_from(Event).where(Event.campaign_id == cid))
            new = db.session.scalar(select(func.coalesce(func.sum(WebhookPayload.events_new), 0)))
            stats = drafts.campaign_stats(cid)
            totals = delivery_stats.totals(ids["workspace_id"], provider_id=ids["provider_id"])
        finally:
            db.session.remove()
    got = {
        "delivered": stats["delivered"],
        "opens": stats["opens"],
        "unique_opens": stats["unique_opens"],
        "bounced": stats["bounced"],
        "failed": stats["failed"],
    }
    want = {
        "delivered": expect["delivered"],
        "opens": expect["opens"],
        "unique_opens": expect["unique_opens"],
        "bounced": expect["bounced_hard"] + expect["bounced_soft"],
        "failed": expect["blocked"],
    }
    return {"events": events, "events_new": new, "stats": got, "expected": want, "totals": totals}


# The reference: ingest called directly ----------------------------------------------------------


def run_reference(app, ids: dict, batches: list[list[dict]]) -> dict:
    from app.extensions import db
    from app.providers import sendgrid
    from app.services.events import provider_events

    parsed = [sendgrid.parse_webhook({}, json.dumps(b).encode()) for b in batches]
    new = 0
    with app.app_context():
        try:
            t0 = time.perf_counter()
            for events in parsed:
                new += provider_events.ingest(ids["workspace_id"], ids["provider_id"], events, "sendgrid").new
                db.session.commit()
            seconds = time.perf_counter() - t0
        finally:
            db.session.remove()
    return {"seconds": seconds, "new": new}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=50_000, help="distinct events (default 50000)")
    p.add_argument("--batch", type=int, default=1000, help="events per POST, as SendGrid batches (default 1000)")
    p.add_argument("--repeat", type=float, default=0.1, help="share of batches posted twice (default 0.1)")
    p.add_argument("--clients", type=int, default=4, help="concurrent posting connections (default 4)")
    p.add_argument("--workers", type=int, default=1, help="rq worker processes on `webhooks` (default 1)")
    p.add_argument("--gunicorn-workers", type=int, default=2, help="gunicorn -w (default 2, as the Procfile)")
    p.add_argument(
        "--worker-class", default="procfile", help="procfile (default), fork, simple, or a dotted path (send_bench)"
    )
    p.add_argument("--sqlite", action="store_true", help="SQLite file instead of a PostgreSQL database")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for processing (default scales)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = p.parse_args(argv)
    if min(args.events, args.batch, args.clients, args.workers, args.gunicorn_workers) < 1:
        p.error("--events, --batch, --clients, --workers and --gunicorn-workers must be positive")
    if not 0 <= args.repeat <= 1:
        p.error("--repeat is a share from 0 to 1")
    install_signal_handlers()

    with Isolated("webhooks", sqlite=args.sqlite) as iso:
        for note in iso.notes:
            print(f"note: {note}", file=sys.stderr)
        app = make_app()
        try:
            setup0 = time.perf_counter()
            key, public = new_key()
            ids = setup(app, max(10, args.events // EVENTS_PER_RECIPIENT), public)
            http_campaign = ids["campaigns"]["http"]
            events, expect = make_events(http_campaign["recipients"], http_campaign["id"], args.events, 1)
            batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
            rng = random.Random(2)
            again = sorted(rng.sample(range(len(batches)), round(len(batches) * args.repeat)))
            order = list(range(len(batches)))
            for i in again:  # a retry comes a little later than the first try
                order.insert(min(len(order), order.index(i) + 1 + rng.randrange(1, 6)), i)
            bodies = [json.dumps(batches[i]).encode() for i in order]
            setup_seconds = time.perf_counter() - setup0
            run = run_http(args, iso, app, ids, bodies, key)
            got = check(app, ids, "http", expect)

            ref_campaign = ids["campaigns"]["reference"]
            ref_events, ref_expect = make_events(ref_campaign["recipients"], ref_campaign["id"], args.events, 1)
            ref = run_reference(
                app, ids, [ref_events[i : i + args.batch] for i in range(0, len(ref_events), args.batch)]
            )
            ref_got = check(app, ids, "reference", ref_expect)
        finally:
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()

    n, posts = len(events), len(bodies)
    posted_events = sum(len(batches[i]) for i in order)
    intake_rps = run["ok"] / run["intake_seconds"] if run["intake_seconds"] else 0.0
    intake_eps = posted_events / run["intake_seconds"] if run["intake_seconds"] else 0.0
    processing_eps = n / run["processing_seconds"] if run["processing_seconds"] else 0.0
    raw_eps = ref["new"] / ref["seconds"] if ref["seconds"] else 0.0
    db_kind = "SQLite" if iso.sqlite else "PostgreSQL"
    print_table(
        f"Webhook benchmark: {n:,} distinct SendGrid events in {len(batches)} signed batches of {args.batch:,} "
        f"({len(again)} posted twice: {posts} POSTs, {posted_events:,} events), {args.clients} client connections, "
        f"gunicorn -w {args.gunicorn_workers}, {args.workers} rq worker(s) ({worker_class(args.worker_class)}), "
        f"{db_kind}, setup {setup_seconds:.1f} s",
        ["stage", "events", "seconds", "events/s", "requests/s"],
        [
            ["intake: POST answered 2xx", posted_events, run["intake_seconds"], intake_eps, intake_rps],
            ["processing: first POST to all processed", n, run["processing_seconds"], processing_eps, "-"],
            ["reference: provider_events.ingest in-process", ref["new"], ref["seconds"], raw_eps, "-"],
        ],
    )
    ratio = processing_eps / raw_eps if raw_eps else 0.0
    print(
        f"\nprocessing end to end / direct ingest: {ratio:.2f}x; intake / direct ingest: "
        f"{intake_eps / raw_eps if raw_eps else 0:.1f}x"
    )
    load = os.getloadavg()
    print(f"load average at the end (1/5/15 min, {os.cpu_count()} CPUs): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    bad = Counter(s for s in run["statuses"] if not (s and 200 <= s < 300))
    print(
        f"POSTs: {posts} sent, {run['ok']} answered 2xx, other {dict(bad) or 'none'}, errors {len(run['errors'])}; "
        f"payloads stored {run['stored']}, processed {run['processed']}, failed {run['failed']}"
    )
    for error in run["failures"]:
        print(f"failed payload: {error}")
    print(
        f"event log: {got['events']:,} events for the campaign (distinct posted {n:,}), new by payloads "
        f"{got['events_new']:,}; campaign {got['stats']} (expected {got['expected']})"
    )
    totals = ref_got["totals"]  # read last: both campaigns
    print(
        "delivery counters (both campaigns): "
        + ", ".join(f"{k} {totals[k]:,}" for k in ("delivered", "bounced_hard", "bounced_soft", "blocked"))
    )
    both = Counter(expect) + Counter(ref_expect)
    ok = (
        run["ok"] == posts
        and not run["errors"]
        and run["processed"] == posts
        and got["events"] == n
        and got["events_new"] == n
        and got["stats"] == got["expected"]
        and ref["new"] == len(ref_events)
        and ref_got["events"] == len(ref_events)
        and ref_got["stats"] == ref_got["expected"]
        and all(totals[k] == both[k] for k in ("delivered", "bounced_hard", "bounced_soft", "blocked"))
    )
    if args.json:
        print_json(
            {
                "bench": "webhooks",
                "ok": ok,
                "loadavg": [round(x, 2) for x in os.getloadavg()],
                "database": db_kind.lower(),
                "events": n,
                "batch": args.batch,
                "batches": len(batches),
                "posts": posts,
                "posted_events": posted_events,
                "answered_2xx": run["ok"],
                "errors": len(run["errors"]),
                "processed": run["processed"],
                "failed": run["failed"],
                "events_stored": got["events"],
                "events_new": got["events_new"],
                "intake_seconds": round(run["intake_seconds"], 4),
                "intake_requests_per_s": round(intake_rps, 2),
                "intake_events_per_s": round(intake_eps, 1),
                "processing_seconds": round(run["processing_seconds"], 4),
                "processing_events_per_s": round(processing_eps, 1),
                "ingest_seconds": round(ref["seconds"], 4),
                "ingest_events_per_s": round(raw_eps, 1),
                "ratio": round(ratio, 4),
                "workers": args.workers,
                "clients": args.clients,
            }
        )
    if not ok:
        print("FAILED: events lost, double counted or unprocessed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (Terminated, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): stopped everything it had started", file=sys.stderr)
        raise SystemExit(143) from None
