"""Settings → Team: members and their roles, invitations, and the page an invitation link opens."""

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user
from sqlalchemy import select

from app.blueprints.helpers import attempt, workspace_view
from app.extensions import db, limiter
from app.models import User, Workspace
from app.models.workspace import ROLES
from app.services.errors import NotFound
from app.services.platform import roles, team

bp = Blueprint("team", __name__)


def _page(invited=None, errors=None, form=None, status=200):
    return render_template(
        "team/index.html",
        members=team.list_members(g.ws_id),
        invitations=team.pending_invitations(g.ws_id),
        invited=invited,
        errors=errors or {},
        form=form or {},
        grantable=[r for r in ROLES if roles.may_grant(g.role, r)],
        descriptions=roles.ROLE_DESCRIPTIONS,
    ), status


@bp.route("/settings/team")
@workspace_view
def index():
    return _page()


@bp.route("/settings/team/invitations", methods=["POST"])
@workspace_view
def invite():
    form = request.form
    invited, errors = attempt(team.invite, g.ws_id, form.get("email"), form.get("role"), g.role, current_user.id)
    if invited is None:
        return _page(errors=errors, form=form, status=422)
    # Rendered, not redirected: the link exists only in this response.
    return _page(invited=invited, status=201)


@bp.route("/settings/team/members/<int:membership_id>/role", methods=["POST"])
@workspace_view
def change_role(membership_id):
    member, _ = attempt(team.change_role, g.ws_id, membership_id, request.form.get("role"), g.role)
    if member is not None:
        flash(f"{member.user.email} is now {roles.ROLE_LABELS[member.role].lower()}.", "success")
    return redirect(url_for("team.index"))


@bp.route("/settings/team/members/<int:membership_id>/remove", methods=["POST"])
@workspace_view
def remove(membership_id):
    _, errors = attempt(team.remove_member, g.ws_id, membership_id, g.role)
    if not errors:
        flash("Removed from the workspace. Their account stays; they can be invited again.", "success")
    return redirect(url_for("team.index"))


@bp.route("/settings/team/invitations/<int:invitation_id>/revoke", methods=["POST"])
@workspace_view
def revoke(invitation_id):
    _, errors = attempt(team.revoke_invitation, g.ws_id, invitation_id)
    if not errors:
        flash("Invitation revoked: its link no longer works.", "success")
    return redirect(url_for("team.index"))


# The invitation link ------------------------------------------------------------------------------


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def accept(token):
    """Who opens the link decides the page: the invited person signed in joins with a click; a new
    person sets a name and a password; anyone else is told what to do."""
    try:
        inv = team.find_invitation(token)
    except NotFound as exc:
        return _accept_page("invalid", None, message=exc.message, status=404)
    workspace = db.session.get(Workspace, inv.workspace_id)
    status = team.invitation_status(inv)
    if status != "pending":
        return _accept_page(status, inv, workspace, message=team.UNUSABLE[status], status=410)
    if current_user.is_authenticated:
        return _accept_signed_in(token, inv, workspace)
    if db.session.scalar(select(User.id).where(User.email == inv.email)):
        return _accept_page("sign_in", inv, workspace)
    return _accept_new_person(token, inv, workspace)


def _accept_signed_in(token, inv, workspace):
    if not team.is_for(inv, current_user):
        return _accept_page("other_user", inv, workspace, status=403)
    if request.method == "POST":
        member, _ = attempt(team.accept, token, db.session.get(User, current_user.id))
        if member is not None:
            return _joined(workspace)
    return _accept_page("join", inv, workspace)


def _accept_new_person(token, inv, workspace):
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form
        joined, errors = attempt(
            team.accept_as_new_user, token, form.get("name"), form.get("password", ""), form.get("confirm", "")
        )
        if joined is not None:
            login_user(joined[0])
            return _joined(workspace)
    return _accept_page("new", inv, workspace, errors=errors, form=form, status=422 if errors else 200)


def _joined(workspace):
    session["workspace_id"] = workspace.id
    flash(f"Welcome to {workspace.name}!", "success")
    return redirect(url_for("overview.index"))


def _accept_page(state, inv, workspace=None, message=None, errors=None, form=None, status=200):
    return render_template(
        "team/accept.html",
        state=state,
        inv=inv,
        workspace=workspace,
        message=message,
        errors=errors or {},
        form=form or {},
        role_label=roles.ROLE_LABELS.get(inv.role, inv.role) if inv else None,
        role_description=roles.ROLE_DESCRIPTIONS.get(inv.role, "") if inv else None,
    ), status
