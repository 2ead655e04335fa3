"""Provider forms <-> the data the providers service takes: the fields every type shares, the
type's own settings and credentials (from its spec), and the form values of a saved provider."""

from app.services.delivery import providers
from app.services.errors import DomainError

NAME_MAX = 200


def whole_number(form, name: str) -> int | None:
    raw = (form.get(name) or "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        raise DomainError(f"{name.replace('_', ' ')} must be a whole number.", {name: "A whole number."}) from None


def common_values(form, default_priority: int | None = None) -> dict:
    """Name, priority, limits and switches: the same for every type (an empty priority: the default)."""
    name = form.get("name") or ""
    # The service would cut a long name silently; a person should hear about it instead.
    if len(name.strip()) > NAME_MAX:
        raise DomainError(f"The name is at most {NAME_MAX} characters.", {"name": f"At most {NAME_MAX} characters."})
    priority = whole_number(form, "priority")
    return {
        "name": name,
        "priority": default_priority if priority is None else priority,
        "max_sends_per_second": whole_number(form, "max_sends_per_second"),
        "max_sends_per_day": whole_number(form, "max_sends_per_day"),
        "sandbox_mode": form.get("sandbox_mode") == "on",
        "provider_tracking": form.get("provider_tracking") == "on",
    }


def settings_values(spec, form) -> dict:
    """The type's settings as posted; an input whose emptiness means something (no TLS) says what."""
    return {
        f.name: form.get(f.name) if f.empty is None else (form.get(f.name) or f.empty) for f in spec.settings_fields
    }


def credential_values(spec, form) -> dict:
    # Keys pasted from a provider's console often carry a stray space; an SMTP password may mean one.
    return {
        f.name: ((form.get(f.name) or "").strip() if f.strip else form.get(f.name)) or None
        for f in spec.credential_fields
    }


def field_errors(errors: dict) -> dict:
    """`settings.region` → `region`: the form's inputs carry the bare names."""
    return {k.split(".")[-1]: v for k, v in errors.items()}


def typed_values(form) -> dict:
    """What the person typed, to show again after an error: everything but the secrets."""
    return {k: v for k, v in form.items() if k not in providers.SECRET_CREDENTIALS and k != "csrf_token"}


def form_values(p) -> dict:
    # A list (SES's topic ARNs) is edited one item a line.
    settings = {k: "\n".join(v) if isinstance(v, list) else v for k, v in (p.settings or {}).items()}
    creds = providers.credentials_summary(p)
    return {
        **settings,
        **{f: creds[f] for f in providers.spec_of(p).shown_credentials if creds.get(f)},
        "name": p.name,
        "priority": p.priority,
        "max_sends_per_second": p.max_sends_per_second,
        "max_sends_per_day": p.max_sends_per_day,
        "sandbox_mode": "on" if p.sandbox_mode else "",
        "provider_tracking": "on" if p.provider_tracking else "",
    }
