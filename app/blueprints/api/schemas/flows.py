"""Flows (a trigger and steps people go through one by one), their people and emails, and the
ready-made flows (recipes). A definition is checked by Herald, not only here, so one answer names the
exact place of a problem (`steps.2.yes.0.days`)."""

from app.blueprints.api.schemas.common import COUNT, ID, MAYBE_TIMESTAMP, TIMESTAMP, obj, response, text
from app.services.automation.flow_people import ENROLLMENT_STATUSES
from app.services.automation.flow_plan import MAX_DEPTH, MAX_STEPS, STEP_TYPES, TRIGGER_TYPES
from app.services.automation.flows import STATUSES
from app.services.automation.recipes import KEYS as RECIPE_KEYS

TRIGGER = {
    "type": "object",
    "additionalProperties": True,
    "required": ["type"],
    "properties": {"type": {"enum": list(TRIGGER_TYPES)}},
    "description": 'What starts the flow: {"type": "event", "event": "cart_updated", "filters"?: [{"property", '
    '"op": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"contains"|"exists", "value"}], "restart"?: true (a new event while '
    'inside starts the first wait again)}, {"type": "list", "list_id"} (joining it), {"type": "segment", '
    '"segment_id"} (entering it), {"type": "date", "attribute": "birthday", "offset_days"?: -60..60} (once a '
    'year), or {"type": "api"} (POST /flows/{id}/enroll).',
}
STEPS = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": True,
        "required": ["type"],
        "properties": {"type": {"enum": list(STEP_TYPES)}, "id": {"type": "string", "maxLength": 40}},
    },
    "maxItems": MAX_STEPS,
    "description": "Top to bottom: "
    '{"type": "email", "template_id", "subject"?, "transactional"?, "identity_id"? | "from_name"?, "from_email"?, '
    '"reply_to"?, "provider_id"?} (without a From: the workspace\'s usual sender); '
    '{"type": "wait", "days"?, "hours"?, "minutes"?} | {"type": "wait", "until": "09:00"} (the person\'s time) | '
    '{"type": "wait", "best_time": true} | {"type": "wait", "event": "order_placed", "timeout_hours"?}; '
    '{"type": "milestone", "name", "timeout_hours"?} (until milestone_reached with that name); '
    '{"type": "condition", "if": {"rules": <segment rules>} | {"segment_id"} | {"event"} (since they entered), '
    '"yes": [steps], "no": [steps]}; {"type": "update", "attributes"?, "add_tags"?, "remove_tags"?, '
    '"add_to_list"?, "remove_from_list"?, "unsubscribe"?: true}; {"type": "webhook", "url"} (a signed POST, '
    'public hosts only); {"type": "sms", "body", "provider_id"?} (a text through Twilio, personalized like an '
    "email, with the trigger's event; without provider_id: the workspace's first Twilio provider; only people "
    'with a number who agreed to texts get it, the others are skipped with the reason); {"type": "exit"}. Each '
    'step may carry a "label". Every step gets an id ("s1"…), kept '
    f"when given back, so people keep their place across versions. At most {MAX_STEPS} steps in all; conditions "
    f"nest at most {MAX_DEPTH} deep.",
}
GOALS = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": True},
    "maxItems": 10,
    "description": 'Events that end the flow for a person at once, e.g. [{"event": "order_placed"}].',
}
REENTRY = {
    "type": ["object", "null"],
    "additionalProperties": True,
    "description": '{"mode": "once"} (default: never again) or {"mode": "again", "after_days": N} (again, N days '
    "after they last entered, once they are out).",
}
QUIET_HOURS = {
    "type": ["object", "null"],
    "additionalProperties": True,
    "description": '{"start": 21, "end": 8}: marketing emails due in these hours of the person\'s timezone wait '
    "for the end (transactional ones do not).",
}
_FLOW_FIELDS = {
    "name": text(200, min_length=1),
    "trigger": TRIGGER,
    "steps": STEPS,
    "goals": GOALS,
    "reentry": REENTRY,
    "quiet_hours": QUIET_HOURS,
}
STEP_COUNT = response(
    {
        "waiting": {**COUNT, "description": "People at this step now."},
        "done": {**COUNT, "description": "Times the step was done."},
        "outcomes": {
            "type": "object",
            "additionalProperties": COUNT,
            "description": "How it went, e.g. queued, skipped: suppressed:unsubscribed, yes, no, waited.",
        },
    }
)
PEOPLE = response(
    {
        "entered": COUNT,
        "active": COUNT,
        "completed": COUNT,
        "goal": {**COUNT, "description": "Left when they reached a goal."},
        "exited": {**COUNT, "description": "Left by an exit step, or when the flow was archived."},
    }
)
_SUMMARY = {
    "id": ID,
    "name": {"type": "string"},
    "status": {"enum": list(STATUSES)},
    "recipe": {"type": ["string", "null"], "description": "The ready-made flow it started from."},
    "trigger": {"type": "object", "additionalProperties": True},
    "version": {
        "type": ["integer", "null"],
        "description": "The version new entrants follow (null until first activated).",
    },
    "activated_at": MAYBE_TIMESTAMP,
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
}
FLOW = response(
    {
        **_SUMMARY,
        "steps": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "goals": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "reentry": {"type": "object", "additionalProperties": True},
        "quiet_hours": {"type": ["object", "null"], "additionalProperties": True},
        "draft_changed": {
            "type": "boolean",
            "description": "The steps or trigger differ from the live version: activating again makes a new one "
            "(people inside finish the version they started).",
        },
        "people": PEOPLE,
        "step_counts": {"type": "object", "additionalProperties": STEP_COUNT, "description": "By step id."},
    }
)
OPTION = response(
    {
        "name": {"type": "string"},
        "type": {"enum": ["int", "bool", "text", "email", "list", "identity", "code", "name", "attribute"]},
        "required": {"type": "boolean"},
        "default": {"description": "Used when the option is left out."},
        "minimum": {"type": ["integer", "null"]},
        "maximum": {"type": ["integer", "null"]},
        "description": {"type": "string"},
    }
)

SCHEMAS: dict[str, dict] = {
    "FlowInput": obj(_FLOW_FIELDS, required=("name", "trigger", "steps")),
    "FlowPatch": obj(_FLOW_FIELDS, minProperties=1),
    "FlowSummary": response(_SUMMARY),
    "Flow": FLOW,
    "FlowEnrollInput": obj(
        {
            "email": text(320, "Who (or subscriber_id)."),
            "subscriber_id": ID,
            "context": {
                "type": ["object", "null"],
                "additionalProperties": True,
                "description": "Kept on the enrollment (at most 16 KB of JSON).",
            },
        },
        description="The person, by email or subscriber_id (one of the two), already a subscriber.",
    ),
    "FlowEnrolled": response(
        {
            "enrolled": {
                "type": "boolean",
                "description": "False when the re-entry rules keep them out (or they are not subscribed).",
            },
            "subscriber_id": ID,
        }
    ),
    "FlowRecipeInput": obj(
        {
            "recipe": {"enum": list(RECIPE_KEYS)},
            "options": {
                "type": ["object", "null"],
                "additionalProperties": True,
                "description": 'The recipe\'s options (GET /flow-recipes lists them), e.g. {"idle_minutes": 90}; '
                "every recipe takes name, from_name, from_email and identity_id.",
            },
        },
        required=("recipe",),
    ),
    "FlowRecipeOption": OPTION,
    "FlowRecipe": response(
        {
            "key": {"enum": list(RECIPE_KEYS)},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "trigger": {"enum": list(TRIGGER_TYPES)},
            "starts_when": {"type": "string", "description": "The trigger in words."},
            "options": {"type": "array", "items": {"$ref": "#/components/schemas/FlowRecipeOption"}},
        }
    ),
    "FlowSend": response(
        {
            "email": {"type": "string"},
            "subscriber_id": ID,
            "step_id": {"type": ["string", "null"]},
            "campaign_id": ID,
            "status": {"type": "string", "description": "pending, sent, failed… (as a campaign's recipients)."},
            "reason": {"type": ["string", "null"], "description": "Why it was skipped, e.g. suppressed:bounced."},
            "sent_at": MAYBE_TIMESTAMP,
            "opened_at": MAYBE_TIMESTAMP | {"description": "A person's first open (machines' not counted)."},
            "clicked_at": MAYBE_TIMESTAMP | {"description": "A person's first click (scanners' not counted)."},
        }
    ),
    "FlowEnrollment": response(
        {
            "id": ID,
            "subscriber_id": ID,
            "email": {"type": "string"},
            "status": {"enum": list(ENROLLMENT_STATUSES)},
            "step_id": {"type": ["string", "null"], "description": "Where they are (active)."},
            "due_at": MAYBE_TIMESTAMP,
            "version": {"type": "integer"},
            "cycle": {"type": "integer", "minimum": 1, "description": "Their entry into the flow: 1, 2…"},
            "entered_at": TIMESTAMP,
            "finished_at": MAYBE_TIMESTAMP,
            "exit_reason": {"type": ["string", "null"]},
        }
    ),
}
