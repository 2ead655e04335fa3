"""Ready-made flows: one call makes a draft flow and the emails it sends, then the marketer edits both.

    RECIPES / list_recipes()                    the gallery, in order: key, title, description, trigger
                                                (its type, and in words) and the options each takes
    create_from_recipe(ws, recipe, options)     the DRAFT flow (flows.create_flow, recipe=key) with its
                                                templates (recipe_emails.py, from the builder's starters)

Options are checked before anything is made, and a problem is named by its place (`options.list_id`),
so a refused call leaves nothing behind. Every recipe takes `name` (the flow's), and `from_name`,
`from_email` or `identity_id`: given, they go on every email step; not given, the steps send from the
workspace's usual sender (flow_sends.sender_of), which activating the flow checks.

The re-engagement recipe's sunset unsubscribes through an update step's `unsubscribe: true`
(flow_plan.py): the person is unsubscribed and suppressed like a click on an unsubscribe link would.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from app.models import Flow
from app.services.audience import contacts, segments
from app.services.audience.subscriber_fields import normalize_email
from app.services.automation import flows, recipe_emails
from app.services.delivery import identities
from app.services.errors import NotFound, ValidationError
from app.services.ids import as_id

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
NAME = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")  # an event or milestone name
ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


@dataclass(frozen=True)
class Option:
    """One option a recipe takes: its kind (int, bool, text, list, code, name, attribute) and bounds."""

    name: str
    kind: str
    description: str
    default: object = None
    required: bool = False
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Recipe:
    key: str
    title: str
    description: str
    trigger: str  # the trigger's type: event, list, segment, date, api
    starts_when: str  # the trigger in words
    options: tuple[Option, ...]
    build: Callable[[int, dict], dict]  # (workspace id, checked options) -> the flow's data


COMMON = (
    Option("name", "text", "The flow's name (default: the recipe's title)."),
    Option("from_name", "text", "The sender's name on every email (with from_email)."),
    Option("from_email", "email", "The From address of every email (default: the workspace's usual sender)."),
    Option("identity_id", "identity", "A sending identity for every email, instead of from_name/from_email."),
)


# ---- the flows ------------------------------------------------------------------------------------


def _email(ws: int, key: str, label: str, fill: dict | None = None) -> dict:
    tpl = recipe_emails.create_email(ws, key, fill)
    return {"type": "email", "template_id": tpl.id, "label": label}


def _welcome(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "list", "list_id": o["list_id"]},
        "steps": [
            _email(ws, "welcome_1", "Welcome"),
            {"type": "wait", "days": 2},
            _email(ws, "welcome_2", "Care tips (day 2)"),
            {"type": "wait", "days": 4},
            _email(ws, "welcome_3", "Last call (day 6)"),
        ],
        "reentry": {"mode": "once"},
    }


def _abandoned_cart(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "event", "event": "cart_updated", "restart": True},
        "steps": [
            {"type": "wait", "minutes": o["idle_minutes"], "label": "Idle cart"},
            _email(ws, "cart_1", "Reminder 1"),
            {"type": "wait", "hours": 24},
            _email(ws, "cart_2", "Reminder 2"),
        ],
        "goals": [{"event": "order_placed"}],
        "reentry": {"mode": "again", "after_days": 7},
    }


def _abandoned_wishlist(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "event", "event": "wishlist_added"},
        "steps": [
            {"type": "wait", "days": o["wait_days"]},
            {
                "type": "condition",
                "if": {"event": "order_placed"},
                "label": "Ordered since?",
                "yes": [{"type": "exit"}],
                "no": [_email(ws, "wishlist_1", "Wishlist reminder")],
            },
        ],
        "reentry": {"mode": "again", "after_days": 30},
    }


def _price_drop(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "event", "event": "price_dropped"},
        "steps": [_email(ws, "price_drop_1", "Price drop alert")],
        "reentry": {"mode": "again", "after_days": 0},
    }


def _back_in_stock(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "event", "event": "back_in_stock"},
        "steps": [_email(ws, "back_in_stock_1", "Back in stock alert")],
        "reentry": {"mode": "again", "after_days": 0},
    }


def inactive_rules(days: int) -> dict:
    """Subscribed over `days` ago, and no open nor click by a person (machines' do not count) since."""
    return {
        "all": [
            {"not": {"field": "created_at", "op": "within_days", "value": days}},
            {"event": "opened", "within_days": days, "negate": True},
            {"event": "clicked", "within_days": days, "negate": True},
        ]
    }


def _reengagement(ws: int, o: dict) -> dict:
    days = o["inactive_days"]
    segment = segments.create_segment(ws, f"Inactive for {days} days (re-engagement)", inactive_rules(days))
    engaged = {"any": [{"event": "opened", "within_days": 14}, {"event": "clicked", "within_days": 14}]}
    if o["sunset"]:
        no = [{"type": "update", "add_tags": ["sunset"], "unsubscribe": True, "label": "Sunset: unsubscribe"}]
    else:
        no = [{"type": "update", "add_tags": ["unengaged"]}]
    return {
        "trigger": {"type": "segment", "segment_id": segment.id},
        "steps": [
            _email(ws, "reengagement_1", "We miss you"),
            {"type": "wait", "days": 7},
            _email(ws, "reengagement_2", "Last note"),
            {"type": "wait", "days": 7},
            {
                "type": "condition",
                "if": {"rules": engaged},
                "label": "Opened or clicked in 14 days?",
                "yes": [{"type": "update", "add_tags": ["re-engaged"]}],
                "no": no,
            },
        ],
        "reentry": {"mode": "again", "after_days": 180},
    }


def _onboarding(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "api"},
        "steps": [
            _email(ws, "onboarding_1", "Welcome"),
            {"type": "milestone", "name": o["milestone"], "timeout_hours": o["timeout_hours"]},
            {
                "type": "condition",
                "if": {"event": "first_login"},
                "label": "Signed in yet?",
                "yes": [_email(ws, "onboarding_2", "Getting started")],
                "no": [_email(ws, "onboarding_3", "Nudge: sign in")],
            },
        ],
        "reentry": {"mode": "once"},
    }


def _post_purchase(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "event", "event": "order_placed"},
        "steps": [
            _email(ws, "post_purchase_1", "Thank you"),
            {"type": "wait", "days": o["review_after_days"]},
            _email(ws, "post_purchase_2", "Review request"),
        ],
        "reentry": {"mode": "again", "after_days": 0},
    }


def _birthday(ws: int, o: dict) -> dict:
    return {
        "trigger": {"type": "date", "attribute": o["attribute"], "offset_days": 0},
        "steps": [_email(ws, "birthday_1", "Birthday gift", {"code": o["code"]})],
        "reentry": {"mode": "once"},  # a date trigger enters people once a year
    }


RECIPES: tuple[Recipe, ...] = (
    Recipe("welcome", "Welcome series",
           "Three emails over a week for people who join a list: a welcome with a gift, care tips on day 2 and a "
           "last call for the gift on day 6.",
           "list", "Someone joins the list you choose.",
           (Option("list_id", "list", "The list whose new members enter.", required=True),), _welcome),
    Recipe("abandoned_cart", "Abandoned cart",
           "Two reminders with the cart's items, after the cart has been idle (1 hour by default) and a day "
           "later; an order ends it at once.",
           "event", "A cart is updated (cart_updated) and then left idle.",
           (Option("idle_minutes", "int", "Minutes a cart stays untouched before the first reminder.", 60,
                   low=5, high=10080),), _abandoned_cart),
    Recipe("abandoned_wishlist", "Abandoned wishlist",
           "A reminder of the product someone wished for, a few days later, unless they have ordered since.",
           "event", "Someone adds a product to their wishlist (wishlist_added).",
           (Option("wait_days", "int", "Days to wait before the reminder.", 3, low=1, high=60),),
           _abandoned_wishlist),
    Recipe("price_drop", "Price drop",
           "Tells people the product on their wishlist costs less now, with the old and the new price.",
           "event", "A wished-for product's price goes down (price_dropped, raised by the catalogue).", (),
           _price_drop),
    Recipe("back_in_stock", "Back in stock",
           "Tells people the product they watched is available again.",
           "event", "A watched product comes back in stock (back_in_stock, raised by the catalogue).", (),
           _back_in_stock),
    Recipe("reengagement", "Re-engagement",
           "A “we miss you” email with a code, a last note a week later, then people who opened or clicked are "
           "tagged re-engaged; the others are tagged, or with sunset unsubscribed.",
           "segment", "Someone has not opened nor clicked (as a person) for 90 days.",
           (Option("inactive_days", "int", "Days without a person's open or click.", 90, low=30, high=730),
            Option("sunset", "bool", "Unsubscribe those who still do not engage.", False)), _reengagement),
    Recipe("onboarding", "Onboarding with milestones",
           "A welcome, then a wait for the profile_completed milestone (or a timeout); people who signed in get "
           "tips, the others a nudge.",
           "api", "Your app enrolls a new user (POST /flows/{id}/enroll).",
           (Option("milestone", "name", "The milestone_reached name to wait for.", "profile_completed"),
            Option("timeout_hours", "int", "Hours to wait for the milestone.", 72, low=1, high=8784)),
           _onboarding),
    Recipe("post_purchase", "Post-purchase",
           "A thank-you with the order's items right away, and a review request a week later.",
           "event", "Someone places an order (order_placed).",
           (Option("review_after_days", "int", "Days before the review request.", 7, low=1, high=90),),
           _post_purchase),
    Recipe("birthday", "Birthday",
           "A birthday email with a gift code, on the day (in the person's date attribute).",
           "date", "It is the person's birthday (the date attribute you choose).",
           (Option("attribute", "attribute", "The date attribute (YYYY-MM-DD).", "birthday"),
            Option("code", "code", "The gift code the email shows.", "BIRTHDAY20")), _birthday),
)  # fmt: skip
_BY_KEY = {r.key: r for r in RECIPES}
KEYS = tuple(_BY_KEY)


def list_recipes() -> list[Recipe]:
    """The gallery, in order."""
    return list(RECIPES)


def options_of(recipe: Recipe) -> tuple[Option, ...]:
    """The recipe's own options, then those every recipe takes."""
    return recipe.options + COMMON


# ---- options ----------------------------------------------------------------------------------------


def _fail(name: str, message: str):
    place = f"options.{name}"
    raise ValidationError(f"{place}: {message}", {place: message})


def _whole(option: Option, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        _fail(option.name, "Must be a whole number.")
    if not option.low <= int(value) <= option.high:
        _fail(option.name, f"Must be between {option.low:,} and {option.high:,}.")
    return int(value)


def _text(option: Option, value, pattern: re.Pattern | None = None, why: str = "") -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
        _fail(option.name, "Text of 1 to 200 characters.")
    value = " ".join(value.split())
    if pattern is not None and not pattern.match(value):
        _fail(option.name, why)
    return value


def _list(ws: int, option: Option, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or as_id(value) is None:
        _fail(option.name, "The id of one of this workspace's lists.")
    try:
        return contacts.get_list(ws, value).id
    except NotFound:
        _fail(option.name, "No such list in this workspace.")


def _identity(ws: int, option: Option, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or as_id(value) is None:
        _fail(option.name, "The id of one of this workspace's sending identities.")
    try:
        return identities.get_identity(ws, value).id
    except NotFound:
        _fail(option.name, "No such sending identity in this workspace.")


def _email_address(option: Option, value) -> str:
    try:
        return normalize_email(value)
    except ValidationError as exc:
        _fail(option.name, exc.message)


def _check(ws: int, option: Option, value):
    kind = option.kind
    if kind == "int":
        return _whole(option, value)
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(option.name, "true or false.")
        return value
    if kind == "list":
        return _list(ws, option, value)
    if kind == "identity":
        return _identity(ws, option, value)
    if kind == "email":
        return _email_address(option, value)
    if kind == "code":
        return _text(option, value, CODE, "Letters, digits, - and _ (at most 40), e.g. BIRTHDAY20.")
    if kind == "name":
        return _text(option, value, NAME, "Lower-case letters, digits, _ and ., e.g. profile_completed.")
    if kind == "attribute":
        return _text(option, value, ATTRIBUTE, "An attribute's name: letters, digits and _, e.g. birthday.")
    return _text(option, value)


def check_options(workspace_id: int, recipe: Recipe, options) -> dict:
    """Every option of the recipe, checked or defaulted; a problem names `options.<name>`."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValidationError("options: An object.", {"options": "An object."})
    known = {o.name: o for o in options_of(recipe)}
    unknown = next((k for k in options if k not in known), None)
    if unknown is not None:
        _fail(str(unknown)[:100], f"Not an option of the {recipe.title} recipe: use {', '.join(known)}.")
    out = {}
    for name, option in known.items():
        value = options.get(name)
        if value is None or value == "":
            if option.required:
                _fail(name, f"Required: {option.description}")
            out[name] = option.default
        else:
            out[name] = _check(workspace_id, option, value)
    if out["identity_id"] and (out["from_email"] or out["from_name"]):
        _fail("identity_id", "Give a sending identity or from_name/from_email, not both.")
    if out["from_name"] and not out["from_email"]:
        _fail("from_email", "Required with from_name.")
    return out


def _sender(o: dict) -> dict:
    if o["identity_id"]:
        return {"identity_id": o["identity_id"]}
    if o["from_email"]:
        return {"from_email": o["from_email"], **({"from_name": o["from_name"]} if o["from_name"] else {})}
    return {}


def _with_sender(steps: list[dict], sender: dict) -> list[dict]:
    out = []
    for step in steps:
        step = {**step, **sender} if step["type"] == "email" else dict(step)
        for branch in ("yes", "no"):
            if branch in step:
                step[branch] = _with_sender(step[branch], sender)
        out.append(step)
    return out


# ---- making it ----------------------------------------------------------------------------------------


def get_recipe(key) -> Recipe:
    recipe = _BY_KEY.get(key) if isinstance(key, str) else None
    if recipe is None:
        why = f"One of {', '.join(KEYS)}."
        raise ValidationError(f"recipe: {why}", {"recipe": why})
    return recipe


def create_from_recipe(workspace_id: int, recipe: str, options: dict | None = None) -> Flow:
    """A DRAFT flow of the recipe, with the templates its emails use; nothing runs until it is activated."""
    spec = get_recipe(recipe)
    checked = check_options(workspace_id, spec, options)
    data = spec.build(workspace_id, checked)
    data["steps"] = _with_sender(data["steps"], _sender(checked))
    data["name"] = checked["name"] or spec.title
    return flows.create_flow(workspace_id, data, recipe=spec.key)
