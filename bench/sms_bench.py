"""SMS benchmark: an audience written, texts handed to Twilio by one job, status callbacks taken in.

    python -m bench.sms_bench [--n 100000] [--send 2000] [--rate 1000] [--json]

Setup (PostgreSQL; set-based with generate_series): --n people with a number and consent on one list,
--send of them also on a second list; a Twilio provider pointed at the local Twilio REST server of the
tests (tests/twilio_support.py, in this process, on loopback), whose sender allows --rate texts a second.

Timed:
1. "Send now" of a campaign to the --n people: the recipient rows written in one INSERT … SELECT, with the
   estimate (skip reasons, segments, price). Cancelled afterwards: nothing is texted.
2. One send job texting the --send people (render, the sender's Redis slot, the HTTP hand-off, the row).
3. A signed "delivered" status callback for each text, posted through the app (signature, idempotency
   row, the row moved on).

Proof: every text handed off exactly once (the server saw --send texts to --send numbers), every row
`delivered` after its callback, and the job never went over --rate texts in any second. Exit 1 otherwise.
"""

import argparse
import sys
import time

from bench.common import Isolated, Terminated, install_signal_handlers, make_app, print_json, print_table

PEOPLE = """
INSERT INTO subscribers (workspace_id, email, name, status, attributes, created_at, updated_at, soft_bounces,
                         phone, sms_status, sms_consent)
SELECT :ws, 'p' || i || '@example.org', 'Zoé ' || i, 'active', '{}'::jsonb, now(), now(), 0,
       '+1' || (201 + i / 10000) || '555' || lpad((i % 10000)::text, 4, '0'), 'subscribed',
       '{"method": "import"}'::jsonb
FROM generate_series(0, :n - 1) AS i"""
MEMBERS = """
INSERT INTO list_subscribers (list_id, subscriber_id, created_at)
SELECT :list, id, now() FROM subscribers WHERE workspace_id = :ws AND (:all OR id % (:n / :send) = 0)
ORDER BY id LIMIT :limit"""


def build(n: int, send: int, server, rate: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db
    from app.services.audience import contacts
    from app.services.delivery import providers
    from app.services.platform.workspaces import create_workspace
    from app.services.sms import settings

    ws = create_workspace("Bench SMS", "owner@bench.example.com", "correct horse battery staple")
    settings.update_settings(ws.id, {"quiet_start": "00:00", "quiet_end": "00:00"})  # any hour
    provider = providers.create_provider(
        ws.id, "Twilio", "twilio", server.settings(from_numbers=("+14155550100",), rate_per_second=rate),
        server.credentials(),
    )  # fmt: skip
    everyone, some = contacts.create_list(ws.id, "Everyone"), contacts.create_list(ws.id, "Some")
    db.session.commit()
    db.session.execute(text(PEOPLE), {"ws": ws.id, "n": n})
    for lst, all_, limit in ((everyone, True, n), (some, False, send)):
        db.session.execute(
            text(MEMBERS), {"list": lst.id, "ws": ws.id, "all": all_, "n": n, "send": send, "limit": limit}
        )
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    return {"ws": ws.id, "provider": provider.id, "everyone": everyone.id, "some": some.id}


def campaign(ids: dict, list_id: int, name: str):
    from app.extensions import db
    from app.services.sms import campaigns

    c = campaigns.create_campaign(ids["ws"], {
        "name": name, "body": "Hi {{ subscriber.name }}, 20% off today only. Reply STOP to opt out",
        "provider_id": ids["provider"], "list_ids": [list_id],
    })  # fmt: skip
    db.session.commit()
    return c.id


def materialize(ids: dict) -> tuple[float, int]:
    from app.extensions import db
    from app.services.sms import lifecycle

    cid = campaign(ids, ids["everyone"], "Everyone")
    t = time.perf_counter()
    started = lifecycle.send_now(ids["ws"], cid)
    db.session.commit()
    took = time.perf_counter() - t
    rows = started.total_recipients
    lifecycle.pause(ids["ws"], cid)
    lifecycle.cancel(ids["ws"], cid)
    db.session.commit()
    return took, rows


def send(ids: dict) -> tuple[float, int, dict]:
    from app.extensions import db
    from app.services.sms import dispatch, lifecycle

    cid = campaign(ids, ids["some"], "Some")
    lifecycle.send_now(ids["ws"], cid)
    db.session.commit()
    t = time.perf_counter()
    outcome = dispatch.send_campaign(cid, seconds=3600)
    return time.perf_counter() - t, cid, outcome


def callbacks(app, server) -> float:
    client = app.test_client()
    t = time.perf_counter()
    for message in list(server.messages):
        resp = server.callback(client, message["sid"], "delivered")
        if resp.status_code != 200:
            raise SystemExit(f"callback refused: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
    return time.perf_counter() - t


def check(cid: int) -> dict:
    from app.services.sms import campaigns

    return campaigns.recipient_counts(cid)


def max_per_second(stamps: list[float]) -> int:
    """The most texts the server received within any one second."""
    most, start = 0, 0
    for end in range(len(stamps)):
        while stamps[end] - stamps[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="people in the big audience (default 100,000)")
    p.add_argument("--send", type=int, default=2_000, help="texts actually sent (default 2,000)")
    p.add_argument("--rate", type=int, default=1_000, help="the sender's texts per second (default 1,000)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    a = p.parse_args()
    install_signal_handlers()
    from tests.twilio_support import TwilioServer

    try:
        with Isolated("sms") as iso, TwilioServer() as server:
            if iso.sqlite:
                print("the SMS benchmark needs PostgreSQL (generate_series); skipped")
                return 0
            app = make_app()
            with app.app_context():
                from app.extensions import db

                t = time.perf_counter()
                ids = build(a.n, a.send, server, a.rate)
                build_s = time.perf_counter() - t
                mat_s, rows = materialize(ids)
                send_s, cid, outcome = send(ids)
                cb_s = callbacks(app, server)
                counts = check(cid)
                db.session.remove()
    except Terminated as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    to = [m["to"] for m in server.messages]
    peak = max_per_second(sorted(m["at"] for m in server.messages))
    print(f"{a.n:,} people with a number built in {build_s:.1f} s")
    print_table("SMS", ["figure", "value"], [
        ["recipient rows written (send now)", rows], ["seconds to write them", round(mat_s, 2)],
        ["rows per second", round(rows / mat_s) if mat_s else 0],
        ["texts handed off by one job", len(to)], ["seconds", round(send_s, 2)],
        ["texts per second", round(len(to) / send_s, 1) if send_s else 0], ["most in any second", peak],
        ["the sender's rate", a.rate],
        ["callbacks taken in per second", round(len(to) / cb_s, 1) if cb_s else 0],
    ])  # fmt: skip
    ok = (
        rows == a.n
        and len(to) == len(set(to)) == a.send
        and counts == {"delivered": a.send}
        and outcome.get("sent") == a.send
        and peak <= a.rate
    )
    if not ok:
        print(f"FAILED: rows {rows}/{a.n}, texts {len(to)} to {len(set(to))} numbers (expected {a.send}), "
              f"rows by status {counts}, job {outcome}, peak {peak}/s (rate {a.rate})", file=sys.stderr)  # fmt: skip
    if a.json:
        print_json({"bench": "sms", "ok": ok, "people": a.n, "rows": rows, "materialize_s": round(mat_s, 3),
                    "texts": len(to), "send_s": round(send_s, 3), "texts_per_s": round(len(to) / send_s, 1),
                    "peak_per_s": peak, "callbacks_per_s": round(len(to) / cb_s, 1)})  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
