"""Teammates for the role tests: a member of a workspace with a role, signed in to the dashboard,
and API keys with a role."""

import re

from app.extensions import db
from app.models import Membership
from app.services.platform.workspaces import create_api_key, create_user
from tests.conftest import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_member(workspace_id: int, email: str, role: str, name: str | None = None) -> Membership:
    """A new person in the workspace with `role` (signs in with the tests' password); committed."""
    user = create_user(email, PASSWORD, name)
    member = Membership(workspace_id=workspace_id, user_id=user.id, role=role)
    db.session.add(member)
    db.session.commit()
    return member


def sign_in(app, email: str):
    """A test client signed in as `email`."""
    client = app.test_client()
    resp = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(client, "/login")})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def csrf(client, path: str = "/settings/account") -> str:
    """A form token of the client's session (read from a page that has a form)."""
    return _TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def member_client(app, workspace_id: int, role: str, email: str | None = None):
    email = email or f"{role}@example.com"
    add_member(workspace_id, email, role)
    return sign_in(app, email)


def api_client(app, workspace_id: int, role: str, name: str | None = None):
    """A JSON API client with a new key of `role`."""
    _, plain = create_api_key(workspace_id, name or f"{role} key", role=role)
    db.session.commit()
    client, headers = app.test_client(), {"Authorization": f"Bearer {plain}"}

    def call(method: str, path: str, **kw):
        return client.open("/api/v1" + path, method=method, headers=headers, **kw)

    return call
