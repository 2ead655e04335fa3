"""A subscriber's fields as Herald stores them: the address (validated, lower-cased), the name, the
attributes, the timezone, the lists named, and the hash kept of an erased person's address.

contacts.py and the rest of the audience package clean what people send through these.
"""

import hashlib
from functools import lru_cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.extensions import db
from app.models import MailingList, Suppression
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_ids, is_timezone

MAX_ATTRIBUTES_BYTES = 16_000


def normalize_email(raw: str) -> str:
    """The address in the one form Herald stores and compares: validated, lower-cased."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise ValidationError("An email address is required.")
    if len(value) > 320:
        raise ValidationError("That email address is too long.")
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(f"'{value[:80]}' is not an email address: {exc}") from None
    return result.normalized.lower()


def clean_name(name) -> str | None:
    if name is None:
        return None
    name = " ".join(str(name).split())
    return name[:200] or None


def clean_attributes(attributes) -> dict:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise ValidationError("Attributes must be an object of names and values.", {"attributes": "Not an object."})
    if len(repr(attributes)) > MAX_ATTRIBUTES_BYTES:
        raise ValidationError("Attributes are too large (16 KB at most).", {"attributes": "Too large."})
    for key in attributes:
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            message = f"Attribute name '{str(key)[:40]}' is not allowed: names are 1 to 100 characters."
            raise ValidationError(message, {"attributes": message})
    return {k.strip(): v for k, v in attributes.items()}


def workspace_lists(workspace_id: int, list_ids) -> list[int]:
    ids = as_ids(list_ids or [])
    if ids is None:
        raise ValidationError("Lists are given by their ids.", {"list_ids": "Not a list of ids."})
    if not ids:
        return []
    found = set(
        db.session.scalars(
            select(MailingList.id).where(MailingList.workspace_id == workspace_id, MailingList.id.in_(ids))
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"No list with id {missing[0]} in this workspace.", {"list_ids": "Unknown list."})
    return ids


def timezone_note(value) -> str:
    return (
        f"Imported without a timezone: '{str(value)[:60]}' is not a timezone name such as Europe/Berlin "
        "(send windows use the workspace's timezone for this person)."
    )


def canonical_timezone(value) -> str | None:
    """The IANA name `value` means, spelled as IANA spells it (`europe/berlin` -> `Europe/Berlin`), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if is_timezone(value) else _timezones_by_folded().get(value.casefold())


@lru_cache(maxsize=1)
def _timezones_by_folded() -> dict[str, str]:
    return {name.casefold(): name for name in available_timezones()}


ERASED_ON_REQUEST = "was erased on request"


def address_hash(address: str) -> str:
    """sha256 of a normalised address: all Herald keeps of an erased person (audience/privacy.py)."""
    return hashlib.sha256(address.encode()).hexdigest()


def erased_addresses(workspace_id: int, addresses: list[str]) -> set[str]:
    """The normalised addresses among these whose person was erased on request: never added again.
    One indexed look-up per thousand addresses, so an import checks its rows set-based."""
    by_hash = {address_hash(a): a for a in addresses}
    hashes, found = list(by_hash), set()
    for i in range(0, len(hashes), 1000):
        found.update(
            db.session.scalars(
                select(Suppression.email_hash).where(
                    Suppression.workspace_id == workspace_id,
                    Suppression.reason == "erased",
                    Suppression.email_hash.in_(hashes[i : i + 1000]),
                )
            )
        )
    return {by_hash[h] for h in found}
