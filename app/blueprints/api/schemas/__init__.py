"""JSON Schemas (2020-12) of the API: request bodies are validated against them and the
OpenAPI document publishes them as its components, so the two cannot disagree.

One module per resource, each ending in the `SCHEMAS` it contributes (component name to schema):

- common: the constructors (obj, response, text, integer, ref), shared fields (ID, TIMESTAMP,
  COUNT, ...), the Error shape, `page_of` and the PAGE / PER_PAGE query parameters
- providers: SMTP settings, credentials, providers and their checks
- domains: sending domains, their DNS records, verification checks and DKIM keys
- ips: dedicated IPs, their provider binding, PTR, FCrDNS and blocklist answers
- identities: sending identities (From addresses on a domain, with display name and reply-to)
- warming: warming plans, their days, and schedules
- pools: sending pools (lanes of domains, identities, IPs and providers)
- alerts: what needs a person (a broken DNS record, a paused warming plan), open or resolved
- lists, subscribers: the audience; subscribers also holds the bulk import (rows and CSV upload)
- subscriber_changes: changing one subscriber (PATCH) and the export of a person's data
- suppressions: the suppression list (addresses, @domains, erased people's hashes)
- categories: the kinds of campaign people opt out of or get less often, and a person's choices
- segments: saved rule trees with their live count, and the field registry that types attributes
- advisor: recommendations (a check's finding, its evidence and its fix)
- email_templates: templates, versions, previews and test sends (TEMPLATE_INPUT is shared with designs)
- designs, blocks, images: the visual builder's designs, saved blocks and uploaded pictures
- campaigns: send windows, recurrence, A/B tests, campaigns, runs and recipients
- messages: transactional messages
- frequency_cap: the workspace's cap on marketing emails per person, campaigns and flows together
- orders: orders the shop reports, credited to the campaign a person last clicked
- customer_events: events a shop or an app reports (one or a batch), and the events listed back
- products: the product catalogue (a product put by SKU, with its watcher counts)
- flows: flows (trigger, steps, goals), their people and emails, and the ready-made flows (recipes)
- growth: the loyalty program, a person's points and ledger; gift cards, their ledgers and redemptions
- referrals: referral programs (rewards for a referrer and their friend), referrals, share links
- deliveries: the message trail (a message's steps, searched by address or Message-ID)
- sms: SMS campaigns (figures, recipients, estimate), a text's preview, texts received, SMS settings
- webhook_endpoints: outbound webhook endpoints and their deliveries
- team: the team's members and pending invitations, and the audit log

`SCHEMAS` below joins them in the order the reference page lists them; names are unique across
modules. The names re-exported here are the ones the API modules import.
"""

from app.blueprints.api.schemas import (
    advisor,
    alerts,
    blocks,
    campaigns,
    categories,
    common,
    customer_events,
    deliveries,
    designs,
    domains,
    email_templates,
    flows,
    frequency_cap,
    growth,
    identities,
    images,
    ips,
    lists,
    messages,
    orders,
    pools,
    products,
    providers,
    referrals,
    segments,
    sms,
    subscriber_changes,
    subscribers,
    suppressions,
    team,
    warming,
    webhook_endpoints,
)
from app.blueprints.api.schemas.campaigns import RECIPIENT_FILTER
from app.blueprints.api.schemas.common import ID, MAX_ID, PAGE, PER_PAGE, page_of, text
from app.blueprints.api.schemas.email_templates import TEMPLATE_CREATE

_MODULES = (
    common,
    providers,
    domains,
    identities,
    ips,
    pools,
    warming,
    alerts,
    advisor,
    lists,
    subscribers,
    subscriber_changes,
    suppressions,
    categories,
    segments,
    email_templates,
    designs,
    blocks,
    images,
    campaigns,
    frequency_cap,
    messages,
    deliveries,
    orders,
    customer_events,
    products,
    flows,
    growth,
    referrals,
    sms,
    webhook_endpoints,
    team,
)
SCHEMAS: dict[str, dict] = {name: schema for module in _MODULES for name, schema in module.SCHEMAS.items()}
assert len(SCHEMAS) == sum(len(module.SCHEMAS) for module in _MODULES), "a component name is declared twice"

__all__ = ["ID", "MAX_ID", "PAGE", "PER_PAGE", "RECIPIENT_FILTER", "SCHEMAS", "TEMPLATE_CREATE", "page_of", "text"]
