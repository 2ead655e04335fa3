"""The checks the providers' settings cleaners share (each provider's `clean` in its own module).

Each check takes the `errors` dict the cleaner fills (`settings.x` / `credentials.x` -> why), so one
answer names every wrong field; the cleaner raises InvalidSettings once at the end.
"""

import re

from app.providers.netguard import base_url_problem

HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def text(value, limit: int = 500) -> str:
    """The value as trimmed text, cut at `limit` ("" for an object or a list)."""
    return str(value or "").strip()[:limit] if not isinstance(value, (dict, list)) else ""


def base_url(errors: dict, field: str, value) -> str | None:
    """An optional API base URL (a regional endpoint, or a server on this machine), without a trailing
    slash: https, no credentials, query or fragment, and never a link-local or metadata address (netguard)."""
    if isinstance(value, str) and len(value.strip()) > 500:
        errors[field] = "At most 500 characters."
        return None
    raw = text(value, 500)
    if not raw:
        return None
    problem = base_url_problem(raw)
    if problem:
        errors[field] = problem
        return None
    return raw.rstrip("/")


def required(errors: dict, field: str, value, message: str) -> str:
    """The value as text, with `message` recorded when it is empty."""
    value = text(value, 2000)
    if not value:
        errors[field] = message
    return value
