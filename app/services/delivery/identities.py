"""Sending identities: the From addresses of a sending domain (marketing@, support@, noreply@), each
with the display name and the reply-to that go with it.

A campaign or a transactional template picks an identity instead of typing a From. A campaign copies
the identity's from_fields into its own from_name, from_email and reply_to when the identity is chosen
(campaigns.settings): a later change to the identity reaches a draft when it is saved again, never mail
already sent, and deleting the identity leaves the campaigns that used it their copy. A transactional
send of a template that names no From takes the template's identity (transactional).

Whether mail from an address is DKIM-signed depends on its domain's status (`signs`): a From on a domain
that is not verified is allowed, and flagged on the campaign page.
"""

import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import SendingDomain, SendingIdentity, Template
from app.services.audience.contacts import normalize_email
from app.services.delivery import dkim
from app.services.delivery.domains import get_domain
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id

NAME_LENGTH = 200
# Mail from a domain in these states is DKIM-signed (dkim.signer_for); the same states count as verified here.
SIGNED_STATUSES = dkim.SIGNING_DOMAIN_STATES
# Characters that would end a header line (or hide in one): a display name is one line of text.
_LINE_BREAKING = ("Cc", "Zl", "Zp")


def _invalid(field: str, message: str, short: str | None = None) -> ValidationError:
    return ValidationError(message, {field: short or message})


def clean_address(domain: SendingDomain, raw) -> str:
    """`marketing` or `Marketing@News.Example.com` -> `marketing@news.example.com`: an address on `domain`."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise _invalid("email", f"Enter the address to send from, such as marketing@{domain.domain}.", "Required.")
    if "@" not in value:
        value = f"{value}@{domain.domain}"
    try:
        address = normalize_email(value)
    except ValidationError as exc:
        raise _invalid("email", exc.message) from None
    if dkim.from_domain(address) != domain.domain:
        raise _invalid(
            "email",
            f"{address[:100]} is not on {domain.domain}: an identity sends from its own domain.",
            f"Use an address @{domain.domain}.",
        )
    return f"{address.rpartition('@')[0]}@{domain.domain}"


def clean_display_name(raw) -> str:
    """The name recipients see beside the address: required, one line, at most 200 characters."""
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise _invalid("display_name", "Give the identity a display name, such as Acme News.", "Required.")
    if any(unicodedata.category(c) in _LINE_BREAKING for c in name):
        # A line break in a From header would start a header of the sender's choosing.
        raise _invalid("display_name", "The display name must be one line, without control characters.")
    if len(name) > NAME_LENGTH:
        raise _invalid("display_name", f"Keep the display name under {NAME_LENGTH} characters.")
    return name


def clean_reply_to(raw) -> str | None:
    """An optional address replies go to; empty means replies go to the From address."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return normalize_email(raw)
    except ValidationError as exc:
        raise _invalid("reply_to", exc.message) from None


def _workspace_domain(workspace_id: int, domain_id) -> SendingDomain:
    try:
        return get_domain(workspace_id, as_id(domain_id))
    except NotFound:
        raise _invalid("domain_id", "Choose one of this workspace's sending domains.") from None


def _store(identity: SendingIdentity) -> SendingIdentity:
    """Flush, turning the (workspace, email) uniqueness into the same error a person sees for a duplicate."""
    with db.session.no_autoflush:  # a changed address is checked before it is written
        taken = db.session.scalar(
            select(SendingIdentity.id).where(
                SendingIdentity.workspace_id == identity.workspace_id,
                SendingIdentity.email == identity.email,
                SendingIdentity.id != (identity.id or 0),
            )
        )
    duplicate = _invalid("email", f"{identity.email} is already an identity of this workspace.", "Added already.")
    if taken:
        raise duplicate
    try:
        with db.session.begin_nested():  # two requests racing for one address: the second is told so
            db.session.add(identity)
            db.session.flush()
    except IntegrityError:
        raise duplicate from None
    return identity


def create_identity(workspace_id: int, domain_id, email, display_name, reply_to=None) -> SendingIdentity:
    """A From address on one of the workspace's sending domains, with its display name and reply-to."""
    domain = _workspace_domain(workspace_id, domain_id)
    values, errors, messages = {}, {}, []
    for field, clean in (
        ("email", lambda: clean_address(domain, email)),
        ("display_name", lambda: clean_display_name(display_name)),
        ("reply_to", lambda: clean_reply_to(reply_to)),
    ):
        try:
            values[field] = clean()
        except ValidationError as exc:
            errors.update(exc.fields)
            messages.append(exc.message)
    if errors:
        raise ValidationError(messages[0] if len(messages) == 1 else "Please correct the highlighted fields.", errors)
    identity = SendingIdentity(workspace_id=workspace_id, sending_domain_id=domain.id, **values)
    return _store(identity)


def get_identity(workspace_id: int, identity_id) -> SendingIdentity:
    """One of the workspace's identities; another workspace's id answers NotFound."""
    identity = db.session.get(SendingIdentity, as_id(identity_id) or 0)
    if identity is None or identity.workspace_id != workspace_id:
        raise NotFound("No such identity.")
    return identity


def list_identities(workspace_id: int, domain_id: int | None = None) -> list[SendingIdentity]:
    """By address; only one domain's with `domain_id`."""
    query = select(SendingIdentity).where(SendingIdentity.workspace_id == workspace_id)
    if domain_id is not None:
        query = query.where(SendingIdentity.sending_domain_id == domain_id)
    return list(db.session.scalars(query.order_by(SendingIdentity.email)))


def identity_choices(workspace_id: int) -> list[tuple[SendingDomain, list[SendingIdentity]]]:
    """The identities grouped by their domain (alphabetical), for the From select of the forms."""
    rows = db.session.execute(
        select(SendingDomain, SendingIdentity)
        .join(SendingIdentity, SendingIdentity.sending_domain_id == SendingDomain.id)
        .where(SendingDomain.workspace_id == workspace_id)
        .order_by(SendingDomain.domain, SendingIdentity.email)
    ).all()
    groups: dict[int, tuple[SendingDomain, list[SendingIdentity]]] = {}
    for domain, identity in rows:
        groups.setdefault(domain.id, (domain, []))[1].append(identity)
    return list(groups.values())


def update_identity(workspace_id: int, identity_id, changes: dict) -> SendingIdentity:
    """Change the address (on the same domain), display name or reply-to; only the keys given change.

    Campaigns keep the From they copied: a draft takes the new values when it is saved again."""
    identity = get_identity(workspace_id, identity_id)
    domain = db.session.get(SendingDomain, identity.sending_domain_id)
    if "email" in changes:
        identity.email = clean_address(domain, changes["email"])
    if "display_name" in changes:
        identity.display_name = clean_display_name(changes["display_name"])
    if "reply_to" in changes:
        identity.reply_to = clean_reply_to(changes["reply_to"])
    return _store(identity)


def delete_identity(workspace_id: int, identity_id) -> None:
    """Campaigns and templates that used it keep their From (their identity_id becomes null)."""
    db.session.delete(get_identity(workspace_id, identity_id))
    db.session.flush()


def from_fields(identity: SendingIdentity) -> tuple[str, str, str | None]:
    """(from_name, from_email, reply_to) of mail sent as this identity."""
    return identity.display_name, identity.email, identity.reply_to


def template_identity(tpl: Template) -> SendingIdentity | None:
    """The identity a transactional send of this template comes from when the call names no From."""
    return db.session.get(SendingIdentity, tpl.identity_id) if tpl.identity_id else None


def clean_identity_id(workspace_id: int, value) -> int | None:
    """An identity of this workspace by id, or None for none (a setting's cleaner, for campaigns and templates)."""
    if value is None or value == "":
        return None
    try:
        return get_identity(workspace_id, value).id
    except NotFound:
        raise ValidationError("Choose one of this workspace's sending identities.") from None


def sender_domain(workspace_id: int, email) -> SendingDomain | None:
    """The workspace's sending domain that an address is on, if it has one."""
    name = dkim.from_domain(email or "")
    if name is None:
        return None
    return db.session.scalar(
        select(SendingDomain).where(SendingDomain.workspace_id == workspace_id, SendingDomain.domain == name)
    )


def signs(domain: SendingDomain | None) -> bool:
    """Mail from this domain is DKIM-signed: it is verified (or warming, active, or paused after that)."""
    return domain is not None and domain.status in SIGNED_STATUSES
