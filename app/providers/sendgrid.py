"""Twilio SendGrid: hand-off through the v3 Mail Send API, and its signed Event Webhook.

Mail Send takes JSON, not MIME, so the built message is split back into fields
(mimeparts). Herald's reference travels as the custom arg `herald_ref`, which SendGrid
merges into the top level of every event about the message (deliverability.md §3.2).
"""

import base64
import binascii
import json
from collections.abc import Mapping
from email.errors import MessageError
from functools import lru_cache

import urllib3
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.providers import BadPayload, ProviderEvent, SendResult, TransportUnavailable, WebhookRejected, bounces, checks
from app.providers.addresses import api_recipient
from app.providers.common import (
    ApiBase,
    angle,
    as_str,
    describe,
    digest,
    epoch_time,
    header,
    hidden_answer,
    loads_or_none,
    lost,
    pool,
    signed_timestamp,
)
from app.providers.mimeparts import MessageParts, split
from app.providers.spec import InvalidSettings, ProviderSpec, api_transport, secret, setting, string

NAME = "SendGrid"
DEFAULT_BASE_URL = "https://api.sendgrid.com"
API_HOSTS = frozenset({"api.sendgrid.com", "api.eu.sendgrid.com"})  # whose error answers are shown
USER_AGENT = "Herald (+sendgrid)"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_CLOCK_SKEW = 600  # seconds; SendGrid documents no tolerance, so we pick one (with sg_event_id dedupe)
# SendGrid sets these itself and refuses them in `headers`.
_RESERVED_HEADERS = frozenset({"x-sg-id", "x-sg-eid"})

# deliverability.md §3.5: SendGrid event name -> normalized event type. `bounce` is refined by its `type`.
EVENT_TYPES = {
    "processed": "send",
    "delivered": "delivery",
    "deferred": "delivery_delay",
    "bounce": "bounce",
    "dropped": "reject",
    "open": "open",
    "click": "click",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
    "group_resubscribe": "resubscribe",
}
# Small fields kept in ProviderEvent.data when present.
_KEPT_FIELDS = ("bounce_classification", "type", "attempt", "asm_group_id", "category", "tls", "url_offset")


class SendGridTransport:
    """Hands messages to SendGrid's Mail Send API over one reused HTTPS connection pool."""

    def __init__(
        self,
        settings: dict,
        credentials: dict,
        *,
        sandbox: bool = False,
        tracking: bool = False,
        timeout: float = 15.0,
        answer_hosts=(),
        ip_pool: str | None = None,
    ):
        settings, credentials = settings or {}, credentials or {}
        self.ip_pool = ip_pool  # the dedicated IP pool its messages leave from (SendGrid's ip_pool_name)
        # answer_hosts: hosts besides the provider's own whose error answers may be shown.
        self.api = ApiBase(settings.get("api_base_url"), DEFAULT_BASE_URL, API_HOSTS, answer_hosts)
        self.base = self.api.url
        self.api_key = credentials.get("api_key") or ""
        self.sandbox = sandbox
        self.tracking = tracking
        self.timeout = timeout
        self.http = pool(timeout)
        self.headers = {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}

    def send(self, mail_from: str, rcpt: str, raw: bytes, ref: str | None = None) -> SendResult:
        """Hand one message to SendGrid; raises TransportUnavailable when nothing was accepted.

        `mail_from` is unused: SendGrid sets the envelope sender (its bounce domain) itself.
        """
        if not self.api_key:
            raise TransportUnavailable("no SendGrid API key configured")
        self.api.require_usable(NAME)
        if not rcpt.isascii():  # SendGrid takes IDNA domains and ASCII local parts only (no SMTPUTF8)
            rcpt = api_recipient(rcpt, NAME)
            if rcpt.__class__ is SendResult:
                return rcpt
        try:
            parts = split(raw)
        except (MessageError, ValueError) as exc:
            return SendResult(False, failure="permanent", detail=f"cannot read the built message: {exc}")
        payload = mail_send_payload(parts, rcpt, ref, sandbox=self.sandbox, tracking=self.tracking)
        if self.ip_pool:
            payload["ip_pool_name"] = self.ip_pool
        try:
            resp = self.http.request(
                "POST", self.base + "/v3/mail/send", json=payload, headers=self.headers, redirect=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return lost(exc, self.timeout, "SendGrid")
        if 200 <= resp.status < 300:  # 202 queued; 200 in sandbox mode (validated, not sent)
            detail = "sandbox: validated, not sent" if self.sandbox else "queued"
            return SendResult(
                True, provider_message_id=resp.headers.get("X-Message-Id"), code=resp.status, detail=detail
            )
        _raise_if_unavailable(resp, self.api.shows_answers)
        return SendResult(False, code=resp.status, failure="permanent", detail=error_text(resp, self.api.shows_answers))

    def check(self) -> None:
        """Raises TransportUnavailable unless the API key works and may send mail (scope mail.send)."""
        if not self.api_key:
            raise TransportUnavailable("no SendGrid API key configured")
        self.api.require_usable(NAME)
        try:
            resp = self.http.request("GET", self.base + "/v3/scopes", headers=self.headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportUnavailable(f"cannot reach SendGrid at {self.base}: {describe(exc)}") from exc
        if resp.status != 200:
            _raise_if_unavailable(resp, self.api.shows_answers)
            raise TransportUnavailable(f"SendGrid answered {resp.status}: {error_text(resp, self.api.shows_answers)}")
        body = loads_or_none(resp.data)
        scopes = body.get("scopes") if isinstance(body, dict) else None
        if not isinstance(scopes, list) or "mail.send" not in scopes:
            raise TransportUnavailable("this SendGrid API key lacks the mail.send permission: give it Mail Send access")

    def close(self) -> None:
        self.http.clear()


def mail_send_payload(parts: MessageParts, rcpt: str, ref: str | None, *, sandbox: bool, tracking: bool) -> dict:
    """The Mail Send v3 JSON for one recipient: text/plain before text/html, as the API requires."""
    to = {"email": rcpt}
    if parts.to_name and parts.to_email.lower() == rcpt.lower():
        to["name"] = parts.to_name
    payload: dict = {
        "personalizations": [{"to": [to]}],
        "from": _address(parts.from_email, parts.from_name),
        "subject": parts.subject,
        "content": [
            {"type": kind, "value": value}
            for kind, value in (("text/plain", parts.text), ("text/html", parts.html))
            if value
        ],
        "mail_settings": {"sandbox_mode": {"enable": sandbox}},
        # Set both ways: an account may have tracking on by default, and Herald tracks itself.
        "tracking_settings": {
            "click_tracking": {"enable": tracking, "enable_text": tracking},
            "open_tracking": {"enable": tracking},
        },
    }
    if parts.reply_to:
        payload["reply_to"] = _address(parts.reply_to, parts.reply_to_name)
    headers = {k: v for k, v in parts.headers.items() if k.lower() not in _RESERVED_HEADERS}
    if headers:
        payload["headers"] = headers
    if ref:
        payload["custom_args"] = {"herald_ref": ref}
    return payload


def _address(email: str, name: str) -> dict:
    return {"email": email, "name": name} if name else {"email": email}


def _raise_if_unavailable(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> None:
    """Raise TransportUnavailable for answers that say nothing was accepted and the message is not at fault.

    5xx and 429 are the provider's state; 401/403 refuse the key (or an unverified sender
    identity); 402 is the account's billing; 404 and 3xx mean a wrong api_base_url; 408 says
    the request never arrived whole. Every recipient would fail the same way, so these fail
    over or wait, never fail the recipient.
    """
    status, text = resp.status, error_text(resp, shown)
    if status >= 500:
        raise TransportUnavailable(f"SendGrid answered {status}: {text}")
    if status == 429:
        after = resp.headers.get("Retry-After") or resp.headers.get("X-RateLimit-Reset")
        raise TransportUnavailable(
            f"SendGrid throttled the request (429): {text}" + (f"; retry after {after}" if after else "")
        )
    if status in (401, 403):
        raise TransportUnavailable(f"SendGrid refused the API key or sender ({status}): {text}")
    if status == 404 or status < 400:
        raise TransportUnavailable(f"SendGrid answered {status}: {text} (check the api_base_url setting)")
    if status in (402, 407, 408):
        raise TransportUnavailable(f"SendGrid answered {status}: {text}")


def error_text(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> str:
    """SendGrid's error messages ("errors": [{"message", "field"}]), or the start of the body;
    only the status unless `shown` (the answer came from SendGrid's own API host)."""
    if not shown:
        return hidden_answer(resp, NAME)
    body = loads_or_none(resp.data)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        messages = []
        for err in body["errors"]:
            if isinstance(err, dict) and err.get("message"):
                field = err.get("field")
                messages.append(f"{err['message']} ({field})" if field else str(err["message"]))
        if messages:
            return "; ".join(messages)
    text = resp.data.decode("utf-8", "replace").strip()
    return text[:300] or resp.reason or f"HTTP {resp.status}"


# Webhooks -------------------------------------------------------------------------------------


def verify_webhook(headers: Mapping, body: bytes, settings: dict, credentials: dict, now: float) -> None:
    """Raises WebhookRejected(403) unless the body carries a valid, fresh SendGrid ECDSA signature."""
    key_text = (settings or {}).get("webhook_public_key")
    if not key_text:
        raise WebhookRejected(
            "no webhook verification key configured: paste the public key SendGrid shows for the "
            "signed Event Webhook into this provider's settings",
            403,
        )
    key = public_key(key_text.strip())
    if key is None:
        raise WebhookRejected("the configured webhook public key is not a P-256 public key (base64 DER or PEM)", 403)
    signature = header(headers, SIGNATURE_HEADER)
    timestamp = header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header", 403)
    stamp = signed_timestamp(timestamp)
    if stamp is None:
        raise WebhookRejected("the webhook timestamp is not a Unix time in seconds", 403)
    if abs(now - stamp) > MAX_CLOCK_SKEW:
        raise WebhookRejected(f"stale webhook timestamp ({stamp:.0f}, now {int(now)})", 403)
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRejected("bad webhook signature", 403) from None


@lru_cache(maxsize=64)
def public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """The key SendGrid shows (base64 DER SubjectPublicKeyInfo), or the same in PEM framing."""
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        return None
    is_p256 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    return key if is_p256 else None


def parse_webhook(headers: Mapping, body: bytes) -> list[ProviderEvent]:
    """The normalized events of one Event Webhook POST (a JSON array); raises BadPayload otherwise."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"SendGrid event webhook body is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise BadPayload(f"SendGrid posts a JSON array of events; this body is a JSON {type(items).__name__}")
    events = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadPayload(f"event {i} of the SendGrid batch is not a JSON object")
        events.append(parse_event(item))
    return events


def parse_event(ev: dict) -> ProviderEvent:
    """One SendGrid event, normalized; an event name we do not know becomes `unknown`, never an error."""
    # SendGrid's documentation writes "processed", some of its payloads "Processed": one event either way.
    name = (as_str(ev.get("event")) or "").strip().lower()
    event_type = EVENT_TYPES.get(name, "unknown")
    kind = (as_str(ev.get("type")) or "").strip().lower() or None
    out = ProviderEvent(
        event_id=as_str(ev.get("sg_event_id")) or "sha256:" + digest(ev),
        event_type=event_type,
        raw_type=f"{name}/{kind}" if name == "bounce" and kind else name,
        email=as_str(ev.get("email")),
        occurred_at=epoch_time(ev.get("timestamp")),
        ref=as_str(ev.get("herald_ref")),
        message_id=angle(as_str(ev.get("smtp-id"))),
        provider_message_id=sg_message_id(as_str(ev.get("sg_message_id"))),
        url=as_str(ev.get("url")),
        user_agent=as_str(ev.get("useragent")),
        ip=as_str(ev.get("ip")),
        machine=ev["sg_machine_open"] if isinstance(ev.get("sg_machine_open"), bool) else None,
        data={k: ev[k] for k in _KEPT_FIELDS if ev.get(k) not in (None, "", [])},
    )
    if name in ("bounce", "deferred", "dropped"):
        _add_failure(out, ev, name, kind)
    elif name == "delivered":
        out.diagnostic = as_str(ev.get("response"))
    return out


def sg_message_id(value: str | None) -> str | None:
    """The X-Message-Id the send API answered, from an event's `sg_message_id`
    (`<x-message-id>.filter<host>-<n>...`): everything before the `.filter` suffix, else before the first dot."""
    value = (value or "").strip()
    if not value:
        return None
    head = value.split(".filter", 1)[0] if ".filter" in value else value.split(".", 1)[0]
    return head or None


def _add_failure(out: ProviderEvent, ev: dict, name: str, kind: str | None) -> None:
    """SMTP code, enhanced code and diagnostic; bounces also get hard|soft|block (deliverability.md §7.2)."""
    text = as_str(ev.get("reason")) or as_str(ev.get("response")) or ""
    out.diagnostic = text or None
    out.smtp_code = bounces.smtp_code(text)
    status = as_str(ev.get("status"))
    out.enhanced = status if status and bounces.ENHANCED_RE.fullmatch(status) else bounces.enhanced_code(text)
    if name == "bounce":
        # A block refuses the sender (IP, content, policy), not the address: never suppress for it.
        out.bounce_type = "block" if kind == "blocked" else bounces.classify(out.smtp_code, out.enhanced, text)


# The provider spec ------------------------------------------------------------------------------


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for SendGrid; raises InvalidSettings naming each wrong field."""
    errors, clean = {}, {}
    if url := checks.base_url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    if key := checks.text(settings.get("webhook_public_key"), 4000):
        if public_key(key) is None:
            errors["settings.webhook_public_key"] = (
                "Paste the verification key SendGrid shows under Mail Settings → Signed Event Webhook."
            )
        clean["webhook_public_key"] = key
    creds = {"api_key": checks.required(errors, "credentials.api_key", credentials.get("api_key"), "Required.")}
    if errors:
        raise InvalidSettings("Please correct the SendGrid settings.", errors)
    return clean, creds


SPEC = ProviderSpec(
    type="sendgrid",
    ip_pools=True,
    spf=lambda settings: "include:sendgrid.net",
    label=NAME,
    blurb="An API key with Mail Send access; events arrive through the signed Event Webhook.",
    icon="send",
    fields=(
        secret(
            "api_key", "API key", required=True, help="Give it Mail Send access.", schema=string(1000, nullable=True)
        ),
        setting(
            "webhook_public_key",
            "Event webhook verification key",
            kind="textarea",
            attrs='rows="3"',
            placeholder="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…",
            help="The public key SendGrid shows when you enable the Signed Event Webhook.",
        ),
        setting(
            "api_base_url",
            "API base URL",
            placeholder=DEFAULT_BASE_URL,
            help="Optional. Empty: SendGrid's public API (https://api.sendgrid.com).",
        ),
    ),
    clean=clean_settings,
    make_transport=api_transport(SendGridTransport),
    verify_webhook=verify_webhook,
    parse_webhook=parse_webhook,
    sandbox_switch=True,
    settings_doc="{api_base_url?, webhook_public_key?}",
    credentials_doc="{api_key}",
)
