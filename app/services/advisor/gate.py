"""The pre-send gate: what Gmail or Yahoo would punish stops a marketing send (409, with the findings),
unless an owner overrides it with a reason — kept on the campaign and in the audit log.

Blocking: a From domain that does not authenticate (no DKIM/DMARC alignment) on a bulk send (at least
BULK_AUDIENCE people, Gmail's bulk-sender line), complaints at 0.3% or more over the last 7 days, the
From domain on a domain blocklist (Spamhaus DBL, SURBL, URIBL black or red), and a dedicated IP the
campaign's mail can leave from on an IP blocklist.
"""

from dataclasses import asdict
from datetime import datetime, timezone

from sqlalchemy import or_, select

from app.extensions import db
from app.models import Campaign, DedicatedIP, SendingDomain
from app.services.advisor import checks
from app.services.campaigns import audience, drafts, lifecycle
from app.services.delivery import pools
from app.services.errors import DomainError, ValidationError
from app.services.platform import audit

BULK_AUDIENCE = 5000


class BlockedByAdvisor(DomainError):
    status = 409
    code = "blocked_by_advisor"

    def __init__(self, message: str, findings: list[checks.Finding]):
        super().__init__(message)
        self.findings = findings
        self.details = {"checks": [finding_json(f) for f in findings]}


def finding_json(f: checks.Finding) -> dict:
    data = asdict(f)
    return {k: data[k] for k in ("check", "severity", "message", "evidence", "fix")}


def blocking_findings(campaign: Campaign) -> list[checks.Finding]:
    ws = campaign.workspace_id
    found = checks.workspace_rates(ws)
    found += [f for ip in campaign_ips(campaign) for f in checks.ip_listing(ip)]
    domain = from_domain(campaign)
    if domain is not None:
        found += checks.domain_listing(domain)
    found = [f for f in found if f.blocking]
    if audience.campaign_size(campaign.workspace_id, campaign.id) >= BULK_AUDIENCE:
        found += checks.from_domain(campaign)  # what Gmail and Yahoo require of bulk senders
    for f in found:
        f.severity = "blocking"
    return found


def from_domain(campaign: Campaign) -> SendingDomain | None:
    name = (campaign.from_email or "").rsplit("@", 1)[-1].lower()
    return db.session.scalar(
        select(SendingDomain).where(SendingDomain.workspace_id == campaign.workspace_id, SendingDomain.domain == name)
    )


def campaign_ips(campaign: Campaign) -> list[DedicatedIP]:
    """The dedicated IPs the campaign's mail can leave from: its pool's IPs and its providers' IPs, or
    its provider's; every IP of the workspace when its route names none (the careful answer)."""
    ws = campaign.workspace_id
    stmt = select(DedicatedIP).where(DedicatedIP.workspace_id == ws)
    pool = pools.pool_for(ws, campaign.pool_id, "marketing")
    members = pools.members(pool) if pool is not None else {"ip": [], "provider": []}
    if members["ip"] or members["provider"]:
        stmt = stmt.where(or_(DedicatedIP.id.in_(members["ip"]), DedicatedIP.provider_id.in_(members["provider"])))
    elif campaign.provider_id:
        stmt = stmt.where(DedicatedIP.provider_id == campaign.provider_id)
    return list(db.session.scalars(stmt.order_by(DedicatedIP.id)))


def enforce(campaign: Campaign, override_reason: str | None = None, is_owner: bool = False) -> None:
    """Raise BlockedByAdvisor while a blocking finding stands; an owner's reason lets the send through
    (recorded on the campaign and in the audit log). Transactional mail never comes here."""
    if campaign.category == "transactional":
        return
    found = blocking_findings(campaign)
    if not found:
        return
    reason = " ".join(str(override_reason or "").split())
    if reason and is_owner:
        campaign.advisor_override = {
            "reason": reason[:500],
            "by": audit.current_actor().label,
            "at": datetime.now(timezone.utc).isoformat(),
            "checks": [f.check for f in found],
        }
        audit.record(campaign.workspace_id, "campaign.override", "campaign", campaign.id,
                     {"reason": reason[:500], "checks": [f.check for f in found]})  # fmt: skip
        db.session.flush()
        return
    if reason:
        raise ValidationError(
            "Only an owner may send past the advisor's blocking findings.", {"override_reason": "Owners only."}
        )
    names = "; ".join(f.message for f in found)
    raise BlockedByAdvisor(f"Not sent: {names} An owner may send anyway with a reason.", found)


def send_now(workspace_id: int, campaign_id: int, override_reason=None, is_owner: bool = False) -> Campaign:
    """lifecycle.send_now, through the gate."""
    enforce(drafts.get_campaign(workspace_id, campaign_id), override_reason, is_owner)
    return lifecycle.send_now(workspace_id, campaign_id)


def schedule(workspace_id: int, campaign_id: int, scheduled_at, tz_name: str, override_reason=None, is_owner=False):
    """lifecycle.schedule, through the gate (checked again when it starts: the scheduler's send_now)."""
    enforce(drafts.get_campaign(workspace_id, campaign_id), override_reason, is_owner)
    return lifecycle.schedule(workspace_id, campaign_id, scheduled_at, tz_name)
