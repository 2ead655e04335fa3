"""Dedicated IPs: an operator adds 5.45.67.89 (mail1.acme.test), and Herald checks its PTR, whether that
name points back at it (FCrDNS) and whether Spamhaus ZEN, SpamCop or Barracuda list it — against a real
DNS server on loopback (dnslib) playing each answer: right, wrong, missing, listed, refused, silent.
A listing raises one alert and its clearing resolves it; an SMTP provider bound to an IP connects from it.

The addresses are public ones (the rules refuse private, loopback and documentation ranges, as a real
operator never sends from those); nothing here reaches them: the DNS is the test's own."""

import re

import pytest

from app.extensions import db
from app.models import Alert, DedicatedIP
from app.providers import TransportUnavailable
from app.queueing import PERIODIC_BY_NAME
from app.services.delivery import ips, providers
from tests.factories import create_dedicated_ip, create_provider, create_smtp_provider
from tests.support import free_port

IP = "5.45.67.89"
REVERSE = "89.67.45.5.in-addr.arpa"
HOST = "mail1.acme.test"
ZEN = "89.67.45.5.zen.spamhaus.org"
SPAMCOP = "89.67.45.5.bl.spamcop.net"
BARRACUDA = "89.67.45.5.b.barracudacentral.org"
RIGHT_PTR = (f"{REVERSE}. 300 IN PTR {HOST}.", f"{HOST}. 300 IN A {IP}")


def _add(api, conforms, **body) -> dict:
    return conforms(api.post("/ips", json={"ip_address": IP, "hostname": HOST, **body}), "DedicatedIp", 201)


def _check(api, conforms, ip_id: int) -> dict:
    return conforms(api.post(f"/ips/{ip_id}/check"), "DedicatedIpCheck")


def _lists(result: dict) -> dict:
    return {b["zone"]: b for b in result["blocklists"]}


def _alerts(workspace_id: int) -> list[Alert]:
    db.session.expire_all()
    return list(db.session.query(Alert).filter_by(workspace_id=workspace_id, kind="ip_blocklisted").order_by(Alert.id))


def _csrf(client, path: str = "/ips/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


# ---- PTR and FCrDNS ---------------------------------------------------------------------------


def test_a_ptr_naming_the_host_that_points_back_passes_and_clear_lists_say_not_listed(api, conforms, dns_server):
    ip = _add(api, conforms)
    assert ip["checked_at"] is None and ip["ptr_matches"] is None and ip["blocklists"] == []
    dns_server.set(*RIGHT_PTR)
    result = _check(api, conforms, ip["id"])
    assert (result["ptr"], result["ptr_matches"], result["fcrdns"], result["listed"]) == (HOST, True, True, False)
    lists = _lists(result)
    assert set(lists) == {"zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"}
    for entry in lists.values():
        assert (entry["status"], entry["listed"], entry["answer"]) == ("clear", False, None)
        assert entry["delist_url"].startswith("https://")
    assert result["ip"]["checked_at"] and conforms(api.get(f"/ips/{ip['id']}"), "DedicatedIp")["fcrdns"] is True
    # Each list was asked for the reversed address under its zone, type A.
    for name in (ZEN, SPAMCOP, BARRACUDA):
        assert dns_server.queries[(name, "A")] == 1
    assert dns_server.queries[(REVERSE, "PTR")] == 1


def test_a_ptr_naming_another_host_is_wrong_and_fcrdns_fails_when_that_name_does_not_point_back(
    api, conforms, dns_server
):
    ip = _add(api, conforms)
    dns_server.set(f"{REVERSE}. 300 IN PTR static-89.isp.example.", "static-89.isp.example. 300 IN A 5.45.67.90")
    result = _check(api, conforms, ip["id"])
    assert (result["ptr"], result["ptr_matches"], result["fcrdns"]) == ("static-89.isp.example", False, False)


def test_the_right_ptr_whose_name_points_elsewhere_fails_fcrdns(api, conforms, dns_server):
    ip = _add(api, conforms)
    dns_server.set(f"{REVERSE}. 300 IN PTR {HOST}.", f"{HOST}. 300 IN A 5.45.67.1")
    result = _check(api, conforms, ip["id"])
    assert (result["ptr"], result["ptr_matches"], result["fcrdns"]) == (HOST, True, False)


def test_a_missing_ptr_fails_both_and_without_a_hostname_any_ptr_matches(api, conforms, dns_server):
    ip = _add(api, conforms)
    result = _check(api, conforms, ip["id"])
    assert (result["ptr"], result["ptr_matches"], result["fcrdns"]) == (None, False, False)
    other = conforms(api.post("/ips", json={"ip_address": "5.45.67.90"}), "DedicatedIp", 201)
    dns_server.set("90.67.45.5.in-addr.arpa. 300 IN PTR anything.acme.test.", "anything.acme.test. 300 IN A 5.45.67.90")
    assert _check(api, conforms, other["id"])["ptr_matches"] is True


def test_an_ipv6_address_is_asked_in_nibble_form(api, conforms, dns_server):
    address = "2a01:4f8:c17:1::25"
    nibbles = "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.7.1.c.0.8.f.4.0.1.0.a.2"
    assert ips.query_name(address, "b.barracudacentral.org") == f"{nibbles}.b.barracudacentral.org"
    ip = conforms(
        api.post("/ips", json={"ip_address": "2A01:04F8:0C17:0001::0025", "hostname": HOST}), "DedicatedIp", 201
    )
    assert (ip["ip_address"], ip["version"]) == (address, 6)
    dns_server.set(
        f"{nibbles}.ip6.arpa. 300 IN PTR {HOST}.",
        f"{HOST}. 300 IN AAAA {address}",
        f"{nibbles}.b.barracudacentral.org. 300 IN A 127.0.0.2",
    )
    result = _check(api, conforms, ip["id"])
    assert (result["ptr_matches"], result["fcrdns"], result["listed"]) == (True, True, True)
    assert _lists(result)["b.barracudacentral.org"]["answer"] == "127.0.0.2"


# ---- blocklists and the alert -----------------------------------------------------------------


def test_a_zen_listing_records_each_code_with_its_meaning_and_raises_one_alert_until_cleared(
    api, conforms, dns_server, workspace
):
    ip = _add(api, conforms)
    listed_zone = (
        *RIGHT_PTR,
        f"{ZEN}. 300 IN A 127.0.0.2",
        f"{ZEN}. 300 IN A 127.0.0.4",
        f'{ZEN}. 300 IN TXT "Listed in SBL, see https://check.spamhaus.org/sbl/query/SBL12345"',
    )
    dns_server.set(*listed_zone)
    result = _check(api, conforms, ip["id"])
    zen = _lists(result)["zen.spamhaus.org"]
    assert result["listed"] is True and (zen["status"], zen["listed"]) == ("listed", True)
    assert zen["answer"] == "127.0.0.2, 127.0.0.4"
    assert zen["meaning"].startswith("SBL:") and "XBL:" in zen["meaning"]
    assert "SBL12345" in zen["reason"] and zen["listed_since"]
    assert _lists(result)["bl.spamcop.net"]["listed"] is False

    first_since = zen["listed_since"]
    again = _check(api, conforms, ip["id"])  # the daily check, or a second press: still one alert
    assert _lists(again)["zen.spamhaus.org"]["listed_since"] == first_since
    (alert,) = _alerts(workspace.id)
    assert (alert.status, alert.severity, alert.subject_type, alert.subject_id) == ("open", "critical", "ip", ip["id"])
    assert IP in alert.message and "Spamhaus ZEN" in alert.message
    assert alert.evidence["zen.spamhaus.org"].startswith("127.0.0.2, 127.0.0.4")
    assert alert.action_url == f"/ips/{ip['id']}"
    open_alerts = api.get("/alerts?status=open").json["items"]
    assert [(a["kind"], a["subject"]) for a in open_alerts] == [("ip_blocklisted", {"type": "ip", "id": ip["id"]})]

    dns_server.set(*RIGHT_PTR)  # delisted: ZEN answers NXDOMAIN again
    cleared = _check(api, conforms, ip["id"])
    assert cleared["listed"] is False and _lists(cleared)["zen.spamhaus.org"]["listed_since"] is None
    (alert,) = _alerts(workspace.id)
    assert alert.status == "resolved"


def test_spamcop_and_barracuda_listings_name_both_lists_in_the_alert(api, conforms, dns_server, workspace):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR, f"{SPAMCOP}. 300 IN A 127.0.0.2", f"{BARRACUDA}. 300 IN A 127.0.0.2")
    result = _check(api, conforms, ip["id"])
    assert {z for z, e in _lists(result).items() if e["listed"]} == {"bl.spamcop.net", "b.barracudacentral.org"}
    (alert,) = _alerts(workspace.id)
    assert "SpamCop and Barracuda" in alert.message and set(alert.evidence) == {
        "bl.spamcop.net",
        "b.barracudacentral.org",
    }


def test_an_answer_in_127_255_255_is_a_refused_query_never_a_listing(api, conforms, dns_server, workspace):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.255.255.254")
    result = _check(api, conforms, ip["id"])
    zen = _lists(result)["zen.spamhaus.org"]
    assert (zen["status"], zen["listed"], zen["answer"]) == ("refused", None, "127.255.255.254")
    assert "public or open resolver" in zen["detail"]
    assert result["listed"] is False and _alerts(workspace.id) == []


def test_a_list_that_refuses_or_goes_silent_keeps_its_last_listing_and_the_alert_stays_open(
    api, conforms, dns_server, workspace
):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.0.0.2")
    _check(api, conforms, ip["id"])
    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.255.255.255")  # refused: too many queries
    zen = _lists(_check(api, conforms, ip["id"]))["zen.spamhaus.org"]
    assert (zen["status"], zen["listed"], zen["answer"]) == ("refused", True, "127.0.0.2")
    assert "last answer" in zen["detail"]
    dns_server.set(*RIGHT_PTR)
    dns_server.refuse(ZEN)  # the list's server answers REFUSED: no answer at all
    result = _check(api, conforms, ip["id"])
    zen = _lists(result)["zen.spamhaus.org"]
    assert (zen["status"], zen["listed"]) == ("unknown", True)
    assert _lists(result)["bl.spamcop.net"]["status"] == "clear"  # the other lists still answered
    assert [a.status for a in _alerts(workspace.id)] == ["open"]


def test_a_list_that_does_not_answer_is_unknown_not_clear(api, conforms, dns_server, workspace):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR)
    dns_server.refuse(BARRACUDA)
    barracuda = _lists(_check(api, conforms, ip["id"]))["b.barracudacentral.org"]
    assert (barracuda["status"], barracuda["listed"]) == ("unknown", None)
    assert "did not answer" in barracuda["detail"]


def test_a_resolver_that_answers_nothing_changes_nothing(api, conforms, dns_server, app, workspace):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.0.0.2")
    before = _check(api, conforms, ip["id"])["ip"]
    saved = app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"]
    app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"] = f"127.0.0.1:{free_port()}", 0.5
    try:
        resp = api.post(f"/ips/{ip['id']}/check")
    finally:
        app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"] = saved
    assert resp.status_code == 409 and "DNS did not answer" in resp.json["error"]["message"]
    assert api.get(f"/ips/{ip['id']}").json == before
    assert [a.status for a in _alerts(workspace.id)] == ["open"]


# ---- the daily job ----------------------------------------------------------------------------


def test_the_daily_job_checks_every_workspaces_ips_and_is_safe_to_run_twice(
    dns_server, workspace, make_workspace, monkeypatch
):
    other = make_workspace("Other", "other@example.com")
    mine = create_dedicated_ip(workspace.id, IP, HOST)
    theirs = create_dedicated_ip(other.id, "5.45.67.90")
    db.session.commit()
    dns_server.set(*RIGHT_PTR, "90.67.45.5.bl.spamcop.net. 300 IN A 127.0.0.2")
    assert PERIODIC_BY_NAME["check_ips"].interval == 86_400

    from workers import jobs

    monkeypatch.setenv("DNS_NAMESERVERS", dns_server.address)
    jobs._app.cache_clear()  # the job's app reads the environment
    try:
        assert jobs.check_ips() == {"checked": 2, "listed": 1, "skipped": 0}
        assert jobs.check_ips() == {"checked": 2, "listed": 1, "skipped": 0}
    finally:
        jobs._app.cache_clear()
    db.session.expire_all()
    assert db.session.get(DedicatedIP, mine.id).fcrdns is True
    assert ips.is_listed(db.session.get(DedicatedIP, theirs.id))
    assert _alerts(workspace.id) == [] and [a.status for a in _alerts(other.id)] == ["open"]


def test_the_daily_job_skips_an_ip_whose_dns_is_silent(dead_dns, workspace):
    create_dedicated_ip(workspace.id, IP, HOST)
    db.session.commit()
    assert ips.check_all() == {"checked": 0, "listed": 0, "skipped": 1}
    assert db.session.query(DedicatedIP).one().checked_at is None


# ---- bad input and tenancy --------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, words",
    [
        ("not an ip", "is not an IP address"),
        ("5.45.67.256", "is not an IP address"),
        ("5.45.67.89/32", "is not an IP address"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.5", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("192.0.2.25", "documentation"),
        ("100.64.1.1", "not a public address"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::25", "private"),
        ("2001:db8::25", "documentation"),
    ],
)
def test_an_address_that_is_not_a_public_ip_is_refused_with_a_sentence(api, address, words):
    resp = api.post("/ips", json={"ip_address": address})
    assert resp.status_code == 422, resp.json
    assert words in resp.json["error"]["message"] and "ip_address" in resp.json["error"]["fields"]


@pytest.mark.parametrize(
    "hostname",
    ["<script>alert(1)</script>", "a..b.example", "-mail.example.com", "x" * 64 + ".example.com", "5.45.67.89",
     "mail\nhost.example.com", "mail host.example.com", "localhost", "mail_1.example.com", "a." * 130 + "com"],
)  # fmt: skip
def test_a_hostile_hostname_is_refused(api, hostname):
    resp = api.post("/ips", json={"ip_address": IP, "hostname": hostname})
    assert resp.status_code == 422, resp.json
    assert set(resp.json["error"]["fields"]) == {"hostname"}
    assert api.get("/ips").json["total"] == 0


def test_an_idn_hostname_is_kept_in_its_ascii_form(api, conforms):
    ip = conforms(api.post("/ips", json={"ip_address": IP, "hostname": "Mail.Bücher.Example."}), "DedicatedIp", 201)
    assert ip["hostname"] == "mail.xn--bcher-kva.example"


def test_the_same_address_twice_is_refused_in_any_spelling(api, conforms):
    _add(api, conforms)
    for spelling in (IP, " 5.45.67.89 ", "::ffff:5.45.67.89"):
        resp = api.post("/ips", json={"ip_address": spelling})
        assert resp.status_code == 422 and "already one of this workspace's IPs" in resp.json["error"]["message"]
    assert api.get("/ips").json["total"] == 1


def test_a_garbage_body_is_refused_by_the_schema(api):
    for body, field in (({}, "ip_address"), ({"ip_address": 5}, "ip_address"), ({"ip_address": IP, "x": 1}, "x")):
        resp = api.post("/ips", json=body)
        assert resp.status_code == 422 and field in resp.json["error"]["fields"], resp.json
    headers = {**api.h, "Content-Type": "application/json"}
    assert api.c.post("/api/v1/ips", data="nope", headers=headers).status_code == 400


def test_another_workspaces_ip_is_not_found_everywhere(api, conforms, make_workspace, client):
    other = make_workspace("Other", "other@example.com")
    theirs = create_dedicated_ip(other.id)
    db.session.commit()
    for resp in (
        api.get(f"/ips/{theirs.id}"),
        api.post(f"/ips/{theirs.id}/check"),
        api.delete(f"/ips/{theirs.id}"),
        api.c.patch(f"/api/v1/ips/{theirs.id}", json={"hostname": HOST}, headers=api.h),
    ):
        assert resp.status_code == 404, resp.json
    assert api.get("/ips").json["total"] == 0
    assert client.get(f"/ips/{theirs.id}").status_code == 404
    assert client.post(f"/ips/{theirs.id}/check", data={"csrf_token": _csrf(client)}).status_code == 404
    assert db.session.get(DedicatedIP, theirs.id) is not None
    # Its own copy of the same address is a different row: each workspace lists its own.
    assert _add(api, conforms)["id"] != theirs.id


# ---- providers --------------------------------------------------------------------------------


def test_an_api_provider_needs_the_pool_name_and_an_smtp_provider_takes_none(api, conforms, workspace):
    sendgrid = create_provider(workspace.id, "sendgrid")
    smtp = create_smtp_provider(workspace.id, 2525)
    db.session.commit()
    resp = api.post("/ips", json={"ip_address": IP, "provider_id": sendgrid.id})
    assert resp.status_code == 422 and "pool_name" in resp.json["error"]["fields"]
    ip = _add(api, conforms, provider_id=sendgrid.id, pool_name="marketing")
    assert (ip["provider_id"], ip["pool_name"]) == (sendgrid.id, "marketing")
    patched = conforms(
        api.c.patch(f"/api/v1/ips/{ip['id']}", json={"provider_id": smtp.id}, headers=api.h), "DedicatedIp"
    )
    assert (patched["provider_id"], patched["pool_name"]) == (smtp.id, None)
    assert conforms(api.c.patch(f"/api/v1/ips/{ip['id']}", json={"provider_id": None}, headers=api.h),
                    "DedicatedIp")["provider_id"] is None  # fmt: skip


def test_a_provider_elsewhere_the_development_outbox_or_a_taken_smtp_provider_is_refused(
    api, conforms, workspace, make_workspace
):
    other = make_workspace("Other", "other@example.com")
    theirs = create_smtp_provider(other.id, 2525)
    smtp = create_smtp_provider(workspace.id, 2526)
    outbox = next(p for p in providers.list_providers(workspace.id) if providers.is_development(p))
    db.session.commit()
    for provider_id, words in ((theirs.id, "No such provider"), (outbox.id, "development outbox"), (10**6, "No such")):
        resp = api.post("/ips", json={"ip_address": IP, "provider_id": provider_id})
        assert resp.status_code == 422 and words in resp.json["error"]["message"], resp.json
    _add(api, conforms, provider_id=smtp.id)
    resp = api.post("/ips", json={"ip_address": "5.45.67.90", "provider_id": smtp.id})
    assert resp.status_code == 422 and f"already sends from {IP}" in resp.json["error"]["message"]
    resp = api.post("/ips", json={"ip_address": "5.45.67.90", "pool_name": "p1"})
    assert resp.status_code == 422 and "choose the provider" in resp.json["error"]["message"]


def test_an_smtp_provider_bound_to_an_ip_connects_from_that_address(ctx, workspace, smtp_sink):
    """The sink sees the connection come from the bound address. A test machine holds only loopback
    addresses, so the row is written directly with 127.0.0.2 (Linux answers for all of 127/8): the
    service refuses loopback for a dedicated IP, rightly, and that is not what is tested here."""
    provider = create_smtp_provider(workspace.id, smtp_sink.port)
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address="127.0.0.2", provider_id=provider.id))
    db.session.commit()
    peers = []
    original = smtp_sink.handle_DATA

    async def handle_DATA(server, session, envelope):
        peers.append(session.peer[0])
        return await original(server, session, envelope)

    smtp_sink.handle_DATA = handle_DATA
    transport, _ = providers.transport_for(provider)
    try:
        raw = b"From: a@acme.test\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
        assert transport.send("a@acme.test", "b@example.com", raw).ok
    finally:
        transport.close()
    assert peers == ["127.0.0.2"]


def test_an_smtp_provider_bound_to_an_address_this_machine_lacks_fails_with_a_sentence(ctx, workspace, smtp_sink):
    provider = create_smtp_provider(workspace.id, smtp_sink.port)
    ip = create_dedicated_ip(workspace.id, IP, provider_id=provider.id)
    db.session.commit()
    assert providers.bound_address(provider) == IP
    transport, _ = providers.transport_for(provider)
    with pytest.raises(TransportUnavailable, match="this machine does not hold that address"):
        transport.check()
    ips.delete_ip(workspace.id, ip.id)  # unbound: the system chooses the address again
    db.session.commit()
    transport, _ = providers.transport_for(provider)
    transport.check()
    assert smtp_sink.messages == []


def test_an_api_provider_is_given_no_source_address(ctx, workspace):
    sendgrid = create_provider(workspace.id, "sendgrid")
    create_dedicated_ip(workspace.id, IP, provider_id=sendgrid.id, pool_name="marketing")
    db.session.commit()
    assert not providers.spec_of(sendgrid).binds_source_address
    assert providers.bound_address(sendgrid) == IP  # known, but the API provider sends from its own servers


def test_removing_an_ip_resolves_its_alert(api, conforms, dns_server, workspace):
    ip = _add(api, conforms)
    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.0.0.3")
    assert _lists(_check(api, conforms, ip["id"]))["zen.spamhaus.org"]["meaning"].startswith("CSS:")
    assert api.delete(f"/ips/{ip['id']}").status_code == 204
    assert [a.status for a in _alerts(workspace.id)] == ["resolved"]
    assert api.get(f"/ips/{ip['id']}").status_code == 404


def test_every_ip_operation_is_in_the_openapi_document(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert set(document["paths"]["/ips"]) == {"get", "post"}
    assert set(document["paths"]["/ips/{ip_id}"]) == {"get", "patch", "delete"}
    check = document["paths"]["/ips/{ip_id}/check"]["post"]
    assert "409" in check["responses"] and "127.255.255.0/24" in check["description"]
    assert any(t["name"] == "IPs" for t in document["tags"])


# ---- the pages --------------------------------------------------------------------------------


def test_the_pages_add_an_ip_check_it_and_show_what_a_listing_means(client, dns_server, workspace):
    page = client.get("/ips/").get_data(as_text=True)
    assert "No dedicated IPs yet" in page and 'href="/ips/"' in page  # the navigation links here too
    token = _csrf(client)
    resp = client.post("/ips/", data={"csrf_token": token, "ip_address": "10.0.0.5", "hostname": HOST})
    assert resp.status_code == 422 and "private" in resp.get_data(as_text=True)
    resp = client.post("/ips/", data={"csrf_token": token, "ip_address": IP, "hostname": HOST})
    assert resp.status_code == 302
    ip_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = client.get(f"/ips/{ip_id}").get_data(as_text=True)
    assert "Not checked yet." in page and "Check now" in page

    dns_server.set(*RIGHT_PTR, f"{ZEN}. 300 IN A 127.0.0.2", f"{SPAMCOP}. 300 IN A 127.255.255.254")
    resp = client.post(f"/ips/{ip_id}/check", data={"csrf_token": token}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "is listed" in page
    zen = re.search(r'<tr data-zone="zen.spamhaus.org">.*?</tr>', page, re.S).group(0)
    assert 'data-state="listed"' in zen and "127.0.0.2" in zen and "SBL:" in zen
    assert 'href="https://check.spamhaus.org/"' in zen and "Request removal" in zen
    spamcop = re.search(r'<tr data-zone="bl.spamcop.net">.*?</tr>', page, re.S).group(0)
    assert 'data-state="refused"' in spamcop and "SpamCop answered with an error code" in spamcop
    assert f"{HOST} points back at {IP}" in page

    index = client.get("/ips/").get_data(as_text=True)
    row = re.search(rf'<tr data-ip="{ip_id}">.*?</tr>', index, re.S).group(0)
    assert 'data-state="ok"' in row and "listed on 1" in row
    assert "ip blocklisted" in client.get("/alerts/").get_data(as_text=True)


def test_the_ip_page_binds_a_provider_and_says_what_is_wrong(client, workspace):
    sendgrid = create_provider(workspace.id, "sendgrid")
    ip = create_dedicated_ip(workspace.id, IP, HOST)
    db.session.commit()
    token = _csrf(client, f"/ips/{ip.id}")
    resp = client.post(f"/ips/{ip.id}", data={"csrf_token": token, "hostname": HOST, "provider_id": sendgrid.id})
    assert resp.status_code == 422 and "give the name of this IP" in resp.get_data(as_text=True)
    data = {"csrf_token": token, "hostname": HOST, "provider_id": sendgrid.id, "pool_name": "marketing"}
    page = client.post(f"/ips/{ip.id}", data=data, follow_redirects=True).get_data(as_text=True)
    assert "Known there as pool <code>marketing</code>" in page
    resp = client.post(f"/ips/{ip.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "removed" in resp.get_data(as_text=True)
    assert db.session.query(DedicatedIP).count() == 0


def test_the_list_page_does_not_query_per_ip(client, workspace, count_queries):
    def page_queries() -> int:
        with count_queries() as n:
            assert client.get("/ips/").status_code == 200
        return n()

    create_dedicated_ip(workspace.id, "5.45.67.1", provider_id=create_smtp_provider(workspace.id, 2525).id)
    db.session.commit()
    one = page_queries()
    for i in range(2, 7):
        create_dedicated_ip(workspace.id, f"5.45.67.{i}")
    db.session.commit()
    assert page_queries() == one


def test_an_api_provider_names_its_bound_ips_pool_in_each_message(ctx, workspace):
    """SendGrid and Mailgun take the pool by name (ip_pool_name, o:ip-pool); SES and Postmark do not."""
    sendgrid = create_provider(workspace.id, "sendgrid")
    postmark = create_provider(workspace.id, "postmark")
    create_dedicated_ip(workspace.id, "5.45.67.90", provider_id=sendgrid.id, pool_name="marketing-warm")
    create_dedicated_ip(workspace.id, "5.45.67.91", provider_id=postmark.id, pool_name="ignored")
    db.session.commit()
    transport, _ = providers.transport_for(sendgrid)
    assert transport.ip_pool == "marketing-warm"
    assert not hasattr(providers.transport_for(postmark)[0], "ip_pool")
