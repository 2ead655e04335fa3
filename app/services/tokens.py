"""Signed tokens for public URLs: compact, unguessable, checked in constant time.

A token is `<ids in base 36>.<96-bit HMAC>`; each purpose has its own key, so an open
token can never be replayed as an unsubscribe token.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from flask import current_app

PURPOSES = ("open", "click", "unsubscribe", "view", "preferences", "outbox")


@lru_cache(maxsize=32)
def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), b"herald-token:" + purpose.encode(), hashlib.sha256).digest()


def _b36(n: int) -> str:
    if n < 0:
        raise ValueError("ids are positive")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _sign(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode()


def make_token(purpose: str, *ids: int, secret: str | None = None) -> str:
    """A token carrying `ids` for one purpose."""
    key = _key(secret or current_app.config["SECRET_KEY"], purpose)
    payload = ".".join(_b36(i) for i in ids)
    return f"{payload}.{_sign(key, payload)}"


def read_token(purpose: str, token: str, count: int, secret: str | None = None) -> tuple[int, ...] | None:
    """The ids in a valid token of that purpose, or None for anything else."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != count + 1:
        return None
    payload, sig = ".".join(parts[:-1]), parts[-1]
    key = _key(secret or current_app.config["SECRET_KEY"], purpose)
    if not hmac.compare_digest(_sign(key, payload), sig):
        return None
    try:
        return tuple(int(p, 36) for p in parts[:-1])
    except ValueError:
        return None


class TokenMaker:
    """Tokens for one campaign send without a Flask context on the hot path."""

    def __init__(self, secret: str):
        self.secret = secret
        self._keys = {p: _key(secret, p) for p in PURPOSES}

    def make(self, purpose: str, *ids: int) -> str:
        payload = ".".join(_b36(i) for i in ids)
        return f"{payload}.{_sign(self._keys[purpose], payload)}"
