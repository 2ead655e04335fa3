"""Reading what a mail system wrote in words: who sent a message (a mail system or a person) and,
in a bounce that follows no standard, which address failed.

A bounce's text names many addresses: the postmaster to write to, Message-IDs, the returned
original's own From and Return-Path (the sender itself), the VERP address it was mailed to. The
failed address is the one on a failure line ("<x@y>: 550 5.1.1 ...", an address alone on a line
as qmail, Exim and Domino write it, "could not be delivered to x@y"); failing that, the returned
original's To when it had one recipient.
"""

import re
from email import message_from_string
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

BOUNCER_LOCALPARTS = frozenset(
    {"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon", "mail.daemon"}
)
_BOUNCER_NAME = re.compile(r"mail delivery (?:system|subsystem|service)|mailer.daemon|smtp gateway", re.I)
# Exchange sends its notices as MicrosoftExchange<32 hex digits>@domain.
_EXCHANGE_LOCALPART = re.compile(r"microsoftexchange[0-9a-f]{32}", re.I)

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Lines of a returned original's headers quoted in the text: their addresses are never the failed one.
_QUOTED_HEADER = re.compile(
    r"^\s*>?\s*(?:from|return-path|sender|reply-to|message-id|references|in-reply-to|received|dkim-signature|"
    r"x-[\w-]+|list-[\w-]+|envelope-from|original-mail-from|errors-to)\s*:",
    re.I,
)
_MSGID_IN_TEXT = re.compile(r"message-?id\W{0,3}<?([^<>\s]+@[^<>\s]+?)>?(?=[\s,.;)]|$)", re.I)
_MSGID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_ADDRESS_ALONE = re.compile(r"^\s*<?[^<>\s@]+@[^<>\s@]+?>?:?\s*$")
_FAILURE_LINE = re.compile(
    r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b|unknown|no such|not exist|does ?n[o']t|could ?n[o']t|undeliver|"
    r"not (?:been )?delivered|wasn't delivered|fail|reject|refused|blocked|denied|quota|full|disabled|inactive|"
    r"not found|unable to|not accepting|invalid|reason|error|unrouteable|not listed|cannot be reached",
    re.I,
)
_REDACTED = re.compile(r"redacted|^x+$|^\*+$", re.I)
# Where a bounce's own words end and the returned original begins (qmail, Exim, Postfix, Exchange...).
ORIGINAL_MARKER = re.compile(
    r"^\s*(?:-+ ?below this line is a copy of the message|-+ ?this is a copy of the message|"
    r"-+ ?original message|-+ ?the header of the original message|original message headers|"
    r"-+ ?returned message|\*\* ?original message)",
    re.I | re.M,
)
# Words that say a text reports a failed or delayed delivery (for mail from a mail system).
FAILURE_WORDS = re.compile(
    r"could not be delivered|couldn't be delivered|undeliverable|undelivered|delivery (?:has )?failed|"
    r"not (?:been )?delivered|failed permanently|permanent (?:error|failure)|user unknown|does not exist|"
    r"returned mail|delivery failure|not yet been delivered|delayed|unable to deliver|could not be reached|"
    r"cannot be reached|wasn't delivered|rejected|delivery error",
    re.I,
)


def is_mail_system(from_header: str | None) -> bool:
    """A From of a mailer-daemon, a postmaster or a mail system's notices: never a person."""
    name, addr = parseaddr(from_header or "")
    local = addr.rpartition("@")[0].lower() if "@" in addr else addr.lower()
    return local in BOUNCER_LOCALPARTS or bool(_EXCHANGE_LOCALPART.fullmatch(local) or _BOUNCER_NAME.search(name))


def real_address(addr: str | None) -> str | None:
    """The address, unless a feedback loop redacted it (`redacted@aol.com`, `xxxxx@...`)."""
    if not addr or "@" not in addr:
        return None
    return None if _REDACTED.search(addr.rpartition("@")[0]) else addr


def addresses_of(msg: Message | None, *names: str) -> set[str]:
    """The addresses in the named headers of a message, lower case."""
    if msg is None:
        return set()
    values = [str(v) for n in names for v in (msg.get_all(n) or [])]
    return {a.lower() for _, a in getaddresses(values) if "@" in a}


def message_ids_of(msg: Message | None) -> set[str]:
    """The Message-IDs a message names in Message-ID, References and In-Reply-To, without brackets, lower case."""
    if msg is None:
        return set()
    values = " ".join(str(v) for n in ("Message-ID", "References", "In-Reply-To") for v in (msg.get_all(n) or []))
    return {m.lower() for m in _MSGID.findall(values)}


def quoted_original(text: str) -> Message | None:
    """The returned original's headers when a bounce quotes them in its text (no attached part)."""
    marker = ORIGINAL_MARKER.search(text)
    if marker is None:
        return None
    rest = text[marker.end() :].split("\n", 1)[1] if "\n" in text[marker.end() :] else ""
    lines = [line.strip() for line in rest.lstrip("\n").splitlines()]
    head = "\n".join(lines[: lines.index("")] if "" in lines else lines)
    msg = message_from_string(head + "\n\n", policy=compat32)
    return msg if msg.keys() else None


def failed_address(text: str, exclude: set[str], message_ids: set[str]) -> str | None:
    """The address a bounce's own words say failed: the first usable one on a failure line, else
    the first usable one anywhere (never the postmaster, a Message-ID or an excluded address)."""
    fallback = None
    for line in text.splitlines():
        if _QUOTED_HEADER.match(line):
            continue
        ids = message_ids | {m.lower() for m in _MSGID_IN_TEXT.findall(line)}
        for m in _ADDRESS.finditer(line):
            addr = m.group(0).strip(".")
            if not _usable(addr, exclude, ids):
                continue
            if _FAILURE_LINE.search(line) or _ADDRESS_ALONE.match(line):
                return addr
            fallback = fallback or addr
    return fallback


def single_recipient(original: Message | None, exclude: set[str]) -> str | None:
    """The returned original's one To address, when it had exactly one."""
    found = [a for a in addresses_of(original, "To") if _usable(a, exclude, set())]
    return found[0] if len(found) == 1 else None


def _usable(addr: str, exclude: set[str], message_ids: set[str]) -> bool:
    lower = addr.lower()
    local = lower.rpartition("@")[0]
    return (
        local not in BOUNCER_LOCALPARTS
        and not _EXCHANGE_LOCALPART.fullmatch(local)
        and lower not in exclude
        and lower not in message_ids
        and real_address(addr) is not None
    )
