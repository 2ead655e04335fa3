"""Loyalty: the workspace's program, a person's points and ledger, redemptions and adjustments."""

from flask import make_response

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso
from app.blueprints.helpers import commit
from app.services.audience import contacts
from app.services.growth import loyalty, loyalty_reads

TAG = "Loyalty"


def program_json(p) -> dict:
    figures = loyalty_reads.figures(p)
    return {
        "id": p.id,
        "status": p.status,
        "points_per_unit": float(p.points_per_unit),
        "redemption_rate": float(p.redemption_rate),
        "currency": p.currency,
        "expiry_days": p.expiry_days,
        "tiers": list(p.tiers or []),
        "accounts": figures.accounts,
        "points_outstanding": figures.outstanding,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def entry_json(e) -> dict:
    return {
        "id": e.id,
        "kind": e.kind,
        "points": e.points,
        "remaining": e.remaining,
        "order_id": e.order_id,
        "note": e.note,
        "expires_at": iso(e.expires_at),
        "created_at": iso(e.created_at),
    }


def change_json(posted, program) -> dict:
    return {
        "entry": entry_json(posted.entry),
        "balance": posted.account.balance,
        "tier": posted.account.tier,
        "value": f"{loyalty.points_value(program, abs(posted.entry.points)):.2f}",
        "currency": program.currency,
    }


@operation("GET", "/loyalty/program", "Get the loyalty program", tag=TAG, response="LoyaltyProgram", errors=(404,))
def get_loyalty_program():
    """404 until the workspace sets one up."""
    return program_json(loyalty.program_of(workspace_id()))


@operation(
    "PUT",
    "/loyalty/program",
    "Set up or change the loyalty program",
    tag=TAG,
    body="LoyaltyProgramInput",
    response="LoyaltyProgram",
    status=201,
    also=(200,),
)
def put_loyalty_program(body: dict):
    """201 when it starts the program, 200 for a change. New tiers are given to every account at once (by
    lifetime points); a new rate counts from the next order."""
    program, created = loyalty.save_program(workspace_id(), body)
    commit()
    return make_response(program_json(program), 201 if created else 200)


@operation("GET", "/subscribers/{subscriber_id}/loyalty", "Get a person's points", tag=TAG, response="LoyaltyAccount")
def get_subscriber_loyalty(subscriber_id: int):
    """Balance (the ledger's sum), lifetime points, tier and the next one, and the latest 100 entries."""
    sub = contacts.get_subscriber(workspace_id(), subscriber_id)
    view = loyalty_reads.account_view(workspace_id(), sub)
    return {
        "subscriber_id": view.subscriber_id,
        "email": view.email,
        "balance": view.balance,
        "lifetime_points": view.lifetime_points,
        "tier": view.tier,
        "next_tier": view.next_tier,
        "value": f"{view.value:.2f}" if view.value is not None else None,
        "currency": view.currency,
        "ledger": [entry_json(e) for e in view.entries],
    }


def _person(body: dict):
    return loyalty.find_person(workspace_id(), body.get("email"), body.get("subscriber_id"))


@operation(
    "POST",
    "/loyalty/redeem",
    "Redeem points",
    tag=TAG,
    body="LoyaltyRedeemInput",
    response="LoyaltyChange",
    status=201,
    also=(200,),
    errors=(404, 409),
)
def redeem_points(body: dict):
    """Takes points from a person's balance (by `email` or `subscriber_id`), oldest earned points first.
    409 `insufficient_balance` when the balance is short, and nothing is taken: concurrent redemptions
    queue on the account, so the balance never goes below zero. 201 for a redemption; 200 with the first
    one when its `idempotency_key` was sent before."""
    ws = workspace_id()
    posted = loyalty.redeem(ws, _person(body), body["points"], body.get("idempotency_key"), body.get("note"))
    commit()
    return make_response(change_json(posted, loyalty.program_of(ws)), 201 if posted.created else 200)


@operation(
    "POST",
    "/loyalty/adjust",
    "Adjust points",
    tag=TAG,
    body="LoyaltyAdjustInput",
    response="LoyaltyChange",
    status=201,
    also=(200,),
    errors=(404, 409),
)
def adjust_points(body: dict):
    """Gives (+) or takes (−) points with a note kept in the ledger: a correction, a goodwill gesture.
    Given points never expire; taking more than the balance answers 409 `insufficient_balance`."""
    ws = workspace_id()
    posted = loyalty.adjust(ws, _person(body), body["points"], body.get("note"), body.get("idempotency_key"))
    commit()
    return make_response(change_json(posted, loyalty.program_of(ws)), 201 if posted.created else 200)
