"""Delivery: how a built message leaves Herald.

    providers       sending providers: settings, credentials at rest, health, transports
    routing         which provider carries each message of a campaign, and failover
    ratelimit       per-second and per-day limits shared by every worker, in Redis
    throttle        per (From domain × mailbox provider) AIMD rates shared by every worker, in Redis:
                    a deferral halves the pair's rate at once, it recovers step by step, and its
                    recipients are held back while every other pair goes on (PairThrottle)
    verp            VERP return paths that name the message a bounce is about
    delivery_stats  per-day counters by provider and sending domain
    mailbox_providers  a recipient domain's mailbox provider from its MX (data in
                    mailbox_providers.yaml), what figures and per-provider throttling split by
    mailbox_cache   the MX cache shared by every workspace (mailbox_domains): refresh_domains looks
                    up what is missing within a budget; email_domain is the SQL to join it on
    dns_checks      the lookups behind a sending domain's "Verify": SPF (include tree, 10-lookup
                    limit), DKIM key, DMARC (with the parent's policy), return-path MX; alignment
    dkim            DKIM keys (generate_key, record_value) and the signature on every message
                    from a sending domain that signs (signer_for, cached per process; forget)
    ips             dedicated IPs: the provider each is bound to (SMTP binds its connections to
                    it; providers.transport_for reads it), PTR, FCrDNS and DNS blocklists (check_all
                    daily), the `ip_blocklisted` alert
    health          0–100 scores per domain and IP over 7 days (bounces, complaints, deliveries,
                    opens), kept daily (record_daily) with the `health_dropped` alert; per
                    destination mailbox provider over 24 hours (pair_scores); the Health card
    identities      sending identities: From addresses (with display name and reply-to) on a sending
                    domain that campaigns and transactional templates pick; whether a From is DKIM-signed
    domains         sending domains: the records to publish, verification (and the daily re-check with
                    its alerts), DKIM keys and rotation, the bounce subdomain, DMARC alignment
    pools           sending pools: lanes of providers, domains, identities and IPs; the default lanes
                    for marketing and transactional mail; a pool as a routing config
    identity_routing  which of a pool's identities each recipient is sent from (health, affinity, warming room)
    senders         the From each recipient row goes out as, for warming, health and the event cascade
    warming_schedules  the built-in warming schedules and custom ones: a day's cap
    warming_plans   a plan's subject (domain or IP), its day and cap, the campaigns it gates
    warming_holds   holding a gated campaign's recipients and releasing today's room exactly
    warming         starting, pausing and resuming plans, thresholds, the figures the pages show
    warming_counts  what a plan's subject sent, bounced and complained per local day (the chart's bars)
    transactional   one message to one person, accepted by the API and sent at once
    outbox          the development catcher's stored messages
    mailcatcher     the development SMTP server that fills the outbox

The adapters themselves (SMTP, SES, SendGrid, Mailgun, Postmark) are app/providers/; alerts are
app/services/platform/alerts.py. Every DNS lookup goes through the one resolver, app/dns.py.
"""
