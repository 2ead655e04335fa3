"""The advisor's checks: each reads what Herald measured and returns findings, with their evidence
(numbers with their denominators), a severity, and a fix Herald can apply (fixes.py) or steps.

    CAMPAIGN_CHECKS   run after a campaign finishes (and on its advisor tab)
    WORKSPACE_CHECKS  run daily: the last 7 days, lists, domains, people who never engage

Thresholds are the ones Gmail and Yahoo enforce on bulk senders (deliverability.md §1): hard bounces
over 5%, complaints over 0.1% (0.3% or more is where they start refusing mail).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, exists, func, select

from app.extensions import db
from app.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    DedicatedIP,
    HealthScore,
    InsightHour,
    ListSubscriber,
    MailingList,
    SendingDomain,
    Subscriber,
    WarmingPlan,
)
from app.services.advisor import dmarc
from app.services.delivery import domain_blocklists
from app.services.events import rollups

HARD_BOUNCE_RATE = 0.05
COMPLAINT_WARNING = 0.001
COMPLAINT_CRITICAL = 0.003
LOW_OPEN_RATE = 0.15
MIN_SENT = 100  # rates over fewer messages say little
STALE_LIST_DAYS = 180
NEVER_ENGAGED_DAYS = 365
NEW_DOMAIN_DAYS = 30


@dataclass
class Finding:
    check: str
    subject_type: str  # campaign | domain | list | workspace
    subject_id: int
    severity: str  # info | warning | critical | blocking
    message: str
    evidence: dict
    measure: float
    fix: dict | None = None
    blocking: bool = False  # stops a send at the gate (gate.py)
    extra: dict = field(default_factory=dict)


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.2%} · {part:,} of {whole:,}" if whole else "no messages"


def totals(where) -> dict:
    """Sent, delivered, hard bounces, complaints and people's unique opens from the hourly rollups."""
    ih = InsightHour
    row = db.session.execute(
        select(
            func.coalesce(func.sum(ih.sent), 0),
            func.coalesce(func.sum(ih.delivered), 0),
            func.coalesce(func.sum(ih.hard_bounced), 0),
            func.coalesce(func.sum(ih.complaints), 0),
            func.coalesce(func.sum(ih.human_unique_opens), 0),
        ).where(rollups.TOTALS, *where)
    ).one()
    return dict(
        zip(("sent", "delivered", "hard_bounced", "complaints", "human_unique_opens"), map(int, row), strict=True)
    )


# Rates: one campaign, or the workspace's last 7 days -------------------------------------------------


def _bounces(subject_type: str, subject_id: int, t: dict, scope: str) -> list[Finding]:
    sent, hard = t["sent"], t["hard_bounced"]
    if sent < MIN_SENT or hard / sent <= HARD_BOUNCE_RATE:
        return []
    return [
        Finding(
            "hard_bounce_rate",
            subject_type,
            subject_id,
            "critical" if hard / sent > 2 * HARD_BOUNCE_RATE else "warning",
            f"Hard bounces reached {_pct(hard, sent)} {scope}. Above 5% mailbox providers read the list as "
            "bought or stale, and route your mail to spam.",
            {"hard_bounced": hard, "sent": sent, "rate": round(hard / sent, 4), "threshold": HARD_BOUNCE_RATE},
            hard / sent,
            {"action": "suppress_hard_bounced", "label": "Suppress every hard-bounced address"},
        )
    ]


def _complaints(subject_type: str, subject_id: int, t: dict, scope: str) -> list[Finding]:
    sent, complaints = t["sent"], t["complaints"]
    if not sent or complaints / sent <= COMPLAINT_WARNING:
        return []
    critical = complaints / sent >= COMPLAINT_CRITICAL
    held = (
        " Until it falls, the pre-send gate holds new marketing sends (an owner may send one anyway, with a reason)."
        if critical and subject_type == "workspace"
        else ""
    )
    return [
        Finding(
            "complaint_rate",
            subject_type,
            subject_id,
            "critical" if critical else "warning",
            f"Spam complaints reached {_pct(complaints, sent)} {scope}. Gmail and Yahoo want under 0.1% and "
            f"refuse bulk mail at 0.3%.{held}",
            {
                "complaints": complaints,
                "sent": sent,
                "rate": round(complaints / sent, 5),
                "warning": COMPLAINT_WARNING,
                "critical": COMPLAINT_CRITICAL,
            },  # fmt: skip
            complaints / sent,
            {"action": "suppress_complainers", "label": "Suppress everyone who complained"},
            blocking=critical and subject_type == "workspace",
        )
    ]


def _opens(campaign: Campaign, t: dict) -> list[Finding]:
    base = t["delivered"] or t["sent"]
    if base < MIN_SENT or t["human_unique_opens"] / base >= LOW_OPEN_RATE:
        return []
    hours = best_hours(campaign.workspace_id)
    when = f" Your readers open most at {', '.join(f'{h:02d}:00' for h in hours)} (UTC)." if hours else ""
    return [
        Finding(
            "low_open_rate",
            "campaign",
            campaign.id,
            "warning",
            f"People opened {_pct(t['human_unique_opens'], base)} (machines left out). Under 15% says the "
            f"subject line or the timing missed: try a shorter, specific subject, an A/B test, a send window.{when}",
            {
                "human_unique_opens": t["human_unique_opens"],
                "delivered": base,
                "threshold": LOW_OPEN_RATE,
                "best_hours_utc": hours,
            },  # fmt: skip
            LOW_OPEN_RATE - t["human_unique_opens"] / base,
        )
    ]


def best_hours(workspace_id: int, n: int = 3) -> list[int]:
    """The UTC hours of day in which people opened most over the last 90 days."""
    ih = InsightHour
    hour = (
        func.extract("hour", ih.hour)
        if db.session.get_bind().dialect.name == "postgresql"
        else func.strftime("%H", ih.hour)
    )
    rows = db.session.execute(
        select(hour, func.sum(ih.human_opens))
        .where(ih.workspace_id == workspace_id, rollups.TOTALS, ih.hour >= _now() - timedelta(days=90))
        .group_by(hour)
        .order_by(func.sum(ih.human_opens).desc())
        .limit(n)
    ).all()
    return [int(h) for h, opened in rows if opened]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def campaign_rates(campaign: Campaign) -> list[Finding]:
    t = totals([InsightHour.campaign_id == campaign.id])
    scope = "in this campaign"
    return (
        _bounces("campaign", campaign.id, t, scope)
        + _complaints("campaign", campaign.id, t, scope)
        + _opens(campaign, t)
    )


def workspace_rates(workspace_id: int) -> list[Finding]:
    t = totals([InsightHour.workspace_id == workspace_id, InsightHour.hour >= _now() - timedelta(days=7)])
    scope = "over the last 7 days"
    return _bounces("workspace", 0, t, scope) + _complaints("workspace", 0, t, scope)


# Authentication -----------------------------------------------------------------------------------


def from_domain(campaign: Campaign) -> list[Finding]:
    """The From address on a domain the workspace verified (DKIM-signed, DMARC aligned)."""
    domain = campaign.from_email.rsplit("@", 1)[-1].lower()
    found = db.session.scalar(
        select(SendingDomain).where(SendingDomain.workspace_id == campaign.workspace_id, SendingDomain.domain == domain)
    )
    if found is not None and found.status in ("verified", "warming", "active"):
        return []
    state = "is not one of your sending domains" if found is None else f"is {found.status}"
    return [
        Finding(
            "from_domain_unverified",
            "campaign",
            campaign.id,
            "critical",
            f"The From address {campaign.from_email} is on {domain}, which {state}: its mail is not DKIM-signed "
            "and does not pass DMARC, which Gmail and Yahoo require of bulk senders.",
            {"from_email": campaign.from_email, "domain": domain, "status": found.status if found else None},
            1.0,
            {"action": "open_domains", "label": "Add and verify the domain"}
            if found is None
            else {"action": "reverify_domain", "label": "Check the DNS records again", "domain_id": found.id},
            extra={"domain_id": found.id if found else None},
        )
    ]


def domains(workspace_id: int) -> list[Finding]:
    """Verification failures, and new domains sending without a warming plan."""
    out = []
    for d in db.session.scalars(select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)):
        failing = [c for c in (d.checks or []) if not c.get("ok")]
        if d.status == "failed" or (d.status != "pending" and failing):
            names = ", ".join(c.get("purpose", "?").upper() for c in failing) or "its records"
            out.append(Finding(
                "domain_authentication", "domain", d.id, "critical",
                f"{d.domain}: {names} failed the last check. Mail from it may not authenticate.",
                {"failing": failing, "checked_at": d.checked_at.isoformat() if d.checked_at else None},
                float(len(failing) or 1),
                {"action": "reverify_domain", "label": "Check the DNS records again", "domain_id": d.id},
            ))  # fmt: skip
        if d.status == "verified" and _sent_recently(workspace_id, d.domain) and not _has_plan(d.id):
            out.append(Finding(
                "domain_not_warming", "domain", d.id, "warning",
                f"{d.domain} is new and sending without a warming plan: a new domain that sends its full volume at "
                "once looks like a spammer's.",
                {"domain": d.domain, "verified_at": d.verified_at.isoformat() if d.verified_at else None},
                1.0,
                {"action": "start_warming", "label": "Start the standard warming schedule", "domain_id": d.id},
            ))  # fmt: skip
    return out


def _has_plan(domain_id: int) -> bool:
    return db.session.scalar(
        select(exists().where(WarmingPlan.subject_type == "domain", WarmingPlan.subject_id == domain_id))
    )


def _sent_recently(workspace_id: int, domain: str) -> bool:
    since = _now() - timedelta(days=NEW_DOMAIN_DAYS)
    return db.session.scalar(
        select(
            exists().where(
                Campaign.workspace_id == workspace_id,
                Campaign.from_email.endswith(f"@{domain}"),
                Campaign.started_at >= since,
            )
        )
    )


# The audience -------------------------------------------------------------------------------------


def stale_lists(workspace_id: int) -> list[Finding]:
    """Lists with people that no campaign reached for 6 months: mailing them all at once bounces and
    gets complaints; a re-engagement campaign to them first tells who is still there."""
    since = _now() - timedelta(days=STALE_LIST_DAYS)
    last_sent = (
        select(func.max(Campaign.started_at))
        .join(CampaignList, CampaignList.campaign_id == Campaign.id)
        .where(CampaignList.list_id == MailingList.id, CampaignList.exclude.is_(False))
        .scalar_subquery()
    )
    members = select(func.count()).where(ListSubscriber.list_id == MailingList.id).scalar_subquery()
    rows = db.session.execute(
        select(MailingList.id, MailingList.name, last_sent, members).where(
            MailingList.workspace_id == workspace_id, MailingList.created_at < since
        )
    ).all()
    out = []
    for list_id, name, last, n in rows:
        if n and (last is None or last < since):
            when = f"since {last:%Y-%m-%d}" if last else "ever"
            out.append(Finding(
                "stale_list", "list", list_id, "warning",
                f"“{name}” ({n:,} people) has not been mailed {when}. Send a re-engagement campaign first and "
                "keep who answers.",
                {"list": name, "members": n, "last_sent": last.isoformat() if last else None, "days": STALE_LIST_DAYS},
                float(n),
                {"action": "reengage_list", "label": "Create a re-engagement segment and draft", "list_id": list_id},
            ))  # fmt: skip
    return out


def never_engaged(workspace_id: int) -> list[Finding]:
    """Active people who received mail for a year and never opened or clicked: they drag every rate down."""
    since = _now() - timedelta(days=NEVER_ENGAGED_DAYS)
    cr = CampaignRecipient
    engaged = exists().where(
        cr.subscriber_id == Subscriber.id, (cr.human_opened_at >= since) | (cr.human_clicked_at >= since)
    )
    received = exists().where(cr.subscriber_id == Subscriber.id, cr.sent_at.is_not(None))
    count = db.session.scalar(
        select(func.count()).where(
            and_(
                Subscriber.workspace_id == workspace_id,
                Subscriber.status == "active",
                Subscriber.created_at < since,
                received,
                ~engaged,
            )  # fmt: skip
        )
    )
    active = db.session.scalar(
        select(func.count()).where(Subscriber.workspace_id == workspace_id, Subscriber.status == "active")
    )
    if not count:
        return []
    return [
        Finding(
            "never_engaged",
            "workspace",
            0,
            "info" if count / max(active, 1) < 0.2 else "warning",
            f"{_pct(count, active)} active subscribers got mail for a year and never opened or clicked. Stop "
            "mailing them (a sunset) or win them back once.",
            {"never_engaged": count, "active": active, "days": NEVER_ENGAGED_DAYS},
            float(count),
            {"action": "sunset_segment", "label": "Create a sunset segment of them"},
        )
    ]


# Reputation ---------------------------------------------------------------------------------------

TIER_RANK = {"CRITICAL": 0, "POOR": 1, "FAIR": 2, "GOOD": 3, "EXCELLENT": 4}
VOLUME_JUMP = 3.0  # a day over 3× the recent daily average looks like a compromised or bought list
VOLUME_FLOOR = 1000  # days smaller than this are no jump worth a finding


def listed_ips(workspace_id: int) -> list[Finding]:
    """A dedicated IP on a blocklist at its last check: mail from it is refused or filtered."""
    ips = db.session.scalars(select(DedicatedIP).where(DedicatedIP.workspace_id == workspace_id))
    return [f for ip in ips for f in ip_listing(ip)]


def ip_listing(ip: DedicatedIP) -> list[Finding]:
    zones = [b.get("zone") for b in ip.blocklists or [] if b.get("listed")]
    if not zones:
        return []
    return [Finding(
        "ip_listed", "ip", ip.id, "critical",
        f"{ip.ip_address} is listed on {', '.join(zones)}. Find why (a complaint spike, a trap hit), "
        "fix it, then ask each list to remove it; pause the IP meanwhile.",
        {"ip": ip.ip_address, "zones": zones, "checked_at": ip.checked_at.isoformat() if ip.checked_at else None},
        float(len(zones)),
        {"action": "recheck_ip", "label": "Check the blocklists again", "ip_id": ip.id},
        blocking=True,
    )]  # fmt: skip


def listed_domains(workspace_id: int) -> list[Finding]:
    """A sending domain on a domain blocklist (Spamhaus DBL, SURBL, URIBL) at its last check."""
    out = []
    for d in db.session.scalars(select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)):
        out += domain_listing(d)
    return out


def domain_listing(d: SendingDomain) -> list[Finding]:
    listed = domain_blocklists.listings(d)
    if not listed:
        return []
    blocking = any(domain_blocklists.is_blocking(e) for e in listed)
    zones = [e["zone"] for e in listed]
    meanings = " ".join(dict.fromkeys(e.get("meaning") or "" for e in listed)).strip()
    return [Finding(
        "domain_listed", "domain", d.id, "critical" if blocking else "warning",
        f"{d.domain} is listed on {', '.join(zones)}. {meanings} Filters check every domain in a message, so its "
        "mail goes to spam from any IP: find the cause (a compromised page, a complaint spike), fix it, then ask "
        "each list to remove it.",
        {"domain": d.domain, "listings": [{k: e.get(k) for k in ("zone", "answer", "meaning", "reason", "listed_since")}
                                          for e in listed],
         "checked_at": d.blocklists_checked_at.isoformat() if d.blocklists_checked_at else None},
        float(len(listed)),
        {"action": "recheck_domain_lists", "label": "Check the domain blocklists again", "domain_id": d.id},
        blocking=blocking,
    )]  # fmt: skip


def health_drops(workspace_id: int) -> list[Finding]:
    """A domain whose health fell a tier or more between its last two scored days."""
    out = []
    for d in db.session.scalars(select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)):
        last = db.session.scalars(
            select(HealthScore).where(HealthScore.subject_type == "domain", HealthScore.subject_id == d.id)
            .order_by(HealthScore.day.desc()).limit(2)
        ).all()  # fmt: skip
        if len(last) == 2 and TIER_RANK.get(last[0].tier, 0) < TIER_RANK.get(last[1].tier, 0):
            now, before = last
            out.append(Finding(
                "health_drop", "domain", d.id, "critical" if now.tier in ("POOR", "CRITICAL") else "warning",
                f"{d.domain}'s health fell from {before.tier.lower()} ({before.score}) to {now.tier.lower()} "
                f"({now.score}) on {now.day:%Y-%m-%d}: see what changed on its page (bounces, complaints, opens).",
                {"domain": d.domain, "from": {"tier": before.tier, "score": before.score, "day": before.day.isoformat()},
                 "to": {"tier": now.tier, "score": now.score, "day": now.day.isoformat()}},
                float(TIER_RANK.get(before.tier, 0) - TIER_RANK.get(now.tier, 0)),
            ))  # fmt: skip
    return out


def volume_jumps(workspace_id: int) -> list[Finding]:
    """A domain that is not warming and sent over 3× its average of the 14 days before, yesterday or today."""
    out = []
    day = func.date(CampaignRecipient.sent_at)
    for d in db.session.scalars(select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)):
        if _has_plan(d.id):
            continue
        rows = dict(db.session.execute(
            select(day, func.count()).join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(Campaign.workspace_id == workspace_id, Campaign.from_email.endswith(f"@{d.domain}"),
                   CampaignRecipient.sent_at >= _now() - timedelta(days=16))
            .group_by(day)
        ).all())  # fmt: skip
        by_day = {str(k)[:10]: n for k, n in rows.items()}
        today = _now().date()
        recent = max(by_day.get(str(today), 0), by_day.get(str(today - timedelta(days=1)), 0))
        before = [by_day.get(str(today - timedelta(days=k)), 0) for k in range(2, 16)]
        average = sum(before) / len(before)
        if recent >= VOLUME_FLOOR and average and recent > VOLUME_JUMP * average:
            out.append(Finding(
                "volume_jump", "domain", d.id, "warning",
                f"{d.domain} sent {recent:,} messages in a day, {recent / average:.1f}× its average of {average:,.0f} "
                "over the two weeks before. Sudden volume is what filters watch for: warm up to it instead.",
                {"domain": d.domain, "day_volume": recent, "average": round(average, 1), "factor": VOLUME_JUMP},
                recent / average,
                {"action": "start_warming", "label": "Start the standard warming schedule", "domain_id": d.id},
            ))  # fmt: skip
    return out


def dmarc_sources(workspace_id: int) -> list[Finding]:
    """DMARC aggregate reports of the last 30 days showing mail that failed authentication, or senders
    that are not Herald's IPs, using one of the workspace's domains."""
    out = []
    for d in db.session.scalars(select(SendingDomain).where(SendingDomain.workspace_id == workspace_id)):
        failing = dmarc.failing_sources(workspace_id, d.id)
        if not failing:
            continue
        messages = sum(f["failing"] for f in failing)
        top = ", ".join(f"{f['source_ip']} ({f['failing']:,})" for f in failing[:3])
        out.append(Finding(
            "dmarc_sources", "domain", d.id, "warning" if messages < 100 else "critical",
            f"DMARC reports show {messages:,} messages from {d.domain} that failed authentication in 30 days, "
            f"from {len(failing)} source{'s' if len(failing) != 1 else ''}: {top}. A service of yours that is "
            "not set up (SPF include or DKIM), or someone else using your domain.",
            {"domain": d.domain, "failing_messages": messages, "sources": failing[:10]},
            float(messages),
            {"action": "open_dmarc", "label": "Open the DMARC reports", "domain_id": d.id},
        ))  # fmt: skip
    return out


CAMPAIGN_CHECKS: tuple[Callable[[Campaign], list[Finding]], ...] = (campaign_rates, from_domain)
WORKSPACE_CHECKS: tuple[Callable[[int], list[Finding]], ...] = (
    workspace_rates,
    domains,
    stale_lists,
    never_engaged,
    dmarc_sources,
    listed_ips,
    listed_domains,
    health_drops,
    volume_jumps,
)
CHECK_NAMES = {
    "hard_bounce_rate": "Hard bounces",
    "complaint_rate": "Spam complaints",
    "low_open_rate": "Opens",
    "from_domain_unverified": "From domain",
    "domain_authentication": "Domain authentication",
    "domain_not_warming": "Warming",
    "stale_list": "List not mailed",
    "never_engaged": "Never engaged",
    "content_subject": "Subject line",
    "content_subject_length": "Subject length",
    "content_subject_caps": "Capitals in the subject",
    "content_subject_punctuation": "Punctuation in the subject",
    "content_html_size": "Message size",
    "content_image_only": "Images and text",
    "content_image_ratio": "Images and text",
    "content_image_alt_text": "Alt text",
    "content_text_part": "Text version",
    "content_preheader": "Preheader",
    "content_link_shortener": "Link shorteners",
    "content_link_text_mismatch": "Link text",
    "content_spamassassin": "SpamAssassin",
    "content_template_renders": "Template",
    "dmarc_sources": "DMARC reports",
    "ip_listed": "Blocklisted IP",
    "domain_listed": "Blocklisted domain",
    "health_drop": "Domain health",
    "volume_jump": "Volume jump",
}


def check_name(check: str) -> str:
    """A recommendation's check as the pages name it; an A/B variant's content check
    (`content_subject_caps:b`, content_checks.py) names its variant."""
    check, _, variant = check.partition(":")
    name = CHECK_NAMES.get(check, check)
    return f"{name} (variant {variant.upper()})" if variant else name
