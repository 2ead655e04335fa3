"""A message scored by SpamAssassin's spamd, over its own protocol (SPAMC/1.5) on a TCP socket.

spamd runs beside Herald (Procfile `spamd`, deploy/spamassassin/local.cf: offline, no Bayes, no
network tests), so the score is a content lint: what the message's own content looks like to
SpamAssassin's rules, not a prediction of where a mailbox provider will file it.

score(raw, address=None, timeout=None) -> SpamResult      REPORT: score, threshold, each rule hit
parse_report(reply) -> SpamResult                          the reply's headers and report table
explain(rule) -> str | None                                a rule in plain words, for the commonest
check_campaign_spam(workspace_id, campaign_id) -> SpamResult   a campaign's message as it would go out
SPAMD_DOWN                                                 the sentence when spamd does not answer
"""

import re
import socket
from dataclasses import asdict, dataclass, field

from flask import current_app, has_app_context

DEFAULT_ADDRESS = "127.0.0.1:7833"
DEFAULT_TIMEOUT = 20.0  # seconds: spamd's first scan after start compiles its rules
MAX_REPLY = 1 << 20
SPAMD_DOWN = (
    "The spam score could not be checked: SpamAssassin (spamd) is not running at {address}. "
    "Start it (the Procfile's spamd process) to see how its rules score this message."
)

_STATUS = re.compile(r"^SPAMD/(\d+\.\d+)\s+(\d+)\s+(\S+)")
_SPAM_HEADER = re.compile(r"^Spam:\s*(\w+)\s*;\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)", re.I | re.M)
_RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]{2,})\s*(.*)$")
_TABLE_RULER = re.compile(r"^-{3,}\s+-{3,}")


@dataclass
class SpamRule:
    name: str
    score: float
    description: str


@dataclass
class SpamResult:
    available: bool
    score: float | None = None
    threshold: float | None = None
    rules: list[SpamRule] = field(default_factory=list)
    message: str | None = None  # why it is not available, in a sentence

    @property
    def is_spam(self) -> bool:
        return bool(self.available and self.score is not None and self.score >= (self.threshold or 5.0))

    def as_json(self) -> dict:
        """The API's shape: {available, score, threshold, rules: [{name, score, description}]}."""
        out = asdict(self)
        if not self.available:
            out["rules"] = []
        return out


def spamd_address() -> str:
    if has_app_context():
        return current_app.config.get("SPAMD_ADDRESS") or DEFAULT_ADDRESS
    return DEFAULT_ADDRESS


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "127.0.0.1", int(port))


def score(raw: bytes, address: str | None = None, timeout: float | None = None) -> SpamResult:
    """The message `raw` (bytes, CRLF) scored by spamd; available=False with a sentence when it
    does not answer or answers something other than a report (never a silent pass)."""
    address = address or spamd_address()
    down = SpamResult(False, message=SPAMD_DOWN.format(address=address))
    try:
        host, port = _host_port(address)
    except ValueError:
        return down
    request = b"REPORT SPAMC/1.5\r\nContent-length: %d\r\nUser: herald\r\n\r\n" % len(raw) + raw
    try:
        with socket.create_connection((host, port), timeout=timeout or DEFAULT_TIMEOUT) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)  # spamd reads Content-length bytes; the half-close is belt and braces
            reply = _read_all(sock)
    except OSError:
        return down
    result = parse_report(reply.decode("utf-8", "replace"))
    if not result.available:
        result.message = result.message or down.message
    return result


def _read_all(sock: socket.socket) -> bytes:
    chunks, size = [], 0
    while size < MAX_REPLY:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse_report(reply: str) -> SpamResult:
    """A REPORT (or SYMBOLS) reply: status line, `Spam: True ; 7.2 / 5.0`, then the report whose
    table lines read ` pts rule name  description` (a long description wraps, indented)."""
    reply = reply.replace("\r\n", "\n")
    status = _STATUS.match(reply)
    if status is None or status.group(2) != "0":
        what = status.group(3) if status else "no answer"
        return SpamResult(False, message=f"SpamAssassin (spamd) could not score the message ({what}).")
    head, _, body = reply.partition("\n\n")
    spam = _SPAM_HEADER.search(head)
    if spam is None:
        return SpamResult(False, message="SpamAssassin (spamd) answered without a score.")
    rules = _report_rules(body)
    if not rules and body.strip() and "\n" not in body.strip():  # a SYMBOLS reply: names only
        rules = [SpamRule(n.strip(), 0.0, explain(n.strip()) or "") for n in body.split(",") if n.strip()]
    return SpamResult(True, float(spam.group(2)), float(spam.group(3)), rules)


def _report_rules(body: str) -> list[SpamRule]:
    rules: list[SpamRule] = []
    in_table = False
    for line in body.split("\n"):
        if not in_table:
            in_table = bool(_TABLE_RULER.match(line.strip()))
            continue
        if not line.strip():
            if rules:
                break  # the table ends at the first blank line
            continue
        m = _RULE_LINE.match(line)
        if m:
            rules.append(SpamRule(m.group(2), float(m.group(1)), m.group(3).strip()))
        elif rules and line[:1].isspace():  # a description wrapped onto the next line
            rules[-1].description = f"{rules[-1].description} {line.strip()}".strip()
    return rules


def check_campaign_spam(workspace_id: int, campaign_id: int) -> SpamResult:
    """The campaign's message, as it would go out to its first recipient, scored (advisor/outgoing.py)."""
    from app.services.advisor.outgoing import outgoing_message  # outgoing needs the app's models

    return score(outgoing_message(workspace_id, campaign_id).raw)


def top_rules(result: SpamResult, n: int = 3) -> list[SpamRule]:
    """The rules that added most to the score."""
    return sorted((r for r in result.rules if r.score > 0), key=lambda r: -r.score)[:n]


# The commonest rules a marketing email trips, in words a marketer can act on (prefix → words).
EXPLANATIONS: dict[str, str] = {
    "HTML_IMAGE_ONLY": "The email is almost all images with very little text: add real text beside the pictures.",
    "HTML_IMAGE_RATIO": "There is little text for the area of the images: add text or use fewer, smaller images.",
    "DC_IMAGE_SPAM": "It looks like an image-only spam (one big picture, little text): add text.",
    "MIME_HTML_ONLY": "The email has no plain-text part: send a text version with the HTML.",
    "MIME_HTML_MOSTLY": "The plain-text part is much shorter than the HTML: make the text version complete.",
    "HTML_MESSAGE": "The email contains HTML (normal for newsletters; it adds nothing on its own).",
    "HTML_SHORT_LINK_IMG": "An image is the only content of a short HTML message: add text.",
    "HTML_FONT_LOW_CONTRAST": "Some text is nearly the colour of its background, which looks like hidden text.",
    "HTML_MIME_NO_HTML_TAG": "The HTML part has no <html> tag: use a complete HTML document.",
    "HTML_TAG_BALANCE": "The HTML has tags that are not closed properly: fix the markup.",
    "SUBJ_ALL_CAPS": "The subject is written in capital letters: write it in normal case.",
    "SUBJ_EXCESS_QP": "The subject is heavily encoded: avoid unusual characters in it.",
    "FREEMAIL_FROM": "It is sent from a free mailbox (gmail.com, yahoo.com…): send from your own domain.",
    "FREEMAIL_REPLYTO": "The reply-to address is a free mailbox: use an address on your own domain.",
    "FREEMAIL_FORGED_REPLYTO": "The reply-to is a free mailbox different from the sender: use your domain.",
    "URI_SHORTENER": "It links through a URL shortener, which hides where links go: link to your own domain.",
    "HAS_SHORT_URL": "It links through a URL shortener, which hides where links go: link to your own domain.",
    "SHORT_URL": "It links through a URL shortener, which hides where links go: link to your own domain.",
    "SHORT_SHORTNER": "The email is little more than a link to a URL shortener: add content, link to your domain.",
    "TO_NO_BRKTS_HTML_ONLY": "The email is HTML only and addressed oddly: send a text part with the HTML.",
    "URI_BITLY_BLOCKED": "A bit.ly link in it has been disabled for abuse: replace it with the real address.",
    "NORMAL_HTTP_TO_IP": "A link points at a bare IP address: link to a domain name instead.",
    "NUMERIC_HTTP_ADDR": "A link points at a bare IP address: link to a domain name instead.",
    "MISSING_DATE": "The email has no Date header.",
    "MISSING_MID": "The email has no Message-ID header.",
    "MISSING_SUBJECT": "The email has no subject: give it one.",
    "EMPTY_MESSAGE": "The email has no text at all.",
    "T_REMOTE_IMAGE": "The email loads remote images (normal; it adds little on its own).",
    "LOTS_OF_MONEY": "It talks about large sums of money, a common spam sign.",
    "ADVANCE_FEE": "It reads like an advance-fee (money for a favour) scam.",
    "FROM_EXCESS_BASE64": "The sender's name is heavily encoded: keep it plain.",
    "GTUBE": "It contains the GTUBE test string, which every spam filter rejects on purpose.",
}


def explain(rule: str) -> str | None:
    """The plain-words meaning of a rule (HTML_IMAGE_RATIO_04 → HTML_IMAGE_RATIO's), or None."""
    name = rule.upper()
    if name.startswith("T_") and name not in EXPLANATIONS:
        name = name[2:]  # a rule in testing reads as the rule it tests
    return next((EXPLANATIONS[p] for p in _LONGEST_FIRST if name.startswith(p)), None)


_LONGEST_FIRST = sorted(EXPLANATIONS, key=len, reverse=True)
