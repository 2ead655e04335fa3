"""The suppression list a marketer manages: every way out records its source and the report counts it,
addresses and @domains added and removed from the dashboard and the API, CSV import (set-based, bad rows
by number) and export (formula-safe), the role-address policy; hostile input gets a clear answer."""

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Event, Subscriber, Suppression, Workspace
from app.services.audience import contacts, suppression
from app.services.events import tracking
from tests.factories import create_provider
from tests.webhook_support import (
    SENDGRID_KEY,
    carried_by,
    post_sendgrid,
    public_key_b64,
    sendgrid_event,
    sent_campaign,
)


def csrf(client, path="/suppressions/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def entries(workspace_id: int) -> dict[str, tuple]:
    """address -> (reason, source)."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Suppression.email, Suppression.reason, Suppression.source).where(
            Suppression.workspace_id == workspace_id
        )
    )
    return {email: (reason, source) for email, reason, source in rows}


def upload(client, token: str, data: bytes, reason: str = "manual", filename: str = "list.csv"):
    return client.post(
        "/suppressions/import",
        data={"csrf_token": token, "reason": reason, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def audit_actions(workspace_id: int) -> list[tuple]:
    db.session.expire_all()
    return list(
        db.session.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.workspace_id == workspace_id)
            .order_by(AuditEntry.id)
        )
    )


# Sources ------------------------------------------------------------------------------------------


def test_every_way_out_records_its_source_and_the_reports_count_them(
    workspace, smtp_sink, worker, client, api, app, conforms
):
    camp, r = sent_campaign(workspace.id, smtp_sink.port, worker, n=8, prefix="leaver")
    sendgrid = create_provider(workspace.id, "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)})
    db.session.commit()
    carried_by(camp.id, sendgrid.id)
    web = app.test_client()

    # The unsubscribe page's button, a mail program's one-click POST, the preference center.
    page = web.get(f"/u/{tracking.unsubscribe_token(r[0]['id'])}")
    assert page.status_code == 200
    assert web.post(f"/u/{tracking.unsubscribe_token(r[0]['id'])}").status_code == 303
    one_click = web.post(f"/u/{tracking.unsubscribe_token(r[1]['id'])}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert web.post(f"/preferences/{tracking.preferences_token(r[2]['id'])}/unsubscribe").status_code == 303
    # A team member, the API.
    token = csrf(client, f"/subscribers/{r[3]['subscriber_id']}")
    assert (
        client.post(f"/subscribers/{r[3]['subscriber_id']}/unsubscribe", data={"csrf_token": token}).status_code == 302
    )
    assert (
        conforms(api.post(f"/subscribers/{r[4]['subscriber_id']}/unsubscribe"), "Subscriber")["status"]
        == "unsubscribed"
    )
    # The provider reports a complaint and a hard bounce.
    events = [
        sendgrid_event("spamreport", r[5], camp.id),
        sendgrid_event("bounce", r[6], camp.id, type="bounce", status="5.1.1", reason="550 5.1.1 no such user"),
    ]
    assert post_sendgrid(web, sendgrid.id, events).status_code == 200
    worker()
    # An import, and the preference center outside any campaign (its /p/ door): no campaign.
    suppression.import_suppressions(workspace.id, b"imported@example.net\n")
    contacts.unsubscribe(db.session.get(Subscriber, r[7]["subscriber_id"]), source="preference center")
    db.session.commit()

    got = entries(workspace.id)
    assert {r[i]["email"]: got[r[i]["email"]] for i in range(7)} == {
        r[0]["email"]: ("unsubscribed", "link"),
        r[1]["email"]: ("unsubscribed", "one-click"),
        r[2]["email"]: ("unsubscribed", "preference center"),
        r[3]["email"]: ("unsubscribed", "dashboard"),
        r[4]["email"]: ("unsubscribed", "api"),
        r[5]["email"]: ("complained", "complaint"),
        r[6]["email"]: ("bounced", "bounce"),
    }
    assert got["imported@example.net"] == ("manual", "import")
    recorded = sorted(
        db.session.scalars(select(Event.data["source"].as_string()).where(Event.event_type == "unsubscribe"))
    )
    assert recorded == ["link", "one-click", "preference center"]  # the event log keeps the same words

    by_campaign = {s.source: s.count for s in suppression.unsubscribe_sources(workspace.id, campaign_id=camp.id)}
    assert by_campaign == {"link": 1, "one-click": 1, "preference center": 1, "complaint": 1, "bounce": 1}
    overall = [(s.source, s.count) for s in suppression.unsubscribe_sources(workspace.id)]
    assert overall == [("link", 1), ("one-click", 1), ("preference center", 2), ("api", 1), ("dashboard", 1),
                       ("complaint", 1), ("bounce", 1), ("import", 1)]  # fmt: skip

    shown = client.get(f"/campaigns/{camp.id}/insights").get_data(as_text=True)
    assert 'id="unsubscribe-sources"' in shown, "the campaign's insights show how people left"
    table = shown.split('id="unsubscribe-sources"')[1].split("</table>")[0]
    counts = dict(re.findall(r'data-source="([^"]+)">.*?data-count>(\d+)<', table, re.S))
    assert counts == {"link": "1", "one-click": "1", "preference center": "1", "complaint": "1", "bounce": "1"}
    insights = client.get("/insights/").get_data(as_text=True)
    workspace_counts = dict(re.findall(r'data-source="([^"]+)">.*?data-count>(\d+)<', insights, re.S))
    assert workspace_counts["dashboard"] == "1" and workspace_counts["import"] == "1" and len(workspace_counts) == 8


def test_unsubscribing_twice_counts_once_and_an_old_word_still_reports_as_the_link(workspace, smtp_sink, worker, app):
    camp, r = sent_campaign(workspace.id, smtp_sink.port, worker, n=2, prefix="twice")
    web = app.test_client()
    for _ in range(3):
        web.post(f"/u/{tracking.unsubscribe_token(r[0]['id'])}", data={"List-Unsubscribe": "One-Click"})
    # A row written before sources were SUPPRESSION_SOURCES words.
    ev = db.session.scalar(select(Event).where(Event.event_type == "unsubscribe"))
    ev.data = {"source": "unsubscribe page"}
    db.session.commit()
    assert [(s.source, s.count) for s in suppression.unsubscribe_sources(workspace.id, campaign_id=camp.id)] == [
        ("link", 1)
    ]


# The dashboard ------------------------------------------------------------------------------------


def test_a_marketer_suppresses_an_address_and_a_domain_finds_filters_and_removes_them(
    client, workspace, make_workspace
):
    token = csrf(client)
    assert client.get("/suppressions/").status_code == 200
    added = client.post("/suppressions/", data={"csrf_token": token, "email": " Ann@Example.COM ", "reason": "manual",
                                                "detail": "<b>asked</b> by phone"})  # fmt: skip
    assert added.status_code == 302
    domain = client.post(
        "/suppressions/", data={"csrf_token": token, "email": "@Competitor.com", "reason": "complained"}
    )
    assert domain.status_code == 302
    assert "Every address at competitor.com is suppressed" in client.get("/suppressions/").get_data(as_text=True)
    again = client.post("/suppressions/", data={"csrf_token": token, "email": "ann@example.com", "reason": "bounced"})
    assert "already suppressed (manual)" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert entries(workspace.id) == {
        "ann@example.com": ("manual", "dashboard"),
        "@competitor.com": ("complained", "dashboard"),
    }

    page = client.get("/suppressions/").get_data(as_text=True)
    assert "&lt;b&gt;asked&lt;/b&gt; by phone" in page and "<b>asked</b>" not in page  # the note is text
    assert "dashboard" in page and "domain" in page
    assert "competitor.com" in client.get("/suppressions/?q=competitor").get_data(as_text=True)
    assert "ann@example.com" not in client.get("/suppressions/?q=competitor").get_data(as_text=True)
    only_complaints = client.get("/suppressions/?reason=complained").get_data(as_text=True)
    assert "@competitor.com" in only_complaints and "ann@example.com" not in only_complaints
    assert "Nothing matches" in client.get("/suppressions/?source=import").get_data(as_text=True)
    assert client.get("/suppressions/?reason=<script>&source=x&page=-3").status_code == 200  # unknown: ignored

    for bad, message in [("bob@", "is not an email address"), ("@", "is not a domain"), ("@no_dots", "is not a domain"),
                         ("@-bad-.com", "is not a domain"), ("", "required")]:  # fmt: skip
        r = client.post("/suppressions/", data={"csrf_token": token, "email": bad, "reason": "manual"})
        assert r.status_code == 422 and message in r.get_data(as_text=True), bad
    r = client.post("/suppressions/", data={"csrf_token": token, "email": "x@example.com", "reason": "erased"})
    assert r.status_code == 422 and "Choose a reason" in r.get_data(as_text=True)

    sup = db.session.scalar(select(Suppression).where(Suppression.email == "@competitor.com"))
    assert 'data-confirm="Allow campaigns to send to @competitor.com again?"' in page
    other = make_workspace("Rival", "rival@example.com")
    theirs, _ = suppression.add_suppression(other.id, "rival@example.org")
    db.session.commit()
    assert client.post(f"/suppressions/{theirs.id}/delete", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/suppressions/{sup.id}/delete", data={"csrf_token": token}).status_code == 302
    assert entries(workspace.id) == {"ann@example.com": ("manual", "dashboard")}
    assert entries(other.id) == {"rival@example.org": ("manual", "dashboard")}
    logged = [(a, d) for a, d in audit_actions(workspace.id) if a.startswith("suppression.")]
    assert [a for a, _ in logged] == ["suppression.add", "suppression.add", "suppression.remove"]
    # A domain is named in the log; an address is not (it must not outlive an erasure).
    assert logged[1][1]["domain"] == "@competitor.com"
    assert "ann@example.com" not in str(audit_actions(workspace.id))


def test_the_list_pages_in_fifties(client, workspace):
    suppression.import_suppressions(workspace.id, "\n".join(f"p{i:03}@example.com" for i in range(120)).encode())
    db.session.commit()
    first = client.get("/suppressions/").get_data(as_text=True)
    assert first.count("data-suppression=") == 50 and "Showing 1–50 of 120" in first
    last = client.get("/suppressions/?page=3").get_data(as_text=True)
    assert last.count("data-suppression=") == 20


def test_role_addresses_are_a_workspace_setting_and_the_list_names_them(client, workspace):
    assert {
        "abuse",
        "postmaster",
        "noreply",
        "no-reply",
        "hostmaster",
        "webmaster",
        "admin",
    } <= suppression.ROLE_LOCAL_PARTS
    assert suppression.is_role_address("Abuse@example.com") and suppression.is_role_address("noreply+x@example.com")
    assert not suppression.is_role_address("ann@example.com")
    page = client.get("/settings/workspace").get_data(as_text=True)
    assert (
        'name="suppress_role_addresses"' in page
        and "checked" not in page.split('name="suppress_role_addresses"')[1][:40]
    )
    token = csrf(client, "/settings/workspace")
    r = client.post("/settings/role-addresses", data={"csrf_token": token, "suppress_role_addresses": "on"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#role-addresses")
    db.session.expire_all()
    assert db.session.get(Workspace, workspace.id).suppress_role_addresses is True
    assert "are <strong>skipped</strong>" in client.get("/suppressions/").get_data(as_text=True)
    client.post("/settings/role-addresses", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Workspace, workspace.id).suppress_role_addresses is False
    changes = [d["changed"] for a, d in audit_actions(workspace.id) if a == "workspace.settings"]
    assert changes == [{"suppress_role_addresses": [False, True]}, {"suppress_role_addresses": [True, False]}]


# Import and export --------------------------------------------------------------------------------


def test_an_import_reports_bad_rows_by_number_and_imports_the_rest(client, workspace):
    suppression.add_suppression(workspace.id, "known@example.com", "bounced")
    db.session.commit()
    data = (
        "Email,Note\n"
        "one@example.com,first\n"
        "not an address,x\n"
        "KNOWN@example.com,\n"
        "@Partner.example,\n"
        ",\n"
        "one@example.com,again\n"
        "'@quoted.example,from our own export\n"
        "erased:" + "ab" * 32 + ",\n"
        "bob@,\n"
    ).encode()
    r = upload(client, csrf(client), data, reason="unsubscribed")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Suppressed 3 new entries, 2 already on the list, 3 rows with problems." in page
    errors = re.findall(r"<li>Row (\d+): ([^<]+)</li>", page)
    assert [int(n) for n, _ in errors] == [3, 9, 10]
    assert "not an address" in errors[0][1] and "erased person" in errors[1][1]
    assert entries(workspace.id) == {
        "known@example.com": ("bounced", "dashboard"),  # the reason it had stays
        "one@example.com": ("unsubscribed", "import"),
        "@partner.example": ("unsubscribed", "import"),
        "@quoted.example": ("unsubscribed", "import"),
    }
    # No header: the first row is an address too.
    suppression.import_suppressions(workspace.id, b"first@example.com;x\r\nsecond@example.com;y\r\n")
    db.session.commit()
    assert {"first@example.com", "second@example.com"} <= set(entries(workspace.id))
    audit = [d for a, d in audit_actions(workspace.id) if a == "suppression.import"]
    assert audit[0] == {"reason": "unsubscribed", "added": 3, "already": 2, "errors": 3}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "Choose a CSV file"),
        (b"\x00\x01\x02binary", "not a CSV"),
        (b'"unterminated\n' + b"x" * 200_000, "could not be read"),
    ],
)
def test_a_file_that_is_no_list_gets_a_clear_answer(client, workspace, data, message):
    r = upload(client, csrf(client), data, filename="list.csv" if data else "")
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert entries(workspace.id) == {}


def test_twenty_thousand_rows_import_in_a_few_statements(workspace, count_queries):
    rows = [f"person{i}@example.com" for i in range(20_000)] + ["broken@", "person7@example.com"]
    with count_queries() as n:
        result = suppression.import_suppressions(workspace.id, ("email\n" + "\n".join(rows)).encode())
        db.session.commit()
    assert (result.added, result.already, [e["row"] for e in result.errors]) == (20_000, 1, [20_002])
    assert n() < 40, n()  # a thousand rows a statement, not one each
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 20_000
    again = suppression.import_suppressions(workspace.id, "\n".join(rows[:5000]).encode())
    assert (again.added, again.already) == (0, 5000)


def test_a_file_too_long_is_refused_whole(workspace):
    from app.services.errors import ValidationError

    data = b"\n".join(b"a%d@example.com" % i for i in range(suppression.MAX_IMPORT_ROWS + 5))
    with pytest.raises(ValidationError, match="import at most"):
        suppression.import_suppressions(workspace.id, data)
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_the_export_is_safe_to_open_in_a_spreadsheet_and_imports_back(client, workspace, make_workspace):
    suppression.add_suppression(workspace.id, "@evil.example", "manual", '=HYPERLINK("http://x","click")')
    suppression.add_suppression(workspace.id, "=1+2@example.com", "manual", "+cmd|' /C calc'!A0")
    suppression.add_suppression(workspace.id, "plain@example.com", "bounced", "-2+3")
    other = make_workspace("Rival", "rival@example.com")
    suppression.add_suppression(other.id, "theirs@example.com")
    db.session.commit()
    r = client.get("/suppressions/export.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0] == ["email", "reason", "source", "detail", "created_at"]
    by_email = {row[0]: row for row in rows[1:]}
    assert set(by_email) == {"'@evil.example", "'=1+2@example.com", "plain@example.com"}
    assert by_email["'@evil.example"][3] == '\'=HYPERLINK("http://x","click")'
    assert by_email["'=1+2@example.com"][3].startswith("'+") and by_email["plain@example.com"][3] == "'-2+3"
    assert not [cell for row in rows for cell in row if cell[:1] and cell[:1] in "=+-@"]
    filtered = list(
        csv.reader(io.StringIO(client.get("/suppressions/export.csv?reason=bounced").get_data(as_text=True)))
    )
    assert [row[0] for row in filtered[1:]] == ["plain@example.com"]
    assert [a for a, _ in audit_actions(workspace.id)][-2:] == ["suppression.export", "suppression.export"]

    # What Herald wrote reads back in as the same entries.
    fresh = make_workspace("Fresh", "fresh@example.com")
    result = suppression.import_suppressions(fresh.id, r.get_data())
    assert (result.added, result.errors) == (3, [])
    assert set(entries(fresh.id)) == {"@evil.example", "=1+2@example.com", "plain@example.com"}


# The API ------------------------------------------------------------------------------------------


def test_the_api_lists_adds_and_removes_entries_in_its_workspace_only(
    api, conforms, document, workspace, make_workspace
):
    for path in ("/suppressions", "/suppressions/{suppression_id}"):
        assert path in document["paths"]
    created = conforms(api.post("/suppressions", json={"email": "Ann@Example.com", "detail": "<script>x</script>"}),
                       "Suppression", 201)  # fmt: skip
    assert (created["email"], created["reason"], created["source"]) == ("ann@example.com", "manual", "api")
    assert created["detail"] == "<script>x</script>"  # stored as typed; every page escapes it
    domain = conforms(api.post("/suppressions", json={"email": "@rival.example", "reason": "complained"}),
                      "Suppression", 201)  # fmt: skip
    same = conforms(api.post("/suppressions", json={"email": "ann@example.com", "reason": "bounced"}), "Suppression")
    assert same["id"] == created["id"] and same["reason"] == "manual"
    contacts.suppress_address(workspace.id, "bounced@example.com", "bounced", "550", source="bounce")
    db.session.commit()

    page = conforms(api.get("/suppressions?per_page=2"), "SuppressionPage")
    assert page["total"] == 3 and len(page["items"]) == 2 and page["items"][0]["email"] == "bounced@example.com"
    assert [s["email"] for s in api.get("/suppressions?email=rival").json["items"]] == ["@rival.example"]
    assert [s["email"] for s in api.get("/suppressions?reason=bounced").json["items"]] == ["bounced@example.com"]
    assert [s["email"] for s in api.get("/suppressions?source=api").json["items"]] == ["@rival.example",
                                                                                       "ann@example.com"]  # fmt: skip
    assert api.get("/suppressions?email=%_").json["total"] == 0  # LIKE's wildcards are text here

    for body, field in [
        ({"email": "not an address"}, "email"),
        ({"email": "@"}, "email"),
        ({"email": "a@example.com", "reason": "erased"}, "reason"),
        ({"email": "a@example.com", "detail": "x" * 1001}, "detail"),
        ({"email": "a@example.com", "detail": "nul\x00"}, "detail"),
        ({"email": "a@example.com", "source": "api"}, "source"),
        ({}, "email"),
    ]:
        bad = api.post("/suppressions", json=body)
        assert bad.status_code == 422 and field in bad.json["error"]["fields"], (body, bad.json)
    assert api.get("/suppressions?reason=nope").status_code == 422

    other = make_workspace("Rival", "rival@example.com")
    theirs, _ = suppression.add_suppression(other.id, "theirs@example.com")
    db.session.commit()
    assert api.delete(f"/suppressions/{theirs.id}").status_code == 404
    assert api.delete("/suppressions/999999").status_code == 404
    assert api.delete(f"/suppressions/{domain['id']}").status_code == 204
    assert api.delete(f"/suppressions/{domain['id']}").status_code == 404
    assert set(entries(workspace.id)) == {"ann@example.com", "bounced@example.com"}
    assert set(entries(other.id)) == {"theirs@example.com"}


def test_a_suppressed_domain_is_stored_once_however_it_is_typed(workspace):
    first, added = suppression.add_suppression(workspace.id, "@BÜCHER.example", source="api")
    second, again = suppression.add_suppression(workspace.id, " @xn--bcher-kva.example. ", source="api")
    assert added and not again and first.id == second.id and first.email == "@xn--bcher-kva.example"
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
