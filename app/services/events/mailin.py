"""Inbound mail (`flask mailin`): what comes back to a VERP return path.

Bounces (DSNs), complaints (ARF) and replies sent to `b+<ref>.<hmac>@<bounce domain>` reach this
SMTP listener. Each is stored as an InboundMessage, its events go through the same event log
and cascade as the providers' webhooks (provider_events.ingest), and a person's reply counts on
the campaign. Only addresses whose signature checks out are accepted, so nobody can forge a
bounce that suppresses a contact; a processing error answers 451, so the sending MTA keeps the
message and tries again (nothing is lost, and a retry counts once).
"""

import asyncio
import re
from dataclasses import dataclass, replace
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32

from aiosmtpd.controller import Controller
from flask import Flask, current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Campaign, CampaignRecipient, InboundMessage, Message
from app.providers import ProviderEvent
from app.providers.dsn import fingerprint, message_text, parse_report
from app.services.advisor import dmarc
from app.services.content.html_text import html_to_text
from app.services.delivery.mailcatcher import AdvertisesPipelining
from app.services.delivery.verp import read_return_path
from app.services.errors import NotFound
from app.services.events import provider_events

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # larger: 552 (a bounce returning a huge original gets trimmed upstream)
KEEP_RAW_BYTES = 1024 * 1024  # what an InboundMessage keeps of the raw message
MAX_RECIPIENTS = 50  # one report names one return path; a long list is not a report
MAX_SHOWN_TEXT = 100_000

_CAMPAIGN_REF = re.compile(r"c-(\d{1,12})-(\d{1,15})")
_MESSAGE_REF = re.compile(r"m-(\d{1,15})")


@dataclass
class Target:
    """The message a return path names, and where it belongs."""

    workspace_id: int
    email: str
    campaign_id: int | None = None
    recipient_id: int | None = None
    message_id: int | None = None
    provider_id: int | None = None


# Receiving ---------------------------------------------------------------------------------------


def receive(rcpt: str, mail_from: str, raw: bytes) -> InboundMessage:
    """Store and apply one message received for the return path `rcpt`, and commit: the
    listener's unit of work. Raises on failure, after rolling back (the listener answers 451)."""
    try:
        inbound = process_inbound(rcpt, mail_from, raw)
        db.session.commit()
        return inbound
    except Exception:
        db.session.rollback()
        raise


def process_inbound(rcpt: str, mail_from: str, raw: bytes) -> InboundMessage:
    """`receive` without the commit: parse, store, count, ingest the events; flushes."""
    ref = read_return_path(rcpt, current_app.config["SECRET_KEY"])
    if ref is None:
        raise ValueError(f"not a return path of ours: {rcpt!r}")
    target = resolve(ref)
    rcpt_to = rcpt.strip().strip("<>").lower()[:320]
    previous = _already_received(rcpt_to, target, raw)
    if previous is not None:  # the sender retried after a lost answer, or a second MX relayed it
        return previous
    report = parse_report(raw, ref, mail_from)
    inbound = InboundMessage(
        kind=report.kind if target else "unmatched",
        mail_from=(mail_from or "")[:320],
        rcpt_to=rcpt_to,
        from_header=report.from_header,
        subject=report.subject,
        # Unmatched rows keep what the message was, for the operator reading them.
        summary=report.summary if target else f"{report.kind} for {ref}, which no longer exists: {report.summary}",
        raw=bytes(raw[:KEEP_RAW_BYTES]),
        size=len(raw),
    )
    if target is not None:
        inbound.workspace_id = target.workspace_id
        inbound.campaign_id, inbound.recipient_id = target.campaign_id, target.recipient_id
        inbound.message_id = target.message_id
        _apply(target, report.events)
    db.session.add(inbound)
    db.session.flush()
    return inbound


def resolve(ref: str) -> Target | None:
    """The campaign recipient or transactional message a ref names, or None once it is deleted."""
    if m := _CAMPAIGN_REF.fullmatch(ref):
        row = db.session.execute(
            select(Campaign.workspace_id, CampaignRecipient.email, CampaignRecipient.provider_id)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(CampaignRecipient.id == int(m.group(2)), CampaignRecipient.campaign_id == int(m.group(1)))
        ).first()
        if row is None:
            return None
        return Target(row[0], row[1], int(m.group(1)), int(m.group(2)), provider_id=row[2])
    if m := _MESSAGE_REF.fullmatch(ref):
        row = db.session.execute(
            select(Message.workspace_id, Message.to_email, Message.provider_id).where(Message.id == int(m.group(1)))
        ).first()
        return Target(row[0], row[1], message_id=int(m.group(1)), provider_id=row[2]) if row else None
    return None


def _apply(target: Target, events: list[ProviderEvent]) -> None:
    """The events into the event log (and its cascade); a new reply counts on the campaign."""
    if not events:
        return

    events = attribute(events, target.email)
    result = provider_events.ingest(target.workspace_id, target.provider_id, events, source="mailin")
    # Counted from what the event log took as new, so a copy received twice at once counts once.
    if target.campaign_id and result.by_type.get("reply"):
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == target.campaign_id)
            .values(replies=Campaign.replies + 1)
            .execution_options(synchronize_session=False)
        )


def attribute(events: list[ProviderEvent], address: str) -> list[ProviderEvent]:
    """Events put on the recipient the return path names when the report names another address.

    The signed return path already proves which message a report is about, while the address in
    it may differ: a reply from the person's other address, a complaint whose recipient the
    mailbox provider redacted, a bounce for the alias the recipient forwards to. The event log
    takes an event only with the address the message went to, so those events are given ours,
    keeping the reported one in `data`. A DSN block about someone else entirely (neither its
    final nor its original recipient is ours) is left alone.
    """
    ours = address.strip().lower()
    out = []
    for ev in events:
        reported = (ev.email or "").strip().lower()
        original = str(ev.data.get("original_recipient") or "").strip().lower()
        about_us = ev.event_type in ("reply", "complaint") or ev.data.get("format") == "unstructured"
        if reported and reported != ours and (about_us or original == ours):
            ev = replace(ev, email=address, data={**ev.data, "reported_email": ev.email})
        out.append(ev)
    return out


def _already_received(rcpt_to: str, target: Target | None, raw: bytes) -> InboundMessage | None:
    """The row stored for the same message at the same return path before, if any."""
    stmt = select(InboundMessage).where(InboundMessage.rcpt_to == rcpt_to)
    if target is not None and target.campaign_id:
        stmt = stmt.where(InboundMessage.campaign_id == target.campaign_id)  # indexed: few rows to look at
    elif target is not None:
        stmt = stmt.where(InboundMessage.workspace_id == target.workspace_id)
    else:
        stmt = stmt.where(InboundMessage.workspace_id.is_(None))
    wanted = fingerprint(raw, rcpt_to)
    for row in db.session.scalars(stmt.order_by(InboundMessage.id).limit(50)):
        if fingerprint(row.raw, rcpt_to) == wanted:
            return row
    return None


# The listener ------------------------------------------------------------------------------------


class MailinHandler(AdvertisesPipelining):
    """aiosmtpd handler: accept mail for our return paths only, process it off the event loop."""

    def __init__(self, app: Flask):
        self.app = app
        self.secret = app.config["SECRET_KEY"]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if read_return_path(address, self.secret) is None and not self._is_rua(address):
            return "550 5.1.1 No such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        loop = asyncio.get_running_loop()
        try:
            # Database work blocks: a thread of the default executor, so other sessions go on.
            await loop.run_in_executor(None, self._receive_all, list(envelope.rcpt_tos), envelope.mail_from, raw)
        except Exception:
            self.app.logger.exception("mailin could not process a message from %r", envelope.mail_from)
            return "451 4.3.0 try again later"
        return "250 2.0.0 received"

    def _receive_all(self, rcpts: list[str], mail_from: str | None, raw: bytes) -> None:
        # Each return path is its own transaction: after a failure the sender retries them all,
        # and the ones already stored are recognised (see _already_received).
        with self.app.app_context():
            for rcpt in rcpts:
                if self._is_rua(rcpt):
                    receive_dmarc_report(raw)
                else:
                    receive(rcpt, _envelope_sender(mail_from), raw)

    def _is_rua(self, address: str) -> bool:
        """The address sending domains name in their DMARC record's rua= (aggregate reports)."""
        return address.strip().strip("<>").lower() == self.app.config["DMARC_RUA"].lower()


def receive_dmarc_report(raw: bytes) -> list:
    """A DMARC aggregate report mailed to the rua address (services/advisor/dmarc.py), committed."""
    try:
        stored = dmarc.receive_mail(raw)
        db.session.commit()
        return stored
    except Exception:
        db.session.rollback()
        raise


def _envelope_sender(mail_from: str | None) -> str:
    """The null sender (`MAIL FROM:<>`) as "", what bounces use."""
    value = (mail_from or "").strip()
    return "" if value in ("", "<>") else value


def start_mailin(app: Flask, host: str, port: int) -> Controller:
    controller = Controller(MailinHandler(app), hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES)
    controller.start()
    return controller


# Reading replies on the campaign page ------------------------------------------------------------


def campaign_replies(workspace_id: int, campaign_id: int, limit: int = 5) -> list[InboundMessage]:
    """The latest replies people sent to a campaign (automatic replies left out)."""
    return list(
        db.session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.campaign_id == campaign_id,
                InboundMessage.workspace_id == workspace_id,
                InboundMessage.kind == "reply",
            )
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)
        )
    )


def count_autoreplies(workspace_id: int, campaign_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count()).where(
                InboundMessage.campaign_id == campaign_id,
                InboundMessage.workspace_id == workspace_id,
                InboundMessage.kind == "autoreply",
            )
        )
        or 0
    )


def get_reply(workspace_id: int, campaign_id: int, inbound_id: int) -> InboundMessage:
    """One message received about a campaign, inside the workspace (another's id: NotFound)."""
    m = db.session.scalar(
        select(InboundMessage).where(
            InboundMessage.id == inbound_id,
            InboundMessage.workspace_id == workspace_id,
            InboundMessage.campaign_id == campaign_id,
        )
    )
    if m is None:
        raise NotFound("No such reply.")
    return m


def read_inbound(inbound: InboundMessage) -> dict:
    """Headers and readable text of a stored message, for display as text (never as HTML)."""

    msg = message_from_bytes(inbound.raw, policy=compat32)
    headers = [(name, _decoded(value)) for name, value in msg.items()[:100]]
    text = message_text(msg, html_to_text)
    return {"headers": headers, "text": text[:MAX_SHOWN_TEXT], "truncated": len(text) > MAX_SHOWN_TEXT}


def _decoded(value) -> str:
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded-word: shown as it came
        text = str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:2000]
