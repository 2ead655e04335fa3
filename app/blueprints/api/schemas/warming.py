"""Warming: plans, their days, and schedules."""

from app.blueprints.api.schemas.common import COUNT, MAYBE_TIMESTAMP, obj, response, text

STEP = obj(
    {"day": {"type": "integer", "minimum": 1, "maximum": 365}, "volume": {"type": "integer", "minimum": 1}},
    required=("day", "volume"),
)

WARMING_START = obj(
    {
        "schedule": {
            "type": ["string", "integer"],
            "description": "standard, conservative, moderate, aggressive, or custom:<id> (a schedule's key).",
        },
        "start_day": {"type": "integer", "minimum": 1, "maximum": 365, "default": 1},
    },
    required=("schedule",),
)

WARMING_DAY = response(
    {
        "date": {"type": "string", "format": "date", "description": "The workspace's local day."},
        "day": {"type": "integer", "description": "The plan's day number."},
        "limit": {"type": ["integer", "null"], "description": "The cap (null: none, the schedule is over)."},
        "released": {**COUNT, "description": "Recipients let out under the cap that day."},
        "sent": {**COUNT, "description": "Campaign messages the domain or IP handed off that (local) day."},
        "bounced": {**COUNT, "description": "Hard and soft bounces that came back that (local) day."},
        "complained": {**COUNT, "description": "Complaints that came back that (local) day."},
    }
)

WARMING = response(
    {
        "status": {"enum": ["warming", "paused", "done"]},
        "schedule": {"type": "string"},
        "day": {"type": "integer"},
        "daily_limit": {"type": ["integer", "null"]},
        "sent_today": {**COUNT, "description": "Recipients let out under today's cap."},
        "waiting": {**COUNT, "description": "Recipients waiting for capacity (or for a resume)."},
        "paused_reason": {"type": ["string", "null"]},
        "next_release": {**MAYBE_TIMESTAMP, "description": "When the next day's capacity opens."},
        "days": {"type": "array", "items": WARMING_DAY},
    }
)

WARMING_SCHEDULE_CREATE = obj(
    {"name": text(100, min_length=1), "steps": {"type": "array", "items": STEP, "minItems": 1, "maxItems": 365}},
    required=("name", "steps"),
)

WARMING_SCHEDULE = response(
    {
        "key": {"type": "string", "description": "What POST /domains/{id}/warming takes as `schedule`."},
        "name": {"type": "string"},
        "steps": {"type": "array", "items": STEP},
        "interpolate": {"type": "boolean", "description": "Days between listed ones grow geometrically."},
    }
)

SCHEMAS: dict[str, dict] = {
    "WarmingStart": WARMING_START,
    "Warming": WARMING,
    "WarmingScheduleCreate": WARMING_SCHEDULE_CREATE,
    "WarmingSchedule": WARMING_SCHEDULE,
}
