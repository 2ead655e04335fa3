"""Sending providers: each turns a built message into a hand-off and says how it went."""

from dataclasses import dataclass


@dataclass
class SendResult:
    ok: bool
    provider_message_id: str | None = None
    code: int | None = None
    # permanent: the recipient failed for good; temporary: may succeed later; unknown: hand-off unclear
    failure: str | None = None
    detail: str | None = None
    enhanced: str | None = None  # RFC 3463 enhanced status code, e.g. "5.1.1"


class TransportUnavailable(Exception):
    """Nothing was handed off: the provider could not be reached. Safe to retry later."""
