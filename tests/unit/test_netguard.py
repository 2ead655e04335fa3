"""Where Herald may connect: every spelling of a metadata address is one address, refused before a
packet is sent; the providers' error answers are shown only from their own API hosts."""

import socket

import pytest

from app.providers import TransportUnavailable, netguard
from app.providers import mailgun as mg
from app.providers import postmark as pm
from app.providers import sendgrid as sg
from app.providers.smtp import SMTPSettings, SMTPTransport
from app.services.content.mime import MessageSkeleton

RAW = MessageSkeleton("News", "news@example.com", "help@example.com", {}).build(
    "Jane", "jane@example.net", "Hello", "<p>Hi</p>", "Hi", "<c1.r1@example.com>", {}
)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "0xA9FEA9FE",
        "0XA9FEA9FE",
        "2852039166",
        "0251.0376.0251.0376",
        "0251.254.169.254",
        "169.254.43518",
        "169.16689662",
        "169.254.169.254.",
        "::ffff:169.254.169.254",
        "[::ffff:a9fe:a9fe]",
        "::a9fe:a9fe",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::",
        "fe80::1%eth0",
        "fd00:ec2::254",
        "100.100.100.200",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "0.0.0.0",
        "0",
        "::",
        "239.1.2.3",
        "ff02::1",
    ],
)
def test_every_spelling_of_a_refused_address_is_refused(host):
    assert "connections there are refused" in netguard.host_refusal(host)


@pytest.mark.parametrize("host", ["api.sendgrid.com", "127.0.0.1", "::1", "localhost", "10.1.2.3", "smtp_relay"])
def test_ordinary_hosts_and_this_machine_are_allowed(host):
    assert netguard.host_refusal(host) is None


def test_a_numeric_host_that_is_no_address_is_refused_rather_than_guessed():
    assert "not a valid one" in netguard.host_refusal("256.1.1.1")
    assert "not a valid one" in netguard.host_refusal("example.123")


def test_plain_http_is_allowed_only_to_this_machine():
    assert netguard.base_url_problem("http://127.0.0.1:8025") is None
    assert netguard.base_url_problem("http://localhost/v3") is None
    assert netguard.base_url_problem("http://[::1]:8080") is None
    assert "Use https://" in netguard.base_url_problem("http://api.mailgun.net")
    assert "Use https://" in netguard.base_url_problem("http://192.168.1.10")


def resolve_to(monkeypatch, address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, 25, 0, 0) if family == socket.AF_INET6 else (address, 25)
    answer = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)


@pytest.mark.parametrize("use_tls", [False, "starttls", "ssl"])
def test_an_smtp_host_that_resolves_to_the_metadata_address_is_never_connected_to(monkeypatch, use_tls):
    resolve_to(monkeypatch, "::ffff:169.254.169.254")  # tests/conftest.py fails the test on a real connect
    transport = SMTPTransport(SMTPSettings("smtp.example", 587, use_tls, "user", "password"))
    with pytest.raises(TransportUnavailable, match=r"resolves to ::ffff:169\.254\.169\.254, .*refused"):
        transport.check()


@pytest.mark.parametrize(
    "transport",
    [
        lambda base: sg.SendGridTransport({"api_base_url": base}, {"api_key": "SG.k"}),
        lambda base: mg.MailgunTransport({"api_base_url": base, "domain": "mg.example.com"}, {"api_key": "k"}),
        lambda base: pm.PostmarkTransport({"api_base_url": base}, {"server_token": "t"}),
    ],
)
def test_a_send_refused_by_another_host_shows_its_status_but_not_its_answer(httpserver, transport):
    httpserver.expect_request("").respond_with_json({"message": "secret internal page", "ErrorCode": 300}, status=422)
    t = transport(httpserver.url_for("/").rstrip("/"))
    result = t.send("news@example.com", "jane@example.net", RAW)
    t.close()
    assert (result.ok, result.failure, result.code) == (False, "permanent", 422)
    assert "secret internal page" not in result.detail
    assert result.detail.startswith("HTTP 422 (the answer's text is shown only from ")


def test_the_providers_own_hosts_are_the_ones_whose_answers_are_shown():
    assert sg.SendGridTransport({}, {}).api.shows_answers
    assert mg.MailgunTransport({"api_base_url": "https://api.eu.mailgun.net"}, {}).api.shows_answers
    assert pm.PostmarkTransport({}, {}).api.shows_answers
    assert not sg.SendGridTransport({"api_base_url": "https://sendgrid.example.com"}, {}).api.shows_answers
    assert not sg.SendGridTransport({"api_base_url": "https://api.sendgrid.com.evil.example"}, {}).api.shows_answers


def test_a_stored_base_url_with_a_query_is_refused_before_any_request(httpserver):
    t = sg.SendGridTransport({"api_base_url": httpserver.url_for("/internal?x=")}, {"api_key": "SG.k"})
    with pytest.raises(TransportUnavailable, match="not usable: The URL ends with its path"):
        t.send("news@example.com", "jane@example.net", RAW)
    with pytest.raises(TransportUnavailable, match="not usable"):
        t.check()
    assert httpserver.log == []
