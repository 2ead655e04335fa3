"""A campaign rendered for real people before and while it sends.

The send engine (sending.py, messages.py) builds each message from `subscriber_rows`; here the same
rows feed the check a campaign must pass before it starts (`preflight`: the template rendered
for a few of its real recipients, a failure refused as a sentence) and the pause of a send
whose first renders all fail (`pause_if_template_fails`). `render_failure` is the sentence a
recipient's row carries when its message could not be rendered: never an exception repr.
"""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import exists, func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, LoyaltyAccount, Subscriber, Suppression
from app.models.campaign import skipped
from app.services.campaigns import audience
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import (
    PREVIEW_SECONDS,
    CompiledMessage,
    TemplateProblem,
    build_context,
    render_problem,
    time_limit,
)
from app.services.errors import ValidationError

RENDER_FAILED = "The template failed for this recipient: "  # the start of a render failure's reason
PREFLIGHT_SAMPLE = 5  # real recipients a campaign is rendered for before it may start
RENDER_PAUSE_AFTER = 20  # a campaign whose first renders all fail (this many, or all it has) is paused
RENDER_PAUSED = "Paused: the template failed for"  # the start of that pause's last_error
_cr = CampaignRecipient.__table__
_sub = Subscriber.__table__
_la = LoyaltyAccount.__table__


def subscriber_rows(ids: list[int]) -> dict[int, dict]:
    """What a message is rendered from, for each subscriber id: email, name, attributes, timezone, and
    `loyalty` (loyalty_of: joined in, no query more)."""
    rows = db.session.execute(
        select(_sub.c.id, _sub.c.email, _sub.c.name, _sub.c.attributes, _sub.c.timezone, _la.c.balance, _la.c.tier)
        .select_from(_sub.outerjoin(_la, _la.c.subscriber_id == _sub.c.id))
        .where(_sub.c.id.in_(ids))
    ).all()
    return {
        r.id: {"id": r.id, "email": r.email, "name": r.name, "attributes": r.attributes or {}, "timezone": r.timezone,
               "loyalty": loyalty_of(r.balance, r.tier)}
        for r in rows
    }  # fmt: skip


def loyalty_of(points: int | None, tier: str | None) -> dict:
    """`subscriber.loyalty` in a template: {points, tier}; a person without an account has 0 points."""
    return {"points": points or 0, "tier": tier}


def render_failure(exc: Exception) -> str:
    """The reason recorded for a recipient whose message could not be rendered."""
    return f"{RENDER_FAILED}{render_problem(exc)}."[:500]


def sample_recipients(campaign: Campaign, n: int = PREFLIGHT_SAMPLE) -> list[dict]:
    """Up to `n` people the campaign would really send to (active, not suppressed), as the pipeline sees them."""
    sup = Suppression.__table__
    in_audience = audience.condition(campaign.workspace_id, audience.of_campaign(campaign.id))
    suppressed = exists().where(sup.c.workspace_id == _sub.c.workspace_id, sup.c.email == _sub.c.email)
    ids = db.session.scalars(
        select(_sub.c.id).where(in_audience, _sub.c.status == "active").where(~suppressed).order_by(_sub.c.id).limit(n)
    ).all()
    people = subscriber_rows(list(ids)) if ids else {}
    return [people[i] for i in ids if i in people]


def preflight(campaign: Campaign, contents: list[dict]) -> None:
    """Render each content (the campaign's, each A/B variant's) for a few real recipients before
    the campaign may start; raise ValidationError with the first failure as a sentence."""
    people = sample_recipients(campaign)
    for content in contents:
        try:
            compiled = CompiledMessage(
                content.get("subject"),
                content.get("body_html"),
                content.get("body_text"),
                content.get("preview_text"),
                track_opens=campaign.track_opens,
            )
        except TemplateProblem as exc:
            why = f"Nothing was sent: the template cannot be read ({exc.message}). Fix it, then try again."
            raise ValidationError(why, {"template_id": why}) from None
        for person in people:
            try:
                _trial_build(campaign, compiled, person, content.get("from_name") or campaign.from_name)
            except Exception as exc:  # a marketer's template failing for real data: theirs to see
                why = (
                    f"Nothing was sent: the template fails for {person['email']}: {render_problem(exc)}. "
                    "Fix the template (or this subscriber's data), then try again."
                )[:1000]
                raise ValidationError(why, {"template_id": why}) from None


def _trial_build(campaign: Campaign, compiled: CompiledMessage, person: dict, from_name: str) -> bytes:
    """One message as the send pipeline would build it, within the preview's time limit."""
    base = current_app.config["BASE_URL"]
    ctx = build_context(person, campaign.name, f"{base}/u/x", f"{base}/preferences/x", f"{base}/v/x", base_url=base)
    with time_limit(PREVIEW_SECONDS):
        rendered = compiled.render_encoded(ctx, link_url=lambda _lid: base, pixel_url=f"{base}/t/o/x.gif")
    skeleton = MessageSkeleton(from_name, campaign.from_email, campaign.reply_to, {})
    return skeleton.build(person.get("name"), person["email"], rendered.subject, rendered.html, rendered.text, "<x@x>")


def pause_if_template_fails(campaign_id: int, failed: list[dict]) -> None:
    """After a chunk that sent nobody (`failed`: its failures' rows), pause a campaign whose first
    renders all failed: the template is broken for everyone, and sending on would only fail the
    whole audience. The reason goes on its page; commits."""
    example = next((f["why"] for f in failed if (f["why"] or "").startswith(RENDER_FAILED)), None)
    if example is None:
        return
    sent_any = db.session.scalar(select(exists().where(_cr.c.campaign_id == campaign_id, _cr.c.sent_at.is_not(None))))
    if sent_any:
        return
    failures = db.session.scalar(
        select(func.count()).where(_cr.c.campaign_id == campaign_id, _cr.c.reason.startswith(RENDER_FAILED))
    )
    reachable = db.session.scalar(select(func.count()).where(_cr.c.campaign_id == campaign_id, ~skipped(_cr.c.reason)))
    if failures < min(RENDER_PAUSE_AFTER, reachable):
        return
    why = (
        f"{RENDER_PAUSED} the first {failures} recipients, so nothing was sent and the campaign was paused. "
        f"{example[len(RENDER_FAILED) :][:1].upper()}{example[len(RENDER_FAILED) + 1 :]} Fix the template, then "
        "resume: Herald checks it again and sends the template as it is then, to these people too."
    )
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "sending")
        .values(status="paused", paused_at=datetime.now(timezone.utc), last_error=why[:2000])
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
