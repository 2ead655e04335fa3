"""Signup forms: a hosted page per form (/f/<public_id>) and an embeddable snippet that posts to it.

A form names the inputs it shows (email always; `name`, `timezone` and `attributes.<key>`), the lists
and tags a signup gets, and where a person goes afterwards: the form's stored redirect URL (never one
from the request) or its thank-you message. The public id in the URL is the capability: a post needs
no session and no CSRF token, since forms embedded on other sites post across sites by design.

A submission (`submit`) is checked like any input (a clear message per field, re-shown on the hosted
page); a filled honeypot (HONEYPOT, a field people never see) is answered like a success and stores
nothing; a new address becomes a subscriber with source `form` and its consent (time, IP, form), and a
known one rejoins (audience/signups.py says what that changes). The answer never depends on whether
the address was known, so a form cannot be used to find out who subscribes. The per-IP rate limit is
the web layer's (SIGNUP_RATE_LIMIT).
"""

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis
from limits import parse as parse_limit
from markupsafe import escape
from sqlalchemy import select, update

from app.extensions import db
from app.models import MailingList, SignupForm, Subscriber
from app.redis_client import get_redis
from app.services.audience import signups
from app.services.audience import tags as tagging
from app.services.audience.import_columns import attribute_name
from app.services.audience.subscriber_fields import canonical_timezone, normalize_email, workspace_lists
from app.services.errors import Conflict, NotFound, ValidationError
from app.services.ids import as_ids
from app.services.platform import audit

log = logging.getLogger(__name__)

HONEYPOT = "website"  # a name bots like to fill; hidden from people, who leave it empty
ATTRIBUTE_INPUT = "attributes."
MAX_ATTRIBUTE_FIELDS = 10
MAX_NAME = 200
MAX_VALUE = 500  # one attribute typed into a public form
MAX_THANK_YOU = 2000
MAX_LISTS = 50


@dataclass(frozen=True)
class Input:
    """One input of a form: its HTML name, its label and its type."""

    name: str
    label: str
    kind: str = "text"  # text | email | timezone
    required: bool = False
    autocomplete: str | None = None


@dataclass
class Submission:
    """What a post to a form came to: `errors` per input (empty when it worked) and the values to re-show."""

    form: SignupForm
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


# The marketer's side ----------------------------------------------------------------------------


def list_forms(workspace_id: int) -> list[SignupForm]:
    return list(
        db.session.scalars(select(SignupForm).where(SignupForm.workspace_id == workspace_id).order_by(SignupForm.name))
    )


def get_form(workspace_id: int, form_id: int) -> SignupForm:
    form = db.session.scalar(
        select(SignupForm).where(SignupForm.id == form_id, SignupForm.workspace_id == workspace_id)
    )
    if form is None:
        raise NotFound("No such signup form.")
    return form


def create_form(workspace_id: int, data: dict) -> SignupForm:
    """A new form from `data`: name, fields, list_ids, tags, redirect_url, thank_you_message."""
    form = SignupForm(workspace_id=workspace_id, public_id=secrets.token_urlsafe(16), submissions=0)
    _apply(form, _clean(workspace_id, data))
    db.session.add(form)
    db.session.flush()
    return form


def update_form(workspace_id: int, form_id: int, data: dict) -> SignupForm:
    form = get_form(workspace_id, form_id)
    _apply(form, _clean(workspace_id, data))
    db.session.flush()
    return form


def delete_form(workspace_id: int, form_id: int) -> None:
    """Delete a form; its page and its embedded copies stop working (404). Its subscribers stay."""
    form = get_form(workspace_id, form_id)
    audit.record(workspace_id, "signup_form.delete", "signup_form", form.id, {"name": form.name})
    db.session.delete(form)
    db.session.flush()


def _apply(form: SignupForm, clean: dict) -> None:
    for key, value in clean.items():
        setattr(form, key, value)


def _clean(workspace_id: int, data: dict) -> dict:
    """The form's settings checked; every problem named by its field."""
    errors: dict[str, str] = {}
    clean = {
        "name": _form_name(data.get("name"), errors),
        "fields": _fields(data.get("fields"), errors),
        "list_ids": _lists(workspace_id, data.get("list_ids"), errors),
        "tags": _tags(data.get("tags"), errors),
        "redirect_url": _redirect(data.get("redirect_url"), errors),
        "thank_you_message": _thank_you(data.get("thank_you_message"), errors),
    }
    if errors:
        first = next(iter(errors.values()))
        raise ValidationError(first if len(errors) == 1 else "Please correct the highlighted fields.", errors)
    return clean


def _form_name(value, errors: dict) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        errors["name"] = "Give the form a name (only your team sees it)."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    return name[:200]


def _fields(value, errors: dict) -> list[str]:
    """["name", "timezone", "attributes.<key>", …] in that order, each once."""
    chosen: list[str] = []
    for item in value or []:
        item = str(item).strip()
        if item in ("name", "timezone"):
            chosen.append(item)
            continue
        key = attribute_name(item[len(ATTRIBUTE_INPUT) :] if item.startswith(ATTRIBUTE_INPUT) else item)
        if not key or not re.fullmatch(r"[a-z0-9_]{1,50}", key):
            errors["fields"] = f"'{item[:40]}' cannot be a field: use letters, digits and _ (up to 50)."
            continue
        chosen.append(ATTRIBUTE_INPUT + key)
    chosen = list(dict.fromkeys(chosen))
    if sum(1 for c in chosen if c.startswith(ATTRIBUTE_INPUT)) > MAX_ATTRIBUTE_FIELDS:
        errors["fields"] = f"At most {MAX_ATTRIBUTE_FIELDS} extra fields."
    return chosen


def _lists(workspace_id: int, value, errors: dict) -> list[int]:
    ids = as_ids(value or [])
    if ids is not None and len(ids) > MAX_LISTS:
        errors["list_ids"] = f"At most {MAX_LISTS} lists."
        return []
    try:
        return workspace_lists(workspace_id, value)
    except (ValidationError, NotFound) as exc:
        errors["list_ids"] = exc.message
        return []


def _tags(value, errors: dict) -> list[str]:
    try:
        return tagging.clean_tags(value)
    except ValidationError as exc:
        errors["tags"] = exc.message
        return []


def _redirect(value, errors: dict) -> str | None:
    url = str(value or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 1000:
        errors["redirect_url"] = "Give a full web address starting with https:// (up to 1,000 characters)."
    elif parts.username or parts.password or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        errors["redirect_url"] = "The address may not contain spaces, control characters or a password."
    return url[:1000]


def _thank_you(value, errors: dict) -> str | None:
    text = str(value or "").strip().replace("\x00", "")
    if len(text) > MAX_THANK_YOU:
        errors["thank_you_message"] = f"Keep the message under {MAX_THANK_YOU:,} characters."
    return text[:MAX_THANK_YOU] or None


# What the form shows ----------------------------------------------------------------------------


def inputs(form: SignupForm) -> list[Input]:
    """The form's inputs in order: email first, then the chosen fields (the honeypot is extra)."""
    shown = [Input("email", "Email address", "email", True, "email")]
    for item in form.fields or []:
        if item == "name":
            shown.append(Input("name", "Name", autocomplete="name"))
        elif item == "timezone":
            shown.append(Input("timezone", "Timezone", "timezone"))
        elif item.startswith(ATTRIBUTE_INPUT):
            key = item[len(ATTRIBUTE_INPUT) :]
            shown.append(Input(item, key.replace("_", " ").capitalize()))
    return shown


def form_lists(form: SignupForm) -> list[MailingList]:
    """The form's lists that still exist, by name."""
    ids = [i for i in (form.list_ids or []) if isinstance(i, int)]
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(MailingList)
            .where(MailingList.workspace_id == form.workspace_id, MailingList.id.in_(ids))
            .order_by(MailingList.name)
        )
    )


def asks_confirmation(form: SignupForm) -> bool:
    return any(lst.double_opt_in for lst in form_lists(form))


def hosted_url(form: SignupForm, base_url: str) -> str:
    return f"{base_url}/f/{form.public_id}"


def embed_snippet(form: SignupForm, base_url: str) -> str:
    """Plain HTML to paste into a website: the form's inputs and the honeypot, posting to the hosted form.
    No script and nothing loaded from elsewhere; the site styles it as it likes."""
    lines = [f'<form method="post" action="{escape(hosted_url(form, base_url))}" accept-charset="utf-8">']
    for item in inputs(form):
        ident = "herald-" + re.sub(r"[^a-z0-9]+", "-", item.name.lower())
        kind = "email" if item.kind == "email" else "text"
        extra = ' required autocomplete="email"' if item.required else ""
        if item.kind == "timezone":
            extra = ' placeholder="e.g. Europe/Berlin"'
        elif item.autocomplete and not item.required:
            extra = f' autocomplete="{item.autocomplete}"'
        lines.append(f'  <label for="{ident}">{escape(item.label)}</label>')
        lines.append(f'  <input id="{ident}" type="{kind}" name="{escape(item.name)}"{extra}>')
    lines.append(
        '  <div style="position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden" aria-hidden="true">'
        f'<label>Leave this field empty <input type="text" name="{HONEYPOT}" tabindex="-1" autocomplete="off" value="">'
        "</label></div>"
    )
    lines.append('  <button type="submit">Subscribe</button>')
    lines.append("</form>")
    return "\n".join(lines)


def public_form(public_id: str) -> SignupForm | None:
    """The form a public URL names, or None."""
    if not isinstance(public_id, str) or not public_id or len(public_id) > 32 or not public_id.isascii():
        return None
    return db.session.scalar(select(SignupForm).where(SignupForm.public_id == public_id))


# A person's side --------------------------------------------------------------------------------


def submit(form: SignupForm, posted, ip: str | None) -> Submission:
    """Take one post to the form (a mapping of input names to text); see the module's docstring."""
    values = {item.name: _text(posted.get(item.name)) for item in inputs(form)}
    result = Submission(form, values)
    if _text(posted.get(HONEYPOT)):
        return result  # a machine: answered as if it worked, nothing stored
    person = _person(form, values, result.errors)
    if result.errors:
        return result
    list_ids = [lst.id for lst in form_lists(form)]
    try:
        signups.subscribe(
            form.workspace_id,
            person["email"],
            person["name"],
            person["attributes"],
            list_ids,
            person["timezone"],
            source="form",
            tags=form.tags,
            ip=ip,
            form_id=form.id,
        )
    except Conflict:  # known, or erased on request: rejoin decides (nothing for an erased person)
        _rejoin(form, person["email"], list_ids)
    db.session.execute(
        update(SignupForm).where(SignupForm.id == form.id).values(submissions=SignupForm.submissions + 1)
    )
    db.session.flush()
    return result


def _rejoin(form: SignupForm, email: str, list_ids: list[int]) -> None:
    known = db.session.scalar(
        select(Subscriber).where(Subscriber.workspace_id == form.workspace_id, Subscriber.email == email)
    )
    if known is not None:
        signups.rejoin(known, list_ids, form.tags or [])


def _text(value) -> str:
    """A posted value as one clean piece of text: control characters (a NUL cannot be stored) removed."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c in "\t\n" or unicodedata.category(c) != "Cc").strip()


def _person(form: SignupForm, values: dict, errors: dict) -> dict:
    person = {"email": None, "name": None, "timezone": None, "attributes": {}}
    try:
        person["email"] = normalize_email(values.get("email", ""))
    except ValidationError as exc:
        errors["email"] = "Enter your email address." if not values.get("email") else _email_problem(exc)
    name = " ".join(values.get("name", "").split())
    if len(name) > MAX_NAME:
        errors["name"] = f"Keep your name under {MAX_NAME} characters."
    person["name"] = name or None
    typed_tz = values.get("timezone", "")
    person["timezone"] = canonical_timezone(typed_tz)
    if typed_tz and person["timezone"] is None:
        errors["timezone"] = "Choose a timezone from the list (for example Europe/Berlin)."
    for item in inputs(form):
        if item.name.startswith(ATTRIBUTE_INPUT) and values.get(item.name):
            if len(values[item.name]) > MAX_VALUE:
                errors[item.name] = f"Keep this under {MAX_VALUE} characters."
            person["attributes"][item.name[len(ATTRIBUTE_INPUT) :]] = values[item.name]
    return person


def _email_problem(exc: ValidationError) -> str:
    return "That does not look like an email address." if "too long" not in exc.message else exc.message


def take_submission_slot(form: SignupForm, ip: str | None, limit: str) -> bool:
    """Count one post to the form from `ip` against `limit` ("10 per 10 minutes"); False once it is spent."""
    return take_slot(f"herald:signup-rate:{form.id}:{ip or '-'}", limit, f"signup form {form.id}")


def take_slot(key: str, limit: str, what: str) -> bool:
    """Count one post under `key` against `limit`; False once spent. A fixed window in Redis shared by every
    web process: the first post of a window creates the counter with the window's expiry, every post
    increments it. Public signup pages (forms, referral links) share it."""
    item = parse_limit(limit)
    try:
        with get_redis().pipeline() as pipe:
            pipe.set(key, 0, ex=item.get_expiry(), nx=True)
            pipe.incr(key)
            _, count = pipe.execute()
    except redis.RedisError as exc:  # a signup is worth more than the limit while Redis is away
        log.warning("%s: rate limit not checked (%s)", what, exc)
        return True
    return count <= item.amount
