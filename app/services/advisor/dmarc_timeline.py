"""DMARC over time: per day of report, what passed DMARC, what failed from the workspace's own
servers and from anyone else, and what the receivers quarantined or rejected (the domain's DMARC
page draws it; the API serves it). The reports themselves are stored by dmarc.py.

A report is counted on the UTC day its period begins (reporters cover one UTC day each, as a rule),
so a report arriving late lands on the day it describes, not the day it came. Every day of the range
is in the answer, zeros included: a chart that left quiet days out would join the points either side
and draw traffic that never was.

"Ours" means one of the workspace's dedicated IPs as it has them now (the same reading as
dmarc.sources, so the chart and the table beside it agree). A workspace without any sends from its
providers' shared IPs, which cannot be told from anyone else's: then failures are not split and
failed_ours / failed_unknown are None.
"""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, not_, select

from app.extensions import db
from app.models.advisor import DmarcRecord, DmarcReport
from app.services.advisor.dmarc import dedicated_ips, get_domain
from app.services.time_buckets import local_day

DEFAULT_DAYS = 90
MAX_DAYS = 400  # as the sources' range (api/dmarc.py DAYS): a year and a margin
METRICS = ("messages", "passed", "failed", "failed_ours", "failed_unknown", "quarantined", "rejected")


def timeline(workspace_id: int, domain_id: int, days: int = DEFAULT_DAYS, now: datetime | None = None) -> dict:
    """Per UTC day over the last `days` (1..MAX_DAYS, clamped; today included), from the parsed
    reports whose period begins that day: {days, from, to, known_sources, points: [{day, messages,
    passed, failed, failed_ours, failed_unknown, quarantined, rejected, pass_rate}], totals}.
    pass_rate is None on a day without messages. One GROUP BY query; NotFound for another
    workspace's domain."""
    get_domain(workspace_id, domain_id)
    days = min(max(int(days), 1), MAX_DAYS)
    last = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = last - timedelta(days=days - 1)
    ours = dedicated_ips(workspace_id)
    counted = _per_day(workspace_id, domain_id, first, last, ours)
    points = [_point(first + timedelta(days=i), counted.get(first + timedelta(days=i)), ours) for i in range(days)]
    totals = {m: (sum(p[m] for p in points) if points[0][m] is not None else None) for m in METRICS}
    return {
        "days": days,
        "from": first,
        "to": last,
        "known_sources": bool(ours),
        "points": points,
        "totals": {**totals, "pass_rate": _rate(totals["passed"], totals["messages"])},
    }


def _per_day(workspace_id: int, domain_id: int, first: date, last: date, ours: set[str]) -> dict[date, dict]:
    """{day: sums} for the days that have reports: grouped in the database, by the report's begin."""
    day, read_day = local_day(DmarcReport.begin, "UTC")
    n = DmarcRecord.count
    failed = not_(DmarcRecord.aligned)
    # The workspace's dedicated IPs are a handful: an IN list keeps this one query (and `ours` is
    # normalised as the stored source_ip is, so IPv6 spellings match).
    theirs = DmarcRecord.source_ip.in_(sorted(ours))
    sums = {
        "messages": func.sum(n),
        "passed": func.sum(n).filter(DmarcRecord.aligned),
        "failed": func.sum(n).filter(failed),
        "failed_ours": func.sum(n).filter(and_(failed, theirs)),
        "quarantined": func.sum(n).filter(DmarcRecord.disposition == "quarantine"),
        "rejected": func.sum(n).filter(DmarcRecord.disposition == "reject"),
    }
    stmt = (
        select(day, *sums.values())
        .join(DmarcRecord, DmarcRecord.report_id == DmarcReport.id)
        .where(
            DmarcReport.workspace_id == workspace_id,
            DmarcReport.domain_id == domain_id,
            DmarcReport.status == "parsed",
            # In UTC: SQLite stores a timestamp's wall time without its offset.
            DmarcReport.begin >= datetime.combine(first, time(0), UTC),
            DmarcReport.begin < datetime.combine(last + timedelta(days=1), time(0), UTC),
        )
        .group_by(day)
    )
    out: dict[date, dict] = {}
    for key, *values in db.session.execute(stmt):
        into = out.setdefault(read_day(key), dict.fromkeys(sums, 0))  # SQLite's keys are quarter hours: fold them
        for name, value in zip(sums, values, strict=True):
            into[name] += int(value or 0)
    return out


def _point(day: date, sums: dict | None, ours: set[str]) -> dict:
    s = sums or {}
    messages, passed, failed = s.get("messages", 0), s.get("passed", 0), s.get("failed", 0)
    split = bool(ours)
    return {
        "day": day,
        "messages": messages,
        "passed": passed,
        "failed": failed,
        "failed_ours": s.get("failed_ours", 0) if split else None,
        "failed_unknown": failed - s.get("failed_ours", 0) if split else None,
        "quarantined": s.get("quarantined", 0),
        "rejected": s.get("rejected", 0),
        "pass_rate": _rate(passed, messages),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
