"""Throttle benchmark: the routing and throttling decision a worker makes before each hand-off.

    python -m bench.throttle_bench [--messages 200000] [--json]

Per message, as BatchRun.deliver_one does it: the router's order of providers (priority with
failover over two providers, so it also re-reads which are down once a second) and the pair's
throttle (`pair_of`, `PairThrottle.hold`, then `PairThrottle.observe` of a 250 answer), against a
Redis db of its own. The recipients are a realistic mix: 40% Gmail, 20% Microsoft, 10% Yahoo, 5%
Apple and 25% on 500 domains of their own (each its own pair). Nothing is sent. Timed, wall and CPU:

- the bare loop over the recipients (the floor);
- Router.order alone;
- routing + throttling with no pair throttled (the common case; target: <= 0.05 ms a message);
- the same with Gmail throttled at 50 messages/s: its messages take a slot in Redis or are held
  back (most without asking Redis again: the worker knows when the next slot is);
- a shared limiter asked on every message (one Redis round trip each), what the design avoids.

Proof: with Gmail throttled, at most its rate (plus one early slot) of Gmail's messages was let
through and every other recipient went at once; the run fails (exit 1) otherwise.
"""

import argparse
import random
import sys
import time
from types import SimpleNamespace

from bench.common import Isolated, Terminated, install_signal_handlers, make_app, print_json, print_table

TARGET_MS = 0.05
GMAIL_RATE = 50.0
MIX = [("gmail", 40), ("microsoft", 20), ("yahoo", 10), ("apple", 5), ("other", 25)]


def recipients(n: int) -> list[tuple[str, str]]:
    """(mailbox provider group, address) for n people, in a fixed shuffled order."""
    rng = random.Random(14)
    groups = [g for g, share in MIX for _ in range(share)]
    rows = []
    for i in range(n):
        group = rng.choice(groups)
        domain = f"d{rng.randrange(500)}.example.net" if group == "other" else f"{group}.example.com"
        rows.append((group, f"p{i}@{domain}"))
    return rows


def _router():
    from app.services.delivery.routing import Route, Router

    cfg = {"strategy": "priority", "providers": [1, 2], "fallback": True}
    campaign = SimpleNamespace(
        id=1,
        workspace_id=1,
        from_email="news@shop.bench.example.com",
        routing_config=cfg,
        pool_id=None,
        provider_id=None,
    )
    routes = [Route(SimpleNamespace(id=i, name=f"P{i}"), None, {}, None) for i in (1, 2)]
    return Router(campaign, routes, cfg)


def _timed(fn, rows) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of fn(rows)."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(rows)
    return time.perf_counter() - w0, time.process_time() - c0, out


def run(n: int) -> dict:
    from app.redis_client import get_redis
    from app.services.delivery.throttle import PairThrottle, ThrottlePolicy, pair_of, state_key

    r = get_redis()
    rows = recipients(n)
    router = _router()
    ok = SimpleNamespace(failure=None, code=250, enhanced=None, detail="250 OK")
    policy = ThrottlePolicy(max_rate=100, min_rate=GMAIL_RATE, backoff=0.5, cooldown=2, step=1, step_seconds=60)

    def floor(rows):
        for _group, _email in rows:
            pass

    def routing(rows):
        for _ in rows:
            router.order()

    def decide(throttle):
        def loop(rows):
            allowed = {}
            for group, email in rows:
                router.order()
                pair = pair_of(group, email)
                if throttle.hold(pair) is None:
                    allowed[group] = allowed.get(group, 0) + 1
                    throttle.observe(pair, ok)
            return allowed

        return loop

    free = PairThrottle(r, 1, router.campaign.from_email, policy)
    throttled = PairThrottle(r, 2, router.campaign.from_email, policy)
    throttled.signal("gmail", "421 4.7.0 Try again later")  # Gmail deferred: 50/s from now on
    naive_rows = rows[: min(n, 20_000)]

    def naive(rows):
        take = free._take  # the pair is not throttled: the script answers at once, as cheap as a call can be
        for group, email in rows:
            take(keys=[free.key], args=[pair_of(group, email), 0, 1, 1])

    floor(rows[:1000])  # warm up
    decide(free)(rows[:1000])
    results = {
        "floor": _timed(floor, rows),
        "routing": _timed(routing, rows),
        "unthrottled": _timed(decide(free), rows),
        "gmail_throttled": _timed(decide(throttled), rows),
        "naive": _timed(naive, naive_rows),
    }
    r.delete(state_key(1, "shop.bench.example.com"), state_key(2, "shop.bench.example.com"))
    return {"rows": rows, "naive_n": len(naive_rows), "results": results}


def figures(n: int, measured: dict) -> dict:
    res, rows = measured["results"], measured["rows"]
    per = {k: (wall * 1000 / (measured["naive_n"] if k == "naive" else n)) for k, (wall, _, _) in res.items()}
    cpu = {k: (c * 1000 / (measured["naive_n"] if k == "naive" else n)) for k, (_, c, _) in res.items()}
    wanted = {g: sum(1 for group, _ in rows if group == g) for g, _ in MIX}
    free_allowed, gmail_allowed = res["unthrottled"][2], res["gmail_throttled"][2]
    gmail_seconds = res["gmail_throttled"][0]
    gmail_most = int(GMAIL_RATE * (gmail_seconds + 0.1)) + 2  # its rate over the run, one early slot, the cut's own
    others_ok = all(gmail_allowed.get(g, 0) == wanted[g] for g in wanted if g != "gmail")
    gmail_ok = gmail_allowed.get("gmail", 0) <= gmail_most
    return {
        "bench": "throttle",
        "ok": bool(free_allowed == wanted and others_ok and gmail_ok),
        "messages": n,
        "floor_ms_per_msg": round(per["floor"], 6),
        "routing_ms_per_msg": round(per["routing"], 6),
        "decision_ms_per_msg": round(per["unthrottled"], 6),
        "decision_cpu_ms_per_msg": round(cpu["unthrottled"], 6),
        "decision_gmail_throttled_ms_per_msg": round(per["gmail_throttled"], 6),
        "naive_ms_per_msg": round(per["naive"], 6),
        "target_ms": TARGET_MS,
        "within_target": per["unthrottled"] <= TARGET_MS and per["gmail_throttled"] <= TARGET_MS,
        "ratio_to_target": round(per["unthrottled"] / TARGET_MS, 4),
        "ratio_to_naive": round(per["unthrottled"] / per["naive"], 4) if per["naive"] else None,
        "gmail_allowed": gmail_allowed.get("gmail", 0),
        "gmail_allowed_most": gmail_most,
        "gmail_wanted": wanted["gmail"],
        "others_all_allowed": others_ok,
    }


def report(f: dict, measured: dict) -> None:
    n, res = f["messages"], measured["results"]
    label = {
        "floor": "bare loop over the recipients",
        "routing": "Router.order (priority, failover)",
        "unthrottled": "routing + throttle, no pair throttled",
        "gmail_throttled": f"routing + throttle, Gmail held at {GMAIL_RATE:.0f}/s",
        "naive": "a Redis round trip per message",
    }
    rows = []
    for key, (wall, cpu, _) in res.items():
        count = measured["naive_n"] if key == "naive" else n
        rows.append([label[key], count, wall * 1e6 / count, cpu * 1e6 / count, wall * 1000 / count / TARGET_MS])
    print_table(
        f"Throttle benchmark: {n:,} messages, 5 mailbox provider groups and 500 other domains",
        ["path", "messages", "µs/msg", "CPU µs/msg", "of the 0.05 ms target"],
        rows,
    )
    print(
        f"\ndecision / 0.05 ms target: {f['ratio_to_target']}x; decision / a Redis round trip per message: "
        f"{f['ratio_to_naive']}x"
    )
    print(
        f"Gmail held at {GMAIL_RATE:.0f}/s: {f['gmail_allowed']:,} of its {f['gmail_wanted']:,} let through "
        f"(at most {f['gmail_allowed_most']:,} allowed); every other recipient went at once: {f['others_all_allowed']}"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=200_000, help="decisions timed per path (default 200000)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = p.parse_args(argv)
    if args.messages < 1000:
        p.error("--messages must be at least 1000")
    install_signal_handlers()
    try:
        with Isolated("throttle", sqlite=True) as iso:
            for note in iso.notes:
                print(note)
            with make_app().app_context():
                measured = run(args.messages)
    except Terminated as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    f = figures(args.messages, measured)
    report(f, measured)
    if args.json:
        print_json(f)
    if not f["ok"]:
        print("FAILED: the throttle let through more than its rate, or held back another pair", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
