"""Mail that comes back to a VERP return path, read into normalized events.

- RFC 3464 delivery status notifications (`multipart/report; report-type=delivery-status`):
  one event per recipient block (bounce, delivery_delay or delivery);
- RFC 5965 ARF complaint reports (`report-type=feedback-report`): one complaint;
- bounces that follow no standard (qmail, old Exchange): one best-effort bounce, soft unless the
  text carries a clear SMTP code;
- anything else is a person's reply or an automatic one (out of office and the like).

Pure parsing: nothing here touches the database, and `parse_report` never raises, because a
message that cannot be read must still be stored and shown rather than bounced back.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from app.providers import ProviderEvent, bounce_text
from app.providers.bounce_text import FAILURE_WORDS, ORIGINAL_MARKER, is_mail_system, real_address
from app.providers.bounces import ENHANCED_RE, PERMANENT, classify, decisive_code, specific_code

# A report's machine-readable parts come before the returned original: the first megabytes hold
# everything we read, and parsing no more keeps a 10 MB bounce cheap.
MAX_PARSE_BYTES = 2 * 1024 * 1024
# What the event id hashes when a message has no Message-ID: less than any stored copy keeps.
FINGERPRINT_BYTES = 256 * 1024
MAX_TEXT = 1000  # a diagnostic, a header value kept in an event
MAX_SUMMARY = 500
MAX_DATA = 200  # each value in ProviderEvent.data

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
FEEDBACK_TYPES = ("message/feedback-report",)
ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")

# RFC 5965 §7.3 feedback types that mean "this person does not want this mail".
COMPLAINT_FEEDBACK = ("abuse", "fraud", "virus", "other", "")
DSN_ACTIONS = {
    "failed": "bounce",
    # Not RFC 3464, but written by some MTAs: "failure" for failed, "expired" for gave up after retrying.
    "failure": "bounce",
    "expired": "bounce",
    "delayed": "delivery_delay",
    "delivered": "delivery",
    "relayed": "delivery",
    "expanded": "delivery",
}

_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification|fail|has failed|problem|incomplete|report|notification)|"
    r"returned mail|failure notice|mail delivery (?:failed|failure)|could not be delivered|non[- ]?deliver|"
    r"mail system error|delivery delayed|delayed mail|warning: message .* delayed",
    re.I,
)
_DELAY_TEXT = re.compile(r"\bdelayed\b|will (?:continue|keep) (?:trying|to try)|not yet been delivered", re.I)
# An SMTP reply code as it appears in a diagnostic: at a line start or after a space or "said:",
# followed by a space, a hyphen or the end. An octet of an IP address ("74.208.41.59") never matches.
# Yahoo writes "554: delivery error", hence the colon after the code.
_REPLY_CODE = re.compile(r"(?:^|[\s:(\[])([245]\d\d)(?=[\s:-]|$)", re.M)
_MESSAGE_ID_LINE = re.compile(r"^message-id:\s*(<[^<>\s]+>)", re.I | re.M)
_MSGID = re.compile(r"<[^<>\s]+>")
_AUTOREPLY_SUBJECT = re.compile(
    r"out of (?:the )?office|out-of-office|\booof?\b|auto(?:matic)?[- ]?(?:reply|response|antwort)|"
    r"autoreply|away from (?:the |my )?office|on vacation|vacation (?:reply|notice)|abwesenheit|"
    r"absence|r[ée]ponse automatique|respuesta autom[áa]tica",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")


@dataclass
class Report:
    kind: str  # dsn | arf | reply | autoreply
    summary: str  # one line for lists and logs
    original_message_id: str | None = None  # the Message-ID of what we sent, when the report names it
    events: list[ProviderEvent] = field(default_factory=list)
    subject: str | None = None  # the incoming message's own Subject and From, decoded
    from_header: str | None = None


def parse_report(raw: bytes, ref: str | None, mail_from: str | None = None) -> Report:
    """Read a message received at a return path. `mail_from` is the SMTP envelope sender when
    known ("" or "<>" for the null sender that bounces use)."""
    try:
        return _parse(bytes(raw), ref, mail_from)
    except Exception as exc:  # never raise: the message is still stored, with a summary saying why
        return Report("reply", _cap(f"unparseable message ({type(exc).__name__}), {len(raw)} bytes", MAX_SUMMARY))


def fingerprint(raw: bytes, ref: str | None) -> str:
    """A stable id for one message received for one ref: the same report delivered twice (a
    retry, a second MX) has the same fingerprint, so its events count once."""
    head, body = _split_raw(raw[: FINGERPRINT_BYTES * 2])
    msg_id = _MESSAGE_ID_LINE.search(head.decode("ascii", "replace"))
    # The Message-ID survives relays that add Received headers; without one, hash the body only.
    basis = msg_id.group(1).encode() if msg_id else b"body:" + body.replace(b"\r\n", b"\n")[:FINGERPRINT_BYTES]
    return hashlib.sha256((ref or "").encode() + b"\n" + basis).hexdigest()


def _parse(raw: bytes, ref: str | None, mail_from: str | None) -> Report:
    msg = message_from_bytes(raw[:MAX_PARSE_BYTES], policy=compat32)
    subject, from_header = _header(msg, "Subject"), _header(msg, "From")
    if not any(msg.get(h) for h in ("From", "Subject", "Message-ID", "Date", "Content-Type")):
        return Report("reply", f"unparseable message: no headers, {len(raw)} bytes")
    base = fingerprint(raw, ref)
    status = _find_part(msg, STATUS_TYPES)
    if status is not None:
        report = _dsn(msg, status, ref, base)
    elif (feedback := _find_part(msg, FEEDBACK_TYPES)) is not None:
        report = _arf(msg, feedback, ref, base)
    elif _from_mail_system(msg, mail_from, from_header):
        report = _system_message(msg, ref, base, subject or "", from_header or "")
    elif _BOUNCE_SUBJECT.search(subject or "") and _reply_code(_human_text(msg)) is not None:
        report = _plain_bounce(msg, ref, base)  # an NDR from an address that looks like anyone's
    elif _is_autoreply(msg, subject or ""):
        report = Report("autoreply", _cap(f"automatic reply from {from_header or '?'}: {subject or ''}", MAX_SUMMARY))
        report.original_message_id = _first_msgid(msg.get("In-Reply-To"))
    else:
        report = _reply(msg, ref, base, subject, from_header)
    report.subject, report.from_header = subject, from_header
    return report


# RFC 3464 ----------------------------------------------------------------------------------------


def _dsn(msg: Message, status: Message, ref: str | None, base: str) -> Report:
    per_message, recipients = _status_blocks(status)
    original = _original_message_id(msg)
    if not recipients:  # a status part with no per-recipient block: the text says what failed
        report = _plain_bounce(msg, ref, base)
        report.summary = _cap("report without recipient blocks, read from its text: " + report.summary, MAX_SUMMARY)
        return report
    fallback = _FallbackAddress(msg)
    events = [_dsn_event(block, per_message, i, ref, original, base, fallback) for i, block in enumerate(recipients)]
    lines = [f"{e.raw_type[4:]} {e.enhanced or ''} {e.email or '?'}: {e.diagnostic or ''}".strip() for e in events]
    return Report("dsn", _cap("; ".join(" ".join(s.split()) for s in lines), MAX_SUMMARY), original, events)


class _FallbackAddress:
    """The failed address from outside a recipient block that names none, looked for once:
    X-Failed-Recipients (one address), the text's failure lines, the original's one To."""

    def __init__(self, msg: Message):
        self.msg = msg
        self._found: str | None | bool = False

    def get(self) -> str | None:
        if self._found is False:
            failed = bounce_text.addresses_of(self.msg, "X-Failed-Recipients")
            self._found = next(iter(failed)) if len(failed) == 1 else _text_address(self.msg, _human_text(self.msg))
        return self._found


def _status_blocks(part: Message) -> tuple[dict, list[dict]]:
    """(per-message fields, [per-recipient fields]) of a delivery-status part, keys lower case."""
    payload = part.get_payload()
    if isinstance(payload, list) and part.get_content_type() == "message/delivery-status":
        blocks = [_fields_of(b) for b in payload if isinstance(b, Message)]
    else:  # global-delivery-status, or a part the parser left as text: split the blocks ourselves
        blocks = [_fields_of(message_from_string(b, policy=compat32)) for b in re.split(r"\n\s*\n", _text_of(part))]
    blocks = [b for b in blocks if b]
    if not blocks:
        return {}, []
    per_message = {} if _is_recipient_block(blocks[0]) else blocks[0]
    return per_message, [b for b in blocks if _is_recipient_block(b)]


def _is_recipient_block(block: dict) -> bool:
    return "final-recipient" in block or "original-recipient" in block or "action" in block


def _dsn_event(block: dict, per_message: dict, i: int, ref, original, base: str, fallback) -> ProviderEvent:
    diagnostic = _strip_type(block.get("diagnostic-code")) or None
    enhanced = decisive_code(_enhanced(block.get("status")), diagnostic)
    code = _reply_code(diagnostic)
    action = (block.get("action") or "").lower().split(" ")[0].strip("();")
    if action not in DSN_ACTIONS:  # missing or unknown: the status class says what happened
        action = {"5": "failed", "4": "delayed", "2": "delivered"}.get((enhanced or "")[:1], action or "unknown")
    event_type = DSN_ACTIONS.get(action, "unknown")
    final = _address(_strip_type(block.get("final-recipient")))
    # Original-Recipient is the address as the sender gave it (Herald's); Final-Recipient may be an alias.
    email = _address(_strip_type(block.get("original-recipient"))) or final or fallback.get()
    data = {
        "reporting_mta": _strip_type(per_message.get("reporting-mta")),
        "remote_mta": _strip_type(block.get("remote-mta")),
        "original_recipient": _strip_type(block.get("original-recipient")),
        "final_recipient": final if final and final != email else None,
        "will_retry_until": block.get("will-retry-until"),
    }
    return ProviderEvent(
        event_id=f"{base}:{i}",
        event_type=event_type,
        raw_type=f"dsn/{action}"[:40],
        email=email,
        occurred_at=_date(block.get("last-attempt-date")) or _date(per_message.get("arrival-date")),
        ref=ref,
        message_id=original,
        bounce_type=classify(code, enhanced, diagnostic) if event_type == "bounce" else None,
        smtp_code=code,
        enhanced=enhanced,
        diagnostic=_cap(diagnostic, MAX_TEXT),
        data={k: _cap(v, MAX_DATA) for k, v in data.items() if v},
    )


def _enhanced(status: str | None) -> str | None:
    m = ENHANCED_RE.search(status or "")
    return ".".join(m.groups()) if m else None


# RFC 5965 ----------------------------------------------------------------------------------------


def _arf(msg: Message, feedback: Message, ref: str | None, base: str) -> Report:
    fields = _fields_of(_first_message(feedback) or message_from_string(_text_of(feedback), policy=compat32))
    feedback_type = (fields.get("feedback-type") or "").lower().strip()
    original = _original_message(msg)
    reporter = _domain(_address(msg.get("From"))) or _strip_type(fields.get("reporting-mta"))
    data = {
        "feedback_type": feedback_type or None,
        "user_agent": fields.get("user-agent"),
        "source_ip": fields.get("source-ip"),
        "reporter": reporter,
        "reported_domain": fields.get("reported-domain"),
        "original_mail_from": _address(fields.get("original-mail-from")),
    }
    # not-spam and auth-failure (DMARC failure reports) are reports, not a person complaining.
    event_type = "complaint" if feedback_type in COMPLAINT_FEEDBACK else "unknown"
    event = ProviderEvent(
        event_id=f"{base}:0",
        event_type=event_type,
        raw_type=f"arf/{feedback_type or 'unknown'}"[:40],
        email=_complainer(fields, original),
        occurred_at=_date(fields.get("arrival-date") or fields.get("received-date")),
        ref=ref,
        message_id=_first_msgid(original.get("Message-ID")) if original is not None else None,
        data={k: _cap(v, MAX_DATA) for k, v in data.items() if v},
    )
    summary = f"complaint ({feedback_type or 'no type'}) from {reporter or '?'} about {event.email or '?'}"
    return Report("arf", _cap(summary, MAX_SUMMARY), event.message_id, [event])


def _complainer(fields: dict, original: Message | None) -> str | None:
    """Who complained: Original-Rcpt-To, Hotmail's X-HmXmrOriginalRecipient, else the original's
    To; an address the feedback loop redacted is no address (the VERP return path still names them)."""
    candidates = [fields.get("original-rcpt-to")]
    if original is not None:
        candidates += [original.get("X-HmXmrOriginalRecipient"), original.get("To")]
    for value in candidates:
        if found := real_address(_address(value)):
            return found
    return None


# Mail from a mail system, and bounces that follow no standard ------------------------------------


def _from_mail_system(msg: Message, mail_from: str | None, from_header: str) -> bool:
    """A mailer-daemon, a postmaster, Exchange's notices, or the null sender: never a person's reply."""
    null_sender = (mail_from is not None and mail_from.strip() in ("", "<>")) or (
        (msg.get("Return-Path") or "").strip() in ("<>", "<MAILER-DAEMON>")
    )
    return null_sender or is_mail_system(from_header)


def _system_message(msg: Message, ref: str | None, base: str, subject: str, from_header: str) -> Report:
    """A mail system's message that is no RFC 3464/5965 report: a bounce when it reads as one,
    else an automatic message (a null-sender vacation notice, a ticket acknowledgement)."""
    text = _human_text(msg)
    evidence = (
        _BOUNCE_SUBJECT.search(subject)
        or FAILURE_WORDS.search(text)
        or specific_code(text)  # an enhanced status code; a bare number ("call 555 1234") is no evidence
        or msg.get("X-Failed-Recipients")
    )
    if evidence:
        return _plain_bounce(msg, ref, base)
    if is_mail_system(from_header):  # a mail system that reports nothing: no event, and no reply either
        return Report("dsn", _cap(f"notice from {from_header}: {subject or '(no subject)'}", MAX_SUMMARY))
    report = Report("autoreply", _cap(f"automatic message from {from_header or '?'}: {subject}", MAX_SUMMARY))
    report.original_message_id = _first_msgid(msg.get("In-Reply-To"))
    return report


def _plain_bounce(msg: Message, ref: str | None, base: str) -> Report:
    text = _human_text(msg)
    enhanced = specific_code(text)
    line = _line_with(text, _reply_code(text), enhanced)
    code = _reply_code(line) or _reply_code(text)
    failed = bounce_text.addresses_of(msg, "X-Failed-Recipients")
    email = next(iter(failed)) if len(failed) == 1 else _text_address(msg, text)
    delayed = (code is None or code < 500) and (enhanced or "4")[0] == "4" and bool(_DELAY_TEXT.search(text))
    # Without a code, a bounce is undetermined (soft, deliverability.md §7.2) unless its words say it
    # gave up on an address that does not exist, or refused the sender.
    bounce_type = classify(code, enhanced, text, permanent=bool(PERMANENT.search(text)))
    event = ProviderEvent(
        event_id=f"{base}:0",
        event_type="delivery_delay" if delayed else "bounce",
        raw_type="bounce/delayed" if delayed else "bounce/unstructured",
        email=email,
        ref=ref,
        message_id=_original_message_id(msg) or _message_id_in_text(msg),
        bounce_type=None if delayed else bounce_type,
        smtp_code=code,
        enhanced=enhanced,
        diagnostic=_cap(line, MAX_TEXT),
        data={"format": "unstructured"},
    )
    what = "delayed" if delayed else "failed"
    summary = f"{what} {enhanced or code or 'no code'} {event.email or '?'}: {line or 'no SMTP reply in the bounce'}"
    return Report("dsn", _cap(" ".join(summary.split()), MAX_SUMMARY), event.message_id, [event])


def _text_address(msg: Message, text: str) -> str | None:
    """The failed address a bounce's text names, never its own, the sender's or a Message-ID;
    else the returned original's To when it had one recipient."""
    original = _original_message(msg) or bounce_text.quoted_original(message_text(msg))
    exclude = bounce_text.addresses_of(msg, "From", "To", "Delivered-To", "X-Original-To", "Return-Path")
    exclude |= bounce_text.addresses_of(original, "From", "Sender", "Reply-To", "Return-Path")
    ids = bounce_text.message_ids_of(msg) | bounce_text.message_ids_of(original)
    found = bounce_text.failed_address(text, exclude, ids) or bounce_text.single_recipient(original, exclude)
    return _cap(found, 320)


def _human_text(msg: Message) -> str:
    """A bounce's own explanation, without the returned original that follows it."""
    text = message_text(msg)
    marker = ORIGINAL_MARKER.search(text)
    return text[: marker.start()] if marker else text[:20_000]


def _line_with(text: str, code: int | None, enhanced: str | None) -> str | None:
    needle = enhanced or (str(code) if code else None)
    if needle is None:
        return None
    for line in text.splitlines():
        if needle in line:
            return " ".join(line.split())
    return None


def _message_id_in_text(msg: Message) -> str | None:
    """The original's Message-ID quoted in the bounce's text (qmail returns it inline)."""
    whole = message_text(msg)
    own = _first_msgid(msg.get("Message-ID"))
    for m in _MESSAGE_ID_LINE.finditer(whole):
        if m.group(1) != own:
            return m.group(1)
    return None


# Replies -----------------------------------------------------------------------------------------


def _is_autoreply(msg: Message, subject: str) -> bool:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":  # auto-replied, auto-generated, auto-notified (RFC 3834, 5436)
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = (msg.get(name) or "").strip().lower()
        if value and value not in ("no", "false", "0"):
            return True
    if (msg.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTOREPLY_SUBJECT.search(subject))


def _reply(msg: Message, ref: str | None, base: str, subject: str | None, from_header: str | None) -> Report:
    event = ProviderEvent(
        event_id=f"{base}:0",
        event_type="reply",
        raw_type="reply",
        email=_address(from_header),
        occurred_at=_date(msg.get("Date")),
        ref=ref,
        message_id=_first_msgid(msg.get("In-Reply-To")),
        data={"subject": _cap(subject, MAX_DATA)} if subject else {},
    )
    summary = f"reply from {from_header or '?'}: {subject or '(no subject)'}"
    return Report("reply", _cap(summary, MAX_SUMMARY), event.message_id, [event])


# Reading MIME ------------------------------------------------------------------------------------


def _walk(msg: Message):
    """Every part of the message itself, not descending into attached messages (a returned
    original may be a report of its own)."""
    yield msg
    if msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), list):
        for part in msg.get_payload():
            if isinstance(part, Message):
                yield from _walk(part)


def _find_part(msg: Message, types: tuple[str, ...]) -> Message | None:
    return next((p for p in _walk(msg) if p.get_content_type() in types), None)


def _first_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _original_message(msg: Message) -> Message | None:
    """The returned original (whole, or its headers only), as a message to read headers from."""
    part = _find_part(msg, ORIGINAL_TYPES)
    if part is None:
        return None
    return _first_message(part) or message_from_string(_text_of(part), policy=compat32)


def _original_message_id(msg: Message) -> str | None:
    original = _original_message(msg)
    return _first_msgid(original.get("Message-ID")) if original is not None else None


def message_text(msg: Message, html_to_text: Callable[[str], str] | None = None) -> str:
    """The readable text of a message: its first text/plain part, else its HTML made text
    (by `html_to_text`, or by dropping the tags)."""
    html = None
    for part in _walk(msg):
        ctype = part.get_content_type()
        if part.get("Content-Disposition", "").lower().startswith("attachment"):
            continue
        if ctype == "text/plain":
            return _text_of(part)
        if ctype == "text/html" and html is None:
            html = _text_of(part)
    if not html:
        return ""
    return html_to_text(html) if html_to_text else _TAG.sub(" ", html)


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:  # message/* parts: the parser's list, back to text
        inner = part.get_payload()
        if isinstance(inner, list):
            return "\n".join(m.as_string() for m in inner if isinstance(m, Message))
        return _clean(inner if isinstance(inner, str) else "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _fields_of(block: Message) -> dict:
    """A header block as {lower-case name: unfolded value}; the first of repeated fields wins."""
    out: dict[str, str] = {}
    for name, value in block.items():
        out.setdefault(name.lower().strip(), " ".join(_clean(str(value)).split()))
    return out


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded-word: show it as it came
        text = str(value)
    return _cap(" ".join(_clean(text).split()), 998) or None


# Small values ------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Undecodable bytes the parser kept as surrogates, as replacement characters (a database
    cannot store surrogates); NUL characters out."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")


def _cap(text: str | None, n: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[: n - 1] + "…"


def _strip_type(value: str | None) -> str:
    """`rfc822; user@example.com` -> `user@example.com`, `smtp; 550 ...` -> `550 ...`."""
    if not value:
        return ""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and re.fullmatch(r"\s*[\w.-]+\s*", kind) else value.strip()


def _address(value: str | None) -> str | None:
    if not value:
        return None
    for _, addr in getaddresses([value]):
        if "@" in addr:
            return _cap(addr.strip(), 320)
    return None


def _domain(address: str | None) -> str | None:
    return address.rpartition("@")[2].lower() if address else None


def _first_msgid(value) -> str | None:
    m = _MSGID.search(str(value or ""))
    return _cap(m.group(0), 255) if m else None


def _reply_code(text: str | None) -> int | None:
    m = _REPLY_CODE.search(text or "")
    return int(m.group(1)) if m else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _split_raw(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) at the first blank line, whatever the line endings."""
    m = re.search(rb"\r?\n\r?\n", raw)
    return (raw[: m.start()], raw[m.end() :]) if m else (raw, b"")
