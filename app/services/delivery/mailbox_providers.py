"""Which mailbox provider a recipient's domain uses, from its MX records (deliverability.md §5).

Gmail asks senders to throttle by the MX, not by the address's domain: a company on Google
Workspace is Google to Gmail's filters. So the lowest-preference MX exchange is matched against
the suffixes in mailbox_providers.yaml (data, editable without code) on label boundaries; the
longest match wins; anything else is `other`. A null MX (`0 .`, RFC 7505) means the domain takes
no mail (`none`); no MX at all means mail goes to its A record (`other`).
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.dns import lookup

DATA = Path(__file__).with_name("mailbox_providers.yaml")


@dataclass(frozen=True)
class MailboxProvider:
    key: str
    label: str
    group: str
    gateway: bool = False


OTHER = MailboxProvider("other", "Other", "other")
NO_MAIL = MailboxProvider("none", "Accepts no mail (null MX)", "none")


@dataclass(frozen=True)
class Detected:
    """A domain's mailbox provider, the exchange it was read from (None: no MX) and how long the
    answer may be kept (the MX records' TTL in seconds; 0 when DNS gave none, e.g. no MX)."""

    domain: str
    provider: MailboxProvider
    exchange: str | None
    ttl: int = 0

    @property
    def accepts_mail(self) -> bool:
        return self.provider is not NO_MAIL


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[MailboxProvider, ...], tuple[tuple[str, MailboxProvider], ...], dict[str, str]]:
    """The providers in the data file's order, (suffix, provider) longest suffix first, and group labels."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    known, pairs = [], []
    for key, row in data["providers"].items():
        provider = MailboxProvider(key, row["label"], row["group"], bool(row.get("gateway")))
        known.append(provider)
        pairs += [(suffix.lower().strip("."), provider) for suffix in row["mx"]]
    labels = {p.group: p.label for p in reversed(known)} | dict(data.get("groups") or {})
    return tuple(known), tuple(sorted(pairs, key=lambda p: -len(p[0]))), labels


def providers() -> tuple[MailboxProvider, ...]:
    """Every known mailbox provider, in the data file's order."""
    return _table()[0]


def group_label(group: str | None) -> str:
    """How figures name a group: `gmail` -> Gmail, `united_internet` -> GMX & WEB.DE; None (MX unknown) -> Unknown."""
    if group is None:
        return "Unknown"
    return _table()[2].get(group, group.replace("_", " ").capitalize())


def provider_for_exchange(exchange: str) -> MailboxProvider:
    """The provider an MX host belongs to: `alt1.gmail-smtp-in.l.google.com.` -> Gmail."""
    host = exchange.strip().rstrip(".").lower()
    for suffix, provider in _table()[1]:
        if host == suffix or host.endswith("." + suffix):
            return provider
    return OTHER


def detect(domain: str, using=None) -> Detected:
    """Look the domain's MX up (through the shared, TTL-caching resolver) and name its provider."""
    domain = domain.strip().rstrip(".").lower()
    answer = lookup(domain, "MX", using)
    records = []
    for text in answer.records:
        preference, _, exchange = text.partition(" ")
        records.append((int(preference), exchange.rstrip(".").lower()))
    if not records:
        return Detected(domain, OTHER, None, answer.ttl)
    preference, exchange = min(records)
    if exchange == "" and len(records) == 1:  # "0 ." : RFC 7505's null MX
        return Detected(domain, NO_MAIL, None, answer.ttl)
    return Detected(domain, provider_for_exchange(exchange), exchange, answer.ttl)
