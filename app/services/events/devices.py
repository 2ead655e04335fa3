"""Which mail programs, systems and kinds of device people read a campaign on: from the user agents
of its opens by people (a machine's prefetch says nothing about the reader), parsed by ua-parser.

The event log is grouped by user agent in SQL first: a campaign's opens come from a few hundred
distinct strings, each parsed once per process (cached), the commonest MAX_AGENTS of them; the rest
count as "Other".
"""

from collections import Counter
from functools import lru_cache

from sqlalchemy import func, select

from app.models import Campaign, Event
from app.services.events import reads
from app.services.events.verdicts import HUMAN_OPEN

MAX_AGENTS = 500
# What ua-parser calls a mail program's fetch, as a marketer knows it.
_CLIENT_NAMES = {
    "GmailImageProxy": "Gmail",
    "Mobile Safari UI/WKWebView": "Apple Mail",
    "Apple Mail": "Apple Mail",
    "Outlook": "Outlook",
    "Thunderbird": "Thunderbird",
    "YahooMailProxy": "Yahoo Mail",
}
_MOBILE_OS = ("iOS", "Android", "iPadOS", "Windows Phone")


@lru_cache(maxsize=4096)
def describe(user_agent: str) -> tuple[str, str, str]:
    """(mail program, system, device kind) of one user agent."""
    from ua_parser import parse  # its regexes load on first use (~0.1 s): not at import

    low = user_agent.lower()
    if "googleimageproxy" in low:
        return "Gmail", "Gmail's image proxy", "unknown"
    if "yahoomailproxy" in low:
        return "Yahoo Mail", "Yahoo's image proxy", "unknown"
    result = parse(user_agent)
    client = result.user_agent.family if result.user_agent else "Other"
    system = result.os.family if result.os else "Other"
    device = (result.device.family if result.device else "") or ""
    if "ipad" in device.lower() or "tablet" in device.lower():
        kind = "tablet"
    elif system in _MOBILE_OS or "mobile" in low:
        kind = "mobile"
    elif system == "Other":
        kind = "unknown"
    else:
        kind = "desktop"
    return _CLIENT_NAMES.get(client, client), system, kind


def campaign_devices(campaign: Campaign) -> dict:
    """{"opens": n, "clients": [[name, opens]], "systems": [...], "kinds": [...]}, the most first."""
    rows = (
        reads.session()
        .execute(
            select(Event.user_agent, func.count())
            .where(
                Event.campaign_id == campaign.id,
                Event.event_type == "open",
                Event.verdict.in_(HUMAN_OPEN) | Event.verdict.is_(None),
            )
            .group_by(Event.user_agent)
            .order_by(func.count().desc())
        )
        .all()
    )
    clients, systems, kinds = Counter(), Counter(), Counter()
    for n, (user_agent, opens) in enumerate(rows):
        client, system, kind = describe(user_agent) if user_agent and n < MAX_AGENTS else ("Other", "Other", "unknown")
        clients[client] += opens
        systems[system] += opens
        kinds[kind] += opens
    return {"opens": sum(clients.values()), "clients": clients.most_common(), "systems": systems.most_common(),
            "kinds": kinds.most_common()}  # fmt: skip
