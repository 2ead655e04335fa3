"""New subscribers with their source and consent: the one way the dashboard, the API and signup forms
add a person (imports have their own, set-based path in contacts.import_subscribers; customer events
that may create people add them all at once with `subscribe_all`).

A person who joins a list that requires double opt-in is `pending` and gets the confirmation email
(audience/double_opt_in.py); everyone else is `active` at once.

A person already in the workspace who signs up again through a form (`rejoin`):
    active        added to the form's lists and tags; nothing else changes
    pending       the same, and the confirmation email again (the wait before deletion restarts)
    unsubscribed  added to the lists, still unsubscribed, and a confirmation email: a fresh consent
                  counts only once they confirm it, because anyone can type anyone's address in a form
    bounced, complained   nothing (the address does not take mail), answered like any signup
Their name, timezone and attributes are left as they are: a form anyone can fill in does not overwrite
a known person's profile.
"""

from datetime import datetime, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import Subscriber
from app.services.audience import contacts, double_opt_in, subscriber_changes
from app.services.audience import tags as tagging
from app.services.audience.consent import consent_record


def subscribe(
    workspace_id: int,
    email: str,
    name=None,
    attributes=None,
    list_ids=None,
    timezone_name: str | None = None,
    *,
    source: str,
    tags=None,
    ip: str | None = None,
    form_id: int | None = None,
    sms: dict | None = None,
) -> Subscriber:
    """Add a new subscriber from `source` (dashboard, api, form) with their consent; `pending` and sent the
    confirmation email when a list asks for it. Conflict when the address is already in the workspace.
    `sms`: their `phone` and `sms_status`, as subscriber_changes.set_sms takes them (consent by `source`)."""
    wanted_tags = tagging.clean_tags(tags)  # a bad tag is refused before anyone is created
    texts = subscriber_changes.new_texts(workspace_id, sms, source) if sms else None  # and so is a bad number
    pending = double_opt_in.requires_confirmation(workspace_id, list_ids)
    sub = contacts.add_subscriber(
        workspace_id,
        email,
        name,
        attributes,
        list_ids,
        timezone_name,
        source=source,
        consent=consent_record(source, ip, form_id),
        status="pending" if pending else "active",
        texts=texts,
    )
    if wanted_tags:
        tagging.tag_subscribers(workspace_id, [sub.id], wanted_tags)
    if pending:
        double_opt_in.send_confirmation(sub, list_ids)
    return sub


def subscribe_all(workspace_id: int, addresses: list[str], *, source: str) -> dict[str, int]:
    """Many new subscribers at once, set-based (customer events that say `create_subscriber`): active, no
    lists (so no double opt-in), with `source` and its consent. `addresses` are normalised
    (contacts.normalize_email); those already in the workspace are left as they are, erased ones are never
    added. Returns address -> id of every address now in the workspace."""
    wanted = sorted(set(addresses))
    new = sorted(set(wanted) - contacts.erased_addresses(workspace_id, wanted))
    now = datetime.now(timezone.utc)
    consent = consent_record(source, at=now)
    rows = [{"workspace_id": workspace_id, "email": address, "status": "active", "source": source, "consent": consent,
             "attributes": {}, "soft_bounces": 0, "created_at": now, "updated_at": now} for address in new]  # fmt: skip
    for i in range(0, len(rows), 1000):
        # A request adding the same address at the same moment wins; its subscriber is answered.
        db.session.execute(_insert_skipping_known(), rows[i : i + 1000])
    found = {}
    for i in range(0, len(wanted), 1000):
        found.update(
            db.session.execute(
                select(Subscriber.email, Subscriber.id).where(
                    Subscriber.workspace_id == workspace_id, Subscriber.email.in_(wanted[i : i + 1000])
                )
            ).all()
        )
    return found


def _insert_skipping_known():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Subscriber.__table__).on_conflict_do_nothing(index_elements=["workspace_id", "email"])


def rejoin(sub: Subscriber, list_ids: list[int], tags: list[str]) -> str:
    """A known person signs up again through a form (see the module's table); returns what happened:
    `added`, `confirmation sent` or `ignored`."""
    if sub.status in ("bounced", "complained"):
        return "ignored"
    for list_id in list_ids:
        contacts.add_to_list(sub.workspace_id, list_id, [sub.id])
    if tags:
        tagging.tag_subscribers(sub.workspace_id, [sub.id], tags)
    if sub.status in ("pending", "unsubscribed"):
        double_opt_in.send_confirmation(sub, list_ids)
        return "confirmation sent"
    return "added"
