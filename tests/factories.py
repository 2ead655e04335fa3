"""Factories for the tests: each `create_*` makes one kind of thing through the real services
(the code path a view, a job and the API take) and returns the model. They flush; the caller
commits, as a request or a job would (`smtp_campaign` commits, since a worker must see it)."""

from app.extensions import db
from app.models.deliverability import DkimKey, SendingDomain
from app.services.audience import contacts
from app.services.campaigns import drafts
from app.services.content import templates
from app.services.crypto import encrypt_text
from app.services.delivery import dkim, identities, ips, providers
from app.services.platform import workspaces
from tests.conftest import PASSWORD, TEMPLATE_HTML


def create_workspace(name: str = "Acme", owner_email: str = "owner@example.com", password: str = PASSWORD, **kw):
    """A workspace, its owner (who signs in with `password`) and its development outbox."""
    return workspaces.create_workspace(name, owner_email, password, **kw)


def create_list(workspace_id: int, name: str = "Customers"):
    return contacts.create_list(workspace_id, name)


def create_subscribers(workspace_id: int, rows: list[dict], list_id: int | None = None):
    """Import `rows` ({email, name?, attributes?, timezone?}) into the workspace (and a list)."""
    return contacts.import_subscribers(workspace_id, rows, [list_id] if list_id else None)


def people(n: int, email: str = "p{i}@example.com", name: str | None = "P{i}", **attributes) -> list[dict]:
    """`n` import rows numbered from 0: `email` and `name` are patterns over `{i}`."""
    return [
        {
            "email": email.format(i=i),
            **({"name": name.format(i=i)} if name else {}),
            **({"attributes": attributes} if attributes else {}),
        }
        for i in range(n)
    ]


# The name and credentials a provider of each type gets when the test does not care which.
PROVIDER_DEFAULTS = {
    "smtp": ("Local relay", {}),
    "ses": ("Amazon SES", {"access_key_id": "AKIDTEST", "secret_access_key": "secret"}),
    "sendgrid": ("SendGrid", {"api_key": "SG.test-key"}),
    "mailgun": ("Mailgun", {"api_key": "key-test"}),
    "postmark": ("Postmark", {"server_token": "pm-test-token"}),
    "twilio": ("Twilio", {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-test-token"}),
}


def create_provider(
    workspace_id: int,
    provider_type: str,
    settings: dict | None = None,
    credentials: dict | None = None,
    name: str | None = None,
    **options,
):
    """A provider of any type, as its settings form would save it. Without `name` or `credentials`
    it gets the type's in PROVIDER_DEFAULTS; `options`: is_default, limits, priority, sandbox_mode…"""
    default_name, default_credentials = PROVIDER_DEFAULTS[provider_type]
    return providers.create_provider(
        workspace_id,
        name or default_name,
        provider_type,
        settings or {},
        default_credentials if credentials is None else credentials,
        **options,
    )


def create_smtp_provider(workspace_id: int, port: int, name: str = "Local relay", **options):
    """The workspace's default provider: an SMTP server on this machine (`options`: limits, priority…)."""
    options.setdefault("is_default", True)
    return create_provider(workspace_id, "smtp", {"host": "127.0.0.1", "port": port}, {}, name, **options)


def create_template(
    workspace_id: int, subject: str = "Hi {{ subscriber.name }}", html: str = TEMPLATE_HTML, name="Welcome", **fields
):
    return templates.create_template(workspace_id, {"name": name, "subject": subject, "body_html": html, **fields})


def create_campaign(workspace_id: int, template_id: int, list_ids: list[int], provider_id=None, **fields):
    """A draft from Acme <news@shop.example.com>; `fields` override any campaign setting."""
    data = {
        "name": "Spring",
        "template_id": template_id,
        "list_ids": list_ids,
        "from_name": "Acme",
        "from_email": "news@shop.example.com",
        "provider_id": provider_id,
        **fields,
    }
    return drafts.create_campaign(workspace_id, data)


def smtp_campaign(
    workspace, sink, rows: list[dict], template: dict | None = None, provider: dict | None = None, **fields
):
    """A draft campaign to `rows` (a new list) through `sink`, committed: the usual start of a send test.
    `template` and `provider` hold keyword arguments for create_template and create_smtp_provider."""
    lst = create_list(workspace.id, fields.pop("list_name", "Customers"))
    create_subscribers(workspace.id, rows, lst.id)
    prov = create_smtp_provider(workspace.id, sink.port, **(provider or {}))
    tpl = create_template(workspace.id, **(template or {}))
    camp = create_campaign(workspace.id, tpl.id, [lst.id], prov.id, **fields)
    db.session.commit()
    return camp


def txt_zone_line(name: str, value: str, ttl: int = 300) -> str:
    """A zone-file TXT line for `value`, split into quoted strings of at most 255 bytes (RFC 1035 §3.3)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return f"{name.rstrip('.')}. {ttl} IN TXT " + " ".join(f'"{c}"' for c in chunks)


def create_signing_domain(workspace, domain: str = "news.example.com", selector: str = "h1", status: str = "verified"):
    """A sending domain in `status` with a DKIM key that signs (rows written directly: the domains
    service does the verifying). Returns (the domain row, the zone line publishing the key)."""
    pem, public = dkim.generate_key()
    row = SendingDomain(workspace_id=workspace.id, domain=domain, status=status)
    row.keys.append(
        DkimKey(selector=selector, private_key_encrypted=encrypt_text(pem), public_key=public, status="signing")
    )
    db.session.add(row)
    db.session.flush()
    dkim.forget(workspace.id)
    return row, txt_zone_line(f"{selector}._domainkey.{domain}", dkim.record_value(public))


def create_identity(
    workspace_id: int, domain_id: int, email: str = "marketing", display_name: str = "Acme News", reply_to=None
):
    """A sending identity on one of the workspace's domains (`email`: a local part or a full address)."""
    return identities.create_identity(workspace_id, domain_id, email, display_name, reply_to)


def create_dedicated_ip(workspace_id: int, ip_address: str = "5.45.67.89", hostname: str | None = None, **binding):
    """A dedicated IP of the workspace, not yet checked (`binding`: provider_id, pool_name)."""
    return ips.add_ip(workspace_id, ip_address, hostname, binding.get("provider_id"), binding.get("pool_name"))


def create_referral_program(workspace_id: int, **data):
    """An active referral program: 10% off for the referrer, 5 EUR off for the friend, on a first order of at
    least 20 EUR within 30 days (`data` overrides any field)."""
    from app.services.growth import referrals

    values = {
        "name": "Friends",
        "referrer_reward": {"type": "percent", "value": 10},
        "friend_reward": {"type": "fixed", "value": 5, "currency": "EUR"},
        "min_order_amount": 20,
        "currency": "EUR",
        "expiry_days": 30,
        **data,
    }
    return referrals.create_program(workspace_id, values)
