"""The advisor: recommendations, applied or dismissed."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.models.advisor import RECOMMENDATION_STATUSES
from app.services.advisor import engine
from app.services.campaigns import drafts

TAG = "Advisor"


def recommendation_json(r) -> dict:
    return {
        "id": r.id,
        "check": r.check,
        "severity": r.severity,
        "message": r.message,
        "evidence": r.evidence or {},
        "fix": r.fix,
        "status": r.status,
        "subject": {"type": r.subject_type, "id": r.subject_id},
        "dismissed_reason": r.dismissed_reason,
        "applied_at": iso(r.applied_at),
        "effect": r.effect,
        "outcome": r.outcome,
        "updated_at": iso(r.updated_at),
    }


def _page(items: list, query: dict) -> dict:
    start = (query["page"] - 1) * query["per_page"]
    return page_json([recommendation_json(r) for r in items[start : start + query["per_page"]]], len(items), query)


@operation(
    "GET", "/advisor", "List recommendations", tag=TAG, response="Recommendation", paginated=True,
    query=(Param("status", {"enum": list(RECOMMENDATION_STATUSES)}, "Default: open."),),
)  # fmt: skip
def list_recommendations(query: dict):
    """The most severe first. The checks run when a campaign ends and daily; POST /advisor/check runs them now."""
    return _page(engine.recommendations(workspace_id(), query.get("status", "open")), query)


@operation(
    "POST", "/advisor/check", "Run the workspace's checks now", tag=TAG, response="Recommendation", paginated=True
)
def check_now(query: dict):
    found = engine.review_workspace(workspace_id())
    commit()
    return _page(found, query)


@operation("GET", "/campaigns/{campaign_id}/advisor", "A campaign's recommendations", tag=TAG,
           response="Recommendation", paginated=True)  # fmt: skip
def campaign_advisor(campaign_id: int, query: dict):
    """Its checks, run now (bounces, complaints, opens, its From domain), with any still dismissed or applied."""
    ws = workspace_id()
    drafts.get_campaign(ws, campaign_id)
    engine.review_campaign(ws, campaign_id)
    commit()
    return _page(engine.recommendations(ws, None, ("campaign", campaign_id)), query)


@operation("POST", "/recommendations/{recommendation_id}/apply", "Apply a recommendation's fix", tag=TAG,
           response="Recommendation", errors=(409,))  # fmt: skip
def apply_recommendation(recommendation_id: int):
    """Does what the fix's label says (suppress the hard-bounced addresses, create a segment and draft, start
    warming…), keeps what it did as `effect`, and logs it; 409 when there is nothing to press."""
    rec = engine.apply(workspace_id(), recommendation_id)
    commit()
    return recommendation_json(rec)


@operation("POST", "/recommendations/{recommendation_id}/dismiss", "Dismiss a recommendation", tag=TAG,
           body="RecommendationDismiss", response="Recommendation")  # fmt: skip
def dismiss_recommendation(recommendation_id: int, body: dict):
    """It comes back only when its evidence gets worse than it is now."""
    rec = engine.dismiss(workspace_id(), recommendation_id, body["reason"])
    commit()
    return recommendation_json(rec)
