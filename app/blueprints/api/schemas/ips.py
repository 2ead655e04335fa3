"""Dedicated IPs: the address, its binding to a provider, and what PTR, FCrDNS and the blocklists say."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, ref, response, text
from app.services.delivery.domain_blocklists import DOMAIN_BLOCKLISTS
from app.services.delivery.ips import BLOCKLISTS

MAYBE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": ID["maximum"]}
HOSTNAME = text(253, "The host name the address's PTR should give, e.g. mail1.example.com.", nullable=True)
PROVIDER_ID = MAYBE_ID | {
    "description": "The provider that sends from it: an SMTP provider's connections leave from this address "
    "(one address per provider); an API provider needs `pool_name`."
}
POOL_NAME = text(100, "An API provider's name for the pool this IP is in (its IP pool in that account).", nullable=True)

IP_CREATE = obj(
    {
        "ip_address": text(45, "A public IPv4 or IPv6 address.", min_length=1),
        "hostname": HOSTNAME,
        "provider_id": PROVIDER_ID,
        "pool_name": POOL_NAME,
    },
    required=("ip_address",),
)

IP_PATCH = obj(
    {"hostname": HOSTNAME, "provider_id": PROVIDER_ID, "pool_name": POOL_NAME},
    description="Only the fields given change; `provider_id: null` unbinds the address.",
    minProperties=1,
)

BLOCKLIST_RESULT = response(
    {
        "zone": {
            "enum": [bl.zone for bl in BLOCKLISTS + DOMAIN_BLOCKLISTS],
            "description": "An IP list (zen.spamhaus.org, bl.spamcop.net, b.barracudacentral.org) for an IP; a domain "
            "list (dbl.spamhaus.org, multi.surbl.org, multi.uribl.com) for a sending domain.",
        },
        "name": {"type": "string", "description": "The list's name, e.g. Spamhaus ZEN."},
        "status": {
            "enum": ["listed", "clear", "refused", "unknown"],
            "description": "This check's answer: listed (127.0.0.x; Spamhaus DBL 127.0.1.x), clear (no such name), "
            "refused (127.255.255.x, or 127.0.0.1 on SURBL and URIBL: the list declined the query, e.g. through a "
            "public resolver) or unknown (no answer).",
        },
        "listed": {
            "type": ["boolean", "null"],
            "description": "Whether the list lists the address (or domain). A refused or unknown answer keeps an earlier "
            "listing (true) and is otherwise null: never read as `false`.",
        },
        "answer": {"type": ["string", "null"], "description": "The A records answered, e.g. 127.0.0.2."},
        "meaning": {"type": ["string", "null"], "description": "What the listing code means (ZEN: SBL, XBL, PBL…)."},
        "reason": {"type": ["string", "null"], "description": "The list's TXT record beside a listing, if any."},
        "detail": {"type": "string", "description": "The answer in plain words."},
        "listed_since": MAYBE_TIMESTAMP,
        "delist_url": {"type": "string", "description": "Where to look the listing up and ask for its removal."},
    }
)

IP = response(
    {
        "id": ID,
        "ip_address": {"type": "string"},
        "version": {"enum": [4, 6]},
        "hostname": {"type": ["string", "null"]},
        "provider_id": MAYBE_ID,
        "pool_name": {"type": ["string", "null"]},
        "status": {"enum": ["active", "warming", "paused"]},
        "status_reason": {"type": ["string", "null"]},
        "ptr": {"type": ["string", "null"], "description": "The name the address's PTR gives (null: none)."},
        "ptr_matches": {
            "type": ["boolean", "null"],
            "description": "The PTR gives `hostname` (or any name when no hostname is set); null before a check.",
        },
        "fcrdns": {
            "type": ["boolean", "null"],
            "description": "Forward-confirmed reverse DNS: the PTR name's A/AAAA records hold the address again.",
        },
        "listed": {"type": "boolean", "description": "Some list lists the address."},
        "blocklists": {"type": "array", "items": ref("BlocklistResult"), "description": "Empty before a check."},
        "checked_at": MAYBE_TIMESTAMP,
        "created_at": TIMESTAMP,
    }
)

IP_CHECK = response(
    {
        "ptr": {"type": ["string", "null"]},
        "ptr_matches": {"type": ["boolean", "null"]},
        "fcrdns": {"type": ["boolean", "null"]},
        "listed": {"type": "boolean"},
        "blocklists": {"type": "array", "items": ref("BlocklistResult")},
        "ip": ref("DedicatedIp"),
    },
    "Everything looked up now; `ip` is the IP afterwards.",
)

SCHEMAS: dict[str, dict] = {
    "DedicatedIpCreate": IP_CREATE,
    "DedicatedIpPatch": IP_PATCH,
    "BlocklistResult": BLOCKLIST_RESULT,
    "DedicatedIp": IP,
    "DedicatedIpCheck": IP_CHECK,
}
