"""Open-pixel benchmark: Herald's /t/o/<token>.gif against a bare WSGI app, both on gunicorn,
loaded by wrk; then proof that every answered hit became exactly one open event.

    python -m bench.pixel_bench --seconds 10 --connections 32 [--json] [--allow-skip] [--sqlite]

Setup: an isolated database and Redis db, a campaign whose recipients are marked sent (so
their open tokens are valid), and one pixel URL per recipient. Each server is started with the
same command (`gunicorn --no-control-socket -w 2 -b 127.0.0.1:PORT ...`), warmed up for a
second, then loaded for --seconds by wrk with one thread per connection; bench/wrk_pixel.lua
rotates through the URLs and labels every request (User-Agent `wrk/<thread>/<sequence>`).

Proof: after the runs, app.services.events.tracking.process_hits drains the Redis list into the event
log. Every request wrk saw answered with 200 must have exactly one `open` event with its
label; the only other labelled events allowed are those of requests wrk had sent but never
read an answer for (in flight when wrk stopped). Exit 1 if a hit is lost, duplicated or
invented.
"""

import argparse
import json
import os
import re
import shutil
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench.common import (
    BIN,
    Isolated,
    Terminated,
    create_campaign,
    free_port,
    install_signal_handlers,
    make_app,
    print_json,
    print_table,
    run,
    spawn,
    stop,
    tail,
    wait_for_port,
)

LUA = Path(__file__).with_name("wrk_pixel.lua")
WRK_LABEL = "wrk"
WARM_LABEL = "warm"


def find_wrk() -> str | None:
    return shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)


def make_recipients(app, n: int) -> list[str]:
    """A campaign whose n recipients were sent; returns their open tokens."""
    from datetime import datetime, timezone

    from sqlalchemy import update

    from app.extensions import db
    from app.models import CampaignRecipient
    from app.services.campaigns import lifecycle, recipients
    from app.services.tokens import make_token

    with app.app_context():
        ids = create_campaign(n, free_port())
        lifecycle.send_now(ids["workspace_id"], ids["campaign_id"])
        db.session.commit()  # queues a prepare job that no worker runs: the Redis db is flushed at the end
        recipients.prepare_campaign(ids["campaign_id"])
        db.session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == ids["campaign_id"])
            .values(status="sent", sent_at=datetime.now(timezone.utc), message_id="<bench@herald>")
        )
        recipients.finish_if_done(ids["campaign_id"])
        db.session.commit()
        rids = db.session.scalars(
            db.select(CampaignRecipient.id)
            .where(CampaignRecipient.campaign_id == ids["campaign_id"])
            .order_by(CampaignRecipient.id)
        ).all()
        tokens = [make_token("open", rid) for rid in rids]
        db.session.remove()
    return tokens


def write_script(tmp: Path, tokens: list[str], port: int, label: str) -> Path:
    path = tmp / f"pixel-{label}-{port}.lua"
    head = "tokens = {" + ",".join(f'"{t}"' for t in tokens) + f'}}\nhost = "127.0.0.1:{port}"\nlabel = "{label}"\n'
    path.write_text(head + LUA.read_text())
    return path


def run_wrk(wrk: str, script: Path, port: int, seconds: int, connections: int, iso: Isolated) -> dict:
    cmd = [
        wrk,
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    code, out = run(cmd, iso.env, script.with_suffix(".out"), timeout=seconds + 60)
    line = next((line for line in out.splitlines() if line.startswith("WRKJSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"wrk failed ({code}):\n{out[-3000:]}")
    result = json.loads(line[len("WRKJSON ") :])
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    result["requests_line"] = m.group(0) if m else None
    if m and int(m.group(1)) != result["requests"]:
        raise RuntimeError(f"wrk's summary line ({m.group(0)}) disagrees with its done() hook ({result['requests']})")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["ok"] = sum(t["ok"] for t in result["threads"])
    result["unanswered"] = sum(len(t["unknown"]) + len(t["bad"]) for t in result["threads"])
    return result


def probe(port: int, path: str) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"User-Agent": "probe/0/0"})
    with urllib.request.urlopen(req, timeout=10) as r:
        headers = {k.lower(): v for k, v in r.headers.items() if k.lower() not in ("date", "server", "connection")}
        return r.status, headers, r.read()


def server_cpu(pid: int) -> float | None:
    """CPU seconds of gunicorn's master and its live workers (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        master = psutil.Process(pid)
        return sum(t.user + t.system for t in [master.cpu_times()] + [c.cpu_times() for c in master.children()])
    except psutil.Error:
        return None


def serve_and_load(name: str, target: str, iso: Isolated, wrk: str, tokens: list[str], args) -> dict:
    port = free_port()
    log = iso.tmp / f"gunicorn-{name}.log"
    proc = spawn(
        [
            str(BIN / "gunicorn"),
            "--no-control-socket",
            "-w",
            str(args.gunicorn_workers),
            "-b",
            f"127.0.0.1:{port}",
            target,
        ],
        iso.env,
        log,
    )
    try:
        wait_for_port("127.0.0.1", port, 30, proc)
        status, headers, body = probe(port, f"/t/o/{tokens[0]}.gif")
        if status != 200:
            raise RuntimeError(f"{name}: the pixel answered {status}")
        run_wrk(wrk, write_script(iso.tmp, tokens, port, WARM_LABEL), port, args.warmup, args.connections, iso)
        cpu0 = server_cpu(proc.pid)
        result = run_wrk(wrk, write_script(iso.tmp, tokens, port, WRK_LABEL), port, args.seconds, args.connections, iso)
        cpu1 = server_cpu(proc.pid)
        result["server_cpu_us"] = (
            (cpu1 - cpu0) / result["requests"] * 1e6
            if cpu0 is not None and cpu1 is not None and result["requests"]
            else None
        )
        if proc.poll() is not None:
            raise RuntimeError(f"{name}: gunicorn exited during the run:\n{tail(log)}")
    except BaseException:
        print(f"--- gunicorn {name} log\n{tail(log)}", file=sys.stderr)
        raise
    finally:
        stop(proc)
    result.update(headers=headers, body=body)
    return result


def drain(app) -> tuple[int, float, int]:
    """process_hits until the list is empty; (hits, seconds, calls)."""
    from app.services.events.tracking import process_hits

    total, calls, t0 = 0, 0, time.perf_counter()
    with app.app_context():
        from app.extensions import db

        try:
            while True:
                n = process_hits()
                calls += 1
                total += n
                if n == 0:
                    break
        finally:
            db.session.remove()
    return total, time.perf_counter() - t0, calls


def verify(app, herald: dict) -> dict:
    """Match the stored open events to wrk's requests by their User-Agent label."""
    from app.extensions import db
    from app.models import Event

    with app.app_context():
        uas = db.session.scalars(db.select(Event.user_agent).where(Event.event_type == "open")).all()
        db.session.remove()
    stored = Counter()
    other = 0
    for ua in uas:
        parts = (ua or "").split("/")
        if len(parts) == 3 and parts[0] == WRK_LABEL:
            stored[(int(parts[1]), int(parts[2]))] += 1
        else:
            other += 1  # warm-up and probe requests
    lost = in_flight = phantom = 0
    for t in herald["threads"]:
        tid, unknown, bad = t["id"], set(t["unknown"]), set(t["bad"])
        for seq in range(1, t["sent"] + 1):
            count = stored.pop((tid, seq), 0)
            if seq in unknown or seq in bad:
                in_flight += 1 if count else 0
            elif count == 0:
                lost += 1
            if count > 1:
                phantom += count - 1
    phantom += sum(stored.values())  # labelled events that match no request wrk sent
    duplicated = phantom
    return {
        "opens": len(uas),
        "labelled": len(uas) - other,
        "other": other,
        "lost": lost,
        "duplicated": duplicated,
        "in_flight_stored": in_flight,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=10, help="wrk duration per server (default 10)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections, one thread each (default 32)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of load before each measured run (default 1)")
    p.add_argument(
        "--recipients",
        type=int,
        default=20000,
        help="recipients, i.e. distinct pixel URLs to rotate through (default 20000: as in a real "
        "campaign, most hits are from different recipients, which is what the drain pays for)",
    )
    p.add_argument("--gunicorn-workers", type=int, default=2, help="gunicorn -w for both servers (default 2)")
    p.add_argument("--sqlite", action="store_true", help="SQLite file instead of a PostgreSQL database")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    p.add_argument("--allow-skip", action="store_true", help="exit 0 with a skip message when wrk is missing")
    args = p.parse_args(argv)
    if args.seconds < 1 or args.connections < 1 or args.recipients < 1 or args.warmup < 1:
        p.error("--seconds, --connections, --warmup and --recipients must be positive")

    wrk = find_wrk()
    if wrk is None:
        msg = "SKIP: wrk is not installed (apt-get install wrk); the pixel benchmark needs it"
        print(msg)
        if args.json:
            print_json({"bench": "pixel", "skipped": True, "reason": msg})
        return 0 if args.allow_skip else 2
    install_signal_handlers()

    with Isolated("pixel", sqlite=args.sqlite) as iso:
        for note in iso.notes:
            print(f"note: {note}", file=sys.stderr)
        app = make_app()
        try:
            tokens = make_recipients(app, args.recipients)
            herald = serve_and_load("herald", "wsgi:app", iso, wrk, tokens, args)
            bare = serve_and_load("bare", "bench.bare_pixel:app", iso, wrk, tokens, args)
            from app.redis_client import redis_for
            from app.services.events.tracking import HITS_KEY

            queued = redis_for(iso.redis_url).llen(HITS_KEY)
            drained, drain_seconds, calls = drain(app)
            check = verify(app, herald)
        finally:
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()

    db_kind = "SQLite" if iso.sqlite else "PostgreSQL"
    ratio = herald["rps"] / bare["rps"] if bare["rps"] else 0.0
    print_table(
        f"Pixel benchmark: gunicorn -w {args.gunicorn_workers} (sync), wrk {args.connections} connections x "
        f"{args.seconds} s, {len(tokens):,} distinct pixel URLs, {db_kind}",
        ["server", "requests", "seconds", "requests/s", "non-2xx+errors", "mean ms", "p99 ms", "server CPU us/req"],
        [
            [
                label,
                r["requests"],
                r["duration_us"] / 1e6,
                r["rps"],
                r["errors"]["status"]
                + r["errors"]["connect"]
                + r["errors"]["read"]
                + r["errors"]["write"]
                + r["errors"]["timeout"],
                r["latency_mean_us"] / 1000,
                r["latency_p99_us"] / 1000,
                round(r["server_cpu_us"]) if r["server_cpu_us"] is not None else "n/a",
            ]
            for label, r in (("Herald /t/o/<token>.gif", herald), ("bare WSGI pixel", bare))
        ],
    )
    print(f"\nHerald / bare: {ratio:.2f}x (goal >= 0.5x)")
    load = os.getloadavg()
    print(f"load average at the end (1/5/15 min, {os.cpu_count()} CPUs): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if herald["headers"] != bare["headers"] or herald["body"] != bare["body"]:
        print(
            f"note: the responses differ: herald {herald['headers']} {len(herald['body'])} B; "
            f"bare {bare['headers']} {len(bare['body'])} B"
        )
    print(
        f"hits queued in Redis after the runs: {queued:,}; process_hits drained {drained:,} in "
        f"{drain_seconds:.2f} s ({drained / drain_seconds if drain_seconds else 0:,.0f} hits/s, {calls} calls)"
    )
    print(
        f"open events stored: {check['opens']:,} = {check['labelled']:,} from the measured run + "
        f"{check['other']:,} from warm-up and probe"
    )
    print(
        f'measured run: wrk got {herald["ok"]:,} answers 200 (wrk: "{herald["requests_line"]}"); '
        f"stored for them: {herald['ok'] - check['lost']:,}; lost {check['lost']}, duplicated or unmatched "
        f"{check['duplicated']}; plus {check['in_flight_stored']} stored for the {herald['unanswered']} requests "
        f"wrk sent but never read an answer for (in flight when it stopped)"
    )

    ok = (
        check["lost"] == 0
        and check["duplicated"] == 0
        and herald["ok"] > 0
        and bare["ok"] > 0
        and drained == queued
        and check["opens"] == queued
    )
    if args.json:
        print_json(
            {
                "bench": "pixel",
                "ok": ok,
                "skipped": False,
                "loadavg": [round(x, 2) for x in os.getloadavg()],
                "seconds": args.seconds,
                "connections": args.connections,
                "database": db_kind.lower(),
                "recipients": len(tokens),
                "herald_rps": round(herald["rps"], 1),
                "bare_rps": round(bare["rps"], 1),
                "ratio": round(ratio, 4),
                "herald_server_cpu_us": herald["server_cpu_us"],
                "bare_server_cpu_us": bare["server_cpu_us"],
                "herald_requests": herald["requests"],
                "herald_ok": herald["ok"],
                "bare_requests": bare["requests"],
                "herald_p99_ms": herald["latency_p99_us"] / 1000,
                "queued": queued,
                "drained": drained,
                "drain_hits_per_s": round(drained / drain_seconds, 1) if drain_seconds else None,
                "opens_stored": check["opens"],
                "labelled_stored": check["labelled"],
                "lost": check["lost"],
                "duplicated": check["duplicated"],
                "in_flight_stored": check["in_flight_stored"],
                "unanswered": herald["unanswered"],
            }
        )
    if not ok:
        print("FAILED: hits were lost, duplicated or not drained (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (Terminated, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): stopped everything it had started", file=sys.stderr)
        raise SystemExit(143) from None
