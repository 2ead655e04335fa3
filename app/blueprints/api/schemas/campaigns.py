"""Campaigns: send windows, recurrence, A/B tests (app/services/campaigns/ab_tests.py), the
campaign itself with its statistics, runs and recipients."""

from app.blueprints.api.schemas.common import (
    COUNT,
    ID,
    ID_LIST,
    MAYBE_TIMESTAMP,
    TIMESTAMP,
    integer,
    obj,
    ref,
    response,
    text,
)
from app.models.campaign import CAMPAIGN_STATUSES, RECIPIENT_STATUSES
from app.services.campaigns.settings import SETTINGS, Setting
from app.services.ids import MAX_ID

# The send engine (campaigns/sending.py) also writes "unknown" (a hand-off whose outcome is unclear after a crash).
RECIPIENT_FILTER = tuple(dict.fromkeys((*RECIPIENT_STATUSES, "unknown")))

# When it sends: send windows and recurrence ----------------------------------------------------

WEEKDAYS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 6},
    "minItems": 1,
    "maxItems": 7,
    "description": "Days of the week, Monday = 0 … Sunday = 6.",
}
SEND_WINDOW = obj(
    {
        "days": WEEKDAYS | {"description": "Days the window opens on, Monday = 0 … Sunday = 6; every day when absent."},
        "start": text(8, "Local time it opens, HH:MM, e.g. 09:00.", min_length=1),
        "end": text(
            8,
            "Local time it closes, HH:MM (24:00 for midnight); before the start it wraps past midnight.",
            min_length=1,
        ),
        "timezone": text(
            64,
            'An IANA name such as Europe/Berlin, or "recipient" for each recipient\'s own timezone (else the '
            "workspace's). The workspace's timezone when absent.",
        ),
    },
    required=("start", "end"),
    description="Messages go out only inside this window; outside it recipients wait (pending) for its next "
    "opening, which counts as neither a failure nor a retry. null: any time.",
) | {"type": ["object", "null"]}
RECURRENCE = obj(
    {
        "frequency": {"enum": ["daily", "weekly", "monthly"]},
        "days": WEEKDAYS | {"description": "Weekly: the days it runs on, Monday = 0 … Sunday = 6."},
        "day_of_month": integer("Monthly: the day it runs on (in shorter months, their last day).", 1, 31),
        "time": text(8, "Local time of each run, HH:MM; it stays at this wall-clock time across DST.", min_length=1),
        "timezone": text(64, "An IANA name such as Europe/Berlin; the workspace's timezone when absent."),
        "until": {"type": ["string", "null"], "format": "date", "description": "The last day a run may start on."},
    },
    required=("frequency", "time"),
    description="Makes the campaign the parent of a series: POST …/start-recurring, then the scheduler starts "
    "a run (a child campaign with its own figures) at each due time. null: sent once.",
) | {"type": ["object", "null"]}

# A/B tests ---------------------------------------------------------------------------------------

AB_TEST_SETTINGS = obj(
    {
        "test_percent": integer("Share of the audience in the test, split evenly across the variants.", 2, 50)
        | {"default": 20},
        "metric": {
            "enum": ["opens", "clicks"],
            "default": "opens",
            "description": "Unique opens or unique clicks per delivered message decides the winner.",
        },  # fmt: skip
        "wait_minutes": integer("How long after the test is sent the winner is picked.", 5, 7 * 24 * 60)
        | {"default": 240},
        "auto_pick": {
            "type": "boolean",
            "default": True,
            "description": "Send the leader to the rest when the wait is over; false: the marketer picks.",
        },
    },
    description="An A/B test: `test_percent`% of the audience gets the variants; after `wait_minutes` the rest "
    "gets the winner.",
)
VARIANT_INPUT = obj(
    {
        "subject": text(500, "This variant's subject (Jinja); the template's when absent.", nullable=True),
        "from_name": text(200, "This variant's sender name; the campaign's when absent.", nullable=True),
        "preview_text": text(500, "This variant's preview text; the template's when absent.", nullable=True),
        "template_id": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "Content: another template of the workspace; the campaign's when absent.",
        },
    },
    description="One variant (labelled A-D in order); it must differ from the others in at least one field.",
)
_AB_INPUT = {
    "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"], "description": "null: no A/B test."},
    "variants": {
        "type": "array",
        "items": ref("VariantInput"),
        "maxItems": 4,
        "description": "2 to 4 variants, with `ab_test`. Errors name the field, e.g. variants.1.subject.",
    },
}
_COMPARISON = response(
    {
        "enough_data": {"type": "boolean", "description": "false: too few opens or clicks to test yet."},
        "z": {"type": ["number", "null"]},
        "p_value": {"type": ["number", "null"], "description": "Two-sided two-proportion z-test."},
        "significant": {"type": "boolean", "description": "p < 0.05."},
    },
    description="The leader against this variant; null for the leader itself.",
)
VARIANT = response(
    {
        "id": ID,
        "label": {"enum": list("ABCD")},
        "subject": {"type": ["string", "null"]},
        "from_name": {"type": ["string", "null"]},
        "preview_text": {"type": ["string", "null"]},
        "template_id": {"type": ["integer", "null"]},
        "sent_subject": {"type": ["string", "null"], "description": "The subject frozen at start."},
        "sent_from_name": {"type": ["string", "null"], "description": "The sender name frozen at start."},
        "recipients": COUNT,
        "sent": COUNT,
        "delivered": COUNT,
        "unique_opens": COUNT,
        "unique_clicks": COUNT,
        "open_rate": {"type": "number", "description": "unique_opens / delivered."},
        "click_rate": {"type": "number", "description": "unique_clicks / delivered."},
        "leader": {"type": "boolean", "description": "Best rate on the test's metric so far."},
        "winner": {"type": "boolean"},
        "vs_leader": _COMPARISON | {"type": ["object", "null"]},
    },
    description="A variant with the figures of its test group.",
)
CAMPAIGN_VARIANTS = response(
    {
        "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"]},
        "phase": {
            "enum": [None, "testing", "waiting", "decided"],
            "description": "testing: the test is going out; waiting: until wait_until; decided: the rest gets "
            "the winner.",
        },
        "wait_until": MAYBE_TIMESTAMP | {"description": "When the winner is picked (set once the test is sent)."},
        "winner_variant_id": {"type": ["integer", "null"]},
        "picked_by": {"enum": [None, "auto", "marketer"]},
        "variants": {"type": "array", "items": ref("Variant")},
        "rest": response(
            {k: COUNT for k in ("recipients", "held", "sent", "delivered", "unique_opens", "unique_clicks")},
            description="The rest of the audience: held during the test, then sent the winner.",
        )
        | {"type": ["object", "null"]},
    }
)

# The campaign --------------------------------------------------------------------------------------

ROUTING_INPUT = {
    "type": ["object", "null"],
    "properties": {
        "strategy": {"enum": ["priority", "round_robin", "weighted"]},
        "providers": {"type": "array", "items": ID, "maxItems": 10},
        "weights": {"type": "object", "additionalProperties": {"type": "number"}},
        "fallback": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def _text_input(setting: Setting) -> dict:
    return text(setting.max_length, nullable=not setting.required, min_length=1 if setting.required else 0)


# A campaign setting as CampaignCreate takes it, by its kind (services/campaigns/settings.py).
_INPUT_OF_KIND = {
    "text": _text_input,
    "email": _text_input,
    "id": lambda s: ID if s.required else {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
    "ids": lambda s: {**ID_LIST, "minItems": 1} if s.required else ID_LIST,
    "flag": lambda s: {"type": "boolean", "default": s.default},
    "percent": lambda s: {"type": ["integer", "string", "null"], "default": s.default},
    "routing": lambda s: ROUTING_INPUT,
    "send_window": lambda s: ref("SendWindow"),
    "recurrence": lambda s: ref("Recurrence"),
}


def _setting_input(setting: Setting) -> dict:
    schema = _INPUT_OF_KIND[setting.kind](setting)
    return schema | {"description": setting.description} if setting.description else schema


_SEGMENT_ID = {
    "segment_id": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_ID,
        "description": "One segment to send to: the same as segment_ids [segment_id].",
    }
}
CAMPAIGN_CREATE = obj(
    {**{s.name: _setting_input(s) for s in SETTINGS}, **_SEGMENT_ID, **_AB_INPUT},
    required=[s.name for s in SETTINGS if s.required],
)
CAMPAIGN_PATCH = obj(
    CAMPAIGN_CREATE["properties"], minProperties=1, description="Only the fields given change (drafts only)."
)

CAMPAIGN_STATS = response(
    {
        k: COUNT
        for k in (
            "total_recipients",
            "sent",
            "delivered",
            "failed",
            "bounced",
            "complained",
            "unsubscribed",
            "opens",
            "unique_opens",
            "clicks",
            "unique_clicks",
            "suppressed",
            "unknown",
            "pending",
            "held",
        )
    }
    | {
        "human_opens": COUNT
        | {
            "description": "Opens people made: a person's client, or Gmail's or Yahoo's "
            "image proxy fetching as they open. Apple's prefetches and scanners are left out."
        },
        "human_unique_opens": COUNT | {"description": "Recipients a person opened (or clicked) the message for."},
        "human_clicks": COUNT
        | {
            "description": "Clicks people made (scanners, HEAD requests, bursts and the hidden honeypot link left out)."
        },
        "human_unique_clicks": COUNT,
        "machine_opens": COUNT | {"description": "opens − human_opens."},
        "machine_clicks": COUNT | {"description": "clicks − human_clicks."},
        "conversions": COUNT | {"description": "Orders credited to the campaign (POST /orders)."},
        "revenue": {"type": "number", "description": "The credited orders' total in revenue_currency."},
        "revenue_currency": {
            "type": ["string", "null"],
            "description": "The commonest currency of the "
            "credited orders (sums of different currencies mean nothing); null: none.",
        },
    }
)
_CAMPAIGN_FIELDS = {
    "id": ID,
    "name": {"type": "string"},
    "status": {"enum": list(CAMPAIGN_STATUSES)},
    "category": {"type": "string"},
    "total_recipients": COUNT,
    "created_at": TIMESTAMP,
    "started_at": MAYBE_TIMESTAMP,
    "completed_at": MAYBE_TIMESTAMP,
    "scheduled_at": MAYBE_TIMESTAMP,
    "paused_at": MAYBE_TIMESTAMP,
    "send_window": ref("SendWindow"),
    "recurrence": ref("Recurrence"),
    "parent_id": {"type": ["integer", "null"], "description": "For a run of a recurring campaign: its parent."},
    "next_run_at": MAYBE_TIMESTAMP | {"description": "A recurring campaign's next run (while scheduled)."},
}
CAMPAIGN_SUMMARY = response(_CAMPAIGN_FIELDS)
CAMPAIGN = response(
    {
        **_CAMPAIGN_FIELDS,
        "template_id": ID,
        "list_ids": {"type": "array", "items": ID},
        "segment_ids": {"type": "array", "items": ID},
        "exclude_list_ids": {"type": "array", "items": ID},
        "exclude_segment_ids": {"type": "array", "items": ID},
        "provider_id": {"type": ["integer", "null"]},
        "pool_id": {"type": ["integer", "null"], "description": "The sending pool it names; null: none."},
        "category_id": {"type": ["integer", "null"], "description": "Its category (GET /categories); null: none."},
        "identity_id": {
            "type": ["integer", "null"],
            "description": "The sending identity the From was copied from; null: typed.",
        },
        "from_name": {"type": "string"},
        "from_email": {"type": "string"},
        "reply_to": {"type": ["string", "null"]},
        "track_opens": {"type": "boolean"},
        "track_clicks": {"type": "boolean"},
        "send_at_best_time": {"type": "boolean", "description": "Each person at their best hour within 24 hours."},
        "holdout_percent": {"type": "integer", "minimum": 0, "maximum": 50},
        "holdout": {
            "oneOf": [ref("HoldoutReport"), {"type": "null"}],
            "description": "With a holdout, once sent: sent against held out (null: no holdout).",
        },
        "last_error": {"type": ["string", "null"]},
        "updated_at": TIMESTAMP,
        "stats": ref("CampaignStats"),
        "waiting_for_window": COUNT | {"description": "Recipients waiting for the send window to open."},
        "window_resumes_at": MAYBE_TIMESTAMP
        | {"description": "While recipients wait for the send window: when sending resumes."},
        "ab_test": {**AB_TEST_SETTINGS, "type": ["object", "null"]},
        "ab_phase": {"enum": [None, "testing", "waiting", "decided"], "description": "See GET …/variants."},
        "routing_config": {"type": ["object", "null"], "description": "See CampaignCreate.routing_config."},
        "replies": {"type": "integer", "description": "Replies that came back to the VERP return path."},
    }
)
CAMPAIGN_RUN = response(
    {
        "id": ID,
        "name": {"type": "string"},
        "status": {"enum": list(CAMPAIGN_STATUSES)},
        "started_at": MAYBE_TIMESTAMP,
        "completed_at": MAYBE_TIMESTAMP,
        "total_recipients": COUNT,
        "sent": COUNT,
        "unique_opens": COUNT | {"description": "Recipients a person opened it for (machines left out)."},
        "unique_clicks": COUNT | {"description": "Recipients who clicked, as people."},
        "pending": COUNT,
    },
    description="One run of a recurring campaign with its figures.",
)
CAMPAIGN_SENDING = response({"id": ID, "status": {"const": "sending"}})
_OVERRIDE = {
    "override_reason": text(
        500,
        "Owners only: send although the advisor found something blocking (409 blocked_by_advisor without it); "
        "kept on the campaign and in the audit log.",
        nullable=True,
    )
}
CAMPAIGN_SCHEDULE = obj(
    {
        **_OVERRIDE,
        "scheduled_at": {
            "type": "string",
            "description": "ISO 8601 date-time at least a minute from now (422 otherwise); without an offset "
            "it is read in the workspace's timezone.",
        },
    },
    required=("scheduled_at",),
)
RESEND_RESULT = response({"requeued": COUNT})
RECIPIENT = response(
    {
        "email": {"type": "string"},
        "status": {"enum": list(RECIPIENT_FILTER)},
        "reason": {"type": ["string", "null"], "description": "Why it failed, e.g. suppressed:unsubscribed."},
        "sent_at": MAYBE_TIMESTAMP,
        "opened_at": MAYBE_TIMESTAMP,
        "clicked_at": MAYBE_TIMESTAMP,
        "mailbox_provider": text(
            40,
            "The mailbox provider group of the address's domain, from its MX when the campaign was prepared: "
            "gmail (Gmail and Google Workspace), microsoft, yahoo (Yahoo and AOL), apple, proton, zoho, …, "
            "gateway (a security filter in front of the real provider), other, or none (a null MX: the domain "
            "takes no mail); null when its MX could not be looked up.",
            nullable=True,
        ),
        "identity_id": {
            "type": ["integer", "null"],
            "description": "The sending identity a pool chose to send this recipient from (a campaign whose "
            "identity is one of its pool's several identities); null: the campaign's own From.",
        },
    }
)

_GROUP = obj(
    {
        "recipients": COUNT,
        "conversions": COUNT | {"description": "People who placed an order in the window."},
        "conversion_rate": {"type": ["number", "null"]},
        "revenue": {"type": "number", "description": "Their orders' total in `currency`."},
        "revenue_per_recipient": {"type": ["number", "null"]},
    },
    required=("recipients", "conversions", "conversion_rate", "revenue", "revenue_per_recipient"),
)
_DIFFERENCE = {
    "oneOf": [
        obj({"value": {"type": "number"}, "low": {"type": "number"}, "high": {"type": "number"}},
            required=("value", "low", "high")),
        {"type": "null"},
    ],
    "description": "Sent − held out, with its 95% confidence interval; null with fewer than 2 in a group.",
}  # fmt: skip
HOLDOUT_REPORT = response(
    {
        "window_days": COUNT | {"description": "Orders from the campaign's start for this many days count."},
        "currency": {"type": ["string", "null"]},
        "sent": _GROUP,
        "held_out": _GROUP,
        "conversion_rate_difference": _DIFFERENCE | {"description": "Newcombe's hybrid score interval."},
        "revenue_per_recipient_difference": _DIFFERENCE | {"description": "Welch's interval."},
        "verdict": {
            "type": "string",
            "description": "In words; “too few recipients to tell” when a group has "
            "under 100 people or the interval is too wide to mean anything.",
        },
    },
    description="A campaign with a holdout group: what those sent did against those held out.",
)

SPAM_CHECK = response(
    {
        "available": {"type": "boolean", "description": "False when spamd did not answer (see message)."},
        "score": {"type": ["number", "null"]},
        "threshold": {"type": ["number", "null"], "description": "Spam from this score (5.0 by default)."},
        "rules": {
            "type": "array",
            "items": response(
                {"name": {"type": "string"}, "score": {"type": "number"}, "description": {"type": "string"}}
            ),
        },
        "message": {"type": ["string", "null"], "description": "Why there is no score, in a sentence."},
    },
    description="SpamAssassin's score of the message as it would go out, offline: a content lint.",
)

SCHEMAS: dict[str, dict] = {
    "SendWindow": SEND_WINDOW,
    "Recurrence": RECURRENCE,
    "CampaignCreate": CAMPAIGN_CREATE,
    "AbTestSettings": AB_TEST_SETTINGS,
    "VariantInput": VARIANT_INPUT,
    "Variant": VARIANT,
    "CampaignVariants": CAMPAIGN_VARIANTS,
    "CampaignPatch": CAMPAIGN_PATCH,
    "CampaignRun": CAMPAIGN_RUN,
    "Campaign": CAMPAIGN,
    "HoldoutReport": HOLDOUT_REPORT,
    "CampaignSummary": CAMPAIGN_SUMMARY,
    "CampaignStats": CAMPAIGN_STATS,
    "CampaignSending": CAMPAIGN_SENDING,
    "CampaignSchedule": CAMPAIGN_SCHEDULE,
    "CampaignSend": obj(_OVERRIDE),
    "ResendResult": RESEND_RESULT,
    "Recipient": RECIPIENT,
    "SpamCheck": SPAM_CHECK,
}
