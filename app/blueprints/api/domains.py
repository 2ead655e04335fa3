"""Sending domains: what to publish in DNS, verification, DKIM keys."""

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.ips import blocklist_json
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.models import DkimKey, HealthScore, SendingDomain
from app.services.delivery import domain_blocklists, domains, health

TAG = "Domains"


def key_json(k: DkimKey) -> dict:
    return {
        "id": k.id,
        "selector": k.selector,
        "status": k.status,
        "public_key": k.public_key,
        "verified_at": iso(k.verified_at),
        "signing_since": iso(k.signing_since),
        "retire_after": iso(k.retire_after),
        "created_at": iso(k.created_at),
    }


def health_json(score: HealthScore | None) -> dict | None:
    return {"score": score.score, "tier": score.tier, "day": score.day.isoformat()} if score else None


_LOOK_UP = object()


def domain_json(d: SendingDomain, score: HealthScore | None | object = _LOOK_UP) -> dict:
    """The Domain schema; a list passes each domain's latest score (one query for the page)."""
    if score is _LOOK_UP:
        score = health.latest_score("domain", d.id)
    return {
        "id": d.id,
        "domain": d.domain,
        "status": d.status,
        "status_reason": d.status_reason,
        "return_path_domain": domains.return_path_domain(d),
        "dns_records": [r.as_dict() for r in domains.dns_records(d)],
        "checks": d.checks or [],
        "dkim_selectors": [key_json(k) for k in d.keys],
        "dmarc_policy": d.dmarc_policy,
        "health": health_json(score),
        "blocklists": [
            blocklist_json(e, domain_blocklists.BY_ZONE)
            for e in d.blocklists or []
            if e.get("zone") in domain_blocklists.BY_ZONE
        ],
        "blocklists_checked_at": iso(d.blocklists_checked_at),
        "verified_at": iso(d.verified_at),
        "checked_at": iso(d.checked_at),
        "created_at": iso(d.created_at),
    }


@operation("POST", "/domains", "Add a sending domain", tag=TAG, body="DomainCreate", response="Domain", status=201)
def create_domain(body: dict):
    """Herald generates an RSA-2048 DKIM key (kept encrypted) and answers the records to publish:
    SPF with the includes of the workspace's providers, the DKIM key, DMARC (p=none with a report
    address Herald receives), and the return-path subdomain's MX and SPF."""
    domain = domains.create_domain(workspace_id(), body["domain"], body.get("return_path_subdomain"))
    commit()
    return domain_json(domain)


@operation("GET", "/domains", "List sending domains", tag=TAG, response="Domain", paginated=True)
def list_domains(query: dict):
    """Alphabetical."""
    scores = health.latest_scores(workspace_id())
    return page_slice([domain_json(d, scores.get(d.id)) for d in domains.list_domains(workspace_id())], query)


@operation("GET", "/domains/{domain_id}", "Show a sending domain", tag=TAG, response="Domain")
def show_domain(domain_id: int):
    """Its status, records, latest checks and DKIM selectors."""
    return domain_json(domains.get_domain(workspace_id(), domain_id))


@operation("DELETE", "/domains/{domain_id}", "Remove a sending domain", tag=TAG, status=204)
def delete_domain(domain_id: int):
    """Mail from it is no longer signed; its keys are deleted."""
    domains.delete_domain(workspace_id(), domain_id)
    commit()
    return Response(status=204)


@operation(
    "POST", "/domains/{domain_id}/verify", "Verify a domain's DNS records", tag=TAG, response="DomainVerification"
)
def verify_domain(domain_id: int):
    """Looks every record up now. SPF follows includes and counts DNS lookups (over 10 fails);
    DMARC reports its policy and alignment. When DNS does not answer, nothing changes (409)."""
    domain = domains.verify_domain(workspace_id(), domain_id)
    commit()
    return {"status": domain.status, "checks": domain.checks, "domain": domain_json(domain)}


@operation(
    "POST", "/domains/{domain_id}/dkim/rotate", "Start a DKIM key rotation", tag=TAG, response="Domain", status=201
)
def rotate_key(domain_id: int):
    """A new selector and key beside the signing one: publish it, verify, then switch signing."""
    domain = domains.get_domain(workspace_id(), domain_id)
    domains.rotate_key(workspace_id(), domain.id)
    commit()
    return domain_json(domain)


@operation(
    "POST",
    "/domains/{domain_id}/dkim/switch",
    "Sign with another DKIM key",
    tag=TAG,
    body="DkimSwitch",
    response="Domain",
)
def switch_key(domain_id: int, body: dict):
    """The key must be verified; the old one keeps its record for a grace period, then retires."""
    domains.switch_signing(workspace_id(), domain_id, body["key_id"])
    commit()
    return domain_json(domains.get_domain(workspace_id(), domain_id))
