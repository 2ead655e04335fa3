"""Bounce classification (deliverability.md §7.2): hard, soft or block, from the SMTP reply.

hard  - the address does not exist or is disabled: suppress it now;
soft  - may succeed later (mailbox full, timeouts, undetermined): count it, suppress after N in a row;
block - the receiving server refuses the *sender* (policy, reputation, authentication): alert the
        sender and slow down, never suppress the address.
"""

import re

ENHANCED_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE_RE = re.compile(r"\b([245]\d\d)\b")
_UNKNOWN_USER = re.compile(
    r"user unknown|no such user|unknown user|does not exist|doesn't have a .* account|"
    r"mailbox (?:not found|unavailable|does not exist)|invalid (?:recipient|mailbox|address)|"
    r"recipient (?:address )?rejected|address rejected|no mailbox",
    re.I,
)
_DISABLED = re.compile(r"disabled|inactive|deactivated|suspended|no longer", re.I)
_BLOCKLIST = re.compile(r"spamhaus|blocklist|blacklist|block list|listed (?:by|at|on)|reputation|spam", re.I)


def enhanced_code(text: str | None) -> str | None:
    """The first RFC 3463 code in a reply or diagnostic ("5.1.1"), or None."""
    m = ENHANCED_RE.search(text or "")
    return ".".join(m.groups()) if m else None


def smtp_code(text: str | None) -> int | None:
    """The basic reply code in a diagnostic ("smtp; 550 5.1.1 ..." -> 550), or None."""
    m = _CODE_RE.search(text or "")
    return int(m.group(1)) if m else None


def classify(code: int | None, enhanced: str | None, text: str | None = None) -> str:
    """hard | soft | block for a failed delivery."""
    text = text or ""
    enhanced = enhanced or enhanced_code(text)
    if enhanced:
        klass, subject, detail = enhanced.split(".")
        if subject == "7":
            return "block"
        if klass == "4":
            return "soft"
        if subject == "1" and detail in ("1", "2", "3", "6", "0"):
            return "hard"
        if subject == "2" and detail == "1":
            return "hard" if _DISABLED.search(text) else "soft"
        if subject == "0" and _UNKNOWN_USER.search(text):
            return "hard"
        if _BLOCKLIST.search(text) and klass == "5" and subject == "0":
            return "block"
        return "soft"
    if code is None:
        code = smtp_code(text)
    if code is not None and 400 <= code < 500:
        return "soft"
    if _BLOCKLIST.search(text):
        return "block"
    if code is not None and code >= 500 and _UNKNOWN_USER.search(text):
        return "hard"
    return "soft"  # undetermined: treat as soft (deliverability.md §7.2)
