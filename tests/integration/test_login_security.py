"""Signing in and out holds up against a security test: look-alike addresses, replayed cookies, hostile `next`."""

import re
from urllib.parse import quote, urlsplit

import pytest

from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def form_token(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def page_token(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def sign_in(client, email="owner@example.com", password=PASSWORD, remember=False, query=""):
    data = {"email": email, "password": password, "csrf_token": form_token(client)}
    if remember:
        data["remember"] = "on"
    return client.post("/login" + query, data=data)


def signed_in(client) -> bool:
    r = client.get("/")
    assert r.status_code in (200, 302), r.status_code
    return r.status_code == 200


@pytest.fixture
def login_limit(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    yield
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"


# Item 11: one address, one limit, one account -------------------------------------------------

SPELLINGS = [
    "ｏｗｎｅｒ@example.com",  # full-width letters
    "owner@example。com",  # ideographic full stop
    "owner@example．com",  # full-width full stop
    "owner@example｡com",  # half-width ideographic full stop
    "owner@ｅｘａｍｐｌｅ．ｃｏｍ",
    "OWNER@Example.COM",
    "  owner@example.com\u3000",
]


def test_a_locked_address_stays_locked_in_every_other_spelling(app, workspace, login_limit):
    c = app.test_client()
    assert [sign_in(c, password="wrong guess 1234").status_code for _ in range(3)] == [401, 401, 401]
    for spelling in SPELLINGS:
        r = sign_in(c, email=spelling)  # the right password, while the address is locked
        assert r.status_code == 429, spelling
        assert not signed_in(c), spelling


def test_guesses_in_different_spellings_count_against_the_one_address(app, workspace, login_limit):
    c = app.test_client()
    codes = [sign_in(c, email=s, password="wrong guess 1234").status_code for s in SPELLINGS[:3]]
    assert codes == [401, 401, 401]
    assert sign_in(c).status_code == 429
    assert not signed_in(c)


def test_an_address_typed_with_full_width_letters_signs_in_to_its_account(app, workspace):
    c = app.test_client()
    r = sign_in(c, email="ｏｗｎｅｒ@example。com")
    assert r.status_code == 302 and signed_in(c)


def test_nobody_can_sign_up_a_look_alike_of_an_existing_address(app, workspace):
    c = app.test_client()
    token = form_token(c, "/signup")
    data = {
        "csrf_token": token,
        "workspace": "Copycat",
        "email": "ＯＷＮＥＲ@example。com",
        "password": "long enough pw",
    }
    r = c.post("/signup", data=data)
    assert r.status_code == 422 and "already exists" in r.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_sign_up_stores_the_address_in_its_one_form(app):
    c = app.test_client()
    data = {
        "csrf_token": form_token(c, "/signup"),
        "workspace": "Bloom",
        "email": " Ａｎａ@Bloom。Example.com ",
        "password": "long enough pw",
    }
    assert c.post("/signup", data=data).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(User.email)) == "ana@bloom.example.com"
    other = app.test_client()
    assert sign_in(other, email="ana@bloom.example.com", password="long enough pw").status_code == 302


# Item 12: signing out ends the session for good ------------------------------------------------


def cookie(client, name) -> str:
    found = client.get_cookie(name)
    assert found is not None, f"no {name} cookie"
    return found.value


def replay(app, name, value):
    """A fresh browser that presents only a copied cookie."""
    c = app.test_client()
    c.set_cookie(name, value)
    return c


def test_replaying_the_session_or_remember_cookie_after_sign_out_opens_nothing(app, workspace):
    c = app.test_client()
    assert sign_in(c, remember=True).status_code == 302 and signed_in(c)
    old_session, old_remember = cookie(c, "session"), cookie(c, "remember_token")
    # Both copies work before signing out: the replay below is a real one.
    assert signed_in(replay(app, "session", old_session))
    assert signed_in(replay(app, "remember_token", old_remember))

    r = c.post("/logout", data={"csrf_token": page_token(c)})
    assert r.status_code == 302 and "/login" in r.headers["Location"]

    for name, value in (("session", old_session), ("remember_token", old_remember)):
        r = replay(app, name, value).get("/campaigns/")
        assert r.status_code == 302 and "/login" in r.headers["Location"], name
    assert not signed_in(c)
    assert sign_in(c).status_code == 302 and signed_in(c)  # signing in again works


def test_sign_out_everywhere_ends_the_other_browsers_sessions(app, workspace):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop)
    sign_in(phone, remember=True)
    phone_remember = cookie(phone, "remember_token")
    page = laptop.get("/settings/account")
    assert page.status_code == 200 and "Sign out everywhere" in page.get_data(as_text=True)
    r = laptop.post("/logout/everywhere", data={"csrf_token": page_token(laptop)})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert not signed_in(phone) and not signed_in(laptop)
    assert not signed_in(replay(app, "remember_token", phone_remember))


def test_sign_out_everywhere_needs_the_form_token(app, workspace):
    c = app.test_client()
    sign_in(c)
    assert c.post("/logout/everywhere").status_code == 400
    assert signed_in(c)


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    data = {
        "csrf_token": page_token(client),
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
    }
    return client.post("/settings/account", data=data)


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(app, workspace):
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, remember=True)
    sign_in(elsewhere, remember=True)
    old_remember, elsewhere_remember = cookie(here, "remember_token"), cookie(elsewhere, "remember_token")

    r = change_password(here)
    assert r.status_code == 302
    assert "Password changed" in here.get(r.headers["Location"]).get_data(as_text=True)
    assert signed_in(here) and not signed_in(elsewhere)
    assert not signed_in(replay(app, "remember_token", elsewhere_remember))
    assert not signed_in(replay(app, "remember_token", old_remember))
    # This browser's "keep me signed in" cookie was re-issued with the new generation.
    assert signed_in(replay(app, "remember_token", cookie(here, "remember_token")))

    assert sign_in(app.test_client()).status_code == 401  # the old password no longer works
    assert sign_in(app.test_client(), password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "current, new, confirm, message",
    [
        ("not my password", NEW_PASSWORD, None, "That is not your current password."),
        (PASSWORD, "short", None, "Use at least 10 characters."),
        (PASSWORD, NEW_PASSWORD, "something else entirely", "The two new passwords differ."),
        (PASSWORD, PASSWORD, None, "different from the current one"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app, workspace, current, new, confirm, message):
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here)
    sign_in(elsewhere)
    r = change_password(here, current, new, confirm)
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert signed_in(here) and signed_in(elsewhere)
    assert sign_in(app.test_client()).status_code == 302


def test_a_cookie_naming_a_bare_user_id_signs_nobody_in(app, workspace):
    from app.blueprints.auth.current import user_for_identity

    with app.app_context():
        user = db.session.scalar(db.select(User))
        assert user_for_identity(user.get_id()) is not None
        for identity in (str(user.id), f"{user.id}:", f"{user.id}:9", "x:0", f"{user.id}:０", "", None):
            assert user_for_identity(identity) is None, identity


# Item 13: `next` after sign-in stays on this site ----------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\u200b/evil.example",
    "/\x00",
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
]
RAW_NEXT_QUERIES = ["/%09/evil.example", "/%0a/x", "/%0A/x", "%2F%2Fevil", "/%5C%5Cevil", "%09//evil.example"]


def assert_lands_on_this_site(r):
    assert r.status_code == 302, r.status_code
    location = r.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location == "/", location


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_a_hostile_next_after_sign_in_lands_on_the_overview(app, workspace, target):
    c = app.test_client()
    r = sign_in(c, query="?next=" + quote(target, safe=""))
    assert_lands_on_this_site(r)


@pytest.mark.parametrize("raw", RAW_NEXT_QUERIES)
def test_a_hostile_next_as_typed_in_the_address_bar_lands_on_the_overview(app, workspace, raw):
    c = app.test_client()
    assert c.get("/login?next=" + raw).status_code == 200
    assert_lands_on_this_site(sign_in(c, query="?next=" + raw))


def test_a_page_of_this_site_in_next_is_where_sign_in_goes(app, workspace):
    c = app.test_client()
    r = sign_in(c, query="?next=" + quote("/campaigns/?page=2", safe=""))
    assert r.status_code == 302 and r.headers["Location"] == "/campaigns/?page=2"


def test_a_signed_out_visit_comes_back_to_its_page_after_sign_in(app, workspace):
    c = app.test_client()
    r = c.get("/lists/")
    assert r.status_code == 302
    login_url = urlsplit(r.headers["Location"])
    assert sign_in(c, query="?" + login_url.query).headers["Location"] == "/lists/"


def test_the_account_page_asks_a_signed_out_visitor_to_sign_in(app, workspace):
    c = app.test_client()
    for r in (c.get("/settings/account"), c.post("/settings/account", data={"csrf_token": form_token(c)})):
        assert r.status_code == 302 and "/login" in r.headers["Location"]
