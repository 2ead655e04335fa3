"""The texts part of an import: each row's number and whether the person agreed to texts.

A row's `phone` is read in Python in the import's row loop (phonenumbers, with the workspace's
default country), never by a query per row; a number that is no number is left out and reported,
and the person imported without it. The numbers that replied STOP are looked up once per thousand
(`opted_out_numbers`). Then `settle` decides each person's phone, sms_status and sms_consent the
way sms/consent.py does for one person: a new number carries no consent over and starts opted out
when it said STOP; a yes (`sms_consent`) records consent by `import` only for a number that may be
texted, and never overrides a person who opted out.
"""

from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import SmsOptOut
from app.services.errors import ValidationError
from app.services.sms import phones

_CHUNK = 1000
YES = frozenset({"yes", "y", "true", "1", "subscribed", "opted in", "opted_in", "opt in", "x", "oui", "ja", "si", "sí"})
NO = frozenset({"no", "n", "false", "0", "none", "unsubscribed", "not subscribed", "non", "nein"})
NO_TEXTS = (None, "none", None)  # phone, sms_status, sms_consent of someone new


def read_texts(row: dict, region: str) -> tuple[str | None, bool, list[str]]:
    """A row's number in E.164 (None when it gives none, or one that is no number), whether it says they
    agreed to texts, and the notes for the row."""
    notes = []
    phone = None
    raw = row.get("phone")
    if raw not in (None, ""):
        try:
            phone = phones.normalize(raw, region)
        except ValidationError as exc:
            notes.append(f"Imported without the phone number: {exc.message}")
    agreed = _agreed(row.get("sms_consent"), notes)
    return phone, agreed, notes


def _agreed(value, notes: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = " ".join(str(value).split()).casefold()
    if text in YES:
        return True
    if text and text not in NO:
        notes.append(f"sms_consent: “{text[:40]}” is neither yes nor no; imported without consent to texts.")
    return False


def opted_out_numbers(workspace_id: int, numbers) -> set[str]:
    """Which of the numbers replied STOP (or Twilio reported opted out): one query per thousand."""
    wanted = sorted({n for n in numbers if n})
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        found.update(
            db.session.scalars(
                select(SmsOptOut.phone).where(
                    SmsOptOut.workspace_id == workspace_id, SmsOptOut.phone.in_(wanted[i : i + _CHUNK])
                )
            )
        )
    return found


def import_consent(now: datetime) -> dict:
    """The consent to texts a row's yes records (the shape sms/consent.py writes)."""
    return {"at": now.isoformat(), "method": "import", "ip": None}


def settle(phone: str | None, agreed: bool, current: tuple, opted: set[str], consent: dict) -> tuple[dict, str | None]:
    """The person's phone, sms_status and sms_consent after their row (`current`: theirs before, NO_TEXTS
    for someone new), and a note when the row's yes could not count."""
    number, status, record = current
    if phone and phone != number:
        number, status, record = phone, "opted_out" if phone in opted else "none", None
    note = None
    if agreed and status != "subscribed":
        if not number:
            note = "Agreed to texts, but there is no phone number: imported without consent to texts."
        elif number in opted:
            note = "This number replied STOP: it stays opted out until it texts START."
        elif status == "opted_out":
            note = "They opted out of texts: the row's consent is not taken."
        else:
            status, record = "subscribed", consent
    return {"phone": number, "sms_status": status, "sms_consent": record}, note
