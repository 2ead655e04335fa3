"""The OpenAPI 3.1 document, assembled from the registered operations and schemas, and a page
that shows the same document to people."""

from functools import cache

from apispec import APISpec
from flask import render_template
from markupsafe import Markup, escape

from app.blueprints.api.registry import OPERATIONS, Operation, operation
from app.blueprints.api.schemas import ID, SCHEMAS, page_of, text

PREFIX = "/api/v1"
TAG = "Documentation"
INTRO = [
    "Herald's JSON API. Every request carries an API key: 'Authorization: Bearer <key>' (create keys under "
    "Settings → API keys, or with 'flask create-api-key'). The key's workspace is the workspace of every "
    "request: an id of another workspace answers 404.",
    "Bodies are JSON objects (Content-Type: application/json); answers are JSON with timestamps in ISO 8601 "
    "with an offset. Lists are paginated with ?page=N&per_page=M (at most 200) and answer "
    "{items, page, per_page, total}.",
    'Errors answer a 4xx status and {"error": {"code", "message", "fields"}}, where fields says per '
    "field (a dotted path such as settings.port) what to fix.",
    "Each key acts with a role: owner and admin do everything (admin: but changing owners), a marketer "
    "builds and sends but changes no provider, domain, IP, pool, warming plan, webhook endpoint or team, "
    "an analyst reads everything and changes nothing. What the key's role does not allow answers 403 "
    '{"error": {"code": "forbidden", ...}}; an id of another workspace still answers 404.',
]
ERROR_RESPONSES = {
    400: ("BadRequest", "The body is empty or not valid JSON."),
    401: ("Unauthorized", "No API key, or one that is not valid or was revoked."),
    403: ("Forbidden", "The API key's role does not allow this (an analyst's key reads and changes nothing)."),
    404: ("NotFound", "No such resource in this workspace."),
    409: ("Conflict", "The resource exists already, or is in a state that does not allow this."),
    413: ("TooLarge", "The body is larger than the server accepts."),
    415: ("UnsupportedMediaType", "The body is not JSON (or, where allowed, a multipart upload)."),
    422: ("Invalid", "The values do not pass validation; `fields` says which and why."),
}
TAGS = {
    "Providers": "Where email is handed off: SMTP servers, Amazon SES, SendGrid, Mailgun and Postmark. Each "
    "API provider posts its events to `/webhooks/<provider_type>/<provider_id>` (shown as `webhook_url`).",
    "Domains": "Sending domains: the SPF, DKIM, DMARC and return-path records to publish, their verification "
    "(daily, too), and DKIM keys with rotation. Mail from a verified domain is DKIM-signed.",
    "Identities": "Sending identities: From addresses on a sending domain (marketing@, support@, noreply@), each "
    "with a display name and a reply-to. Campaigns and transactional templates pick one by `identity_id` "
    "instead of typing a From.",
    "IPs": "Dedicated IPs: the public addresses a workspace sends from, with the host name their PTR should "
    "give. An SMTP provider bound to one makes its connections leave from it; an API provider knows it by its "
    "pool's name. Checked on demand and daily: PTR, forward-confirmed reverse DNS, and Spamhaus ZEN, SpamCop "
    "and Barracuda; a listing raises an `ip_blocklisted` alert.",
    "Alerts": "What needs a person: a DNS record that broke, a DKIM key that no longer matches, a paused "
    "warming plan, a blocklist listing. One open alert per kind and subject; a new one is also mailed to the "
    "workspace's owners and sent as the `alert.raised` webhook event.",
    "Warming": "A sending domain's daily cap growing on a schedule: the most engaged recipients go first, "
    "the rest wait as `pending` (reason `waiting for warming capacity`) for the next day; bounce, complaint "
    "and delivery thresholds pause it until a person resumes.",
    "Pools": "Sending pools: lanes of domains, identities, IPs and providers. Campaigns and transactional "
    "templates name one (`pool_id`) or take the workspace's default for their kind, so marketing and "
    "transactional mail never share a lane; a pool's providers fail over only to one another.",
    "Lists": "Mailing lists people subscribe to.",
    "Subscribers": "People, one at a time or imported in bulk; a person's data exported or erased on request.",
    "Suppressions": "Addresses and whole domains (`@example.com`) no campaign sends to, each with its reason and "
    "source (link, one-click, preference center, api, dashboard, complaint, bounce, import, erasure). An erased "
    "person's entry is `erased:<sha256>`: only the hash of their address stays.",
    "Categories": "The kinds of campaign (promotions, product news, tips…) a campaign names by `category_id`; "
    "each person may opt out of one or get it at most daily, weekly or monthly (a subscriber's `preferences`). "
    "At send time an opted-out person is skipped as `suppressed:category`, one over their frequency as `frequency`.",
    "Templates": "Email content: subject, HTML and text in sandboxed Jinja.",
    "Designs": "The visual builder: designs (visual templates) checked, compiled, saved as versions, "
    "previewed, tested and converted to code.",
    "Saved blocks": "Blocks a workspace keeps for reuse in its designs.",
    "Images": "Pictures for emails: PNG, JPEG, GIF or WebP, each with a public URL.",
    "Campaigns": "A template sent to lists, with its statistics and recipients: scheduled, windowed, "
    "recurring or A/B-tested, paused, resumed and cancelled.",
    "Messages": "Transactional email, one message at a time (order confirmations, password resets, codes): "
    "sent at once on a queue of its own, never behind a campaign.",
    "Orders": "What the shop sold, each order credited to the campaign whose message the buyer last clicked "
    "as a person (scanners and prefetches earn nothing) within the workspace's window: campaigns then show "
    "conversions and revenue.",
    "Customer events": "What people do in the shop or the app (carts, orders, wishlists, milestones, your own "
    "types), one event or a batch of up to 1,000, by email or subscriber id, each stored once per idempotency "
    "key. An order_placed is also recorded as an order (attribution); wishlist and restock events decide who "
    "watches a product. Herald derives price_dropped and back_in_stock from the product catalogue.",
    "Products": "The shop's catalogue, put by SKU. A lower price raises price_dropped for the people who wished "
    "for the product at a higher price; the product coming back in stock raises back_in_stock for those "
    "watching it.",
    "Flows": "Automations: a trigger (an event, joining a list or a segment, a date such as a birthday, or an API "
    "call) and steps people go through one by one (emails through the campaign pipeline, waits, conditions, "
    "milestones, updates, webhooks, exits), with goals that end it early, re-entry rules and quiet hours. Editing "
    "a live flow makes a new version on activation: new entrants follow it, people inside finish theirs. Each "
    "step is done once per person. Ready-made flows (POST /flows/from-recipe) come with their emails.",
    "Loyalty": "Points for what people buy: orders in the program's currency earn them once, the shop redeems "
    "them (409 `insufficient_balance` when the balance is short; concurrent redemptions queue on the account, so "
    "it never goes below zero), earned points expire oldest first, tiers follow lifetime points.",
    "Gift cards": "Cards with unguessable codes answered once (Herald keeps a hash), issued one by one and mailed "
    "to a recipient, made in bulk, or sold by an order item with `gift_card: true`; redeemed by code in part or in "
    "full (409 when the balance is short), refunded, expired daily.",
    "SMS": "Texts through Twilio: SMS campaigns with the email campaign's lifecycle (send, schedule, unschedule, "
    "pause, resume, cancel), sent only to people with a number who agreed to texts, within the recipient's quiet "
    "hours; their estimate (GSM-7 or UCS-2 segments and price), figures and recipients; replies and STOP / START / "
    "HELP received at `/webhooks/twilio/<provider_id>/inbound`; the workspace's SMS settings.",
    "Insights": "What happened to a message: its whole trail, from queued to the hand-off's exact reply, "
    "deliveries, deferrals, bounces with the diagnostic, and each open and click with its verdict (a person, "
    "or Apple's prefetch, a proxy, a scanner).",
    "Webhooks": "Outbound webhooks: URLs that receive the workspace's normalized events (delivery, bounce, "
    "complaint, open, click, unsubscribe, reply, ...) as JSON signed with HMAC-SHA256 "
    "(`X-Herald-Signature: t=<unix time>,v1=<hex>` over `<t>.<body>`), retried with backoff.",
    "Team": "The workspace's members and their roles, pending invitations, and the audit log: who did what "
    "and when (sends, deletes, exports, erasures, settings and role changes). Invitations and roles are "
    "managed in the dashboard (Settings → Team).",
    TAG: "This reference.",
}
KEY = text(100, "The resource's own key (percent-encoded in the path).", min_length=1)
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}


@cache
def build_document() -> dict:
    """The OpenAPI document of every operation registered on the blueprint."""
    spec = APISpec(
        title="Herald API",
        version="1.0.0",
        openapi_version="3.1.0",
        info={"description": "\n\n".join(INTRO)},
        servers=[{"url": PREFIX}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API key of the workspace."}
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name in sorted({op.response for op in OPERATIONS if op.paginated}):
        spec.components.schema(f"{name}Page", page_of(name))
    for name, description in ERROR_RESPONSES.values():
        spec.components.response(
            name, {"description": description, "content": {"application/json": {"schema": "Error"}}}
        )
    tags = [t for t in TAGS if any(op.tag == t for op in OPERATIONS)]
    tags += sorted({op.tag for op in OPERATIONS} - set(tags))
    for tag in tags:
        spec.tag({"name": tag, **({"description": TAGS[tag]} if tag in TAGS else {})})
    paths: dict[str, dict] = {}
    for op in sorted(OPERATIONS, key=lambda o: tags.index(o.tag)):
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(op: Operation) -> dict:
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": KEY if name in op.key_params else ID}
        for name in op.path_params
    ]
    for param in op.query_params:
        parameters.append({"in": "query", "name": param.name, "required": False, "schema": param.schema})
        if param.description or param.schema.get("description"):
            parameters[-1]["description"] = param.description or param.schema["description"]
    if op.response:
        schema = f"{op.response}Page" if op.paginated else op.response
    else:
        schema = {"type": "object"} if op.media_type == "application/json" else {"type": "string"}
    responses = {}
    for status in (op.status, *op.also):
        responses[str(status)] = {"description": STATUS_TEXT.get(status, "OK")}
        if status != 204:
            responses[str(status)]["content"] = {op.media_type: {"schema": schema}}
    for status in op.error_statuses:
        responses[str(status)] = ERROR_RESPONSES[status][0]
    doc = {"operationId": op.endpoint, "summary": op.summary, "tags": [op.tag], "responses": responses}
    if op.description:
        doc["description"] = op.description
    if parameters:
        doc["parameters"] = parameters
    if op.body:
        content = {"application/json": {"schema": op.body}}
        if op.multipart:
            content["multipart/form-data"] = {"schema": op.multipart}
        doc["requestBody"] = {"required": op.body_required, "content": content}
    elif op.multipart:
        content = {"multipart/form-data": {"schema": op.multipart}}
        for media_type in op.raw_types:
            content[media_type] = {"schema": {"type": "string", "contentMediaType": media_type}}
        doc["requestBody"] = {"required": True, "content": content}
    if op.public:
        doc["security"] = []
    return doc


@operation("GET", "/openapi.json", "This OpenAPI document", tag=TAG, public=True)
def openapi_document():
    """OpenAPI 3.1, generated from the code that serves the API."""
    return build_document()


@operation("GET", "/docs", "Reference for people", tag=TAG, public=True, media_type="text/html")
def docs():
    """The OpenAPI document as a readable page."""
    return render_template("api/docs.html", doc=build_document(), intro=INTRO, prose=prose)


def prose(value) -> Markup:
    """Escaped text whose `backticked` parts show as code."""
    parts = str(value or "").split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))
