"""Insights: a message's whole history (the trail, searched by address or Message-ID), and a
campaign's figures over time."""

from app.blueprints.api.schemas.common import ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response
from app.services.events.insights import METRICS as _METRICS

VERDICT = {
    "enum": ["human", "proxy", "apple_mpp", "scanner", "unknown", None],
    "description": "An open's or a click's: a person (human; proxy, Gmail's or Yahoo's image proxy fetching "
    "as a person opens) or a machine (apple_mpp, scanner, unknown). Null for other steps.",
}
STEP = obj(
    {
        "t": TIMESTAMP,
        "type": {
            "type": "string",
            "description": "queued, handed off, not handed off, hand-off unknown, skipped, waiting, delivered, "
            "deferred, bounced, complained, rejected by the provider, opened, clicked, unsubscribed, replied, …",
        },
        "detail": {"type": ["string", "null"], "description": "The diagnostic, the clicked URL, why it was skipped."},
        "smtp_code": {"type": ["integer", "null"]},
        "smtp_reply": {"type": ["string", "null"], "description": "The server's exact reply, e.g. 250 2.0.0 Ok."},
        "verdict": VERDICT,
        "signals": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": "What an open's or click's verdict rests on: rule, method, seconds since the hand-off.",
        },
    },
    required=("t", "type", "detail", "smtp_code", "smtp_reply", "verdict", "signals"),
)
SCHEMAS: dict[str, dict] = {
    "Delivery": response(
        {
            "kind": {"enum": ["campaign", "transactional"]},
            "id": ID | {"description": "The campaign recipient's id, or the transactional message's."},
            "to": {"type": "string"},
            "subject": {
                "type": ["string", "null"],
                "description": "A transactional message's subject as sent; a "
                "campaign's subject line as written (before personalization).",
            },
            "campaign_id": {"type": ["integer", "null"]},
            "campaign_name": {"type": ["string", "null"]},
            "message_id": {"type": ["string", "null"], "description": "The Message-ID header Herald gave it."},
            "provider": {"type": ["string", "null"], "description": "The provider that carried it."},
            "provider_message_id": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "sent_at": MAYBE_TIMESTAMP,
            "trail": {"type": "array", "items": STEP, "description": "Every step, the oldest first."},
        },
        description="One message and what happened to it.",
    ),
    "DeliveryList": response({"items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}),
}

_POINT = {
    "type": "object",
    "required": ["t"],
    "properties": {"t": TIMESTAMP, **{m: {"type": "integer", "minimum": 0} for m in _METRICS}},
    "additionalProperties": False,
}
_RATE = obj(
    {
        "value": {"type": ["number", "null"], "description": "null: nothing to divide by, or (delivery_rate) "
                  "no provider reported deliveries."},
        "numerator": {"type": "integer"},
        "denominator": {"type": "integer"},
        "of": {"type": "string", "description": "What the denominator counts (delivered, or sent when no "
               "provider reported deliveries)."},
    },
    required=("value", "numerator", "denominator", "of"),
)  # fmt: skip
_SERIES = {
    "interval": {"enum": ["hour", "day"]},
    "group_by": {"enum": [None, "mailbox_provider", "identity", "domain"]},
    "series": {
            "type": "array",
            "items": obj(
                {"key": {"type": ["string", "integer", "null"]}, "label": {"type": "string"},
                 "points": {"type": "array", "items": _POINT}},
                required=("key", "label", "points"),
            ),
        },
        "totals": {
            "type": "object",
            "properties": {**{m: {"type": "integer"} for m in _METRICS},
                           "rates": {"type": "object", "additionalProperties": _RATE}},
            "additionalProperties": False,
        },
}  # fmt: skip
SCHEMAS["CampaignInsights"] = response(
    _SERIES,
    description="A campaign's figures per hour (UTC) or day (the workspace's), raw and human side by side; "
    "the series add up to the totals.",
)
SCHEMAS["WorkspaceInsights"] = response(
    {**_SERIES, "group_by": {"enum": [None, "campaign", "list", "mailbox_provider", "identity", "domain"]},
     "from": TIMESTAMP, "to": MAYBE_TIMESTAMP},
    description="Every campaign's figures together per hour (UTC) or day (the workspace's), or split by campaign, "
    "list (a campaign counts under each list it went to), mailbox provider, identity or domain.",
)  # fmt: skip
_REVENUE = {
    "type": "array",
    "items": obj({"currency": {"type": "string"}, "orders": {"type": "integer"}, "amount": {"type": "number"}},
                 required=("currency", "orders", "amount")),
    "description": "Attributed orders placed in the period, per currency (the commonest first).",
}  # fmt: skip
_PERIOD = {
    "type": "object",
    "properties": {**{m: {"type": "integer"} for m in _METRICS}, "conversions": {"type": "integer"},
                   "revenue": _REVENUE, "rates": {"type": "object", "additionalProperties": _RATE}},
    "additionalProperties": False,
}  # fmt: skip
_RANKED = {
    "type": "array",
    "items": obj(
        {"id": ID, "name": {"type": "string"}, "sent": {"type": "integer"},
         "reach": {"type": "integer", "description": "Delivered, or sent where no deliveries were reported."},
         "open_rate": {"type": ["number", "null"]}, "click_rate": {"type": ["number", "null"]},
         "human_unique_opens": {"type": "integer"}, "human_unique_clicks": {"type": "integer"},
         "conversions": {"type": "integer"}, "revenue": {"type": "number"},
         "revenue_currency": {"type": ["string", "null"]},
         "revenue_per_recipient": {"type": "number", "description": "Revenue over the people it reached."}},
        required=("id", "name", "sent", "reach", "open_rate", "click_rate", "human_unique_opens",
                  "human_unique_clicks", "conversions", "revenue", "revenue_currency", "revenue_per_recipient"),
    ),
}  # fmt: skip
_CHANGE = obj({"current": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]},
               "change": {"type": ["number", "null"], "description": "Relative: 0.25 is 25% more; null: none before."}},
              required=("current", "previous", "change"))  # fmt: skip
_RATE_CHANGE = obj({"current": {"type": ["number", "null"]}, "previous": {"type": ["number", "null"]},
                    "points": {"type": ["number", "null"], "description": "current − previous (0.01 is one point)."}},
                   required=("current", "previous", "points"))  # fmt: skip
SCHEMAS["Overview"] = response(
    {"from": TIMESTAMP, "to": TIMESTAMP, "previous_from": TIMESTAMP, "current": _PERIOD, "previous": _PERIOD,
     "changes": {"type": "object", "additionalProperties": _CHANGE},
     "rate_changes": {"type": "object", "additionalProperties": _RATE_CHANGE},
     "best": _RANKED | {"description": "The campaigns sent in the period with the best open rates by people."},
     "worst": _RANKED | {"description": "The worst (only campaigns that reached 50 people are ranked)."}},
    description="The last 30 days against the 30 before, from the hourly rollups and the orders.",
)  # fmt: skip

SCHEMAS["CampaignLinks"] = response(
    {
        "links": {
            "type": "array",
            "items": obj(
                {"link_id": ID, "position": {"type": "integer", "minimum": 1}, "url": {"type": "string"},
                 "clicks": {"type": "integer"}, "human_clicks": {"type": "integer"},
                 "clickers": {"type": "integer", "description": "Recipients who clicked it."},
                 "human_clickers": {"type": "integer"}},
                required=("link_id", "position", "url", "clicks", "human_clicks", "clickers", "human_clickers"),
            ),
        },
        "trap": {"type": "integer", "description": "Clicks on the hidden honeypot link: machines walking the message."},
    }
)  # fmt: skip

_SHARES = {
    "type": "array",
    "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2, "maxItems": 2},
    "description": "[name, opens], the most first.",
}
SCHEMAS["CampaignDevices"] = response(
    {
        "opens": {"type": "integer", "description": "Opens by people."},
        "clients": _SHARES | {"description": "Mail programs (Gmail, Apple Mail, Outlook, …): [name, opens]."},
        "systems": _SHARES | {"description": "Operating systems: [name, opens]."},
        "kinds": _SHARES | {"description": "desktop, mobile, tablet or unknown: [kind, opens]."},
    }
)
