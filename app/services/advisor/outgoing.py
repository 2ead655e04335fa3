"""A campaign's message as it would go out, built for one sample recipient, for the advisor's checks.

The same pieces the send pipeline uses (messages.MessageFactory, send_checks.preflight): the
content it would freeze (the campaign's snapshot once sending, its template before), the
CompiledMessage with its tracked links, open pixel and preheader, the recipient's context
(build_context) and the MIME skeleton with List-Unsubscribe. The recipient is the first person the
campaign would really send to (send_checks.sample_recipients), or the sample person when its
audience is empty. Not DKIM-signed: the checks read content, and signing needs nothing of it.

An A/B test's variants are built the same way from their own content (variant_content): their frozen
snapshot once started, else their subject, from name, preview text and template over the campaign's.
shared_parts says which parts of the message a variant sends as the campaign does, so a check of a part
it shares is not repeated for it.

outgoing_message(workspace_id, campaign_id) -> Outgoing
sample_person(campaign) -> dict                                      whom the messages are built for
variant_content(campaign, variant, content) -> dict                  what a variant sends
shared_parts(campaign, content, variant_content) -> set[str]         PARTS a variant has in common
build_outgoing(campaign, content, person) -> Outgoing
"""

import secrets
from dataclasses import dataclass, field

from flask import current_app

from app.models import Campaign, CampaignVariant
from app.services.campaigns.drafts import get_campaign
from app.services.campaigns.messages import with_honeypot
from app.services.campaigns.recipients import honeypot_url
from app.services.campaigns.send_checks import sample_recipients
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import (
    PREVIEW_SECONDS,
    SAMPLE_SUBSCRIBER,
    CompiledMessage,
    TemplateProblem,
    build_context,
    extract_links,
    render_problem,
    time_limit,
)
from app.services.content.templates import get_template
from app.services.errors import ValidationError
from app.services.tokens import TokenMaker

SAMPLE_RECIPIENT_ID = 0  # the tokens of a message built for checking point at no real recipient
# The parts of a message a variant may change, by the content keys that make each.
PARTS = {
    "subject": ("subject",),
    "from": ("from_name",),
    "preheader": ("preview_text",),
    "body": ("body_html", "body_text"),
}


@dataclass
class Outgoing:
    subject: str
    html: str  # as sent: tracked links, open pixel, preheader block
    text: str  # the text part as sent (made from the HTML when the template has none of its own)
    preheader: str  # the preview text as rendered; "" when the template has none
    links: list[str] = field(default_factory=list)  # the links' real destinations, before click tracking
    html_untracked: str = ""  # the HTML with links to their real destinations (what link checks read)
    has_own_text: bool = False  # the template carries a text part of its own
    raw: bytes = b""  # the whole MIME message, headers and all
    recipient_email: str = ""


def campaign_content(campaign: Campaign) -> dict:
    """What the campaign sends: its frozen snapshot once started, else its template as it is now."""
    if campaign.snapshot:
        return campaign.snapshot
    tpl = get_template(campaign.workspace_id, campaign.template_id)
    return {
        "subject": tpl.subject,
        "body_html": tpl.body_html,
        "body_text": tpl.body_text,
        "preview_text": tpl.preview_text,
    }


def outgoing_message(workspace_id: int, campaign_id: int) -> Outgoing:
    """The campaign's message for its first real recipient (or the sample person); NotFound for
    another workspace's campaign, ValidationError with a sentence when its template fails."""
    campaign = get_campaign(workspace_id, campaign_id)
    return build_outgoing(campaign, campaign_content(campaign), sample_person(campaign))


def sample_person(campaign: Campaign) -> dict:
    """The first person the campaign would really send to, or the sample person when there is none."""
    people = sample_recipients(campaign, 1)
    return people[0] if people else dict(SAMPLE_SUBSCRIBER)


def variant_content(campaign: Campaign, variant: CampaignVariant, content: dict) -> dict:
    """What an A/B variant sends (`content`: the campaign's): its snapshot once frozen, else its own
    fields over the campaign's, its template's subject, preview text and body when it has one
    (as ab_tests.on_start will freeze it), and its from name."""
    if variant.snapshot:
        return variant.snapshot
    own = dict(content)
    if variant.template_id and variant.template_id != campaign.template_id:
        tpl = get_template(campaign.workspace_id, variant.template_id)
        own.update(subject=tpl.subject, body_html=tpl.body_html, body_text=tpl.body_text,
                   preview_text=tpl.preview_text, template_id=tpl.id)  # fmt: skip
    own["subject"] = variant.subject or own.get("subject")
    own["preview_text"] = variant.preview_text or own.get("preview_text")
    own["from_name"] = variant.from_name or campaign.from_name
    return own


def shared_parts(campaign: Campaign, content: dict, other: dict) -> set[str]:
    """The PARTS two contents send alike (the campaign's from name where one carries none)."""

    def value(c: dict, key: str):
        return (c.get(key) or campaign.from_name) if key == "from_name" else (c.get(key) or None)

    return {part for part, keys in PARTS.items() if all(value(content, k) == value(other, k) for k in keys)}


def build_outgoing(campaign: Campaign, content: dict, person: dict) -> Outgoing:
    """The message of `content` (the campaign's, or a variant's with its own from name) for `person`."""
    cfg = current_app.config
    base = cfg["BASE_URL"]
    t = TokenMaker(cfg["SECRET_KEY"]).make
    rid = SAMPLE_RECIPIENT_ID
    urls = {
        k: f"{base}/{p}/{t(k, rid)}" for k, p in (("unsubscribe", "u"), ("preferences", "preferences"), ("view", "v"))
    }
    ctx = build_context(person, campaign.name, urls["unsubscribe"], urls["preferences"], urls["view"], base_url=base)
    links = extract_links(content.get("body_html") or "")
    as_sent, link_ids = content, {}
    if campaign.track_clicks:  # as recipients.py and messages.compiled_for: links 1.. and the hidden trap
        trap = honeypot_url()
        as_sent = {**content, "body_html": with_honeypot(content.get("body_html") or "", trap)}
        link_ids = {trap: 1 + len(links), **{url: i for i, url in enumerate(links, 1)}}
    try:
        with time_limit(PREVIEW_SECONDS):
            compiled = _compiled(as_sent, link_ids, campaign.track_opens)
            sent = compiled.render(
                ctx,
                link_url=lambda lid: f"{base}/t/c/{t('click', rid, lid)}",
                pixel_url=f"{base}/t/o/{t('open', rid)}.gif",
            )
            untracked = _compiled(content, {}, False).render(ctx)
            preheader = compiled.preview_t.render(ctx) if compiled.preview_t else ""
    except TemplateProblem as exc:
        raise ValidationError(f"The template cannot be read: {exc.message}", {"template_id": exc.message}) from None
    except Exception as exc:  # a marketer's template failing for this person: theirs to see, as a sentence
        why = f"The template fails for {person.get('email')}: {render_problem(exc)}."
        raise ValidationError(why, {"template_id": why}) from None
    from_name = content.get("from_name") or campaign.from_name  # a variant may change it
    skeleton = MessageSkeleton(from_name, campaign.from_email, campaign.reply_to, {})
    unsub = f"<{urls['unsubscribe']}>"
    mailto = cfg.get("UNSUBSCRIBE_MAILBOX")
    if mailto:
        unsub += f", <mailto:{mailto}?subject=unsubscribe>"
    raw = skeleton.build(
        person.get("name"),
        person["email"],
        sent.subject,
        sent.html,
        sent.text,
        f"<{campaign.id}.check.{secrets.token_hex(6)}@{skeleton.domain}>",
        {"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    return Outgoing(
        subject=sent.subject,
        html=sent.html,
        text=sent.text,
        preheader=preheader.strip(),
        links=links,
        html_untracked=untracked.html,
        has_own_text=bool((content.get("body_text") or "").strip()),
        raw=raw,
        recipient_email=person["email"],
    )


def _compiled(content: dict, link_ids: dict, track_opens: bool) -> CompiledMessage:
    return CompiledMessage(
        content.get("subject"),
        content.get("body_html"),
        content.get("body_text"),
        content.get("preview_text"),
        link_ids=link_ids,
        track_opens=track_opens,
    )
