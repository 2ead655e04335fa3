"""Bounce classification (deliverability.md §7.2): hard, soft or block, from the SMTP reply.

hard  - the address does not exist or is disabled: suppress it now;
soft  - may succeed later (mailbox full, timeouts, undetermined): count it, suppress after N in a row;
block - the receiving server refuses the *sender* (policy, reputation, authentication): alert the
        sender and slow down, never suppress the address.

The reading is a table (`RULES`), first match wins: a code pattern and, where the code alone does
not settle it, the wording that must be in the reply. 5.1.0 ("other address status") is not in
§7.2's hard list, so it is hard only with unknown-user wording and soft otherwise, like 5.0.0.
"""

import re
from typing import NamedTuple

# Not inside a longer dotted number: an IP address, Yahoo's "4.16.55.1".
ENHANCED_RE = re.compile(r"(?<![\d.])\b([245])\.(\d{1,3})\.(\d{1,3})\b(?!\.\d)")
_CODE_RE = re.compile(r"\b([245]\d\d)\b")

# The recipient does not exist (whatever the code's subject says).
UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|account|person)|"
    r"does ?n[o']t exist|not exist|recipient not found|recipientnotfound|recipnotfound|user not found|"
    r"address not found|account not found|mailbox (?:not found|unavailable|does not exist|is unavailable)|"
    r"invalid (?:recipient|mailbox|address|user)|not a valid (?:mailbox|user|recipient|address)|"
    r"unknown (?:recipient|mailbox|address|local[- ]part)|doesn't have an? \S+ account|"
    r"no mailbox here|addressee unknown|not our customer|not listed in (?:the )?(?:domino )?directory|"
    r"unknown address error|AS\(201806281\)",
    re.I,
)
# The mailbox or the domain is gone for good.
DISABLED = re.compile(
    r"(?:account|mailbox|user)(?: \S+){0,2} (?:is |has been )?(?:disabled|deactivated|inactive|suspended|closed|"
    r"terminated|expired)|no longer (?:active|available|in use|exists?|valid)|"
    r"\bis (?:disabled|deactivated|inactive|suspended)|"
    r"unrouteable address|host or domain name not found|domain (?:does not|doesn't) exist|host unknown|"
    r"no mx (?:record|for)|name service error",
    re.I,
)
# The receiving side refuses the sender or the message, not the address.
POLICY = re.compile(
    r"spam|black ?list|block ?list|blocked|banned|listed (?:by|at|on|in)|spamhaus|barracuda|spamcop|"
    r"reputation|polic(?:y|ies)|unsolicited|not authori[sz]ed|access denied|dmarc|\bspf\b|\bdkim\b|"
    r"authentication|content (?:filter|restriction)|rejected (?:as|due to|by) |not accepting mail from|"
    r"permission to post|rate limit|too many (?:messages|connections)|complaints",
    re.I,
)
FULL = re.compile(
    r"mailbox (?:is )?full|over (?:the allowed )?quota|quota exceeded|out of storage|insufficient storage", re.I
)
# Words of a bounce that gave up, for the unstructured ones that carry no code at all.
PERMANENT = re.compile(
    r"permanent(?:ly)? (?:error|fail)|failed permanently|i'?ve given up|delivery failure|was not delivered to|"
    r"could not be delivered because|could not be delivered to",
    re.I,
)


class Rule(NamedTuple):
    code: re.Pattern  # matched against "5.1.1", "550" or "" (no code at all)
    wording: re.Pattern | None  # None: the code alone decides
    kind: str


def _codes(pattern: str) -> re.Pattern:
    return re.compile(rf"(?:{pattern})\Z")


_ANY_5 = r"5\.\d+\.\d+|5\d\d|permanent"
RULES: tuple[Rule, ...] = (
    Rule(_codes(r"[45]\.7\.\d+"), None, "block"),  # security or policy status, whatever the text says
    Rule(_codes(r"5\.1\.(?:1|2|3|6|10)"), None, "hard"),  # bad mailbox, domain, syntax; moved; not found
    Rule(_codes(_ANY_5), UNKNOWN_USER, "hard"),  # 5.1.0, 5.0.0, 5.5.0, 5.4.1 (AS(201806281)), 550, 554
    Rule(_codes(r".*"), POLICY, "block"),  # the words of a refusal of the sender: never suppress
    Rule(_codes(r"4\.\d+\.\d+|4\d\d"), None, "soft"),
    Rule(_codes(r"5\.2\.2|552|permanent"), FULL, "soft"),  # mailbox full
    Rule(_codes(r"5\.2\.2"), None, "soft"),
    Rule(_codes(_ANY_5), DISABLED, "hard"),  # 5.2.1 "disabled", Yahoo 554.30, no such domain
    Rule(_codes(r".*"), None, "soft"),  # 5.1.0 / 5.0.0 alone, 5.3.x, no code: undetermined is soft
)


def enhanced_code(text: str | None) -> str | None:
    """The first RFC 3463 code in a reply or diagnostic ("5.1.1"), or None."""
    m = ENHANCED_RE.search(text or "")
    return ".".join(m.groups()) if m else None


def specific_code(text: str | None) -> str | None:
    """The first RFC 3463 code in a text, or a later more specific one of the same class and
    subject when the first is an X.Y.0 (IronPort's "5.1.0 - Unknown address error 550-'5.1.1 ...'")."""
    codes = [m.groups() for m in ENHANCED_RE.finditer(text or "")]
    if not codes:
        return None
    first = codes[0]
    if first[2] == "0":
        first = next((c for c in codes if c[:2] == first[:2] and c[2] != "0"), first)
    return ".".join(first)


def smtp_code(text: str | None) -> int | None:
    """The basic reply code in a diagnostic ("smtp; 550 5.1.1 ..." -> 550), or None."""
    m = _CODE_RE.search(text or "")
    return int(m.group(1)) if m else None


def decisive_code(enhanced: str | None, text: str | None) -> str | None:
    """The code that decides the class: the diagnostic's own enhanced code when it has one (what
    the receiving server said; a DSN's Status is the reporting MTA's summary of it), else `enhanced`."""
    return specific_code(text) or enhanced


def classify(code: int | None, enhanced: str | None, text: str | None = None, permanent: bool = False) -> str:
    """hard | soft | block for a failed delivery, by the first rule of RULES that matches.

    `permanent` says the failure was final although no code says so (an unstructured bounce that
    "gave up"), so its wording may still mark a dead address."""
    text = text or ""
    decisive = decisive_code(enhanced, text)
    if code is None:
        code = smtp_code(text)
    key = decisive or (str(code) if code else ("permanent" if permanent else ""))
    for rule in RULES:
        if rule.code.match(key) and (rule.wording is None or rule.wording.search(text)):
            return rule.kind
    return "soft"
