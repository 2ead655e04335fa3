"""Postmark: hand-off through the /email API, and its webhooks (protected by HTTP basic auth).

Postmark takes JSON, not MIME, so the built message is split back into fields
(mimeparts). Herald's reference travels in `Metadata` as `herald_ref`, which comes back
in every webhook record about the message (deliverability.md §3.4). Postmark does not
sign webhooks: the URL it posts to carries a user name and password, checked here.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.errors import MessageError

import urllib3

from app.providers import BadPayload, ProviderEvent, SendResult, TransportUnavailable, WebhookRejected, bounces, checks
from app.providers.addresses import api_recipient
from app.providers.common import ApiBase, as_str, describe, header, hidden_answer, loads_or_none, lost, pool
from app.providers.mimeparts import MessageParts, split
from app.providers.spec import InvalidSettings, ProviderSpec, api_transport, credential, secret, setting, string

NAME = "Postmark"
DEFAULT_BASE_URL = "https://api.postmarkapp.com"
API_HOSTS = frozenset({"api.postmarkapp.com"})  # whose error answers are shown
DEFAULT_STREAM = "outbound"  # Postmark's default transactional stream; marketing belongs on a broadcast stream
USER_AGENT = "Herald (+postmark)"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # Postmark's limit for a whole message
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Herald webhooks"'}
_STREAM = re.compile(r"^[a-z0-9-]{1,100}$")  # a message stream's ID

# Postmark ErrorCodes that fault the recipient or the message: that one send fails for good.
RECIPIENT_ERRORS = {300: "invalid email request", 406: "inactive recipient (suppressed by Postmark)"}
# ErrorCodes about the account or server setup, not the message: every send would fail the same
# way, so they are TransportUnavailable (fail over, or wait until someone fixes the setup).
ACCOUNT_ERRORS = {
    10: "bad or missing server token",
    100: "maintenance",
    400: "sender signature not found",
    401: "sender signature not confirmed",
    405: "not allowed to send (account out of credits?)",
    412: "account pending approval",
    413: "account may not send",
    429: "rate limit exceeded",
    1235: "message stream not found",
}

# deliverability.md §3.5: RecordType -> normalized type; Bounce records are refined by their Type.
RECORD_TYPES = {
    "Delivery": "delivery",
    "Bounce": "bounce",
    "SpamComplaint": "complaint",
    "Open": "open",
    "Click": "click",
    "SubscriptionChange": "unsubscribe",
}
# Bounce Type -> (normalized type, bounce type); bounce type None on a bounce means "classify the Details".
BOUNCE_TYPES: dict[str, tuple[str, str | None]] = {
    "HardBounce": ("bounce", "hard"),
    "SoftBounce": ("bounce", "soft"),
    "Blocked": ("bounce", "block"),
    "DMARCPolicy": ("bounce", "block"),
    "VirusNotification": ("bounce", None),
    "Unknown": ("bounce", None),  # a bounce Postmark could not classify: deliverability.md §7.2 "undetermined"
    "Transient": ("delivery_delay", None),
    "DnsError": ("delivery_delay", None),
    "OpenRelayTest": ("delivery_delay", None),
    "BadEmailAddress": ("reject", None),
    "ManuallyDeactivated": ("reject", None),
    "Unconfirmed": ("reject", None),
    "SMTPApiError": ("reject", None),
    "TemplateRenderingFailed": ("rendering_failure", None),
    "SpamNotification": ("complaint", None),
    "SpamComplaint": ("complaint", None),
    "Unsubscribe": ("unsubscribe", None),
    "Subscribe": ("resubscribe", None),
    # AutoResponder, AddressChange, ChallengeVerification, InboundError: not bounces -> unknown
}
# The field holding each record's time.
TIME_FIELDS = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "SubscriptionChange": "ChangedAt",
}
_KEPT_FIELDS = (
    "Inactive",
    "CanActivate",
    "TypeCode",
    "Tag",
    "MessageStream",
    "FirstOpen",
    "Platform",
    "ClickLocation",
    "SuppressionReason",
    "Origin",
)


class PostmarkTransport:
    """Hands messages to Postmark's /email API over one reused HTTPS connection pool.

    Postmark has no sandbox flag: with `sandbox`, send() checks the message locally the way
    Postmark would and returns ok with no provider message id and detail "sandbox: not sent",
    without calling /email.
    """

    def __init__(
        self,
        settings: dict,
        credentials: dict,
        *,
        sandbox: bool = False,
        tracking: bool = False,
        timeout: float = 15.0,
        answer_hosts=(),
    ):
        settings, credentials = settings or {}, credentials or {}
        # answer_hosts: hosts besides the provider's own whose error answers may be shown.
        self.api = ApiBase(settings.get("api_base_url"), DEFAULT_BASE_URL, API_HOSTS, answer_hosts)
        self.base = self.api.url
        self.stream = settings.get("message_stream") or DEFAULT_STREAM
        self.token = credentials.get("server_token") or ""
        self.sandbox = sandbox
        self.tracking = tracking
        self.timeout = timeout
        self.http = pool(timeout)
        self.headers = {"X-Postmark-Server-Token": self.token, "Accept": "application/json", "User-Agent": USER_AGENT}

    def send(self, mail_from: str, rcpt: str, raw: bytes, ref: str | None = None) -> SendResult:
        """Hand one message to Postmark; raises TransportUnavailable when nothing was accepted.

        `mail_from` is unused: Postmark sets the envelope sender (its bounce domain) itself.
        """
        if not self.token:
            raise TransportUnavailable("no Postmark server token configured")
        self.api.require_usable(NAME)
        if not rcpt.isascii():  # Postmark takes IDNA domains and ASCII local parts only (no SMTPUTF8)
            rcpt = api_recipient(rcpt, NAME)
            if rcpt.__class__ is SendResult:
                return rcpt
        try:
            parts = split(raw)
        except (MessageError, ValueError) as exc:
            return SendResult(False, failure="permanent", detail=f"cannot read the built message: {exc}")
        if self.sandbox:
            problem = local_problem(parts, rcpt, len(raw))
            if problem:
                return SendResult(False, failure="permanent", detail=f"sandbox: {problem}")
            return SendResult(True, provider_message_id=None, detail="sandbox: not sent")
        payload = email_payload(parts, rcpt, ref, stream=self.stream, tracking=self.tracking)
        try:
            resp = self.http.request("POST", self.base + "/email", json=payload, headers=self.headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return lost(exc, self.timeout, "Postmark")
        body = loads_or_none(resp.data)
        error_code = body.get("ErrorCode") if isinstance(body, dict) else None
        if resp.status == 200 and error_code == 0:
            return SendResult(True, provider_message_id=as_str(body.get("MessageID")), code=200, detail="OK")
        if resp.status == 200 and error_code is None:  # accepted, or a proxy's page: we cannot tell
            detail = "Postmark answered 200 without a readable result: it may have accepted the message"
            return SendResult(False, code=200, failure="unknown", detail=detail)
        _raise_if_unavailable(resp, error_code, self.api.shows_answers)
        return SendResult(False, code=resp.status, failure="permanent", detail=error_text(resp, self.api.shows_answers))

    def check(self) -> None:
        """Raises TransportUnavailable unless the server token is accepted (GET /server)."""
        if not self.token:
            raise TransportUnavailable("no Postmark server token configured")
        self.api.require_usable(NAME)
        try:
            resp = self.http.request("GET", self.base + "/server", headers=self.headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportUnavailable(f"cannot reach Postmark at {self.base}: {describe(exc)}") from exc
        if resp.status != 200:
            body = loads_or_none(resp.data)
            error_code = body.get("ErrorCode") if isinstance(body, dict) else None
            _raise_if_unavailable(resp, error_code, self.api.shows_answers)
            raise TransportUnavailable(f"Postmark answered {resp.status}: {error_text(resp, self.api.shows_answers)}")

    def close(self) -> None:
        self.http.clear()


def email_payload(parts: MessageParts, rcpt: str, ref: str | None, *, stream: str, tracking: bool) -> dict:
    """The /email JSON for one recipient."""
    to_name = parts.to_name if parts.to_email.lower() == rcpt.lower() else ""
    payload: dict = {
        "From": mailbox(parts.from_name, parts.from_email),
        "To": mailbox(to_name, rcpt),
        "Subject": parts.subject,
        "MessageStream": stream,
        # Set both ways: a server may track by default, and Herald tracks itself.
        "TrackOpens": tracking,
        "TrackLinks": "HtmlAndText" if tracking else "None",
    }
    if parts.html:
        payload["HtmlBody"] = parts.html
    if parts.text:
        payload["TextBody"] = parts.text
    if parts.reply_to:
        payload["ReplyTo"] = mailbox(parts.reply_to_name, parts.reply_to)
    if parts.headers:
        payload["Headers"] = [{"Name": k, "Value": v} for k, v in parts.headers.items()]
    if ref:
        payload["Metadata"] = {"herald_ref": ref}
    return payload


def mailbox(name: str, address: str) -> str:
    """ "Name <address>", the name quoted when it holds RFC 5322 specials (Postmark's ErrorCode 300 otherwise)."""
    if not name:
        return address
    if any(c in name for c in '()<>[]:;@\\,."'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def local_problem(parts: MessageParts, rcpt: str, size: int) -> str | None:
    """What Postmark would refuse in this message (ErrorCode 300 and its size limit), or None."""
    if "@" not in (parts.from_email or ""):
        return "the message has no From address"
    if "@" not in rcpt or any(c in rcpt for c in " <>,;"):
        return f"invalid recipient address “{rcpt}”"
    if not parts.html and not parts.text:
        return "the message has neither a text nor an HTML body"
    if size > MAX_MESSAGE_BYTES:
        return f"the message is {size} bytes, over Postmark's {MAX_MESSAGE_BYTES} limit"
    return None


def _raise_if_unavailable(resp: urllib3.BaseHTTPResponse, error_code, shown: bool = False) -> None:
    """Raise TransportUnavailable for answers that say nothing was accepted and the message is not at fault.

    5xx and 429 are Postmark's state; 401/403 refuse the token; the ACCOUNT_ERRORS codes
    (sender signature, credits, stream) are the setup's; 404 and 3xx a wrong api_base_url;
    402/408 billing and a request that never arrived whole. A 422 with any other ErrorCode
    (300 invalid request, 406 inactive recipient, ...) is about this message: permanent.
    """
    status, text = resp.status, error_text(resp, shown)
    if status >= 500:
        raise TransportUnavailable(f"Postmark answered {status}: {text}")
    if status == 429 or error_code == 429:
        raise TransportUnavailable(f"Postmark throttled the request (429): {text}")
    if status in (401, 403):
        raise TransportUnavailable(f"Postmark refused the server token ({status}): {text}")
    if error_code in ACCOUNT_ERRORS:
        raise TransportUnavailable(f"Postmark cannot send for this server ({ACCOUNT_ERRORS[error_code]}): {text}")
    if status == 404:
        raise TransportUnavailable(f"Postmark answered 404: {text} (check the api_base_url setting)")
    if status in (402, 407, 408) or 300 <= status < 400:
        raise TransportUnavailable(f"Postmark answered {status}: {text}")


def error_text(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> str:
    """Postmark's "ErrorCode N: Message", or the start of the body;
    only the status unless `shown` (the answer came from Postmark's own API host)."""
    if not shown:
        return hidden_answer(resp, NAME)
    body = loads_or_none(resp.data)
    if isinstance(body, dict) and "ErrorCode" in body:
        code = body.get("ErrorCode")
        meaning = RECIPIENT_ERRORS.get(code) or ACCOUNT_ERRORS.get(code)
        label = f"ErrorCode {code}" + (f" ({meaning})" if meaning else "")
        return f"{label}: {body.get('Message') or ''}".strip()
    text = resp.data.decode("utf-8", "replace").strip()
    return text[:300] or resp.reason or f"HTTP {resp.status}"


# Webhooks -------------------------------------------------------------------------------------


def verify_webhook(headers: Mapping, body: bytes, settings: dict, credentials: dict, now: float) -> None:
    """Raises WebhookRejected unless the request's basic auth matches the configured webhook user and password.

    401 with a WWW-Authenticate challenge for missing or wrong credentials (Postmark sends the
    ones embedded in the webhook URL); 403 when none are configured (fail closed).
    """
    user = (credentials or {}).get("webhook_username") or ""
    password = (credentials or {}).get("webhook_password") or ""
    if not user or not password:
        raise WebhookRejected(
            "no webhook user name and password configured: set them here and in the Postmark "
            "webhook URL (https://user:password@host/...)",
            403,
        )
    given = _basic_auth(header(headers, "Authorization"))
    if given is None:
        raise WebhookRejected("missing or malformed basic auth", 401, dict(CHALLENGE))
    # Both compared, always: which of the two was wrong must not show in the timing.
    user_ok = hmac.compare_digest(given[0], user.encode())
    password_ok = hmac.compare_digest(given[1], password.encode())
    if not (user_ok & password_ok):
        raise WebhookRejected("wrong webhook user name or password", 401, dict(CHALLENGE))


def _basic_auth(value: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from "Basic base64(user:password)", as bytes; None when absent or malformed."""
    scheme, _, encoded = (value or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None


def parse_webhook(headers: Mapping, body: bytes) -> list[ProviderEvent]:
    """The normalized events of one webhook POST (one JSON record, or an array of them); raises BadPayload otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"Postmark webhook body is not JSON: {exc}") from None
    records = data if isinstance(data, list) else [data]
    events = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadPayload(f"Postmark webhook record {i} is not a JSON object")
        events.append(parse_record(record))
    return events


def parse_record(rec: dict) -> ProviderEvent:
    """One webhook record, normalized; a record type we do not know becomes `unknown`, never an error."""
    record_type = as_str(rec.get("RecordType")) or ""
    kind = as_str(rec.get("Type"))
    event_type = RECORD_TYPES.get(record_type, "unknown")
    geo = rec.get("Geo") if isinstance(rec.get("Geo"), dict) else {}
    metadata = rec.get("Metadata") if isinstance(rec.get("Metadata"), dict) else {}
    out = ProviderEvent(
        event_id=event_id(rec),
        event_type=event_type,
        raw_type=f"{record_type}/{kind}" if record_type == "Bounce" and kind else record_type,
        email=as_str(rec.get("Recipient")) or as_str(rec.get("Email")),
        occurred_at=_when(rec.get(TIME_FIELDS.get(record_type, "ReceivedAt"))),
        ref=as_str(metadata.get("herald_ref")),
        provider_message_id=as_str(rec.get("MessageID")),
        url=as_str(rec.get("OriginalLink")),
        user_agent=as_str(rec.get("UserAgent")),
        ip=as_str(geo.get("IP")),
        data={k: rec[k] for k in _KEPT_FIELDS if rec.get(k) not in (None, "")},
    )
    if record_type == "Bounce":
        _refine_bounce(out, kind, as_str(rec.get("Details")) or as_str(rec.get("Description")))
    elif record_type == "Delivery":
        out.diagnostic = as_str(rec.get("Details"))
    elif record_type == "SubscriptionChange":
        out.event_type = _subscription_type(rec)
    return out


def _refine_bounce(out: ProviderEvent, kind: str | None, details: str | None) -> None:
    """Bounce records by Type (deliverability.md §3.5); hard|soft|block fixed by the Type, else from the Details."""
    out.event_type, bounce_type = BOUNCE_TYPES.get(kind or "", ("unknown", None))
    out.diagnostic = details
    out.smtp_code = bounces.smtp_code(details)
    out.enhanced = bounces.enhanced_code(details)
    if out.event_type == "bounce":
        out.bounce_type = bounce_type or bounces.classify(out.smtp_code, out.enhanced, details)


def _subscription_type(rec: dict) -> str:
    """SubscriptionChange: a manual suppression (the recipient unsubscribed) or its lifting.

    Suppressions for HardBounce or SpamComplaint repeat a Bounce/SpamComplaint record
    already sent with the details, so they stay `unknown` rather than count twice.
    """
    if rec.get("SuppressSending") is False:
        return "resubscribe"
    if rec.get("SuppressSending") is True and rec.get("SuppressionReason") == "ManualSuppression":
        return "unsubscribe"
    return "unknown"


def event_id(rec: dict) -> str:
    """Bounce records have an ID; for the others, a digest of what identifies the record (the same
    record always gives the same id; a second open or click differs by its time, or its link)."""
    record_type = as_str(rec.get("RecordType")) or ""
    if record_type == "Bounce" and rec.get("ID") is not None:
        return str(rec["ID"])
    parts = [
        record_type,
        as_str(rec.get("MessageID")) or "",
        as_str(rec.get("Recipient")) or as_str(rec.get("Email")) or "",
        as_str(rec.get(TIME_FIELDS.get(record_type, "ReceivedAt"))) or "",
        as_str(rec.get("OriginalLink")) or "",
    ]
    if not any(parts[1:4]):  # nothing identifies it: the whole record does
        parts.append(json.dumps(rec, sort_keys=True, default=str))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{record_type or 'Record'}:{as_str(rec.get('MessageID')) or '-'}:{digest}"[:128]


def _when(value) -> datetime | None:
    """Postmark's ISO 8601 times ("2014-08-01T13:28:10-04:00", 7-digit fractions too) as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# The provider spec ------------------------------------------------------------------------------


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for Postmark; raises InvalidSettings naming each wrong field."""
    errors, clean = {}, {}
    if url := checks.base_url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    stream = checks.text(settings.get("message_stream"), 100) or DEFAULT_STREAM
    if not _STREAM.match(stream):
        errors["settings.message_stream"] = "The message stream's ID, e.g. outbound or broadcast."
    clean["message_stream"] = stream
    creds = {
        "server_token": checks.required(
            errors, "credentials.server_token", credentials.get("server_token"), "Required."
        ),
        "webhook_username": checks.text(credentials.get("webhook_username"), 200) or None,
        "webhook_password": checks.text(credentials.get("webhook_password"), 500) or None,
    }
    if bool(creds["webhook_username"]) != bool(creds["webhook_password"]):
        errors["credentials.webhook_password"] = "Give both the webhook username and password, or neither."
    if errors:
        raise InvalidSettings("Please correct the Postmark settings.", errors)
    return clean, creds


SPEC = ProviderSpec(
    type="postmark",
    spf=lambda settings: "include:spf.mtasv.net",
    label=NAME,
    blurb="A server API token; events arrive through Postmark webhooks with basic auth.",
    icon="mailbox",
    fields=(
        secret("server_token", "Server API token", required=True, schema=string(500, nullable=True)),
        setting(
            "message_stream",
            "Message stream",
            placeholder=DEFAULT_STREAM,
            default=DEFAULT_STREAM,
            help="The stream’s ID: outbound for transactional mail, or your broadcast stream for campaigns.",
        ),
        credential(
            "webhook_username", "Webhook username", autocomplete="off", width=6, schema=string(200, nullable=True)
        ),
        secret("webhook_password", "Webhook password", width=6, schema=string(500, nullable=True)),
        setting(
            "api_base_url",
            "API base URL",
            placeholder=DEFAULT_BASE_URL,
            help="Optional. Empty: Postmark's public API.",
        ),
    ),
    clean=clean_settings,
    make_transport=api_transport(PostmarkTransport),
    verify_webhook=verify_webhook,
    parse_webhook=parse_webhook,
    sandbox_switch=True,
    settings_doc="{api_base_url?, message_stream?}",
    credentials_doc="{server_token, webhook_username, webhook_password}",
)
