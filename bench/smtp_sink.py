"""A counting SMTP sink in a process of its own (used by `send_bench --profile`, so the
profiled process spends nothing on receiving). Runs until SIGTERM, then prints one JSON line.
"""

import argparse
import json
import resource
import signal
import threading

from bench.common import CountingHandler, sink_controller


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--stock", action="store_true", help="aiosmtpd's own line-by-line DATA reader")
    p.add_argument("--no-pipelining", action="store_true", help="leave PIPELINING out of EHLO")
    args = p.parse_args(argv)
    handler = CountingHandler(pipelining=not args.no_pipelining)
    controller = sink_controller(handler, args.port, args.stock)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    controller.start()
    try:
        while not done.wait(0.5):
            pass
    finally:
        controller.stop()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "messages": handler.messages,
                "bytes": handler.bytes,
                "distinct_rcpts": len(handler.rcpts),
                "cpu_seconds": ru.ru_utime + ru.ru_stime,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
