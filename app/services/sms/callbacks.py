"""Twilio's status callbacks and inbound texts: who may post them, and which provider they are for.

Twilio signs each request: X-Twilio-Signature is base64(HMAC-SHA1(auth token, the URL it posted
to + every form parameter, sorted, name then value)). The URL is the one Herald gave it (the
configured BASE_URL with the path and query), which behind a proxy differs from what the app
sees, so both are tried.

A status callback is kept once per (message SID, status): Twilio retries, and may deliver
`sent` after `delivered`; a row only ever moves forward (sending.RANKS), so the order they come
in does not matter. Error 21610 means the number opted out at Twilio: it is opted out here too.
"""

from datetime import datetime, timezone

from sqlalchemy import select, update

from app.extensions import db
from app.models import Provider, SmsRecipient, SmsStatusEvent
from app.providers import twilio
from app.services.automation.sql import insert_into
from app.services.crypto import decrypt_json
from app.services.errors import NotFound
from app.services.ids import as_id, parse_int
from app.services.sms import consent, sending

_rec = SmsRecipient.__table__


class Rejected(Exception):
    """Not proven to come from Twilio: answer 403, change nothing."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def twilio_provider(provider_id: int) -> Provider:
    provider = db.session.get(Provider, as_id(provider_id) or 0)
    if provider is None or provider.provider_type != "twilio":
        raise NotFound("No such webhook.")
    return provider


def verify(provider: Provider, urls: list[str], params: dict[str, list[str]], header: str | None) -> None:
    """Raise Rejected unless the signature matches one of the URLs Twilio may have signed."""
    if not header:
        raise Rejected("The X-Twilio-Signature header is missing.")
    token = decrypt_json(provider.credentials_encrypted).get("auth_token") or ""
    if not token or not any(twilio.verify_signature(token, url, params, header) for url in dict.fromkeys(urls)):
        raise Rejected("The X-Twilio-Signature does not match: the request did not come from this Twilio account.")
    account = (params.get("AccountSid") or [""])[0]
    expected = decrypt_json(provider.credentials_encrypted).get("account_sid") or ""
    if account and expected and account.lower() != expected.lower():
        raise Rejected("The callback is for another Twilio account.")


def _one(params: dict[str, list[str]], name: str) -> str:
    return ((params.get(name) or [""])[0] or "").strip()


def _find(provider: Provider, sid: str, ref) -> dict | None:
    """The row the callback is about: by the id in its URL (even before the SID was recorded), else by SID."""
    stmt = select(_rec.c.id, _rec.c.message_sid, _rec.c.status_rank, _rec.c.phone, _rec.c.workspace_id)
    row = None
    if as_id(ref):
        row = (
            db.session.execute(stmt.where(_rec.c.id == as_id(ref), _rec.c.workspace_id == provider.workspace_id))
            .mappings()
            .first()
        )
        if row is not None and row["message_sid"] not in (None, sid):
            row = None  # the id names another text: trust the SID
    if row is None and sid:
        row = (
            db.session.execute(stmt.where(_rec.c.message_sid == sid, _rec.c.workspace_id == provider.workspace_id))
            .mappings()
            .first()
        )
    return dict(row) if row else None


def record_status(provider: Provider, params: dict[str, list[str]], ref=None) -> dict:
    """Apply one status callback; returns what happened (for the answer and the tests)."""
    sid, status = _one(params, "MessageSid") or _one(params, "SmsSid"), _one(params, "MessageStatus").lower()
    status = status or _one(params, "SmsStatus").lower()
    if not sid or not status:
        return {"ignored": "no MessageSid or MessageStatus"}
    error_code = parse_int(_one(params, "ErrorCode"), max_digits=6)
    row = _find(provider, sid, ref)
    events = SmsStatusEvent.__table__
    event = insert_into(events).on_conflict_do_nothing(index_elements=["message_sid", "status"])
    added = db.session.execute(
        event.returning(events.c.id),  # None on a conflict: Twilio sent this one before
        {"workspace_id": provider.workspace_id, "recipient_id": row["id"] if row else None, "message_sid": sid[:64],
         "status": status[:16], "error_code": error_code, "received_at": _now()},
    ).scalar()  # fmt: skip
    if not added:
        return {"duplicate": True}
    if row is None:
        return {"unknown_message": sid}
    moved = _advance(row, sid, status, error_code)
    if error_code == sending.OPTED_OUT:
        consent.opt_out_number(provider.workspace_id, row["phone"], "carrier")
    return {"recipient": row["id"], "status": status, "applied": moved}


def _advance(row: dict, sid: str, status: str, error_code: int | None) -> bool:
    """Move the row to Twilio's status unless it already went further (a late callback)."""
    rank = sending.callback_rank(status)
    values = {"twilio_status": status, "status_rank": rank, "message_sid": sid, "updated_at": _now()}
    herald = sending.HERALD_STATUS.get(status)
    values["status"] = herald or "sent"
    if herald == "delivered":
        values["delivered_at"] = _now()
    if error_code is not None:
        values["error_code"] = error_code
        values["error_message"] = twilio_error(error_code)
    moved = db.session.execute(
        update(_rec)
        .where(_rec.c.id == row["id"], _rec.c.status_rank < rank)
        .values(**values)
    ).rowcount  # fmt: skip
    return bool(moved)


# What the errors a marketer meets most often mean (Twilio's own list is long; its number is always shown).
ERRORS = {
    21211: "Not a valid phone number",
    21408: "Texting this country is not enabled on the Twilio account",
    21610: "The recipient replied STOP: Twilio will not text this number until they reply START",
    21612: "Twilio cannot route a text between these two numbers",
    21614: "Not a mobile number",
    30003: "The phone is unreachable (switched off or out of coverage)",
    30004: "The recipient's carrier blocked the text",
    30005: "The number does not exist",
    30006: "A landline, or a carrier that takes no texts",
    30007: "Filtered by the carrier as spam",
    30008: "Unknown error at the carrier",
    30034: "The sender number is not registered for A2P 10DLC",
}


def twilio_error(code: int | None) -> str | None:
    if code is None:
        return None
    return f"{code}: {ERRORS.get(code, 'see twilio.com/docs/api/errors/' + str(code))}"
