"""Twilio: text messages through the Programmable Messaging REST API, and its webhook signatures.

Herald's one SMS provider (its spec's `channel` is "sms": no email is ever routed through it).
A text is handed off by POSTing a form to `/2010-04-01/Accounts/{AccountSid}/Messages.json` with
HTTP basic auth (account SID and auth token); Twilio answers JSON, and an error answer carries
Twilio's own error code (`{code, message, more_info, status}`), which says whether the number is
at fault (21211 invalid, 21610 replied STOP...) or the account (20003 credentials, 21606 sender).

Twilio signs the requests it makes (status callbacks, inbound texts) with `X-Twilio-Signature`:
base64 HMAC-SHA1, keyed with the auth token, over the URL it called followed by every POST
parameter's name and value in name order (`signature`, `verify_signature`). The routes that
receive them belong to app/services/sms; this module only says how a request is proven.

Sending rates are a property of the sender: a US long code takes about one message a second, a
toll-free number three, a short code a hundred (`sender_rate`), for each number or, with a
messaging service, for the service.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import quote, urlsplit

import urllib3

from app.providers import SmsResult, TransportUnavailable, checks
from app.providers.common import ApiBase, as_str, describe, hidden_answer, loads_or_none, lost, pool
from app.providers.spec import InvalidSettings, ProviderSpec, TransportOptions, credential, secret, setting, string

__all__ = [
    "SPEC",
    "SmsResult",
    "TwilioClient",
    "segment_price",
    "sender_rate",
    "senders",
    "signature",
    "verify_signature",
]

NAME = "Twilio"
DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
# Whose error answers are shown: the global API and Twilio's regional edges.
API_HOSTS = frozenset(
    {"api.twilio.com", "api.dublin.ie1.twilio.com", "api.sydney.au1.twilio.com", "api.ashburn.us1.twilio.com"}
)
USER_AGENT = "Herald (+twilio)"
SIGNATURE_HEADER = "X-Twilio-Signature"

_ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$", re.IGNORECASE)
_SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$", re.IGNORECASE)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")  # 8 to 15 digits after the +
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")  # how people write numbers: +1 (555) 123-4567
_PRICE = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,6})?$")
MAX_FROM_NUMBERS = 100

# sender_type -> (label, messages per second for one sender), Twilio's documented defaults for the US.
SENDER_TYPES = {
    "long_code": ("Long code (1 message/s)", 1),
    "toll_free": ("Toll-free (3/s)", 3),
    "short_code": ("Short code (100/s)", 100),
}
DEFAULT_SENDER_TYPE = "long_code"
MAX_RATE = 1000

# Error codes about this one number or this one text: that text fails for good (the others go on).
RECIPIENT_ERRORS = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21265: "'To' number cannot be a short code",
    21266: "'To' and 'From' are the same number",
    21401: "invalid phone number",
    21408: "sending to this region is not enabled",
    21602: "the message has no body",
    21608: "a trial account texts only verified numbers",
    21610: "the recipient replied STOP (unsubscribed)",
    21612: "'To' number is not reachable by SMS",
    21614: "'To' is not a mobile number",
    21617: "the body is longer than 1600 characters",
}
# Error codes about the account or its senders: every text would fail the same way, so nothing is
# handed off (TransportUnavailable) until someone fixes the setup.
ACCOUNT_ERRORS = {
    20003: "credentials refused",
    20005: "the account is not active",
    20404: "no such account or resource",
    20429: "too many requests",
    21606: "the 'From' number cannot send SMS from this account",
    21611: "the 'From' number has too many queued messages",
    21659: "the 'From' number is not a Twilio number",
    21660: "the 'From' number does not belong to this account",
    21701: "no such messaging service",
    21703: "the messaging service has no phone numbers",
    21704: "the messaging service has no phone numbers",
    21705: "invalid messaging service",
}


class TwilioClient:
    """Hands text messages to Twilio's Messages API over one reused HTTPS connection pool."""

    def __init__(self, settings: dict, credentials: dict, timeout: float = 15.0, answer_hosts=()):
        settings, credentials = settings or {}, credentials or {}
        # answer_hosts: hosts besides Twilio's own whose error answers may be shown (a local test server).
        self.api = ApiBase(settings.get("api_base_url"), DEFAULT_BASE_URL, API_HOSTS, answer_hosts)
        self.account_sid = credentials.get("account_sid") or ""
        auth_token = credentials.get("auth_token") or ""
        self.timeout = timeout
        self.http = pool(timeout)
        self.headers = {
            **urllib3.make_headers(basic_auth=f"{self.account_sid}:{auth_token}"),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._ready = bool(self.account_sid and auth_token)

    def _account_url(self, suffix: str) -> str:
        return f"{self.api.url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}{suffix}"

    def _require_ready(self) -> None:
        if not self._ready:
            raise TransportUnavailable("no Twilio account SID and auth token configured")
        self.api.require_usable(NAME)

    def send_sms(self, to: str, body: str, sender: str, status_callback: str | None = None) -> SmsResult:
        """Hand one text to Twilio; raises TransportUnavailable when nothing was handed off.

        `sender` is a "+…" number (sent as From) or a messaging service's "MG…" SID; `status_callback`
        is where Twilio posts the message's status changes. A read timeout or a connection lost after
        the request went out returns failure "unknown": Twilio may have queued it, never resend it.
        """
        self._require_ready()
        fields = {"To": to, "Body": body, **sender_fields(sender)}
        if status_callback:
            fields["StatusCallback"] = status_callback
        try:
            resp = self.http.request(
                "POST",
                self._account_url("/Messages.json"),
                fields=fields,
                encode_multipart=False,
                headers=self.headers,
                redirect=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            unclear = lost(exc, self.timeout, NAME)  # raises TransportUnavailable when nothing left
            return SmsResult(False, failure="unknown", error_message=unclear.detail)
        return self._result(resp)

    def _result(self, resp: urllib3.BaseHTTPResponse) -> SmsResult:
        body = loads_or_none(resp.data)
        body = body if isinstance(body, dict) else {}
        if resp.status in (200, 201):
            sid = as_str(body.get("sid"))
            if not sid:  # accepted, or a proxy's page: we cannot tell
                detail = f"Twilio answered {resp.status} without a message SID: it may have accepted the message"
                return SmsResult(False, failure="unknown", error_message=detail)
            status = as_str(body.get("status"))
            code = error_code(body.get("error_code"))
            failed = status in ("failed", "undelivered")
            return SmsResult(
                not failed,
                sid=sid,
                status=status,
                segments=_whole(body.get("num_segments")),
                error_code=code,
                error_message=as_str(body.get("error_message")),
                failure="permanent" if failed else None,
            )
        code = error_code(body.get("code"))
        _raise_if_unavailable(resp, code, self.api.shows_answers)
        # Refused: Twilio made no message, so there is no SID and no status of Twilio's to report.
        return SmsResult(
            False, error_code=code, error_message=error_text(resp, self.api.shows_answers), failure="permanent"
        )

    def check(self) -> None:
        """Raises TransportUnavailable unless Twilio accepts the credentials and the account is active."""
        self._require_ready()
        try:
            resp = self.http.request("GET", self._account_url(".json"), headers=self.headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportUnavailable(f"cannot reach Twilio at {self.api.url}: {describe(exc)}") from exc
        body = loads_or_none(resp.data)
        body = body if isinstance(body, dict) else {}
        if resp.status != 200:
            _raise_if_unavailable(resp, error_code(body.get("code")), self.api.shows_answers)
            raise TransportUnavailable(f"Twilio answered {resp.status}: {error_text(resp, self.api.shows_answers)}")
        state = as_str(body.get("status"))
        if state in ("suspended", "closed"):
            raise TransportUnavailable(f"the Twilio account is {state}: it cannot send")

    def close(self) -> None:
        self.http.clear()


def sender_fields(sender: str) -> dict[str, str]:
    """The form fields that name the sender: MessagingServiceSid for "MG…", else From for a "+…" number."""
    if _SERVICE_SID.match(sender or ""):
        return {"MessagingServiceSid": sender}
    if _E164.match(sender or ""):
        return {"From": sender}
    raise ValueError(f"a Twilio sender is a +E.164 number or a messaging service SID, not {sender!r}")


def _raise_if_unavailable(resp: urllib3.BaseHTTPResponse, code: int | None, shown: bool = False) -> None:
    """Raise TransportUnavailable for answers that say nothing was handed off and the text is not at fault.

    5xx and 429 are Twilio's state; 401 refuses the credentials; ACCOUNT_ERRORS are the account's or
    its senders'; 404 and 3xx a wrong account SID or api_base_url. Any other 4xx (400 with 21211,
    21610...) is about this text: permanent.
    """
    status, text = resp.status, error_text(resp, shown)
    if status >= 500:
        raise TransportUnavailable(f"Twilio answered {status}: {text}")
    if status == 429 or code == 20429:
        raise TransportUnavailable(f"Twilio throttled the request (429): {text}")
    if status == 401 or code == 20003:
        raise TransportUnavailable(f"Twilio refused the credentials (account SID and auth token): {text}")
    if status == 403:
        raise TransportUnavailable(f"Twilio refused the request for this account (403): {text}")
    if code in ACCOUNT_ERRORS:
        raise TransportUnavailable(f"Twilio cannot send for this account ({ACCOUNT_ERRORS[code]}): {text}")
    if status == 404:
        raise TransportUnavailable(f"Twilio answered 404: {text} (check the account SID and the api_base_url)")
    if status in (402, 405, 407, 408) or 300 <= status < 400:
        raise TransportUnavailable(f"Twilio answered {status}: {text}")


def error_text(resp: urllib3.BaseHTTPResponse, shown: bool = False) -> str:
    """Twilio's "error 21610 (meaning): message", or the start of the body;
    only the status unless `shown` (the answer came from Twilio's own API host)."""
    if not shown:
        return hidden_answer(resp, NAME)
    body = loads_or_none(resp.data)
    if isinstance(body, dict) and "code" in body:
        code = error_code(body.get("code"))
        meaning = RECIPIENT_ERRORS.get(code) or ACCOUNT_ERRORS.get(code)
        label = f"error {code}" + (f" ({meaning})" if meaning else "")
        return f"{label}: {as_str(body.get('message')) or ''}".strip()[:500]
    text = resp.data.decode("utf-8", "replace").strip()
    return text[:300] or resp.reason or f"HTTP {resp.status}"


def error_code(value) -> int | None:
    """Twilio's numeric error code (an int in JSON, text in a callback's ErrorCode); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = as_str(value)
    return int(text) if text and text.strip().isdigit() and len(text.strip()) < 10 else None


def _whole(value) -> int | None:
    text = as_str(value)
    return int(text) if text and text.isdigit() and len(text) < 6 else None


# Signatures ------------------------------------------------------------------------------------


def _values(params: Mapping, key: str) -> list[str]:
    """Every value of one parameter: a MultiDict's list (werkzeug's request.form), a list, or one value."""
    if hasattr(params, "getlist"):
        values = params.getlist(key)
    else:
        value = params[key]
        values = list(value) if isinstance(value, list | tuple) else [value]
    return [str(v) for v in values]


def signature(auth_token: str, url: str, params: Mapping[str, str | list[str]]) -> str:
    """The X-Twilio-Signature of a request Twilio makes to `url` with these POST parameters.

    As Twilio's "Webhooks security" guide and its own libraries compute it: the URL, then each
    parameter name in sorted order followed by its value (a repeated name: each value, sorted),
    HMAC-SHA1 keyed with the auth token, base64.
    """
    data = url + "".join(key + value for key in sorted(set(params)) for value in sorted(_values(params, key)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port: Twilio's libraries try
    both, since what Twilio signs for an https URL may or may not carry :443."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    if port is not None:
        variants.append(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl())
    elif parts.scheme in ("http", "https") and parts.netloc:
        default = 443 if parts.scheme == "https" else 80
        variants.append(parts._replace(netloc=f"{parts.netloc}:{default}").geturl())
    return variants


def verify_signature(auth_token: str, url: str, params: Mapping[str, str | list[str]], header_value) -> bool:
    """Whether `header_value` (the request's X-Twilio-Signature) signs this URL and these parameters.

    Fails closed: no auth token or no header is False. Each URL variant is compared in constant time.
    """
    if not auth_token or not isinstance(header_value, str) or not header_value.strip():
        return False
    given = header_value.strip().encode()
    matched = False
    for candidate in url_variants(url):
        matched |= hmac.compare_digest(signature(auth_token, candidate, params).encode(), given)
    return matched


# What the sending code reads from the settings --------------------------------------------------


def senders(settings: dict) -> list[str]:
    """Who texts are sent from: the messaging service's SID, or the from numbers."""
    settings = settings or {}
    if settings.get("messaging_service_sid"):
        return [settings["messaging_service_sid"]]
    return list(settings.get("from_numbers") or [])


def sender_rate(settings: dict) -> int:
    """Messages per second for one sender (each number, or the messaging service): the override,
    else the sender type's rate."""
    settings = settings or {}
    override = settings.get("rate_per_second")
    if isinstance(override, int) and not isinstance(override, bool) and override > 0:
        return override
    return SENDER_TYPES.get(settings.get("sender_type"), SENDER_TYPES[DEFAULT_SENDER_TYPE])[1]


def segment_price(settings: dict) -> Decimal | None:
    """The price of one segment, for the estimate before a send; None when not given."""
    raw = (settings or {}).get("price_per_segment")
    return Decimal(raw) if isinstance(raw, str) and _PRICE.match(raw) else None


# The provider spec ------------------------------------------------------------------------------


def _sid(errors: dict, field: str, value, pattern: re.Pattern, example: str) -> str | None:
    """A Twilio SID ("AC" or "MG" and 32 hex digits), written as Twilio writes it; None when empty."""
    raw = checks.text(value, 100)
    if not raw:
        return None
    if not pattern.match(raw):
        errors[field] = f"{example[:2]} followed by 32 hexadecimal digits, e.g. {example}."
        return None
    return raw[:2].upper() + raw[2:].lower()


def clean_numbers(errors: dict, value) -> list[str]:
    """From numbers as a list of "+<digits>" (E.164): one per line or separated by commas, or a JSON list."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items = [item for item in re.split(r"[\n,;]+", value) if item.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        errors["settings.from_numbers"] = "A list of phone numbers in E.164, e.g. +15551234567."
        return []
    numbers = []
    for item in items:
        number = _NUMBER_PUNCTUATION.sub("", item)
        if not _E164.match(number):
            shown = " ".join(item.split())[:40]
            errors["settings.from_numbers"] = (
                f"“{shown}” is not an E.164 number: + then 8 to 15 digits, e.g. +15551234567."
            )
            return []
        if number not in numbers:
            numbers.append(number)
    if len(numbers) > MAX_FROM_NUMBERS:
        errors["settings.from_numbers"] = f"At most {MAX_FROM_NUMBERS} numbers (a messaging service takes more)."
        return []
    return numbers


def _rate(errors: dict, value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isdigit() and len(text) < 6:
        text = int(text)
    if not isinstance(text, int) or isinstance(text, bool) or not 1 <= text <= MAX_RATE:
        errors["settings.rate_per_second"] = f"A whole number of messages per second, from 1 to {MAX_RATE}."
        return None
    return text


def _price(errors: dict, value) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = format(Decimal(str(text)), "f")
    if not isinstance(text, str) or not _PRICE.match(text):
        errors["settings.price_per_segment"] = "A price such as 0.0083 (up to 6 decimals)."
        return None
    return format(Decimal(text).normalize(), "f")


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for Twilio; raises InvalidSettings naming each wrong field."""
    errors, clean = {}, {}
    if url := checks.base_url(errors, "settings.api_base_url", settings.get("api_base_url")):
        clean["api_base_url"] = url
    service = _sid(
        errors, "settings.messaging_service_sid", settings.get("messaging_service_sid"), _SERVICE_SID, "MG" + "0" * 32
    )
    numbers = clean_numbers(errors, settings.get("from_numbers"))
    if service and numbers:
        why = "Give a messaging service SID or from numbers, not both."
        errors["settings.messaging_service_sid"] = errors["settings.from_numbers"] = why
    elif not service and not numbers and not {"settings.messaging_service_sid", "settings.from_numbers"} & set(errors):
        why = "Give a messaging service SID or at least one from number."
        errors["settings.messaging_service_sid"] = errors["settings.from_numbers"] = why
    if service:
        clean["messaging_service_sid"] = service
    if numbers:
        clean["from_numbers"] = numbers
    sender_type = checks.text(settings.get("sender_type"), 40) or DEFAULT_SENDER_TYPE
    if sender_type not in SENDER_TYPES:
        errors["settings.sender_type"] = f"One of: {', '.join(SENDER_TYPES)}."
    clean["sender_type"] = sender_type
    if (rate := _rate(errors, settings.get("rate_per_second"))) is not None:
        clean["rate_per_second"] = rate
    if (price := _price(errors, settings.get("price_per_segment"))) is not None:
        clean["price_per_segment"] = price
    account_sid = _sid(errors, "credentials.account_sid", credentials.get("account_sid"), _ACCOUNT_SID, "AC" + "0" * 32)
    if account_sid is None and "credentials.account_sid" not in errors:
        errors["credentials.account_sid"] = "Required: the Account SID on your Twilio console (AC…)."
    creds = {
        "account_sid": account_sid,
        "auth_token": checks.required(errors, "credentials.auth_token", credentials.get("auth_token"), "Required."),
    }
    if errors:
        raise InvalidSettings("Please correct the Twilio settings.", errors)
    return clean, creds


def make_transport(settings: dict, credentials: dict, options: TransportOptions) -> TwilioClient:
    return TwilioClient(settings, credentials, timeout=options.timeout, answer_hosts=options.answer_hosts)


SPEC = ProviderSpec(
    type="twilio",
    channel="sms",
    label="Twilio (SMS)",
    blurb="Text messages through your Twilio account: an account SID and auth token, and your numbers.",
    icon="message",
    fields=(
        credential(
            "account_sid",
            "Account SID",
            required=True,
            autocomplete="off",
            placeholder="AC…",
            width=6,
            schema=string(64, nullable=True),
        ),
        secret("auth_token", "Auth token", required=True, width=6, schema=string(200, nullable=True)),
        setting(
            "messaging_service_sid",
            "Messaging service SID",
            placeholder="MG…",
            help="A messaging service picks the sender from its own numbers. Give it, or from numbers — not both.",
        ),
        setting(
            "from_numbers",
            "From numbers",
            kind="textarea",
            attrs='rows="3"',
            placeholder="+15551234567",
            help="Without a messaging service: your Twilio numbers in E.164, one a line or separated by commas.",
        ),
        setting(
            "sender_type",
            "Sender type",
            kind="select",
            choices=tuple((value, label) for value, (label, _) in SENDER_TYPES.items()),
            default=DEFAULT_SENDER_TYPE,
            width=6,
        ),
        setting(
            "rate_per_second",
            "Messages per second",
            kind="number",
            attrs=f'min="1" max="{MAX_RATE}"',
            width=6,
            help="Optional: overrides the sender type's rate, for each number or for the messaging service.",
        ),
        setting(
            "price_per_segment",
            "Price per segment",
            placeholder="0.0083",
            width=6,
            help="Optional, in your account's currency: for the cost estimate before a send.",
        ),
        setting(
            "api_base_url",
            "API base URL",
            placeholder=DEFAULT_BASE_URL,
            width=6,
            help="Optional. Empty: Twilio's public API.",
        ),
    ),
    clean=clean_settings,
    make_transport=make_transport,
    settings_doc=(
        "{api_base_url?, messaging_service_sid? | from_numbers (E.164 numbers: a list, or one a line), "
        "sender_type? (long_code | toll_free | short_code), rate_per_second? (1-1000), price_per_segment? "
        '(e.g. "0.0083")}'
    ),
    credentials_doc="{account_sid, auth_token}",
)
