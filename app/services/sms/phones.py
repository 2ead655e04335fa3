"""Phone numbers in E.164 (`+14155550123`), the only form Herald stores or sends to.

phonenumbers (Google's libphonenumber) knows every country's numbering plan; a number typed
without its country code is read as the workspace's default country's.
"""

import phonenumbers

from app.services.errors import ValidationError

MAX_INPUT = 40  # longer than any number written with spaces and punctuation


def normalize(raw, region: str | None = "US", field: str = "phone") -> str:
    """`raw` as E.164; raises ValidationError naming `field` when it is no valid number."""
    text = str(raw or "").strip()
    if not text:
        raise ValidationError("A phone number is required.", {field: "Required."})
    if len(text) > MAX_INPUT:
        raise ValidationError("That is too long for a phone number.", {field: "Too long."})
    try:
        number = phonenumbers.parse(text, (region or "US").upper())
    except phonenumbers.NumberParseException:
        raise ValidationError(
            f"“{text}” is not a phone number; write it with its country code, e.g. +14155550123.",
            {field: "Not a phone number."},
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"“{text}” is not a valid phone number; check the country code and the digits.",
            {field: "Not a valid number."},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_or_none(raw, region: str | None = "US") -> str | None:
    """`raw` as E.164, or None when it is empty or no valid number (imports, inbound From)."""
    try:
        return normalize(raw, region)
    except ValidationError:
        return None


def country_of(e164: str) -> str | None:
    """The number's country (ISO code), for its quiet hours when the person has no timezone."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def display(e164: str | None) -> str:
    """The number as people write it internationally: `+1 415-555-0123`."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def region_valid(region) -> bool:
    return isinstance(region, str) and region.upper() in phonenumbers.SUPPORTED_REGIONS
