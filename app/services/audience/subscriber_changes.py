"""Changing one subscriber: the dashboard's edit (everything given), the API's PATCH (only what is
named), their number and consent to texts, and an unsubscribe by id."""

from sqlalchemy import delete, insert

from app.extensions import db
from app.models import ListSubscriber, Subscriber
from app.services.audience import contacts
from app.services.audience.subscriber_fields import ERASED_ON_REQUEST, clean_attributes, clean_name, workspace_lists
from app.services.errors import InvalidState, ValidationError
from app.services.ids import is_timezone
from app.services.sms import consent as sms_consent


def update_subscriber(workspace_id: int, subscriber_id: int, name, attributes, list_ids) -> Subscriber:
    """Change a subscriber's name, attributes (replaced as given) and lists (set to exactly these)."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    if sub.erased_at is not None:
        raise InvalidState(f"This subscriber {ERASED_ON_REQUEST}: nothing about them can change.")
    ids = workspace_lists(workspace_id, list_ids)
    sub.name = clean_name(name)
    sub.attributes = clean_attributes(attributes)
    _set_lists(sub, ids)
    db.session.flush()
    return sub


def patch_subscriber(workspace_id: int, subscriber_id: int, changes: dict) -> Subscriber:
    """Change only what `changes` names: name, timezone, attributes (merged; a null value removes that
    attribute), list_ids (exactly these lists), status: "unsubscribed", or "active" to undo an
    unsubscribe (never a bounce, a complaint or an unconfirmed double opt-in), and phone and sms_status
    (set_sms, consent by `api`). Erased people stay as they are."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    if sub.erased_at is not None:
        raise InvalidState(f"This subscriber {ERASED_ON_REQUEST}: nothing about them can change.")
    ids = workspace_lists(workspace_id, changes["list_ids"]) if "list_ids" in changes else None
    zone = changes.get("timezone")
    if zone and not is_timezone(zone):
        raise ValidationError(f"'{str(zone)[:60]}' is not a timezone.", {"timezone": "Unknown timezone."})
    if "attributes" in changes:
        merged = {**(sub.attributes or {}), **clean_attributes(changes["attributes"])}
        sub.attributes = clean_attributes({k: v for k, v in merged.items() if v is not None})
    if "name" in changes:
        sub.name = clean_name(changes["name"])
    if "timezone" in changes:
        sub.timezone = zone or None
    if ids is not None:
        _set_lists(sub, ids)
    if "status" in changes:
        _change_status(sub, changes["status"])
    set_sms(sub, changes, method="api")
    db.session.flush()
    return sub


def set_sms(sub: Subscriber, changes: dict, method: str) -> None:
    """Apply what `changes` names of the person's texts: `phone` first (any format, read with the
    workspace's default country; empty or null takes it away; a new number starts without consent),
    then `sms_status` (agreement recorded with `method`; a number that replied STOP is refused)."""
    if "phone" in changes:
        sms_consent.set_phone(sub, changes["phone"])
    if changes.get("sms_status") is not None:
        sms_consent.set_status(sub, changes["sms_status"], method)


def new_texts(workspace_id: int, changes: dict, method: str) -> dict:
    """A new person's phone, sms_status and sms_consent from `changes` (as set_sms takes them), checked before
    they are created: on SQLite the insert's savepoint commits, so a refusal afterwards would leave them."""
    probe = Subscriber(workspace_id=workspace_id, phone=None, sms_status="none", sms_consent=None)  # never added
    set_sms(probe, changes, method)
    return {"phone": probe.phone, "sms_status": probe.sms_status, "sms_consent": probe.sms_consent}


def update_sms(workspace_id: int, subscriber_id: int, changes: dict, method: str = "dashboard") -> Subscriber:
    """Change a person's number and consent to texts (set_sms); an erased person stays as they are."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    if sub.erased_at is not None:
        raise InvalidState(f"This subscriber {ERASED_ON_REQUEST}: nothing about them can change.")
    set_sms(sub, changes, method)
    db.session.flush()
    return sub


def _set_lists(sub: Subscriber, ids: list[int]) -> None:
    current = set(contacts.subscriber_list_ids(sub.id))
    if current - set(ids):
        db.session.execute(
            delete(ListSubscriber).where(
                ListSubscriber.subscriber_id == sub.id, ListSubscriber.list_id.in_(current - set(ids))
            )
        )
    added = [{"list_id": i, "subscriber_id": sub.id} for i in dict.fromkeys(ids) if i not in current]
    if added:
        db.session.execute(insert(ListSubscriber), added)


def _change_status(sub: Subscriber, status: str) -> None:
    if status == sub.status:
        return
    if status == "unsubscribed" and sub.status in ("active", "pending"):
        contacts.unsubscribe(sub, detail="through the API", source="api")
    elif status == "active" and sub.status == "unsubscribed":
        contacts.resubscribe(sub)
    elif status == "active" and sub.status == "pending":
        raise InvalidState("This subscriber has not confirmed their subscription yet: they become active when they do.")
    else:
        raise InvalidState(
            f"A {sub.status} address stays {sub.status}: campaigns skip it, and only the person can change that.",
            {"status": f"Cannot change from {sub.status} to {status}."},
        )


def unsubscribe_subscriber(workspace_id: int, subscriber_id: int, source: str, detail: str | None = None) -> Subscriber:
    """Unsubscribe someone by id (the API, the dashboard); a bounced or complained address is left as it
    is (campaigns skip it already)."""
    sub = contacts.get_subscriber(workspace_id, subscriber_id)
    if sub.status in ("active", "pending"):
        contacts.unsubscribe(sub, detail=detail, source=source)
    return sub
