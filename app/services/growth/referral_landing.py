"""The landing page of a share link (/r/<code>), for the friend who opens it.

    landing(code)        the code with its program and workspace; None for an unknown code or an archived
                         program (the page answers 404)
    record_visit         visits + 1 in one UPDATE, for a GET from a person only: HEAD requests, link previews
                         of chat apps and mail scanners are no visits. Best effort: the page never fails for it
    take_signup_slot     SIGNUP_RATE_LIMIT per program and IP address, a fixed window in Redis shared by every
                         web process (as signup forms count theirs)
    sign_up              a new person becomes a subscriber (source `referral`, consent {method: referral, at, ip,
                         program_id}; `pending` and sent the confirmation email when the program's list asks for
                         double opt-in: audience/signups.py) with a pending Referral expiring after expiry_days

Only new people count (referrals.py). Yet every well-formed signup gets the same answer, as signup forms do:
a page saying "you are already subscribed" or "this is the referrer's own address" would tell anyone holding
a link who subscribes. What happened is the `outcome` sign_up returns (created, self, known, machine), which
no public page shows.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import MailingList, Referral, ReferralCode, ReferralProgram, Subscriber, Workspace
from app.services.audience import signup_forms, signups
from app.services.audience.subscriber_fields import normalize_email
from app.services.errors import Conflict, ValidationError

HONEYPOT = "website"  # the name signup forms use for theirs: bots like to fill it
SOURCE = "referral"
MAX_NAME = 200
# Link previews (chat apps, social networks), crawlers, scripts and mail scanners: they fetch, nobody visits.
_MACHINE_UA = re.compile(
    r"bot\b|bot/|spider|crawl|slurp|facebookexternalhit|whatsapp|telegram|skype|discord|slack|embedly|preview|"
    r"curl/|wget/|python-|go-http-client|java/|okhttp|libwww|headless|phantomjs|scanner|proofpoint|mimecast|"
    r"safelinks|urldefense|barracuda",
    re.I,
)


@dataclass(frozen=True)
class Landing:
    code: ReferralCode
    program: ReferralProgram
    workspace: Workspace

    @property
    def open(self) -> bool:
        """Taking signups (a paused program's page says it is closed for now)."""
        return self.program.status == "active"


@dataclass
class Signup:
    """A post to the page: `errors` per input (empty when it was taken) and the values to show again."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    outcome: str | None = None  # created | self | known | machine (never shown publicly)
    confirm: bool = False  # a confirmation email went out (double opt-in list)

    @property
    def ok(self) -> bool:
        return not self.errors


def clean_code(value) -> str | None:
    """A code as typed or linked (case and surrounding spaces do not matter), None when it cannot be one."""
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if 0 < len(text) <= 40 and text.isascii() and text.isalnum() else None


def landing(code) -> Landing | None:
    code = clean_code(code)
    if code is None:
        return None
    row = db.session.execute(
        select(ReferralCode, ReferralProgram, Workspace)
        .join(ReferralProgram, ReferralProgram.id == ReferralCode.program_id)
        .join(Workspace, Workspace.id == ReferralCode.workspace_id)
        .where(ReferralCode.code == code)
    ).first()
    if row is None or row[1].status == "archived":
        return None
    return Landing(*row)


def asks_confirmation(page: Landing) -> bool:
    """New people confirm by email first (the program's list asks for double opt-in): the same for every address."""
    if not page.program.list_id:
        return False
    return bool(db.session.scalar(select(MailingList.double_opt_in).where(MailingList.id == page.program.list_id)))


def archived_workspace(code) -> Workspace | None:
    """The workspace of a code whose program is archived (its 404 page still wears the workspace's brand)."""
    code = clean_code(code)
    if code is None:
        return None
    return db.session.scalar(
        select(Workspace)
        .join(ReferralCode, ReferralCode.workspace_id == Workspace.id)
        .join(ReferralProgram, ReferralProgram.id == ReferralCode.program_id)
        .where(ReferralCode.code == code, ReferralProgram.status == "archived")
    )


def is_machine(user_agent: str | None) -> bool:
    return not user_agent or bool(_MACHINE_UA.search(user_agent))


def record_visit(code_id: int, method: str, user_agent: str | None) -> bool:
    """Count one visit of a person (a GET, not a machine's user agent); True when counted."""
    if method != "GET" or is_machine(user_agent):
        return False
    db.session.execute(
        update(ReferralCode)
        .where(ReferralCode.id == code_id)
        .values(visits=ReferralCode.visits + 1)
        .execution_options(synchronize_session=False)
    )
    return True


def take_signup_slot(program_id: int, ip: str | None, limit: str) -> bool:
    """Count one signup post to the program from `ip` against `limit` ("10 per 10 minutes"); False once spent."""
    return signup_forms.take_slot(f"herald:referral-signup-rate:{program_id}:{ip or '-'}", limit,
                                  f"referral program {program_id}")  # fmt: skip


def sign_up(page: Landing, posted, ip: str | None) -> Signup:
    """Take one post of the page (a mapping of input names to text); see the module's docstring."""
    values = {"email": _text(posted.get("email")), "name": " ".join(_text(posted.get("name")).split())}
    result = Signup(values)
    if _text(posted.get(HONEYPOT)):
        result.outcome = "machine"  # answered as if it worked, nothing stored
        return result
    email = _email(values["email"], result.errors)
    if len(values["name"]) > MAX_NAME:
        result.errors["name"] = f"Keep your name under {MAX_NAME} characters."
    if result.errors:
        return result
    referrer_email = db.session.scalar(select(Subscriber.email).where(Subscriber.id == page.code.subscriber_id))
    if email == referrer_email:
        result.outcome = "self"
        return result
    friend = _new_subscriber(page, email, values["name"] or None, ip)
    if friend is None:
        result.outcome = "known"
        return result
    result.outcome = "created" if _open_referral(page, friend) else "known"
    result.confirm = friend.status == "pending"
    return result


def _new_subscriber(page: Landing, email: str, name: str | None, ip: str | None) -> Subscriber | None:
    """The friend as a new subscriber; None when the address is already in the workspace (or was erased)."""
    program = page.program
    list_ids = [program.list_id] if program.list_id else []
    try:
        with db.session.begin_nested():
            friend = signups.subscribe(program.workspace_id, email, name, None, list_ids, source=SOURCE, ip=ip)
    except Conflict:
        return None
    friend.consent = {**(friend.consent or {}), "program_id": program.id}  # which program's page they agreed on
    db.session.flush()
    return friend


def _open_referral(page: Landing, friend: Subscriber) -> bool:
    now = datetime.now(timezone.utc)
    referral = Referral(
        workspace_id=page.program.workspace_id, program_id=page.program.id, code_id=page.code.id,
        referrer_id=page.code.subscriber_id, friend_id=friend.id, status="pending", created_at=now,
        expires_at=now + timedelta(days=page.program.expiry_days),
    )  # fmt: skip
    try:
        with db.session.begin_nested():  # one friend, one referral per program (a unique constraint)
            db.session.add(referral)
    except IntegrityError:
        return False
    return True


def _email(value: str, errors: dict) -> str | None:
    if not value:
        errors["email"] = "Enter your email address."
        return None
    try:
        return normalize_email(value)
    except ValidationError as exc:
        errors["email"] = exc.message if "too long" in exc.message else "That does not look like an email address."
        return None


def _text(value) -> str:
    """A posted value as one clean piece of text (control characters removed: a NUL cannot be stored)."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c in "\t\n" or unicodedata.category(c) != "Cc").strip()
