"""DMARC alignment: mail from a verified domain whose bounce subdomain points at Herald goes out
with that subdomain as its envelope (SPF aligns) and signed by the domain (DKIM aligns); the
message view says so, and says so when nothing aligns."""

from app.extensions import db
from app.models import Provider, SendingDomain
from app.services.campaigns import lifecycle
from app.services.delivery import domains, transactional, verp
from tests.factories import create_signing_domain, create_smtp_provider, create_template, people, smtp_campaign

DOMAIN = "news.example.com"


def _verified_with_bounce_mx(workspace) -> SendingDomain:
    domain, _ = create_signing_domain(workspace, DOMAIN)
    domain.return_path_subdomain = "bounces"
    domain.checks = [{"purpose": "return_path_mx", "ok": True, "found": "10 herald.example.net", "expected": "",
                      "detail": "", "required": False}]  # fmt: skip
    db.session.commit()
    return domain


def _send_transactional(workspace, from_email):
    tpl = create_template(workspace.id, "Your code", "<p>Code {{ code }}</p>", "Code", category="transactional")
    db.session.commit()
    accepted = transactional.create_message(workspace.id, tpl.id, "ann@example.org", {"code": "1"},
                                            from_email=from_email)  # fmt: skip
    db.session.commit()
    return accepted.message.id


def test_a_verified_domain_aligns_spf_and_dkim_and_the_message_view_says_so(workspace, smtp_sink, worker, client):
    _verified_with_bounce_mx(workspace)
    create_smtp_provider(workspace.id, smtp_sink.port)
    db.session.commit()
    message_id = _send_transactional(workspace, f"shop@{DOMAIN}")
    worker()
    mail_from = smtp_sink.messages[0]["mail_from"]
    assert mail_from.endswith(f"@bounces.{DOMAIN}")
    assert verp.read_return_path(mail_from, client.application.config["SECRET_KEY"]) == f"m-{message_id}"
    msg = transactional.get_message(workspace.id, message_id)
    assert msg.authentication == {
        "from_domain": DOMAIN,
        "dkim_domain": DOMAIN,
        "envelope_domain": f"bounces.{DOMAIN}",
        "dkim_aligned": True,
        "spf_aligned": True,
    }
    page = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert f"d={DOMAIN}" in page and "SPF aligned" in page and f"aligned with {DOMAIN}" in page


def test_a_campaign_from_the_verified_domain_bounces_to_its_subdomain(workspace, smtp_sink, worker, client):
    _verified_with_bounce_mx(workspace)
    camp = smtp_campaign(workspace, smtp_sink, people(3, email="c{i}@example.org"), from_email=f"news@{DOMAIN}")
    draft = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="campaign-authentication"' in draft and f"d={DOMAIN}" in draft and "DMARC aligned" in draft
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 3
    assert all(m["mail_from"].endswith(f"@bounces.{DOMAIN}") for m in smtp_sink.messages)
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="campaign-authentication"' not in page  # sent: nothing more to go out
    relay = db.session.get(Provider, camp.provider_id)
    auth = domains.authentication(workspace.id, f"news@{DOMAIN}", relay)
    assert auth["dkim_aligned"] and auth["spf_aligned"]


def test_without_a_verified_bounce_subdomain_the_envelope_stays_as_it_was(workspace, smtp_sink, worker):
    domain, _ = create_signing_domain(workspace, DOMAIN)  # verified, but its bounce MX was never seen
    create_smtp_provider(workspace.id, smtp_sink.port)
    db.session.commit()
    _send_transactional(workspace, f"shop@{DOMAIN}")
    worker()
    assert smtp_sink.messages[0]["mail_from"] == f"shop@{DOMAIN}"


def test_mail_from_an_unknown_domain_says_nothing_aligns_through_an_api_provider(workspace, client):
    from tests.factories import create_provider

    sendgrid = create_provider(workspace.id, "sendgrid")
    db.session.commit()
    auth = domains.authentication(workspace.id, "shop@elsewhere.example", sendgrid)
    assert auth == {
        "from_domain": "elsewhere.example",
        "dkim_domain": None,
        "envelope_domain": None,
        "dkim_aligned": False,
        "spf_aligned": False,
    }
