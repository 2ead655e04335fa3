"""Segment benchmark: a 10-condition segment counted over a million subscribers, against hand-written SQL.

    python -m bench.segment_bench [--n 1000000] [--rounds 5] [--max-ratio 1.5] [--json]

Setup (PostgreSQL; set-based with generate_series): --n subscribers with JSON attributes (plan, score,
country), statuses, creation dates over two years, two lists, tags, two sent campaigns whose recipient
rows carry people's opens, and orders. The segment:

    all: active · on Newsletter · plan in (pro, team) · score ≥ 20 · joined in the last 365 days ·
         not tagged churned · email not at blocked.example · opened in the last 90 days ·
         any: (country is DE · country is FR)

Timed: `segments.count` (cleaning the rules, typing the attributes from the values stored, compiling
and running it) against the statement a person would write for the same question, alternating, the
median of --rounds after one warm-up each. Proof: the two counts agree and Herald's time is within
--max-ratio of the hand-written one. Exit 1 otherwise.
"""

import argparse
import statistics
import sys
import time

from bench.common import Isolated, Terminated, install_signal_handlers, make_app, print_json, print_table

HAND_WRITTEN = """
SELECT count(*) FROM subscribers s
WHERE s.workspace_id = :ws AND s.erased_at IS NULL
  AND s.status = 'active'
  AND EXISTS (SELECT 1 FROM list_subscribers ls WHERE ls.subscriber_id = s.id AND ls.list_id = :list_id)
  AND jsonb_typeof(s.attributes -> 'plan') = 'string' AND lower(s.attributes ->> 'plan') IN ('pro', 'team')
  AND jsonb_typeof(s.attributes -> 'score') = 'number' AND (s.attributes ->> 'score')::float >= 20
  AND s.created_at >= now() - interval '365 days'
  AND NOT EXISTS (SELECT 1 FROM subscriber_tags t WHERE t.subscriber_id = s.id AND t.tag = 'churned')
  AND s.email NOT LIKE '%@blocked.example'
  AND EXISTS (SELECT 1 FROM campaign_recipients cr WHERE cr.subscriber_id = s.id
              AND cr.human_opened_at >= now() - interval '90 days')
  AND lower(s.attributes ->> 'country') IN ('de', 'fr')
"""


def rules(list_id: int) -> dict:
    return {
        "all": [
            {"field": "status", "op": "eq", "value": "active"},
            {"field": "list", "op": "eq", "value": list_id},
            {"field": "attributes.plan", "op": "in", "value": ["pro", "team"]},
            {"field": "attributes.score", "op": "gte", "value": 20},
            {"field": "created_at", "op": "within_days", "value": 365},
            {"field": "tags", "op": "ne", "value": "churned"},
            {"not": {"field": "email", "op": "ends_with", "value": "@blocked.example"}},
            {"event": "opened", "within_days": 90},
            {"any": [{"field": "attributes.country", "op": "eq", "value": "DE"},
                     {"field": "attributes.country", "op": "eq", "value": "FR"}]},
        ]
    }  # fmt: skip


SETUP = [
    """INSERT INTO subscribers (workspace_id, email, name, status, attributes, created_at, updated_at, soft_bounces)
       SELECT :ws, 'reader' || i || '@' || (ARRAY['gmail.com','yahoo.com','example.org','blocked.example'])[1 + i % 4],
              'Reader ' || i, CASE WHEN i % 20 = 0 THEN 'unsubscribed' ELSE 'active' END,
              jsonb_build_object('plan', (ARRAY['pro','team','free','trial'])[1 + (i / 7) % 4],
                                 'score', i % 100,
                                 'country', (ARRAY['DE','FR','US','GB','ES'])[1 + (i / 3) % 5]),
              now() - ((i % 730) || ' days')::interval, now(), 0
       FROM generate_series(1, :n) AS i""",
    """INSERT INTO list_subscribers (list_id, subscriber_id, created_at)
       SELECT :list_a, id, now() FROM subscribers WHERE workspace_id = :ws AND id % 10 < 6""",
    """INSERT INTO list_subscribers (list_id, subscriber_id, created_at)
       SELECT :list_b, id, now() FROM subscribers WHERE workspace_id = :ws AND id % 10 >= 7""",
    """INSERT INTO subscriber_tags (subscriber_id, tag)
       SELECT id, 'churned' FROM subscribers WHERE workspace_id = :ws AND id % 13 = 0""",
    """INSERT INTO subscriber_tags (subscriber_id, tag)
       SELECT id, 'vip' FROM subscribers WHERE workspace_id = :ws AND id % 11 = 0""",
    """INSERT INTO campaign_recipients (campaign_id, subscriber_id, email, status, sent_at, human_opened_at, created_at,
                                       attempts)
       SELECT :c1, id, email, 'sent', now() - interval '100 days' + ((id % 90) || ' days')::interval,
              CASE WHEN id % 5 < 2 THEN now() - ((id % 120) || ' days')::interval END, now(), 0
       FROM subscribers WHERE workspace_id = :ws AND id % 2 = 0""",
    """INSERT INTO campaign_recipients (campaign_id, subscriber_id, email, status, sent_at, human_opened_at, created_at,
                                       attempts)
       SELECT :c2, id, email, 'sent', now() - interval '30 days',
              CASE WHEN id % 7 = 0 THEN now() - interval '29 days' END, now(), 0
       FROM subscribers WHERE workspace_id = :ws AND id % 3 = 0""",
    """INSERT INTO orders (workspace_id, external_id, email, subscriber_id, amount, currency, placed_at, created_at)
       SELECT :ws, 'o' || id, email, id, 10 + id % 90, 'EUR', now() - ((id % 300) || ' days')::interval, now()
       FROM subscribers WHERE workspace_id = :ws AND id % 20 = 1""",
]


def build(n: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db
    from app.models import Campaign
    from app.services.audience import contacts
    from app.services.content import templates
    from app.services.platform.workspaces import create_workspace

    ws = create_workspace("Bench Segments", "owner@bench.example.com", "correct horse battery staple")
    list_a, list_b = (contacts.create_list(ws.id, name) for name in ("Newsletter", "Customers"))
    tpl = templates.create_template(
        ws.id,
        {"name": "News", "subject": "News", "body_html": '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'},
    )
    camps = [Campaign(workspace_id=ws.id, name=f"C{k}", template_id=tpl.id, from_name="B", from_email="b@bench.example.com",
                      status="sent") for k in (1, 2)]  # fmt: skip
    db.session.add_all(camps)
    db.session.flush()
    params = {"ws": ws.id, "n": n, "list_a": list_a.id, "list_b": list_b.id, "c1": camps[0].id, "c2": camps[1].id}
    for statement in SETUP:
        db.session.execute(text(statement), params)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    return {"workspace_id": ws.id, "list_id": list_a.id}


def time_both(ids: dict, rounds: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db
    from app.services.audience import segments

    segment_rules = rules(ids["list_id"])
    hand = text(HAND_WRITTEN)
    params = {"ws": ids["workspace_id"], "list_id": ids["list_id"]}

    def herald():
        return segments.count(ids["workspace_id"], segment_rules, timeout_ms=600_000).count

    def written():
        return db.session.execute(hand, params).scalar()

    counts = {"herald": herald(), "hand": written()}  # warm-up, and the answers to compare
    took = {"herald": [], "hand": []}
    for _ in range(rounds):
        for name, run in (("herald", herald), ("hand", written)):
            t = time.perf_counter()
            run()
            took[name].append((time.perf_counter() - t) * 1000)
    db.session.rollback()
    return {"counts": counts, "ms": {k: statistics.median(v) for k, v in took.items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="subscribers (default 1,000,000)")
    p.add_argument("--rounds", type=int, default=5, help="timed counts of each (default 5)")
    p.add_argument("--max-ratio", type=float, default=1.5, help="Herald's time over the hand-written (default 1.5)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    a = p.parse_args()
    install_signal_handlers()
    try:
        with Isolated("segments") as iso:
            if iso.sqlite:
                print("the segment benchmark needs PostgreSQL (generate_series); skipped")
                return 0
            app = make_app()
            with app.app_context():
                from app.extensions import db

                t = time.perf_counter()
                ids = build(a.n)
                build_s = time.perf_counter() - t
                result = time_both(ids, a.rounds)
                db.session.remove()
    except Terminated as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    ms, counts = result["ms"], result["counts"]
    ratio = ms["herald"] / ms["hand"] if ms["hand"] else float("inf")
    print(f"{a.n:,} subscribers built in {build_s:.1f} s; the segment matches {counts['herald']:,}")
    print_table("a 10-condition segment, counted", ["statement", "median ms"],
                [["Herald (segments.count)", round(ms["herald"], 1)], ["hand-written SQL", round(ms["hand"], 1)],
                 ["ratio", round(ratio, 2)]])  # fmt: skip
    ok = counts["herald"] == counts["hand"] and ratio <= a.max_ratio
    if counts["herald"] != counts["hand"]:
        print(f"FAILED: Herald counts {counts['herald']}, the hand-written SQL {counts['hand']}", file=sys.stderr)
    elif ratio > a.max_ratio:
        print(f"FAILED: {ratio:.2f}× the hand-written SQL (at most {a.max_ratio}×)", file=sys.stderr)
    if a.json:
        print_json({"bench": "segments", "ok": ok, "subscribers": a.n, "matches": counts["herald"],
                    "herald_ms": round(ms["herald"], 2), "hand_ms": round(ms["hand"], 2), "ratio": round(ratio, 3)})  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
