"""Workspaces, their owners, sign-in and API keys."""

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey, Campaign, Membership, User, Workspace
from app.services.audience.contacts import normalize_email
from app.services.delivery.providers import create_development_outbox
from app.services.errors import Conflict, Forbidden, NotFound, ValidationError
from app.services.ids import is_timezone
from app.services.platform import audit, roles

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing does not reveal accounts.

    Made on first use, not at import: argon2 costs ~100 ms and 64 MiB, which every worker
    and CLI process would otherwise pay at start.
    """
    return _hasher.hash("not-a-real-password")


MIN_PASSWORD = 10
MAX_PASSWORD = 1000

# Full stops other scripts and widths write: an address typed with them is the same address.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _fold_address(raw) -> str:
    """Compatibility-fold a typed address: full-width letters, other full stops, case, spaces."""
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else "").translate(_DOTS)
    return unicodedata.normalize("NFKC", text.strip().lower())


def login_email(raw) -> str:
    """The one form of a person's sign-in address: sign-up stores it, sign-in looks it up, the limiter keys on it.

    `ａｌｉｃｅ@example。com`, ` Alice@EXAMPLE.com ` and `alice@xn--...` spellings of one address
    all give the same string, so none of them is a second account or a fresh set of guesses.
    """
    return _fold_address(normalize_email(_fold_address(raw)))


def login_throttle_key(raw) -> str:
    """What the sign-in limiter counts attempts against: the address in its one form (hashed)."""
    try:
        identity = login_email(raw)
    except ValidationError:
        identity = _fold_address(raw)[:400]  # not an address: still fold, so variants share a count
    # Hashed: Redis holds counters, not a list of who tried to sign in.
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return slug or "workspace"


def _unique_slug(name: str) -> str:
    base = _slugify(name)
    slug, n = base, 1
    while db.session.scalar(select(Workspace.id).where(Workspace.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_workspace(name: str, owner_email: str, password: str, owner_name: str | None = None) -> Workspace:
    """Create a workspace, its owner and its development outbox provider."""
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the workspace a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    try:
        email = login_email(owner_email)
    except ValidationError as exc:
        errors["email"] = exc.message
        email = None
    password_problem = _password_problem(password)
    if password_problem:
        errors["password"] = password_problem
    if errors:
        raise ValidationError("Please correct the highlighted fields.", errors)
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("An account with that email already exists: sign in instead.", {"email": "Already registered."})
    workspace = Workspace(name=name, slug=_unique_slug(name))
    user = User(email=email, name=(owner_name or "").strip() or None, password_hash=_hasher.hash(password))
    db.session.add_all([workspace, user])
    db.session.flush()
    db.session.add(Membership(workspace_id=workspace.id, user_id=user.id, role="owner"))
    create_development_outbox(workspace.id)
    db.session.flush()
    return workspace


def create_user(email: str, password: str, name: str | None = None) -> User:
    """A new person who signs in with `email` and `password` (joining by invitation); no workspace yet."""
    errors = {}
    try:
        email = login_email(email)
    except ValidationError as exc:
        errors["email"] = exc.message
    problem = _password_problem(password)
    if problem:
        errors["password"] = problem
    if (name or "").strip() and len(name.strip()) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if errors:
        raise ValidationError("Please correct the highlighted fields.", errors)
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("An account with that email already exists: sign in instead.", {"email": "Already registered."})
    user = User(email=email, name=(name or "").strip() or None, password_hash=_hasher.hash(password))
    db.session.add(user)
    db.session.flush()
    return user


def _password_problem(password) -> str | None:
    if len(password or "") < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return "That password is too long."
    return None


def authenticate(email: str, password: str) -> User | None:
    """The user whose password matches, else None (same cost either way)."""
    try:
        email = login_email(email)
    except ValidationError:
        email = None
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def end_all_sessions(user: User) -> None:
    """Void every session and "keep me signed in" cookie the user has, on every device."""
    # The user loader accepts only the current generation: older cookies stop signing anyone in.
    # Incremented in SQL: two sign-outs at once both move it past every older cookie.
    user.session_generation = User.session_generation + 1
    db.session.flush()


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    """Set a new password after checking the current one; every other session ends."""
    errors = {}
    if not _password_matches(user, current):
        errors["current_password"] = "That is not your current password."
    problem = _password_problem(new)
    if problem:
        errors["new_password"] = problem
    elif new != confirm:
        errors["confirm_password"] = "The two new passwords differ."
    elif not errors and new == current:
        errors["new_password"] = "Choose a password different from the current one."
    if errors:
        raise ValidationError("Your password was not changed: please correct the highlighted fields.", errors)
    user.password_hash = _hasher.hash(new)
    end_all_sessions(user)


def _password_matches(user: User, password) -> bool:
    try:
        return _hasher.verify(user.password_hash, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        return False


def workspace_by_slug(slug: str) -> Workspace:
    ws = db.session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        raise NotFound(f"No workspace '{slug}'.")
    return ws


def workspace_timezone(workspace_id: int) -> str:
    """The IANA name times are read and shown in for the workspace (UTC when it has none)."""
    return db.session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id)) or "UTC"


def update_workspace(
    workspace: Workspace, name: str, timezone_name: str, click_days=None, open_hours=None
) -> Workspace:
    """Rename a workspace, set the timezone its pages show times in and (when given) its attribution
    window: orders credited to a human click within `click_days`, or an open within `open_hours` (0: no)."""
    before = settings_snapshot(workspace)
    if click_days is not None or open_hours is not None:
        from app.services.events.attribution import clean_window

        days, hours = clean_window(
            workspace.attribution_click_days if click_days is None else click_days,
            workspace.attribution_open_hours if open_hours is None else open_hours,
        )
        workspace.attribution_click_days, workspace.attribution_open_hours = days, hours
    errors = {}
    if not (name or "").strip():
        errors["name"] = "Give the workspace a name."
    elif len(name.strip()) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if not is_timezone(timezone_name):
        errors["timezone"] = f"'{str(timezone_name)[:60]}' is not a timezone (e.g. Europe/Berlin)."
    if errors:
        raise ValidationError("Please correct the highlighted fields.", errors)
    workspace.name = name.strip()[:200]
    workspace.timezone = timezone_name
    db.session.flush()
    record_settings_change(workspace, before)
    return workspace


_AUDITED_SETTINGS = ("name", "timezone", "attribution_click_days", "attribution_open_hours", "logo_url",
                     "brand_color", "suppress_role_addresses", "unconfirmed_purge_days", "frequency_cap")  # fmt: skip


def settings_snapshot(workspace: Workspace) -> dict:
    """The workspace's settings as they are now, for `record_settings_change` after a change."""
    return {name: getattr(workspace, name, None) for name in _AUDITED_SETTINGS}


def record_settings_change(workspace: Workspace, before: dict) -> None:
    """One `workspace.settings` audit entry naming what changed since `before` (nothing: no entry)."""
    after = settings_snapshot(workspace)
    changed = {k: [before[k], after[k]] for k in _AUDITED_SETTINGS if before[k] != after[k]}
    if changed:
        audit.record(workspace.id, "workspace.settings", "workspace", workspace.id, {"changed": changed})


def _hash_key(key: str) -> str:
    # Keys are 256-bit random: a fast hash is enough, and a lookup by hash stays O(1).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    workspace_id: int, name: str | None = None, role: str = "owner", creator_role: str | None = None
) -> tuple[ApiKey, str]:
    """A new API key acting with `role`; the plain key is returned once and only its hash is stored.

    `creator_role` is the role of whoever creates it (None: the command line, an operator): a key
    never gets a higher role than its creator's."""
    role = (role or "").strip().lower() if isinstance(role, str) else role
    if not roles.is_role(role):
        raise ValidationError("Choose the key's role: owner, admin, marketer or analyst.", {"role": "Not a role."})
    if creator_role is not None and not roles.may_grant(creator_role, role):
        raise Forbidden(
            f"A key cannot have a higher role than yours ({creator_role}).", {"role": "Higher than your role."}
        )
    plain = "hk_" + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=workspace_id,
        name=(name or "API key").strip()[:200] or "API key",
        prefix=plain[:10],
        key_hash=_hash_key(plain),
        role=role,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(workspace_id, "api_key.create", "api_key", key.id, {"name": key.name, "role": role})
    return key, plain


def find_api_key(plain: str) -> ApiKey | None:
    """The live key matching `plain`, with its last use recorded."""
    if not plain or len(plain) > 200:
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(plain)))
    if key is None or key.revoked_at is not None:
        return None
    now = datetime.now(timezone.utc)
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now
    return key


def revoke_api_key(workspace_id: int, key_id: int) -> None:
    key = db.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id))
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(timezone.utc)
        db.session.flush()
        audit.record(workspace_id, "api_key.revoke", "api_key", key.id, {"name": key.name, "role": key.role})


def default_sender(workspace_id: int) -> tuple[str | None, str | None]:
    """The From of the workspace's latest campaign: the address a test most likely should use."""
    row = db.session.execute(
        select(Campaign.from_name, Campaign.from_email)
        .where(Campaign.workspace_id == workspace_id)
        .order_by(Campaign.id.desc())
        .limit(1)
    ).first()
    return (row.from_name, row.from_email) if row else (None, None)
