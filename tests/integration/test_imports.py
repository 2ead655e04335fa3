"""Importing other tools' exports: names, timezones and tags land where sending reads them, through the
services, the dashboard's column step and the API."""

import html
import io
import json
import re
import time
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Subscriber
from app.redis_client import get_redis
from app.services.audience import contacts, tags
from tests.import_support import columns_form, import_through_pages, upload

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imports"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def subscriber(email: str) -> Subscriber:
    db.session.expire_all()
    return db.session.query(Subscriber).filter_by(email=email).one()


def parked_files() -> list:
    return list(get_redis().scan_iter("herald:import:*:file"))


# The services ---------------------------------------------------------------------------------------


def test_a_mailchimp_export_imports_names_timezones_and_tags(workspace):
    result = contacts.import_subscribers(workspace.id, contacts.parse_csv(fixture("mailchimp_subscribed.csv")))
    db.session.commit()
    assert (result.created, result.errors) == (4, [])
    zoe = subscriber("zoe@example.com")
    assert zoe.name == "Zoë Müller-Lüdenscheidt" and zoe.timezone == "Europe/Berlin"
    assert tags.tags_of(zoe.id) == ["newsletter", "vip"] and "tags" not in zoe.attributes
    assert zoe.attributes["first_name"] == "Zoë" and zoe.attributes["last_name"] == "Müller-Lüdenscheidt"
    assert subscriber("haruto@example.jp").timezone == "Asia/Tokyo"
    assert subscriber("nobody-tz@example.com").timezone is None


def test_each_tools_export_gives_the_same_people(workspace):
    for name in ("listmonk_subscribers.csv", "mautic_contacts.csv", "klaviyo_profiles.csv", "brevo_contacts_fr.csv"):
        contacts.import_subscribers(workspace.id, contacts.parse_csv(fixture(name)))
    db.session.commit()
    assert subscriber("zoe@example.com").name == "Zoë Müller-Lüdenscheidt"
    assert subscriber("jose@example.com").name == "José Núñez"
    # Mautic's lower-case "europe/berlin" is stored as IANA spells it; listmonk's JSON attributes are kept.
    assert subscriber("zoe@example.com").timezone == "Europe/Berlin"
    assert subscriber("zoe@example.com").attributes["city"] == "Köln"
    assert subscriber("haruto@example.jp").timezone == "Asia/Tokyo"


def test_a_timezone_that_is_not_one_is_left_out_and_said_while_the_person_is_imported(workspace):
    result = contacts.import_subscribers(workspace.id, contacts.parse_csv(fixture("klaviyo_profiles.csv")))
    db.session.commit()
    assert result.created == 2 and subscriber("jose@example.com").timezone is None
    assert result.errors == [
        {
            "row": 3,
            "error": "Imported without a timezone: 'Mars/Olympus_Mons' is not a timezone name such as "
            "Europe/Berlin (send windows use the workspace's timezone for this person).",
        }
    ]


def test_importing_again_adds_tags_and_keeps_a_name_and_timezone_the_file_leaves_empty(workspace):
    contacts.import_subscribers(workspace.id, contacts.parse_csv(fixture("mailchimp_subscribed.csv")))
    again = b'Email Address,TAGS,TIMEZONE\nzoe@example.com,"""spring"",""vip""",\n'
    result = contacts.import_subscribers(workspace.id, contacts.parse_csv(again))
    db.session.commit()
    assert result.updated == 1
    zoe = subscriber("zoe@example.com")
    assert tags.tags_of(zoe.id) == ["newsletter", "spring", "vip"]
    assert zoe.name == "Zoë Müller-Lüdenscheidt" and zoe.timezone == "Europe/Berlin"
    unchanged = contacts.import_subscribers(workspace.id, contacts.parse_csv(again))
    assert (unchanged.updated, unchanged.skipped) == (0, 1)
    assert unchanged.summary() == "Imported 0, skipped 1 (1 unchanged)."


def test_twenty_thousand_rows_import_in_a_few_seconds(workspace, capsys):
    header = b"Email Address,First Name,Last Name,TIMEZONE,TAGS,MEMBER_RATING,LEID\r\n"
    rows = b"".join(
        f'p{i}@example.com,Zoë{i},Müller-Lüdenscheidt,Europe/Berlin,"""vip"",""n{i % 7}""",{i % 5},{i}\r\n'.encode()
        for i in range(20_000)
    )
    started = time.perf_counter()
    parsed = contacts.parse_csv(header + rows)
    parse_seconds = time.perf_counter() - started
    for i in range(0, len(parsed), 5000):  # the background job's chunks
        result = contacts.import_subscribers(workspace.id, parsed[i : i + 5000])
        assert result.created == 5000 and not result.errors
    db.session.commit()
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n20,000-row Mailchimp-shaped import: parse {parse_seconds:.2f} s, total {seconds:.2f} s")
    assert seconds < 15, seconds  # a few seconds on a laptop; generous for a shared CI machine
    assert db.session.query(Subscriber).count() == 20_000
    assert tags.tags_of(subscriber("p19999@example.com").id) == ["n0", "vip"]


# The dashboard ----------------------------------------------------------------------------------------


def test_the_column_step_recognises_a_mailchimp_export_and_pre_fills_its_mapping(client, workspace):
    lst = contacts.create_list(workspace.id, "Newsletter")
    db.session.commit()
    r = upload(client, csrf(client), fixture("mailchimp_subscribed.csv"), "subscribed_members.csv", [lst.id])
    assert r.status_code == 302 and "/columns" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Looks like a Mailchimp export" in page
    assert "Zoë, José, 陽翔" in page  # sample values of "First Name"
    _, form = columns_form(page)
    assert (form["column_0"], form["column_1"], form["column_2"]) == ("email", "first_name", "last_name")
    assert (form["column_15"], form["column_22"], form["column_19"]) == ("timezone", "tags", "ignore")
    assert (form["column_6"], form["attribute_6"]) == ("attribute", "member_rating")
    assert form["list_ids"] == [str(lst.id)]  # the list chosen on upload stays ticked
    assert len(parked_files()) == 1


def test_a_marketer_changes_the_mapping_and_imports(client, workspace):
    t = csrf(client)
    changes = {"column_21": "attribute", "attribute_21": "met_at", "column_3": "ignore"}  # NOTES, Address
    r = import_through_pages(client, t, fixture("mailchimp_subscribed.csv"), changes=changes)
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "Imported 4, skipped 0." in body and 'id="import-result"' in body
    zoe = subscriber("zoe@example.com")
    assert zoe.attributes["met_at"] == "Met at the fair" and "notes" not in zoe.attributes
    assert "address" not in zoe.attributes and zoe.timezone == "Europe/Berlin"
    assert parked_files() == []  # the parked upload is gone once imported


def test_imported_tags_and_timezone_show_on_the_subscriber_and_survive_an_edit(client, workspace):
    contacts.import_subscribers(workspace.id, contacts.parse_csv(fixture("mailchimp_subscribed.csv")))
    db.session.commit()
    zoe = subscriber("zoe@example.com")
    page = client.get(f"/subscribers/{zoe.id}").get_data(as_text=True)
    assert 'id="subscriber-timezone">Europe/Berlin<' in page and 'data-tag="newsletter">newsletter' in page
    form = client.get(f"/subscribers/{zoe.id}/edit").get_data(as_text=True)
    attributes = re.search(r'<textarea[^>]*name="attributes"[^>]*>(.*?)</textarea>', form, re.S).group(1)
    assert "tags" not in attributes  # tags are the person's own, beside the attributes
    lines = html.unescape(attributes).strip()
    r = client.post(
        f"/subscribers/{zoe.id}/edit", data={"csrf_token": csrf(client), "name": zoe.name, "attributes": lines}
    )
    assert r.status_code == 302
    assert tags.tags_of(zoe.id) == ["newsletter", "vip"]


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"column_0": "ignore"}, "Choose the column that holds the email addresses."),
        ({"column_2": "first_name"}, "The columns &#39;First Name&#39; and &#39;Last Name&#39; would both become"),
        ({"column_6": "attribute", "attribute_6": ""}, "Give the attribute a name of 1 to 100 characters."),
        ({"column_6": "attribute", "attribute_6": "notes"}, "would both become the attribute notes"),
    ],
)
def test_a_mapping_that_cannot_work_is_shown_again_with_the_reason(client, workspace, changes, message):
    r = import_through_pages(client, csrf(client), fixture("mailchimp_subscribed.csv"), changes=changes)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert message in body and "Looks like a Mailchimp export" in body
    assert db.session.query(Subscriber).count() == 0 and len(parked_files()) == 1  # fix it and import


def test_a_discarded_or_expired_upload_is_cleaned_up_and_says_so(client, workspace, make_workspace):
    t = csrf(client)
    location = upload(client, t, fixture("brevo_contacts_fr.csv")).headers["Location"]
    action, form = columns_form(client.get(location).get_data(as_text=True))
    assert "Looks like a Brevo export" in client.get(location).get_data(as_text=True)
    discard = action.replace("/columns", "/discard")
    assert client.post(discard, data={"csrf_token": t}).status_code == 302
    assert parked_files() == []
    r = client.post(action, data=form | {"csrf_token": t}, follow_redirects=True)
    assert "That upload has expired or was discarded: upload the file again." in r.get_data(as_text=True)
    assert db.session.query(Subscriber).count() == 0


def test_another_workspace_cannot_see_or_import_an_upload(app, client, workspace, make_workspace):
    location = upload(client, csrf(client), fixture("mautic_contacts.csv")).headers["Location"]
    make_workspace("Other", "other@example.com")
    db.session.commit()
    other = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True)).group(1)
    from tests.conftest import PASSWORD

    other.post("/login", data={"email": "other@example.com", "password": PASSWORD, "csrf_token": token})
    page = other.get(location, follow_redirects=True).get_data(as_text=True)
    assert "José" not in page and "upload the file again" in page
    assert len(parked_files()) == 1


def test_a_finished_background_import_says_what_it_did_instead_of_importing(client, app, worker):
    app.config["IMPORT_INLINE_BYTES"] = 100
    try:
        t = csrf(client)
        csv = b"\xef\xbb\xbfEMAIL;PRENOM;NOM\r\n" + b"".join(
            f"p{i}@example.com;José;Núñez\r\n".encode() for i in range(300)
        )
        csv += b"p1@example.com;Repeat;Row\r\nnot-an-email;No;Body\r\n"
        r = import_through_pages(client, t, csv, "brevo.csv")
    finally:
        app.config["IMPORT_INLINE_BYTES"] = 512 * 1024
    assert r.status_code == 302 and "/subscribers/imports/" in r.headers["Location"]
    url = r.headers["Location"]
    waiting = client.get(url).get_data(as_text=True)
    assert "Waiting for a worker" in waiting and '<h1 class="page-title">Importing brevo.csv</h1>' in waiting
    worker()
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    fragment = done.get_data(as_text=True)
    assert "Imported 300, skipped 2 (1 repeated in the file, 1 with problems)." in fragment
    assert "Importing" not in fragment
    assert 'id="import-header" hx-swap-oob="true"' in fragment and "Imported brevo.csv" in fragment
    assert "<title>Imported brevo.csv" in fragment
    page = client.get(url).get_data(as_text=True)  # a reload after the end
    assert "Importing" not in page and "Imported 300, skipped 2" in page
    assert subscriber("p7@example.com").name == "José Núñez" and parked_files() == []


# The API ----------------------------------------------------------------------------------------------


def api_upload(api, data: bytes, mapping=None, **fields):
    form = {"file": (io.BytesIO(data), "export.csv"), **fields}
    if mapping is not None:
        form["mapping"] = mapping if isinstance(mapping, str) else json.dumps(mapping)
    return api.post("/subscribers/import", data=form, content_type="multipart/form-data")


def test_the_api_guesses_an_export_and_takes_a_mapping(api):
    summary = api_upload(api, fixture("mailchimp_subscribed.csv")).json
    assert summary["created"] == 4 and summary["errors"] == []
    zoe = api.get("/subscribers?email=zoe@example.com").json["items"][0]
    assert zoe["name"] == "Zoë Müller-Lüdenscheidt" and zoe["timezone"] == "Europe/Berlin"
    assert zoe["tags"] == ["newsletter", "vip"] and "tags" not in zoe["attributes"]
    german = "E-Mail;Vorname;Nachname;Zeitzone;Schlagworte\nlena@example.com;Lena;Groß;Europe/Vienna;a,b\n"
    mapping = {
        "E-Mail": "email",
        "Vorname": "first_name",
        "Nachname": "last_name",
        "Zeitzone": "timezone",
        "Schlagworte": "tags",
    }
    assert api_upload(api, german.encode(), mapping).json["created"] == 1
    lena = api.get("/subscribers?email=lena@example.com").json["items"][0]
    assert lena["name"] == "Lena Groß" and lena["timezone"] == "Europe/Vienna"
    assert lena["attributes"] == {"first_name": "Lena", "last_name": "Groß"} and lena["tags"] == ["a", "b"]


def test_json_rows_can_carry_a_timezone(api):
    rows = [{"email": "kim@example.com", "timezone": "America/New_York"}, {"email": "lu@example.com", "timezone": "x"}]
    summary = api.post("/subscribers/import", json={"rows": rows}).json
    assert summary["created"] == 2 and [e["row"] for e in summary["errors"]] == [2]
    assert api.get("/subscribers?email=kim@example.com").json["items"][0]["timezone"] == "America/New_York"


@pytest.mark.parametrize(
    "mapping,field,message",
    [
        ({"First Name": "name"}, "mapping", "Choose the column that holds the email addresses."),
        ({"Email Address": "email", "TAGS": "email"}, "mapping.TAGS", "would both become the email address"),
        ({"Email": "email"}, "mapping.Email", "The file has no column 'Email' (its columns: Email Address,"),
        ({"Email Address": "e-mail"}, "mapping.Email Address", "'e-mail' is not something a column can become"),
        ("not json", "mapping", "Give a JSON object of column names"),
        (["Email Address"], "mapping", "Give a JSON object of column names"),
    ],
)
def test_the_api_refuses_a_bad_mapping_with_the_reason(api, mapping, field, message):
    resp = api_upload(api, fixture("mailchimp_subscribed.csv"), mapping)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.json["error"]
    assert field in error["fields"] and message in error["message"], error
    assert api.get("/subscribers").json["total"] == 0


def test_the_openapi_document_describes_the_mapping(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    upload_schema = document["components"]["schemas"]["ImportUpload"]["properties"]
    assert "mapping" in upload_schema and "first_name" in upload_schema["mapping"]["description"]
    assert "timezone" in document["components"]["schemas"]["ImportRow"]["properties"]
