"""A sending domain on the domain blocklists, from a real DNS server on loopback: verifying the domain
looks it up on Spamhaus DBL, SURBL and URIBL, the listing shows on its page and in the API, raises an
alert, becomes an advisor finding that stops a marketing send at the gate, and clears when the lists do.
A list that refuses the query never clears a listing; URIBL's grey list alone warns but does not block."""

from sqlalchemy import select

from app.extensions import db
from app.models import Alert, DedicatedIP, Provider, SendingDomain
from app.services.advisor import engine, gate
from app.services.delivery import domain_blocklists
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)
from tests.integration.test_sending_domains import _add, zone_for

DOMAIN = "mail.example.com"
DBL = f"{DOMAIN}.dbl.spamhaus.org"
URIBL = f"{DOMAIN}.multi.uribl.com"


def _verify(api, dns_server, *listing_lines) -> dict:
    body = _add(api, DOMAIN)
    dns_server.set(*zone_for(body["dns_records"]), *listing_lines)
    result = api.post(f"/domains/{body['id']}/verify")
    assert result.status_code == 200, result.get_json()
    return result.get_json()["domain"]


def _alert(domain_id: int) -> Alert | None:
    return db.session.scalar(
        select(Alert).where(
            Alert.kind == "domain_blocklisted", Alert.subject_id == domain_id, Alert.resolved_at.is_(None)
        )
    )


def test_a_domain_on_spamhaus_dbl_shows_listed_with_its_meaning_and_raises_an_alert(api, client, dns_server):
    domain = _verify(
        api, dns_server, f"{DBL}. 60 IN A 127.0.1.2", f'{DBL}. 60 IN TXT "https://check.spamhaus.org/listed?domain=x"'
    )
    lists = {b["zone"]: b for b in domain["blocklists"]}
    assert lists["dbl.spamhaus.org"]["status"] == "listed" and lists["dbl.spamhaus.org"]["answer"] == "127.0.1.2"
    assert "Spam domain" in lists["dbl.spamhaus.org"]["meaning"]
    assert "check.spamhaus.org" in lists["dbl.spamhaus.org"]["reason"]
    assert lists["multi.surbl.org"]["status"] == "clear" and lists["multi.uribl.com"]["listed"] is False
    assert domain["blocklists_checked_at"]
    alert = _alert(domain["id"])
    assert alert is not None and alert.severity == "critical" and "Spamhaus DBL" in alert.message

    page = client.get(f"/domains/{domain['id']}")
    assert 'id="domain-blocklists"' in page.text and 'data-state="listed"' in page.text
    assert "Spam domain" in page.text and "Request removal" in page.text


def test_a_refused_query_keeps_the_listing_and_a_clear_answer_resolves_the_alert(api, dns_server):
    domain = _verify(api, dns_server, f"{DBL}. 60 IN A 127.0.1.2")
    row = db.session.get(SendingDomain, domain["id"])

    dns_server.set(f"{DBL}. 60 IN A 127.255.255.254")  # the query came through a public resolver
    domain_blocklists.check(row)
    db.session.commit()
    dbl = next(e for e in row.blocklists if e["zone"] == "dbl.spamhaus.org")
    assert dbl["status"] == "refused" and dbl["listed"] is True and "public or open resolver" in dbl["detail"]
    assert _alert(row.id) is not None

    dns_server.set()  # every list: no such name
    domain_blocklists.check(row)
    db.session.commit()
    assert domain_blocklists.listings(row) == [] and _alert(row.id) is None


def test_uribls_refusal_code_is_never_a_listing(api, dns_server):
    domain = _verify(api, dns_server, f"{URIBL}. 60 IN A 127.0.0.1")
    uribl = next(b for b in domain["blocklists"] if b["zone"] == "multi.uribl.com")
    assert uribl["status"] == "refused" and uribl["listed"] is None


def _draft_from(workspace, domain_name: str, provider=None):
    provider = provider or create_smtp_provider(workspace.id, 2525)
    lst = create_list(workspace.id, "Readers")
    create_subscribers(workspace.id, people(3, email="r{i}@example.org"), lst.id)
    template = create_template(workspace.id)
    camp = create_campaign(
        workspace.id, template.id, [lst.id], provider.id, name="Offer", from_email=f"news@{domain_name}"
    )
    db.session.commit()
    return camp


def test_a_listed_from_domain_is_a_blocking_finding_that_stops_the_send(api, dns_server, workspace):
    domain = _verify(api, dns_server, f"{DBL}. 60 IN A 127.0.1.4")
    found = {r.check: r for r in engine.review_workspace(workspace.id)}
    db.session.commit()
    listed = found["domain_listed"]
    assert listed.severity == "blocking" and listed.evidence["listings"][0]["zone"] == "dbl.spamhaus.org"
    assert listed.fix == {
        "action": "recheck_domain_lists",
        "label": "Check the domain blocklists again",
        "domain_id": domain["id"],
    }

    camp = _draft_from(workspace, DOMAIN)
    blocked = api.post(f"/campaigns/{camp.id}/send")
    assert blocked.status_code == 409, blocked.get_json()
    assert [c["check"] for c in blocked.get_json()["error"]["checks"]] == ["domain_listed"]

    # Delisted: pressing the fix looks again, and the next review resolves the finding.
    dns_server.set()
    applied = engine.apply(workspace.id, listed.id)
    db.session.commit()
    assert applied.effect == {"listed": []}
    assert "domain_listed" not in {r.check for r in engine.review_workspace(workspace.id)}
    assert gate.blocking_findings(camp) == []


def test_uribls_grey_list_alone_warns_but_does_not_block(api, dns_server, workspace):
    _verify(api, dns_server, f"{URIBL}. 60 IN A 127.0.0.4")
    found = {r.check: r for r in engine.review_workspace(workspace.id)}
    assert found["domain_listed"].severity == "warning"
    camp = _draft_from(workspace, DOMAIN)
    assert gate.blocking_findings(camp) == []


def test_the_gate_weighs_only_the_ips_the_campaigns_mail_leaves_from(workspace):
    ours, other = create_smtp_provider(workspace.id, 2525, "Ours"), create_smtp_provider(workspace.id, 2526, "Other")
    listed = [{"zone": "zen.spamhaus.org", "status": "listed", "listed": True, "answer": "127.0.0.2"}]
    ip = DedicatedIP(workspace_id=workspace.id, ip_address="192.0.2.40", provider_id=other.id, blocklists=listed)
    db.session.add(ip)
    db.session.commit()
    camp = _draft_from(workspace, "shop.example.com", provider=ours)
    assert gate.campaign_ips(camp) == [] and gate.blocking_findings(camp) == []

    ip.provider_id = ours.id
    db.session.commit()
    assert [f.check for f in gate.blocking_findings(camp)] == ["ip_listed"]
    assert db.session.get(Provider, ours.id) is not None
