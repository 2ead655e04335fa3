"""Read models of the campaign pages: one place gathers what a page shows, for the dashboard and the API.

    campaign_page      everything the campaign page shows; the API's campaign detail serializes its fields
    campaign_progress  the live part of that page, polled every second while sending: nothing more
    campaign_form      what the campaign form offers to choose from

They only read: nothing here changes state.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import (
    Campaign,
    CampaignRecipient,
    MailingList,
    Provider,
    SendingDomain,
    SendingIdentity,
    SendingPool,
    Template,
)
from app.services.audience import contacts, segments
from app.services.campaigns import (
    ab_tests,
    audience,
    drafts,
    lifecycle,
    recurrence,
    recurring,
    send_progress,
    send_windows,
)
from app.services.campaigns.recipients import limit_wait
from app.services.content import templates
from app.services.delivery import (
    domains,
    identities,
    identity_routing,
    mailbox_providers,
    pools,
    providers,
    routing,
    warming_holds,
)
from app.services.events import holdouts, mailin
from app.services.pagination import paginate

RECIPIENTS_PER_PAGE = 50
RUNS_SHOWN = 50


@dataclass(frozen=True)
class DeliveryCard:
    """Who carried the messages, the routing chosen and the last failover."""

    sent_through: list[tuple[str, int]]  # (provider name, recipients carried)
    failover: dict | None  # {from, to, reason, at (a datetime)}
    routing: dict | None  # the campaign's routing_config
    chosen: list[tuple[str, float | None]]  # the routing's providers by name, with their weights


@dataclass(frozen=True)
class CampaignProgress:
    """The live part of the campaign page: where the send stands and why some were not sent."""

    campaign: Campaign
    stats: dict  # drafts.campaign_stats
    audience_size: int | None  # a draft: people on its lists, before suppression
    live: dict | None  # while sending: rate, time left, rate-limited until (send_progress.snapshot)
    failure_reasons: list[tuple[str, int]] | None  # once started, when some were not sent
    window_wait: dict  # recipients waiting for the send window, whatever the status (send_windows.waiting)
    limit_wait: dict | None  # while sending: recipients waiting for a quota to renew
    warming_wait: dict | None  # while sending: recipients waiting for the From domain's warming capacity
    throttle_wait: dict | None  # while sending: mailbox providers deferring its From domain (send_progress)
    resendable: int  # undelivered recipients a resend would reach
    delivery: DeliveryCard | None  # None: a draft without routing has nothing to show


@dataclass(frozen=True)
class MailboxProviderRow:
    """One mailbox provider group's figures (`group` None: the domain's MX could not be looked up)."""

    group: str | None
    label: str
    recipients: int
    sent: int
    bounced: int
    opened: int  # raw: any pixel load
    human_opened: int  # by people (events/verdicts.py)


@dataclass(frozen=True)
class SenderCheck:
    """The campaign's From against the workspace's sending identities and domains."""

    identity: SendingIdentity | None  # the identity its From was copied from
    domain: SendingDomain | None  # the workspace's sending domain the From address is on, if any
    signed: bool  # its mail is DKIM-signed: the domain is verified (identities.signs)
    warn: bool  # not signed, and mail is still to go out: the page says so
    stale: bool  # a draft whose identity changed since its From was copied
    authentication: dict  # DKIM d=, envelope domain and DMARC alignment, as it would go out now
    spread: list[dict]  # a pool's identities it sends from, per recipient (identity_routing.spread_of)


@dataclass(frozen=True)
class RecipientsPage:
    items: list[CampaignRecipient]
    total: int
    page: int
    per_page: int
    status: str | None  # the status they are filtered on


@dataclass(frozen=True)
class CampaignPage:
    """Everything the campaign page shows of one campaign."""

    campaign: Campaign
    progress: CampaignProgress
    list_ids: list[int]
    lists: list[MailingList]  # by name
    targets: audience.Audience  # lists, segments and what is excluded
    target_names: dict[str, list[tuple[int, str]]]  # each target setting's (id, name), by name
    template: Template
    provider: Provider | None  # the campaign's own, else the workspace default it would use
    parent: Campaign | None  # a run: its series
    runs: list[dict] | None  # a series: its latest runs with their figures (recurring.with_figures)
    run_count: int
    window_text: str | None
    recurrence_text: str | None
    first_run_at: datetime | None  # a series not started yet: when its first run would be
    ab: dict | None  # ab_tests.report
    replies: list  # the latest replies people sent back
    autoreplies: int
    recipients: RecipientsPage | None  # only when asked for
    sender: SenderCheck
    by_mailbox_provider: list[MailboxProviderRow] | None  # with the recipients, once there are recipient rows
    holdout: dict | None = None  # sent against held out (events/holdouts.py), once a campaign with one started


@dataclass(frozen=True)
class CampaignForm:
    """The choices of the campaign form."""

    templates: list[Template]
    lists: list[tuple[MailingList, int]]  # with their subscriber counts
    providers: list[Provider]
    timezones: list[str]
    identities: list[tuple[SendingDomain, list[SendingIdentity]]]  # grouped by domain (identities.identity_choices)
    pools: list[SendingPool]  # the sending pools a campaign may name
    segments: list[tuple[int, str]]  # (id, name) of the segments a campaign may target or exclude


def campaign_page(
    workspace_id: int, campaign_id: int, recipient_status: str | None = None, recipients_page: int | None = None
) -> CampaignPage:
    """The campaign page's read model; with recipients_page, that page of its recipients and their figures
    by mailbox provider too."""
    c = drafts.get_campaign(workspace_id, campaign_id)
    list_ids = drafts.campaign_list_ids(c.id)
    series, started = bool(c.recurrence), c.status != "draft"
    return CampaignPage(
        campaign=c,
        progress=_progress(workspace_id, c, list_ids),
        list_ids=list_ids,
        lists=drafts.campaign_lists(c.id),
        targets=(targets := audience.of_campaign(c.id)),
        target_names=audience.names(workspace_id, targets),
        template=templates.get_template(workspace_id, c.template_id),
        provider=_provider(workspace_id, c),
        parent=drafts.get_campaign(workspace_id, c.parent_id) if c.parent_id else None,
        runs=recurring.with_figures(paginate(recurring.runs_query(c.id), 1, RUNS_SHOWN)[0]) if series else None,
        run_count=recurring.count_runs(c.id) if series else 0,
        window_text=send_windows.describe(c.send_window) if c.send_window else None,
        recurrence_text=recurrence.describe(c.recurrence) if series else None,
        first_run_at=recurrence.upcoming(c.recurrence) if series and not started else None,
        ab=ab_tests.report(c) if c.ab_test else None,
        replies=mailin.campaign_replies(workspace_id, c.id) if started else [],
        autoreplies=mailin.count_autoreplies(workspace_id, c.id) if started else 0,
        recipients=_recipients(c, recipient_status, recipients_page) if recipients_page else None,
        sender=_sender(workspace_id, c),
        by_mailbox_provider=_by_mailbox_provider(c.id) if recipients_page and started and not series else None,
        holdout=holdouts.report(c) if started and not series else None,
    )


def campaign_progress(workspace_id: int, campaign_id: int) -> CampaignProgress:
    """The live part of the campaign page, on its own: it is polled every second while sending."""
    return _progress(workspace_id, drafts.get_campaign(workspace_id, campaign_id))


def campaign_form(workspace_id: int) -> CampaignForm:
    """What the campaign form offers: the workspace's templates, lists, providers, and the timezones."""
    return CampaignForm(
        templates=templates.list_templates(workspace_id),
        lists=contacts.lists_with_counts(workspace_id),
        providers=providers.email_providers(workspace_id),
        timezones=send_windows.timezone_names(),
        identities=identities.identity_choices(workspace_id),
        pools=pools.list_pools(workspace_id),
        segments=segments.choices(workspace_id),
    )


def _progress(workspace_id: int, c: Campaign, list_ids: list[int] | None = None) -> CampaignProgress:
    stats = drafts.campaign_stats(c.id)
    sending = c.status == "sending"
    reasons = None
    if c.status != "draft" and (stats["failed"] - stats["suppressed"] > 0 or stats["unknown"] or stats["bounced"]):
        reasons = drafts.failure_reasons(c.id)
    return CampaignProgress(
        campaign=c,
        stats=stats,
        audience_size=_audience_size(workspace_id, c, list_ids),
        live=_live(c, stats) if sending else None,
        failure_reasons=reasons,
        window_wait=send_windows.waiting(c.id),
        limit_wait=limit_wait(c.id) if sending else None,
        warming_wait=warming_holds.campaign_wait(c) if sending else None,
        throttle_wait=send_progress.throttle_wait(c) if sending else None,
        resendable=lifecycle.count_undelivered(c.id) if reasons else 0,
        delivery=_delivery(workspace_id, c),
    )


def _audience_size(workspace_id: int, c: Campaign, list_ids: list[int] | None) -> int | None:
    if c.status != "draft":
        return None
    return audience.campaign_size(workspace_id, c.id)


def _live(c: Campaign, stats: dict) -> dict:
    return send_progress.snapshot(c.id, stats["pending"], c.started_at.timestamp() if c.started_at else None)


def _delivery(workspace_id: int, c: Campaign) -> DeliveryCard | None:
    cfg = c.routing_config
    if c.status == "draft" and not cfg:
        return None
    note = routing.failover_note(c.id)
    if note:
        at = note.get("at")
        note = {**note, "at": datetime.fromtimestamp(at, timezone.utc) if isinstance(at, (int, float)) else None}
    chosen = []
    if cfg:
        names = {p.id: p.name for p in providers.list_providers(workspace_id)}
        weights = cfg.get("weights") or {}
        chosen = [(names.get(i, f"provider #{i} (removed)"), weights.get(str(i))) for i in cfg.get("providers") or []]
    return DeliveryCard(
        sent_through=routing.sent_by_provider(c.id) if c.status != "draft" else [],
        failover=note,
        routing=cfg,
        chosen=chosen,
    )


def _sender(workspace_id: int, c: Campaign) -> SenderCheck:
    identity = identities.get_identity(workspace_id, c.identity_id) if c.identity_id else None
    domain = identities.sender_domain(workspace_id, c.from_email)
    signed = identities.signs(domain)
    copied = (c.from_name, c.from_email, c.reply_to)
    return SenderCheck(
        identity=identity,
        domain=domain,
        signed=signed,
        warn=not signed and c.status in ("draft", "scheduled", "sending", "paused"),
        stale=c.status == "draft" and identity is not None and identities.from_fields(identity) != copied,
        authentication=domains.authentication(workspace_id, c.from_email, _provider(workspace_id, c)),
        spread=identity_routing.spread_of(c) if not c.recurrence else [],
    )


def _provider(workspace_id: int, c: Campaign) -> Provider | None:
    if c.provider_id:
        return providers.get_provider(workspace_id, c.provider_id)
    return providers.default_provider(workspace_id)


def _recipients(c: Campaign, status: str | None, page: int) -> RecipientsPage:
    items, total = paginate(drafts.recipients_query(c.id, status), page, RECIPIENTS_PER_PAGE)
    return RecipientsPage(items=items, total=total, page=page, per_page=RECIPIENTS_PER_PAGE, status=status)


def _by_mailbox_provider(campaign_id: int) -> list[MailboxProviderRow]:
    """Recipients, sent, bounced and opened (by people, and raw) per mailbox provider group, the largest
    first, unknown last."""
    cr = CampaignRecipient
    rows = db.session.execute(
        select(
            cr.mailbox_provider,
            func.count(),
            func.count(cr.sent_at),
            func.coalesce(func.sum(case((cr.status == "bounced", 1), else_=0)), 0),
            func.count(cr.opened_at),
            func.count(cr.human_opened_at),
        )
        .where(cr.campaign_id == campaign_id)
        .group_by(cr.mailbox_provider)
    ).all()
    found = [MailboxProviderRow(g, mailbox_providers.group_label(g), *figures) for g, *figures in rows]
    return sorted(found, key=lambda r: (r.group is None, -r.recipients, r.label))
