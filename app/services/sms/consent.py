"""A person's number and their consent to texts, and the numbers the workspace must not text.

Consent is per person (`sms_status`, with how and when in `sms_consent`); an opt-out is per
number (`sms_opt_outs`), because that is what STOP and Twilio's error 21610 speak of: every
subscriber sharing the number stops with it, and one imported later with it starts opted out.
Only the number itself (START) lifts a STOP: Twilio refuses to text it until then anyway.
"""

from datetime import datetime, timezone

from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import SmsOptOut, Subscriber
from app.models.sms import SMS_STATUSES
from app.services.automation.sql import insert_into
from app.services.errors import InvalidState, ValidationError
from app.services.sms import phones, settings

OPT_OUT_SOURCES = ("keyword", "carrier", "dashboard", "api", "import")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def is_opted_out(workspace_id: int, phone: str | None) -> bool:
    if not phone:
        return False
    return db.session.get(SmsOptOut, (workspace_id, phone)) is not None


def set_phone(subscriber: Subscriber, raw, region: str | None = None) -> str | None:
    """Give the person a number (E.164), or take it away with an empty value.

    A new number carries no consent over: the person is `none` until they agree again, or
    `opted_out` when that number said STOP."""
    if raw in (None, ""):
        subscriber.phone, subscriber.sms_status, subscriber.sms_consent = None, "none", None
        return None
    region = region or settings.settings_of(subscriber.workspace_id).default_region
    phone = phones.normalize(raw, region)
    if phone != subscriber.phone:
        subscriber.phone, subscriber.sms_consent = phone, None
        subscriber.sms_status = "opted_out" if is_opted_out(subscriber.workspace_id, phone) else "none"
    return phone


def set_status(subscriber: Subscriber, status: str, method: str, ip: str | None = None) -> None:
    """Record the person's consent to texts (`subscribed`), its withdrawal (`opted_out`) or neither.

    Opting out also stops the number; subscribing a number that said STOP is refused."""
    if status not in SMS_STATUSES:
        raise ValidationError(f"sms_status is one of {', '.join(SMS_STATUSES)}.", {"sms_status": "Unknown."})
    if status == subscriber.sms_status:
        return
    if status == "subscribed":
        if not subscriber.phone:
            raise ValidationError("Give the person a phone number first.", {"phone": "Required to subscribe."})
        if is_opted_out(subscriber.workspace_id, subscriber.phone):
            raise InvalidState(
                "This number replied STOP: only a text of START from it opts it in again.",
                {"sms_status": "The number opted out."},
            )
        subscriber.sms_consent = {"at": _now().isoformat(), "method": method, "ip": ip}
    elif status == "opted_out" and subscriber.phone:
        opt_out_number(subscriber.workspace_id, subscriber.phone, method if method in OPT_OUT_SOURCES else "dashboard")
    subscriber.sms_status = status


def opt_out_number(workspace_id: int, phone: str, source: str) -> int:
    """Stop texting `phone`: the number is kept as opted out and everyone with it opted out.
    Returns how many subscribers changed."""
    stmt = insert_into(SmsOptOut.__table__).on_conflict_do_nothing(index_elements=["workspace_id", "phone"])
    db.session.execute(stmt, [{"workspace_id": workspace_id, "phone": phone, "source": source, "created_at": _now()}])
    changed = db.session.execute(
        update(Subscriber)
        .where(Subscriber.workspace_id == workspace_id, Subscriber.phone == phone, Subscriber.sms_status != "opted_out")
        .values(sms_status="opted_out")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.flush()
    return changed or 0


def opt_in_number(workspace_id: int, phone: str, method: str) -> int:
    """The number texted START: it may be texted again, and everyone with it who had opted out is
    subscribed again (the text is their consent). Returns how many subscribers changed."""
    db.session.execute(delete(SmsOptOut).where(SmsOptOut.workspace_id == workspace_id, SmsOptOut.phone == phone))
    changed = db.session.execute(
        update(Subscriber)
        .where(Subscriber.workspace_id == workspace_id, Subscriber.phone == phone, Subscriber.sms_status == "opted_out")
        .values(sms_status="subscribed", sms_consent={"at": _now().isoformat(), "method": method, "ip": None})
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.flush()
    return changed or 0


def subscribers_with(workspace_id: int, phone: str) -> list[Subscriber]:
    return list(
        db.session.scalars(
            select(Subscriber)
            .where(Subscriber.workspace_id == workspace_id, Subscriber.phone == phone, Subscriber.erased_at.is_(None))
            .order_by(Subscriber.id)
        )
    )
