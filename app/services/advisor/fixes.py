"""What the advisor's buttons do. Each fix changes the database as its label says and returns what it
did (kept on the recommendation as its effect, and in the audit log).

Fixes that only take the marketer somewhere (open the builder on a block, add a domain) are links on
the page (LINKS), not fixes: pressing them changes nothing.
"""

from datetime import date, timedelta

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, MailingList, Recommendation, SendingDomain, Subscriber
from app.services.audience import segments, suppression
from app.services.campaigns import drafts
from app.services.delivery import domain_blocklists, domains, ips, warming
from app.services.errors import InvalidState, NotFound

LINKS = ("open_domains", "open_builder", "open_campaign", "open_dmarc")
SHOWN = 20  # addresses listed in a fix's effect


def apply(workspace_id: int, rec: Recommendation) -> dict:
    action = (rec.fix or {}).get("action")
    if action in LINKS or action not in _FIXES:
        raise InvalidState("This recommendation's fix is a page to open, not a button to press.")
    return _FIXES[action](workspace_id, rec)


def _suppress_recipients(workspace_id: int, rec: Recommendation, status: str, reason: str, source: str) -> dict:
    """Suppress every address whose recipient row says `status`: in the campaign, or the workspace's
    last 7 days. Idempotent: an address already suppressed keeps its first reason.

    Set-based: 50,000 addresses cost the same four statements as five, and never come to Python
    except the few the effect lists."""
    cr = CampaignRecipient
    stmt = (
        select(cr.email)
        .join(Campaign, Campaign.id == cr.campaign_id)
        .where(Campaign.workspace_id == workspace_id, cr.status == status)
    )
    if rec.subject_type == "campaign":
        stmt = stmt.where(cr.campaign_id == rec.subject_id)
    else:
        since = date.today() - timedelta(days=7)
        stmt = stmt.where(cr.created_at >= since)
    emails = stmt.distinct()
    count = db.session.scalar(select(func.count()).select_from(emails.subquery()))
    if count:
        suppression.suppress_addresses(workspace_id, emails, reason, f"by the advisor ({rec.check})", source)
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.workspace_id == workspace_id, Subscriber.email.in_(emails), Subscriber.status == "active")
            .values(status=status)
            .execution_options(synchronize_session=False)  # not thousands of ids back for the identity map
        )
    shown = sorted(db.session.scalars(emails.order_by(cr.email).limit(SHOWN))) if count else []
    return {"suppressed": count, "addresses": shown}


def _hard_bounced(workspace_id: int, rec: Recommendation) -> dict:
    return _suppress_recipients(workspace_id, rec, "bounced", "bounced", "bounce")


def _complainers(workspace_id: int, rec: Recommendation) -> dict:
    return _suppress_recipients(workspace_id, rec, "complained", "complained", "complaint")


def _reengage(workspace_id: int, rec: Recommendation) -> dict:
    """A segment of the list's people who did not open in 6 months, and a draft to them from the newest
    campaign's template and sender (when there is one), for the marketer to finish and send."""
    lst = db.session.scalar(
        select(MailingList).where(MailingList.id == rec.fix.get("list_id"), MailingList.workspace_id == workspace_id)
    )
    if lst is None:
        raise NotFound("The list is gone.")
    rules = {"all": [{"field": "list", "op": "eq", "value": lst.id},
                     {"event": "opened", "within_days": 180, "negate": True}]}  # fmt: skip
    segment = segments.create_segment(workspace_id, f"Re-engage: {lst.name}"[:200], rules)
    draft = _draft(workspace_id, f"We miss you — {lst.name}"[:200], segment.id)
    return {"segment_id": segment.id, "campaign_id": draft.id if draft else None}


def _draft(workspace_id: int, name: str, segment_id: int) -> Campaign | None:
    last = db.session.scalar(
        select(Campaign).where(Campaign.workspace_id == workspace_id, Campaign.parent_id.is_(None))
        .order_by(Campaign.id.desc()).limit(1)
    )  # fmt: skip
    if last is None:
        return None
    data = {"name": name, "template_id": last.template_id, "segment_ids": [segment_id], "from_name": last.from_name,
            "from_email": last.from_email, "reply_to": last.reply_to, "provider_id": last.provider_id}  # fmt: skip
    return drafts.create_campaign(workspace_id, data)


def _sunset(workspace_id: int, rec: Recommendation) -> dict:
    year_ago = (date.today() - timedelta(days=365)).isoformat()
    rules = {"all": [{"field": "status", "op": "eq", "value": "active"},
                     {"field": "created_at", "op": "before", "value": year_ago},
                     {"event": "received"},
                     {"event": "opened", "within_days": 365, "negate": True},
                     {"event": "clicked", "within_days": 365, "negate": True}]}  # fmt: skip
    segment = segments.create_segment(workspace_id, "Sunset: no opens or clicks in a year", rules)
    return {"segment_id": segment.id, "members": segments.count(workspace_id, rules).count}


def _domain(workspace_id: int, rec: Recommendation) -> SendingDomain:
    domain = db.session.scalar(
        select(SendingDomain).where(
            SendingDomain.id == rec.fix.get("domain_id"), SendingDomain.workspace_id == workspace_id
        )
    )
    if domain is None:
        raise NotFound("The domain is gone.")
    return domain


def _start_warming(workspace_id: int, rec: Recommendation) -> dict:
    plan = warming.start(workspace_id, _domain(workspace_id, rec), "standard")
    return {"warming_plan_id": plan.id, "schedule": plan.schedule}


def _reverify(workspace_id: int, rec: Recommendation) -> dict:
    domain = domains.verify_domain(workspace_id, _domain(workspace_id, rec).id)
    return {"status": domain.status, "failing": [c.get("purpose") for c in domain.checks or [] if not c.get("ok")]}


def _recheck_ip(workspace_id: int, rec: Recommendation) -> dict:
    ip = ips.get_ip(workspace_id, rec.fix.get("ip_id"))
    checked = ips.check_ip(workspace_id, ip.id)
    return {"listed": [b.get("zone") for b in checked.blocklists or [] if b.get("listed")]}


def _recheck_domain_lists(workspace_id: int, rec: Recommendation) -> dict:
    domain = domain_blocklists.check(_domain(workspace_id, rec))
    return {"listed": [e.get("zone") for e in domain_blocklists.listings(domain)]}


_FIXES = {
    "suppress_hard_bounced": _hard_bounced,
    "suppress_complainers": _complainers,
    "reengage_list": _reengage,
    "sunset_segment": _sunset,
    "start_warming": _start_warming,
    "reverify_domain": _reverify,
    "recheck_ip": _recheck_ip,
    "recheck_domain_lists": _recheck_domain_lists,
}
