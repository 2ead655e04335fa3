"""The development mail catcher: what the 'outbox' provider sent, kept for the dashboard."""

import re
from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from app.extensions import db
from app.models import CaughtMessage
from app.services.errors import NotFound
from app.services.tokens import make_token, read_token

MAX_KEEP_BYTES = 5 * 1024 * 1024


def catcher_headers(workspace_id: int) -> dict:
    """The signed header by which the catcher files a message under its workspace (see below)."""
    return {"X-Herald-Outbox": make_token("outbox", workspace_id)}


def store_caught_message(mail_from: str, rcpt_tos: list[str], raw: bytes) -> CaughtMessage:
    """File a received message under the workspace its signed X-Herald-Outbox header names."""
    msg = BytesParser(policy=policy.default).parsebytes(raw[:MAX_KEEP_BYTES], headersonly=True)
    ids = read_token("outbox", str(msg.get("X-Herald-Outbox", "")).strip(), 1)
    caught = CaughtMessage(
        workspace_id=ids[0] if ids else None,
        mail_from=mail_from[:320],
        rcpt_to=", ".join(rcpt_tos)[:5000],
        subject=str(msg.get("Subject", ""))[:2000],
        message_id=str(msg.get("Message-ID", ""))[:255] or None,
        raw=raw[:MAX_KEEP_BYTES],
        size=len(raw),
    )
    db.session.add(caught)
    db.session.flush()
    return caught


def list_caught(workspace_id: int):
    return select(CaughtMessage).where(CaughtMessage.workspace_id == workspace_id).order_by(CaughtMessage.id.desc())


def get_caught(workspace_id: int, message_id: int) -> CaughtMessage:
    m = db.session.scalar(
        select(CaughtMessage).where(CaughtMessage.id == message_id, CaughtMessage.workspace_id == workspace_id)
    )
    if m is None:
        raise NotFound("No such message.")
    return m


_PIXEL_RE = re.compile(r'<img\b[^>]*\bsrc="[^"]*/t/o/[^"]+\.gif"[^>]*>', re.IGNORECASE)


def parse_caught(caught: CaughtMessage) -> dict:
    """Headers, text and HTML of a caught message, decoded for display.

    The open pixel is left out of the displayed HTML: a marketer looking at the outbox
    is not a recipient opening the message.
    """
    msg = BytesParser(policy=policy.default).parsebytes(caught.raw)
    html_part = msg.get_body(preferencelist=("html",))
    text_part = msg.get_body(preferencelist=("plain",))
    return {
        "headers": [(k, str(v)) for k, v in msg.items()],
        "html": _PIXEL_RE.sub("", html_part.get_content()) if html_part else None,
        "text": text_part.get_content() if text_part else None,
    }


def clear_outbox(workspace_id: int) -> int:
    from sqlalchemy import delete

    return db.session.execute(delete(CaughtMessage).where(CaughtMessage.workspace_id == workspace_id)).rowcount
