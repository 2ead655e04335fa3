"""A campaign's settings, declared once: SETTINGS.

A setting is what a marketer chooses for a campaign (its name, content, audience, sender, delivery,
tracking and timing). Every place that goes through them one by one reads this table instead of
listing them again:

    drafts           cleans each with its `clean` (`default` when the input leaves it out) and reads
                     a campaign's values back (campaign_values)
    recurring        a run copies from its parent the settings marked `copied_to_runs`
    the campaign form (blueprints/campaigns/forms.py) reads each by its `kind`
    the API          CampaignCreate has one property per setting (`required`, `default`, `max_length`,
                     `description`); the serializer shows each, those `in_summary` in lists too

A chosen sending identity (identity_id) fills from_name, from_email and reply_to before they are cleaned
(with_identity): copied when the campaign is saved, so mail goes out as the draft showed it.

A/B variants are not settings: ab_tests cleans and stores them. A cleaner takes the raw value and
the Scope it is cleaned in; it returns the value to store or raises ValidationError: with `fields`
naming the wrong parts (e.g. send_window.start), or with a message alone, which is then the setting's.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from app.models import Campaign
from app.services.audience import preferences
from app.services.audience.contacts import normalize_email
from app.services.campaigns import audience
from app.services.campaigns.recurrence import clean_recurrence
from app.services.campaigns.send_windows import clean_window
from app.services.content.templates import get_template
from app.services.delivery import identities, pools
from app.services.delivery.providers import get_email_provider
from app.services.delivery.routing import clean_routing
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform.workspaces import workspace_timezone

NAME_LENGTH = 200  # the campaign's name and its sender name
EMAIL_LENGTH = 320
FROM_FIELDS = ("from_name", "from_email", "reply_to")  # what a sending identity fills in


@dataclass(frozen=True)
class Scope:
    """What cleaning a setting may need to know: the workspace, and its timezone (read once, when needed)."""

    workspace_id: int

    @cached_property
    def timezone(self) -> str:
        return workspace_timezone(self.workspace_id)


Cleaner = Callable[[object, Scope], object]


# What a setting holds; the form reads, and the API schema describes, each kind in one way.
KINDS = ("text", "email", "id", "ids", "flag", "percent", "send_window", "recurrence", "routing")


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # one of KINDS
    clean: Cleaner
    required: bool = False
    default: object = None  # what an input without the setting means
    max_length: int | None = None
    description: str = ""  # for the API reference
    copied_to_runs: bool = False  # each run of a recurring series takes its parent's value
    in_summary: bool = False  # shown in the API's campaign lists too, not only with a single campaign
    column: bool = True  # stored on Campaign (the audience's targets are rows: campaigns/audience.py)

    @property
    def is_object(self) -> bool:
        """Stored as a JSON object, or None for none (an empty object means none too)."""
        return self.kind in ("send_window", "recurrence", "routing")


def _one_line(missing: str, too_long: str) -> Cleaner:
    def clean(value, scope: Scope) -> str:
        text = " ".join((value or "").split())
        if not text:
            raise ValidationError(missing)
        if len(text) > NAME_LENGTH:
            raise ValidationError(too_long)
        return text

    return clean


def _template(value, scope: Scope) -> int | None:
    template_id = as_id(value)
    try:
        get_template(scope.workspace_id, template_id or 0)
    except NotFound:
        raise ValidationError("Choose one of this workspace's templates.") from None
    return template_id


def _targets(name: str) -> Cleaner:
    def clean(value, scope: Scope) -> list[int]:
        return audience.clean_ids(scope.workspace_id, name, value)

    return clean


def _email(value, scope: Scope) -> str:
    return normalize_email(value)


def _optional_email(value, scope: Scope) -> str | None:
    return normalize_email(value) if value else None


def _identity(value, scope: Scope) -> int | None:
    return identities.clean_identity_id(scope.workspace_id, value)


def _pool(value, scope: Scope) -> int | None:
    if not value:
        return None
    try:
        return pools.get_pool(scope.workspace_id, as_id(value) or 0).id
    except NotFound:
        raise ValidationError("Choose one of this workspace's sending pools.") from None


def _provider(value, scope: Scope) -> int | None:
    if not value:
        return None
    try:
        return get_email_provider(scope.workspace_id, as_id(value) or 0).id
    except NotFound:
        raise ValidationError("Choose one of this workspace's providers.") from None


def _category(value, scope: Scope) -> int | None:
    return preferences.clean_category_id(scope.workspace_id, value)


def _flag(value, scope: Scope) -> bool:
    return bool(value)


MAX_HOLDOUT = 50


def _holdout(value, scope: Scope) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValidationError(f"The holdout is a whole percentage from 0 to {MAX_HOLDOUT}.")
    percent = int(str(value).strip())
    if percent > MAX_HOLDOUT:
        raise ValidationError(f"Hold out at most {MAX_HOLDOUT}% of the audience.")
    return percent


def _window(value, scope: Scope) -> dict | None:
    return clean_window(value, scope.timezone)


def _recurrence(value, scope: Scope) -> dict | None:
    return clean_recurrence(value, scope.timezone)


def _routing(value, scope: Scope) -> dict | None:
    return clean_routing(scope.workspace_id, value)


# In the order the API reference lists them. A run is sent once (no recurrence) and, like a campaign
# without routing, goes through its parent's provider or the default (no routing_config).
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "name",
        "text",
        _one_line("Give the campaign a name.", f"Keep the name under {NAME_LENGTH} characters."),
        required=True,
        max_length=NAME_LENGTH,
        in_summary=True,
    ),
    Setting("template_id", "id", _template, required=True, copied_to_runs=True),
    Setting(
        "list_ids",
        "ids",
        _targets("list_ids"),
        description="Lists to send to. With segment_ids, at least one of the two: a person on several lists "
        "or segments gets the email once.",
        copied_to_runs=True,
        column=False,
    ),
    Setting(
        "segment_ids",
        "ids",
        _targets("segment_ids"),
        description="Segments to send to (GET /segments), evaluated when the send starts.",
        copied_to_runs=True,
        column=False,
    ),
    Setting(
        "exclude_list_ids",
        "ids",
        _targets("exclude_list_ids"),
        description="Lists whose members are left out, whatever else they are on.",
        copied_to_runs=True,
        column=False,
    ),
    Setting(
        "exclude_segment_ids",
        "ids",
        _targets("exclude_segment_ids"),
        description="Segments whose members are left out.",
        copied_to_runs=True,
        column=False,
    ),
    Setting(
        "identity_id",
        "id",
        _identity,
        description="A sending identity (GET /identities): its display name, address and reply-to are copied "
        "into from_name, from_email and reply_to when the campaign is saved, whatever those say. null: the "
        "From typed in them. A change to the identity reaches a draft when it is saved again.",
        copied_to_runs=True,
    ),
    Setting(
        "from_name",
        "text",
        _one_line("Say who the email is from.", f"Keep the sender name under {NAME_LENGTH} characters."),
        max_length=NAME_LENGTH,
        description="Required unless identity_id is given.",
        copied_to_runs=True,
    ),
    Setting(
        "from_email",
        "email",
        _email,
        max_length=EMAIL_LENGTH,
        description="Required unless identity_id is given. An address on a domain that is not a verified "
        "sending domain of the workspace is allowed, but its mail is not DKIM-signed (the campaign page warns).",
        copied_to_runs=True,
    ),
    Setting("reply_to", "email", _optional_email, max_length=EMAIL_LENGTH, copied_to_runs=True),
    Setting(
        "routing_config",
        "routing",
        _routing,
        description="Which providers carry the send: the strategy's pick per message; with fallback, a "
        "provider that errors (refused connection, 5xx, throttling) fails over to the next. null: the "
        "campaign's provider or the workspace default.",
    ),
    Setting(
        "pool_id",
        "id",
        _pool,
        description="A sending pool (GET /pools): its providers carry the send and fail over only to one "
        "another. null: routing_config or provider_id, else the workspace's default marketing pool.",
        copied_to_runs=True,
    ),
    Setting(
        "provider_id",
        "id",
        _provider,
        description="The workspace's default provider when absent.",
        copied_to_runs=True,
    ),
    Setting("track_opens", "flag", _flag, default=True, copied_to_runs=True),
    Setting("track_clicks", "flag", _flag, default=True, copied_to_runs=True),
    Setting(
        "holdout_percent",
        "percent",
        _holdout,
        default=0,
        description=f"A share of the audience (0–{MAX_HOLDOUT}%) never sent, chosen deterministically and "
        "recorded as held_out: the campaign then compares the conversion rate and revenue per recipient of "
        "those sent against those held out, with 95% confidence intervals.",
        copied_to_runs=True,
    ),
    Setting(
        "category_id",
        "id",
        _category,
        description="A category (GET /categories): people who opted out of it are skipped (suppressed:category), "
        "and those who chose daily, weekly or monthly get at most one of its campaigns a day, week or month "
        "(the rest are skipped as frequency). "
        "null: none.",
        copied_to_runs=True,
    ),
    Setting("send_window", "send_window", _window, copied_to_runs=True, in_summary=True),
    Setting(
        "send_at_best_time",
        "flag",
        _flag,
        default=False,
        description="Send each person at their best hour within the 24 hours after the send starts: the hour "
        "of the week they opened and clicked most as a person (events/send_time.py; people with little "
        "history lean on the workspace's pattern). The campaign page shows how the send spread over the hours.",
        copied_to_runs=True,
    ),
    Setting("recurrence", "recurrence", _recurrence, in_summary=True),
)


def clean_settings(workspace_id: int, data: dict) -> dict:
    """Every setting of `data` cleaned, by name; one ValidationError naming each wrong field otherwise."""
    scope, values, errors = Scope(workspace_id), {}, {}
    data = with_identity(workspace_id, _one_segment(data))
    for setting in SETTINGS:
        try:
            values[setting.name] = setting.clean(data.get(setting.name, setting.default), scope)
        except ValidationError as exc:
            errors.update(exc.fields or {setting.name: exc.message})
    if not any(name in errors for name in audience.TARGETS):
        try:
            audience.check(audience.Audience.of(values))
        except ValidationError as exc:
            errors.update(exc.fields)
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    return values


def _one_segment(data: dict) -> dict:
    """`segment_id` (the first API's single segment) as `segment_ids`."""
    if data.get("segment_id") and "segment_ids" not in data:
        return {**data, "segment_ids": [data["segment_id"]]}
    return data


def with_identity(workspace_id: int, data: dict) -> dict:
    """`data` with the From fields copied from the identity it names; as it is when it names none (or
    one that is not the workspace's: identity_id's cleaner says so)."""
    identity_id = as_id(data.get("identity_id"))
    try:
        identity = identities.get_identity(workspace_id, identity_id) if identity_id else None
    except NotFound:
        return data
    if identity is None:
        return data
    return {**data, **dict(zip(FROM_FIELDS, identities.from_fields(identity), strict=True))}


def changed_values(values: dict, changes: dict) -> dict:
    """A campaign's settings with `changes` made: a From typed without identity_id replaces the identity."""
    merged = {**values, **changes}
    if "identity_id" not in changes and any(name in changes for name in FROM_FIELDS):
        merged["identity_id"] = None
    return merged


def run_values(parent: Campaign) -> dict:
    """The settings a run of a recurring series takes from its parent (its lists are copied as rows)."""
    return {s.name: getattr(parent, s.name) for s in SETTINGS if s.copied_to_runs and s.column}
