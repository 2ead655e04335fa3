"""Deliverability: what protects the sender (issue 14 builds it out slice by slice).

    lookups            the one DNS resolver (DNS_NAMESERVERS, answers cached for their TTL)
    mailbox_providers  a recipient domain's mailbox provider from its MX (data in
                       mailbox_providers.yaml), the key figures and per-provider throttling use

Sending domains, DKIM, identities, IPs, pools, warming, health and alerts will live here too.
"""
