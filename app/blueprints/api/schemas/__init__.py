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
- email_templates: templates, versions, previews and test sends (TEMPLATE_INPUT is shared with designs)
- designs, blocks, images: the visual builder's designs, saved blocks and uploaded pictures
- campaigns: send windows, recurrence, A/B tests, campaigns, runs and recipients
- messages: transactional messages
- orders: orders the shop reports, credited to the campaign a person last clicked
- deliveries: the message trail (a message's steps, searched by address or Message-ID)
- webhook_endpoints: outbound webhook endpoints and their deliveries

`SCHEMAS` below joins them in the order the reference page lists them; names are unique across
modules. The names re-exported here are the ones the API modules import.
"""

from app.blueprints.api.schemas import (
    alerts,
    blocks,
    campaigns,
    common,
    deliveries,
    designs,
    domains,
    email_templates,
    identities,
    images,
    ips,
    lists,
    messages,
    orders,
    pools,
    providers,
    subscribers,
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
    lists,
    subscribers,
    email_templates,
    designs,
    blocks,
    images,
    campaigns,
    messages,
    deliveries,
    orders,
    webhook_endpoints,
)
SCHEMAS: dict[str, dict] = {name: schema for module in _MODULES for name, schema in module.SCHEMAS.items()}
assert len(SCHEMAS) == sum(len(module.SCHEMAS) for module in _MODULES), "a component name is declared twice"

__all__ = ["ID", "MAX_ID", "PAGE", "PER_PAGE", "RECIPIENT_FILTER", "SCHEMAS", "TEMPLATE_CREATE", "page_of", "text"]
