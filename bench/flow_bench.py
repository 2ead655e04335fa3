"""Flow engine benchmark: due steps advanced per second with a million people in flows.

    python -m bench.flow_bench [--n 1000000] [--due 200000] [--min-rate 5000] [--json]

Setup (PostgreSQL; set-based with generate_series): --n subscribers with a JSON attribute, and a live
flow of steps that send nothing — a condition on the attribute, each branch a wait, then another wait:

    condition attributes.plan = pro → yes: [wait 10 min] / no: [wait 20 min]   then   wait 30 min

All --n people are enrolled (one INSERT … SELECT); --due of them are due now, the rest in a day.

Timed: `flow_engine.advance` until nothing is due (each due person takes the condition, then arrives
at a branch's wait: one step each, written as a step run and a move). Proof: every due person did the
condition exactly once (step runs = due), the branches split as the attribute says, nobody else moved,
and the rate (steps per second) is at least --min-rate. Exit 1 otherwise.
"""

import argparse
import sys
import time

from bench.common import Isolated, Terminated, install_signal_handlers, make_app, print_json, print_table

SETUP = [
    """INSERT INTO subscribers (workspace_id, email, name, status, attributes, created_at, updated_at, soft_bounces)
       SELECT :ws, 'p' || i || '@example.org', 'P ' || i, 'active',
              jsonb_build_object('plan', CASE WHEN i % 4 = 0 THEN 'pro' ELSE 'free' END), now(), now(), 0
       FROM generate_series(1, :n) AS i""",
    """INSERT INTO flow_enrollments (workspace_id, flow_id, version_id, subscriber_id, status, step_id, due_at,
                                    context, cycle, entered_at)
       SELECT :ws, :flow, :version, id, 'active', :first,
              CASE WHEN row_number() OVER (ORDER BY id) <= :due THEN now() - interval '1 minute'
                   ELSE now() + interval '1 day' END,
              '{}'::jsonb, 1, now()
       FROM subscribers WHERE workspace_id = :ws""",
]


def build(n: int, due: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db
    from app.models import FlowVersion
    from app.services.automation import flows
    from app.services.platform.workspaces import create_workspace

    ws = create_workspace("Bench Flows", "owner@bench.example.com", "correct horse battery staple")
    flow = flows.create_flow(ws.id, {
        "name": "Bench", "trigger": {"type": "api"},
        "steps": [{"type": "condition", "if": {"rules": {"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}},
                   "yes": [{"type": "wait", "minutes": 10}], "no": [{"type": "wait", "minutes": 20}]},
                  {"type": "wait", "minutes": 30}],
    })  # fmt: skip
    flows.activate(ws.id, flow.id)
    db.session.commit()
    version = db.session.get(FlowVersion, flow.version_id)
    params = {"ws": ws.id, "n": n, "due": due, "flow": flow.id, "version": version.id, "first": version.first_step}
    for statement in SETUP:
        db.session.execute(text(statement), params)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    return {"flow_id": flow.id}


def advance_all() -> tuple[float, dict]:
    from app.services.automation import flow_engine

    counts: dict = {}
    t = time.perf_counter()
    while True:
        done = flow_engine.advance(budget=600)
        if not done:
            break
        for k, v in done.items():
            counts[k] = counts.get(k, 0) + v
    return time.perf_counter() - t, counts


def check(flow_id: int, due: int) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import FlowEnrollment, FlowStepRun

    runs = db.session.scalar(select(func.count()).where(FlowStepRun.flow_id == flow_id))
    by_step = dict(db.session.execute(
        select(FlowEnrollment.step_id, func.count()).where(FlowEnrollment.flow_id == flow_id).group_by(FlowEnrollment.step_id)
    ).all())  # fmt: skip
    return {"runs": runs, "by_step": by_step}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="people in the flow (default 1,000,000)")
    p.add_argument("--due", type=int, default=200_000, help="of them due now (default 200,000)")
    p.add_argument("--min-rate", type=float, default=5000, help="due steps per second at least (default 5,000)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    a = p.parse_args()
    install_signal_handlers()
    try:
        with Isolated("flows") as iso:
            if iso.sqlite:
                print("the flow benchmark needs PostgreSQL (generate_series); skipped")
                return 0
            app = make_app()
            with app.app_context():
                from app.extensions import db

                t = time.perf_counter()
                ids = build(a.n, a.due)
                build_s = time.perf_counter() - t
                took, counts = advance_all()
                found = check(ids["flow_id"], a.due)
                db.session.remove()
    except Terminated as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    rate = a.due / took if took else float("inf")
    pro = a.due // 4
    expected = {"s2": pro, "s3": a.due - pro, "s1": a.n - a.due}  # yes-wait, no-wait, still at the condition
    print(f"{a.n:,} people in a flow built in {build_s:.1f} s; {a.due:,} due")
    print_table("due steps advanced (a condition, then arriving at a wait)", ["figure", "value"],
                [["seconds", round(took, 2)], ["steps per second", round(rate)], ["step runs written", found["runs"]],
                 ["goal (steps per second)", a.min_rate]])  # fmt: skip
    ok = (
        found["runs"] == a.due
        and found["by_step"] == expected
        and rate >= a.min_rate
        and counts == {"yes": pro, "no": a.due - pro}
    )
    if not ok:
        print(f"FAILED: runs {found['runs']}, at {found['by_step']} (expected {expected}), moved {counts}, "
              f"{rate:.0f}/s (at least {a.min_rate:.0f})", file=sys.stderr)  # fmt: skip
    if a.json:
        print_json({"bench": "flows", "ok": ok, "people": a.n, "due": a.due, "seconds": round(took, 3),
                    "rate": round(rate, 1), "runs": found["runs"]})  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
