"""What a provider module declares about itself: its `SPEC`, and the small types a spec is made of.

A spec is the one place a provider type is described: its label and form, the settings and
credentials it keeps and how they are checked, how to build its transport, how its webhooks are
verified and read, and how the API document describes it. `app.providers.registry` collects the
specs; services, pages and the API read them from there, so no other module branches on a type.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass


class InvalidSettings(Exception):
    """A provider's settings or credentials are wrong: `fields` maps `settings.x` / `credentials.x` to why."""

    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.message = message
        self.fields = fields


@dataclass(frozen=True)
class Field:
    """One input of the provider's form, and the setting or credential it fills."""

    name: str
    label: str
    kind: str = "text"  # text | number | textarea | select | secret (a password input, never shown again)
    credential: bool = False  # stored encrypted with the credentials, not in the settings
    required: bool = False  # marked required in the form (the spec's `clean` decides what is)
    placeholder: str = ""
    help: str = ""
    autocomplete: str | None = None
    attrs: str = ""  # extra HTML attributes, e.g. rows="3"
    choices: tuple[tuple[str, str], ...] = ()  # a select's (value, text) pairs
    width: int = 12  # of 12 form columns: narrower fields share a row
    default: object = None  # the value a new provider's form starts with
    empty: object = None  # what an empty input stands for (None: the text as posted)
    strip: bool = True  # a credential pasted with a stray space is trimmed (a password is kept as typed)
    schema: dict | None = None  # its JSON Schema in the API document (None: described in the text only)


def setting(name: str, label: str, **options) -> Field:
    return Field(name, label, **options)


def credential(name: str, label: str, **options) -> Field:
    """A credential that may be shown again (a user name, a key id)."""
    return Field(name, label, credential=True, **options)


def secret(name: str, label: str, **options) -> Field:
    """A credential that is never shown again: a password input, empty on every render."""
    return Field(name, label, kind="secret", credential=True, **options)


def string(max_length: int, description: str = "", nullable: bool = False) -> dict:
    """A string's JSON Schema, as the API document writes every other one."""
    schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    if description:
        schema["description"] = description
    return schema


@dataclass(frozen=True)
class TransportOptions:
    """What the app's configuration and the provider's switches add to its settings when a transport is built."""

    sandbox: bool = False
    tracking: bool = False
    timeout: float = 15.0  # seconds an API has to answer
    answer_hosts: tuple[str, ...] = ()  # hosts besides the provider's own whose error answers may be shown
    catcher_host: str = "127.0.0.1"  # the development mail catcher
    catcher_port: int = 1025
    # The workspace's dedicated IP bound to this provider: where a spec that `binds_source_address`
    # makes its connections leave from (None: wherever the operating system chooses).
    source_address: str | None = None
    # The name the provider knows the workspace's dedicated IP pool by, for a spec with `ip_pools`.
    ip_pool: str | None = None


def api_transport(transport_class) -> Callable:
    """The factory of an API provider's transport: `transport_class(settings, credentials, **options)`."""

    def make(settings: dict, credentials: dict, options: TransportOptions):
        return transport_class(
            settings,
            credentials,
            sandbox=options.sandbox,
            tracking=options.tracking,
            timeout=options.timeout,
            answer_hosts=options.answer_hosts,
            **({"ip_pool": options.ip_pool} if options.ip_pool else {}),
        )

    return make


@dataclass(frozen=True)
class ProviderSpec:
    """One provider type, as its module declares it (`SPEC`)."""

    type: str  # the stored `provider_type`, and the webhook URL's `<type>`
    label: str
    make_transport: Callable  # (settings, credentials, TransportOptions) -> a transport (see app.providers)
    # What it carries: "email" (routing, defaults, pools, IPs and SPF consider only these) or "sms" (texts:
    # its transport has send_sms, and no email is ever routed through it).
    channel: str = "email"
    blurb: str = ""  # one line on the "Add a provider" page
    icon: str = "server"  # a Tabler icon name
    fields: tuple[Field, ...] = ()  # the form's inputs, in order
    # (settings, credentials) -> the clean (settings, credentials) to store; raises InvalidSettings.
    clean: Callable[[dict, dict], tuple[dict, dict]] | None = None
    # Webhooks: verify_webhook(headers, body, settings, credentials, now[, verifier]) raises WebhookRejected;
    # parse_webhook(headers, body) -> list[ProviderEvent] raises BadPayload.
    verify_webhook: Callable | None = None
    parse_webhook: Callable | None = None
    # A checker with state (SNS: certificate cache, connection pool), built from these app settings, one
    # per their values, and handed to verify_webhook and handle_control as `verifier`.
    webhook_verifier: Callable | None = None
    webhook_verifier_config: tuple[str, ...] = ()
    # (body, verifier) -> (summary, log line) for a payload about the subscription rather than events
    # (SNS confirmations), handled instead of parsed; None for an ordinary payload.
    handle_control: Callable[[bytes, object], tuple[dict, str | None] | None] | None = None
    # (headers, body) -> the token the provider signs once per request: one seen before is a replay.
    replay_token: Callable[[Mapping, bytes], str | None] | None = None
    sandbox_switch: bool = False  # the form offers sandbox mode and the provider's own tracking
    tracking_note: str = ""  # said instead of the provider-tracking switch, when tracking is not per message
    # settings -> the SPF term a sending domain publishes so receivers accept this provider's mail
    # ("include:sendgrid.net"); None: nothing to add (the development outbox).
    spf: Callable[[dict], str | None] | None = None
    verp: bool = False  # bounces come back by mail: the envelope sender is a VERP return path on its domain
    development: bool = False  # the development mail catcher: made by Herald, delivers nothing, never a fallback
    # Its connections can leave from a chosen address (TransportOptions.source_address), so a dedicated IP
    # binds to it, one per provider; a provider without it (an API) knows a dedicated IP by its pool's name.
    binds_source_address: bool = False
    # Its API picks a dedicated IP pool by name per message (TransportOptions.ip_pool: the pool_name of
    # the dedicated IP bound to the provider).
    ip_pools: bool = False
    settings_doc: str = ""  # the API document's words for its settings, e.g. "{domain, api_base_url?}"
    credentials_doc: str = ""

    @property
    def supports_webhooks(self) -> bool:
        return self.verify_webhook is not None and self.parse_webhook is not None

    @property
    def creatable(self) -> bool:
        """Added by a person (the form, the API); the development outbox is made by Herald itself."""
        return not self.development

    @property
    def settings_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.credential)

    @property
    def credential_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.credential)

    @property
    def shown_credentials(self) -> tuple[str, ...]:
        """Credentials that may be shown again (user names); every other one is a secret."""
        return tuple(f.name for f in self.credential_fields if f.kind != "secret")

    @property
    def form_rows(self) -> tuple[tuple[Field, ...], ...]:
        """The form's fields in rows: narrow fields side by side until they fill 12 columns."""
        rows, row, used = [], [], 0
        for f in self.fields:
            if row and used + f.width > 12:
                rows.append(tuple(row))
                row, used = [], 0
            row.append(f)
            used += f.width
            if used >= 12:
                rows.append(tuple(row))
                row, used = [], 0
        if row:
            rows.append(tuple(row))
        return tuple(rows)

    @property
    def form_defaults(self) -> dict:
        return {f.name: f.default for f in self.fields if f.default is not None}
