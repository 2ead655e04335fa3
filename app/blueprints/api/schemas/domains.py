"""Sending domains: the records to publish, verification checks, DKIM keys and their rotation."""

from app.blueprints.api.schemas.common import COUNT, ID, MAYBE_TIMESTAMP, TIMESTAMP, integer, obj, ref, response, text
from app.services.delivery.domains import PURPOSES
from app.services.delivery.health import TIERS

DOMAIN_CREATE = obj(
    {
        "domain": text(
            253, "The domain mail is sent from, e.g. news.example.com (an address's domain is taken).", min_length=1
        ),
        "return_path_subdomain": text(63, "The bounce subdomain's label (default: bounces).", nullable=True),
    },
    required=("domain",),
)

DNS_RECORD = response(
    {
        "purpose": {"enum": list(PURPOSES)},
        "type": {"enum": ["TXT", "MX"]},
        "name": {"type": "string"},
        "value": {"type": "string", "description": "For MX: `<preference> <host>`."},
    }
)

DOMAIN_CHECK = obj(
    {
        "purpose": {"enum": list(PURPOSES)},
        "ok": {"type": "boolean"},
        "found": {"type": ["string", "null"], "description": "The record(s) found, as published."},
        "expected": {"type": "string"},
        "detail": {"type": "string", "description": "What was found, in plain words."},
        "required": {"type": "boolean", "description": "Needed for the domain to be verified."},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "selector": {"type": "string", "description": "DKIM checks: the key's selector."},
    },
    required=("purpose", "ok", "found", "expected", "detail", "required"),
    additional=True,
)

DKIM_KEY = response(
    {
        "id": ID,
        "selector": {"type": "string"},
        "status": {
            "enum": ["new", "verified", "signing", "retiring", "retired"],
            "description": "new (to publish) → verified → signing → retiring (published until retire_after) → retired.",
        },
        "public_key": {"type": "string", "description": "Base64 SubjectPublicKeyInfo: the record's p=."},
        "verified_at": MAYBE_TIMESTAMP,
        "signing_since": MAYBE_TIMESTAMP,
        "retire_after": MAYBE_TIMESTAMP,
        "created_at": TIMESTAMP,
    }
)

DOMAIN = response(
    {
        "id": ID,
        "domain": {"type": "string"},
        "status": {
            "enum": ["pending", "verifying", "verified", "failed", "warming", "active", "paused"],
        },
        "status_reason": {"type": ["string", "null"]},
        "return_path_domain": {"type": "string", "description": "The envelope (bounce) domain."},
        "dns_records": {"type": "array", "items": ref("DnsRecord")},
        "checks": {"type": "array", "items": ref("DomainCheck"), "description": "The latest verification."},
        "dkim_selectors": {"type": "array", "items": ref("DkimKey")},
        "dmarc_policy": {"type": ["string", "null"], "description": "p= of the DMARC record found."},
        "health": {
            "oneOf": [ref("DomainHealth"), {"type": "null"}],
            "description": "The latest daily health score; null until the domain has sent 100 messages in 7 days.",
        },
        "blocklists": {
            "type": "array",
            "items": ref("BlocklistResult"),
            "description": "The domain on Spamhaus DBL, SURBL and URIBL at the last look (verify, and daily); empty before.",
        },
        "blocklists_checked_at": MAYBE_TIMESTAMP,
        "verified_at": MAYBE_TIMESTAMP,
        "checked_at": MAYBE_TIMESTAMP,
        "created_at": TIMESTAMP,
    }
)

DOMAIN_HEALTH = response(
    {
        "score": integer("0–100: bounces and complaints 35% each, deliveries and opens 15% each.", maximum=100),
        "tier": {
            "enum": [tier for tier, _ in TIERS],
            "description": "EXCELLENT ≥ 90, GOOD 70–89, FAIR 50–69, POOR 30–49, CRITICAL < 30.",
        },
        "day": {"type": "string", "format": "date", "description": "The UTC day its 7-day window ends with."},
    },
    "A domain's health over the 7 UTC days ending with `day`, scored daily.",
)

DOMAIN_VERIFICATION = response(
    {
        "status": {"type": "string"},
        "checks": {"type": "array", "items": ref("DomainCheck")},
        "domain": ref("Domain"),
    },
    "Every record looked up now; `status` is the domain's afterwards.",
)

SWITCH_KEY = obj({"key_id": ID}, required=("key_id",))

# DMARC aggregate reports (services/advisor/dmarc.py) ---------------------------------------------

_PASS_FAIL = response({"pass": COUNT, "fail": COUNT}, "Messages whose DMARC-evaluated result passed or failed.")
DMARC_REPORT_UPLOAD = obj(
    {
        "file": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "The report as a reporter sends it: gzip (.xml.gz), zip or plain XML, RFC 7489 or "
            "RFC 9990. At most 10 MB, 50 MB of XML and 50,000 rows.",
        },
    },
    required=("file",),
)
DMARC_REPORT = response(
    {
        "id": ID,
        "status": {"enum": ["parsed", "error"]},
        "error": {"type": ["string", "null"], "description": "Why a report could not be read."},
        "org_name": {"type": ["string", "null"], "description": "The reporter (google.com, Outlook.com, Yahoo…)."},
        "report_id": {"type": ["string", "null"]},
        "begin": MAYBE_TIMESTAMP,
        "end": MAYBE_TIMESTAMP,
        "records": COUNT,
        "messages": COUNT,
        "policy": {"type": ["object", "null"], "description": "policy_published: domain, adkim, aspf, p, sp, …"},
        "source": {"enum": ["upload", "api", "mailin"]},
        "filename": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
    }
)
DMARC_SOURCE = response(
    {
        "source_ip": {"type": "string"},
        "count": COUNT,
        "spf": _PASS_FAIL,
        "dkim": _PASS_FAIL,
        "aligned": {"type": "number", "minimum": 0, "maximum": 1, "description": "Share of messages DMARC passed."},
        "aligned_count": COUNT,
        "disposition": {
            "type": "object",
            "additionalProperties": COUNT,
            "description": "Messages per disposition the receivers applied (none, quarantine, reject).",
        },
        "reporters": {"type": "array", "items": {"type": "string"}},
        "known": {
            "type": ["boolean", "null"],
            "description": "One of the workspace's dedicated IPs; null when it has none (a provider's shared IPs "
            "cannot be told apart from anyone else's).",
        },
    }
)

_SPLIT = {
    "type": ["integer", "null"],
    "minimum": 0,
    "description": "null when the workspace has no dedicated IPs: its providers' shared IPs cannot be told from "
    "anyone else's, so failures are not split.",
}
_DMARC_COUNTS = {
    "messages": COUNT,
    "passed": {**COUNT, "description": "Messages that passed DMARC (SPF or DKIM aligned)."},
    "failed": {**COUNT, "description": "Messages that did not pass DMARC."},
    "failed_ours": {**_SPLIT, "description": "Failed, sent from one of the workspace's dedicated IPs. "
                    + _SPLIT["description"]},
    "failed_unknown": {**_SPLIT, "description": "Failed, sent from any other IP. " + _SPLIT["description"]},
    "quarantined": {**COUNT, "description": "Messages the receivers quarantined (disposition quarantine)."},
    "rejected": {**COUNT, "description": "Messages the receivers rejected (disposition reject)."},
    "pass_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                  "description": "passed / messages; null without messages."},
}  # fmt: skip
DMARC_TIMELINE = response(
    {
        "days": integer(minimum=1),
        "from": {"type": "string", "format": "date", "description": "The first day (UTC)."},
        "to": {"type": "string", "format": "date", "description": "The last day (UTC): today."},
        "known_sources": {"type": "boolean", "description": "The workspace has dedicated IPs: failures are split."},
        "points": {
            "type": "array",
            "items": response({"day": {"type": "string", "format": "date"}, **_DMARC_COUNTS}),
            "description": "Every day of the range, the oldest first; a day without reports has zeros.",
        },
        "totals": response(_DMARC_COUNTS),
    },
    "Per UTC day, from the reports whose period begins that day: DMARC passes and failures and the "
    "receivers' quarantines and rejections.",
)

SCHEMAS: dict[str, dict] = {
    "DmarcReportUpload": DMARC_REPORT_UPLOAD,
    "DmarcReport": DMARC_REPORT,
    "DmarcSource": DMARC_SOURCE,
    "DmarcTimeline": DMARC_TIMELINE,
    "DomainCreate": DOMAIN_CREATE,
    "DnsRecord": DNS_RECORD,
    "DomainCheck": DOMAIN_CHECK,
    "DkimKey": DKIM_KEY,
    "Domain": DOMAIN,
    "DomainHealth": DOMAIN_HEALTH,
    "DomainVerification": DOMAIN_VERIFICATION,
    "DkimSwitch": SWITCH_KEY,
}
