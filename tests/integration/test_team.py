"""The team: invitations by link (and email), accepting them, roles, removal, all in the audit log."""

import email
import hashlib
import re
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, CaughtMessage, Invitation, Membership, User
from app.services.errors import Conflict, Forbidden
from app.services.platform import team
from tests.conftest import PASSWORD
from tests.roles_support import add_member, csrf, member_client, sign_in

LINK = re.compile(r'id="invitation-url">([^<]+)<')


def invite_on_page(client, address: str, role: str):
    resp = client.post(
        "/settings/team/invitations",
        data={"email": address, "role": role, "csrf_token": csrf(client, "/settings/team")},
    )
    return resp, (LINK.search(resp.get_data(as_text=True)) or [None, None])[1]


def path_of(url: str) -> str:
    return url.split("http://herald.test", 1)[1]


def actions(workspace_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.workspace_id == workspace_id).order_by(AuditEntry.id)
        )
    )


def test_an_invitation_keeps_only_a_hash_lasts_a_week_and_is_mailed(app, client, workspace, mail_catcher, worker):
    resp, url = invite_on_page(client, "Newbie@Example.com", "analyst")
    assert resp.status_code == 201 and url.startswith("http://herald.test/invite/")
    token = url.rsplit("/", 1)[1]
    inv = db.session.scalar(select(Invitation))
    assert inv.email == "newbie@example.com" and inv.role == "analyst"
    assert inv.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in inv.token_hash
    assert timedelta(days=6, hours=23) < inv.expires_at - datetime.now(timezone.utc) <= timedelta(days=7)
    assert "newbie@example.com" in client.get("/settings/team").get_data(as_text=True)  # pending
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member.invite"))
    assert entry.actor == "owner@example.com" and entry.detail == {"email": "newbie@example.com", "role": "analyst"}

    worker()  # the transactional job mails it through the default provider: the development outbox
    caught = db.session.scalars(select(CaughtMessage)).all()
    assert [c.rcpt_to for c in caught] == ["newbie@example.com"]
    mail = email.message_from_bytes(caught[0].raw, policy=policy.default)
    assert "invited you to Acme" in mail["Subject"]
    assert url in mail.get_body(("plain",)).get_content()


def test_a_new_person_sets_a_password_and_joins_with_the_invited_role(app, client, workspace):
    _, url = invite_on_page(client, "newbie@example.com", "marketer")
    guest = app.test_client()
    page = guest.get(path_of(url))
    assert page.status_code == 200 and "Join Acme" in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    short = guest.post(path_of(url), data={"name": "New", "password": "short", "confirm": "short", "csrf_token": token})
    assert short.status_code == 422 and "at least 10 characters" in short.get_data(as_text=True)
    joined = guest.post(
        path_of(url), data={"name": "Nora New", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token}
    )
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/")
    overview = guest.get("/")
    assert overview.status_code == 200 and "Nora New" in overview.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "newbie@example.com"))
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == user.id)) == "marketer"
    join = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "member.join"))
    assert join.actor == "newbie@example.com" and join.user_id == user.id
    # The link worked once.
    again = app.test_client().get(path_of(url))
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)


def test_a_signed_in_person_joins_with_a_click_and_lands_in_the_new_workspace(app, client, make_workspace, workspace):
    make_workspace("Elsewhere", "someone@example.com")
    _, url = invite_on_page(client, "someone@example.com", "admin")
    other = sign_in(app, "someone@example.com")
    page = other.get(path_of(url)).get_data(as_text=True)
    assert "Signed in as someone@example.com" in page
    resp = other.post(path_of(url), data={"csrf_token": csrf(other, path_of(url))})
    assert resp.status_code == 302
    assert "Acme" in other.get("/").get_data(as_text=True)  # switched to the workspace just joined
    assert other.get("/settings/team").status_code == 200
    members = {m.user.email: m.role for m in team.list_members(workspace.id)}
    assert members == {"owner@example.com": "owner", "someone@example.com": "admin"}


def test_someone_else_signed_in_cannot_use_the_link(app, client, make_workspace, workspace):
    make_workspace("Elsewhere", "mallory@example.com")
    _, url = invite_on_page(client, "bob@example.com", "admin")
    mallory = sign_in(app, "mallory@example.com")
    page = mallory.get(path_of(url))
    assert page.status_code == 403 and "This invitation is for" in page.get_data(as_text=True)
    resp = mallory.post(path_of(url), data={"csrf_token": csrf(mallory, "/settings/account")})
    assert resp.status_code == 403
    assert len(team.list_members(workspace.id)) == 1


def test_someone_with_an_account_is_asked_to_sign_in_first(app, client, make_workspace, workspace):
    make_workspace("Elsewhere", "known@example.com")
    _, url = invite_on_page(client, "known@example.com", "analyst")
    page = app.test_client().get(path_of(url)).get_data(as_text=True)
    assert "Sign in to accept" in page and re.search(r"/login\?next=(/|%2F)invite(/|%2F)", page)


@pytest.mark.parametrize(
    ("state", "expected"),
    [("expired", "expired"), ("revoked", "withdrawn"), ("unknown", "not valid")],
)
def test_links_that_no_longer_work_say_why(app, client, workspace, state, expected):
    _, url = invite_on_page(client, "late@example.com", "analyst")
    inv = db.session.scalar(select(Invitation))
    if state == "expired":
        inv.expires_at = datetime.now(timezone.utc) - timedelta(minutes=1)
        db.session.commit()
    elif state == "revoked":
        client.post(f"/settings/team/invitations/{inv.id}/revoke", data={"csrf_token": csrf(client, "/settings/team")})
    else:
        url = url[:-4] + "abcd"
    resp = app.test_client().get(path_of(url))
    assert resp.status_code == (404 if state == "unknown" else 410)
    assert expected in resp.get_data(as_text=True)
    post = app.test_client().post(path_of(url), data={"password": PASSWORD, "confirm": PASSWORD})
    assert post.status_code in (400, 404, 410)  # (no form token: refused before anything else)
    assert db.session.scalar(select(User.id).where(User.email == "late@example.com")) is None


def test_only_owners_make_or_unmake_owners_and_the_last_owner_stays(app, client, workspace):
    admin = add_member(workspace.id, "admin@example.com", "admin")
    marketer = add_member(workspace.id, "marketer@example.com", "marketer")
    owner = db.session.scalar(select(Membership).where(Membership.role == "owner"))
    admin_client = sign_in(app, "admin@example.com")
    token = csrf(admin_client, "/settings/team")

    # An admin manages marketers and analysts, but not owners.
    r = admin_client.post(f"/settings/team/members/{marketer.id}/role", data={"role": "analyst", "csrf_token": token})
    assert r.status_code == 302
    r = admin_client.post(f"/settings/team/members/{marketer.id}/role", data={"role": "owner", "csrf_token": token})
    assert "Only owners can make or unmake owners" in admin_client.get("/settings/team").get_data(as_text=True)
    r = admin_client.post(f"/settings/team/members/{owner.id}/remove", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Membership, owner.id) is not None
    assert db.session.get(Membership, marketer.id).role == "analyst"
    r = admin_client.post(
        "/settings/team/invitations", data={"email": "boss@example.com", "role": "owner", "csrf_token": token}
    )
    assert r.status_code == 422 and db.session.scalar(select(Invitation.id)) is None

    # The owner cannot leave the workspace without an owner.
    with pytest.raises(Conflict):
        team.change_role(workspace.id, owner.id, "admin", "owner")
    with pytest.raises(Conflict):
        team.remove_member(workspace.id, owner.id, "owner")
    db.session.rollback()
    token = csrf(client, "/settings/team")
    client.post(f"/settings/team/members/{admin.id}/role", data={"role": "owner", "csrf_token": token})
    client.post(f"/settings/team/members/{owner.id}/role", data={"role": "admin", "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Membership, admin.id).role == "owner" and db.session.get(Membership, owner.id).role == "admin"
    with pytest.raises(Forbidden):
        team.change_role(workspace.id, admin.id, "admin", "admin")  # an admin again, now against an owner
    db.session.rollback()
    roles_logged = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "member.role")).all()
    assert [(e.detail["email"], e.detail["from"], e.detail["to"]) for e in roles_logged] == [
        ("marketer@example.com", "marketer", "analyst"),
        ("admin@example.com", "admin", "owner"),
        ("owner@example.com", "owner", "admin"),
    ]
    assert roles_logged[0].actor == "admin@example.com"


def test_removing_a_member_and_revoking_an_invitation_are_logged(app, client, workspace):
    gone = add_member(workspace.id, "gone@example.com", "marketer")
    token = csrf(client, "/settings/team")
    client.post(f"/settings/team/members/{gone.id}/remove", data={"csrf_token": token})
    _, url = invite_on_page(client, "maybe@example.com", "analyst")
    inv = db.session.scalar(select(Invitation))
    client.post(f"/settings/team/invitations/{inv.id}/revoke", data={"csrf_token": token})
    assert actions(workspace.id) == ["member.remove", "member.invite", "invitation.revoke"]
    assert db.session.scalar(select(User.id).where(User.email == "gone@example.com"))  # the account stays
    # The removed person's session no longer reaches the workspace.
    assert sign_in(app, "gone@example.com").get("/campaigns/").status_code == 403


def test_inviting_a_member_again_is_refused_and_a_second_invitation_replaces_the_first(app, client, workspace):
    add_member(workspace.id, "member@example.com", "analyst")
    resp, _ = invite_on_page(client, "member@example.com", "admin")
    assert resp.status_code == 422 and "already a member" in resp.get_data(as_text=True)
    _, first = invite_on_page(client, "twice@example.com", "analyst")
    _, second = invite_on_page(client, "twice@example.com", "marketer")
    assert app.test_client().get(path_of(first)).status_code == 410
    assert app.test_client().get(path_of(second)).status_code == 200
    assert [i.role for i in team.pending_invitations(workspace.id)] == ["marketer"]


def test_marketers_and_analysts_see_the_team_but_cannot_change_it(app, workspace):
    marketer = member_client(app, workspace.id, "marketer")
    page = marketer.get("/settings/team").get_data(as_text=True)
    assert "owner@example.com" in page and "Invite a teammate" not in page
    resp = marketer.post(
        "/settings/team/invitations",
        data={"email": "x@example.com", "role": "analyst", "csrf_token": csrf(marketer, "/settings/team")},
    )
    assert resp.status_code == 403


def test_the_api_lists_members_and_pending_invitations(app, api, conforms, ctx, workspace):
    add_member(workspace.id, "ana@example.com", "analyst", name="Ana")
    team.invite(workspace.id, "soon@example.com", "marketer", "owner")
    db.session.commit()
    body = conforms(api.get("/team"), "Team")
    assert [(m["email"], m["role"]) for m in body["members"]] == [
        ("owner@example.com", "owner"),
        ("ana@example.com", "analyst"),
    ]
    assert [(i["email"], i["role"]) for i in body["invitations"]] == [("soon@example.com", "marketer")]
