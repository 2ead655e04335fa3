"""Send benchmark: the whole pipeline against a bare smtplib loop, to one local SMTP sink.

    python -m bench.send_bench --n 20000 --workers 2 [--sqlite] [--json] [--dkim]
    python -m bench.send_bench --n 2000 --profile wall|cpu    # cProfile of send_batch, in-process

Pipeline: lifecycle.send_now -> RQ `prepare_campaign` -> every `send_batch` job, run by
real `rq worker` processes (the Procfile's command) on a Redis db of its own, timed from the
send until the campaign's status is `sent`. Workers are started, and registered in Redis,
before the clock starts (a burst worker that starts while only the prepare job is queued
exits before the batches exist), and stopped afterwards.

Bare loop: the same message, as the sink received it, sent N times over one reused
connection by a process of its own.

The sink counts every RCPT TO: the run fails (exit 1) if any recipient is missing,
duplicated or unexpected.

With --dkim the From domain is a verified sending domain with a signing key, so every message
is DKIM-signed (app/services/delivery/dkim.py); the bare loop then sends the signed message as
the sink received it, and the run fails unless dkimpy verifies that message's signature.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

from bench.common import (
    BIN,
    REPO,
    Isolated,
    Sink,
    Terminated,
    check_recipients,
    create_campaign,
    expected_email,
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

WORKER_CLASSES = {"fork": "rq.worker.Worker", "simple": "rq.worker.SimpleWorker"}


def procfile_worker_class() -> str:
    """The --worker-class of the Procfile's `worker:` line (rq's default Worker if it names none)."""
    try:
        for line in (REPO / "Procfile").read_text().splitlines():
            if line.startswith("worker:"):
                words = line.split()
                for flag in ("--worker-class", "-w"):
                    if flag in words[:-1]:
                        return words[words.index(flag) + 1]
    except OSError:
        pass
    return WORKER_CLASSES["fork"]


def worker_class(choice: str) -> str:
    if choice == "procfile":
        return procfile_worker_class()
    return WORKER_CLASSES.get(choice, choice)


def _cpu(ru) -> float:
    return ru.ru_utime + ru.ru_stime


def _proc_cpu(pids: list[int]) -> float | None:
    """CPU seconds of the processes and of their reaped children (rq's work horses)."""
    try:
        import psutil
    except ImportError:
        return None
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            return None
    return total


def _campaign_status(app, campaign_id: int) -> str:
    from app.extensions import db
    from app.models import Campaign

    with app.app_context():
        try:
            return db.session.scalar(db.select(Campaign.status).where(Campaign.id == campaign_id))
        finally:
            db.session.remove()


def _wait_idle(conn, timeout: float) -> None:
    """Until no job is queued or running (the last horse has reported back)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from app.queueing import ALL

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = sum(Queue(n, connection=conn).count + StartedJobRegistry(n, connection=conn).count for n in ALL)
        if not busy:
            return
        time.sleep(0.02)


DKIM_DOMAIN = "shop.bench.example.com"  # the From domain of bench.common.create_campaign
DKIM_SELECTOR = "bench1"


def add_signing_domain(workspace_id: int) -> str:
    """The campaign's From domain as a verified sending domain whose key signs (rows written
    directly: verifying needs DNS the benchmark does not have); returns the DKIM TXT record's text."""
    from app.extensions import db
    from app.models.deliverability import DkimKey, SendingDomain
    from app.services.crypto import encrypt_text
    from app.services.delivery import dkim

    pem, public = dkim.generate_key()
    domain = SendingDomain(workspace_id=workspace_id, domain=DKIM_DOMAIN, status="verified")
    domain.keys.append(
        DkimKey(selector=DKIM_SELECTOR, private_key_encrypted=encrypt_text(pem), public_key=public, status="signing")
    )
    db.session.add(domain)
    db.session.commit()
    dkim.forget(workspace_id)
    return dkim.record_value(public)


def dkim_verifies(message: bytes, record: str) -> bool:
    """dkimpy's verdict on the message's signature, the key answered from `record` (no DNS here)."""
    import dkim as dkimpy

    name = f"{DKIM_SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode()
    return message.startswith(b"DKIM-Signature:") and dkimpy.verify(
        message, dnsfunc=lambda q, timeout=5: record.encode() if q == name else None
    )


def run_pipeline(args, iso: Isolated, app, sink: Sink, ids: dict) -> dict:
    from rq import Worker

    from app.extensions import db
    from app.redis_client import redis_for
    from app.services.campaigns import drafts, lifecycle

    conn = redis_for(iso.redis_url)
    workers: list[subprocess.Popen] = []
    logs = []
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        for i in range(args.workers):
            log = iso.tmp / f"worker-{i}.log"
            logs.append(log)
            workers.append(
                spawn(
                    [
                        str(BIN / "rq"),
                        "worker",
                        "--url",
                        iso.redis_url,
                        "--path",
                        str(REPO),
                        "--worker-class",
                        worker_class(args.worker_class),
                        "--name",
                        f"bench-{os.getpid()}-{i}",
                        "sends",
                        "webhooks",
                        "default",
                    ],
                    iso.env,
                    log,
                )
            )
        sink.start()
        deadline = time.monotonic() + 60
        while Worker.count(connection=conn) < args.workers:
            dead = [w for w in workers if w.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError("workers did not start:\n" + "\n".join(tail(log) for log in logs))
            time.sleep(0.05)

        cpu0 = _proc_cpu([w.pid for w in workers])
        sink0 = sink.cpu()
        t0 = time.perf_counter()
        with app.app_context():
            lifecycle.send_now(ids["workspace_id"], ids["campaign_id"])
            db.session.commit()  # the prepare job is enqueued on commit
            db.session.remove()
        timeout = args.timeout or max(120.0, args.n * 0.05)
        status = "sending"
        while time.perf_counter() - t0 < timeout:
            status = _campaign_status(app, ids["campaign_id"])
            if status != "sending":
                break
            if all(w.poll() is not None for w in workers):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        received = sink.wait_for(args.n, 10)
        _wait_idle(conn, 10)
        cpu1 = _proc_cpu([w.pid for w in workers])
        sink1 = sink.cpu()
        if status != "sent":
            print(f"campaign status is {status!r} after {seconds:.1f} s (timeout {timeout:.0f} s)", file=sys.stderr)
            for log in logs:
                print(f"--- {log.name}\n{tail(log)}", file=sys.stderr)
    finally:
        for w in workers:
            stop(w)
        if args.keep_logs:
            os.makedirs(args.keep_logs, exist_ok=True)
            for log in logs:
                shutil.copy(log, args.keep_logs)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    h = sink.handler
    with h.lock:
        rcpts, nbytes, sample = h.rcpts.copy(), h.bytes, h.sample
    missing, duplicated, unexpected = check_recipients(rcpts, {expected_email("user", i) for i in range(args.n)})
    with app.app_context():
        stats = drafts.campaign_stats(ids["campaign_id"])
        db.session.remove()
    return {
        "status": status,
        "seconds": seconds,
        "received": received,
        "bytes": nbytes,
        "sample": sample,
        "missing": missing,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "stats": stats,
        "worker_cpu": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        "worker_cpu_total": _cpu(children_after) - _cpu(children_before),
        "sink_cpu": sink1 - sink0,
    }


def run_bare(args, iso: Isolated, sink: Sink, sample: bytes, sign: bool = False) -> dict:
    sink.handler.reset()
    path = iso.tmp / "message.eml"
    path.write_bytes(sample)
    sink0 = sink.cpu()
    command = [
        sys.executable,
        "-m",
        "bench.bare_smtp",
        "--port",
        str(sink.port),
        "--n",
        str(args.n),
        "--message",
        str(path),
    ]
    code, output = run(
        command + (["--sign"] if sign else []),
        iso.env,
        iso.tmp / "bare.log",
        timeout=max(120, args.n * 0.05),
    )
    if code != 0:
        raise RuntimeError(f"bare loop failed:\n{output[-3000:]}")
    out = json.loads(output.strip().splitlines()[-1])
    received = sink.wait_for(args.n, 10)
    sink1 = sink.cpu()
    with sink.handler.lock:
        rcpts = sink.handler.rcpts.copy()
    missing, duplicated, unexpected = check_recipients(rcpts, {expected_email("bare", i) for i in range(args.n)})
    return {
        **out,
        "received": received,
        "missing": missing,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "sink_cpu": sink1 - sink0,
    }


def run_profile(args, iso: Isolated, app, ids: dict) -> int:
    """send_batch in-process over the whole audience as one batch, the sink in another process:
    once unprofiled (the honest time), then a copy of the campaign under cProfile."""
    import cProfile
    import pstats

    from app.extensions import db
    from app.services.campaigns import drafts, lifecycle, recipients, sending

    port = app.config["_BENCH_SINK_PORT"]
    sink = spawn(
        [sys.executable, "-m", "bench.smtp_sink", "--port", str(port)]
        + (["--stock"] if args.stock_sink else [])
        + (["--no-pipelining"] if args.no_pipelining else []),
        iso.env,
        iso.tmp / "sink.log",
    )

    def one_batch(campaign_id: int, prof=None) -> tuple[dict, float, float]:
        lifecycle.send_now(ids["workspace_id"], campaign_id)
        db.session.commit()
        app.config["SEND_BATCH_SIZE"] = args.n
        ((first, last),) = recipients.prepare_campaign(campaign_id)
        db.session.commit()
        t0, c0 = time.perf_counter(), time.thread_time()
        counts = (prof.runcall if prof else (lambda f, *a: f(*a)))(sending.send_batch, campaign_id, first, last)
        return counts, time.perf_counter() - t0, time.thread_time() - c0

    try:
        wait_for_port("127.0.0.1", port, 20, sink)
        with app.app_context():
            copy = drafts.create_campaign(
                ids["workspace_id"],
                {
                    "name": "Spring collection (profiled)",
                    "template_id": ids["template_id"],
                    "list_ids": [ids["list_id"]],
                    "from_name": "Bench Outfitters",
                    "from_email": "news@shop.bench.example.com",
                    "reply_to": "help@shop.bench.example.com",
                    "provider_id": ids["provider_id"],
                },
            ).id
            db.session.commit()
            plain = one_batch(ids["campaign_id"])
            prof = cProfile.Profile(time.thread_time if args.profile == "cpu" else time.perf_counter)
            profiled = one_batch(copy, prof)
            db.session.remove()
    finally:
        stop(sink, signal.SIGTERM)
    if args.profile_out:
        prof.dump_stats(args.profile_out)
    n = args.n
    for label, (counts, seconds, cpu) in (("unprofiled", plain), (f"under cProfile (timer: {args.profile})", profiled)):
        print(
            f"send_batch of {n} recipients in-process, {label}: {counts}; {seconds:.2f} s wall "
            f"({seconds / n * 1000:.3f} ms/msg), {cpu:.2f} s CPU of this thread ({cpu / n * 1000:.3f} ms/msg)"
        )
    print(f"sink: {tail(iso.tmp / 'sink.log', 1)}")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(45)
    return 0 if plain[0].get("sent") == n and profiled[0].get("sent") == n else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20000, help="recipients (default 20000)")
    p.add_argument("--workers", type=int, default=1, help="rq worker processes (default 1)")
    p.add_argument(
        "--worker-class",
        default="procfile",
        help="procfile (default): the class the Procfile's worker runs; fork: rq's default Worker "
        "(a work horse forked per job, the app built in each); simple: SimpleWorker (jobs run in "
        "the worker process); or a dotted path",
    )
    p.add_argument("--sqlite", action="store_true", help="SQLite file instead of a PostgreSQL database")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    p.add_argument(
        "--stock-sink",
        action="store_true",
        help="aiosmtpd's own line-by-line DATA reader (~3x the sink's CPU) instead of the block reader",
    )
    p.add_argument(
        "--no-pipelining",
        action="store_true",
        help="the sink leaves PIPELINING out of its EHLO (Herald then sends MAIL, RCPT and DATA one at a time)",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for `sent` (default max(120, n/20))")
    p.add_argument("--keep-logs", metavar="DIR", help="copy the worker logs into DIR before cleaning up")
    p.add_argument("--profile", choices=("wall", "cpu"), help="profile send_batch in-process instead of the benchmark")
    p.add_argument("--profile-out", help="write the cProfile stats to this file")
    p.add_argument("--dkim", action="store_true", help="DKIM-sign every message (the From domain gets a signing key)")
    args = p.parse_args(argv)
    if args.n < 1 or args.workers < 1:
        p.error("--n and --workers must be positive")
    install_signal_handlers()

    with Isolated("bench", sqlite=args.sqlite) as iso:
        for note in iso.notes:
            print(f"note: {note}", file=sys.stderr)
        app = make_app()
        setup0 = time.perf_counter()
        if args.profile:
            port = free_port()
            app.config["_BENCH_SINK_PORT"] = port
            with app.app_context():
                ids = create_campaign(args.n, port)
                if args.dkim:
                    add_signing_domain(ids["workspace_id"])
            return run_profile(args, iso, app, ids)
        sink = Sink(stock=args.stock_sink, sample_rcpt=expected_email("user", 0), pipelining=not args.no_pipelining)
        try:
            record = None
            with app.app_context():
                ids = create_campaign(args.n, sink.port)
                if args.dkim:
                    record = add_signing_domain(ids["workspace_id"])
            setup = time.perf_counter() - setup0
            pipe = run_pipeline(args, iso, app, sink, ids)
            if pipe["sample"] is None:
                raise RuntimeError("the sink received no message")
            bare = run_bare(args, iso, sink, pipe["sample"])
            # With signing on, the floor of a signing sender too: the bare loop plus one RSA sign a message.
            signed_bare = run_bare(args, iso, sink, pipe["sample"], sign=True) if args.dkim else None
        finally:
            sink.stop()
            with app.app_context():
                from app.extensions import db

                db.session.remove()
                db.engine.dispose()

    n = args.n
    db_kind = "SQLite" if iso.sqlite else "PostgreSQL"
    pipe_rate = pipe["received"] / pipe["seconds"] if pipe["seconds"] else 0.0
    bare_rate = bare["received"] / bare["seconds"] if bare["seconds"] else 0.0
    size = len(pipe["sample"])
    mean_size = pipe["bytes"] / pipe["received"] if pipe["received"] else 0
    per_msg = lambda cpu: (cpu / n * 1000) if cpu is not None else None  # noqa: E731
    print_table(
        f"Send benchmark: {n:,} recipients, {args.workers} worker(s) ({worker_class(args.worker_class)}), "
        f"{db_kind}, {'DKIM-signed ' if args.dkim else ''}messages {mean_size / 1024:.1f} KB on average "
        f"(bare loop: {size / 1024:.1f} KB), "
        f"{'stock' if args.stock_sink else 'block-DATA'} aiosmtpd sink "
        f"({'without' if args.no_pipelining else 'offering'} PIPELINING), "
        f"setup {setup:.1f} s",
        ["path", "messages", "seconds", "msg/s", "sender CPU ms/msg", "sink CPU ms/msg"],
        [
            [
                f"Herald pipeline, {args.workers} worker(s)",
                pipe["received"],
                pipe["seconds"],
                pipe_rate,
                per_msg(pipe["worker_cpu"]) if pipe["worker_cpu"] is not None else "n/a",
                per_msg(pipe["sink_cpu"]),
            ],
            [
                "bare smtplib loop, 1 connection",
                bare["received"],
                bare["seconds"],
                bare_rate,
                per_msg(bare["cpu_seconds"]),
                per_msg(bare["sink_cpu"]),
            ],
        ],
    )
    ratio = pipe_rate / bare_rate if bare_rate else 0.0
    print(f"\npipeline / bare loop: {ratio:.2f}x")
    if signed_bare is not None:
        signed_rate = signed_bare["received"] / signed_bare["seconds"] if signed_bare["seconds"] else 0.0
        print(
            f"bare loop signing each message (one RSA-2048 signature, no canonicalization): {signed_rate:,.0f} msg/s, "
            f"{per_msg(signed_bare['cpu_seconds']):.2f} ms CPU/msg; pipeline / that loop: "
            f"{pipe_rate / signed_rate if signed_rate else 0.0:.2f}x"
        )
    load = os.getloadavg()
    print(f"load average at the end (1/5/15 min, {os.cpu_count()} CPUs): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(
        f"worker CPU per message incl. worker start-up and shutdown (RUSAGE_CHILDREN): "
        f"{per_msg(pipe['worker_cpu_total']):.3f} ms"
    )
    st = pipe["stats"]
    print(
        f"campaign status {pipe['status']!r}; recorded sent={st['sent']} failed={st['failed']} "
        f"unknown={st['unknown']} pending={st['pending']}"
    )
    print(
        f"sink, pipeline: received {pipe['received']:,} (missing {pipe['missing']}, duplicated "
        f"{pipe['duplicated']}, unexpected {pipe['unexpected']}); bare loop: received {bare['received']:,} "
        f"(missing {bare['missing']}, duplicated {bare['duplicated']})"
    )

    signed_ok = dkim_verifies(pipe["sample"], record) if args.dkim else None
    if args.dkim:
        print(f"DKIM: the sample message's signature (d={DKIM_DOMAIN}) {'verifies' if signed_ok else 'FAILS'}")
    ok = (
        signed_ok is not False
        and pipe["status"] == "sent"
        and pipe["received"] == n
        and pipe["missing"] == 0
        and pipe["duplicated"] == 0
        and pipe["unexpected"] == 0
        and st["sent"] == n
        and bare["received"] == n
        and bare["missing"] == 0
        and bare["duplicated"] == 0
    )
    if args.json:
        print_json(
            {
                "bench": "send",
                "ok": ok,
                "loadavg": [round(x, 2) for x in os.getloadavg()],
                "n": n,
                "workers": args.workers,
                "worker_class": worker_class(args.worker_class),
                "database": db_kind.lower(),
                "message_bytes": size,
                "mean_message_bytes": round(mean_size),
                "stock_sink": args.stock_sink,
                "dkim": args.dkim,
                "dkim_verified": signed_ok,
                "pipelining": not args.no_pipelining,
                "pipeline_seconds": round(pipe["seconds"], 4),
                "pipeline_rate": round(pipe_rate, 2),
                "bare_seconds": round(bare["seconds"], 4),
                "bare_rate": round(bare_rate, 2),
                "signed_bare_rate": (
                    round(signed_bare["received"] / signed_bare["seconds"], 2)
                    if signed_bare and signed_bare["seconds"]
                    else None
                ),
                "ratio": round(ratio, 4),
                "worker_cpu_ms_per_msg": round(per_msg(pipe["worker_cpu"]), 4)
                if pipe["worker_cpu"] is not None
                else None,
                "worker_cpu_total_ms_per_msg": round(per_msg(pipe["worker_cpu_total"]), 4),
                "bare_cpu_ms_per_msg": round(per_msg(bare["cpu_seconds"]), 4),
                "received": pipe["received"],
                "missing": pipe["missing"],
                "duplicated": pipe["duplicated"],
                "unexpected": pipe["unexpected"],
                "recorded_sent": st["sent"],
                "status": pipe["status"],
                "bare_received": bare["received"],
                "bare_missing": bare["missing"],
                "bare_duplicated": bare["duplicated"],
            }
        )
    if not ok:
        print(
            "FAILED: messages missing, duplicated or unrecorded, or a signature that fails (see above)", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (Terminated, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): stopped everything it had started", file=sys.stderr)
        raise SystemExit(143) from None
