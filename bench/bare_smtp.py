"""The floor for a send: N pre-built messages over one reused smtplib connection.

Run by send_bench in a process of its own (as a worker is), so that it does not share a
GIL with the SMTP sink. Prints one JSON line: seconds, CPU seconds, messages.
"""

import argparse
import json
import resource
import smtplib
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--message", required=True, help="file with the raw message to send N times")
    p.add_argument("--mail-from", default="news@shop.bench.example.com")
    p.add_argument("--prefix", default="bare")
    args = p.parse_args(argv)

    raw = Path(args.message).read_bytes()
    rcpts = [f"{args.prefix}{i:07d}@example.com" for i in range(args.n)]  # built before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    conn = smtplib.SMTP(args.host, args.port, timeout=30)
    refused = 0
    try:
        for rcpt in rcpts:
            refused += len(conn.sendmail(args.mail_from, [rcpt], raw))
    finally:
        conn.quit()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps({"messages": args.n, "seconds": seconds, "cpu_seconds": cpu, "refused": refused, "bytes": len(raw)})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
