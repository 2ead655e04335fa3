"""Secrets at rest (provider credentials, DKIM private keys), encrypted with a key derived from SECRET_KEY."""

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"herald", info=b"credentials").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_json(value: dict) -> str:
    """Encrypt a JSON-serialisable dict; the result is safe to store."""
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str | None) -> dict:
    """Decrypt what encrypt_json produced; {} when there is nothing stored."""
    if not token:
        return {}
    try:
        return json.loads(_fernet(current_app.config["SECRET_KEY"]).decrypt(token.encode()))
    except InvalidToken as exc:
        raise RuntimeError("stored credentials cannot be decrypted: was SECRET_KEY changed?") from exc


def encrypt_text(value: str) -> str:
    """Encrypt a string (a DKIM private key's PEM); the result is safe to store."""
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    """Decrypt what encrypt_text produced."""
    try:
        return _fernet(current_app.config["SECRET_KEY"]).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored secret cannot be decrypted: was SECRET_KEY changed?") from exc
