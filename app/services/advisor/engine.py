"""Running the checks and keeping their recommendations: one row per check and subject, opened when a
finding appears, resolved when it goes, and — once dismissed — back only when its evidence is worse.

    review_campaign(ws, id)   after a campaign finishes (a job), and on its advisor tab
    review_workspace(ws)      daily (periodic job advisor_daily), and on the Advisor page
    apply(ws, id) / dismiss(ws, id, reason)
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, Recommendation, Workspace
from app.services.advisor import checks, content_checks, fixes, outcomes
from app.services.advisor.checks import Finding
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.platform import audit

SEVERITY_ORDER = {"blocking": 0, "critical": 1, "warning": 2, "info": 3}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def review_campaign(workspace_id: int, campaign_id: int, spam: bool = False) -> list[Recommendation]:
    """The campaign's checks (and, before it is sent, its content's; `spam`: SpamAssassin's score too)."""
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.workspace_id == workspace_id)
    )
    if campaign is None:
        raise NotFound("No such campaign.")
    findings = [f for check in checks.CAMPAIGN_CHECKS for f in check(campaign)]
    if campaign.status in ("draft", "scheduled"):  # the message as it would go out, before it does
        findings += [_content(campaign.id, c) for c in content_checks.check_campaign(workspace_id, campaign.id, spam)]
    return record(workspace_id, findings, scope=("campaign", campaign.id))


def _content(campaign_id: int, c: dict) -> Finding:
    severity = {"critical": 3.0, "warning": 2.0}.get(c["severity"], 1.0)
    return Finding(f"content_{c['check']}"[:60], "campaign", campaign_id, c["severity"], c["message"],
                   c.get("evidence") or {}, severity, c.get("fix"))  # fmt: skip


def review_workspace(workspace_id: int) -> list[Recommendation]:
    findings = [f for check in checks.WORKSPACE_CHECKS for f in check(workspace_id)]
    kept = record(workspace_id, findings, scope=None)
    outcomes.follow_up(workspace_id)
    return kept


def review_finished_campaigns(window: timedelta = timedelta(minutes=15)) -> int:
    """Every campaign that finished within `window` (the periodic job runs more often than that, and
    reviewing twice changes nothing)."""
    rows = db.session.execute(
        select(Campaign.workspace_id, Campaign.id).where(
            Campaign.status == "sent", Campaign.completed_at >= _now() - window
        )
    ).all()
    for workspace_id, campaign_id in rows:
        review_campaign(workspace_id, campaign_id)
    for workspace_id in {ws for ws, _ in rows}:
        outcomes.follow_up(workspace_id)
    return len(rows)


def review_all_workspaces() -> int:
    ids = list(db.session.scalars(select(Workspace.id)))
    for workspace_id in ids:
        review_workspace(workspace_id)
    return len(ids)


def record(workspace_id: int, findings: list[Finding], scope: tuple[str, int] | None) -> list[Recommendation]:
    """Keep the findings as recommendations; those of the checks run that found nothing now are
    resolved (scope: the one subject the checks looked at, or None for the workspace's checks)."""
    existing = {(r.check, r.subject_type, r.subject_id): r for r in _in_scope(workspace_id, scope)}
    kept = []
    for f in findings:
        rec = existing.pop((f.check, f.subject_type, f.subject_id), None)
        kept.append(_keep(workspace_id, rec, f))
    for rec in existing.values():
        if rec.status in ("open", "dismissed"):
            rec.status, rec.resolved_at = "resolved", _now()
        elif rec.status == "applied":
            outcomes.settle(rec, still_found=False)
    db.session.flush()
    return kept


def _in_scope(workspace_id: int, scope) -> list[Recommendation]:
    stmt = select(Recommendation).where(Recommendation.workspace_id == workspace_id)
    if scope is None:
        stmt = stmt.where(Recommendation.subject_type != "campaign")
    else:
        stmt = stmt.where(Recommendation.subject_type == scope[0], Recommendation.subject_id == scope[1])
    return list(db.session.scalars(stmt))


def _keep(workspace_id: int, rec: Recommendation | None, f: Finding) -> Recommendation:
    if rec is None:
        rec = Recommendation(workspace_id=workspace_id, check=f.check, subject_type=f.subject_type,
                             subject_id=f.subject_id, status="open")  # fmt: skip
        db.session.add(rec)
    elif rec.status == "resolved":
        rec.status, rec.resolved_at = "open", None
    elif rec.status == "dismissed" and f.measure > (rec.dismissed_measure or 0):
        rec.status = "open"  # worse than when it was dismissed
    elif rec.status == "applied":
        outcomes.settle(rec, still_found=True)
    rec.severity = "blocking" if f.blocking and f.severity == "critical" else f.severity
    rec.message, rec.evidence, rec.fix, rec.measure = f.message, f.evidence, f.fix, f.measure
    rec.updated_at = _now()
    return rec


def recommendations(workspace_id: int, status: str | None = "open", subject: tuple[str, int] | None = None):
    stmt = select(Recommendation).where(Recommendation.workspace_id == workspace_id)
    if status:
        stmt = stmt.where(Recommendation.status == status)
    if subject:
        stmt = stmt.where(Recommendation.subject_type == subject[0], Recommendation.subject_id == subject[1])
    rows = list(db.session.scalars(stmt))
    return sorted(rows, key=lambda r: (SEVERITY_ORDER.get(r.severity, 9), -r.id))


def open_count(workspace_id: int) -> int:
    """The navigation's badge."""
    return (
        db.session.scalar(
            select(func.count()).where(Recommendation.workspace_id == workspace_id, Recommendation.status == "open")
        )
        or 0
    )


def get(workspace_id: int, recommendation_id: int) -> Recommendation:
    rec = db.session.scalar(
        select(Recommendation).where(
            Recommendation.id == recommendation_id, Recommendation.workspace_id == workspace_id
        )
    )
    if rec is None:
        raise NotFound("No such recommendation.")
    return rec


def apply(workspace_id: int, recommendation_id: int) -> Recommendation:
    """Press the recommendation's fix; what it did is kept (effect) and logged."""
    rec = get(workspace_id, recommendation_id)
    if not rec.fix:
        raise InvalidState("This recommendation has no fix Herald can apply: follow its steps.")
    if rec.status == "applied":
        raise InvalidState("This fix was applied already.")
    before = outcomes.baseline(rec)
    effect = fixes.apply(workspace_id, rec)
    actor = audit.current_actor()
    rec.status, rec.applied_at, rec.applied_by, rec.effect = "applied", _now(), actor.label, effect
    rec.outcome = before
    audit.record(workspace_id, "recommendation.apply", "recommendation", rec.id,
                 {"check": rec.check, "fix": rec.fix.get("action"), "effect": effect})  # fmt: skip
    db.session.flush()
    return rec


def dismiss(workspace_id: int, recommendation_id: int, reason) -> Recommendation:
    """Set aside with a reason; it comes back only when its evidence gets worse."""
    rec = get(workspace_id, recommendation_id)
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ValidationError("Say why you dismiss it (it helps whoever looks next).", {"reason": "Required."})
    rec.status, rec.dismissed_reason, rec.dismissed_measure = "dismissed", reason[:500], rec.measure
    audit.record(
        workspace_id, "recommendation.dismiss", "recommendation", rec.id, {"check": rec.check, "reason": reason[:500]}
    )
    db.session.flush()
    return rec
