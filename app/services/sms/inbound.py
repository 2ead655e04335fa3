"""Texts people send to the workspace's numbers: STOP and its synonyms opt the number out at once,
START opts it back in, HELP answers with the workspace's help text; anything else is a reply,
kept and shown with its sender.

Keywords are matched as Twilio matches them: the whole message, trimmed, in any case. Twilio's
own opt-out handling also answers STOP and START on long codes and toll-free numbers, so Herald
answers only HELP (with the workspace's words) and records the rest.
"""

from datetime import datetime, timezone
from xml.sax.saxutils import escape

from sqlalchemy import select

from app.extensions import db
from app.models import Provider, SmsInbound
from app.services.automation.sql import insert_into
from app.services.sms import consent, phones, settings

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
MAX_BODY = 5000
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def keyword(body: str) -> str | None:
    word = " ".join((body or "").split()).strip(" .!").upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def twiml(message: str | None) -> str:
    if not message:
        return EMPTY
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'


def _now() -> datetime:
    return datetime.now(timezone.utc)


def receive(provider: Provider, params: dict[str, list[str]]) -> str:
    """Record one inbound text and act on its keyword; returns the TwiML answer. Twilio retrying the
    same message (same SID) changes nothing and gets the same answer."""
    first = {name: ((values or [""])[0] or "") for name, values in params.items()}
    sid = first.get("MessageSid") or first.get("SmsSid") or ""
    if not sid:
        return EMPTY
    ws = provider.workspace_id
    raw_from = first.get("From", "")[:32]
    phone = phones.normalize_or_none(raw_from, None) or raw_from
    body = first.get("Body", "")[:MAX_BODY]
    word = keyword(body)
    help_text = settings.settings_of(ws).help_text if word == "help" else None
    people = consent.subscribers_with(ws, phone)
    row = {
        "workspace_id": ws, "provider_id": provider.id, "message_sid": sid[:64], "from_phone": raw_from,
        "to_phone": first.get("To", "")[:32], "body": body, "subscriber_id": people[0].id if people else None,
        "keyword": word, "answer": help_text, "received_at": _now(),
    }  # fmt: skip
    table = SmsInbound.__table__
    stmt = insert_into(table).on_conflict_do_nothing(index_elements=["message_sid"]).returning(table.c.id)
    if db.session.execute(stmt, row).scalar() is None:  # Twilio sent this one before
        earlier = db.session.scalar(select(SmsInbound.answer).where(SmsInbound.message_sid == sid[:64]))
        return twiml(earlier)
    if word == "stop":
        consent.opt_out_number(ws, phone, "keyword")
    elif word == "start":
        consent.opt_in_number(ws, phone, "keyword START")
    return twiml(help_text)
