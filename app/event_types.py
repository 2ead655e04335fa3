"""The normalized event vocabulary (DESIGN.md "Events"): what every tracking hit, provider webhook
and mailbox report becomes. It belongs to the events domain, not to the adapters: providers map
their own words onto it, and models, services, the API and the pages read it from here."""

# `unknown` keeps a provider event we do not map.
EVENT_TYPES = (
    "send",
    "delivery",
    "bounce",
    "complaint",
    "reject",
    "open",
    "click",
    "unsubscribe",
    "resubscribe",
    "rendering_failure",
    "delivery_delay",
    "reply",
    "unknown",
    # About no message: Herald's own notice that something needs a person (services/platform/alerts).
    # Outbound webhooks only; it has no row in the event log and no provider maps onto it.
    "alert.raised",
)
BOUNCE_TYPES = ("hard", "soft", "block")

# The reason on a recipient whose receiving server refused the sender (5.7.x), not the address:
# never suppressed, and the marketer may send to them again.
SENDER_BLOCKED = "blocked by the receiving server's policy"
# The reason of a recipient whose temporary (4xx) refusals outlasted every retry (campaigns' outcomes).
GAVE_UP = "smtp deferred"
