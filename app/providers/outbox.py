"""The development outbox: every new workspace's first provider, which delivers nothing.

Its transport hands messages to Herald's own development mail catcher (SMTP on
MAILCATCHER_HOST:MAILCATCHER_PORT), which files them under their workspace for the Outbox page,
so a new user sees the whole loop with no account anywhere. Herald makes it; nobody configures it.
"""

from app.providers.smtp import SMTPSettings, SMTPTransport
from app.providers.spec import ProviderSpec, TransportOptions


def make_transport(settings: dict, credentials: dict, options: TransportOptions) -> SMTPTransport:
    return SMTPTransport(SMTPSettings(options.catcher_host, options.catcher_port, timeout=10))


SPEC = ProviderSpec(
    type="outbox",
    label="Development outbox",
    make_transport=make_transport,
    development=True,
)
