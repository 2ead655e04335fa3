"""Which From address each campaign recipient row goes out as, in SQL and in a send batch.

A row's `identity_id` names the identity a pool chose for that person (identity_routing.py); a row
without one goes out as the campaign's own From. Warming (by the row's domain), health (a domain's
window) and the provider-event cascade (which domain a bounce counts against) read the row's From
domain through these helpers, so each of them agrees with what the message really said.
"""

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, SendingDomain, SendingIdentity

_cr = CampaignRecipient.__table__


@dataclass(frozen=True)
class From:
    """What one identity puts on a message: its address, its reply-to and its domain (as stored, IDNA)."""

    identity_id: int
    email: str
    reply_to: str | None
    domain: str


def identities_on(workspace_id: int, domain: str):
    """The ids of the workspace's identities on `domain` (a subquery)."""
    return (
        select(SendingIdentity.id)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingDomain.workspace_id == workspace_id, SendingDomain.domain == domain)
    )


def campaigns_from(workspace_id: int, domain: str):
    """The ids of the workspace's campaigns whose own From is on `domain` (a subquery)."""
    return select(Campaign.id).where(
        Campaign.workspace_id == workspace_id,
        func.lower(Campaign.from_email).endswith("@" + domain, autoescape=True),
    )


def rows_from(workspace_id: int, domain: str, rows=_cr):
    """Recipient rows sent (or to be sent) from `domain`: chosen identities on it, or no chosen
    identity and the campaign's own From on it. `rows`: the recipients table or an alias of it."""
    return or_(
        rows.c.identity_id.in_(identities_on(workspace_id, domain)),
        and_(rows.c.identity_id.is_(None), rows.c.campaign_id.in_(campaigns_from(workspace_id, domain))),
    )


def assigned(campaign_id: int) -> list[int]:
    """The identities a pool chose for this campaign's rows (empty: every row goes out as the campaign's From)."""
    return list(
        db.session.scalars(
            select(_cr.c.identity_id)
            .where(_cr.c.campaign_id == campaign_id, _cr.c.identity_id.is_not(None))
            .group_by(_cr.c.identity_id)
        )
    )


def from_of(identity_ids) -> dict[int, From]:
    """{identity id: From} for the ids that still exist (one deleted since: its rows go out as the campaign's From)."""
    ids = [i for i in set(identity_ids) if i is not None]
    if not ids:
        return {}
    rows = db.session.execute(
        select(SendingIdentity.id, SendingIdentity.email, SendingIdentity.reply_to, SendingDomain.domain)
        .join(SendingDomain, SendingDomain.id == SendingIdentity.sending_domain_id)
        .where(SendingIdentity.id.in_(ids))
    ).all()
    return {i: From(i, email, reply_to, domain) for i, email, reply_to, domain in rows}


def domains_of(identity_ids) -> dict[str, list[int]]:
    """{domain: [identity ids on it]} for the given identities."""
    out: dict[str, list[int]] = {}
    for sender in from_of(identity_ids).values():
        out.setdefault(sender.domain, []).append(sender.identity_id)
    return out
