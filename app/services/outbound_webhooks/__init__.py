"""Outbound webhooks: a workspace's URLs receive its normalized events as signed JSON.

How an event travels:

1. `fan_out(workspace_id, event_ids)` (called by the event ingestion after it stored the events)
   writes one pending WebhookDelivery per event and active endpoint subscribed to its type, in
   one INSERT ... SELECT on PostgreSQL. The payload is a snapshot: it does not change when the
   event row does, and a redelivery sends the same bytes' worth of data.
2. `deliver_due()` (the `webhooks` queue: every 10 s from the scheduler, and promptly after
   `enqueue_delivery_run`) claims due deliveries with FOR UPDATE SKIP LOCKED, commits the claim,
   POSTs them and records each outcome. Delivery is at least once: a worker that dies between
   the POST and the record leaves its claim to expire (LEASE), and the delivery is sent again.
   Receivers deduplicate on the payload's `id` (or on X-Herald-Delivery for one attempt chain).

Payload (the JSON body of every POST):

    {"id": "evt_123", "type": "bounce",
     "occurred_at": "2025-05-01T10:00:00.000000+00:00", "created_at": "2025-05-01T10:00:01.250000+00:00",
     "campaign_id": 7, "recipient_id": 42, "message_id": null, "email": "ann@example.com",
     "subscriber_id": 9, "provider_id": 1, "verdict": null, "data": {...}}

`type` is one of app.event_types.EVENT_TYPES (or `test` for "Send test event", whose id is
`evt_test_<hex>`); `message_id` is Herald's transactional message id (null for campaign mail);
`verdict` is an open's or a click's (human, proxy, apple_mpp, scanner, unknown:
app/services/events/verdicts.py; null for other events); `data` is the event's details as stored
(bounce diagnostic, clicked URL, an open's or click's signals, ...). Times are UTC.
`alert.raised` (id `evt_alert_<alert id>`) has no row in the event log: `fan_out_notice` writes its
deliveries from the payload services/platform/alerts builds, with the alert in `data`.

Headers: `Content-Type: application/json`, `User-Agent: Herald-Webhooks/1`, `X-Herald-Event:
<type>`, `X-Herald-Delivery: <delivery id>`, `X-Herald-Timestamp: <unix seconds>` and
`X-Herald-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." + raw body)>`. A receiver
recomputes the HMAC over the raw bytes it received, compares in constant time and refuses a
timestamp more than 5 minutes away from its clock (`verify_signature` is the reference).

Outcome: a 2xx answer within the timeouts (connect 5 s, read 10 s) is `delivered`. Anything else
(another status, a redirect — never followed —, a timeout, a refused connection) is `retrying`
after 30 s, 2 min, 10 min, 1 h, 6 h and 24 h (plus up to 10 % jitter), and `failed` after the
7th attempt. A delivery whose endpoint was disabled fails with "endpoint disabled".

Destinations: only http(s). Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
their IPv4-mapped forms, 100.100.100.200, fd00:ec2::254) are refused, checked on the address
actually connected to, so a name re-pointed there after the endpoint was saved is refused too.
Loopback and private networks stay allowed: a self-hosted receiver on the same machine or LAN is
a normal setup (and the tests' receiver listens on 127.0.0.1).

Transactions: functions here flush and the caller commits, except `deliver_due`, which must
commit its claim before the HTTP calls and so commits its own work.

Modules: endpoints (CRUD, URL and event type checks, secrets), delivery_log (the log, redeliver),
fanout (events and notices to deliveries, queueing a run), signing (body and signature), http (the
checked pool, `post`), delivery (`deliver_due`, `send_test_event`), shared (table, clock, thread count).
Everything is re-exported here; patch a constant on the module that reads it (e.g. `http`).
"""

from app.services.crypto import encrypt_json
from app.services.errors import InvalidState
from app.services.outbound_webhooks.delivery import (
    BACKOFF_SECONDS,
    DUE_STATUSES,
    ENDPOINT_BUDGET,
    JITTER,
    LEASE,
    MAX_ATTEMPTS,
    deliver_due,
    send_test_event,
)
from app.services.outbound_webhooks.delivery_log import (
    DELIVERY_STATUSES,
    get_delivery,
    has_pending,
    list_deliveries,
    redeliver,
)
from app.services.outbound_webhooks.endpoints import (
    MAX_DESCRIPTION,
    MAX_ENDPOINTS,
    MAX_URL_LENGTH,
    SECRET_PREFIX,
    clean_event_types,
    clean_url,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    reveal_secret,
    rotate_secret,
    update_endpoint,
)
from app.services.outbound_webhooks.fanout import (
    enqueue_delivery_run,
    event_payload,
    fan_out,
    fan_out_notice,
    run_soon_after_commit,
)

# Private, but the tests reach them through the package.
from app.services.outbound_webhooks.fanout import fan_out_portable as fan_out_portable
from app.services.outbound_webhooks.http import (
    CONNECT_TIMEOUT,
    DRAIN_LIMIT,
    READ_TIMEOUT,
    RESPONSE_KEEP,
    USER_AGENT,
    BlockedDestination,
    Outcome,
    is_blocked_address,
    post,
)
from app.services.outbound_webhooks.http import http_pool as http_pool
from app.services.outbound_webhooks.shared import SEND_THREADS
from app.services.outbound_webhooks.signing import (
    PAYLOAD_KEYS,
    SIGNATURE_TOLERANCE,
    pretty_payload,
    sign,
    verify_signature,
)

__all__ = [
    "BACKOFF_SECONDS",
    "CONNECT_TIMEOUT",
    "DELIVERY_STATUSES",
    "DRAIN_LIMIT",
    "DUE_STATUSES",
    "ENDPOINT_BUDGET",
    "JITTER",
    "LEASE",
    "MAX_ATTEMPTS",
    "MAX_DESCRIPTION",
    "MAX_ENDPOINTS",
    "MAX_URL_LENGTH",
    "PAYLOAD_KEYS",
    "READ_TIMEOUT",
    "RESPONSE_KEEP",
    "SECRET_PREFIX",
    "SEND_THREADS",
    "SIGNATURE_TOLERANCE",
    "USER_AGENT",
    "BlockedDestination",
    "InvalidState",
    "Outcome",
    "clean_event_types",
    "clean_url",
    "create_endpoint",
    "delete_endpoint",
    "deliver_due",
    "encrypt_json",
    "enqueue_delivery_run",
    "event_payload",
    "fan_out",
    "fan_out_notice",
    "get_delivery",
    "get_endpoint",
    "has_pending",
    "is_blocked_address",
    "list_deliveries",
    "list_endpoints",
    "post",
    "pretty_payload",
    "redeliver",
    "reveal_secret",
    "rotate_secret",
    "run_soon_after_commit",
    "send_test_event",
    "sign",
    "update_endpoint",
    "verify_signature",
]
