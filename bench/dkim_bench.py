"""DKIM signing benchmark: the signature on a realistic campaign message, against the bare RSA sign.

    python -m bench.dkim_bench [--messages 2000] [--json]

The message is built as the send pipeline builds it (CompiledMessage.render_encoded of the
bench newsletter, then MessageSkeleton.build with List-Unsubscribe headers): ~20 KB of
quoted-printable HTML and text, a folded RFC 2047 subject and display name. A fresh
message per recipient (different names, cities, links), all built before the clock starts.

Timed, per message, median and p95 over --messages:
- `DkimSigner.sign`: split, canonicalize (relaxed/relaxed), body hash, header hash, RSA-2048
  sign, and the new header in front of the message;
- the RSA-2048 PKCS#1 v1.5 SHA-256 sign of 1 KB alone (`cryptography`), the floor;
- dkimpy's `dkim.sign` of the same message, for scale (--dkimpy-messages of them).

Every signature made in the timed loop is checked afterwards with dkimpy against the public
key: the run fails (exit 1) if one does not verify. No database, Redis or network is needed.
"""

import argparse
import json
import statistics
import time

from bench.common import PREVIEW, SUBJECT, newsletter_html, subscriber_rows


def build_messages(n: int) -> list[bytes]:
    """`n` campaign messages as MessageFactory.build makes them (tokens and links made up)."""
    from app.services.content.mime import MessageSkeleton
    from app.services.content.rendering import CompiledMessage, build_context, extract_links

    html = newsletter_html()
    links = {url: i for i, url in enumerate(extract_links(html), 1)}
    compiled = CompiledMessage(SUBJECT, html, None, PREVIEW, link_ids=links, track_opens=True)
    skeleton = MessageSkeleton(
        "Bench Outfitters – Frühling", "news@shop.bench.example.com", "help@shop.bench.example.com"
    )
    base = "http://herald.bench"
    out = []
    for i, sub in enumerate(subscriber_rows(n)):
        tok = f"{i:07d}.{'x' * 40}"
        ctx = build_context(sub, "Spring collection", f"{base}/u/{tok}", f"{base}/preferences/{tok}", f"{base}/v/{tok}")
        rendered = compiled.render_encoded(
            ctx, link_url=lambda lid, tok=tok: f"{base}/t/c/{tok}.{lid}", pixel_url=f"{base}/t/o/{tok}.gif"
        )
        out.append(
            skeleton.build(
                sub["name"],
                sub["email"],
                rendered.subject,
                rendered.html,
                rendered.text,
                f"<1.{i}.{'ab' * 6}@shop.bench.example.com>",
                {"List-Unsubscribe": f"<{base}/u/{tok}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            )
        )
    return out


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000, help="messages signed (default 2000)")
    p.add_argument("--dkimpy-messages", type=int, default=50, help="messages signed by dkimpy (default 50)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = p.parse_args(argv)
    if args.messages < 1:
        p.error("--messages must be positive")

    import dkim as dkimpy

    from app.services.delivery.dkim import DkimSigner, generate_key, record_value

    pem, public = generate_key()
    record = record_value(public).encode()
    signer = DkimSigner("shop.bench.example.com", "bench1", pem)
    messages = build_messages(args.messages)
    for raw in messages[:20]:  # warm up
        signer.sign(raw)

    signed, sign_times = [], []
    for raw in messages:
        t0 = time.perf_counter()
        out = signer.sign(raw)
        sign_times.append(time.perf_counter() - t0)
        signed.append(out)

    data = messages[0][:1024]
    rsa_times = []
    for _ in range(args.messages):
        t0 = time.perf_counter()
        signer.key.sign(data, signer._pad, signer._hash)
        rsa_times.append(time.perf_counter() - t0)

    dkimpy_times = []
    for raw in messages[: args.dkimpy_messages]:
        t0 = time.perf_counter()
        dkimpy.sign(raw, b"bench1", b"shop.bench.example.com", pem.encode(), canonicalize=(b"relaxed", b"relaxed"))
        dkimpy_times.append(time.perf_counter() - t0)

    def dns(name, timeout=5):
        return record if name == b"bench1._domainkey.shop.bench.example.com." else None

    failed = sum(1 for out in signed if not dkimpy.verify(out, dnsfunc=dns))
    sign_med, sign_p95 = _ms(sign_times)
    rsa_med, rsa_p95 = _ms(rsa_times)
    dkimpy_med, _ = _ms(dkimpy_times) if dkimpy_times else (0.0, 0.0)
    size = statistics.mean(len(m) for m in messages)
    figures = {
        "bench": "dkim",
        "ok": failed == 0,
        "messages": args.messages,
        "message_bytes": round(size),
        "sign_median_ms": round(sign_med, 4),
        "sign_p95_ms": round(sign_p95, 4),
        "rsa_median_ms": round(rsa_med, 4),
        "rsa_p95_ms": round(rsa_p95, 4),
        "ratio_to_rsa": round(sign_med / rsa_med, 3) if rsa_med else None,
        "dkimpy_median_ms": round(dkimpy_med, 3),
        "verified": len(signed) - failed,
        "failed": failed,
    }
    print(
        f"DKIM signing: {args.messages:,} campaign messages of {size / 1024:.1f} KB on average, RSA-2048, relaxed/relaxed"
    )
    print(f"{'step':<58}{'median':>10}{'p95':>10}")
    print(f"{'DkimSigner.sign (canonicalize, hash, sign, prepend)':<58}{sign_med:>8.3f}ms{sign_p95:>8.3f}ms")
    print(f"{'RSA-2048 sign of 1 KB alone (cryptography)':<58}{rsa_med:>8.3f}ms{rsa_p95:>8.3f}ms")
    if dkimpy_times:
        print(f"{'dkimpy dkim.sign, ' + str(len(dkimpy_times)) + ' messages':<58}{dkimpy_med:>8.3f}ms")
    print(f"\nsign / bare RSA: {figures['ratio_to_rsa']}x; everything but RSA: {sign_med - rsa_med:.3f} ms a message")
    print(f"verified by dkimpy: {figures['verified']:,} of {len(signed):,}")
    if args.json:
        print(json.dumps(figures))
    if failed:
        print(f"FAILED: {failed} signatures did not verify", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
