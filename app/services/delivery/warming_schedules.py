"""Warming schedules: how many messages a new domain or IP may send on each day of its plan.

A schedule is a list of steps `{day, volume}`. STANDARD (seed 002) holds each volume until the
next listed day; CONSERVATIVE, MODERATE and AGGRESSIVE (seed 001's table) list a few days and
the days between grow geometrically, so the ramp has no cliffs. After the last listed day there
is no cap: the plan is done. A workspace's own schedules hold each volume like STANDARD.

Seed 001 gives AGGRESSIVE three figures over seven days (200, 15,000, 100,000); they are read as
days 1, 4 and 7.
"""

from dataclasses import dataclass

from app.services.errors import ValidationError

MAX_DAYS = 365
MAX_VOLUME = 10_000_000


@dataclass(frozen=True)
class Schedule:
    key: str  # standard | conservative | moderate | aggressive | custom:<id>
    name: str
    steps: tuple[tuple[int, int], ...]  # (day, volume), days ascending from 1
    interpolate: bool = False

    @property
    def last_day(self) -> int:
        return self.steps[-1][0]

    def steps_json(self) -> list[dict]:
        return [{"day": d, "volume": v} for d, v in self.steps]


BUILT_IN = {
    "standard": Schedule(
        "standard",
        "Standard (28 days)",
        ((1, 50), (3, 100), (5, 500), (8, 1_000), (11, 5_000), (15, 10_000), (22, 50_000), (28, 50_000)),
    ),
    "conservative": Schedule(
        "conservative", "Conservative (21 days)", ((1, 50), (7, 1_000), (14, 15_000), (21, 100_000)), True
    ),
    "moderate": Schedule("moderate", "Moderate (14 days)", ((1, 100), (7, 7_500), (14, 100_000)), True),
    "aggressive": Schedule("aggressive", "Aggressive (7 days)", ((1, 200), (4, 15_000), (7, 100_000)), True),
}


def limit_for_day(steps, interpolate: bool, day: int) -> int | None:
    """The day's cap under `steps` ((day, volume) pairs); None once the schedule is over (no cap)."""
    if day > steps[-1][0]:
        return None
    day = max(day, 1)
    below = [s for s in steps if s[0] <= day] or [steps[0]]
    a_day, a_volume = below[-1]
    above = [s for s in steps if s[0] > day]
    if not interpolate or not above or a_day == day:
        return a_volume
    b_day, b_volume = above[0]
    return round(a_volume * (b_volume / a_volume) ** ((day - a_day) / (b_day - a_day)))


def clean_steps(steps) -> tuple[tuple[int, int], ...]:
    """A custom schedule's `[{day, volume}]`, checked: days from 1 ascending, volumes that grow."""
    if not isinstance(steps, list) or not steps:
        raise ValidationError("A schedule lists at least one {day, volume}.", {"steps": "Required."})
    if len(steps) > MAX_DAYS:
        raise ValidationError(f"A schedule lists at most {MAX_DAYS} days.", {"steps": "Too many."})
    out = []
    for i, step in enumerate(steps):
        day = step.get("day") if isinstance(step, dict) else None
        volume = step.get("volume") if isinstance(step, dict) else None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (day, volume)):
            raise ValidationError(f"Step {i + 1} needs a whole-number day and volume.", {"steps": "Whole numbers."})
        if not 1 <= day <= MAX_DAYS or not 1 <= volume <= MAX_VOLUME:
            raise ValidationError(
                f"Step {i + 1}: days run from 1 to {MAX_DAYS}, volumes from 1 to {MAX_VOLUME:,}.",
                {"steps": "Out of range."},
            )
        if out and day <= out[-1][0]:
            raise ValidationError(f"Step {i + 1}: days must go up (day {day} follows day {out[-1][0]}).",
                                  {"steps": "Days in order."})  # fmt: skip
        out.append((day, volume))
    if out[0][0] != 1:
        raise ValidationError("A schedule starts on day 1.", {"steps": "Start on day 1."})
    return tuple(out)
