"""A built message taken apart again, for the providers whose APIs take JSON fields, not raw MIME.

Herald builds every message once, as RFC 5322 bytes (app/services/content/mime.py), whatever the
provider; SendGrid v3 and Postmark want sender, recipient, subject and bodies as separate
fields. `split` reads them back with the stdlib parser, so RFC 2047 names and subjects,
folded headers and quoted-printable bodies come back as the text that was encoded.
"""

import email
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

# Headers a JSON API builds itself from its own fields, or must never receive as extras.
_OWN_FIELDS = frozenset({"from", "to", "cc", "bcc", "subject", "date", "mime-version", "message-id", "reply-to"})
# Extra headers worth carrying over: RFC 2369/8058 List-* (one-click unsubscribe), X-*, Gmail's Feedback-ID.
_FORWARDED_PREFIXES = ("list-", "x-")
_FORWARDED_NAMES = frozenset({"feedback-id"})


@dataclass
class MessageParts:
    from_email: str
    from_name: str
    to_email: str
    to_name: str
    subject: str
    html: str
    text: str
    reply_to: str | None = None  # the address only; its display name is in reply_to_name
    reply_to_name: str = ""
    message_id: str | None = None  # as in the header, with its angle brackets
    headers: dict[str, str] = field(default_factory=dict)


def split(raw: bytes) -> MessageParts:
    """The fields of a raw message: addresses, decoded subject, text and HTML bodies, forwardable headers."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    from_name, from_email = _first_address(msg, "From")
    to_name, to_email = _first_address(msg, "To")
    reply_name, reply_email = _first_address(msg, "Reply-To")
    message_id = msg.get("Message-ID")
    return MessageParts(
        from_email=from_email,
        from_name=from_name,
        to_email=to_email,
        to_name=to_name,
        subject=str(msg.get("Subject", "")),
        html=_body(msg, "html"),
        text=_body(msg, "plain"),
        reply_to=reply_email or None,
        reply_to_name=reply_name,
        message_id=str(message_id).strip() if message_id else None,
        headers=forwarded_headers(msg),
    )


def forwarded_headers(msg: EmailMessage) -> dict[str, str]:
    """The extra headers a JSON API should carry, decoded and unfolded, first occurrence of each name."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in msg.items():
        lower = name.lower()
        if lower in _OWN_FIELDS or lower.startswith("content-") or lower in seen:
            continue
        if lower.startswith(_FORWARDED_PREFIXES) or lower in _FORWARDED_NAMES:
            seen.add(lower)
            out[name] = str(value)
    return out


def _first_address(msg: EmailMessage, name: str) -> tuple[str, str]:
    """(display name, address) of the header's first address; ("", "") when absent or unreadable."""
    header = msg.get(name)
    if header is None:
        return "", ""
    addresses = getattr(header, "addresses", ())
    if not addresses:
        return "", ""
    addr = addresses[0]
    return addr.display_name or "", addr.addr_spec if addr.username else ""


def _body(msg: EmailMessage, subtype: str) -> str:
    """One alternative's text with LF line breaks (the APIs take JSON strings, not CRLF wire lines)."""
    part = msg.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except LookupError:  # a charset Python does not know: read it as UTF-8 rather than lose the body
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return content.replace("\r\n", "\n")
