"""Tags on subscribers, as a marketer sets them: by hand on the subscriber's page, in bulk, by import and
by the API; and the source and consent every new subscriber records, whichever way they came in."""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Subscriber, SubscriberTag
from app.services.audience import contacts, signups, tags
from app.services.errors import ValidationError


def csrf(client, path="/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def subscriber(email: str) -> Subscriber:
    db.session.expire_all()
    return db.session.scalars(select(Subscriber).where(Subscriber.email == email)).one()


def tags_of(email: str) -> list[str]:
    return tags.tags_of(subscriber(email).id)


@contextmanager
def statements():
    """Count the SQL statements the services run in this test's context: `with statements() as n: ...; n()`."""
    seen = []

    def on_execute(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield lambda: len(seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


# Normalising ----------------------------------------------------------------------------------


def test_a_tag_is_stored_trimmed_lower_cased_with_inner_spaces_collapsed():
    assert tags.normalize_tag("  VIP   Gold \n") == "vip gold"
    assert tags.clean_tags("vip, Spring fair; VIP ,, ") == ["vip", "spring fair"]
    assert tags.clean_tags(["b", "A", "b"]) == ["b", "a"]


@pytest.mark.parametrize(
    "raw,message",
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("x" * 101, "longer than 100"),
        ("bad\x00tag", "control characters"),
        ("esc\x1b[31m", "control characters"),
        (7, "piece of text"),
    ],
)
def test_a_tag_that_cannot_be_stored_is_refused_with_a_sentence(raw, message):
    with pytest.raises(ValidationError, match=message):
        tags.normalize_tag(raw)


def test_too_many_tags_at_once_are_refused():
    with pytest.raises(ValidationError, match="At most 100"):
        tags.clean_tags([f"t{i}" for i in range(101)])


# The service ----------------------------------------------------------------------------------


def test_add_remove_and_set_change_only_that_workspaces_subscriber(workspace, make_workspace):
    other = make_workspace()
    mine = contacts.add_subscriber(workspace.id, "ann@example.com")
    theirs = contacts.add_subscriber(other.id, "bob@example.com")
    db.session.commit()

    assert tags.add_tags(workspace.id, mine.id, "VIP, spring") == ["spring", "vip"]
    assert tags.add_tags(workspace.id, mine.id, ["vip", "fair"]) == ["fair", "spring", "vip"]  # idempotent
    assert tags.remove_tags(workspace.id, mine.id, ["SPRING", "never-had"]) == ["fair", "vip"]
    assert tags.set_tags(workspace.id, mine.id, ["new", "vip"]) == ["new", "vip"]
    assert tags.set_tags(workspace.id, mine.id, []) == []

    # Another workspace's subscriber is out of reach whatever the call.
    tags.add_tags(other.id, theirs.id, ["theirs"])
    tags.add_tags(workspace.id, theirs.id, ["intruder"])
    tags.set_tags(workspace.id, theirs.id, ["intruder"])
    tags.remove_tags(workspace.id, theirs.id, ["theirs"])
    db.session.commit()
    assert tags.tags_of(theirs.id) == ["theirs"]


def test_bulk_tagging_is_set_based_idempotent_and_stays_in_the_workspace(workspace, make_workspace):
    other = make_workspace()
    contacts.import_subscribers(workspace.id, [{"email": f"p{i}@example.com"} for i in range(1500)])
    stranger = contacts.add_subscriber(other.id, "stranger@example.com")
    db.session.commit()
    ids = list(db.session.scalars(select(Subscriber.id).where(Subscriber.workspace_id == workspace.id)))

    with statements() as queries:
        added = tags.tag_subscribers(workspace.id, [*ids, stranger.id, "junk", None], ["Fair", "vip"])
    assert added == 3000
    assert 1 <= queries() <= 6  # two tags × two chunks of a thousand, whatever the number of people
    assert tags.tag_subscribers(workspace.id, ids, ["vip"]) == 0
    db.session.commit()
    assert tags.tags_of(stranger.id) == []
    assert tags.workspace_tags(workspace.id) == [("fair", 1500), ("vip", 1500)]
    assert tags.workspace_tags(other.id) == []


def test_a_page_of_subscribers_reads_its_tags_in_one_query(workspace):
    for n in range(5):
        sub = contacts.add_subscriber(workspace.id, f"t{n}@example.com")
        tags.add_tags(workspace.id, sub.id, [f"n{n}", "all"])
    db.session.commit()
    ids = list(db.session.scalars(select(Subscriber.id)))
    with statements() as queries:
        found = tags.tags_by_subscriber(ids)
    assert queries() == 1
    assert sorted(found.values()) == sorted([["all", f"n{n}"] for n in range(5)])


# Imports --------------------------------------------------------------------------------------


def test_an_import_reads_tags_separated_by_commas_or_semicolons_and_adds_them_up(workspace):
    csv = b'email,tags\nann@example.com,"VIP, spring"\nbob@example.com,fair;  Spring\ncy@example.com,\n'
    result = contacts.import_subscribers(workspace.id, contacts.parse_csv(csv))
    db.session.commit()
    assert (result.created, result.errors) == (3, [])
    assert tags_of("ann@example.com") == ["spring", "vip"]
    assert tags_of("bob@example.com") == ["fair", "spring"]
    assert tags_of("cy@example.com") == []
    assert "tags" not in subscriber("ann@example.com").attributes  # tags are tags, not an attribute

    again = contacts.import_subscribers(workspace.id, contacts.parse_csv(b"email,tags\nann@example.com,autumn\n"))
    db.session.commit()
    assert (again.updated, again.skipped) == (1, 0)  # a new tag is a change
    assert tags_of("ann@example.com") == ["autumn", "spring", "vip"]
    same = contacts.import_subscribers(workspace.id, contacts.parse_csv(b"email,tags\nann@example.com,VIP\n"))
    assert (same.updated, same.unchanged) == (0, 1)


def test_an_import_keeps_a_person_whose_tag_cannot_be_stored_and_says_so(workspace):
    rows = [{"email": "ann@example.com", "tags": ["ok", "x" * 150]}, {"email": "bob@example.com", "tags": "fine"}]
    result = contacts.import_subscribers(workspace.id, rows, first_row_number=1)
    db.session.commit()
    assert result.created == 2
    assert [e["row"] for e in result.errors] == [1]
    assert "Imported without a tag" in result.errors[0]["error"] and "longer than 100" in result.errors[0]["error"]
    assert tags_of("ann@example.com") == ["ok"] and tags_of("bob@example.com") == ["fine"]


def test_twenty_thousand_tagged_rows_store_their_tags_in_batches(workspace):
    rows = [{"email": f"p{i}@example.com", "tags": ["vip", f"n{i % 7}"]} for i in range(20_000)]
    with statements() as queries:
        for start in range(0, len(rows), 5000):
            contacts.import_subscribers(workspace.id, rows[start : start + 5000])
    db.session.commit()
    assert 20 <= queries() < 200  # a few statements per thousand rows, never one per person
    total = db.session.scalar(select(func.count()).select_from(SubscriberTag))
    assert total == 40_000
    assert dict(tags.workspace_tags(workspace.id))["vip"] == 20_000


# Source and consent ---------------------------------------------------------------------------


def test_every_way_in_records_the_source_and_the_consent(workspace, api, client):
    contacts.import_subscribers(workspace.id, [{"email": "imported@example.com"}])
    signups.subscribe(workspace.id, "by-service@example.com", source="api")
    db.session.commit()
    assert api.post("/subscribers", json={"email": "by-api@example.com"}).status_code == 201
    r = client.post("/subscribers/new", data={"csrf_token": csrf(client), "email": "by-hand@example.com"})
    assert r.status_code == 302

    for email, source in [
        ("imported@example.com", "import"),
        ("by-service@example.com", "api"),
        ("by-api@example.com", "api"),
        ("by-hand@example.com", "dashboard"),
    ]:
        sub = subscriber(email)
        assert sub.source == source and sub.status == "active"
        assert sub.consent["method"] == source and sub.consent["at"] and "ip" in sub.consent
    page = client.get(f"/subscribers/{subscriber('imported@example.com').id}").get_data(as_text=True)
    assert 'id="subscriber-source">Import<' in page and 'id="subscriber-consent">import' in page


# The API --------------------------------------------------------------------------------------


def test_the_api_takes_tags_and_shows_them_with_source_and_consent(api, conforms):
    created = conforms(
        api.post("/subscribers", json={"email": "ann@example.com", "tags": ["VIP", " Spring ", "vip"]}),
        "Subscriber",
        201,
    )
    assert created["tags"] == ["spring", "vip"]
    assert created["source"] == "api" and created["consent"]["method"] == "api" and created["status"] == "active"
    shown = conforms(api.get(f"/subscribers/{created['id']}"), "Subscriber")
    assert shown["tags"] == ["spring", "vip"]
    listed = conforms(api.get("/subscribers"), "SubscriberSummaryPage")
    assert listed["items"][0]["tags"] == ["spring", "vip"]


@pytest.mark.parametrize("bad", [["ok", "bad\u0007"], ["x" * 101], "not a list", [3]])
def test_the_api_refuses_a_tag_it_cannot_store_and_creates_nobody(api, bad):
    r = api.post("/subscribers", json={"email": "ann@example.com", "tags": bad})
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "invalid"
    assert api.get("/subscribers?email=ann@example.com").json["total"] == 0


def test_patch_sets_exactly_the_tags_given_and_leaves_them_when_not_named(api, conforms, make_workspace):
    sid = api.post("/subscribers", json={"email": "ann@example.com", "tags": ["a", "b"]}).json["id"]
    patched = conforms(
        api.c.patch(f"/api/v1/subscribers/{sid}", json={"tags": ["B", "c"]}, headers=api.h), "Subscriber"
    )
    assert patched["tags"] == ["b", "c"]
    renamed = api.c.patch(f"/api/v1/subscribers/{sid}", json={"name": "Ann"}, headers=api.h).json
    assert renamed["tags"] == ["b", "c"] and renamed["name"] == "Ann"
    bad = api.c.patch(f"/api/v1/subscribers/{sid}", json={"tags": ["ok", "\x00"]}, headers=api.h)
    assert bad.status_code == 422 and api.get(f"/subscribers/{sid}").json["tags"] == ["b", "c"]
    cleared = api.c.patch(f"/api/v1/subscribers/{sid}", json={"tags": []}, headers=api.h).json
    assert cleared["tags"] == []
    theirs = contacts.add_subscriber(make_workspace().id, "theirs@example.com")
    db.session.commit()
    assert api.c.patch(f"/api/v1/subscribers/{theirs.id}", json={"tags": ["x"]}, headers=api.h).status_code == 404
    assert tags.tags_of(theirs.id) == []


def test_imports_through_the_api_take_tags_as_a_list_or_text(api):
    rows = [{"email": "ann@example.com", "tags": ["a", "B"]}, {"email": "bob@example.com", "tags": "c; d"}]
    summary = api.post("/subscribers/import", json={"rows": rows}).json
    assert summary["created"] == 2 and summary["errors"] == []
    assert api.get("/subscribers?email=ann@example.com").json["items"][0]["tags"] == ["a", "b"]
    assert api.get("/subscribers?email=bob@example.com").json["items"][0]["tags"] == ["c", "d"]


# The dashboard --------------------------------------------------------------------------------


def test_a_marketer_adds_and_removes_tags_on_the_subscribers_page(client, workspace):
    sub = contacts.add_subscriber(workspace.id, "ann@example.com")
    db.session.commit()
    token = csrf(client)
    r = client.post(f"/subscribers/{sub.id}/tags", data={"csrf_token": token, "tags": "VIP, <b>fair</b>"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#tags")
    page = client.get(f"/subscribers/{sub.id}").get_data(as_text=True)
    assert 'data-tag="vip"' in page and "&lt;b&gt;fair&lt;/b&gt;" in page and "<b>fair</b>" not in page

    client.post(f"/subscribers/{sub.id}/tags/remove", data={"csrf_token": token, "tag": "vip"})
    assert tags.tags_of(sub.id) == ["<b>fair</b>"]

    r = client.post(f"/subscribers/{sub.id}/tags", data={"csrf_token": token, "tags": "x" * 101})
    assert r.status_code == 302 and "longer than 100" in client.get(f"/subscribers/{sub.id}").get_data(as_text=True)


def test_the_subscriber_list_and_the_api_filter_by_tag(client, api, workspace):
    for email, given in [("ann@example.com", ["vip"]), ("bob@example.com", ["vip", "fair"]), ("cy@example.com", [])]:
        signups.subscribe(workspace.id, email, source="api", tags=given)
    db.session.commit()
    page = client.get("/subscribers/").get_data(as_text=True)
    assert '<option value="vip">vip (2)</option>' in page and '<option value="fair">fair (1)</option>' in page
    filtered = client.get("/subscribers/?tag=VIP").get_data(as_text=True)
    assert "ann@example.com" in filtered and "bob@example.com" in filtered and "cy@example.com" not in filtered
    assert "No subscriber matches" in client.get("/subscribers/?tag=nobody").get_data(as_text=True)
    assert [i["email"] for i in api.get("/subscribers?tag=fair").json["items"]] == ["bob@example.com"]
    assert api.get("/subscribers?tag=%20VIP%20").json["total"] == 2


def test_the_add_form_takes_tags_and_another_workspaces_subscriber_answers_404(client, make_workspace):
    r = client.post(
        "/subscribers/new", data={"csrf_token": csrf(client), "email": "ann@example.com", "tags": "Spring, vip"}
    )
    assert r.status_code == 302
    assert tags_of("ann@example.com") == ["spring", "vip"]
    theirs = contacts.add_subscriber(make_workspace().id, "theirs@example.com")
    db.session.commit()
    token = csrf(client)
    assert client.post(f"/subscribers/{theirs.id}/tags", data={"csrf_token": token, "tags": "x"}).status_code == 404
    r = client.post(f"/subscribers/{theirs.id}/tags/remove", data={"csrf_token": token, "tag": "x"})
    assert r.status_code == 404
    assert tags.tags_of(theirs.id) == []


def test_a_list_joined_by_import_stays_active_even_with_double_opt_in(workspace):
    lst = contacts.create_list(workspace.id, "Letters", double_opt_in=True)
    result = contacts.import_subscribers(workspace.id, [{"email": "ann@example.com", "tags": ["x"]}], [lst.id])
    db.session.commit()
    assert result.created == 1 and subscriber("ann@example.com").status == "active"


def test_an_erased_person_gets_no_new_tags(ctx, workspace):
    from app.services.audience import privacy

    sub = contacts.add_subscriber(workspace.id, "gone@example.com")
    privacy.erase_subscriber(workspace.id, sub.id)
    assert tags.add_tags(workspace.id, sub.id, ["vip"]) == []
    assert tags.tag_subscribers(workspace.id, [sub.id], ["vip"]) == 0
