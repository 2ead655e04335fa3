"""Delivery: how a built message leaves Herald.

    providers       sending providers: settings, credentials at rest, health, transports
    routing         which provider carries each message of a campaign, and failover
    ratelimit       per-second and per-day limits shared by every worker, in Redis
    verp            VERP return paths that name the message a bounce is about
    delivery_stats  per-day counters by provider and sending domain
    mailbox_providers  a recipient domain's mailbox provider from its MX (data in
                    mailbox_providers.yaml), what figures and per-provider throttling split by
    transactional   one message to one person, accepted by the API and sent at once
    outbox          the development catcher's stored messages
    mailcatcher     the development SMTP server that fills the outbox

The adapters themselves (SMTP, SES, SendGrid, Mailgun, Postmark) are app/providers/.
Sending domains, DKIM, identities, IPs, pools, warming and alerts will live here too; every
DNS lookup goes through the one resolver, app/dns.py.
"""
