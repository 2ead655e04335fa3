"""Referral programs, their referrals, and each person's share link."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.schemas.common import ID
from app.blueprints.api.serializers import iso, page_json
from app.blueprints.helpers import commit
from app.services.growth import referral_pages, referrals
from app.services.pagination import paginate

TAG = "Referrals"


def program_json(program, figures: referral_pages.Figures) -> dict:
    landing = program.landing or {}
    return {
        "id": program.id,
        "name": program.name,
        "status": program.status,
        "referrer_reward": program.referrer_reward or {},
        "friend_reward": program.friend_reward or None,
        "min_order_amount": float(program.min_order_amount) if program.min_order_amount is not None else None,
        "currency": program.currency,
        "expiry_days": program.expiry_days,
        "list_id": program.list_id,
        "landing": {"title": landing.get("title") or "", "text": landing.get("text") or ""},
        "figures": figures.as_dict(),
        "created_at": iso(program.created_at),
        "updated_at": iso(program.updated_at),
    }


def _one(program) -> dict:
    return program_json(program, referral_pages.figures([program.id])[program.id])


def referral_json(row: referral_pages.ReferralRow) -> dict:
    r = row.referral
    return {
        "id": r.id,
        "program_id": r.program_id,
        "referrer_id": r.referrer_id,
        "referrer_email": row.referrer_email,
        "friend_id": r.friend_id,
        "friend_email": row.friend_email,
        "status": r.status,
        "order_id": r.order_id,
        "rewards": r.rewards,
        "expires_at": iso(r.expires_at),
        "completed_at": iso(r.completed_at),
        "rewarded_at": iso(r.rewarded_at),
        "created_at": iso(r.created_at),
    }


@operation(
    "POST", "/referral-programs", "Create a referral program", tag=TAG, body="ReferralProgramInput",
    response="ReferralProgram", status=201,
)  # fmt: skip
def create_referral_program(body: dict):
    """Active at once: share links (GET /subscribers/{id}/referral) open its landing page. A friend counts when
    they are new to the workspace, and their first order is at least `min_order_amount` in `currency`, placed
    within `expiry_days` of signing up; then both sides get their rewards, once."""
    program = referrals.create_program(workspace_id(), body)
    commit()
    return _one(program)


@operation(
    "GET", "/referral-programs", "List referral programs", tag=TAG, response="ReferralProgram", paginated=True,
    query=(Param("status", {"enum": list(referrals.PROGRAM_STATUSES)}, "Only programs in this state."),),
)  # fmt: skip
def list_referral_programs(query: dict):
    """Newest first, each with its figures."""
    items, total = paginate(
        referrals.list_programs(workspace_id(), query.get("status")), query["page"], query["per_page"]
    )
    counts = referral_pages.figures([p.id for p in items])
    return page_json([program_json(p, counts[p.id]) for p in items], total, query)


@operation("GET", "/referral-programs/{program_id}", "Show a referral program", tag=TAG, response="ReferralProgram")
def show_referral_program(program_id: int):
    """With its figures: visits -> signups -> completed -> rewarded."""
    return _one(referrals.get_program(workspace_id(), program_id))


@operation(
    "PATCH", "/referral-programs/{program_id}", "Change a referral program", tag=TAG, body="ReferralProgramPatch",
    response="ReferralProgram", errors=(409,),
)  # fmt: skip
def update_referral_program(program_id: int, body: dict):
    """Changes the fields given. `status`: paused stops signups on the landing page (it says so), active
    resumes, archived ends the program for good (its links answer 404; 409 for any later change). Friends
    already pending keep their promise whatever the status."""
    program = referrals.update_program(workspace_id(), program_id, body)
    commit()
    return _one(program)


@operation(
    "GET", "/referral-programs/{program_id}/referrals", "List a program's referrals", tag=TAG, response="Referral",
    paginated=True,
    query=(Param("status", {"enum": list(referrals.STATUSES)}, "Only referrals in this state."),),
)  # fmt: skip
def list_program_referrals(program_id: int, query: dict):
    """Newest first. A rewarded referral's `rewards` carry the coupon codes for the shop to honour."""
    stmt = referrals.list_referrals(workspace_id(), program_id, query.get("status"))
    items, total = paginate(stmt, query["page"], query["per_page"])
    return page_json([referral_json(row) for row in referral_pages.referral_rows(items)], total, query)


@operation(
    "GET", "/subscribers/{subscriber_id}/referral", "Get a person's share link", tag=TAG, response="ReferralLink",
    errors=(409, 422), query=(Param("program_id", ID, "The program (may be left out when only one is active)."),),
)  # fmt: skip
def get_subscriber_referral(subscriber_id: int, query: dict):
    """The person's code and link in the program, drawn the first time it is asked for (and the same ever
    after). 409 for an archived program; 422 without program_id when the workspace has no active program or
    more than one."""
    program_id = query.get("program_id") or referrals.only_active_program(workspace_id())
    link = referrals.code_for(workspace_id(), program_id, subscriber_id)
    commit()
    return {"code": link.code, "url": link.url, "program_id": link.program_id,
            "subscriber_id": link.subscriber_id, "visits": link.visits}  # fmt: skip
