"""A sending domain on the domain blocklists: Spamhaus DBL, SURBL and URIBL. Filters look up every
domain in a message (the From domain, its links, the tracking domain) on them, so a listed sending
domain sends mail to spam whatever IP it leaves from.

    <domain>.<zone>, type A — NXDOMAIN: not listed; an answer in the list's range: listed (the code
    says why); the list's error answers (Spamhaus 127.255.255.x, URIBL and SURBL 127.0.0.1: the query
    came through a public resolver or too often) are never a listing, nor a clearance.

Looked up with the IP checks' machinery (ips.ask_list): a list that refused or did not answer keeps
what it said last. Checked when a domain is verified ("Check now") and daily; a listing raises one
`domain_blocklisted` alert, resolved when every list says "not listed". URIBL's grey list (bulk senders
some people complained about) is shown, but it alone does not stop a send. Functions flush.
"""

from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from app.dns import fresh_resolver
from app.extensions import db
from app.models import SendingDomain
from app.services.delivery.ips import SPAMHAUS_ERRORS, Blocklist, ask_list, carry
from app.services.platform import alerts

ALERT_KIND = "domain_blocklisted"
_DBL_ABUSED = "a legitimate domain, compromised or abused to send"
DOMAIN_BLOCKLISTS = (
    Blocklist(
        "dbl.spamhaus.org",
        "Spamhaus DBL",
        "Spamhaus's domain list: mail naming a listed domain is refused or filtered by most large providers.",
        "https://check.spamhaus.org/",
        {
            "127.0.1.2": "Spam domain: Spamhaus saw the domain in spam, or it has a low reputation.",
            "127.0.1.4": "Phishing domain.",
            "127.0.1.5": "Malware domain.",
            "127.0.1.6": "Botnet command-and-control domain.",
            "127.0.1.102": f"Abused legitimate domain: {_DBL_ABUSED} spam.",
            "127.0.1.103": "Abused redirector or URL shortener on a legitimate domain.",
            "127.0.1.104": f"Abused legitimate domain: {_DBL_ABUSED} phishing.",
            "127.0.1.105": f"Abused legitimate domain: {_DBL_ABUSED} malware.",
            "127.0.1.106": f"Abused legitimate domain: {_DBL_ABUSED} botnet traffic.",
        },
        SPAMHAUS_ERRORS,
        listing="127.0.1.0/24",
    ),
    Blocklist(
        "multi.surbl.org",
        "SURBL",
        "SURBL lists domains seen in unsolicited mail's links and senders; the code's bits say which lists.",
        "https://www.surbl.org/surbl-analysis",
        {
            "127.0.0.8": "PH: the domain was seen in phishing.",
            "127.0.0.16": "MW: the domain was seen serving malware.",
            "127.0.0.64": "ABUSE: the domain was seen in spam.",
            "127.0.0.128": "CR: a cracked (compromised) site.",
        },
        {"127.0.0.1": "SURBL refused the query: it comes through a public resolver or too often."},
    ),
    Blocklist(
        "multi.uribl.com",
        "URIBL",
        "URIBL lists domains found in spam's links and senders; several of its lists answered.",
        "https://admin.uribl.com/",
        {
            "127.0.0.2": "black: the domain was seen in spam, over and over.",
            "127.0.0.4": "grey: a bulk sender some recipients complained about (not a block by itself).",
            "127.0.0.8": "red: a domain of a new, spam-like sender.",
        },
        {"127.0.0.1": "URIBL refused the query: it comes through a public resolver or too often."},
    ),
)
BY_ZONE = {bl.zone: bl for bl in DOMAIN_BLOCKLISTS}
SOFT = {("multi.uribl.com", "127.0.0.4")}  # shown, but no reason to stop a send on its own


def look_up(name: str, using=None) -> list[dict]:
    """Every domain list's answer for the domain, now (a list that did not answer: status unknown)."""
    using = using or fresh_resolver()
    return [ask_list(bl, f"{name}.{bl.zone}", using, "the domain") for bl in DOMAIN_BLOCKLISTS]


def listings(domain: SendingDomain) -> list[dict]:
    return [e for e in domain.blocklists or [] if e.get("listed")]


def blocklist_rows(domain: SendingDomain) -> list[tuple[Blocklist, dict | None]]:
    """Every list with the domain's latest answer from it (None: not checked yet)."""
    found = {e.get("zone"): e for e in domain.blocklists or []}
    return [(bl, found.get(bl.zone)) for bl in DOMAIN_BLOCKLISTS]


def is_blocking(entry: dict) -> bool:
    """A listing that should stop a marketing send: any but URIBL's grey list alone."""
    answers = {a.strip() for a in str(entry.get("answer") or "").split(",") if a.strip()}
    return bool(entry.get("listed")) and not answers <= {a for zone, a in SOFT if zone == entry.get("zone")}


def check(domain: SendingDomain, using=None) -> SendingDomain:
    """Look the domain up on every list and record it (a silent list keeps its last listing); raise or
    resolve the domain's alert."""
    found = look_up(domain.domain, using)
    now = datetime.now(timezone.utc)
    before = {e.get("zone"): e for e in domain.blocklists or []}
    domain.blocklists = [carry(entry, before.get(entry["zone"]), now) for entry in found]
    domain.blocklists_checked_at = now
    db.session.flush()
    listed = listings(domain)
    if listed:
        _raise_alert(domain, listed)
    else:
        alerts.resolve_alert(domain.workspace_id, ALERT_KIND, "domain", domain.id)
    return domain


def _raise_alert(domain: SendingDomain, listed: list[dict]) -> None:
    names = [BY_ZONE[e["zone"]].name for e in listed if e.get("zone") in BY_ZONE]
    alerts.raise_alert(
        domain.workspace_id,
        ALERT_KIND,
        "critical" if any(is_blocking(e) for e in listed) else "warning",
        "domain",
        domain.id,
        f"{domain.domain} is listed on {', '.join(names)}: mail from it or linking to it is likely filtered as spam.",
        evidence={e["zone"]: f"{e['answer']} — {e['meaning']}" for e in listed},
        action_label="Show the listing",
        action_url=f"/domains/{domain.id}",
    )


def check_all() -> dict:
    """The daily job: every domain of every workspace, committed one by one. Safe to run twice."""
    counts = {"checked": 0, "listed": 0}
    using = fresh_resolver()
    for domain_id in db.session.scalars(select(SendingDomain.id).order_by(SendingDomain.id)).all():
        domain = db.session.get(SendingDomain, domain_id)
        if domain is None:
            continue
        check(domain, using)
        db.session.commit()
        counts["checked"] += 1
        counts["listed"] += bool(listings(domain))
    current_app.logger.info("domain blocklists: %s", counts)
    return counts
