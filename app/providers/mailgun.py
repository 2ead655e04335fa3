"""Mailgun: hand-off of the raw MIME message (messages.mime), and its HMAC-signed webhooks.

Mailgun takes the message exactly as built, so the Message-ID, List-Unsubscribe and every
other header reach the recipient untouched. Herald's reference travels as the custom
variable `v:herald_ref` and comes back in each event's `user-variables` (deliverability.md §3.3).
"""

import email
import hashlib
import hmac
import json
from collections.abc import Mapping
from email import policy
from urllib.parse import parse_qs, quote

import urllib3

from app.providers import BadPayload, ProviderEvent, SendResult, TransportUnavailable, WebhookRejected, bounces, checks
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
from app.providers.spec import InvalidSettings, ProviderSpec, api_transport, secret, setting, string

NAME = "Mailgun"
DEFAULT_BASE_URL = "https://api.mailgun.net"  # the EU region is https://api.eu.mailgun.net
API_HOSTS = frozenset({"api.mailgun.net", "api.eu.mailgun.net"})  # whose error answers are shown
USER_AGENT = "Herald (+mailgun)"
MAX_CLOCK_SKEW = 600  # seconds either way; tokens already seen are refused by the caller (replay_token)

# deliverability.md §3.5 for the JSON webhooks; `failed` is refined by severity and reason (_failure_type).
EVENT_TYPES = {
    "accepted": "send",
    "rejected": "reject",
    "delivered": "delivery",
    "failed": "bounce",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
}
# The legacy (form-encoded) webhooks named their events differently.
LEGACY_EVENT_TYPES = {
    "delivered": "delivery",
    "dropped": "reject",
    "bounced": "bounce",
    "complained": "complaint",
    "unsubscribed": "unsubscribe",
    "clicked": "click",
    "opened": "open",
}


class MailgunTransport:
    """Hands raw messages to Mailgun's messages.mime endpoint over one reused HTTPS connection pool."""

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
        self.ip_pool = ip_pool  # the dedicated IP pool its messages leave from (Mailgun's o:ip-pool)
        # answer_hosts: hosts besides the provider's own whose error answers may be shown.
        self.api = ApiBase(settings.get("api_base_url"), DEFAULT_BASE_URL, API_HOSTS, answer_hosts)
        self.base = self.api.url
        self.domain = (settings.get("domain") or "").strip()
        self.api_key = credentials.get("api_key") or ""
        self.sandbox = sandbox
        self.tracking = tracking
        self.timeout = timeout
        self.http = pool(timeout)
        self.headers = {**urllib3.make_headers(basic_auth=f"api:{self.api_key}"), "User-Agent": USER_AGENT}

    def send(self, mail_from: str, rcpt: str, raw: bytes, ref: str | None = None) -> SendResult:
        """Hand one message to Mailgun; raises TransportUnavailable when nothing was accepted.

        `mail_from` is unused: Mailgun sets the envelope sender (its bounce address) itself.
        """
        self._configured()
        yes_no = "yes" if self.tracking else "no"
        fields: list[tuple] = [
            ("to", rcpt),
            ("message", ("message.eml", raw, "message/rfc822")),
            # Set both ways: a domain may track by default, and Herald tracks itself.
            ("o:tracking", yes_no),
            ("o:tracking-clicks", yes_no),
            ("o:tracking-opens", yes_no),
        ]
        if self.sandbox:
            fields.append(("o:testmode", "yes"))  # accepted and logged, never delivered
        if self.ip_pool:
            fields.append(("o:ip-pool", self.ip_pool))
        if ref:
            fields.append(("v:herald_ref", ref))
        try:
            resp = self.http.request(
                "POST", self._url("messages.mime"), fields=fields, headers=self.headers, redirect=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return lost(exc, self.timeout, "Mailgun")
        if resp.status == 200:
            body = loads_or_none(resp.data)
            mid = body.get("id") if isinstance(body, dict) else None
            detail = body.get("message") if isinstance(body, dict) and self.api.shows_answers else None
            return SendResult(True, provider_message_id=_bare(mid), code=200, detail=detail or "queued")
        _raise_if_unavailable(resp, self.api.shows_answers)
        return SendResult(False, code=resp.status, failure="permanent", detail=error_text(resp, self.api.shows_answers))

    def check(self) -> None:
        """Raises TransportUnavailable unless the key works and the sending domain is active in the account."""
        self._configured()
        try:
            url = f"{self.base}/v3/domains/{quote(self.domain, safe='')}"
            resp = self.http.request("GET", url, headers=self.headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportUnavailable(f"cannot reach Mailgun at {self.base}: {describe(exc)}") from exc
        if resp.status == 404:
            raise TransportUnavailable(
                f"domain {self.domain} not found in this Mailgun account (is the region's api_base_url right?)"
            )
        if resp.status != 200:
            _raise_if_unavailable(resp, self.api.shows_answers)
            raise TransportUnavailable(f"Mailgun answered {resp.status}: {error_text(resp, self.api.shows_answers)}")
        body = loads_or_none(resp.data)
        domain = body.get("domain") if isinstance(body, dict) else None
        state = domain.get("state") if isinstance(domain, dict) else None
        if state in ("unverified", "disabled"):
            raise TransportUnavailable(f"domain {self.domain} is {state} in Mailgun: it cannot send until it is active")

    def close(self) -> None:
        self.http.clear()

    def _url(self, endpoint: str) -> str:
        return f"{self.base}/v3/{quote(self.domain, safe='')}/{endpoint}"

    def _configured(self) -> None:
        if not self.api_key:
            raise TransportUnavailable("no Mailgun API key configured")
        if not self.domain:
            raise TransportUnavailable("no Mailgun sending domain configured")
        self.api.require_usable(NAME)


def _bare(message_id) -> str | None:
    """Mailgun's "<id@domain>" as the bare id, the form its webhooks' message-id header takes."""
    if not isinstance(message_id, str) or not message_id.strip():
        return None
    return message_id.strip().removeprefix("<").removesuffix(">")


def _raise_if_unavailable(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> None:
    """Raise TransportUnavailable for answers that say nothing was accepted and the message is not at fault.

    5xx and 429 are Mailgun's state; 401/403 refuse the key; 402 is the account's billing;
    404 is a domain this account (or this region's api_base_url) does not have; 3xx a wrong
    base URL; 408 a request that never arrived whole. Every recipient would fail the same way.
    """
    status, text = resp.status, error_text(resp, shown)
    if status >= 500:
        raise TransportUnavailable(f"Mailgun answered {status}: {text}")
    if status == 429:
        after = resp.headers.get("Retry-After")
        raise TransportUnavailable(
            f"Mailgun throttled the request (429): {text}" + (f"; retry after {after} s" if after else "")
        )
    if status in (401, 403):
        raise TransportUnavailable(f"Mailgun refused the API key ({status}): {text}")
    if status == 404:
        raise TransportUnavailable(f"Mailgun answered 404: {text} (is the domain in this account and region?)")
    if status in (402, 407, 408) or status < 400:
        raise TransportUnavailable(f"Mailgun answered {status}: {text}")


def error_text(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> str:
    """Mailgun's {"message": ...}, or the start of the body (its 401 is a plain "Forbidden");
    only the status unless `shown` (the answer came from Mailgun's own API host)."""
    if not shown:
        return hidden_answer(resp, NAME)
    body = loads_or_none(resp.data)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    text = resp.data.decode("utf-8", "replace").strip()
    return text[:300] or resp.reason or f"HTTP {resp.status}"


# Webhooks -------------------------------------------------------------------------------------


def verify_webhook(headers: Mapping, body: bytes, settings: dict, credentials: dict, now: float) -> None:
    """Raises WebhookRejected(403) unless the request carries a fresh signature made with the webhook signing key."""
    key = (credentials or {}).get("webhook_signing_key")
    if not key:
        raise WebhookRejected(
            "no webhook signing key configured: paste the HTTP webhook signing key from Mailgun's "
            "dashboard into this provider's credentials",
            403,
        )
    sig = _signature(headers, body)
    if sig is None:
        raise WebhookRejected("no Mailgun signature (timestamp, token, signature) in the request", 403)
    timestamp, token, signature = sig
    stamp = signed_timestamp(timestamp)
    if stamp is None:
        raise WebhookRejected("the webhook timestamp is not a Unix time in seconds", 403)
    if abs(now - stamp) > MAX_CLOCK_SKEW:
        raise WebhookRejected(f"stale webhook timestamp ({timestamp}, now {int(now)})", 403)
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookRejected("bad webhook signature", 403)


def replay_token(headers: Mapping, body: bytes) -> str | None:
    """The signature's token: the caller remembers tokens it has seen and refuses a replayed request."""
    sig = _signature(headers, body)
    return sig[1] if sig else None


def _signature(headers: Mapping, body: bytes) -> tuple[str, str, str] | None:
    """(timestamp, token, signature) from the JSON body's `signature` object or the legacy form fields."""
    data = loads_or_none(body)
    if isinstance(data, dict):
        data = data.get("signature")
    elif data is None:
        data = _form(headers, body)
    if not isinstance(data, dict):
        return None
    values = [data.get(k) for k in ("timestamp", "token", "signature")]
    if not all(isinstance(v, str | int | float) and str(v) for v in values):
        return None
    return str(values[0]), str(values[1]), str(values[2])


def _form(headers: Mapping, body: bytes) -> dict[str, str]:
    """The fields of a legacy webhook: application/x-www-form-urlencoded, or multipart/form-data
    (Mailgun used it when the event carried attachments). First value of each field; files skipped."""
    ctype = header(headers, "Content-Type") or ""
    if ctype.lower().startswith("multipart/form-data"):
        msg = email.message_from_bytes(
            b"Content-Type: " + ctype.encode("latin-1", "replace") + b"\r\n\r\n" + body, policy=policy.HTTP
        )
        fields: dict[str, str] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name or part.get_filename() or name in fields:
                continue
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8", "replace")
        return fields
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def parse_webhook(headers: Mapping, body: bytes) -> list[ProviderEvent]:
    """The normalized event of one webhook POST (JSON, or the legacy form); raises BadPayload otherwise."""
    data = loads_or_none(body)
    if data is None:
        fields = _form(headers, body)
        if not fields.get("event"):
            raise BadPayload(
                "not a Mailgun webhook: the body is neither JSON with an event-data object "
                "nor a legacy form with an event field"
            )
        return [parse_legacy_event(fields)]
    if not isinstance(data, dict):
        raise BadPayload(f"Mailgun posts one JSON object per event; this body is a JSON {type(data).__name__}")
    event_data = data.get("event-data")
    if not isinstance(event_data, dict):
        raise BadPayload("the Mailgun webhook JSON has no event-data object")
    return [parse_event(event_data)]


def parse_event(ed: dict) -> ProviderEvent:
    """One JSON webhook's event-data, normalized; an event we do not know becomes `unknown`, never an error."""
    name = as_str(ed.get("event")) or ""
    severity, reason = as_str(ed.get("severity")), as_str(ed.get("reason"))
    status = ed.get("delivery-status") if isinstance(ed.get("delivery-status"), dict) else {}
    message = ed.get("message") if isinstance(ed.get("message"), dict) else {}
    msg_headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    client = ed.get("client-info") if isinstance(ed.get("client-info"), dict) else {}
    variables = ed.get("user-variables") if isinstance(ed.get("user-variables"), dict) else {}
    event_id, stamp = as_str(ed.get("id")), as_str(ed.get("timestamp"))
    out = ProviderEvent(
        # event-data.id is only unique within a day; with the timestamp it is unique for good.
        event_id=f"{event_id}:{stamp}" if event_id and stamp else "sha256:" + digest(ed),
        event_type=EVENT_TYPES.get(name, "unknown"),
        raw_type="/".join(x for x in (name, severity, reason) if x),
        email=as_str(ed.get("recipient")),
        occurred_at=epoch_time(ed.get("timestamp")),
        ref=as_str(variables.get("herald_ref")),
        message_id=angle(as_str(msg_headers.get("message-id"))),
        provider_message_id=_bare(as_str(msg_headers.get("message-id"))),
        url=as_str(ed.get("url")),
        user_agent=as_str(client.get("user-agent")),
        ip=as_str(ed.get("ip")),
        data=_small(
            {"severity": severity, "reason": reason, "tags": ed.get("tags"), "client_type": client.get("client-type")}
        ),
    )
    if name == "failed":
        _add_failure(out, status, severity, reason)
    elif name == "rejected":
        reject = ed.get("reject") if isinstance(ed.get("reject"), dict) else {}
        out.diagnostic = as_str(reject.get("reason")) or as_str(reject.get("description"))
    elif name == "delivered":
        out.diagnostic = as_str(status.get("message")) or as_str(status.get("description"))
    return out


def _add_failure(out: ProviderEvent, status: dict, severity: str | None, reason: str | None) -> None:
    """`failed`: temporary -> delivery_delay; permanent `suppress-*` -> reject (Mailgun never tried);
    any other permanent failure a bounce, hard|soft|block by the SMTP reply (deliverability.md §7.2)."""
    text = " ".join(t for t in (as_str(status.get("message")), as_str(status.get("description"))) if t)
    code = status.get("code")
    # Mailgun's own codes (605 "previously bounced", 607 ...) are not SMTP replies.
    out.smtp_code = code if isinstance(code, int) and 200 <= code < 600 else bounces.smtp_code(text)
    enhanced = as_str(status.get("enhanced-code"))
    out.enhanced = enhanced if enhanced and bounces.ENHANCED_RE.fullmatch(enhanced) else bounces.enhanced_code(text)
    out.diagnostic = text or None
    if isinstance(code, int) and code != out.smtp_code:
        out.data["code"] = code
    if severity == "temporary":
        out.event_type = "delivery_delay"
    elif reason and reason.startswith("suppress-"):
        out.event_type = "reject"
    else:
        out.event_type = "bounce"
        out.bounce_type = bounces.classify(out.smtp_code, out.enhanced, text)


def parse_legacy_event(fields: dict[str, str]) -> ProviderEvent:
    """One legacy (form-encoded) webhook, normalized. It has no event id: the signature's token is unique."""
    name = fields.get("event", "")
    headers = _legacy_headers(fields.get("message-headers"))
    message_id = fields.get("Message-Id") or fields.get("message-id") or headers.get("message-id")
    token = fields.get("token")
    out = ProviderEvent(
        event_id=f"token:{token}" if token else "sha256:" + digest(fields),
        event_type=LEGACY_EVENT_TYPES.get(name, "unknown"),
        raw_type=f"legacy/{name}",
        email=fields.get("recipient") or None,
        occurred_at=epoch_time(fields.get("timestamp")),
        ref=fields.get("herald_ref") or None,  # custom variables arrive as fields of their own
        message_id=angle(message_id),
        provider_message_id=_bare(message_id),
        url=fields.get("url") or None,
        user_agent=fields.get("user-agent") or None,
        ip=fields.get("ip") or None,
        data=_small({"reason": fields.get("reason"), "description": fields.get("description")}),
    )
    if name in ("bounced", "dropped"):
        text = " ".join(t for t in (fields.get("error"), fields.get("notification"), fields.get("description")) if t)
        code = str(fields.get("code", ""))  # '²' is a digit to isdigit() but no number to int()
        known = len(code) == 3 and code.isascii() and code.isdigit() and 200 <= int(code) < 600
        out.smtp_code = int(code) if known else bounces.smtp_code(text)
        out.enhanced = bounces.enhanced_code(text)
        out.diagnostic = text or None
        # A drop for "old" means Mailgun gave up after temporary failures: a soft bounce, not a refusal.
        if name == "bounced" or fields.get("reason") == "old":
            out.event_type = "bounce"
            out.bounce_type = bounces.classify(out.smtp_code, out.enhanced, text)
    return out


def _legacy_headers(value: str | None) -> dict[str, str]:
    """The legacy `message-headers` field: a JSON list of [name, value] pairs, names lowercased."""
    try:
        pairs = json.loads(value or "[]")
    except ValueError:
        return {}
    return (
        {str(p[0]).lower(): str(p[1]) for p in pairs if isinstance(p, list) and len(p) == 2}
        if isinstance(pairs, list)
        else {}
    )


def _small(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


# The provider spec ------------------------------------------------------------------------------


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for Mailgun; raises InvalidSettings naming each wrong field."""
    errors = {}
    domain = checks.text(settings.get("domain"), 253).lower()
    if not checks.HOST_NAME.match(domain or "-"):
        errors["settings.domain"] = "Your Mailgun sending domain, e.g. mg.example.com."
    clean = {"domain": domain}
    if url := checks.base_url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    creds = {
        "api_key": checks.required(errors, "credentials.api_key", credentials.get("api_key"), "Required."),
        "webhook_signing_key": checks.text(credentials.get("webhook_signing_key"), 500) or None,
    }
    if errors:
        raise InvalidSettings("Please correct the Mailgun settings.", errors)
    return clean, creds


SPEC = ProviderSpec(
    type="mailgun",
    ip_pools=True,
    spf=lambda settings: "include:mailgun.org",
    label=NAME,
    blurb="Your sending domain and a private API key; events arrive through Mailgun webhooks.",
    icon="mail-bolt",
    fields=(
        setting("domain", "Sending domain", required=True, placeholder="mg.example.com"),
        secret("api_key", "API key", required=True, width=6, schema=string(1000, nullable=True)),
        secret("webhook_signing_key", "HTTP webhook signing key", width=6, schema=string(500, nullable=True)),
        setting(
            "api_base_url",
            "API base URL",
            placeholder=DEFAULT_BASE_URL,
            help="Optional. For a domain in the EU region use https://api.eu.mailgun.net.",
        ),
    ),
    clean=clean_settings,
    make_transport=api_transport(MailgunTransport),
    verify_webhook=verify_webhook,
    parse_webhook=parse_webhook,
    replay_token=replay_token,
    sandbox_switch=True,
    settings_doc="{domain, api_base_url?}",
    credentials_doc="{api_key, webhook_signing_key}",
)
