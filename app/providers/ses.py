"""Amazon SES (API v2 through boto3): sending raw messages, and reading SES events from SNS.

Sending maps every outcome onto the failover contract of `app.providers`: nothing handed
off (unreachable, throttled, paused, bad credentials, 5xx) raises TransportUnavailable so
the message can go later or through another provider; a refusal about the message is a
permanent failure; a request that went out without an answer is `unknown`, because SES
may have accepted it and sending it again could deliver it twice.

Events arrive as SNS notifications: `app.providers.sns` verifies them and
`app.providers.ses_events` reads them; both are re-exported here, the SES provider surface.
"""

import re
from urllib.parse import urlsplit

from botocore.awsrequest import AWSHTTPConnection, AWSHTTPConnectionPool, AWSHTTPSConnection, AWSHTTPSConnectionPool
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.providers import SendResult, TransportUnavailable, checks
from app.providers.addresses import api_recipient, ascii_address
from app.providers.netguard import BlockedDestination, PeerCheck, base_url_problem, check_resolved
from app.providers.ses_events import parse_webhook
from app.providers.sns import handle_control, make_verifier, verify_webhook
from app.providers.spec import InvalidSettings, ProviderSpec, api_transport, credential, secret, setting, string

# Refusals about the account or the request rather than the message: try later or elsewhere.
_UNAVAILABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "AccessDenied",
    "AccessDeniedException",
    "IncompleteSignature",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidAccessKeyId",
    "NotAuthorized",
    "OptInRequired",
    "ServiceUnavailable",
    "InternalFailure",
}
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
_TOPIC_ARN = re.compile(r"^arn:aws(?:-[a-z]+)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_CONFIGURATION_SET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# SES tag values: letters, digits, _ and - only, at most 256 characters.
_TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Amazon's own endpoints: only their error answers are shown (others may be any service's page).
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
HIDDEN_ANSWER = "the answer's text is shown only from Amazon's own endpoints"


class _CheckedAWSHTTPConnection(PeerCheck, AWSHTTPConnection):
    pass


class _CheckedAWSHTTPSConnection(PeerCheck, AWSHTTPSConnection):
    pass


class _CheckedAWSHTTPPool(AWSHTTPConnectionPool):
    ConnectionCls = _CheckedAWSHTTPConnection


class _CheckedAWSHTTPSPool(AWSHTTPSConnectionPool):
    ConnectionCls = _CheckedAWSHTTPSConnection


_CHECKED_POOLS = {"http": _CheckedAWSHTTPPool, "https": _CheckedAWSHTTPSPool}


class SESTransport:
    """Sends raw messages through SES's SendEmail (v2); one boto3 client per instance, reused.

    `sandbox`: SES has no per-message sandbox flag, so a sandboxed transport sends nothing
    and reports success with detail "sandbox: not sent" and no provider message id.
    `tracking`: accepted and ignored: SES open/click tracking is a configuration-set option,
    not a per-message one.
    Retries are ours: botocore makes exactly one attempt, since retrying after a read
    timeout could send a message twice.
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
        self.settings = settings or {}
        self.credentials = credentials or {}
        endpoint = urlsplit(self.settings.get("endpoint_url") or "https://email.amazonaws.com").hostname or ""
        # answer_hosts: hosts besides Amazon's whose error answers may be shown.
        self.shows_answers = endpoint.endswith(AWS_HOST_SUFFIXES) or endpoint in set(answer_hosts or ())
        self.sandbox = sandbox
        self.tracking = tracking  # no per-message meaning for SES (see the class docstring)
        self.timeout = timeout
        self._client = None

    # -- the client --------------------------------------------------------------------------

    def client(self):
        """The sesv2 client, created on first use (creating one costs tens of milliseconds)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self):
        import boto3  # heavy: imported only by processes that send through SES

        key, secret = self.credentials.get("access_key_id"), self.credentials.get("secret_access_key")
        if not key or not secret:
            raise TransportUnavailable("SES credentials are missing: access_key_id and secret_access_key")
        if not self.settings.get("region"):
            raise TransportUnavailable("SES settings have no region")
        endpoint_url = self.settings.get("endpoint_url") or None
        if endpoint_url and (refusal := base_url_problem(endpoint_url)):
            raise TransportUnavailable(f"the SES endpoint URL is not usable: {refusal}")
        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        try:
            session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret)
            client = session.client(
                "sesv2", region_name=self.settings["region"], endpoint_url=endpoint_url, config=config
            )
        except (BotoCoreError, ValueError) as exc:
            raise TransportUnavailable(f"cannot set up the SES client: {exc}") from exc
        _check_connections(client)
        return client

    def _where(self) -> str:
        return self.settings.get("endpoint_url") or f"SES in {self.settings.get('region')}"

    # -- sending -----------------------------------------------------------------------------

    def send(self, mail_from: str, rcpt: str, raw: bytes, ref: str | None = None) -> SendResult:
        """Hand one raw message to SES for one recipient; `ref` travels as the `herald_ref` tag.

        Raises TransportUnavailable when nothing was handed off; ValueError for a `ref` SES
        would refuse (a bug of ours, which must not count against the recipient).
        """
        if ref is not None and not _TAG_VALUE.fullmatch(ref):
            raise ValueError(f"ref {ref!r} is not a valid SES tag value")
        if not rcpt.isascii():  # SES takes IDNA domains and ASCII local parts only (no SMTPUTF8)
            rcpt = api_recipient(rcpt, "Amazon SES")
            if rcpt.__class__ is SendResult:
                return rcpt
        if self.sandbox:
            return SendResult(True, provider_message_id=None, detail="sandbox: not sent")
        params = {
            "FromEmailAddress": mail_from if mail_from.isascii() else (ascii_address(mail_from) or mail_from),
            "Destination": {"ToAddresses": [rcpt]},
            "Content": {"Raw": {"Data": raw}},
        }
        if ref:
            params["EmailTags"] = [{"Name": "herald_ref", "Value": ref}]
        if self.settings.get("configuration_set"):
            params["ConfigurationSetName"] = self.settings["configuration_set"]
        client = self.client()
        try:
            resp = client.send_email(**params)
        except BotoConnectionError as exc:  # includes connect timeouts and TLS failures: nothing went out
            raise TransportUnavailable(f"cannot reach {self._where()}: {exc}") from exc
        except (BlockedDestination, HTTPClientError) as exc:
            if blocked := _blocked(exc):  # refused before connecting: nothing went out
                raise TransportUnavailable(f"cannot reach {self._where()}: {blocked}") from exc
            # read timeout, connection closed mid-answer: the request went out
            return SendResult(
                False,
                failure="unknown",
                detail=f"no answer from SES within {self.timeout:g} s: it may have accepted the message",
            )
        except ClientError as exc:
            return self._refused(exc)
        except BotoCoreError as exc:  # e.g. an answer botocore cannot parse: the request went out
            return SendResult(False, failure="unknown", detail=f"unreadable answer from SES: {self._said(exc)}")
        if not resp.get("MessageId"):  # SES always names the message it took: this answer is not SES's
            return SendResult(False, failure="unknown", detail="SES answered without a MessageId")
        return SendResult(True, provider_message_id=resp["MessageId"])

    def _refused(self, exc: ClientError) -> SendResult:
        """SES answered with an error: either it is about the message, or nothing was handed off."""
        code, message, status = _error_parts(exc)
        said = self._said(f"{code}: {message}")
        if status >= 500 or status in (401, 403, 429) or code in _UNAVAILABLE_CODES:
            raise TransportUnavailable(f"SES refused the request ({status}) {said}") from exc
        # MessageRejected, MailFromDomainNotVerifiedException, BadRequestException,
        # NotFoundException (an unverified identity) and any other 4xx: this message cannot go.
        return SendResult(False, code=status or None, failure="permanent", detail=said)

    def _said(self, answer) -> str:
        """The answer's text when it came from Amazon's own endpoint (or a trusted host), else a sentence."""
        return str(answer) if self.shows_answers else HIDDEN_ANSWER

    # -- health ------------------------------------------------------------------------------

    def check(self) -> dict:
        """GetAccount: raise TransportUnavailable unless SES answers and sending is enabled.

        Returns the account's facts, for display; callers may ignore them.
        """
        try:
            account = self.client().get_account()
        except BotoConnectionError as exc:
            raise TransportUnavailable(f"cannot reach {self._where()}: {exc}") from exc
        except (BlockedDestination, HTTPClientError) as exc:
            if blocked := _blocked(exc):
                raise TransportUnavailable(f"cannot reach {self._where()}: {blocked}") from exc
            raise TransportUnavailable(f"no answer from SES within {self.timeout:g} s: {exc}") from exc
        except ClientError as exc:
            code, message, status = _error_parts(exc)
            raise TransportUnavailable(f"SES refused GetAccount ({status}) {self._said(f'{code}: {message}')}") from exc
        except BotoCoreError as exc:
            raise TransportUnavailable(f"unreadable answer from SES: {self._said(exc)}") from exc
        quota = account.get("SendQuota") or {}
        facts = {
            "production_access": bool(account.get("ProductionAccessEnabled")),
            "sending_enabled": bool(account.get("SendingEnabled")),
            "enforcement_status": account.get("EnforcementStatus"),
            "max_send_rate": float(quota.get("MaxSendRate") or 0),
            "max_24_hour_send": float(quota.get("Max24HourSend") or 0),
            "sent_last_24_hours": float(quota.get("SentLast24Hours") or 0),
        }
        if not facts["sending_enabled"]:
            raise TransportUnavailable("sending is paused for this SES account")
        return facts

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _check_connections(client) -> None:
    """Every connection the client opens passes netguard's checks (link-local and metadata refused).

    botocore offers no public hook for its connection classes, so its HTTP session's pool
    classes are swapped; should that ever fail, each request's host is checked before it is sent.
    """
    try:
        session = client._endpoint.http_session
        session._pool_classes_by_scheme = _CHECKED_POOLS  # proxy managers made later
        session._manager.pool_classes_by_scheme = _CHECKED_POOLS
    except AttributeError:
        client.meta.events.register("before-send.sesv2", _check_request_host)


def _check_request_host(request, **kwargs) -> None:
    parts = urlsplit(request.url)
    check_resolved(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def _blocked(exc: Exception) -> BlockedDestination | None:
    """The netguard refusal inside a botocore error (it wraps unknown errors in HTTPClientError)."""
    inner = getattr(exc, "kwargs", {}).get("error") if isinstance(exc, HTTPClientError) else exc
    return inner if isinstance(inner, BlockedDestination) else None


def _error_parts(exc: ClientError) -> tuple[str, str, int]:
    error = exc.response.get("Error") or {}
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    return str(error.get("Code") or "Unknown"), str(error.get("Message") or exc), int(status)


# The provider spec ------------------------------------------------------------------------------


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for Amazon SES; raises InvalidSettings naming each wrong field."""
    errors = {}
    region = checks.text(settings.get("region"), 40).lower()
    if not _REGION.match(region):
        errors["settings.region"] = "An AWS region, e.g. us-east-1 or eu-west-1."
    clean = {"region": region}
    if cs := checks.text(settings.get("configuration_set"), 64):
        if not _CONFIGURATION_SET.match(cs):
            errors["settings.configuration_set"] = "Letters, digits, _ and - (the SES configuration set's name)."
        clean["configuration_set"] = cs
    if url := checks.base_url(errors, "settings.endpoint_url", settings.get("endpoint_url")):
        clean["endpoint_url"] = url
    topics = settings.get("topic_arns") or []
    if isinstance(topics, str):
        topics = [t.strip() for t in re.split(r"[\s,]+", topics) if t.strip()]
    if not isinstance(topics, list) or not all(isinstance(t, str) and _TOPIC_ARN.match(t) for t in topics):
        errors["settings.topic_arns"] = "SNS topic ARNs, e.g. arn:aws:sns:us-east-1:123456789012:ses-events."
    elif topics:
        clean["topic_arns"] = topics[:20]
    creds = {
        "access_key_id": checks.required(
            errors, "credentials.access_key_id", credentials.get("access_key_id"), "Required."
        ),
        "secret_access_key": checks.required(
            errors, "credentials.secret_access_key", credentials.get("secret_access_key"), "Required."
        ),
    }
    if errors:
        raise InvalidSettings("Please correct the Amazon SES settings.", errors)
    return clean, creds


SPEC = ProviderSpec(
    type="ses",
    spf=lambda settings: "include:amazonses.com",
    label="Amazon SES",
    blurb="An AWS region and an IAM access key allowed to send; events arrive through an SNS topic.",
    icon="brand-aws",
    fields=(
        setting("region", "Region", required=True, placeholder="us-east-1", width=6),
        setting(
            "configuration_set",
            "Configuration set",
            placeholder="herald-events",
            help="The set whose event destination publishes to your SNS topic.",
            width=6,
        ),
        credential(
            "access_key_id",
            "Access key ID",
            required=True,
            placeholder="AKIA…",
            width=6,
            schema=string(200, nullable=True),
        ),
        secret("secret_access_key", "Secret access key", required=True, width=6, schema=string(200, nullable=True)),
        setting(
            "topic_arns",
            "Allowed topics",
            kind="textarea",
            placeholder="arn:aws:sns:us-east-1:123456789012:ses-events",
            help="SNS topic ARNs, one per line: Herald accepts notifications from these topics only.",
            attrs='rows="3"',
        ),
        setting(
            "endpoint_url",
            "Endpoint URL",
            placeholder="https://email.us-east-1.amazonaws.com",
            help="Optional. Empty: AWS's public endpoint for the region. https:// (http:// only to this machine).",
        ),
    ),
    clean=clean_settings,
    make_transport=api_transport(SESTransport),
    # SES events come as SNS notifications: SNS signs them, and subscribing asks for a confirmation.
    verify_webhook=verify_webhook,
    parse_webhook=parse_webhook,
    webhook_verifier=make_verifier,
    webhook_verifier_config=("SNS_CERT_HOST_PATTERN", "SNS_CA_FILE"),
    handle_control=handle_control,
    sandbox_switch=True,
    tracking_note="Open and click tracking: Herald tracks them itself. SES tracking is an option of the configuration "
    "set; leave it off there, or they count twice.",
    settings_doc="{region, configuration_set?, endpoint_url?, topic_arns?: [SNS topic ARNs allowed to post events]}",
    credentials_doc="{access_key_id, secret_access_key}",
)
