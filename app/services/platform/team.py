"""The team: a workspace's members and their roles, and invitations to join it.

An invitation is a row holding the sha256 of a random token; the link `/invite/<token>` is the
only copy of the token, shown to the inviter and mailed to the invitee (through the workspace's
default provider, queued on `transactional` after the commit; no provider: nothing is mailed and
the inviter passes the link on). A link works once, for seven days, for the address it was sent
to, until it is revoked.

Roles follow services/platform/roles.py: the dashboard and the API check that the caller may
manage the team at all (admin and up); what depends on the rows is checked here: only owners
make or unmake owners, nobody hands out a role above their own, and the last owner can be
neither demoted nor removed. Every change is audit-logged. Functions flush; the caller commits.
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Invitation, Membership, User, Workspace
from app.models.workspace import ROLES
from app.providers import TransportUnavailable
from app.queueing import TRANSACTIONAL, TRANSACTIONAL_RETRY, enqueue
from app.services.content.mime import MessageSkeleton
from app.services.delivery import providers
from app.services.errors import Conflict, Forbidden, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform import audit, roles
from app.services.platform.workspaces import create_user, login_email
from app.transactions import on_commit

log = logging.getLogger(__name__)

INVITATION_DAYS = 7
MAX_TOKEN = 100
# The job's arguments hold the link: kept in Redis no longer than the link works.
MAIL_FAILURE_TTL = INVITATION_DAYS * 86400


class MailLater(Exception):
    """The provider could not be reached: RQ runs the invitation's mail job again."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- Members --------------------------------------------------------------------------------------


def list_members(workspace_id: int) -> list[Membership]:
    """The workspace's members with their users: owners first, then by address."""
    rank = {role: i for i, role in enumerate(ROLES)}
    members = db.session.scalars(
        select(Membership)
        .options(joinedload(Membership.user))
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.email)
    )
    return sorted(members, key=lambda m: rank.get(m.role, len(ROLES)))


def get_member(workspace_id: int, membership_id) -> Membership:
    membership_id = as_id(membership_id)
    member = (
        db.session.scalar(
            select(Membership).where(Membership.id == membership_id, Membership.workspace_id == workspace_id)
        )
        if membership_id
        else None
    )
    if member is None:
        raise NotFound("No such member in this workspace.")
    return member


def _check_role(role) -> str:
    if role not in ROLES:
        raise ValidationError("Choose a role: owner, admin, marketer or analyst.", {"role": "Not a role."})
    return role


def _other_owners(workspace_id: int, membership_id: int) -> int:
    """Owners besides this member, with their rows locked so two demotions at once cannot both pass."""
    ids = db.session.scalars(
        select(Membership.id)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner", Membership.id != membership_id)
        .with_for_update()
    ).all()
    return len(ids)


def _require_owner_for(actor_role: str | None, *roles_involved: str) -> None:
    if "owner" in roles_involved and actor_role != "owner":
        raise Forbidden("Only owners can make or unmake owners; ask one of the workspace's owners.")


def change_role(workspace_id: int, membership_id, role, actor_role: str | None) -> Membership:
    """Give a member another role (audit: member.role)."""
    role = _check_role(role)
    member = get_member(workspace_id, membership_id)
    if member.role == role:
        return member
    _require_owner_for(actor_role, role, member.role)
    if not roles.may_grant(actor_role, role):
        raise Forbidden("You cannot give a role above your own.")
    if member.role == "owner" and _other_owners(workspace_id, member.id) == 0:
        raise Conflict("This is the workspace's last owner: make someone else an owner first.", {"role": "Last owner."})
    before = member.role
    member.role = role
    db.session.flush()
    audit.record(
        workspace_id, "member.role", "member", member.id, {"email": member.user.email, "from": before, "to": role}
    )
    return member


def remove_member(workspace_id: int, membership_id, actor_role: str | None) -> None:
    """Take a member out of the workspace (their account stays; audit: member.remove)."""
    member = get_member(workspace_id, membership_id)
    _require_owner_for(actor_role, member.role)
    if member.role == "owner" and _other_owners(workspace_id, member.id) == 0:
        raise Conflict("This is the workspace's last owner: make someone else an owner first.")
    detail = {"email": member.user.email, "role": member.role}
    member_id = member.id
    db.session.delete(member)
    db.session.flush()
    audit.record(workspace_id, "member.remove", "member", member_id, detail)


# -- Invitations ----------------------------------------------------------------------------------


def invitation_status(inv: Invitation, now: datetime | None = None) -> str:
    """pending, accepted, revoked or expired."""
    if inv.accepted_at is not None:
        return "accepted"
    if inv.revoked_at is not None:
        return "revoked"
    if inv.expires_at <= (now or _now()):
        return "expired"
    return "pending"


def pending_invitations(workspace_id: int) -> list[Invitation]:
    """Invitations not yet used, revoked or expired, newest first."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > _now(),
            )
            .order_by(Invitation.id.desc())
        )
    )


def invitation_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/invite/{token}"


@dataclass
class Invited:
    invitation: Invitation
    url: str  # the only copy of the token: shown once to the inviter
    mailed: bool  # queued to be mailed (the workspace has a provider)


def invite(workspace_id: int, email, role, actor_role: str | None, invited_by_id: int | None = None) -> Invited:
    """Invite an address with a role (audit: member.invite). An earlier pending invitation of the
    same address is replaced: only the newest link works."""
    role = _check_role(role)
    try:
        email = login_email(email)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"email": exc.message}) from None
    _require_owner_for(actor_role, role)
    if not roles.may_grant(actor_role, role):
        raise Forbidden("You cannot invite someone with a role above your own.")
    member = db.session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, User.email == email)
    )
    if member:
        raise Conflict(f"{email} is already a member of this workspace.", {"email": "Already a member."})
    now = _now()
    for earlier in db.session.scalars(
        select(Invitation).where(
            Invitation.workspace_id == workspace_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ):
        earlier.revoked_at = now
    token = secrets.token_urlsafe(32)
    inv = Invitation(
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by_id=invited_by_id,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(inv)
    db.session.flush()
    audit.record(workspace_id, "member.invite", "invitation", inv.id, {"email": email, "role": role})
    url = invitation_url(token)
    mailed = providers.default_provider(workspace_id) is not None
    if mailed:
        invitation_id = inv.id
        on_commit(lambda: enqueue_invitation_mail(invitation_id, url))
    return Invited(inv, url, mailed)


def revoke_invitation(workspace_id: int, invitation_id) -> Invitation:
    """The link stops working at once (audit: invitation.revoke)."""
    invitation_id = as_id(invitation_id)
    inv = (
        db.session.scalar(
            select(Invitation).where(Invitation.id == invitation_id, Invitation.workspace_id == workspace_id)
        )
        if invitation_id
        else None
    )
    if inv is None:
        raise NotFound("No such invitation in this workspace.")
    if invitation_status(inv) != "pending":
        raise Conflict(f"This invitation is {invitation_status(inv)} already.")
    inv.revoked_at = _now()
    db.session.flush()
    audit.record(workspace_id, "invitation.revoke", "invitation", inv.id, {"email": inv.email, "role": inv.role})
    return inv


def find_invitation(token) -> Invitation:
    """The invitation a link names, whatever its status; NotFound for a link that never was one."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise NotFound("This invitation link is not valid: ask for a new one.")
    inv = db.session.scalar(select(Invitation).where(Invitation.token_hash == _hash(token)))
    if inv is None:
        raise NotFound("This invitation link is not valid: ask for a new one.")
    return inv


UNUSABLE = {
    "accepted": "This invitation was already used. Sign in to reach the workspace.",
    "revoked": "This invitation was withdrawn. Ask the person who invited you for a new one.",
    "expired": f"This invitation expired (links work for {INVITATION_DAYS} days). Ask for a new one.",
}


def _usable(token) -> Invitation:
    """The invitation, locked against a second use at the same moment; refused unless pending."""
    inv = find_invitation(token)
    inv = db.session.scalar(select(Invitation).where(Invitation.id == inv.id).with_for_update())
    status = invitation_status(inv)
    if status != "pending":
        raise Conflict(UNUSABLE[status])
    return inv


def is_for(inv: Invitation, user: User) -> bool:
    """Is the signed-in `user` the person the invitation was sent to?"""
    return login_email(user.email) == inv.email


def accept(token, user: User) -> Membership:
    """A signed-in user joins with the invitation's role (audit: member.join)."""
    inv = _usable(token)
    if not is_for(inv, user):
        raise Forbidden(f"This invitation is for {inv.email}: sign in with that address to accept it.")
    already = db.session.scalar(
        select(Membership).where(Membership.workspace_id == inv.workspace_id, Membership.user_id == user.id)
    )
    if already is not None:
        raise Conflict("You are already a member of this workspace.")
    return _join(inv, user)


def accept_as_new_user(token, name, password, confirm) -> tuple[User, Membership]:
    """A new person sets a name and password and joins (the address is the invitation's)."""
    inv = _usable(token)
    if password != confirm:
        raise ValidationError("The two passwords differ.", {"confirm": "Differs from the password."})
    if db.session.scalar(select(User.id).where(User.email == inv.email)):
        raise Conflict(f"An account for {inv.email} exists already: sign in to accept the invitation.")
    user = create_user(inv.email, password, name)
    return user, _join(inv, user)


def _join(inv: Invitation, user: User) -> Membership:
    inv.accepted_at = _now()
    member = Membership(workspace_id=inv.workspace_id, user_id=user.id, role=inv.role)
    db.session.add(member)
    db.session.flush()
    actor = audit.Actor(user.email, user_id=user.id, ip=audit.current_actor().ip)
    audit.record(inv.workspace_id, "member.join", "member", member.id, {"email": user.email, "role": inv.role},
                 actor=actor)  # fmt: skip
    return member


def team_counts(workspace_id: int) -> dict:
    """Members per role, for the page's summary."""
    rows = db.session.execute(
        select(Membership.role, func.count()).where(Membership.workspace_id == workspace_id).group_by(Membership.role)
    ).all()
    return {role: n for role, n in rows}


# -- The invitation's email (a job on `transactional`) -----------------------------------------------


def enqueue_invitation_mail(invitation_id: int, url: str) -> None:
    """Queue the mail; Redis away: logged (the inviter has the link on the page)."""
    try:
        enqueue(
            "send_invitation_email",
            invitation_id,
            url,
            queue=TRANSACTIONAL,
            job_id=f"invitation-mail-{invitation_id}",
            retry=TRANSACTIONAL_RETRY,
            after_commit=False,
            result_ttl=0,
            failure_ttl=MAIL_FAILURE_TTL,
        )
    except redis.RedisError as exc:
        log.warning("invitation %s: the email was not queued (%s)", invitation_id, exc)


def _mail_bodies(inv: Invitation, workspace: Workspace, inviter: str | None, url: str) -> tuple[str, str, str]:
    who = inviter or "A teammate"
    subject = " ".join(f"{who} invited you to {workspace.name} on Herald".split())[:160]
    role = roles.ROLE_LABELS.get(inv.role, inv.role)
    lines = [
        f"{who} invited you to join the {workspace.name} workspace on Herald as {role.lower()}:",
        roles.ROLE_DESCRIPTIONS.get(inv.role, ""),
        "",
        f"Accept the invitation: {url}",
        "",
        f"The link works once, for {INVITATION_DAYS} days. If you did not expect it, ignore this email.",
    ]
    html = (
        f"<!doctype html><html><body><p>{escape(lines[0])}<br>{escape(lines[1])}</p>"
        f'<p><a href="{escape(url)}">Accept the invitation</a></p>'
        f"<p style='color:#667382'>{escape(lines[5])}</p></body></html>"
    )
    return subject, "\n".join(lines), html


def mail_invitation(invitation_id: int, url: str, final_attempt: bool = True) -> dict:
    """Mail the invitation's link through the workspace's default provider; skipped (logged) when the
    invitation is no longer pending or there is no provider. Unreachable: MailLater unless final."""
    from app.services.platform.alerts import system_sender

    inv = db.session.get(Invitation, invitation_id)
    if inv is None or invitation_status(inv) != "pending":
        return {"sent": 0, "skipped": "not pending"}
    provider = providers.default_provider(inv.workspace_id)
    if provider is None:
        return {"sent": 0, "skipped": "no provider"}
    inviter = db.session.get(User, inv.invited_by_id) if inv.invited_by_id else None
    workspace = db.session.get(Workspace, inv.workspace_id)
    subject, text, html = _mail_bodies(inv, workspace, inviter and (inviter.name or inviter.email), url)
    sender = system_sender(inv.workspace_id)
    transport, headers = providers.transport_for(provider)
    skeleton = MessageSkeleton("Herald", sender, None, {**headers, "X-Herald-Invitation": str(inv.id)})
    raw = skeleton.build(
        None, inv.email, subject, html, text, f"<invitation.{inv.id}.{secrets.token_hex(6)}@{skeleton.domain}>"
    )
    try:
        result = transport.send(sender, inv.email, raw)
    except TransportUnavailable as exc:
        log.warning("invitation %s: cannot reach %s (%s)", inv.id, provider.name, exc)
        if final_attempt:
            return {"sent": 0, "skipped": "provider unreachable"}
        raise MailLater(str(exc)) from None
    finally:
        transport.close()
    if not result.ok:
        log.warning("invitation %s: %s refused the mail (%s)", inv.id, provider.name, result.detail)
        return {"sent": 0, "refused": 1}
    return {"sent": 1}
