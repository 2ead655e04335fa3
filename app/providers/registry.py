"""Every provider type Herald knows, in the order pages and the API list them.

Each provider module declares its own `SPEC` (app/providers/spec.py); this is the one list that
collects them. Adding a provider is adding its module and one line here.
"""

from app.providers import mailgun, outbox, postmark, sendgrid, ses, smtp, twilio
from app.providers.spec import ProviderSpec

PROVIDERS: dict[str, ProviderSpec] = {
    spec.type: spec
    for spec in (smtp.SPEC, ses.SPEC, sendgrid.SPEC, mailgun.SPEC, postmark.SPEC, twilio.SPEC, outbox.SPEC)
}
# What a provider form posted without a type means: the first form, SMTP's, had none.
DEFAULT_TYPE = smtp.SPEC.type


class UnknownProviderType(LookupError):
    """No provider module declares this type."""


def provider_spec(provider_type: str) -> ProviderSpec:
    """The spec of `provider_type`; raises UnknownProviderType naming the known ones."""
    try:
        return PROVIDERS[provider_type]
    except (KeyError, TypeError):  # TypeError: an unhashable value from a JSON body
        raise UnknownProviderType(
            f"No provider type {str(provider_type)[:40]!r}; known: {', '.join(PROVIDERS)}."
        ) from None
