"""Amazon SNS over HTTPS: prove a message comes from SNS, and confirm subscriptions.

SES publishes its events through an SNS topic that POSTs JSON to our webhook. Anyone can
POST that shape, so every message is checked as deliverability.md §3.1 describes: the
signing certificate's URL must be an SNS host over https (checked before anything is
fetched), the certificate is fetched from there (TLS-verified, no redirects, cached), and
the signature over the canonical string is verified with its RSA key. A valid signature
proves the message came from SNS, not that the topic is ours: `verify_webhook` also
checks the TopicArn against the provider's allow-list.
"""

import base64
import binascii
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import urllib3
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.providers import WebhookRejected
from app.providers.common import header

# AWS's own JavaScript validator uses this pattern for SigningCertURL hosts.
DEFAULT_HOST_PATTERN = r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$"

MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# The fields of the string to sign, in the order SNS signs them (absent ones are skipped).
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_OPTIONAL_FIELDS = {"Subject"}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

CACHE_SIZE = 32
CACHE_SECONDS = 24 * 3600
MAX_CERT_BYTES = 64 * 1024  # a signing certificate is ~2 KB: never read an unbounded body
MAX_ANSWER_BYTES = 64 * 1024


class SubscriptionConfirmationFailed(Exception):
    """SNS did not confirm the subscription (bad URL, network error, unexpected answer)."""


def _ca_bundle(ca_file: str | None) -> str | None:
    """The CA file for fetching from SNS: the given one, certifi's, or None (the system store)."""
    if ca_file:
        return ca_file
    try:
        import certifi
    except ImportError:  # not a pinned dependency: the system trust store is fine too
        return None
    return certifi.where()


class SNSVerifier:
    """Verifies SNS message signatures; keeps the signing certificates it fetched.

    One instance is meant to live for the process (the certificate cache is per instance
    and thread-safe). `host_pattern` and `ca_file` exist so tests can serve certificates
    from a local https server; production keeps the defaults.
    """

    def __init__(self, host_pattern: str = DEFAULT_HOST_PATTERN, ca_file: str | None = None, timeout: float = 5.0):
        self.host_pattern = host_pattern
        self._host_re = re.compile(host_pattern)
        self.timeout = timeout
        self.pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=_ca_bundle(ca_file),
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
        )
        self._certs: OrderedDict[str, tuple[x509.Certificate, float]] = OrderedDict()
        self._lock = threading.Lock()

    # -- the checks -------------------------------------------------------------------------

    def verify(self, message: dict, headers=None, now: float | None = None) -> None:
        """Raise WebhookRejected(reason, 403) unless `message` is signed by SNS.

        Cheap checks run first, so a forged message costs no network round trip. A failure
        to *reach* the certificate host is a 503 instead: the message is not proven false,
        and SNS retries on 5xx but gives up on 4xx.
        """
        kind = message.get("Type")
        if kind not in MESSAGE_TYPES:
            raise WebhookRejected(f"not an SNS message (Type {kind!r})", 403)
        if headers:
            self._check_headers(message, headers)
        algorithm = _HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise WebhookRejected(f"unsupported SignatureVersion {message.get('SignatureVersion')!r}", 403)
        url = self.safe_url(message.get("SigningCertURL"), pem=True)
        to_sign = string_to_sign(message)
        signature = _decode_signature(message.get("Signature"))
        cert = self.certificate(url)
        self._check_validity(cert, time.time() if now is None else now)
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected("the signing certificate has no RSA key", 403)
        try:
            key.verify(signature, to_sign, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise WebhookRejected("the SNS signature does not match the message", 403) from None

    def _check_headers(self, message: dict, headers) -> None:
        """SNS repeats Type and MessageId in headers; a mismatch means someone spliced a body."""
        for name, field in (("x-amz-sns-message-type", "Type"), ("x-amz-sns-message-id", "MessageId")):
            value = header(headers, name)
            if value != message.get(field):
                raise WebhookRejected(f"header {name} ({value!r}) does not match the body's {field}", 403)

    def safe_url(self, url, pem: bool = False) -> str:
        """The URL rebuilt from its checked parts, or WebhookRejected(403) when it is not an SNS URL.

        Parsing (not regex over the raw string) defeats `sns.…amazonaws.com.evil.example` and
        `…amazonaws.com@evil.example`. Userinfo is refused outright. An explicit port other
        than 443 is refused with the default (AWS) pattern; with a custom pattern (tests
        serving from a local port) any port is allowed, since the host already had to match.
        Rebuilding the URL means what we fetch is exactly what we checked.
        """
        if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
            raise WebhookRejected("missing or malformed SNS URL", 403)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise WebhookRejected(f"malformed SNS URL {url!r}", 403) from None
        if parts.scheme != "https":
            raise WebhookRejected(f"SNS URL must be https: {url!r}", 403)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise WebhookRejected(f"SNS URL must not carry user info: {url!r}", 403)
        host = parts.hostname or ""
        if not self._host_re.fullmatch(host):
            raise WebhookRejected(f"SNS URL host {host!r} is not an SNS host", 403)
        if port is not None and port != 443 and self.host_pattern == DEFAULT_HOST_PATTERN:
            raise WebhookRejected(f"SNS URL port {port} is not allowed", 403)
        if pem and not parts.path.endswith(".pem"):
            raise WebhookRejected(f"SigningCertURL is not a .pem file: {url!r}", 403)
        netloc = host if port is None else f"{host}:{port}"
        return urlunsplit(("https", netloc, parts.path or "/", parts.query, ""))

    @staticmethod
    def _check_validity(cert: x509.Certificate, now: float) -> None:
        moment = datetime.fromtimestamp(now, UTC)
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            raise WebhookRejected("the SNS signing certificate is not valid at this time", 403)

    # -- fetching ---------------------------------------------------------------------------

    def certificate(self, url: str) -> x509.Certificate:
        """The certificate at an already checked URL, from the cache or fetched (then cached)."""
        with self._lock:
            hit = self._certs.get(url)
            if hit and hit[1] > time.monotonic():
                self._certs.move_to_end(url)
                return hit[0]
        cert = self._fetch_certificate(url)
        with self._lock:
            self._certs[url] = (cert, time.monotonic() + CACHE_SECONDS)
            self._certs.move_to_end(url)
            while len(self._certs) > CACHE_SIZE:
                self._certs.popitem(last=False)
        return cert

    def _fetch_certificate(self, url: str) -> x509.Certificate:
        status, body = self.get(url, MAX_CERT_BYTES)
        if status != 200:
            raise WebhookRejected(f"fetching the SNS signing certificate answered HTTP {status}", 403)
        try:
            return x509.load_pem_x509_certificate(body)
        except ValueError:
            raise WebhookRejected("the SNS signing certificate is not a PEM certificate", 403) from None

    def get(self, url: str, limit: int) -> tuple[int, bytes]:
        """GET over verified TLS, following no redirect, reading at most `limit` bytes.

        A network failure raises WebhookRejected with status 503: the sender may be genuine.
        """
        try:
            resp = self.pool.request("GET", url, redirect=False, preload_content=False)
            try:
                body = resp.read(limit + 1)
            finally:
                resp.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise WebhookRejected(f"cannot fetch {url}: {exc}", 503) from exc
        if len(body) > limit:
            raise WebhookRejected(f"the answer from {url} is larger than {limit} bytes", 403)
        return resp.status, body


def string_to_sign(message: dict) -> bytes:
    """The canonical `Name\\nValue\\n` string SNS signs for this message type."""
    fields = _SIGNED_FIELDS.get(message.get("Type"))
    if fields is None:
        raise WebhookRejected(f"not an SNS message (Type {message.get('Type')!r})", 403)
    out = []
    for name in fields:
        value = message.get(name)
        if value is None:
            if name in _OPTIONAL_FIELDS:
                continue
            raise WebhookRejected(f"SNS message without {name}", 403)
        if not isinstance(value, str):
            raise WebhookRejected(f"SNS field {name} is not a string", 403)
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def _decode_signature(value) -> bytes:
    if not isinstance(value, str) or not value:
        raise WebhookRejected("SNS message without a Signature", 403)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("the SNS Signature is not base64", 403) from None


_default: SNSVerifier | None = None


def default_verifier() -> SNSVerifier:
    """The process-wide verifier (AWS hosts, certifi's CAs): its certificate cache is shared."""
    global _default
    if _default is None:
        _default = SNSVerifier()
    return _default


def verify_webhook(
    headers, body: bytes, settings: dict, credentials: dict, now: float, verifier: SNSVerifier | None = None
) -> None:
    """Raise WebhookRejected unless the body is an SNS message, signed by SNS, from an expected topic.

    `settings["topic_arns"]` is the allow-list; empty or absent accepts any (signed) topic.
    `credentials` is unused: SNS signs with AWS's key, not ours.
    """
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("not an SNS message", 403) from None
    if not isinstance(message, dict):
        raise WebhookRejected("not an SNS message", 403)
    (verifier or default_verifier()).verify(message, headers, now)
    allowed = (settings or {}).get("topic_arns") or []
    if isinstance(allowed, str):
        allowed = [allowed]
    topic = message.get("TopicArn")
    if allowed and topic not in allowed:
        raise WebhookRejected(f"unexpected topic {topic!r}", 403)


def make_verifier(host_pattern: str | None = None, ca_file: str | None = None) -> SNSVerifier:
    """A verifier for these settings (SNS_CERT_HOST_PATTERN, SNS_CA_FILE); keep it: it caches certificates."""
    return SNSVerifier(host_pattern=host_pattern or DEFAULT_HOST_PATTERN, ca_file=ca_file)


def handle_control(body: bytes, verifier: SNSVerifier) -> tuple[dict, str | None] | None:
    """A verified (Un)SubscriptionConfirmation: confirm it, and say so as (summary, log line); None otherwise.

    The topic was checked when the request came in (verify_webhook), so confirming is safe.
    Raises SubscriptionConfirmationFailed when SNS does not confirm.
    """
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("Type") not in (
        "SubscriptionConfirmation",
        "UnsubscribeConfirmation",
    ):
        return None
    if message["Type"] == "UnsubscribeConfirmation":
        return {"unsubscribe_confirmation": 1}, None
    arn = confirm_subscription(message, verifier)
    return {"subscription_confirmed": 1}, f"SNS subscription confirmed: {arn}"


def confirm_subscription(message: dict, verifier: SNSVerifier) -> str:
    """Visit a *verified* SubscriptionConfirmation's SubscribeURL; return the SubscriptionArn.

    The caller verifies the message (and its topic) first: confirming a subscription to
    somebody else's topic would invite their traffic. Raises SubscriptionConfirmationFailed.
    """
    if message.get("Type") != "SubscriptionConfirmation":
        raise SubscriptionConfirmationFailed(f"not a SubscriptionConfirmation: {message.get('Type')!r}")
    try:
        url = verifier.safe_url(message.get("SubscribeURL"))
        status, body = verifier.get(url, MAX_ANSWER_BYTES)
    except WebhookRejected as exc:
        raise SubscriptionConfirmationFailed(exc.reason) from exc
    if status != 200:
        snippet = body[:300].decode("utf-8", "replace")
        raise SubscriptionConfirmationFailed(f"SNS answered HTTP {status} to the SubscribeURL: {snippet}")
    arn = _subscription_arn(body)
    if not arn:
        raise SubscriptionConfirmationFailed("SNS's answer holds no SubscriptionArn")
    return arn


def _subscription_arn(body: bytes) -> str | None:
    """ConfirmSubscriptionResponse/ConfirmSubscriptionResult/SubscriptionArn, whatever the namespace."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    if local(root.tag) != "ConfirmSubscriptionResponse":
        return None
    for result in root:
        if local(result.tag) == "ConfirmSubscriptionResult":
            for item in result:
                if local(item.tag) == "SubscriptionArn" and item.text:
                    return item.text.strip()
    return None
