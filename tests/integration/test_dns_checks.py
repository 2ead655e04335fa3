"""The checks behind a sending domain's "Verify", through Herald's one resolver, against a real DNS
server on loopback (dnslib) playing the record shapes Google, Microsoft, SendGrid and Amazon SES
really publish."""

import base64
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from app import dns
from app.dns import DnsUnavailable
from app.services.delivery.dns_checks import (
    Check,
    InvalidRecord,
    aligned,
    check_dkim,
    check_dmarc,
    check_mx,
    check_spf,
    evaluate_spf,
    organizational_domain,
    parse_dmarc,
)
from tests.dns_support import ZoneServer
from tests.support import free_port


@pytest.fixture
def dns_ctx():
    """An app context with only the DNS settings: the checks touch no database, so no app with one
    (and no per-test truncate) is needed; lookups still go through the app's resolver."""
    app = Flask("dns-checks")
    with app.app_context():
        yield app.config


@pytest.fixture(scope="module")
def zone_server():
    with ZoneServer() as server:  # one per module
        yield server


@pytest.fixture
def dns_server(dns_ctx, zone_server):
    """The zone server every lookup goes to (DNS_NAMESERVERS), empty, with no answer cached."""
    dns_ctx["DNS_NAMESERVERS"], dns_ctx["DNS_TIMEOUT"] = zone_server.address, 2.0
    dns.resolver().cache.flush()
    zone_server.set()
    zone_server.refuse()
    zone_server.queries.clear()
    return zone_server


def _public_key_b64() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


HERALD_KEY = _public_key_b64()
OTHER_KEY = _public_key_b64()

# The providers' own records, in the shapes they publish (address lists shortened).
PROVIDERS = [
    'sendgrid.net. 300 IN TXT "v=spf1 ip4:167.89.0.0/17 ip4:208.117.48.0/20 ip4:50.31.32.0/19 '
    'ip4:198.37.144.0/20 ip4:149.72.0.0/16 ip4:159.183.0.0/16 -all"',
    'amazonses.com. 300 IN TXT "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 '
    'ip4:69.169.224.0/20 ip4:23.249.208.0/20 ip4:76.223.176.0/20 -all"',
    'amazonses.com. 300 IN TXT "google-site-verification=QTUHqCtd1cKFamMbCyGk0M6cnpmTV0lrYXu1rZUs7vE"',
    'spf.protection.outlook.com. 300 IN TXT "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 '
    'ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 -all"',
    # Google: one include that fans out into three netblock records (4 lookups in all).
    '_spf.google.com. 300 IN TXT "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com '
    'include:_netblocks3.google.com ~all"',
    '_netblocks.google.com. 300 IN TXT "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 '
    'ip4:209.85.128.0/17 ~all"',
    '_netblocks2.google.com. 300 IN TXT "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ~all"',
    '_netblocks3.google.com. 300 IN TXT "v=spf1 ip4:172.217.0.0/19 ip4:108.177.96.0/19 ~all"',
    'servers.mcsv.net. 300 IN TXT "v=spf1 ip4:205.201.128.0/20 ip4:198.2.128.0/18 ?all"',
    'mail.zendesk.com. 300 IN TXT "v=spf1 ip4:192.161.144.0/20 ip4:185.12.80.0/22 ~all"',
    '_spf.salesforce.com. 300 IN TXT "v=spf1 ip4:13.108.0.0/14 ip4:66.231.80.0/20 ~all"',
    'spf.mandrillapp.com. 300 IN TXT "v=spf1 ip4:198.2.128.0/24 ip4:198.2.132.0/22 ~all"',
]
ACME = ["acme.example. 300 IN A 192.0.2.10", "acme.example. 300 IN MX 10 aspmx.l.google.com."]


def spf(dns_server, record: str, *extra: str, required=("include:sendgrid.net",)) -> Check:
    """Publish `record` as acme.example's SPF (beside the providers' records) and check it."""
    dns_server.set(*PROVIDERS, *ACME, *extra, f"acme.example. 300 IN TXT {record}")
    return check_spf("spf", "acme.example", list(required), "v=spf1 include:sendgrid.net ~all")


# ---- SPF ----------------------------------------------------------------------------------


def test_spf_with_googles_chain_and_sendgrid_passes_and_counts_five_lookups(dns_server):
    check = spf(dns_server, '"v=spf1 include:_spf.google.com include:sendgrid.net ~all"')
    assert check.ok, check.detail
    assert check.found == "v=spf1 include:_spf.google.com include:sendgrid.net ~all"
    assert check.expected == "v=spf1 include:sendgrid.net ~all"
    assert check.detail == "SPF is valid: 5 of 10 DNS lookups, ends with ~all"
    assert check.as_dict() == {
        "purpose": "spf",
        "ok": True,
        "found": check.found,
        "expected": check.expected,
        "detail": check.detail,
        "lookups": 5,
        "all": "~",
    }


def test_spf_tree_names_every_domain_reached_and_the_all_qualifier(dns_server):
    dns_server.set(*PROVIDERS, 'acme.example. 300 IN TXT "v=spf1 include:_spf.google.com ip4:192.0.2.0/24 -all"')
    result = evaluate_spf("ACME.example.")
    assert result.ok and result.lookups == 4 and result.void_lookups == 0
    assert result.includes == {
        "_spf.google.com",
        "_netblocks.google.com",
        "_netblocks2.google.com",
        "_netblocks3.google.com",
    }
    assert result.all_qualifier == "-"
    assert result.record == "v=spf1 include:_spf.google.com ip4:192.0.2.0/24 -all"


def test_spf_missing_says_so(dns_server):
    check = spf(dns_server, '"google-site-verification=abc123"')
    assert not check.ok and check.found is None
    assert check.detail == "No SPF record (a TXT record starting v=spf1) at acme.example"


def test_spf_without_the_providers_include_names_the_missing_include(dns_server):
    check = spf(dns_server, '"v=spf1 include:spf.protection.outlook.com ~all"')
    assert not check.ok
    assert check.detail == "SPF at acme.example lacks include:sendgrid.net"


def test_spf_for_amazon_ses_ignores_the_other_txt_records_at_amazonses_com(dns_server):
    check = spf(dns_server, '"v=spf1 include:amazonses.com ~all"', required=["amazonses.com"])
    assert check.ok, check.detail


def test_spf_split_into_several_strings_is_joined_without_spaces(dns_server):
    check = spf(dns_server, '"v=spf1 include:spf.protection.outlook.com inc" "lude:sendgrid.net -all"')
    assert check.ok, check.detail
    assert check.found == "v=spf1 include:spf.protection.outlook.com include:sendgrid.net -all"


OWN_MTA = ["ip4:203.0.113.7", "a:mta.herald.example"]


def test_an_own_mta_is_found_by_its_network_and_host(dns_server):
    check = spf(dns_server, '"v=spf1 ip4:203.0.113.0/24 a:MTA.herald.example. -all"', required=OWN_MTA)
    assert check.ok, check.detail


def test_an_own_mta_missing_is_named_by_address_and_host(dns_server):
    check = spf(dns_server, '"v=spf1 ip4:198.51.100.0/24 -all"', required=OWN_MTA)
    assert not check.ok
    assert check.detail == "SPF at acme.example lacks ip4:203.0.113.7, a:mta.herald.example"


def test_an_include_behind_a_neutral_or_failing_qualifier_does_not_count(dns_server):
    check = spf(dns_server, '"v=spf1 ?include:sendgrid.net ~all"')
    assert not check.ok and "lacks include:sendgrid.net" in check.detail


def test_two_spf_records_are_an_error(dns_server):
    dns_server.set(
        *PROVIDERS,
        'acme.example. 300 IN TXT "v=spf1 include:_spf.google.com ~all"',
        'acme.example. 300 IN TXT "v=spf1 include:sendgrid.net ~all"',
    )
    check = check_spf("spf", "acme.example", ["include:sendgrid.net"], "v=spf1 include:sendgrid.net ~all")
    assert not check.ok
    assert check.detail == "acme.example has 2 SPF records; receivers treat that as an error (publish exactly one)"
    assert set(check.found.split("\n")) == {
        "v=spf1 include:_spf.google.com ~all",
        "v=spf1 include:sendgrid.net ~all",
    }


def test_spf_over_ten_lookups_through_nested_includes_shows_the_count_and_stops_asking(dns_server):
    record = (
        '"v=spf1 a mx include:_spf.google.com include:spf.protection.outlook.com include:sendgrid.net '
        'include:servers.mcsv.net include:mail.zendesk.com include:_spf.salesforce.com include:spf.mandrillapp.com ~all"'
    )
    check = spf(dns_server, record)
    assert not check.ok
    assert check.detail == "SPF needs at least 12 DNS lookups; receivers stop at 10"
    assert check.facts["lookups"] == 12
    # Past the limit the result is already an error: the last two includes were never asked for.
    assert dns_server.queries[("mail.zendesk.com", "TXT")] == 1
    assert dns_server.queries[("_spf.salesforce.com", "TXT")] == 0


def test_spf_over_ten_lookups_with_nothing_left_unfetched_gives_the_exact_count(dns_server):
    record = (
        '"v=spf1 a mx include:_spf.google.com include:spf.protection.outlook.com include:sendgrid.net '
        'include:servers.mcsv.net include:mail.zendesk.com a:mail.acme.example ~all"'
    )
    check = spf(dns_server, record)
    assert not check.ok and check.detail == "SPF needs 11 DNS lookups; receivers stop at 10"


def test_exactly_ten_lookups_still_pass(dns_server):
    record = (
        '"v=spf1 a mx include:_spf.google.com include:spf.protection.outlook.com include:sendgrid.net '
        'include:servers.mcsv.net include:mail.zendesk.com ~all"'
    )
    check = spf(dns_server, record)
    assert check.ok, check.detail
    assert check.facts["lookups"] == 10


def test_ip4_ip6_and_all_cost_no_lookup(dns_server):
    result_check = spf(dns_server, '"v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 include:sendgrid.net -all"')
    assert result_check.ok and result_check.facts["lookups"] == 1


def test_an_include_loop_is_reported_with_its_path(dns_server):
    check = spf(
        dns_server,
        '"v=spf1 include:_spf.acme.example ~all"',
        '_spf.acme.example. 300 IN TXT "v=spf1 include:sendgrid.net include:_spf2.acme.example ~all"',
        '_spf2.acme.example. 300 IN TXT "v=spf1 include:_spf.acme.example ~all"',
    )
    assert not check.ok
    assert check.detail == "SPF include loop: acme.example → _spf.acme.example → _spf2.acme.example → _spf.acme.example"


def test_more_than_two_void_lookups_are_an_error(dns_server):
    check = spf(
        dns_server,
        '"v=spf1 a:old-mta1.acme.example a:old-mta2.acme.example mx:gone.acme.example include:sendgrid.net ~all"',
    )
    assert not check.ok
    assert check.detail == (
        "SPF has 3 lookups that find nothing (old-mta1.acme.example, old-mta2.acme.example, gone.acme.example); "
        "receivers allow 2"
    )


def test_two_void_lookups_are_tolerated(dns_server):
    check = spf(dns_server, '"v=spf1 a:old-mta1.acme.example a:old-mta2.acme.example include:sendgrid.net ~all"')
    assert check.ok, check.detail
    assert evaluate_spf("acme.example").void_lookups == 2


def test_an_include_of_a_domain_without_spf_is_an_error(dns_server):
    check = spf(dns_server, '"v=spf1 include:sendgrid.net include:typo-sendgird.net ~all"')
    assert not check.ok
    assert check.detail == "SPF at acme.example refers to typo-sendgird.net, which has no SPF record"


def test_redirect_is_followed_and_counted(dns_server):
    check = spf(
        dns_server,
        '"v=spf1 redirect=_spf.acme-mail.example"',
        '_spf.acme-mail.example. 300 IN TXT "v=spf1 include:sendgrid.net -all"',
    )
    assert check.ok, check.detail
    assert check.facts == {"lookups": 2, "all": "-"}
    assert evaluate_spf("acme.example").includes == {"_spf.acme-mail.example", "sendgrid.net"}


def test_redirect_is_ignored_when_the_record_has_all(dns_server):
    check = spf(
        dns_server,
        '"v=spf1 ip4:192.0.2.1 redirect=_spf.acme-mail.example ~all"',
        '_spf.acme-mail.example. 300 IN TXT "v=spf1 include:sendgrid.net -all"',
    )
    assert not check.ok and check.detail == "SPF at acme.example lacks include:sendgrid.net"
    assert dns_server.queries[("_spf.acme-mail.example", "TXT")] == 0


@pytest.mark.parametrize(
    "record, detail",
    [
        (
            "v=spf1 include:sendgrid.net ip4:300.1.1.1 ~all",
            "SPF at acme.example: “ip4:300.1.1.1” is not a valid ip4 address",
        ),
        (
            "v=spf1 include:sendgrid.net inclde:_spf.google.com ~all",
            "SPF at acme.example has an unknown term “inclde:_spf.google.com”",
        ),
        ("v=spf1 include: include:sendgrid.net ~all", "SPF at acme.example: “include:” needs a domain"),
        ("v=spf1 include:sendgrid.net -all/24", "SPF at acme.example has a malformed term “-all/24”"),
    ],
)
def test_a_syntax_error_is_shown(dns_server, record, detail):
    check = spf(dns_server, f'"{record}"')
    assert not check.ok and check.detail == detail


def test_plus_all_fails_because_anyone_could_send(dns_server):
    check = spf(dns_server, '"v=spf1 include:sendgrid.net +all"')
    assert not check.ok and "+all" in check.detail


def test_return_path_spf_reports_its_purpose(dns_server):
    dns_server.set(*PROVIDERS, 'bounce.acme.example. 300 IN TXT "v=spf1 include:amazonses.com ~all"')
    check = check_spf("return_path_spf", "bounce.acme.example", ["include:amazonses.com"], "v=spf1 …")
    assert check.ok and check.purpose == "return_path_spf"


# ---- DKIM ---------------------------------------------------------------------------------

SELECTOR = "s1._domainkey.news.acme.example"


def _txt(name: str, text: str) -> str:
    """A zone line publishing `text` split into ≤ 255-byte strings, as DNS hosts do."""
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)]
    return f"{name}. 300 IN TXT " + " ".join(f'"{c}"' for c in chunks)


def dkim(dns_server, *zone: str, key: str = HERALD_KEY) -> Check:
    dns_server.set(*zone)
    return check_dkim(SELECTOR, key, f"v=DKIM1; k=rsa; p={key}")


def test_dkim_missing(dns_server):
    check = dkim(dns_server, "news.acme.example. 300 IN A 192.0.2.10")
    assert not check.ok and check.found is None
    assert check.detail == "No TXT record at s1._domainkey.news.acme.example"


def test_dkim_right_key_split_into_255_byte_strings(dns_server):
    line = _txt(SELECTOR, f"v=DKIM1; k=rsa; p={HERALD_KEY}")
    assert line.count('" "') >= 1  # a 2048-bit key does not fit one string
    check = dkim(dns_server, line)
    assert check.ok, check.detail
    assert check.found == f"v=DKIM1; k=rsa; p={HERALD_KEY}"
    assert check.detail == "The key at s1._domainkey.news.acme.example is the one Herald signs with"


def test_dkim_key_with_whitespace_inside_p_still_matches(dns_server):
    spaced = " ".join(HERALD_KEY[i : i + 64] for i in range(0, len(HERALD_KEY), 64))
    check = dkim(dns_server, _txt(SELECTOR, f"k=rsa; p={spaced}"))
    assert check.ok, check.detail


def test_dkim_revoked(dns_server):
    check = dkim(dns_server, _txt(SELECTOR, "v=DKIM1; k=rsa; p="))
    assert not check.ok and check.detail == "The key at s1._domainkey.news.acme.example is revoked (p= is empty)"


def test_dkim_other_key_is_a_mismatch(dns_server):
    check = dkim(dns_server, _txt(SELECTOR, f"v=DKIM1; k=rsa; p={OTHER_KEY}"))
    assert not check.ok
    assert check.detail == "The key published at s1._domainkey.news.acme.example is not the one Herald signs with"


def test_dkim_wrong_key_type(dns_server):
    check = dkim(dns_server, _txt(SELECTOR, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="))
    assert not check.ok
    assert check.detail == "The record at s1._domainkey.news.acme.example says k=ed25519; Herald signs with an rsa key"


def test_dkim_version_tag_must_come_first(dns_server):
    check = dkim(dns_server, _txt(SELECTOR, f"k=rsa; v=DKIM1; p={HERALD_KEY}"))
    assert not check.ok and "must start with v=DKIM1" in check.detail


def test_dkim_through_a_cname_to_the_esps_zone(dns_server):
    target = "s1.domainkey.u1234567.wl068.sendgrid.net"
    check = dkim(
        dns_server,
        f"{SELECTOR}. 300 IN CNAME {target}.",
        _txt(target, f"k=rsa; t=s; p={HERALD_KEY}"),
    )
    assert check.ok, check.detail


def test_dkim_cname_to_nowhere_is_missing(dns_server):
    check = dkim(dns_server, f"{SELECTOR}. 300 IN CNAME s1.domainkey.u1.wl1.sendgrid.net.")
    assert not check.ok and check.detail == "No TXT record at s1._domainkey.news.acme.example"


# ---- DMARC --------------------------------------------------------------------------------

SUGGESTED = "v=DMARC1; p=none; rua=mailto:dmarc@reports.herald.example; adkim=r; aspf=r"
RUA = "dmarc@reports.herald.example"


def dmarc(dns_server, *zone: str, domain: str = "acme.example") -> Check:
    dns_server.set(*zone)
    return check_dmarc(domain, SUGGESTED, rua_required=RUA)


def test_dmarc_missing(dns_server):
    check = dmarc(dns_server, "acme.example. 300 IN A 192.0.2.10")
    assert not check.ok and check.found is None
    assert check.detail == "No DMARC record at _dmarc.acme.example or any parent domain"
    assert check.as_dict()["policy"] is None


def test_dmarc_p_none_with_herald_rua_passes(dns_server):
    check = dmarc(dns_server, f'_dmarc.acme.example. 300 IN TXT "{SUGGESTED}"')
    assert check.ok
    assert check.detail == (
        "DMARC policy none; alignment relaxed (DKIM) / relaxed (SPF); reports to mailto:dmarc@reports.herald.example"
    )
    assert check.as_dict()["policy"] == "none" and check.as_dict()["inherited_from"] is None


def test_dmarc_without_heralds_rua_passes_with_a_note(dns_server):
    check = dmarc(
        dns_server,
        '_dmarc.acme.example. 300 IN TXT "v=DMARC1; p=reject; adkim=s; rua=mailto:d@acme.example!10m; pct=50"',
    )
    assert check.ok
    assert check.detail == (
        "DMARC policy reject; alignment strict (DKIM) / relaxed (SPF); applied to 50% of failing mail (pct=50); "
        "reports to mailto:d@acme.example!10m; note: add mailto:dmarc@reports.herald.example to rua= "
        "so Herald can show the reports"
    )


def test_dmarc_inherited_from_the_parent_uses_its_subdomain_policy(dns_server):
    check = dmarc(
        dns_server,
        '_dmarc.acme.example. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@reports.herald.example"',
        domain="news.acme.example",
    )
    assert check.ok
    assert check.detail.startswith(
        "DMARC policy quarantine, inherited from acme.example (no record at _dmarc.news.acme.example)"
    )
    assert check.as_dict()["policy"] == "quarantine" and check.as_dict()["inherited_from"] == "acme.example"


def test_dmarc_tree_walk_stops_before_the_top_level_label(dns_server):
    check = dmarc(dns_server, "x. 300 IN A 192.0.2.1", domain="a.b.news.acme.example")
    assert not check.ok
    asked = {name for name, rdtype in dns_server.queries if rdtype == "TXT"}
    assert asked == {
        "_dmarc.a.b.news.acme.example",
        "_dmarc.b.news.acme.example",
        "_dmarc.news.acme.example",
        "_dmarc.acme.example",
    }


def test_dmarc_with_the_newer_tags(dns_server):
    check = dmarc(
        dns_server,
        '_dmarc.acme.example. 300 IN TXT "v=DMARC1; p=quarantine; np=reject; psd=n; t=y; '
        'rua=mailto:dmarc@reports.herald.example; future=1"',
    )
    assert check.ok, check.detail
    assert "testing (t=y)" in check.detail
    record = parse_dmarc(check.found)
    assert (record.p, record.np, record.psd, record.t) == ("quarantine", "reject", "n", True)
    assert record.nonexistent_policy == "reject" and record.subdomain_policy == "quarantine"


@pytest.mark.parametrize(
    "text, detail",
    [
        ("v=DMARC1; p=bogus", "The DMARC record says p=bogus; it must be none, quarantine or reject"),
        ("p=none; v=DMARC1", "A DMARC record must start with v=DMARC1"),
        ("v=DMARC1; rua=mailto:d@acme.example", "The DMARC record has no p= policy (none, quarantine or reject)"),
        ("v=DMARC1; p=none; adkim=x", "The DMARC record says adkim=x; it must be one of r, s"),
        ("v=DMARC1; p=none; pct=150", "The DMARC record says pct=150; it must be a whole number from 0 to 100"),
    ],
)
def test_an_invalid_dmarc_record_fails_with_the_reason(dns_server, text, detail):
    check = dmarc(dns_server, f'_dmarc.acme.example. 300 IN TXT "{text}"')
    assert not check.ok and check.found == text
    assert check.detail == f"{detail} (at _dmarc.acme.example)"


def test_two_dmarc_records_fail(dns_server):
    check = dmarc(
        dns_server,
        '_dmarc.acme.example. 300 IN TXT "v=DMARC1; p=none"',
        '_dmarc.acme.example. 300 IN TXT "v=DMARC1; p=reject"',
    )
    assert not check.ok
    assert check.detail == "2 DMARC records at _dmarc.acme.example; receivers then apply none (publish exactly one)"


def test_parse_dmarc_defaults_and_report_addresses():
    record = parse_dmarc("v=DMARC1;p=none;rua=mailto:a@x.example, mailto:b@y.example;ruf=mailto:f@x.example")
    assert record.rua == ("mailto:a@x.example", "mailto:b@y.example") and record.ruf == ("mailto:f@x.example",)
    assert (record.sp, record.subdomain_policy, record.adkim, record.aspf, record.pct, record.t) == (
        None,
        "none",
        "r",
        "r",
        100,
        False,
    )
    with pytest.raises(InvalidRecord):
        parse_dmarc("v=DMARC1; p=none; p=reject")


# ---- Return path MX -----------------------------------------------------------------------


def mx(dns_server, *zone: str) -> Check:
    dns_server.set(*zone)
    return check_mx("return_path_mx", "bounce.acme.example", "mailin.herald.example", "10 mailin.herald.example")


def test_mx_right_ignores_case_and_the_root_dot(dns_server):
    check = mx(dns_server, "bounce.acme.example. 300 IN MX 10 MAILIN.Herald.example.")
    assert check.ok and check.purpose == "return_path_mx"
    assert check.found == "10 MAILIN.Herald.example."


def test_mx_missing(dns_server):
    check = mx(dns_server, 'bounce.acme.example. 300 IN TXT "v=spf1 include:amazonses.com ~all"')
    assert not check.ok and check.detail == "No MX record at bounce.acme.example"


def test_mx_wrong(dns_server):
    check = mx(dns_server, "bounce.acme.example. 300 IN MX 10 feedback-smtp.us-east-1.amazonses.com.")
    assert not check.ok
    assert check.detail == (
        "The MX at bounce.acme.example points at feedback-smtp.us-east-1.amazonses.com, not mailin.herald.example"
    )


def test_mx_behind_a_preferred_other_host_is_wrong(dns_server):
    check = mx(
        dns_server,
        "bounce.acme.example. 300 IN MX 5 mx.acme.example.",
        "bounce.acme.example. 300 IN MX 10 mailin.herald.example.",
    )
    assert not check.ok and "tries mx.acme.example before mailin.herald.example" in check.detail


def test_a_cname_to_heralds_bounce_zone_carries_mx_and_spf(dns_server):
    dns_server.set(
        *PROVIDERS,
        "bounce.acme.example. 300 IN CNAME bounce.herald.example.",
        "bounce.herald.example. 300 IN MX 10 mailin.herald.example.",
        'bounce.herald.example. 300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"',
    )
    assert check_mx("return_path_mx", "bounce.acme.example", "mailin.herald.example", "…").ok
    assert check_spf("return_path_spf", "bounce.acme.example", ["ip4:203.0.113.7"], "…").ok


# ---- The resolver down --------------------------------------------------------------------


def test_a_dead_resolver_is_unavailable_for_every_check_not_a_failed_record(dns_ctx):
    dns_ctx["DNS_NAMESERVERS"], dns_ctx["DNS_TIMEOUT"] = f"127.0.0.1:{free_port()}", 0.5
    checks = [
        lambda: check_spf("spf", "acme.example", ["include:sendgrid.net"], "…"),
        lambda: check_dkim(SELECTOR, HERALD_KEY, "…"),
        lambda: check_dmarc("news.acme.example", "…"),
        lambda: check_mx("return_path_mx", "bounce.acme.example", "mailin.herald.example", "…"),
    ]
    for run in checks:
        started = time.monotonic()
        with pytest.raises(DnsUnavailable):
            run()
        assert time.monotonic() - started < 3


def test_a_lookup_failing_deep_in_the_spf_tree_is_unavailable_too(dns_server):
    dns_server.set(*PROVIDERS, 'acme.example. 300 IN TXT "v=spf1 include:_spf.google.com include:sendgrid.net ~all"')
    dns_server.refuse("_netblocks2.google.com")
    with pytest.raises(DnsUnavailable, match="_netblocks2.google.com"):
        check_spf("spf", "acme.example", ["include:sendgrid.net"], "…")


# ---- Alignment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain, organizational",
    [
        ("acme.com", "acme.com"),
        ("Mail.News.Acme.com.", "acme.com"),
        ("shop.acme.co.uk", "acme.co.uk"),
        ("acme.com.au", "acme.com.au"),
        ("bounce.acme.com.au", "acme.com.au"),
        ("news.acme.de", "acme.de"),
    ],
)
def test_organizational_domain(domain, organizational):
    assert organizational_domain(domain) == organizational


def test_alignment_relaxed_and_strict():
    assert aligned("news.acme.com", "bounce.news.acme.com")
    assert aligned("acme.com", "em1234.acme.com")
    assert aligned("News.Acme.com", "news.acme.com.", strict=True)
    assert not aligned("news.acme.com", "bounce.news.acme.com", strict=True)
    assert not aligned("acme.com", "sendgrid.net")
    assert not aligned("acme.co.uk", "other.co.uk")
    assert aligned("acme.co.uk", "bounce.acme.co.uk")
