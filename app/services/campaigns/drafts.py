"""Campaigns: drafting, starting a send, and what the pages and API report about them."""

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    InsightHour,
    ListSubscriber,
    MailingList,
    Subscriber,
)
from app.models.campaign import skipped
from app.services.campaigns import ab_tests, audience
from app.services.campaigns.settings import SETTINGS, clean_settings
from app.services.content.templates import get_template
from app.services.errors import InvalidState, NotFound
from app.services.events import rollups
from app.services.events.attribution import campaign_revenue

EDITABLE = ("draft",)


def _clean(workspace_id: int, data: dict) -> tuple[dict, audience.Audience]:
    """The campaign's settings cleaned (settings.SETTINGS), and apart from them its audience."""
    clean = clean_settings(workspace_id, data)
    return clean, audience.Audience.of({name: clean.pop(name) for name in audience.TARGETS})


def campaign_values(campaign: Campaign) -> dict:
    """A campaign's settings, as create_campaign takes them (to change only some)."""
    targets = audience.of_campaign(campaign.id).as_dict()
    return {s.name: getattr(campaign, s.name) if s.column else targets[s.name] for s in SETTINGS}


def create_campaign(workspace_id: int, data: dict) -> Campaign:
    """A draft campaign of a template to lists and segments."""
    clean, targets = _clean(workspace_id, data)
    ab = ab_tests.clean_or_raise(workspace_id, data, clean)
    tpl = get_template(workspace_id, clean["template_id"])
    campaign = Campaign(workspace_id=workspace_id, status="draft", category=tpl.category, **clean)
    db.session.add(campaign)
    db.session.flush()
    audience.save(campaign.id, targets)
    ab_tests.save(campaign, ab)
    return campaign


def update_campaign(workspace_id: int, campaign_id: int, data: dict) -> Campaign:
    """A draft with new settings (and a new A/B test when `data` names one); InvalidState unless a draft."""
    campaign = get_campaign(workspace_id, campaign_id)
    if campaign.status not in EDITABLE:
        raise InvalidState(f"A {campaign.status} campaign can no longer be edited.")
    clean, targets = _clean(workspace_id, data)
    ab = ab_tests.clean_or_raise(workspace_id, data, clean, campaign)
    for k, v in clean.items():
        setattr(campaign, k, v)
    ab_tests.save(campaign, ab)
    campaign.category = get_template(workspace_id, clean["template_id"]).category
    audience.save(campaign.id, targets)
    db.session.flush()
    return campaign


def get_campaign(workspace_id: int, campaign_id: int) -> Campaign:
    c = db.session.scalar(select(Campaign).where(Campaign.id == campaign_id, Campaign.workspace_id == workspace_id))
    if c is None:
        raise NotFound("No such campaign.")
    return c


def campaign_lists(campaign_id: int) -> list[MailingList]:
    """The lists a campaign goes to, by name."""
    return list(
        db.session.scalars(
            select(MailingList)
            .join(CampaignList, CampaignList.list_id == MailingList.id)
            .where(CampaignList.campaign_id == campaign_id, CampaignList.exclude.is_(False))
            .order_by(MailingList.name)
        )
    )


def campaign_list_ids(campaign_id: int) -> list[int]:
    """The lists a campaign is sent to (not those it excludes)."""
    return list(
        db.session.scalars(
            select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id, CampaignList.exclude.is_(False))
        )
    )


def list_campaigns(workspace_id: int, status: str | None = None, parent_id: int | None = None):
    stmt = select(Campaign).where(
        Campaign.workspace_id == workspace_id, Campaign.flow_id.is_(None)
    )  # flows: their page
    if status:
        stmt = stmt.where(Campaign.status == status)
    if parent_id:  # the runs of a recurring campaign
        stmt = stmt.where(Campaign.parent_id == parent_id)
    return stmt.order_by(Campaign.id.desc())


def audience_size(workspace_id: int, list_ids: list[int]) -> int:
    """Distinct subscribers on the lists (before suppression)."""
    if not list_ids:
        return 0
    return (
        db.session.scalar(
            select(func.count(func.distinct(ListSubscriber.subscriber_id)))
            .join(Subscriber, Subscriber.id == ListSubscriber.subscriber_id)
            .where(ListSubscriber.list_id.in_(list_ids), Subscriber.workspace_id == workspace_id)
        )
        or 0
    )


# Reporting ----------------------------------------------------------------------------------


def campaign_stats(campaign_id: int) -> dict:
    """Totals for the campaign page and API, from two aggregate queries (recipient rows, rollups)."""
    cr = CampaignRecipient
    by_status = (
        "pending",
        "sending",
        "failed",
        "unknown",
        "bounced",
        "complained",
        "unsubscribed",
        "delivered",
        "held",
    )
    row = db.session.execute(
        select(
            func.count(),
            func.count(cr.sent_at),
            *(func.coalesce(func.sum(case((cr.status == s, 1), else_=0)), 0) for s in by_status),
            func.coalesce(func.sum(case(((cr.status == "failed") & skipped(cr.reason), 1), else_=0)), 0),
            func.count(cr.opened_at),
            func.count(cr.clicked_at),
            func.count(cr.delivered_at),
            func.count(cr.human_opened_at),
            func.count(cr.human_clicked_at),
        ).where(cr.campaign_id == campaign_id)
    ).one()
    (total, sent, pending, sending, failed, unknown, bounced, complained, unsubscribed, delivered, held, suppressed,
     unique_opens, unique_clicks, delivered_at, human_unique_opens, human_unique_clicks) = row  # fmt: skip
    # Opens, clicks and unsubscribes as they came, from the campaign's hourly rollups (events/rollups.py),
    # not from its events: a big campaign's page reads a few hundred rows, not millions.
    ih = InsightHour
    opens, human_opens, clicks, human_clicks, unsubscribes = (int(n or 0) for n in db.session.execute(
        select(func.sum(ih.opens), func.sum(ih.human_opens), func.sum(ih.clicks), func.sum(ih.human_clicks),
               func.sum(ih.unsubscribes)).where(ih.campaign_id == campaign_id, rollups.TOTALS)
    ).one())  # fmt: skip
    return {
        "total_recipients": total,
        "sent": sent,
        "delivered": max(delivered_at, delivered),
        "failed": failed,
        "suppressed": suppressed,
        "unknown": unknown,
        "pending": pending + sending,
        "held": held,  # an A/B test's remainder, waiting for the winner
        "bounced": bounced,
        "complained": complained,
        "unsubscribed": unsubscribes or unsubscribed,
        "opens": opens,
        "unique_opens": unique_opens,
        "clicks": clicks,
        "unique_clicks": unique_clicks,
        # People only (events/verdicts.py): Apple's prefetches, scanners and unknown machines left out.
        "human_opens": human_opens,
        "human_unique_opens": human_unique_opens,
        "human_clicks": human_clicks,
        "human_unique_clicks": human_unique_clicks,
        "machine_opens": opens - human_opens,
        "machine_clicks": clicks - human_clicks,
        **campaign_revenue(campaign_id),  # orders credited to it (events/attribution.py)
    }


def recipients_query(campaign_id: int, status: str | None = None):
    stmt = select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
    if status:
        stmt = stmt.where(CampaignRecipient.status == status)
    return stmt.order_by(CampaignRecipient.id)


def failure_reasons(campaign_id: int, limit: int = 5) -> list[tuple[str, int]]:
    """The commonest reasons messages were not sent (suppression aside), most frequent first."""
    cr = CampaignRecipient
    return [
        (reason or "no reason recorded", count)
        for reason, count in db.session.execute(
            select(cr.reason, func.count())
            .where(
                cr.campaign_id == campaign_id,
                cr.status.in_(("failed", "bounced", "unknown")),
                ~skipped(cr.reason),
            )
            .group_by(cr.reason)
            .order_by(func.count().desc())
            .limit(limit)
        ).all()
    ]
