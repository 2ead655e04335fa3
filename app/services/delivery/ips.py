"""Dedicated IPs: a workspace's sending addresses, what their reverse DNS says, and whether a blocklist
lists them.

An IP is added with the hostname its PTR should name and, optionally, the provider that sends from it.
A provider whose connections can leave from a chosen address (SMTP: its spec `binds_source_address`)
binds them to this one, one address per provider (providers.transport_for reads the binding); an API
provider knows the IP by the name of its pool in the provider's own account (`pool_name`).

"Check", and the daily `check_all`, look up with a resolver of their own (a delisting shows now, not
once a cached answer's TTL has run out):

    PTR     the reverse name (in-addr.arpa, or ip6.arpa nibbles for IPv6) -> the host name it gives
    FCrDNS  that name's A (AAAA) records hold the address again: receivers distrust an IP without it
    lists   Spamhaus ZEN, SpamCop, Barracuda: the reversed address under each zone, type A.
            NXDOMAIN: not listed. 127.0.0.x: listed (the code says why; ZEN: SBL, CSS, XBL, PBL...).
            127.255.255.x: the list refused the query (Spamhaus does for queries through a public
            resolver, or too many): never "listed", and not "clear" either. No answer: unknown.

A list that refused or did not answer keeps what it said last, so an outage never clears a listing.
Any listing raises one `ip_blocklisted` alert for the IP; once every list that listed it answers "not
listed", the alert is resolved. When the resolver answers nothing at all (the PTR lookup fails) the
check changes nothing. Functions flush; the caller commits.
"""

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dns.reversename
import idna
from flask import current_app
from sqlalchemy import delete, select

from app.dns import DnsUnavailable, fresh_resolver, lookup
from app.extensions import db
from app.models import DedicatedIP, PoolMember, Provider, WarmingPlan
from app.services.delivery import providers
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.ids import as_id
from app.services.platform import alerts

ALERT_KIND = "ip_blocklisted"
REFUSED = ipaddress.ip_network("127.255.255.0/24")  # a list's error codes: never a listing
LISTING = ipaddress.ip_network("127.0.0.0/8")
MAX_PTR_NAMES = 4  # an address should have one PTR; a few more are looked up, no more
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_POOL = re.compile(r"[^\x00-\x1f\x7f]{1,100}")

# Why an address is not one a receiver sees, in the order ipaddress's flags are tested.
NOT_PUBLIC = (
    ("is_unspecified", "is the unspecified address"),
    ("is_loopback", "is a loopback address (this machine)"),
    ("is_link_local", "is a link-local address"),
    ("is_multicast", "is a multicast address"),
    ("is_private", "is a private, reserved or documentation address"),
    ("is_reserved", "is a reserved address"),
)


@dataclass(frozen=True)
class Blocklist:
    """A DNS blocklist: its zone, what a listing on it means, and where to ask for removal."""

    zone: str
    name: str
    about: str
    delist_url: str
    codes: dict  # answer -> what it means (an answer not here: `about`)
    errors: dict = field(default_factory=dict)  # an error answer (127.255.255.0/24, or the list's own) -> why
    listing: str = "127.0.0.0/8"  # the answers that mean "listed" (Spamhaus DBL: 127.0.1.0/24)

    def refuses(self, answer) -> bool:
        return answer in REFUSED or str(answer) in self.errors

    def lists(self, answer) -> bool:
        return answer in ipaddress.ip_network(self.listing) and not self.refuses(answer)


SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus says the zone name was mistyped.",
    "127.255.255.254": "Spamhaus refuses queries that come through a public or open resolver (Google, "
    "Cloudflare, Quad9…): ask through your own resolver, or Spamhaus DQS.",
    "127.255.255.255": "Spamhaus refused the query: too many queries from this resolver.",
}
_XBL = "XBL: a machine at this address was seen infected or exploited (malware, an open proxy)."
BLOCKLISTS = (
    Blocklist(
        "zen.spamhaus.org",
        "Spamhaus ZEN",
        "Spamhaus's combined list; most large mailbox providers refuse or filter mail from a listed address.",
        "https://check.spamhaus.org/",
        {
            "127.0.0.2": "SBL: Spamhaus verified spam from this address or its network.",
            "127.0.0.3": "CSS: Spamhaus's automatic list of addresses sending low-reputation (snowshoe) mail.",
            "127.0.0.4": _XBL,
            "127.0.0.5": _XBL,
            "127.0.0.6": _XBL,
            "127.0.0.7": _XBL,
            "127.0.0.9": "DROP: the address is in a network hijacked or run by criminals.",
            "127.0.0.10": "PBL (ISP-maintained): its network's owner says this range should not send mail directly.",
            "127.0.0.11": "PBL (Spamhaus-maintained): the range looks like end-user addresses, not a mail server.",
            "127.0.0.30": "BCL: a botnet controller was seen at this address.",
        },
        SPAMHAUS_ERRORS,
    ),
    Blocklist(
        "bl.spamcop.net",
        "SpamCop",
        "Built from spam reports by SpamCop's users; a listing expires on its own once reports stop.",
        "https://www.spamcop.net/bl.shtml",
        {"127.0.0.2": "Recipients reported spam from this address."},
    ),
    Blocklist(
        "b.barracudacentral.org",
        "Barracuda",
        "Barracuda's reputation list, filled automatically by its spam traps; its appliances refuse listed senders.",
        "https://www.barracudacentral.org/rbl/removal-request",
        {"127.0.0.2": "Barracuda's spam traps received mail from this address."},
    ),
)
BY_ZONE = {bl.zone: bl for bl in BLOCKLISTS}


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---- values from outside -----------------------------------------------------------------------


def clean_address(value) -> str:
    """A public IPv4 or IPv6 address in its canonical form; raises ValidationError saying why not."""
    raw = value.strip() if isinstance(value, str) else ""
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        shown = raw[:60] or "nothing"
        raise ValidationError(
            f"“{shown}” is not an IP address. Enter one such as 203.0.113.25 or 2001:db8::25.",
            {"ip_address": "Not an IP address."},
        ) from None
    ip = getattr(ip, "ipv4_mapped", None) or ip
    why = next((text for flag, text in NOT_PUBLIC if getattr(ip, flag)), None)
    if why is None and not ip.is_global:
        why = "is not a public address"  # 100.64.0.0/10, shared by carrier-grade NAT
    if why:
        raise ValidationError(
            f"{ip} {why}: a dedicated IP is the public address receiving mail servers see.",
            {"ip_address": "Not a public address."},
        )
    return str(ip)


def clean_hostname(value) -> str | None:
    """The host name the PTR should give, lower case and IDNA; None for nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    name = value.strip().rstrip(".").lower() if isinstance(value, str) else ""
    try:
        name = idna.encode(name, uts46=True).decode() if name else ""
    except idna.IDNAError:
        name = ""
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or labels[-1].isdigit() or not all(map(_LABEL.fullmatch, labels)):
        shown = str(value).strip()[:60]
        raise ValidationError(
            f"“{shown}” is not a host name. Enter the name the address's PTR gives, such as mail1.example.com.",
            {"hostname": "Not a host name."},
        )
    return name


def _clean_pool(value) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not _POOL.fullmatch(value.strip()):
        raise ValidationError(
            "The pool name is the name the provider gives the IP's pool: up to 100 characters, on one line.",
            {"pool_name": "Up to 100 characters, on one line."},
        )
    return value.strip()


def _binding(workspace_id: int, provider_id, pool_name, ip_id: int | None) -> tuple[int | None, str | None]:
    """(provider_id, pool_name) to store: a source-binding provider sends from one address, an API
    provider needs its pool's name."""
    pool_name = _clean_pool(pool_name)
    if provider_id is None or provider_id == "":
        if pool_name:
            raise ValidationError(
                "A pool name belongs to a provider: choose the provider too.", {"provider_id": "Required."}
            )
        return None, None
    pid = as_id(provider_id)
    # Locked until commit: two binders of one SMTP provider cannot both find it free.
    provider = db.session.get(Provider, pid, with_for_update=True) if pid else None
    if provider is None or provider.workspace_id != workspace_id:
        raise ValidationError("No such provider in this workspace.", {"provider_id": "No such provider."})
    spec = providers.spec_of(provider)
    if spec.development:
        raise ValidationError(
            "The development outbox delivers nothing: bind the address to a real provider.",
            {"provider_id": "Not a sending provider."},
        )
    if refusal := providers.not_email(provider):
        raise refusal
    if not spec.binds_source_address:
        if not pool_name:
            raise ValidationError(
                f"{provider.name} ({spec.label}) sends from its own servers: give the name of this IP's pool "
                "in your account there.",
                {"pool_name": "Required for this provider."},
            )
        return provider.id, pool_name
    taken = db.session.scalar(
        select(DedicatedIP.ip_address).where(DedicatedIP.provider_id == provider.id, DedicatedIP.id != (ip_id or 0))
    )
    if taken:
        raise ValidationError(
            f"{provider.name} already sends from {taken}: a connection leaves from one address. Unbind it first.",
            {"provider_id": "Sends from another address."},
        )
    return provider.id, None  # the connection itself leaves from the address: no pool to name


# ---- the workspace's IPs -----------------------------------------------------------------------


def add_ip(workspace_id: int, ip_address, hostname=None, provider_id=None, pool_name=None) -> DedicatedIP:
    """Add a dedicated IP (not yet checked); another workspace's provider or an address already added is refused."""
    address = clean_address(ip_address)
    host = clean_hostname(hostname)
    exists = db.session.scalar(
        select(DedicatedIP.id).where(DedicatedIP.workspace_id == workspace_id, DedicatedIP.ip_address == address)
    )
    if exists:
        raise ValidationError(f"{address} is already one of this workspace's IPs.", {"ip_address": "Added already."})
    pid, pool = _binding(workspace_id, provider_id, pool_name, None)
    ip = DedicatedIP(
        workspace_id=workspace_id,
        ip_address=address,
        hostname=host,
        provider_id=pid,
        pool_name=pool,
        status="active",
        blocklists=[],
    )
    db.session.add(ip)
    db.session.flush()
    return ip


def update_ip(workspace_id: int, ip_id, **changes) -> DedicatedIP:
    """Change the hostname and/or the binding (`provider_id`, `pool_name`); fields not given stay."""
    ip = get_ip(workspace_id, ip_id)
    if "hostname" in changes:
        ip.hostname = clean_hostname(changes["hostname"])
    if "provider_id" in changes or "pool_name" in changes:
        ip.provider_id, ip.pool_name = _binding(
            workspace_id,
            changes.get("provider_id", ip.provider_id),
            changes.get("pool_name", ip.pool_name if "provider_id" not in changes else None),
            ip.id,
        )
    db.session.flush()
    return ip


def get_ip(workspace_id: int, ip_id) -> DedicatedIP:
    ip_id = as_id(ip_id)
    ip = db.session.get(DedicatedIP, ip_id) if ip_id else None
    if ip is None or ip.workspace_id != workspace_id:
        raise NotFound("No such IP.")
    return ip


def list_ips(workspace_id: int) -> list[DedicatedIP]:
    """The workspace's IPs, in the order they were added."""
    return list(
        db.session.scalars(select(DedicatedIP).where(DedicatedIP.workspace_id == workspace_id).order_by(DedicatedIP.id))
    )


def delete_ip(workspace_id: int, ip_id) -> None:
    """Remove the IP: its provider no longer binds to it, pools and warming forget it, its alert is resolved."""
    ip = get_ip(workspace_id, ip_id)
    alerts.resolve_alert(workspace_id, ALERT_KIND, "ip", ip.id)
    db.session.execute(delete(PoolMember).where(PoolMember.member_type == "ip", PoolMember.member_id == ip.id))
    db.session.execute(
        delete(WarmingPlan).where(
            WarmingPlan.workspace_id == workspace_id, WarmingPlan.subject_type == "ip", WarmingPlan.subject_id == ip.id
        )
    )
    db.session.delete(ip)
    db.session.flush()


# ---- what DNS says -----------------------------------------------------------------------------


def ptr_matches(ip: DedicatedIP) -> bool | None:
    """Whether the PTR names the expected host (any PTR when no hostname was given); None before a check."""
    if ip.checked_at is None:
        return None
    return ip.ptr is not None and (ip.hostname is None or ip.ptr == ip.hostname)


def is_listed(ip: DedicatedIP) -> bool:
    return any(entry.get("listed") for entry in ip.blocklists or [])


def blocklist_rows(ip: DedicatedIP) -> list[tuple[Blocklist, dict | None]]:
    """Every list Herald checks with the IP's latest answer from it (None: not checked yet)."""
    found = {e.get("zone"): e for e in ip.blocklists or []}
    return [(bl, found.get(bl.zone)) for bl in BLOCKLISTS]


@dataclass(frozen=True)
class ProviderChoice:
    """A provider an IP can be bound to, as the IP form offers it."""

    id: int
    name: str
    label: str
    binds_source_address: bool  # False: an API provider, which needs the pool's name


def provider_choices(workspace_id: int) -> list[ProviderChoice]:
    """The workspace's providers an IP can be bound to (every email provider but the development outbox)."""
    choices = []
    for provider in providers.email_providers(workspace_id):
        spec = providers.spec_of(provider)
        if not spec.development:
            choices.append(ProviderChoice(provider.id, provider.name, spec.label, spec.binds_source_address))
    return choices


def query_name(address: str, zone: str) -> str:
    """`203.0.113.7` on zen.spamhaus.org -> `7.113.0.203.zen.spamhaus.org` (IPv6: 32 reversed nibbles)."""
    reverse = dns.reversename.from_address(address).to_text(omit_final_dot=True)
    return reverse.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa") + "." + zone


def _ptr_names(address: str, using) -> list[str]:
    """The PTR's names; raises DnsUnavailable (the whole check then changes nothing)."""
    answer = lookup(dns.reversename.from_address(address).to_text(omit_final_dot=True), "PTR", using)
    return sorted({r.rstrip(".").lower() for r in answer.records})[:MAX_PTR_NAMES]


def _forward_confirmed(address: str, names: list[str], using) -> bool | None:
    """Whether a PTR name's A (AAAA) records hold the address; None when DNS did not say."""
    ip, unknown = ipaddress.ip_address(address), False
    rdtype = "A" if ip.version == 4 else "AAAA"
    for name in names:
        try:
            records = lookup(name, rdtype, using).records
        except (DnsUnavailable, ValueError):
            unknown = True
            continue
        if any(_as_ip(r) == ip for r in records):
            return True
    return None if unknown else False


def _as_ip(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def query_list(bl: Blocklist, address: str, using) -> dict:
    """One list's answer for the address: {zone, status: listed|clear|refused|unknown, listed, answer, detail…}."""
    return ask_list(bl, query_name(address, bl.zone), using, "the address")


def ask_list(bl: Blocklist, name: str, using, what: str) -> dict:
    """The list's answer for `name` (an address reversed, or a domain, under its zone): listed, clear,
    refused (the list's error codes: never a listing) or unknown (no answer)."""
    entry = {"zone": bl.zone, "status": "unknown", "listed": None, "answer": None, "meaning": None, "reason": None}
    try:
        records = lookup(name, "A", using).records
    except (DnsUnavailable, ValueError):
        return entry | {"detail": f"{bl.name} did not answer: whether it lists {what} is not known."}
    if not records:
        return entry | {"status": "clear", "listed": False, "detail": f"Not listed on {bl.name}."}
    answers = sorted({ip for ip in map(_as_ip, records) if ip is not None}, key=int)
    listings = [a for a in answers if bl.lists(a)]
    if listings:
        codes = [str(a) for a in listings]
        meaning = " ".join(dict.fromkeys(bl.codes.get(c, bl.about) for c in codes))
        return entry | {
            "status": "listed",
            "listed": True,
            "answer": ", ".join(codes),
            "meaning": meaning,
            "reason": _listing_reason(name, using),
            "detail": f"Listed on {bl.name} ({', '.join(codes)}).",
        }
    refusals = [str(a) for a in answers if bl.refuses(a)]
    if refusals:
        why = bl.errors.get(refusals[0], f"{bl.name} answered with an error code instead of a listing.")
        return entry | {"status": "refused", "answer": ", ".join(refusals), "detail": f"Query refused: {why}"}
    # An answer outside the list's codes: a resolver that rewrites "no such name" into an address of its own.
    shown = ", ".join(records)[:100]
    return entry | {"answer": shown, "detail": f"The resolver answered {shown}, which is no list's answer."}


def _listing_reason(name: str, using) -> str | None:
    """The TXT record a list often publishes beside a listing (its reason and a link); None when there is none."""
    try:
        records = lookup(name, "TXT", using).records
    except (DnsUnavailable, ValueError):
        return None
    text = " ".join(r.replace('" "', "").strip('"') for r in records).strip()
    return text[:500] or None


@dataclass(frozen=True)
class Lookup:
    """What DNS said about an address, now."""

    ptr_names: list
    fcrdns: bool | None
    blocklists: list


def look_up(address: str, using=None) -> Lookup:
    """PTR, FCrDNS and every list for the address; raises DnsUnavailable when the PTR lookup got no answer."""
    using = using or fresh_resolver()
    names = _ptr_names(address, using)
    fcrdns = _forward_confirmed(address, names, using) if names else False
    return Lookup(names, fcrdns, [query_list(bl, address, using) for bl in BLOCKLISTS])


# ---- checking ----------------------------------------------------------------------------------


def check_ip(workspace_id: int, ip_id) -> DedicatedIP:
    """Look PTR, FCrDNS and the lists up now ("Check now") and record them; nothing changes when DNS is silent."""
    ip = get_ip(workspace_id, ip_id)
    try:
        found = look_up(ip.ip_address)
    except DnsUnavailable as exc:
        raise InvalidState(f"DNS did not answer ({exc}); nothing was changed. Try again in a minute.") from None
    record_lookup(ip, found)
    return ip


def record_lookup(ip: DedicatedIP, found: Lookup) -> DedicatedIP:
    """Store a lookup on the IP (a silent list keeps its last listing) and raise or resolve its alert."""
    now = _now()
    ip.ptr = (ip.hostname if ip.hostname in found.ptr_names else next(iter(found.ptr_names), None)) or None
    ip.fcrdns = found.fcrdns
    before = {e.get("zone"): e for e in ip.blocklists or []}
    ip.blocklists = [carry(entry, before.get(entry["zone"]), now) for entry in found.blocklists]
    ip.checked_at = now
    db.session.flush()
    listed = [e for e in ip.blocklists if e["listed"]]
    if listed:
        _raise_alert(ip, listed)
    else:
        alerts.resolve_alert(ip.workspace_id, ALERT_KIND, "ip", ip.id)
    return ip


def carry(entry: dict, before: dict | None, now: datetime) -> dict:
    """A listing is only cleared by the list saying so: refused or unknown keeps the last listing."""
    was_listed = bool(before and before.get("listed"))
    if entry["status"] == "listed":
        return entry | {"listed_since": before.get("listed_since") if was_listed else now.isoformat()}
    if entry["status"] in ("refused", "unknown") and was_listed:
        detail = f"{entry['detail']} It listed it at its last answer ({before.get('answer')})."
        kept = {k: before.get(k) for k in ("answer", "meaning", "reason", "listed_since")}
        return entry | kept | {"listed": True, "detail": detail}
    return entry | {"listed_since": None}


def _raise_alert(ip: DedicatedIP, listed: list[dict]) -> None:
    names = [BY_ZONE[e["zone"]].name for e in listed]
    where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    alerts.raise_alert(
        ip.workspace_id,
        ALERT_KIND,
        "critical",
        "ip",
        ip.id,
        f"{ip.ip_address} is listed on {where}: mail from it is likely refused or filtered as spam.",
        evidence={e["zone"]: f"{e['answer']} — {e['meaning']}" for e in listed},
        action_label="Show the listing",
        action_url=f"/ips/{ip.id}",
    )


def check_all() -> dict:
    """The daily job: every IP of every workspace checked and committed one by one; an IP whose DNS
    did not answer is skipped (and logged) unchanged. Safe to run twice."""
    counts = {"checked": 0, "listed": 0, "skipped": 0}
    for ip_id in db.session.scalars(select(DedicatedIP.id).order_by(DedicatedIP.id)).all():
        ip = db.session.get(DedicatedIP, ip_id)
        if ip is None:
            continue
        try:
            found = look_up(ip.ip_address)
        except DnsUnavailable as exc:
            current_app.logger.warning("checking %s: DNS did not answer (%s)", ip.ip_address, exc)
            counts["skipped"] += 1
            continue
        record_lookup(ip, found)
        db.session.commit()
        counts["checked"] += 1
        counts["listed"] += is_listed(ip)
    return counts
