"""Internationalized addresses (RFC 6530–6533) and what a provider can take of them.

Herald stores addresses as people typed them, so `müller@example.com` and `bob@exämple.com`
arrive here. A non-ASCII domain has an ASCII spelling every server understands (IDNA,
punycode: `bob@xn--exmple-cua.com`); a non-ASCII local part has none, and only travels
through an SMTP server that offers SMTPUTF8. The send path checks `str.isascii()` first
(tens of nanoseconds), so ASCII addresses, nearly all of them, never reach this module.
"""

from functools import lru_cache

import idna

from app.providers import SendResult

# Sentences the marketer reads in the recipient's row: what happened, and that it was not a bounce.
LOCAL_PART_NOT_ASCII = (
    "This address has non-ASCII letters before the @ and the mail server does not accept such "
    "addresses (no SMTPUTF8). Nothing was sent to it; the address was not suppressed."
)
DOMAIN_NOT_IDNA = (
    "The domain of this address is not a valid internationalized domain name, so it cannot be "
    "written in a form mail servers accept. Nothing was sent to it."
)
# A SendResult.failure: the provider cannot take the address at all. Nothing left Herald, and
# it is no bounce (the address may be fine): the recipient fails without a suppression.
UNSUPPORTED = "unsupported"


@lru_cache(maxsize=1024)
def ascii_address(address: str) -> str | None:
    """`address` with its domain in IDNA (punycode) form; None when that cannot be done:
    the local part is not ASCII, or the domain is not a valid IDNA name."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        return None
    if domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return None


def refusal(address: str, provider: str | None = None) -> SendResult:
    """The per-recipient failure for an address a provider cannot take (its reason a sentence)."""
    local = address.rpartition("@")[0]
    if local.isascii():
        return SendResult(False, failure=UNSUPPORTED, detail=DOMAIN_NOT_IDNA)
    if provider is None:
        return SendResult(False, failure=UNSUPPORTED, detail=LOCAL_PART_NOT_ASCII)
    detail = (
        f"This address has non-ASCII letters before the @, and {provider} does not accept such "
        "addresses. Nothing was sent to it; the address was not suppressed. An SMTP provider whose "
        "server offers SMTPUTF8 can send to it."
    )
    return SendResult(False, failure=UNSUPPORTED, detail=detail)


def api_recipient(address: str, provider: str) -> str | SendResult:
    """The address as an HTTP API that takes ASCII addresses only wants it, or the refusal to record."""
    if address.isascii():
        return address
    return ascii_address(address) or refusal(address, provider)
