"""DMARC aggregate reports: reading the formats reporters really send, refusing hostile XML, the
per-source summary, the API and the dashboard page."""

import gzip
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.extensions import db
from app.models.advisor import DmarcRecord, DmarcReport
from app.models.deliverability import DedicatedIP, SendingDomain
from app.services.advisor import dmarc

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dmarc"
GOOGLE = FIXTURES / "google.com!news.example.com!1767225600!1767311999.xml.gz"
OUTLOOK = FIXTURES / "enterprise.protection.outlook.com!news.example.com!1767225600!1767312000.xml.gz"
YAHOO = FIXTURES / "yahoo.com!news.example.com!1767225600!1767311999.zip"
RFC9990 = FIXTURES / "mail.receiver.example!news.example.com!1767225600!1767311999.xml"
ALL = (GOOGLE, OUTLOOK, YAHOO, RFC9990)
NOW = datetime(2026, 1, 10, tzinfo=UTC)  # the fixtures cover 1 January 2026

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feedback><report_metadata><org_name>&lol4;</org_name></report_metadata></feedback>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>"""


def _xml(text: str) -> bytes:
    return text.encode()


def _google_xml() -> bytes:
    return gzip.decompress(GOOGLE.read_bytes())


def _domain(workspace, name="news.example.com") -> SendingDomain:
    row = SendingDomain(workspace_id=workspace.id, domain=name, status="verified")
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def domain(workspace):
    return _domain(workspace)


@pytest.fixture(autouse=True)
def _fixed_now(monkeypatch):
    """The summary looks back from now; the fixtures are from 1 January 2026."""
    real = dmarc.sources

    def sources(workspace_id, domain_id, days=30, now=None):
        return real(workspace_id, domain_id, days, now or NOW)

    monkeypatch.setattr(dmarc, "sources", sources)


# Reading -----------------------------------------------------------------------------------------


def test_reads_google_gzip():
    report = dmarc.parse(GOOGLE.read_bytes())
    assert (report.org_name, report.report_id, report.domain) == (
        "google.com",
        "7815483958263549921",
        "news.example.com",
    )
    assert report.begin == datetime(2026, 1, 1, tzinfo=UTC)
    assert report.end == datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    assert report.policy["p"] == "none" and report.policy["adkim"] == "r" and report.policy["np"] == "none"
    ours, stranger = report.records
    assert (ours["source_ip"], ours["count"], ours["aligned"]) == ("203.0.113.10", 120, True)
    assert ours["auth"]["dkim"] == [{"domain": "news.example.com", "selector": "h1", "result": "pass"}]
    assert (stranger["source_ip"], stranger["dkim"], stranger["spf"], stranger["aligned"]) == (
        "198.51.100.77",
        "fail",
        "fail",
        False,
    )
    assert stranger["auth"]["spf"][0]["result"] == "softfail"
    assert report.messages == 124


def test_reads_outlook_with_version_and_envelope_identifiers():
    report = dmarc.parse(OUTLOOK.read_bytes())
    assert report.org_name == "Outlook.com" and report.policy["fo"] == "0"
    (row,) = report.records
    assert (row["dkim"], row["spf"], row["aligned"]) == ("pass", "fail", True)  # DKIM alone aligns it
    assert row["auth"]["envelope_from"] == "bounces.news.example.com"
    assert row["auth"]["spf"][0]["scope"] == "mfrom"


def test_reads_yahoo_zip_and_normalises_ipv6():
    report = dmarc.parse(YAHOO.read_bytes())
    (row,) = report.records
    assert row["source_ip"] == "2001:db8::25"
    assert row["aligned"] is True and row["dkim"] == "fail"
    assert row["auth"]["reasons"] == [{"type": "forwarded", "comment": "mailing list"}]


def test_reads_rfc9990_namespaced():
    report = dmarc.parse(RFC9990.read_bytes())
    assert report.org_name == "mail.receiver.example"
    assert report.policy["discovery_method"] == "treewalk" and report.policy["testing"] == "n"
    assert [r["disposition"] for r in report.records] == ["quarantine", "none"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"this is not xml at all", "not well-formed"),
        (b"<html><body>hi</body></html>", "not a DMARC"),
        (b"<feedback><report_metadata/></feedback>", "no <policy_published>"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
        (b"PK\x03\x04garbage", "zip"),
    ],
)
def test_refuses_what_is_not_a_report(data, says):
    with pytest.raises(dmarc.ReportError, match=re.escape(says)):
        dmarc.parse(data)


def test_size_caps(monkeypatch):
    with pytest.raises(dmarc.ReportError, match="larger than"):
        dmarc.parse(b" " * (dmarc.MAX_FILE_BYTES + 1))
    monkeypatch.setattr(dmarc, "MAX_XML_BYTES", 1000)
    bomb = gzip.compress(b"<feedback>" + b" " * 5000 + b"</feedback>")
    with pytest.raises(dmarc.ReportError, match="unpacks to more than"):
        dmarc.parse(bomb)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("r.xml", b" " * 5000)
    with pytest.raises(dmarc.ReportError, match="unpacks to more than"):
        dmarc.parse(buf.getvalue())


def test_record_cap(monkeypatch):
    monkeypatch.setattr(dmarc, "MAX_RECORDS", 1)
    with pytest.raises(dmarc.ReportError, match="at most 1 are read"):
        dmarc.parse(GOOGLE.read_bytes())


# Storing and the summary ---------------------------------------------------------------------------


def test_stores_every_format_and_sums_per_source(ctx, workspace, domain):
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address="203.0.113.10"))
    db.session.commit()
    for path in ALL:
        stored = dmarc.ingest(workspace.id, domain.id, path.read_bytes(), source="upload", filename=path.name)
        assert stored.created and stored.report.status == "parsed", stored.report.error
    db.session.commit()
    assert db.session.query(DmarcRecord).filter_by(known_source=True).count() == 3

    by_ip = {s["source_ip"]: s for s in dmarc.sources(workspace.id, domain.id, 30)}
    ours = by_ip["203.0.113.10"]
    assert ours["count"] == 200 and ours["aligned"] == 1.0 and ours["known"] is True
    assert ours["spf"] == {"pass": 170, "fail": 30} and ours["dkim"] == {"pass": 200, "fail": 0}
    assert ours["reporters"] == ["Outlook.com", "google.com", "mail.receiver.example"]
    stranger = by_ip["192.0.2.200"]
    assert stranger["known"] is False and stranger["aligned"] == 0 and stranger["disposition"] == {"quarantine": 3}
    assert by_ip["2001:db8::25"]["aligned"] == 1.0 and by_ip["2001:db8::25"]["known"] is False

    failing = dmarc.failing_sources(workspace.id, domain.id)
    assert [f["source_ip"] for f in failing] == ["198.51.100.77", "192.0.2.200", "2001:db8::25"]  # most failing first
    assert {f["source_ip"]: f["failing"] for f in failing} == {"198.51.100.77": 4, "192.0.2.200": 3, "2001:db8::25": 0}
    assert failing[0]["source_ip"] == "198.51.100.77" and failing[0]["aligned"] == 0 and failing[0]["known"] is False

    summary = dmarc.summary(workspace.id, domain.id)
    assert summary["messages"] == 214 and len(summary["reports"]) == 4
    assert summary["unknown"] == 3  # everything but the dedicated IP


def test_without_dedicated_ips_known_is_not_guessed(ctx, workspace, domain):
    dmarc.ingest(workspace.id, domain.id, GOOGLE.read_bytes(), source="upload")
    db.session.commit()
    assert {s["known"] for s in dmarc.sources(workspace.id, domain.id)} == {None}
    assert [f["source_ip"] for f in dmarc.failing_sources(workspace.id, domain.id)] == ["198.51.100.77"]


def test_old_reports_are_left_out_of_the_range(ctx, workspace, domain):
    dmarc.ingest(workspace.id, domain.id, GOOGLE.read_bytes(), source="upload")
    db.session.commit()
    assert dmarc.sources(workspace.id, domain.id, 30, now=datetime(2026, 6, 1, tzinfo=UTC)) == []


def test_same_report_twice_is_stored_once(ctx, workspace, domain):
    first = dmarc.ingest(workspace.id, domain.id, GOOGLE.read_bytes(), source="upload")
    again = dmarc.ingest(workspace.id, domain.id, _google_xml(), source="api")  # the same, unpacked
    db.session.commit()
    assert again.created is False and again.report.id == first.report.id
    assert db.session.query(DmarcReport).count() == 1 and db.session.query(DmarcRecord).count() == 2


def test_broken_report_is_kept_with_its_error(ctx, workspace, domain):
    stored = dmarc.ingest(workspace.id, domain.id, BILLION_LAUGHS, source="upload", filename="lol.xml")
    db.session.commit()
    row = db.session.get(DmarcReport, stored.report.id)
    assert row.status == "error" and "DOCTYPE" in row.error and row.raw == BILLION_LAUGHS
    assert row.filename == "lol.xml" and row.domain_id == domain.id
    assert dmarc.summary(workspace.id, domain.id)["reports"] == [row]


def test_report_for_another_domain_is_refused(ctx, workspace):
    other = _domain(workspace, "other.example.org")
    with pytest.raises(dmarc.ValidationError, match="about news.example.com, not other.example.org"):
        dmarc.ingest(workspace.id, other.id, GOOGLE.read_bytes(), source="upload")
    db.session.rollback()
    assert db.session.query(DmarcReport).count() == 0


def test_mailed_report_goes_to_each_workspace_with_the_domain(ctx, workspace, domain, make_workspace):
    other_ws = make_workspace()
    other_domain = _domain(other_ws)
    stored = dmarc.ingest_mailed(YAHOO.read_bytes(), YAHOO.name)
    db.session.commit()
    assert sorted((s.report.workspace_id, s.report.domain_id) for s in stored) == sorted(
        [(workspace.id, domain.id), (other_ws.id, other_domain.id)]
    )
    assert {s.report.source for s in stored} == {"mailin"}
    assert dmarc.ingest_mailed(b"not a report", "x.xml") == []
    assert dmarc.ingest_mailed(YAHOO.read_bytes(), YAHOO.name)[0].created is False


# API ---------------------------------------------------------------------------------------------


def test_api_upload_multipart_and_raw(api, domain, conforms, ctx):
    resp = api.c.post(
        f"/api/v1/domains/{domain.id}/dmarc-reports",
        headers=api.h,
        data={"file": (io.BytesIO(GOOGLE.read_bytes()), GOOGLE.name)},
        content_type="multipart/form-data",
    )
    body = conforms(resp, "DmarcReport", 201)
    assert (body["org_name"], body["records"], body["begin"][:10]) == ("google.com", 2, "2026-01-01")
    for path, ctype in ((YAHOO, "application/zip"), (RFC9990, "application/xml")):
        resp = api.c.post(
            f"/api/v1/domains/{domain.id}/dmarc-reports", headers=api.h, data=path.read_bytes(), content_type=ctype
        )
        conforms(resp, "DmarcReport", 201)
    resp = api.c.post(
        f"/api/v1/domains/{domain.id}/dmarc-reports",
        headers=api.h,
        data=GOOGLE.read_bytes(),
        content_type="application/gzip",
    )
    assert conforms(resp, "DmarcReport", 200)["id"] == body["id"]  # the same report: answered, not stored again

    listing = api.get(f"/domains/{domain.id}/dmarc")
    page = conforms(listing, "DmarcSourcePage")
    first = page["items"][0]
    assert first["source_ip"] == "203.0.113.10" and first["count"] == 170 and first["aligned"] == 1.0
    assert {"source_ip", "count", "spf", "dkim", "aligned", "disposition"} <= set(first)
    assert len(conforms(api.get(f"/domains/{domain.id}/dmarc-reports"), "DmarcReportPage")["items"]) == 3


def test_api_broken_report_answers_422_and_is_kept(api, domain, ctx):
    resp = api.c.post(
        f"/api/v1/domains/{domain.id}/dmarc-reports", headers=api.h, data=EXTERNAL_ENTITY, content_type="text/xml"
    )
    assert resp.status_code == 422 and "DOCTYPE" in resp.json["error"]["fields"]["file"]
    reports = api.get(f"/domains/{domain.id}/dmarc-reports").json["items"]
    assert [(r["status"], r["source"]) for r in reports] == [("error", "api")]
    assert b"/etc/passwd" in db.session.scalar(db.select(DmarcReport.raw))  # kept as it came, never expanded


def test_api_refusals(api, workspace, domain, make_workspace, ctx):
    other = _domain(workspace, "other.example.org")
    resp = api.c.post(
        f"/api/v1/domains/{other.id}/dmarc-reports", headers=api.h, data=RFC9990.read_bytes(), content_type="text/xml"
    )
    assert resp.status_code == 422 and "not other.example.org" in resp.json["error"]["message"]
    resp = api.c.post(f"/api/v1/domains/{domain.id}/dmarc-reports", headers=api.h, data=b"{}", content_type="text/csv")
    assert resp.status_code == 415
    theirs = _domain(make_workspace())
    resp = api.c.post(
        f"/api/v1/domains/{theirs.id}/dmarc-reports", headers=api.h, data=RFC9990.read_bytes(), content_type="text/xml"
    )
    assert resp.status_code == 404
    assert api.get(f"/domains/{theirs.id}/dmarc").status_code == 404
    assert api.get(f"/domains/{theirs.id}/dmarc-reports").status_code == 404
    assert db.session.query(DmarcReport).count() == 0


def test_openapi_documents_the_operations(document):
    upload = document["paths"]["/domains/{domain_id}/dmarc-reports"]["post"]
    assert {"multipart/form-data", "application/gzip", "application/zip", "text/xml"} <= set(
        upload["requestBody"]["content"]
    )
    assert "get" in document["paths"]["/domains/{domain_id}/dmarc"]


# Dashboard ---------------------------------------------------------------------------------------


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_dashboard_upload_table_and_errors(client, workspace, domain, ctx):
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address="203.0.113.10"))
    db.session.commit()
    page = f"/domains/{domain.id}/dmarc"
    assert 'id="dmarc-link"' in client.get(f"/domains/{domain.id}").get_data(as_text=True)
    assert "No reports yet" in client.get(page).get_data(as_text=True)
    token = _csrf(client, page)
    resp = client.post(
        page,
        data={"csrf_token": token, "file": (io.BytesIO(GOOGLE.read_bytes()), GOOGLE.name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Report from google.com added" in html
    assert re.search(r'data-ip="203.0.113.10">\s*<td><code>203.0.113.10</code>\s*<span[^>]*data-known="1"', html)
    assert re.search(r'data-ip="198.51.100.77" class="table-warning" data-failing>', html)
    assert 'data-known="0"' in html

    resp = client.post(
        page,
        data={"csrf_token": token, "file": (io.BytesIO(b"<oops"), "broken.xml")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert "broken.xml could not be read" in html and 'data-status="error"' in html and "not well-formed" in html

    other = _domain(workspace, "other.example.org")
    resp = client.post(
        f"/domains/{other.id}/dmarc",
        data={"csrf_token": token, "file": (io.BytesIO(GOOGLE.read_bytes()), GOOGLE.name)},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "not other.example.org" in resp.get_data(as_text=True)


def test_dashboard_other_workspace_404(client, make_workspace, ctx):
    theirs = _domain(make_workspace())
    assert client.get(f"/domains/{theirs.id}/dmarc").status_code == 404


# Mailed to the rua address -------------------------------------------------------------------------


def test_report_mailed_to_the_rua_address_is_stored(app, workspace, domain, ctx):
    import smtplib
    from email.message import EmailMessage

    from app.services.events.mailin import start_mailin
    from tests.support import free_port

    msg = EmailMessage()
    msg["From"] = "noreply-dmarc-support@google.com"
    msg["To"] = app.config["DMARC_RUA"]
    msg["Subject"] = "Report domain: news.example.com Submitter: google.com Report-ID: 7815483958263549921"
    msg.set_content("This is an aggregate report from Google.")
    msg.add_attachment(GOOGLE.read_bytes(), maintype="application", subtype="gzip", filename=GOOGLE.name)
    port = free_port()
    controller = start_mailin(app, "127.0.0.1", port)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("noreply-dmarc-support@google.com", [app.config["DMARC_RUA"]], msg.as_string())
            smtp.sendmail("noreply-dmarc-support@google.com", [app.config["DMARC_RUA"]], msg.as_string())  # resent
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail(
                    "x@example.net", ["someone-else@" + app.config["MAILIN_HOSTNAME"]], b"Subject: hi\r\n\r\n"
                )
    finally:
        controller.stop()
    db.session.rollback()  # see what the listener's thread committed
    (report,) = db.session.scalars(db.select(DmarcReport)).all()
    assert (report.source, report.org_name, report.domain_id, report.records) == ("mailin", "google.com", domain.id, 2)
    assert report.filename == GOOGLE.name
