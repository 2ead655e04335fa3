"""The floor for a send: N pre-built messages over one reused smtplib connection.

Run by send_bench in a process of its own (as a worker is), so that it does not share a
GIL with the SMTP sink. Prints one JSON line: seconds, CPU seconds, messages.

With --sign, each message is first signed the cheapest way a DKIM signer can: a SHA-256 of the
body and one RSA-2048 signature over the headers, prepended as a header (no canonicalization):
the floor of any sender that signs.
"""

import argparse
import base64
import hashlib
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
    p.add_argument("--sign", action="store_true", help="sign each message with a fresh RSA-2048 key first")
    args = p.parse_args(argv)

    raw = Path(args.message).read_bytes()
    sign = _signer() if args.sign else None
    rcpts = [f"{args.prefix}{i:07d}@example.com" for i in range(args.n)]  # built before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    conn = smtplib.SMTP(args.host, args.port, timeout=30)
    refused = 0
    try:
        for rcpt in rcpts:
            refused += len(conn.sendmail(args.mail_from, [rcpt], sign(raw) if sign else raw))
    finally:
        conn.quit()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps({"messages": args.n, "seconds": seconds, "cpu_seconds": cpu, "refused": refused, "bytes": len(raw)})
    )
    return 0


def _signer():
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.hashes import SHA256

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pad, algo = padding.PKCS1v15(), SHA256()

    def sign(message: bytes) -> bytes:
        head, _, body = message.partition(b"\r\n\r\n")
        bh = base64.b64encode(hashlib.sha256(body).digest())
        signature = base64.b64encode(key.sign(head + bh, pad, algo))
        return b"DKIM-Signature: v=1; a=rsa-sha256; bh=" + bh + b"; b=" + signature + b"\r\n" + message

    return sign


if __name__ == "__main__":
    raise SystemExit(main())
