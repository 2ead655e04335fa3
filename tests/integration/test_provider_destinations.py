"""A provider's API base URL, SES endpoint and SMTP host never lead Herald (with the provider's
credentials) to a link-local or cloud metadata address, however it is spelled or resolved, and
answers from hosts that are not the provider's own API are never shown."""

import re
import socket

import pytest
from flask import current_app

from app.extensions import db
from app.models import Provider
from app.services.delivery import providers

# Every spelling of the metadata service that reached it before (issue 12, item 8).
HOSTILE_HOSTS = [
    "169.254.169.254",
    "0xA9FEA9FE",
    "0xa9.0xfe.0xa9.0xfe",
    "2852039166",
    "0251.0376.0251.0376",
    "169.254.43518",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "metadata.google.internal",
    "METADATA.google.internal.",
    "100.100.100.200",
    "0.0.0.0",
    "[::]",
    "224.0.0.1",
]
REFUSED = "connections there are refused"
# Other rules of an API base URL, each with the words its sentence says.
BAD_BASE_URLS = [
    ("https://api.sendgrid.com/?x=", "no ?query or #fragment"),
    ("https://api.sendgrid.com/v3?", "no ?query or #fragment"),
    ("https://api.sendgrid.com/#x", "no ?query or #fragment"),
    ("https://api.sendgrid.com/a/../v3", "plain prefix"),
    ("https://api.sendgrid.com/%2e%2e/v3", "plain prefix"),
    ("http://api.sendgrid.com", "Use https://"),
    ("http://10.0.0.8", "Use https://"),
    ("https://key:secret@api.sendgrid.com", "user or password out of the URL"),
    ("https://１６９.２５４.１６９.２５４", "ASCII"),
    ("https://999.1.1.1", "not a valid one"),
    ("https://bad_host-.example!", "not a valid"),
    ("gopher://api.sendgrid.com", "An https:// URL"),
]


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/providers/").get_data(as_text=True)).group(1)


def field_error(html: str, field: str) -> str:
    m = re.search(rf'id="fb-{field}" aria-live="polite">(.*?)</div>', html, re.S)
    return m.group(1) if m else ""


def provider_count() -> int:
    db.session.expire_all()
    return db.session.query(Provider).filter(Provider.provider_type != "outbox").count()


# Saving ---------------------------------------------------------------------------------------------


def test_every_spelling_of_the_metadata_address_is_refused_by_the_form(client, workspace):
    token = csrf(client)
    for host in HOSTILE_HOSTS:
        for provider_type, field, value in (
            ("sendgrid", "api_base_url", f"https://{host}"),
            ("mailgun", "api_base_url", f"https://{host}/v3"),
            ("postmark", "api_base_url", f"http://{host}:80"),
            ("ses", "endpoint_url", f"https://{host}"),
            ("smtp", "host", host.strip("[]")),
        ):
            data = {
                "csrf_token": token,
                "name": "Metadata",
                "api_key": "k",
                "server_token": "t",
                "domain": "mg.example.com",
                "region": "us-east-1",
                "access_key_id": "AKID",
                "secret_access_key": "s",
                "port": "25",
                "use_tls": "",
                field: value,
            }
            r = client.post(f"/providers/new?type={provider_type}", data=data)
            assert r.status_code == 422, (provider_type, value)
            assert REFUSED in field_error(r.get_data(as_text=True), field), (provider_type, value)
    assert provider_count() == 0


def test_every_spelling_of_the_metadata_address_is_refused_by_the_api(api):
    # One session for every case: each is one request (a test each would mostly time fixtures).
    for host in HOSTILE_HOSTS:
        cases = [
            ("sendgrid", "settings.api_base_url", {"api_base_url": f"https://{host}"}, {"api_key": "k"}),
            ("mailgun", "settings.api_base_url", {"domain": "mg.example.com", "api_base_url": f"https://{host}"}, {"api_key": "k"}),
            ("postmark", "settings.api_base_url", {"api_base_url": f"https://{host}:8443"}, {"server_token": "t"}),
            ("ses", "settings.endpoint_url", {"region": "us-east-1", "endpoint_url": f"https://{host}"}, {"access_key_id": "A", "secret_access_key": "s"}),
            ("smtp", "settings.host", {"host": host.strip("[]"), "port": 25}, {}),
        ]  # fmt: skip
        for provider_type, field, settings, credentials in cases:
            body = {"name": "X", "provider_type": provider_type, "settings": settings, "credentials": credentials}
            resp = api.post("/providers", json=body)
            assert resp.status_code == 422, (provider_type, resp.get_json())
            assert REFUSED in resp.get_json()["error"]["fields"][field], (provider_type, resp.get_json())
    assert [p["provider_type"] for p in api.get("/providers").json["items"]] == ["outbox"]


def test_an_api_base_url_that_could_lead_elsewhere_is_refused_with_its_rule(api):
    for url, words in BAD_BASE_URLS:
        settings = {"api_base_url": url}
        body = {"name": "X", "provider_type": "sendgrid", "settings": settings, "credentials": {"api_key": "k"}}
        resp = api.post("/providers", json=body)
        assert resp.status_code == 422, url
        assert words in resp.get_json()["error"]["fields"]["settings.api_base_url"], (url, resp.get_json())


def test_the_real_api_hosts_and_servers_on_this_machine_are_accepted(ctx, workspace):
    for url in (
        "https://api.eu.mailgun.net",
        "https://api.sendgrid.com/",
        "http://127.0.0.1:8025",
        "http://localhost/v3",
    ):
        settings = {"domain": "mg.example.com", "api_base_url": url}
        p = providers.create_provider(workspace.id, "M", "mailgun", settings, {"api_key": "k"})
        assert p.settings["api_base_url"] == url.rstrip("/")
    smtp = providers.create_provider(workspace.id, "Relay", "smtp", {"host": "10.0.0.25", "port": 25}, {})
    assert smtp.settings["host"] == "10.0.0.25"


# Connecting -----------------------------------------------------------------------------------------


def resolve_to(monkeypatch, address: str) -> None:
    """The resolver's answer for every name: what DNS says after the settings were saved."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, 443, 0, 0) if family == socket.AF_INET6 else (address, 443)
    answer = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"])
def test_a_name_that_resolves_to_the_metadata_address_is_refused_when_connecting(ctx, workspace, monkeypatch, address):
    made = [
        providers.create_provider(workspace.id, "SG", "sendgrid", {"api_base_url": "https://sg-relay.example"}, {"api_key": "SG.k"}),
        providers.create_provider(workspace.id, "MG", "mailgun", {"domain": "mg.example.com", "api_base_url": "https://mg.example"}, {"api_key": "k"}),
        providers.create_provider(workspace.id, "PM", "postmark", {"api_base_url": "https://pm.example"}, {"server_token": "t"}),
        providers.create_provider(
            workspace.id, "SES", "ses", {"region": "us-east-1", "endpoint_url": "https://ses.example"},
            {"access_key_id": "AKID", "secret_access_key": "s"},
        ),
        providers.create_provider(workspace.id, "SMTP", "smtp", {"host": "smtp.example", "port": 587, "use_tls": "starttls"}, {}),
    ]  # fmt: skip
    db.session.commit()
    resolve_to(monkeypatch, address)  # tests/conftest.py fails the test if anything connects off this machine
    for p in made:
        checked = providers.test_provider(workspace.id, p.id)
        assert checked.last_check_status == "failed"
        assert f"resolves to {address}" in checked.last_error and "refused" in checked.last_error, checked.last_error


def test_sending_through_a_name_that_resolves_to_the_metadata_address_hands_nothing_off(ctx, workspace, monkeypatch):
    from app.providers import TransportUnavailable

    p = providers.create_provider(
        workspace.id, "SG", "sendgrid", {"api_base_url": "https://sg-relay.example"}, {"api_key": "SG.k"}
    )
    resolve_to(monkeypatch, "169.254.169.254")
    transport, _ = providers.transport_for(p)
    with pytest.raises(TransportUnavailable, match="resolves to 169.254.169.254"):
        transport.send(
            "news@example.com",
            "jane@example.net",
            b"From: news@example.com\r\nTo: jane@example.net\r\nSubject: Hi\r\n\r\nHi\r\n",
        )


def test_a_base_url_stored_before_the_rules_is_refused_without_a_request(ctx, workspace, httpserver):
    base = httpserver.url_for("/").rstrip("/")
    p = providers.create_provider(workspace.id, "SG", "sendgrid", {}, {"api_key": "SG.k"})
    p.settings = {"api_base_url": base + "/v3/internal?x="}  # written by hand, or by an older Herald
    db.session.commit()
    checked = providers.test_provider(workspace.id, p.id)
    assert checked.last_check_status == "failed" and "not usable" in checked.last_error
    assert httpserver.log == []


# What is shown ----------------------------------------------------------------------------------------


def test_the_answer_of_a_host_that_is_not_the_providers_is_not_shown(client, workspace, httpserver, monkeypatch):
    page = "<html>internal admin: db password hunter2</html>"
    httpserver.expect_request("/v3/scopes").respond_with_data(page, status=401)
    httpserver.expect_request("/server").respond_with_data(page, status=500)
    for flask_app in (current_app, client.application):  # the services' app and the dashboard's
        monkeypatch.setitem(flask_app.config, "PROVIDER_ANSWER_HOSTS", ())
    base = httpserver.url_for("/").rstrip("/")
    sg = providers.create_provider(workspace.id, "SG", "sendgrid", {"api_base_url": base}, {"api_key": "SG.k"})
    pm = providers.create_provider(workspace.id, "PM", "postmark", {"api_base_url": base}, {"server_token": "t"})
    db.session.commit()
    for p, status in ((sg, "401"), (pm, "500")):
        r = client.post(f"/providers/{p.id}/test", data={"csrf_token": csrf(client)}, follow_redirects=True)
        html = r.get_data(as_text=True)
        assert "hunter2" not in html and "internal admin" not in html
        assert f"HTTP {status}" in html and "shown only from" in html
        db.session.expire_all()
        error = db.session.get(Provider, p.id).last_error
        assert "hunter2" not in error and f"HTTP {status}" in error
