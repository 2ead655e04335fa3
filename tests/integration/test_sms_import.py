"""Imports bring people's numbers and their consent to texts: the usual column names are recognised,
numbers in any usual form are read with the workspace's country, a bad number is a note on its row
(the person is imported without it), a number that said STOP stays opted out, and a large file stays
set-based."""

import io
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Subscriber
from app.services.audience import contacts, import_columns
from app.services.sms import consent, settings
from tests.import_support import columns_form, import_through_pages, upload


def person(email: str) -> Subscriber:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


def texts(email: str) -> tuple:
    p = person(email)
    return p.phone, p.sms_status, (p.sms_consent or {}).get("method")


def run(workspace_id: int, csv: str):
    result = contacts.import_subscribers(workspace_id, contacts.parse_csv(csv.encode()))
    db.session.commit()
    return result


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


@pytest.mark.parametrize(
    "header,target",
    [
        ("phone", "phone"),
        ("phone_number", "phone"),
        ("Phone Number", "phone"),
        ("Mobile", "phone"),
        ("cell", "phone"),
        ("SMS", "phone"),
        ("Téléphone", "phone"),
        ("sms_consent", "sms_consent"),
        ("SMS Opt-In", "sms_consent"),
        ("sms subscribed", "sms_consent"),
        ("Accepts SMS Marketing", "sms_consent"),
    ],
)
def test_the_usual_column_names_are_read_as_the_number_and_the_consent(header, target):
    assert import_columns.guess_columns(["Email", header]).columns == ["email", target]


def test_numbers_in_many_forms_and_accented_names_import_with_consent_and_notes(workspace):
    csv = (
        "email,name,Phone Number,SMS Opt In\n"
        "zoe@example.com,Zoë Müller-Lüdenscheidt,(415) 555-0123,yes\n"
        "siobhan@example.ie,Siobhán Ó Briain,+44 7911 123456,no\n"
        "jose@example.es,José Núñez,12,yes\n"
        "hana@example.jp,山田 花子,+1 212-555-0199,perhaps\n"
        "ana@example.com,Ana,,TRUE\n"
        "bad-address,Nobody,+14155550123,yes\n"
    )
    result = run(workspace.id, csv)
    assert (result.created, result.rejected) == (5, 1)
    notes = {}
    for e in result.errors:
        notes.setdefault(e["row"], []).append(e["error"])
    assert sorted(notes) == [4, 5, 6, 7]
    bad_number, no_number = notes[4]  # imported without the number, so without consent either
    assert bad_number.startswith("Imported without the phone number: “12” is not a valid phone number")
    assert "no phone number" in no_number and no_number == notes[6][0]
    assert "perhaps" in notes[5][0] and "email" in notes[7][0].lower()
    assert texts("zoe@example.com") == ("+14155550123", "subscribed", "import")
    assert person("zoe@example.com").name == "Zoë Müller-Lüdenscheidt"
    assert texts("siobhan@example.ie") == ("+447911123456", "none", None)
    assert texts("jose@example.es") == (None, "none", None) and person("jose@example.es").name == "José Núñez"
    assert texts("hana@example.jp") == ("+12125550199", "none", None)
    assert texts("ana@example.com") == (None, "none", None)
    assert "phone_number" not in person("zoe@example.com").attributes  # a column of its own, not an attribute


def test_numbers_without_a_country_code_are_the_workspaces_countrys(workspace):
    settings.update_settings(workspace.id, {"default_region": "FR"})
    db.session.commit()
    run(workspace.id, "email,mobile\nlea@example.fr,06 12 34 56 78\nbob@example.com,+1 (415) 555-0123\n")
    assert texts("lea@example.fr")[0] == "+33612345678" and texts("bob@example.com")[0] == "+14155550123"


def test_a_number_that_replied_stop_imports_opted_out_whatever_the_file_says(workspace):
    consent.opt_out_number(workspace.id, "+12125550199", "keyword")
    db.session.commit()
    result = run(workspace.id, "email,phone,sms_consent\nkai@example.com,(212) 555-0199,subscribed\n")
    assert texts("kai@example.com") == ("+12125550199", "opted_out", None)
    assert [e["row"] for e in result.errors] == [2] and "replied STOP" in result.errors[0]["error"]


def test_importing_again_changes_a_known_persons_number_as_the_dashboard_would(workspace):
    run(workspace.id, "email,phone,sms_consent\nzoe@example.com,+14155550123,yes\n")
    assert texts("zoe@example.com") == ("+14155550123", "subscribed", "import")

    unchanged = run(workspace.id, "email,name\nzoe@example.com,\n")  # no phone column: nothing to change
    assert (unchanged.updated, unchanged.unchanged) == (0, 1)
    same = run(workspace.id, "email,phone\nzoe@example.com,(415) 555-0123\n")  # the same number, written otherwise
    assert same.unchanged == 1 and texts("zoe@example.com")[1] == "subscribed"

    moved = run(workspace.id, "email,phone\nzoe@example.com,+44 7911 123456\n")
    assert moved.updated == 1 and texts("zoe@example.com") == ("+447911123456", "none", None)
    agreed = run(workspace.id, "email,sms_consent\nzoe@example.com,1\n")  # consent for the number they have
    assert agreed.updated == 1 and texts("zoe@example.com") == ("+447911123456", "subscribed", "import")

    sub = person("zoe@example.com")
    consent.set_status(sub, "opted_out", "dashboard")
    db.session.commit()
    kept = run(workspace.id, "email,sms_consent\nzoe@example.com,yes\n")
    assert texts("zoe@example.com")[1] == "opted_out" and "STOP" in kept.errors[0]["error"]


def test_json_rows_carry_numbers_and_consent_through_the_api(workspace, api, conforms):
    rows = [{"email": "zoe@example.com", "name": "Zoë", "phone": "+1 415 555 0123", "sms_consent": True},
            {"email": "bob@example.com", "phone": "not a phone"},
            {"email": "lea@example.com", "phone": 33612345678}]  # fmt: skip
    summary = conforms(api.post("/subscribers/import", {"rows": rows}), "ImportSummary")
    assert summary["created"] == 2
    assert [e["row"] for e in summary["errors"]] == [2, 3] and "phone" in summary["errors"][1]["error"]
    assert texts("zoe@example.com") == ("+14155550123", "subscribed", "import")
    assert texts("bob@example.com") == (None, "none", None)


def test_the_column_step_proposes_the_phone_and_the_consent_and_imports_them(workspace, client):
    token = csrf(client)
    data = "Email,Mobile Number,SMS Subscribed\nzoe@example.com,+44 7911 123456,x\n".encode()
    columns = client.get(upload(client, token, data).headers["Location"]).get_data(as_text=True)
    assert ">Phone number</option>" in columns
    _, form = columns_form(columns)
    assert (form["column_1"], form["column_2"]) == ("phone", "sms_consent")
    page = import_through_pages(client, token, data)
    assert page.status_code == 200 and texts("zoe@example.com") == ("+447911123456", "subscribed", "import")


def _number(i: int) -> str:
    return f"(415) 2{i // 100:02d}-{i % 100:04d}"


def _csv(n: int) -> bytes:
    lines = ["email,name,phone,sms_opt_in"]
    lines += [f"p{i}@example.com,Zoë {i},{_number(i)},{'yes' if i % 2 else 'no'}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _upload(api, data: bytes):
    return api.c.post("/api/v1/subscribers/import", headers=api.h, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(data), "people.csv")})  # fmt: skip


def test_two_thousand_rows_with_numbers_import_in_a_few_statements(app, workspace, api, count_queries):
    stopped = {i for i in range(2000) if i % 7 == 0}  # these numbers said STOP before
    for i in stopped:
        consent.opt_out_number(workspace.id, "+1" + re.sub(r"\D", "", _number(i)), "keyword")
    db.session.commit()
    with count_queries() as small:
        assert _upload(api, _csv(20)).status_code == 200
    with count_queries() as large:
        answer = _upload(api, _csv(2000))
    summary = answer.get_json()
    assert answer.status_code == 200 and (summary["created"], summary["skipped"]) == (1980, 20), summary
    # A handful more statements for a hundred times the rows: one look-up per thousand, never one per row.
    assert large() <= small() + 12, (small(), large())
    agreed = {i for i in range(2000) if i % 2}
    assert {e["row"] - 2 for e in summary["errors"]} == agreed & stopped  # a yes for a STOPped number is noted
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Subscriber.email, Subscriber.sms_status)).all())
    expected = {f"p{i}@example.com": "opted_out" if i in stopped else "subscribed" if i in agreed else "none"
                for i in range(2000)}  # fmt: skip
    assert statuses == expected
    assert person("p1999@example.com").phone == "+14152190099"
