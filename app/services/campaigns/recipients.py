"""A campaign's recipient rows: written once from the audience, split into batches, finished.

A recipient row moves pending -> sending (claimed, committed before any hand-off) ->
sent | failed | bounced | unknown. A crash after the claim leaves the row `sending`, never
`pending`, so nothing is handed off twice; rows whose hand-off was interrupted are
marked `unknown` for the marketer to review rather than silently resent.
"""

import time
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import case, exists, func, insert, literal, or_, select, update

from app.extensions import db
from app.models import (
    Campaign,
    CampaignRecipient,
    Link,
    MailboxDomain,
    Subscriber,
    SubscriberPreference,
    Suppression,
    Workspace,
)
from app.services.audience.suppression import ROLE_LOCAL_PARTS
from app.services.campaigns import ab_tests, audience, frequency_cap
from app.services.content.rendering import extract_links
from app.services.delivery import identity_routing, warming_holds
from app.services.delivery.mailbox_cache import email_domain, refresh_domains
from app.services.events import send_time
from app.services.events.verdicts import HONEYPOT_POSITION

CLAIM_TTL_SECONDS = 600  # a claim older than this belongs to a worker that died mid-hand-off
LIMIT_WAIT = "waiting: "  # held back by the provider's daily quota (not a failure, not a retry)
_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__


def _now() -> datetime:
    return datetime.now(timezone.utc)


def materialize_recipients(campaign: Campaign) -> int:
    """Write the audience as recipient rows in one INSERT … SELECT; people skipped (suppressed, opted
    out of the campaign's category, or over their frequency for it) become `failed` rows with the
    reason, so reports show what was saved. Each row gets its domain's mailbox provider group from
    the MX cache (NULL: its MX could not be looked up)."""
    md = MailboxDomain.__table__
    in_audience = audience.condition(campaign.workspace_id, audience.of_campaign(campaign.id))
    domain = email_domain(_sub.c.email)
    refresh_domains(_uncached_domains(in_audience))
    skip = Skips(campaign)
    reason = skip.reason()
    rows = (
        select(
            literal(campaign.id),
            _sub.c.id,
            _sub.c.email,
            case((reason.is_not(None), "failed"), else_="pending"),
            reason,
            literal(_now(), type_=CampaignRecipient.created_at.type),
            md.c.group,
        )
        .select_from(skip.joined(_sub).outerjoin(md, md.c.domain == domain))
        .where(in_audience)
        .order_by(_sub.c.id)
    )
    columns = ["campaign_id", "subscriber_id", "email", "status", "reason", "created_at", "mailbox_provider"]
    db.session.execute(insert(_cr).from_select(columns, rows))
    return db.session.scalar(select(func.count()).where(_cr.c.campaign_id == campaign.id)) or 0


# How long a frequency keeps a category's next campaign away, after one was sent.
FREQUENCY_WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "monthly": timedelta(days=30)}
FREQUENCY_REASON = "frequency"


class Skips:
    """Why a person in the audience is not sent the campaign, as one CASE (the first reason wins):
    their status, a suppressed address or domain, a role address (when the workspace skips them),
    an opt-out of the campaign's category, their frequency for it, or the workspace's frequency cap."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.address = Suppression.__table__.alias("address_suppression")
        self.domain = Suppression.__table__.alias("domain_suppression")
        self.pref = SubscriberPreference.__table__.alias("category_preference")

    def joined(self, subscribers):
        a, d, p = self.address, self.domain, self.pref
        ws = self.campaign.workspace_id
        joined = subscribers.outerjoin(a, (a.c.workspace_id == ws) & (a.c.email == subscribers.c.email)).outerjoin(
            d, (d.c.workspace_id == ws) & (d.c.email == literal("@").concat(email_domain(subscribers.c.email)))
        )
        if self.campaign.category_id:
            joined = joined.outerjoin(
                p, (p.c.subscriber_id == subscribers.c.id) & (p.c.category_id == self.campaign.category_id)
            )
        return joined

    def reason(self):
        whens = [
            (_sub.c.status != "active", literal("suppressed:").concat(_sub.c.status)),
            (self.address.c.id.is_not(None), literal("suppressed:").concat(self.address.c.reason)),
            (self.domain.c.id.is_not(None), literal("suppressed:domain")),
        ]
        if self._skips_roles():
            role = or_(*(_sub.c.email.startswith(f"{local}@", autoescape=True) for local in sorted(ROLE_LOCAL_PARTS)))
            whens.append((role, literal("suppressed:role")))
        if self.campaign.category_id:
            whens.append((self.pref.c.subscribed.is_(False), literal("suppressed:category")))
            whens.append((self._recently_sent(), literal(FREQUENCY_REASON)))
        capped = frequency_cap.over_cap(self.campaign, _sub)
        if capped is not None:
            whens.append((capped, literal(frequency_cap.REASON)))
        return case(*whens, else_=None)

    def _skips_roles(self) -> bool:
        return bool(
            db.session.scalar(
                select(Workspace.suppress_role_addresses).where(Workspace.id == self.campaign.workspace_id)
            )
        )

    def _recently_sent(self):
        """Sent another campaign of the category within the person's frequency window."""
        now = _now()
        since = case(
            *((self.pref.c.frequency == name, literal(now - window, CampaignRecipient.sent_at.type))
              for name, window in FREQUENCY_WINDOWS.items())
        )  # fmt: skip
        earlier = _cr.alias("earlier")
        other = Campaign.__table__.alias("other_campaign")
        return exists().where(
            earlier.c.subscriber_id == _sub.c.id,
            earlier.c.campaign_id == other.c.id,
            other.c.category_id == self.campaign.category_id,
            other.c.id != self.campaign.id,
            earlier.c.sent_at >= since,
        )


HELD_OUT_REASON = "held out: the holdout group is never sent, to measure what the campaign earned"


def hold_out(campaign: Campaign) -> int:
    """The holdout group: `holdout_percent` of the audience, chosen by a hash of the subscriber and the
    campaign (the same people if prepared again, another group for another campaign), set-based.
    7919 is prime to 100, so consecutive subscriber ids spread evenly over the hundred buckets."""
    if not campaign.holdout_percent:
        return 0
    bucket = (_cr.c.subscriber_id * 7919 + campaign.id * 104_729) % 100
    return db.session.execute(
        update(_cr)
        .where(_cr.c.campaign_id == campaign.id, _cr.c.status == "pending", bucket < campaign.holdout_percent)
        .values(status="held_out", reason=HELD_OUT_REASON)
    ).rowcount


def _uncached_domains(in_audience) -> list[str]:
    """The audience's email domains with no unexpired MX answer cached, the commonest first (a lookup
    budget that runs out leaves the fewest recipients unknown)."""
    md = MailboxDomain.__table__
    domain = email_domain(_sub.c.email)
    return list(
        db.session.scalars(
            select(domain)
            .select_from(_sub.outerjoin(md, md.c.domain == domain))
            .where(in_audience, md.c.domain.is_(None) | (md.c.expires_at <= _now()))
            .group_by(domain)
            .order_by(func.count().desc(), domain)
        )
    )


def create_links(campaign: Campaign) -> None:
    """The campaign's tracked links, from 1 in the order they appear, and at 0 the hidden honeypot
    that only machines follow (events/verdicts.py; messages.compiled_for puts it in each message)."""
    if not campaign.track_clicks:
        return
    urls = extract_links(campaign.snapshot["body_html"])
    trap = {"campaign_id": campaign.id, "position": HONEYPOT_POSITION, "url": honeypot_url()}
    db.session.execute(
        insert(Link), [trap] + [{"campaign_id": campaign.id, "position": i, "url": u} for i, u in enumerate(urls, 1)]
    )


def honeypot_url() -> str:
    return f"{current_app.config['BASE_URL']}/t/trap"


def batch_ranges(campaign_id: int, size: int) -> list[tuple[int, int]]:
    """Id ranges of at most `size` pending recipients, computed in SQL."""
    numbered = (
        select(_cr.c.id, func.row_number().over(order_by=_cr.c.id).label("rn"))
        .where(_cr.c.campaign_id == campaign_id, _cr.c.status == "pending")
        .subquery()
    )
    bounds = list(
        db.session.execute(
            select(numbered.c.id, numbered.c.rn)
            .where(((numbered.c.rn - 1) % size == 0) | (numbered.c.rn % size == 0))
            .order_by(numbered.c.rn)
        ).all()
    )
    last = db.session.scalar(
        select(func.max(_cr.c.id)).where(_cr.c.campaign_id == campaign_id, _cr.c.status == "pending")
    )
    starts = [i for i, rn in bounds if (rn - 1) % size == 0]
    ends = [i for i, rn in bounds if rn % size == 0]
    if len(ends) < len(starts):
        ends.append(last)
    return list(zip(starts, ends, strict=True))


def prepare_campaign(campaign_id: int) -> list[tuple[int, int]]:
    """Materialize the audience once and return the batches to queue (the caller commits first)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        return []
    already = db.session.scalar(select(exists().where(_cr.c.campaign_id == campaign_id)))
    if not already:
        campaign.total_recipients = materialize_recipients(campaign)
        create_links(campaign)
        hold_out(campaign)
        # Through a pool of several identities: each person's From is the one that serves them best.
        identity_routing.assign(campaign)
        if campaign.ab_test:  # send the test portion only; the rest is held for the winner
            ab_tests.split_audience(campaign)
        # From a warming domain: today's capacity goes to the most engaged, the rest waits.
        warming_holds.hold_for_warming(campaign)
        if campaign.send_at_best_time:  # what warming let out waits for each person's best hour
            send_time.schedule_campaign(campaign)
    db.session.flush()
    ranges = batch_ranges(campaign_id, current_app.config["SEND_BATCH_SIZE"])
    if not ranges:
        finish_if_done(campaign_id)
    return ranges


def current_round(campaign_id: int) -> int:
    return db.session.scalar(select(Campaign.send_round).where(Campaign.id == campaign_id)) or 0


def finish_if_done(campaign_id: int) -> bool:
    """Mark the campaign sent once no recipient is pending or mid-hand-off."""
    open_rows = select(_cr.c.id).where(_cr.c.campaign_id == campaign_id, _cr.c.status.in_(("pending", "sending")))
    ab_tests.start_waiting_if_test_sent(campaign_id, open_rows)  # an A/B test's portion is out: wait
    result = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == "sending",
            ab_tests.NOT_HOLDING,
            ~exists(open_rows),
            Campaign.flow_id.is_(None),
        )  # a flow's email step takes people in while the flow lives
        .values(status="sent", completed_at=_now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def recover_stale_claims(ttl_seconds: float | None = None) -> int:
    """Rows a dead worker had claimed: the provider may or may not have them, so they are
    reported as 'unknown' (never resent blindly; the marketer may resend them by hand)."""
    if ttl_seconds is None:
        ttl_seconds = current_app.config.get("SEND_CLAIM_TTL_SECONDS", CLAIM_TTL_SECONDS)
    cutoff = datetime.fromtimestamp(time.time() - ttl_seconds, timezone.utc)
    stale = db.session.execute(
        update(_cr)
        .where(_cr.c.status == "sending", _cr.c.claimed_at < cutoff)
        .values(status="unknown", reason="hand-off unknown: the worker stopped while sending")
        .returning(_cr.c.campaign_id)
    ).all()
    for campaign_id in {r.campaign_id for r in stale}:
        finish_if_done(campaign_id)
    return len(stale)


def limit_wait(campaign_id: int) -> dict:
    """{"recipients": how many wait for a quota to renew, "resumes_at", "reason"} for the page."""
    row = db.session.execute(
        select(func.count(), func.min(_cr.c.retry_at), func.min(_cr.c.reason)).where(
            _cr.c.campaign_id == campaign_id, _cr.c.status == "pending", _cr.c.reason.startswith(LIMIT_WAIT)
        )
    ).one()
    resumes_at = row[1]
    if resumes_at is not None and resumes_at.tzinfo is None:  # SQLite drops the offset of an aggregate
        resumes_at = resumes_at.replace(tzinfo=timezone.utc)
    reason = row[2][len(LIMIT_WAIT) :] if row[2] else None
    return {"recipients": row[0] or 0, "resumes_at": resumes_at, "reason": reason}


def wait_until_sent(campaign_id: int, timeout: float = 30.0) -> str:
    """Poll the campaign's status (tests and the CLI use it)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        db.session.expire_all()
        status = campaign_status(campaign_id)
        if status != "sending":
            return status
        time.sleep(0.1)
    return campaign_status(campaign_id)


def campaign_status(campaign_id: int) -> str:
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
