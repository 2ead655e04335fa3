"""Signing: the bytes POSTed (compact JSON in the documented key order) and their HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

SIGNATURE_TOLERANCE = 300
PAYLOAD_KEYS = (
    "id",
    "type",
    "occurred_at",
    "created_at",
    "campaign_id",
    "recipient_id",
    "message_id",
    "email",
    "subscriber_id",
    "provider_id",
    "verdict",
    "data",
)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Herald-Signature value for a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE
) -> bool:
    """What a receiver does: recompute the HMAC over the raw body and refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = sign(secret, ts, body).split("v1=", 1)[1]
    # As bytes: compare_digest raises TypeError on non-ASCII text, and a header may carry any.
    return hmac.compare_digest(expected.encode(), parts.get("v1", "").encode("utf-8", "replace"))


def _ordered(payload: dict) -> dict:
    # The documented key order: JSONB stores keys its own way.
    ordered = {k: payload[k] for k in PAYLOAD_KEYS if k in payload}
    ordered.update((k, v) for k, v in payload.items() if k not in ordered)
    return ordered


def payload_bytes(payload: dict) -> bytes:
    """The bytes POSTed (and signed): compact UTF-8 JSON in the documented key order."""
    return json.dumps(_ordered(payload), separators=(",", ":"), ensure_ascii=False, default=str).encode()


def pretty_payload(payload: dict | None) -> str:
    """The payload as the delivery log shows it: the body sent, indented."""
    return json.dumps(_ordered(payload or {}), indent=2, ensure_ascii=False, default=str)
