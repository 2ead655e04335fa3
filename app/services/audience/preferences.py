"""Categories, and each person's choice per category: receive it or not, and how often.

A category is a kind of campaign (promotions, tips, product news…) that a campaign names
(Campaign.category_id). A subscriber with no SubscriberPreference row for a category gets it,
immediately; a row records an opt-out or a slower frequency. The send pipeline reads the rows
set-based (campaigns/recipients.py): an opted-out person is skipped as `suppressed:category`, one
on a slower frequency as `frequency`.

    categories        list, get, create, update (rename), delete; names unique per workspace,
                      compared without regard to case
    preferences       a person's choice for every category, defaults filled in (subscriber_preferences),
                      and changing some of them (set_preferences: validated, only this workspace's)
    counts            per category: opted out, and how many people on each frequency (one GROUP BY)
    preference center what the public page changes in one save (save_center), and the link to a
                      person's center outside any campaign (preferences_url: /p/<token>)

Functions flush; the caller commits.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Campaign, Category, ListSubscriber, MailingList, Subscriber, SubscriberPreference
from app.models.audience import FREQUENCIES
from app.services.audience import contacts
from app.services.errors import Conflict, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform.audit import record
from app.services.tokens import make_token, read_token

NAME_LENGTH = 100
DESCRIPTION_LENGTH = 500
MAX_CHANGES = 1000  # a workspace has a handful of categories; more entries than this is not a person's choice
DEFAULT_FREQUENCY = "immediate"
# How the frequencies read to a person (the preference center, the subscriber page).
FREQUENCY_LABELS = {
    "immediate": "Immediately",
    "daily": "At most once a day",
    "weekly": "At most once a week",
    "monthly": "At most once a month",
}
TOKEN_PURPOSE = "subscriber-preferences"
CENTER_SOURCE = "preference center"  # SUPPRESSION_SOURCES


@dataclass(frozen=True)
class Choice:
    """A person's choice for one category (the default when they never chose)."""

    category: Category
    subscribed: bool = True
    frequency: str = DEFAULT_FREQUENCY

    @property
    def frequency_label(self) -> str:
        return FREQUENCY_LABELS[self.frequency]


@dataclass(frozen=True)
class CategoryCounts:
    """Among the workspace's active subscribers: who opted out of a category, and who gets it how often."""

    opted_out: int = 0
    immediate: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    @property
    def receiving(self) -> int:
        return self.immediate + self.daily + self.weekly + self.monthly


# Categories -----------------------------------------------------------------------------------


def list_categories(workspace_id: int) -> list[Category]:
    """The workspace's categories by name."""
    return list(
        db.session.scalars(select(Category).where(Category.workspace_id == workspace_id).order_by(Category.name))
    )


def get_category(workspace_id: int, category_id: int) -> Category:
    category = db.session.scalar(
        select(Category).where(Category.id == category_id, Category.workspace_id == workspace_id)
    )
    if category is None:
        raise NotFound("No such category.")
    return category


def _clean_name(name) -> str:
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not text:
        raise ValidationError("Give the category a name.", {"name": "Required."})
    if len(text) > NAME_LENGTH:
        message = f"Keep the category name under {NAME_LENGTH} characters."
        raise ValidationError(message, {"name": message})
    return text


def _clean_description(description) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise ValidationError("The description is text.", {"description": "Not text."})
    text = " ".join(description.split())
    if len(text) > DESCRIPTION_LENGTH:
        message = f"Keep the description under {DESCRIPTION_LENGTH} characters."
        raise ValidationError(message, {"description": message})
    return text or None


def _refuse_taken(workspace_id: int, name: str, except_id: int | None = None) -> None:
    # Compared in Python: SQLite's lower() folds ASCII only, and a workspace has few categories.
    folded = name.casefold()
    for other_id, other in db.session.execute(
        select(Category.id, Category.name).where(Category.workspace_id == workspace_id)
    ):
        if other_id != except_id and other.casefold() == folded:
            message = f"There is already a category named “{other}”."
            raise Conflict(message, {"name": message})


def _flush_unique(category: Category) -> None:
    try:
        # A savepoint: a concurrent request taking the same name loses cleanly with a Conflict.
        with db.session.begin_nested():
            db.session.add(category)
    except IntegrityError:
        message = f"There is already a category named “{category.name}”."
        raise Conflict(message, {"name": message}) from None


def create_category(workspace_id: int, name, description=None) -> Category:
    """A new category; Conflict when the workspace has one of that name (whatever its case)."""
    clean = _clean_name(name)
    text = _clean_description(description)
    _refuse_taken(workspace_id, clean)
    category = Category(workspace_id=workspace_id, name=clean, description=text)
    _flush_unique(category)
    return category


_KEEP = object()


def update_category(workspace_id: int, category_id: int, name=_KEEP, description=_KEEP) -> Category:
    """Rename a category and/or change its description (what is not given stays); people's choices stay."""
    category = get_category(workspace_id, category_id)
    if name is not _KEEP:
        clean = _clean_name(name)
        _refuse_taken(workspace_id, clean, except_id=category.id)
        category.name = clean
    if description is not _KEEP:
        category.description = _clean_description(description)
    _flush_unique(category)
    return category


def delete_category(workspace_id: int, category_id: int) -> None:
    """Delete a category and everyone's choices for it; its campaigns keep going, with no category."""
    category = get_category(workspace_id, category_id)
    # The foreign keys cascade too; said here so it holds whatever the database enforces.
    db.session.execute(delete(SubscriberPreference).where(SubscriberPreference.category_id == category.id))
    db.session.execute(
        update(Campaign)
        .where(Campaign.category_id == category.id, Campaign.workspace_id == workspace_id)
        .values(category_id=None)
    )
    record(workspace_id, "category.delete", "category", category.id, {"name": category.name})
    db.session.delete(category)
    db.session.flush()


def clean_category_id(workspace_id: int, value) -> int | None:
    """A campaign's category: None for none, else the id of one of the workspace's categories."""
    if value in (None, ""):
        return None
    category_id = as_id(value)
    found = category_id and db.session.scalar(
        select(Category.id).where(Category.id == category_id, Category.workspace_id == workspace_id)
    )
    if not found:
        raise ValidationError("Choose one of this workspace's categories.")
    return category_id


# A person's choices -------------------------------------------------------------------------


def subscriber_preferences(workspace_id: int, subscriber_id: int) -> list[Choice]:
    """The person's choice for every category of the workspace, by name; defaults where they never chose.

    The caller has looked the subscriber up in the workspace (contacts.get_subscriber)."""
    sp = SubscriberPreference
    rows = db.session.execute(
        select(Category, sp.subscribed, sp.frequency)
        .outerjoin(sp, (sp.category_id == Category.id) & (sp.subscriber_id == subscriber_id))
        .where(Category.workspace_id == workspace_id)
        .order_by(Category.name)
    ).all()
    return [
        Choice(category, True if subscribed is None else bool(subscribed), frequency or DEFAULT_FREQUENCY)
        for category, subscribed, frequency in rows
    ]


def _clean_changes(workspace_id: int, changes) -> dict[int, dict]:
    """{category id: {subscribed?, frequency?}} checked: ids of this workspace's categories only."""
    if not isinstance(changes, dict):
        raise ValidationError(
            "Preferences are an object of category ids and choices.", {"preferences": "Not an object."}
        )
    if len(changes) > MAX_CHANGES:
        raise ValidationError("Too many preferences at once.", {"preferences": f"At most {MAX_CHANGES}."})
    clean, errors = {}, {}
    for key, choice in changes.items():
        where = f"preferences.{str(key)[:20]}"
        category_id = as_id(key)
        if category_id is None:
            errors[where] = "Not a category id."
            continue
        if not isinstance(choice, dict) or not choice or set(choice) - {"subscribed", "frequency"}:
            errors[where] = "Give subscribed (true or false) and/or frequency."
            continue
        if "subscribed" in choice and not isinstance(choice["subscribed"], bool):
            errors[f"{where}.subscribed"] = "Must be true or false."
        if "frequency" in choice and choice["frequency"] not in FREQUENCIES:
            errors[f"{where}.frequency"] = "Must be one of: " + ", ".join(FREQUENCIES) + "."
        clean[category_id] = choice
    known = set(
        db.session.scalars(
            select(Category.id).where(Category.workspace_id == workspace_id, Category.id.in_(list(clean) or [0]))
        )
    )
    for category_id in clean:
        if category_id not in known:
            errors[f"preferences.{category_id}"] = "No such category in this workspace."
    if errors:
        first = next(iter(errors.items()))
        raise ValidationError(f"{first[0]}: {first[1]}" if len(errors) == 1 else "Please correct the preferences.",
                              errors)  # fmt: skip
    return clean


def set_preferences(workspace_id: int, subscriber_id: int, changes) -> list[Choice]:
    """Change some of a person's choices: `{category id: {subscribed?, frequency?}}`; what a choice leaves
    out stays as it was. ValidationError (nothing changed) for an unknown, or another workspace's,
    category, or a value that is not one. Returns every choice, as subscriber_preferences."""
    sub = db.session.scalar(
        select(Subscriber.id).where(Subscriber.id == subscriber_id, Subscriber.workspace_id == workspace_id)
    )
    if sub is None:
        raise NotFound("No such subscriber.")
    clean = _clean_changes(workspace_id, changes)
    if clean:
        current = {c.category.id: c for c in subscriber_preferences(workspace_id, subscriber_id)}
        now = datetime.now(timezone.utc)
        rows = [
            {
                "subscriber_id": subscriber_id,
                "category_id": category_id,
                "subscribed": choice.get("subscribed", current[category_id].subscribed),
                "frequency": choice.get("frequency", current[category_id].frequency),
                "updated_at": now,
            }
            for category_id, choice in sorted(clean.items())
        ]
        _upsert(rows)
    return subscriber_preferences(workspace_id, subscriber_id)


def _upsert(rows: list[dict]) -> None:
    # An upsert: two saves of the same person's page at once never collide on the primary key.
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(SubscriberPreference.__table__).values(rows)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["subscriber_id", "category_id"],
            set_={c: stmt.excluded[c] for c in ("subscribed", "frequency", "updated_at")},
        )
    )
    db.session.flush()


# Counts ---------------------------------------------------------------------------------------


def category_counts(workspace_id: int) -> dict[int, CategoryCounts]:
    """Per category id, among active subscribers: opted out, and on each frequency (no row: immediately).

    Two aggregate queries, whatever the number of subscribers or categories."""
    active = (
        db.session.scalar(
            select(func.count()).where(Subscriber.workspace_id == workspace_id, Subscriber.status == "active")
        )
        or 0
    )
    sp = SubscriberPreference
    rows = db.session.execute(
        select(sp.category_id, sp.subscribed, sp.frequency, func.count())
        .join(Subscriber, Subscriber.id == sp.subscriber_id)
        .join(Category, Category.id == sp.category_id)
        .where(Category.workspace_id == workspace_id, Subscriber.status == "active")
        .group_by(sp.category_id, sp.subscribed, sp.frequency)
    ).all()
    tallies: dict[int, dict[str, int]] = {}
    for category_id, subscribed, frequency, n in rows:
        key = frequency if subscribed and frequency in FREQUENCIES else ("opted_out" if not subscribed else "immediate")
        tally = tallies.setdefault(category_id, {})
        tally[key] = tally.get(key, 0) + n
    counts = {}
    for category_id in db.session.scalars(select(Category.id).where(Category.workspace_id == workspace_id)):
        tally = tallies.get(category_id, {})
        slower = sum(tally.get(k, 0) for k in ("opted_out", "daily", "weekly", "monthly"))
        counts[category_id] = CategoryCounts(
            opted_out=tally.get("opted_out", 0),
            immediate=active - slower,
            daily=tally.get("daily", 0),
            weekly=tally.get("weekly", 0),
            monthly=tally.get("monthly", 0),
        )
    return counts


def categories_with_counts(workspace_id: int) -> list[tuple[Category, CategoryCounts]]:
    """Every category by name with its counts (category_counts)."""
    counts = category_counts(workspace_id)
    return [(c, counts.get(c.id, CategoryCounts())) for c in list_categories(workspace_id)]


# The preference center --------------------------------------------------------------------------


@dataclass(frozen=True)
class CenterPage:
    """What a person's preference center shows: the lists they are on, and their choice per category."""

    lists: list[MailingList]
    choices: list[Choice]


def center_page(subscriber: Subscriber) -> CenterPage:
    lists = db.session.scalars(
        select(MailingList)
        .join(ListSubscriber, ListSubscriber.list_id == MailingList.id)
        .where(ListSubscriber.subscriber_id == subscriber.id, MailingList.workspace_id == subscriber.workspace_id)
        .order_by(MailingList.name)
    )
    return CenterPage(list(lists), subscriber_preferences(subscriber.workspace_id, subscriber.id))


def save_center(subscriber: Subscriber, keep_list_ids, changes: dict) -> list[Choice]:
    """What one save of the public preference center does: leave the lists not kept (a person can leave
    any list they are on, never join one here; None: lists unchanged) and set the category choices.
    ValidationError, with nothing changed, for a category that is not the workspace's or a frequency
    that is not one."""
    choices = set_preferences(subscriber.workspace_id, subscriber.id, changes)
    if keep_list_ids is None:
        return choices
    keep = set(keep_list_ids)
    db.session.execute(
        delete(ListSubscriber).where(
            ListSubscriber.subscriber_id == subscriber.id, ListSubscriber.list_id.not_in(sorted(keep) or [0])
        )
    )
    db.session.flush()
    return choices


def unsubscribe_everything(subscriber: Subscriber) -> bool:
    """The preference center's "unsubscribe from everything" for a person outside any campaign (/p/);
    a campaign's recipient goes through tracking.unsubscribe_recipient, which records it for the campaign."""
    return contacts.unsubscribe(subscriber, detail=CENTER_SOURCE, source=CENTER_SOURCE)


def preferences_token(subscriber_id: int) -> str:
    return make_token(TOKEN_PURPOSE, subscriber_id)


def subscriber_for_token(token: str) -> Subscriber | None:
    """The person a /p/<token> link was made for, or None for anything else."""
    ids = read_token(TOKEN_PURPOSE, token, 1)
    return db.session.get(Subscriber, ids[0]) if ids else None


def preferences_url(subscriber_id: int) -> str:
    """A person's preference center outside any campaign (confirmation emails, the dashboard): /p/<token>."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/p/{preferences_token(subscriber_id)}"
