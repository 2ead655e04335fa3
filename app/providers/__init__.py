"""Sending providers: each turns a built message into a hand-off and says how it went, and
turns the provider's webhook payloads into normalized events.

Every provider module offers the same small surface (DESIGN.md: providers import nothing
of the app but these dataclasses):

- a transport class with `send(mail_from, rcpt, raw, ref=None) -> SendResult`, `check()`
  (raises TransportUnavailable with the reason) and `close()`; an SMS provider's (its spec's
  `channel` is "sms") has `send_sms(to, body, sender, status_callback) -> SmsResult` instead of `send`;
- `verify_webhook(headers, body, settings, credentials, now) -> None`, raising WebhookRejected;
- `parse_webhook(headers, body) -> list[ProviderEvent]`, raising BadPayload;
- a `SPEC` (spec.py) that says all of it in one declaration, with its form fields, settings
  checks and transport factory; registry.py collects the specs, and nothing else names a type.
"""

from dataclasses import dataclass, field
from datetime import datetime

from app.event_types import BOUNCE_TYPES, EVENT_TYPES  # noqa: F401  (the vocabulary adapters map onto)


@dataclass
class SendResult:
    ok: bool
    provider_message_id: str | None = None
    code: int | None = None
    # permanent: the recipient failed for good; temporary: may succeed later; unknown: hand-off unclear
    failure: str | None = None
    detail: str | None = None
    enhanced: str | None = None  # RFC 3463 enhanced status code, e.g. "5.1.1"

    def reply(self) -> str | None:
        """What the hand-off answered, as the message trail shows it: "250 2.0.0 Ok: queued as …"."""
        return " ".join(str(part) for part in (self.code, self.detail) if part)[:500] or None


@dataclass
class SmsResult:
    """What the hand-off of one text message answered (an SMS transport's `send_sms`).

    Nothing handed off (unreachable, throttled, credentials refused, 5xx) raises TransportUnavailable
    instead: the text may be sent later. `failure` is "permanent" (this text to this number fails for
    good: e.g. Twilio's 21610, the number replied STOP) or "unknown" (no answer in time after the
    request went out: the provider may deliver it, so it must never be sent again); None when ok.
    """

    ok: bool
    sid: str | None = None  # the provider's message id (Twilio's "SM…")
    status: str | None = None  # the provider's own word: queued, accepted, sent, failed…
    segments: int | None = None  # how many segments the provider counts (and bills)
    error_code: int | None = None  # the provider's error code, e.g. 21610
    error_message: str | None = None
    failure: str | None = None


class TransportUnavailable(Exception):
    """Nothing was handed off: the provider could not be reached, refused the credentials,
    answered 5xx or throttled the request. Safe to retry later, or through another provider."""


@dataclass
class ProviderEvent:
    """One provider event, normalized; the provider's own words stay in `raw_type` and `data`."""

    event_id: str  # the provider's id for this event: processing is idempotent on it
    event_type: str  # one of EVENT_TYPES
    raw_type: str  # the provider's own name, e.g. "Bounce/Permanent/General", "spamreport"
    email: str | None = None
    occurred_at: datetime | None = None
    # Which message: Herald's reference (custom args / tags / VERP), the RFC 5322 Message-ID
    # as sent, and the provider's own message id.
    ref: str | None = None
    message_id: str | None = None
    provider_message_id: str | None = None
    bounce_type: str | None = None  # hard | soft | block, for bounces
    smtp_code: int | None = None  # e.g. 550
    enhanced: str | None = None  # e.g. "5.1.1"
    diagnostic: str | None = None
    url: str | None = None  # clicks
    user_agent: str | None = None
    ip: str | None = None
    machine: bool | None = None  # an open the provider attributes to a machine (e.g. sg_machine_open)
    data: dict = field(default_factory=dict)  # anything else worth keeping, small


class WebhookRejected(Exception):
    """The request is not proven to come from the provider: answer `status`, change nothing."""

    def __init__(self, reason: str, status: int = 403, headers: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers or {}


class BadPayload(Exception):
    """The request is authentic but its body cannot be read as the provider's events."""
