"""Delivery: how a built message leaves Herald.

    providers       sending providers: settings, credentials at rest, health, transports
    routing         which provider carries each message of a campaign, and failover
    ratelimit       per-second and per-day limits shared by every worker, in Redis
    verp            VERP return paths that name the message a bounce is about
    delivery_stats  per-day counters by provider and sending domain
    transactional   one message to one person, accepted by the API and sent at once
    outbox          the development catcher's stored messages
    mailcatcher     the development SMTP server that fills the outbox

The adapters themselves (SMTP, SES, SendGrid, Mailgun, Postmark) are app/providers/.
Sending domains and warming will live here too.
"""
