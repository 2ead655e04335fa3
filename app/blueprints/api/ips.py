"""Dedicated IPs: add, bind to a provider, check PTR, FCrDNS and the blocklists."""

import ipaddress

from flask import Response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.models import DedicatedIP
from app.services.delivery import ips

TAG = "IPs"


def blocklist_json(entry: dict, by_zone: dict = ips.BY_ZONE) -> dict:
    """A list's answer (an IP's lists, or a domain's: `by_zone` of domain_blocklists)."""
    bl = by_zone[entry["zone"]]
    return {
        "zone": bl.zone,
        "name": bl.name,
        "status": entry.get("status") or "unknown",
        "listed": entry.get("listed"),
        "answer": entry.get("answer"),
        "meaning": entry.get("meaning"),
        "reason": entry.get("reason"),
        "detail": entry.get("detail") or "",
        "listed_since": entry.get("listed_since"),
        "delist_url": bl.delist_url,
    }


def ip_json(ip: DedicatedIP) -> dict:
    return {
        "id": ip.id,
        "ip_address": ip.ip_address,
        "version": ipaddress.ip_address(ip.ip_address).version,
        "hostname": ip.hostname,
        "provider_id": ip.provider_id,
        "pool_name": ip.pool_name,
        "status": ip.status,
        "status_reason": ip.status_reason,
        "ptr": ip.ptr,
        "ptr_matches": ips.ptr_matches(ip),
        "fcrdns": ip.fcrdns,
        "listed": ips.is_listed(ip),
        "blocklists": [blocklist_json(e) for e in ip.blocklists or [] if e.get("zone") in ips.BY_ZONE],
        "checked_at": iso(ip.checked_at),
        "created_at": iso(ip.created_at),
    }


@operation("POST", "/ips", "Add a dedicated IP", tag=TAG, body="DedicatedIpCreate", response="DedicatedIp", status=201)
def create_ip(body: dict):
    """A public address the workspace sends from, with the host name its PTR should give. Bound to an
    SMTP provider, that provider's connections leave from it; an API provider (SES, SendGrid, Mailgun…)
    knows it by `pool_name`. Check it with `POST /ips/{ip_id}/check`; Herald checks every IP daily."""
    ip = ips.add_ip(
        workspace_id(), body["ip_address"], body.get("hostname"), body.get("provider_id"), body.get("pool_name")
    )
    commit()
    return ip_json(ip)


@operation("GET", "/ips", "List dedicated IPs", tag=TAG, response="DedicatedIp", paginated=True)
def list_ips(query: dict):
    """In the order they were added, each with its latest check."""
    return page_slice([ip_json(ip) for ip in ips.list_ips(workspace_id())], query)


@operation("GET", "/ips/{ip_id}", "Show a dedicated IP", tag=TAG, response="DedicatedIp")
def show_ip(ip_id: int):
    """Its binding and its latest PTR, FCrDNS and blocklist answers."""
    return ip_json(ips.get_ip(workspace_id(), ip_id))


@operation("PATCH", "/ips/{ip_id}", "Change a dedicated IP", tag=TAG, body="DedicatedIpPatch", response="DedicatedIp")
def update_ip(ip_id: int, body: dict):
    """Change its host name or its provider (`provider_id: null` unbinds it)."""
    ip = ips.update_ip(workspace_id(), ip_id, **body)
    commit()
    return ip_json(ip)


@operation("DELETE", "/ips/{ip_id}", "Remove a dedicated IP", tag=TAG, status=204)
def delete_ip(ip_id: int):
    """Its provider no longer binds to it; its blocklist alert, if open, is resolved."""
    ips.delete_ip(workspace_id(), ip_id)
    commit()
    return Response(status=204)


@operation(
    "POST", "/ips/{ip_id}/check", "Check PTR, FCrDNS and blocklists", tag=TAG, response="DedicatedIpCheck",
    errors=(409,),
)  # fmt: skip
def check_ip(ip_id: int):
    """Looks up now: the PTR, whether its name points back at the address (FCrDNS), and Spamhaus ZEN,
    SpamCop and Barracuda. An answer in 127.255.255.0/24 means the list refused the query (Spamhaus
    does for public resolvers): it is `refused`, never `listed`. A listing raises an `ip_blocklisted`
    alert; when every list answers clear it is resolved. When DNS does not answer, nothing changes (409)."""
    ip = ips.check_ip(workspace_id(), ip_id)
    commit()
    data = ip_json(ip)
    keys = ("ptr", "ptr_matches", "fcrdns", "listed", "blocklists")
    return {**{k: data[k] for k in keys}, "ip": data}
