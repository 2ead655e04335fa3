"""A recipient domain's mailbox provider from its MX, through Herald's one resolver, against a real
DNS server on loopback (dnslib) playing real-world MX sets."""

import time

import pytest
from flask import current_app

from app import dns
from app.dns import DnsUnavailable, parse_nameservers
from app.services.delivery import mailbox_providers
from tests.dns_support import ZoneServer
from tests.support import free_port


@pytest.fixture
def dns_server(ctx):
    """A zone server that every lookup of the app goes to (DNS_NAMESERVERS)."""
    cfg = current_app.config
    saved = cfg.get("DNS_NAMESERVERS"), cfg.get("DNS_TIMEOUT")
    with ZoneServer() as server:
        cfg["DNS_NAMESERVERS"], cfg["DNS_TIMEOUT"] = server.address, 2.0
        yield server
    cfg["DNS_NAMESERVERS"], cfg["DNS_TIMEOUT"] = saved


# (MX records of the domain, the provider expected) — the sets as these providers publish them.
REAL_WORLD = [
    (
        ["5 gmail-smtp-in.l.google.com.", "10 alt1.gmail-smtp-in.l.google.com.", "40 alt4.gmail-smtp-in.l.google.com."],
        "gmail",
    ),
    (["1 smtp.google.com."], "google_workspace"),
    (["1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com.", "10 aspmx2.googlemail.com."], "google_workspace"),
    (["0 acme-com.mail.protection.outlook.com."], "microsoft365"),
    (["0 acme-com.j-v1.mx.microsoft."], "microsoft365"),
    (["2 hotmail-com.olc.protection.outlook.com."], "outlook"),
    (["1 mta5.am0.yahoodns.net.", "1 mta6.am0.yahoodns.net.", "1 mta7.am0.yahoodns.net."], "yahoo"),
    (["15 mx-aol.mail.gm0.yahoodns.net."], "yahoo"),  # AOL moved onto Yahoo's servers
    (["15 mailin-01.mx.aol.com."], "aol"),
    (["10 mx01.mail.icloud.com.", "10 mx02.mail.icloud.com."], "icloud"),
    (["10 mail.protonmail.ch.", "20 mailsec.protonmail.ch."], "proton"),
    (["10 mx.zoho.com.", "20 mx2.zoho.com."], "zoho"),
    (["10 mx00.gmx.net.", "10 mx01.gmx.net."], "gmx"),
    (["100 mx-ha01.web.de.", "100 mx-ha02.web.de."], "web_de"),
    (["10 mx.yandex.ru."], "yandex"),
    (["10 mxs.mail.ru."], "mail_ru"),
    (["10 in1-smtp.messagingengine.com.", "20 in2-smtp.messagingengine.com."], "fastmail"),
    (["10 mx0a-00123456.pphosted.com.", "10 mx0b-00123456.pphosted.com."], "proofpoint"),
    (["10 eu-smtp-inbound-1.mimecast.com."], "mimecast"),
    (["10 mx1.mail.example.org."], "other"),
    # The lowest preference decides: a gateway in front of Google Workspace is what Herald talks to.
    (["20 aspmx.l.google.com.", "5 mx1.acme.iphmx.com."], "cisco"),
    # Suffixes match on label boundaries only.
    (["10 notgmail-smtp-in.l.google.com.evil.example."], "other"),
    (["10 mx.evilgmx.net."], "other"),
]


@pytest.mark.parametrize("mx, expected", REAL_WORLD)
def test_the_mailbox_provider_comes_from_the_lowest_preference_mx(dns_server, mx, expected):
    dns_server.set(*(f"acme.example. 300 IN MX {record}" for record in mx))
    found = mailbox_providers.detect("Acme.Example.")  # case and the root dot do not matter
    assert found.provider.key == expected
    assert found.accepts_mail and found.domain == "acme.example"


def test_gateways_are_labelled_as_such_and_the_big_four_group_together():
    by_key = {p.key: p for p in mailbox_providers.providers()}
    assert {k for k, p in by_key.items() if p.gateway} == {"proofpoint", "mimecast", "barracuda", "cisco", "symantec"}
    assert {by_key[k].group for k in ("gmail", "google_workspace")} == {"gmail"}
    assert {by_key[k].group for k in ("outlook", "microsoft365")} == {"microsoft"}
    assert {by_key[k].group for k in ("yahoo", "aol")} == {"yahoo"}
    assert by_key["icloud"].group == "apple"


def test_a_null_mx_means_the_domain_takes_no_mail(dns_server):
    dns_server.set("parked.example. 300 IN MX 0 .")
    found = mailbox_providers.detect("parked.example")
    assert found.provider is mailbox_providers.NO_MAIL and not found.accepts_mail


def test_no_mx_falls_back_to_the_domains_own_address_as_other(dns_server):
    dns_server.set("small.example. 300 IN A 192.0.2.10")
    found = mailbox_providers.detect("small.example")
    assert found.provider is mailbox_providers.OTHER and found.exchange is None and found.accepts_mail
    assert mailbox_providers.detect("does-not-exist.example").provider is mailbox_providers.OTHER


def test_answers_are_kept_for_their_ttl_then_asked_again(dns_server):
    dns_server.set("shop.example. 1 IN MX 10 mx01.mail.icloud.com.")
    for _ in range(3):
        assert mailbox_providers.detect("shop.example").provider.key == "icloud"
    assert dns_server.queries[("shop.example", "MX")] == 1
    time.sleep(1.2)
    mailbox_providers.detect("shop.example")
    assert dns_server.queries[("shop.example", "MX")] == 2


def test_a_dns_server_that_does_not_answer_is_unavailable_not_no_record(ctx):
    cfg = current_app.config
    saved = cfg["DNS_NAMESERVERS"], cfg["DNS_TIMEOUT"]
    cfg["DNS_NAMESERVERS"], cfg["DNS_TIMEOUT"] = f"127.0.0.1:{free_port()}", 0.5
    try:
        started = time.monotonic()
        with pytest.raises(DnsUnavailable, match="No DNS answer for gmail.com"):
            mailbox_providers.detect("gmail.com")
        assert time.monotonic() - started < 3
    finally:
        cfg["DNS_NAMESERVERS"], cfg["DNS_TIMEOUT"] = saved


def test_the_resolver_is_shared_per_setting(dns_server):
    assert dns.resolver() is dns.resolver()
    assert dns.resolver().nameservers == ["127.0.0.1"]
    assert dns.resolver().nameserver_ports == {"127.0.0.1": dns_server.port}


def test_nameservers_are_read_as_host_and_port():
    assert parse_nameservers("10.0.0.2, 127.0.0.1:5353,[::1]:5300, 2001:db8::53") == [
        ("10.0.0.2", 53),
        ("127.0.0.1", 5353),
        ("::1", 5300),
        ("2001:db8::53", 53),
    ]
    assert parse_nameservers("") == [] and parse_nameservers(" , ") == []
    for bad in ("127.0.0.1:dns", "127.0.0.1:0", "[::1]:99999", ":53"):
        with pytest.raises(ValueError, match="DNS_NAMESERVERS"):
            parse_nameservers(bad)


@pytest.mark.parametrize("name", ["a" * 64 + ".example", "bad..example"])
def test_a_name_that_cannot_be_a_domain_is_a_clear_error(dns_server, name):
    with pytest.raises(ValueError, match="is not a domain name"):
        mailbox_providers.detect(name)
