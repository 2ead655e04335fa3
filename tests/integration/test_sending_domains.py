"""Sending domains: an operator adds news.acme.test, publishes what Herald shows, and Herald
verifies it against a real DNS server on loopback (dnslib) in each state — missing, wrong,
right — re-verifies daily, raises an alert when a record breaks, and rotates DKIM keys."""

import base64
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from flask import current_app

from app.extensions import db
from app.models import Alert, DkimKey, SendingDomain
from app.services.delivery import domains
from tests.factories import create_provider

DOMAIN = "news.acme.test"


def _txt(name: str, value: str) -> str:
    """A zone line for a TXT record, split into strings of at most 255 bytes as DNS requires."""
    parts = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{name}. 60 IN TXT {parts}"


def zone_for(records: list[dict], skip=(), replace=None) -> list[str]:
    """The zone an operator publishes from Herald's records (`skip`: purposes left out;
    `replace`: purpose -> another value)."""
    lines = []
    for r in records:
        if r["purpose"] in skip:
            continue
        value = (replace or {}).get(r["purpose"], r["value"])
        if r["type"] == "MX":
            lines.append(f"{r['name']}. 60 IN MX {value}.")
        else:
            lines.append(_txt(r["name"], value))
    # What the includes themselves publish (SendGrid's SPF), so SPF can be followed to the end.
    lines.append(_txt("sendgrid.net", "v=spf1 ip4:167.89.0.0/17 ip4:208.117.48.0/20 ~all"))
    return lines


def _add(api, domain=DOMAIN) -> dict:
    resp = api.post("/domains", json={"domain": domain})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


# ---- what to publish -----------------------------------------------------------------------


def test_adding_a_domain_shows_every_record_to_publish(api, workspace):
    create_provider(workspace.id, "sendgrid")
    db.session.commit()
    body = _add(api, " News.ACME.test. ")
    assert body["domain"] == DOMAIN and body["status"] == "pending"
    by_purpose = {r["purpose"]: r for r in body["dns_records"]}
    assert set(by_purpose) == {"spf", "dkim", "dmarc", "return_path_mx", "return_path_spf"}
    assert by_purpose["spf"] == {
        "purpose": "spf",
        "type": "TXT",
        "name": DOMAIN,
        "value": "v=spf1 include:sendgrid.net ~all",
    }
    assert by_purpose["dkim"]["name"] == f"herald1._domainkey.{DOMAIN}"
    assert by_purpose["dmarc"]["name"] == f"_dmarc.{DOMAIN}"
    assert by_purpose["dmarc"]["value"].startswith("v=DMARC1; p=none; rua=mailto:")
    assert by_purpose["return_path_mx"] == {
        "purpose": "return_path_mx",
        "type": "MX",
        "name": f"bounces.{DOMAIN}",
        "value": f"10 {current_app.config['MAILIN_HOSTNAME']}",
    }
    assert body["return_path_domain"] == f"bounces.{DOMAIN}"

    # The DKIM record carries an RSA-2048 public key; the private key never leaves, and is stored encrypted.
    p = re.search(r"p=([A-Za-z0-9+/=]+)$", by_purpose["dkim"]["value"]).group(1)
    assert load_der_public_key(base64.b64decode(p)).key_size == 2048
    assert by_purpose["dkim"]["value"].startswith("v=DMARC1") is False
    key = db.session.query(DkimKey).one()
    assert "PRIVATE KEY" not in key.private_key_encrypted and "PRIVATE KEY" not in str(body)
    assert [k["selector"] for k in body["dkim_selectors"]] == ["herald1"]


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "localhost", "1.2.3.4", "a..b", "x" * 300 + ".com", "<script>.com", "{{ 7*7 }}.com", None, 5],
)
def test_a_name_that_is_not_a_domain_is_refused_with_a_sentence(api, bad):
    resp = api.post("/domains", json={"domain": bad})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["message"]


def test_an_address_is_taken_for_its_domain_and_duplicates_are_refused(api):
    assert _add(api, "marketing@News.acme.test")["domain"] == DOMAIN
    again = api.post("/domains", json={"domain": DOMAIN})
    assert again.status_code == 422 and "already" in again.get_json()["error"]["message"]


def test_an_internationalized_domain_is_stored_in_its_dns_form(api):
    assert _add(api, "nouvelles.café.test")["domain"] == "nouvelles.xn--caf-dma.test"


def test_another_workspaces_domain_is_not_found(api, make_workspace):
    other = make_workspace("Other")
    theirs = domains.create_domain(other.id, "theirs.test")
    db.session.commit()
    for method, path in [
        ("get", f"/domains/{theirs.id}"),
        ("post", f"/domains/{theirs.id}/verify"),
        ("post", f"/domains/{theirs.id}/dkim/rotate"),
        ("delete", f"/domains/{theirs.id}"),
    ]:
        assert getattr(api, method)(path).status_code == 404, path
    assert db.session.get(SendingDomain, theirs.id) is not None


# ---- verification --------------------------------------------------------------------------


def test_nothing_published_fails_with_each_record_explained(api, dns_server):
    body = _add(api)
    resp = api.post(f"/domains/{body['id']}/verify")
    assert resp.status_code == 200, resp.get_json()
    result = resp.get_json()
    assert result["status"] == "failed"
    assert {c["purpose"]: c["ok"] for c in result["checks"]} == dict.fromkeys(domains.PURPOSES, False)
    for check in result["checks"]:
        assert check["detail"] and check["expected"]
    assert result["domain"]["status_reason"]


def test_the_right_records_verify_the_domain_and_its_key_starts_signing(api, dns_server):
    body = _add(api)
    dns_server.set(*zone_for(body["dns_records"]))
    result = api.post(f"/domains/{body['id']}/verify").get_json()
    assert result["status"] == "verified", result["checks"]
    assert all(c["ok"] for c in result["checks"]), result["checks"]
    key = result["domain"]["dkim_selectors"][0]
    assert key["status"] == "signing" and key["signing_since"]
    assert result["domain"]["dmarc_policy"] == "none"


def test_a_wrong_dkim_key_fails_and_says_so(api, dns_server):
    body = _add(api)
    other_key = domains.dkim.generate_key()[1]
    dns_server.set(*zone_for(body["dns_records"], replace={"dkim": f"v=DKIM1; k=rsa; p={other_key}"}))
    result = api.post(f"/domains/{body['id']}/verify").get_json()
    dkim_check = next(c for c in result["checks"] if c["purpose"] == "dkim")
    assert result["status"] == "failed" and not dkim_check["ok"]
    assert other_key in dkim_check["found"]
    assert result["domain"]["dkim_selectors"][0]["status"] == "new"


def test_the_return_path_is_recommended_not_required(api, dns_server):
    body = _add(api)
    dns_server.set(*zone_for(body["dns_records"], skip={"return_path_mx", "return_path_spf"}))
    result = api.post(f"/domains/{body['id']}/verify").get_json()
    assert result["status"] == "verified"
    assert {c["purpose"] for c in result["checks"] if not c["ok"]} == {"return_path_mx", "return_path_spf"}


def test_dns_that_does_not_answer_changes_nothing(api, app, ctx):
    body = _add(api)
    from tests.support import free_port

    saved = app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"]
    app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"] = f"127.0.0.1:{free_port()}", 0.5
    try:
        resp = api.post(f"/domains/{body['id']}/verify")
    finally:
        app.config["DNS_NAMESERVERS"], app.config["DNS_TIMEOUT"] = saved
    assert resp.status_code == 409
    assert "DNS did not answer" in resp.get_json()["error"]["message"]
    assert api.get(f"/domains/{body['id']}").get_json()["status"] == "pending"


# ---- daily re-verification and alerts ----------------------------------------------------


def test_a_record_that_disappears_raises_one_alert_and_its_return_resolves_it(api, dns_server, workspace):
    body = _add(api)
    published = zone_for(body["dns_records"])
    dns_server.set(*published)
    assert api.post(f"/domains/{body['id']}/verify").get_json()["status"] == "verified"

    dns_server.set(*zone_for(body["dns_records"], skip={"dkim"}))
    assert domains.reverify_all() == 1
    assert domains.reverify_all() == 1  # safe to run twice: still one alert
    db.session.expire_all()
    open_alerts = db.session.query(Alert).filter_by(workspace_id=workspace.id, status="open").all()
    assert len(open_alerts) == 1
    alert = open_alerts[0]
    assert alert.kind == "dns_record_failed" and alert.subject_id == body["id"]
    assert DOMAIN in alert.message and "DKIM" in alert.message
    # The domain keeps signing (a record can come back); the check shows what is wrong.
    domain = db.session.get(SendingDomain, body["id"])
    assert domain.status == "verified"
    assert not next(c for c in domain.checks if c["purpose"] == "dkim")["ok"]

    dns_server.set(*published)
    domains.reverify_all()
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == "resolved"


# ---- DKIM rotation -----------------------------------------------------------------------


def test_rotating_the_dkim_key(api, dns_server):
    body = _add(api)
    dns_server.set(*zone_for(body["dns_records"]))
    api.post(f"/domains/{body['id']}/verify")

    rotated = api.post(f"/domains/{body['id']}/dkim/rotate")
    assert rotated.status_code == 201
    keys = {k["selector"]: k for k in rotated.get_json()["dkim_selectors"]}
    assert keys["herald1"]["status"] == "signing" and keys["herald2"]["status"] == "new"
    assert api.post(f"/domains/{body['id']}/dkim/rotate").status_code == 409  # one waiting key at a time

    # Switching to a key nobody has published yet is refused.
    new_id = keys["herald2"]["id"]
    early = api.post(f"/domains/{body['id']}/dkim/switch", json={"key_id": new_id})
    assert early.status_code == 409 and "not verified" in early.get_json()["error"]["message"]

    # Publish both (the old key stays while mail signed with it is read), verify, switch.
    dns_server.set(*zone_for(rotated.get_json()["dns_records"]))
    verified = api.post(f"/domains/{body['id']}/verify").get_json()
    assert {k["selector"]: k["status"] for k in verified["domain"]["dkim_selectors"]} == {
        "herald1": "signing",
        "herald2": "verified",
    }
    switched = api.post(f"/domains/{body['id']}/dkim/switch", json={"key_id": new_id}).get_json()
    keys = {k["selector"]: k for k in switched["dkim_selectors"]}
    assert keys["herald2"]["status"] == "signing" and keys["herald1"]["status"] == "retiring"
    assert keys["herald1"]["retire_after"]

    # After the grace period the daily job retires it, and its record is no longer asked for.
    old = db.session.query(DkimKey).filter_by(selector="herald1").one()
    old.retire_after = old.retire_after - timedelta(days=8)
    db.session.commit()
    domains.reverify_all()
    shown = api.get(f"/domains/{body['id']}").get_json()
    assert {k["selector"]: k["status"] for k in shown["dkim_selectors"]}["herald1"] == "retired"
    assert [r["name"] for r in shown["dns_records"] if r["purpose"] == "dkim"] == [f"herald2._domainkey.{DOMAIN}"]


# ---- the dashboard -----------------------------------------------------------------------


def _csrf(client, path) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_an_operator_adds_a_domain_and_verifies_it_from_the_dashboard(client, dns_server):
    home = client.get("/").get_data(as_text=True)
    assert 'href="/domains/"' in home  # Deliverability → Domains in the navigation

    token = _csrf(client, "/domains/")
    bad = client.post("/domains/", data={"domain": "not a domain", "csrf_token": token})
    assert bad.status_code == 422 and "is not a domain name" in bad.get_data(as_text=True)

    resp = client.post("/domains/", data={"domain": DOMAIN, "csrf_token": token})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"herald1._domainkey.{DOMAIN}" in page and "data-copy" in page and "not checked" in page

    domain = db.session.query(SendingDomain).filter_by(domain=DOMAIN).one()
    dns_server.set(*zone_for([r.as_dict() for r in domains.dns_records(domain)]))
    verified = client.post(f"/domains/{domain.id}/verify", data={"csrf_token": token}, follow_redirects=True)
    text = verified.get_data(as_text=True)
    assert "is verified" in text and 'data-status="verified"' in text and 'data-ok="0"' not in text
    listing = client.get("/domains/").get_data(as_text=True)
    assert DOMAIN in listing and "p=none" in listing


def test_a_hostile_domain_name_is_escaped_on_the_page(client):
    token = _csrf(client, "/domains/")
    resp = client.post("/domains/", data={"domain": "<img src=x onerror=alert(1)>.test", "csrf_token": token})
    assert resp.status_code == 422
    assert "<img src=x" not in resp.get_data(as_text=True)
