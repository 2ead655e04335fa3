"""Insights: the message trail (every message to an address, or with a Message-ID, and what happened
to it) and a campaign's figures over time."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import delivery_json
from app.services.campaigns import drafts
from app.services.events import devices, insights, performance, trail

TAG = "Insights"


@operation(
    "GET",
    "/deliveries",
    "Find a message's trail",
    tag=TAG,
    response="DeliveryList",
    query=(
        Param("email", {"type": "string", "maxLength": trail.MAX_QUERY}, "The recipient's address."),
        Param(
            "message_id",
            {"type": "string", "maxLength": trail.MAX_QUERY},
            "Herald's Message-ID (with or without <>) or the provider's message id.",
        ),
    ),  # fmt: skip
)
def find_deliveries(query: dict):
    """Campaign and transactional messages, the latest first (at most 50), each with its steps: queued,
    handed off with the server's exact reply, delivered, deferred, bounced with the diagnostic, each
    open and click with its verdict and signals, unsubscribed, complained. Give `email` or `message_id`."""
    found = trail.search(workspace_id(), query.get("email"), query.get("message_id"))
    return {"items": [delivery_json(d) for d in found]}


@operation(
    "GET",
    "/campaigns/{campaign_id}/insights",
    "A campaign's figures over time",
    tag=TAG,
    response="CampaignInsights",
    query=(
        Param("interval", {"enum": list(insights.INTERVALS), "default": "hour"}),
        Param("group_by", {"enum": list(insights.GROUPS)}, "Split by mailbox provider, sending identity or domain."),
        Param("from", {"type": "string", "maxLength": 40}, "ISO 8601: buckets from this time."),
        Param("to", {"type": "string", "maxLength": 40}, "ISO 8601: buckets before this time."),
    ),
)
def campaign_insights(campaign_id: int, query: dict):
    """Sent, delivered, bounced, deferred, opens and clicks (raw and by people; unique and in all),
    unsubscribes, complaints and replies per hour (UTC) or day (the workspace's), optionally per mailbox
    provider, identity or domain; totals with each rate and its denominator."""
    campaign = drafts.get_campaign(workspace_id(), campaign_id)
    result = insights.campaign_series(campaign, query.get("interval") or "hour", query.get("group_by"),
                                      query.get("from"), query.get("to"))  # fmt: skip
    for s in result["series"]:
        for p in s["points"]:
            p["t"] = p["t"].isoformat()
    return result


@operation("GET", "/campaigns/{campaign_id}/links", "A campaign's clicks per link", tag=TAG, response="CampaignLinks")
def campaign_links(campaign_id: int):
    """Each tracked link in the order the message shows it, with clicks and clickers raw and by people;
    `trap`: clicks on the hidden honeypot link, which only machines follow."""
    return insights.campaign_links(drafts.get_campaign(workspace_id(), campaign_id))


@operation(
    "GET", "/campaigns/{campaign_id}/devices", "Where people read a campaign", tag=TAG, response="CampaignDevices"
)
def campaign_devices(campaign_id: int):
    """Mail programs, systems and kinds of device, from the user agents of opens by people (Apple's
    prefetches and scanners say nothing about the reader), parsed with ua-parser."""
    return devices.campaign_devices(drafts.get_campaign(workspace_id(), campaign_id))


@operation(
    "GET",
    "/insights",
    "The workspace's figures over time",
    tag=TAG,
    response="WorkspaceInsights",
    query=(
        Param("interval", {"enum": list(insights.INTERVALS), "default": "day"}),
        Param("group_by", {"enum": list(insights.WORKSPACE_GROUPS)},
              "Split by campaign, list, mailbox provider, sending identity or domain."),
        Param("from", {"type": "string", "maxLength": 40}, "ISO 8601: buckets from this time (default: 30 days ago)."),
        Param("to", {"type": "string", "maxLength": 40}, "ISO 8601: buckets before this time."),
    ),
)  # fmt: skip
def workspace_insights(query: dict):
    """Every campaign's figures together, per hour (UTC) or day (the workspace's): the same metrics and rates
    as a campaign's insights, from the hourly rollups."""
    result = insights.workspace_series(workspace_id(), query.get("interval") or "day", query.get("group_by"),
                                       query.get("from"), query.get("to"))  # fmt: skip
    return _iso(result, "from", "to")


@operation("GET", "/overview", "The last 30 days against the 30 before", tag=TAG, response="Overview")
def overview():
    """Sends, people's opens and clicks, bounces, complaints, unsubscribes, conversions and revenue over the
    last 30 days beside the 30 before, with the change; the best and worst campaigns of the period."""
    return _iso(performance.overview(workspace_id()), "from", "to", "previous_from")


def _iso(result: dict, *fields: str) -> dict:
    for s in result.get("series", ()):
        for p in s["points"]:
            p["t"] = p["t"].isoformat()
    for f in fields:
        result[f] = result[f].isoformat() if result[f] is not None else None
    return result
