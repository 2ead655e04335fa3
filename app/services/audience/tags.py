"""Tags on subscribers: short labels a marketer sets by hand, by import, by signup form or by API.

A tag is stored normalised (trimmed, inner spaces collapsed, lower-case, 1 to 100 characters, no
control characters), so "VIP " and "vip" are one tag and segments compare them as typed. Adding
is idempotent: an insert that skips rows already there (ON CONFLICT DO NOTHING), so two requests
tagging the same person at once never collide on the primary key. Bulk tagging and imports are
set-based: one INSERT … SELECT per tag and thousand people, never a row at a time.
"""

import re
import unicodedata

from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Subscriber, SubscriberTag
from app.services.errors import ValidationError
from app.services.ids import as_id

MAX_TAG = 100
MAX_TAGS_PER_CALL = 100
_CHUNK = 1000
_SEPARATORS = re.compile(r"[,;]")


def normalize_tag(raw) -> str:
    """The tag as stored; ValidationError for an empty, overlong or control-character tag."""
    if not isinstance(raw, str):
        raise ValidationError("A tag is a piece of text.", {"tags": "Not text."})
    tag = " ".join(raw.split()).lower()  # line breaks and tabs are spaces; what remains may not control anything
    if any(unicodedata.category(c) == "Cc" for c in tag):
        message = f"The tag '{_printable(tag)}' contains control characters."
        raise ValidationError(message, {"tags": message})
    if not tag:
        raise ValidationError("A tag cannot be empty.", {"tags": "Empty tag."})
    if len(tag) > MAX_TAG:
        message = f"The tag '{tag[:40]}…' is longer than {MAX_TAG} characters."
        raise ValidationError(message, {"tags": message})
    return tag


def _printable(raw: str) -> str:
    return "".join(c if unicodedata.category(c) != "Cc" else "?" for c in raw[:40])


def split_tags(text: str) -> list[str]:
    """Tags typed in one box, separated by commas or semicolons ("vip, spring; met at fair")."""
    return [part for part in _SEPARATORS.split(text or "") if part.strip()]


def clean_tags(values) -> list[str]:
    """Distinct normalised tags, in the order given, from a list or a comma/semicolon-separated text."""
    if values is None:
        return []
    if isinstance(values, str):
        values = split_tags(values)
    if not isinstance(values, (list, tuple)):
        raise ValidationError("Give tags as a list of text.", {"tags": "Not a list."})
    if len(values) > MAX_TAGS_PER_CALL:
        message = f"At most {MAX_TAGS_PER_CALL} tags at once."
        raise ValidationError(message, {"tags": message})
    return list(dict.fromkeys(normalize_tag(v) for v in values))


def clean_tags_leniently(values) -> tuple[list[str], list[str]]:
    """(the usable tags, a sentence per unusable one): for imports, which keep the person either way."""
    if isinstance(values, str):
        values = split_tags(values)
    good, problems = [], []
    for value in (values or [])[:MAX_TAGS_PER_CALL]:
        try:
            good.append(normalize_tag(value))
        except ValidationError as exc:
            problems.append(exc.message)
    return list(dict.fromkeys(good)), problems


# Reading --------------------------------------------------------------------------------------


def tags_of(subscriber_id: int) -> list[str]:
    """One subscriber's tags, alphabetically."""
    return list(
        db.session.scalars(
            select(SubscriberTag.tag).where(SubscriberTag.subscriber_id == subscriber_id).order_by(SubscriberTag.tag)
        )
    )


def tags_by_subscriber(subscriber_ids) -> dict[int, list[str]]:
    """Tags of many subscribers in one query per thousand (list pages, API pages): id -> sorted tags."""
    ids = [i for i in subscriber_ids if i]
    found: dict[int, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), _CHUNK):
        rows = db.session.execute(
            select(SubscriberTag.subscriber_id, SubscriberTag.tag)
            .where(SubscriberTag.subscriber_id.in_(ids[start : start + _CHUNK]))
            .order_by(SubscriberTag.subscriber_id, SubscriberTag.tag)
        )
        for sid, tag in rows:
            found[sid].append(tag)
    return found


def workspace_tags(workspace_id: int, limit: int | None = None) -> list[tuple[str, int]]:
    """The tags used in the workspace with how many subscribers carry each, most used first (the first `limit`)."""
    n = func.count().label("n")
    rows = db.session.execute(
        select(SubscriberTag.tag, n)
        .join(Subscriber, Subscriber.id == SubscriberTag.subscriber_id)
        .where(Subscriber.workspace_id == workspace_id)
        .group_by(SubscriberTag.tag)
        .order_by(n.desc(), SubscriberTag.tag)
        .limit(limit)
    )
    return [(tag, count) for tag, count in rows]


# Changing -------------------------------------------------------------------------------------


def _upsert():
    """INSERT that skips rows already there, in the dialect at hand."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(SubscriberTag.__table__)


def tag_subscribers(workspace_id: int, subscriber_ids, tags) -> int:
    """Add `tags` to the workspace's subscribers among `subscriber_ids` (others, and erased people, are ignored); returns how
    many tags were added. Set-based: one INSERT … SELECT per tag and thousand subscribers."""
    tags = clean_tags(tags)
    ids = sorted({i for i in (as_id(s) for s in subscriber_ids or []) if i})
    added = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for tag in tags:
            people = select(Subscriber.id, db.literal(tag, type_=SubscriberTag.tag.type)).where(
                Subscriber.workspace_id == workspace_id, Subscriber.id.in_(chunk), Subscriber.erased_at.is_(None)
            )  # an erased person gets nothing new
            stmt = _upsert().from_select(["subscriber_id", "tag"], people).on_conflict_do_nothing()
            added += db.session.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount
    db.session.flush()
    return max(added, 0)


def insert_tag_rows(rows: list[dict]) -> None:
    """Store {subscriber_id, tag} rows already checked to be this workspace's (imports), in batches."""
    for start in range(0, len(rows), _CHUNK):
        db.session.execute(_upsert().on_conflict_do_nothing(), rows[start : start + _CHUNK])


def new_tags_of(people: dict[str, dict], known: dict[str, tuple]) -> dict[str, list[str]]:
    """For an import: the tags each known person (email -> (id, …)) would gain, for those who gain any."""
    tagged = {email: known[email][0] for email, p in people.items() if p.get("tags") and email in known}
    current = tags_by_subscriber(list(tagged.values()))
    gains = {email: [t for t in people[email]["tags"] if t not in current[sid]] for email, sid in tagged.items()}
    return {email: gained for email, gained in gains.items() if gained}


def store_imported_tags(workspace_id: int, people: dict[str, dict], known: dict[str, tuple], gains: dict) -> None:
    """Store an import's tags: the new people's (looked up by address, a thousand at a time) and what the
    known people gain (`gains`, from new_tags_of)."""
    rows = [{"subscriber_id": known[email][0], "tag": t} for email, gained in gains.items() for t in gained]
    fresh = [email for email, p in people.items() if p.get("tags") and email not in known]
    for start in range(0, len(fresh), _CHUNK):
        ids = db.session.execute(
            select(Subscriber.email, Subscriber.id).where(
                Subscriber.workspace_id == workspace_id, Subscriber.email.in_(fresh[start : start + _CHUNK])
            )
        )
        rows += [{"subscriber_id": sid, "tag": t} for email, sid in ids for t in people[email]["tags"]]
    insert_tag_rows(rows)


def add_tags(workspace_id: int, subscriber_id: int, tags) -> list[str]:
    """Add tags to one subscriber; returns their tags now."""
    tag_subscribers(workspace_id, [subscriber_id], tags)
    return tags_of(subscriber_id)


def remove_tags(workspace_id: int, subscriber_id: int, tags) -> list[str]:
    """Take tags off one subscriber (tags they do not have are ignored); returns their tags now."""
    tags = clean_tags(tags)
    if tags and _owned(workspace_id, subscriber_id):
        db.session.execute(
            delete(SubscriberTag).where(SubscriberTag.subscriber_id == subscriber_id, SubscriberTag.tag.in_(tags))
        )
        db.session.flush()
    return tags_of(subscriber_id)


def set_tags(workspace_id: int, subscriber_id: int, tags) -> list[str]:
    """Make one subscriber's tags exactly `tags`; returns them."""
    tags = clean_tags(tags)
    if not _owned(workspace_id, subscriber_id):
        return []
    keep = delete(SubscriberTag).where(SubscriberTag.subscriber_id == subscriber_id)
    if tags:
        keep = keep.where(SubscriberTag.tag.not_in(tags))
    db.session.execute(keep)
    tag_subscribers(workspace_id, [subscriber_id], tags)
    return tags_of(subscriber_id)


def _owned(workspace_id: int, subscriber_id: int) -> bool:
    return (
        db.session.scalar(
            select(Subscriber.id).where(Subscriber.id == subscriber_id, Subscriber.workspace_id == workspace_id)
        )
        is not None
    )
