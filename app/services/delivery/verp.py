"""VERP return paths (deliverability.md §7.4): `b+<ref>.<hmac8>@<bounce domain>`.

Each message goes out with an envelope sender that names Herald's reference for it (`c-<campaign
id>-<recipient id>` or `m-<message id>`), so a bounce, a complaint or a reply sent back to that
address says which message it is about without parsing anything. The HMAC stops anyone from
forging a bounce that would suppress a contact of their choosing.
"""

import hashlib
import hmac
import re
from functools import lru_cache

from app.providers.registry import PROVIDERS

_PREFIX = "b+"
# Refs are lower case on purpose: some MTAs fold the local part to lower case, and a ref that
# survives that folding can be verified whatever the relays did to it.
_REF_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SIG_LEN = 8
_SIG_RE = re.compile(r"[0-9a-f]{8}")
# RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
MAX_REF_LEN = 64 - len(_PREFIX) - 1 - _SIG_LEN


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    """A key of its own for return paths, so no other signature of Herald's can pass for one."""
    return hmac.new(secret.encode(), b"herald-verp:return-path", hashlib.sha256).digest()


def _sign(ref: str, secret: str) -> str:
    return hmac.new(_key(secret), ref.encode(), hashlib.sha256).hexdigest()[:_SIG_LEN]


def return_path(ref: str, domain: str, secret: str) -> str:
    """The envelope sender for the message `ref`, at the bounce domain `domain`."""
    if not _REF_RE.fullmatch(ref) or len(ref) > MAX_REF_LEN:
        raise ValueError(f"not a valid ref for a return path: {ref!r}")
    if not domain or "@" in domain or any(c.isspace() for c in domain):
        raise ValueError(f"not a valid bounce domain: {domain!r}")
    return f"{_PREFIX}{ref}.{_sign(ref, secret)}@{domain}"


def read_return_path(address: str, secret: str) -> str | None:
    """The ref in a return path Herald made, or None for anything forged or malformed.

    Any domain is accepted: the signature is what proves the address is ours, and a customer's
    bounce subdomain may point at this listener under any name.
    """
    if not isinstance(address, str) or len(address) > 400:
        return None
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, at, domain = address.rpartition("@")
    if not at or not domain or not local:
        return None
    if not local.isascii():  # before folding: str.lower() maps some non-ASCII letters onto ASCII ones
        return None
    # Safe to fold: refs and signatures are lower case, and "B+" from a folding relay is still ours.
    local = local.lower()
    if not local.startswith(_PREFIX) or len(local) > 64:
        return None
    ref, dot, sig = local[len(_PREFIX) :].rpartition(".")
    if not dot or not _SIG_RE.fullmatch(sig) or not _REF_RE.fullmatch(ref):
        return None
    if not hmac.compare_digest(_sign(ref, secret), sig):
        return None
    return ref


def envelope_domain(provider, bounce_domain: str | None = None) -> str | None:
    """The domain of the VERP return path mail through `provider` gets: the From domain's own
    bounce subdomain (`bounce_domain`, when published and verified) or the provider's
    `return_path_domain`; None when its type does not take bounces by VERP or it has neither."""
    spec = PROVIDERS.get(provider.provider_type)
    if spec is None or not spec.verp:
        return None
    return bounce_domain or (provider.settings or {}).get("return_path_domain") or None


def envelope_sender(provider, from_email: str, ref: str, secret: str, bounce_domain: str | None = None) -> str:
    """The SMTP envelope sender for a message through `provider`: a VERP return path on
    `envelope_domain` when there is one (SPF then aligns with a From on the same organizational
    domain), else the From address."""
    domain = envelope_domain(provider, bounce_domain)
    return return_path(ref, domain, secret) if domain else from_email
