"""Building a campaign's messages: compiled once per campaign, rendered and assembled per recipient."""

import re
import secrets
from collections import OrderedDict

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Link
from app.services.campaigns import ab_tests
from app.services.campaigns.send_checks import loyalty_of, subscriber_rows
from app.services.content.mime import MessageSkeleton
from app.services.content.rendering import CompiledMessage, build_context
from app.services.delivery import dkim, senders
from app.services.events.verdicts import HONEYPOT_POSITION
from app.services.tokens import TokenMaker

# One worker process sends many batches of the same campaign: compile once per campaign.
_compiled: "OrderedDict[tuple, CompiledMessage]" = OrderedDict()


def compiled_for(campaign: Campaign, variant=None) -> CompiledMessage:
    """The campaign's message compiled, or one A/B variant's (`variant`: a CampaignVariant)."""
    # send_round: a campaign resumed after its template failed may carry new content.
    key = (campaign.id, campaign.started_at, campaign.send_round, variant.id if variant else None)
    hit = _compiled.get(key)
    if hit is not None:
        _compiled.move_to_end(key)
        return hit
    snap = variant.snapshot if variant else campaign.snapshot
    rows = db.session.execute(select(Link.url, Link.id, Link.position).where(Link.campaign_id == campaign.id)).all()
    links = {url: link_id for url, link_id, _ in rows}
    trap = next((url for url, _, position in rows if position == HONEYPOT_POSITION), None)
    compiled = CompiledMessage(
        snap["subject"],
        with_honeypot(snap["body_html"], trap) if trap else snap["body_html"],
        snap.get("body_text"),
        snap.get("preview_text"),
        link_ids=links,
        track_opens=campaign.track_opens,
    )
    _compiled[key] = compiled
    while len(_compiled) > 32:
        _compiled.popitem(last=False)
    return compiled


# A flow's email: the recipient row's context (the trigger's event…), carried beside the person's fields
# and given to the template as its own names (`event`, `flow`).
FLOW_CONTEXT = "_flow_context"
_BODY_CLOSE = re.compile(r"</body\s*>", re.I)
_HONEYPOT = (
    '<a href="{}" style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden;mso-hide:all" '
    'aria-hidden="true" tabindex="-1"></a>'
)


def with_honeypot(html: str, url: str) -> str:
    """The HTML with a link no person sees or can reach by keyboard, last in the body: whatever
    follows it is a machine walking the message (events/verdicts.py)."""
    anchor = _HONEYPOT.format(url)
    closes = list(_BODY_CLOSE.finditer(html))
    at = closes[-1].start() if closes else len(html)
    return html[:at] + anchor + html[at:]


class MessageFactory:
    """Everything per message that is not the hand-off: context, render, MIME, DKIM signature."""

    def __init__(self, campaign: Campaign, extra_headers: dict):
        cfg = current_app.config
        self.campaign = campaign
        self.base = cfg["BASE_URL"]
        self.tokens = TokenMaker(cfg["SECRET_KEY"])
        self.compiled = compiled_for(campaign)
        self.extra_headers = extra_headers
        self.skeleton = MessageSkeleton(campaign.from_name, campaign.from_email, campaign.reply_to, extra_headers)
        self.mailto = cfg.get("UNSUBSCRIBE_MAILBOX")
        self.signer = dkim.signer_for(campaign.workspace_id, campaign.from_email)  # None: sent unsigned
        # A pool's identities: each keeps the campaign's display name with its own address, reply-to and key.
        self._senders: dict[int, senders.From | None] = {}
        self._as_identity: dict[tuple, tuple[MessageSkeleton, object]] = {}
        # An A/B test: each recipient gets their variant's message and from name, built once per variant.
        self.variants = None
        if campaign.ab_test:
            self.variants = ab_tests.MessageVariants(
                campaign,
                lambda v: (
                    compiled_for(campaign, v),
                    MessageSkeleton(v.snapshot["from_name"], campaign.from_email, campaign.reply_to, extra_headers),
                ),
            )

    def _parts(self, recipient_id: int) -> tuple[CompiledMessage, MessageSkeleton]:
        default = (self.compiled, self.skeleton)
        return self.variants.parts(recipient_id, default) if self.variants else default

    def sender(self, identity_id: int | None) -> "senders.From | None":
        """The From a pool chose for a row (looked up once per identity; None: the campaign's own)."""
        if identity_id is None:
            return None
        if identity_id not in self._senders:
            self._senders[identity_id] = senders.from_of([identity_id]).get(identity_id)
        return self._senders[identity_id]

    def _dressed(self, skeleton: MessageSkeleton, chosen: "senders.From") -> tuple[MessageSkeleton, object]:
        """The skeleton (with the display name it already has) as the chosen identity, and its signer."""
        key = (skeleton.from_name, chosen.identity_id)
        hit = self._as_identity.get(key)
        if hit is None:
            reply_to = chosen.reply_to or self.campaign.reply_to
            hit = self._as_identity[key] = (
                MessageSkeleton(skeleton.from_name, chosen.email, reply_to, self.extra_headers),
                dkim.signer_for(self.campaign.workspace_id, chosen.email),
            )
        return hit

    def prefetch(self, recipient_ids: list[int]) -> None:
        """Look up a claimed chunk's A/B variants in one query."""
        if self.variants:
            self.variants.prefetch(recipient_ids)

    def urls(self, recipient_id: int) -> dict:
        t = self.tokens.make
        return {
            "unsubscribe": f"{self.base}/u/{t('unsubscribe', recipient_id)}",
            "preferences": f"{self.base}/preferences/{t('preferences', recipient_id)}",
            "view": f"{self.base}/v/{t('view', recipient_id)}",
        }

    def render(self, recipient_id: int, subscriber: dict, for_browser: bool = False, encoded: bool = False):
        """The message for one recipient; `encoded`: its parts quoted-printable, for MessageSkeleton.build."""
        u = self.urls(recipient_id)
        extra = subscriber.get(FLOW_CONTEXT)
        if extra is not None:
            subscriber = {k: v for k, v in subscriber.items() if k != FLOW_CONTEXT}
        ctx = build_context(
            subscriber, self.campaign.name, u["unsubscribe"], u["preferences"], u["view"], extra, base_url=self.base
        )
        t = self.tokens.make
        pixel = None if for_browser else f"{self.base}/t/o/{t('open', recipient_id)}.gif"
        signed: dict[int, str] = {}  # each link appears in the HTML and the text part: sign it once

        def link_url(lid: int) -> str:
            url = signed.get(lid)
            if url is None:
                url = signed[lid] = f"{self.base}/t/c/{t('click', recipient_id, lid)}"
            return url

        compiled = self._parts(recipient_id)[0]
        render = compiled.render_encoded if encoded else compiled.render
        return render(ctx, link_url=link_url, pixel_url=pixel), u

    def build(self, recipient_id: int, subscriber: dict, chosen: "senders.From | None" = None) -> tuple[bytes, str]:
        """The message for one recipient (as `chosen`, the identity a pool gave them, if any), DKIM-signed
        when its From domain signs: (raw, Message-ID)."""
        rendered, u = self.render(recipient_id, subscriber, encoded=True)
        skeleton, signer = self._parts(recipient_id)[1], self.signer
        if chosen is not None:
            skeleton, signer = self._dressed(skeleton, chosen)
        message_id = f"<{self.campaign.id}.{recipient_id}.{secrets.token_hex(6)}@{skeleton.domain}>"
        unsub = f"<{u['unsubscribe']}>" + (f", <mailto:{self.mailto}?subject=unsubscribe>" if self.mailto else "")
        raw = skeleton.build(
            subscriber.get("name"),
            subscriber["email"],
            rendered.subject,
            rendered.html,
            rendered.text,
            message_id,
            {"List-Unsubscribe": unsub, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        if signer is not None:
            raw = signer.sign(raw)
        return raw, message_id


def recipient_view(recipient_id: int) -> tuple[str, Campaign] | None:
    """The message as this recipient received it, for the view-in-browser page (no pixel)."""
    rec = db.session.get(CampaignRecipient, recipient_id)
    if rec is None:
        return None
    campaign = db.session.get(Campaign, rec.campaign_id)
    if campaign is None or not campaign.snapshot:
        return None
    sub = subscriber_rows([rec.subscriber_id]).get(rec.subscriber_id) or {
        "id": 0,
        "email": rec.email,
        "name": None,
        "attributes": {},
        "loyalty": loyalty_of(None, None),
    }
    rendered, _ = MessageFactory(campaign, {}).render(rec.id, sub, for_browser=True)
    return rendered.html, campaign
