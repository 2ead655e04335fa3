"""Referral programs (Growth → Referrals): the list, a program's form, its page (funnel, top referrers,
rewards given, referrals), pause, resume and archive; and the invite sent from a subscriber's page."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, page_number, workspace_view
from app.services.audience import contacts
from app.services.growth import referral_pages, referrals
from app.services.growth.referral_rewards import describe_reward, qualifying_order
from app.services.ids import as_id

bp = Blueprint("referrals", __name__, url_prefix="/referrals")
PER_PAGE = 25
REWARD_LABELS = {"percent": "A percentage off", "fixed": "A fixed amount off", "points": "Loyalty points"}


@bp.app_template_global("describe_reward")
def _describe_reward(reward) -> str:
    return describe_reward(reward)


@bp.route("/")
@workspace_view
def index():
    return render_template("referrals/index.html", rows=referral_pages.programs_with_figures(g.ws_id))


@bp.route("/new", methods=["GET", "POST"])
@workspace_view
def new():
    values = {"referrer_reward": {"type": "percent"}, "friend_reward": {"type": "percent"}, "expiry_days": 30}
    errors = {}
    if request.method == "POST":
        values = _posted()
        program, errors = attempt(referrals.create_program, g.ws_id, values)
        if program:
            flash(f"Referral program “{program.name}” created. Send people their links from their pages.", "success")
            return redirect(url_for("referrals.show", program_id=program.id))
    return _form_page(None, values, errors)


@bp.route("/<int:program_id>")
@workspace_view
def show(program_id):
    status = request.args.get("status") if request.args.get("status") in referrals.STATUSES else None
    page = referral_pages.program_page(g.ws_id, program_id, page_number(), PER_PAGE, status)
    return render_template(
        "referrals/show.html",
        p=page,
        program=page.program,
        status=status,
        statuses=referrals.STATUSES,
        page=page_number(),
        per_page=PER_PAGE,
        qualifying_order=qualifying_order(page.program),
    )


@bp.route("/<int:program_id>/edit", methods=["GET", "POST"])
@workspace_view
def edit(program_id):
    program = referrals.get_program(g.ws_id, program_id)
    if program.status == "archived":
        flash("This program is archived: it cannot change. Create a new one instead.", "info")
        return redirect(url_for("referrals.show", program_id=program.id))
    values, errors = referrals.stored_values(program), {}
    if request.method == "POST":
        values = _posted()
        saved, errors = attempt(referrals.update_program, g.ws_id, program.id, values)
        if saved:
            flash(f"Referral program “{saved.name}” saved.", "success")
            return redirect(url_for("referrals.show", program_id=program.id))
    return _form_page(program, values, errors)


_DONE = {
    "paused": "paused: its landing page takes no signups until you resume it",
    "active": "resumed: its landing page takes signups again",
    "archived": "archived: its links no longer work; friends already pending keep their reward",
}


@bp.route("/<int:program_id>/<any(pause, resume, archive):action>", methods=["POST"])
@workspace_view
def set_status(program_id, action):
    status = {"pause": "paused", "resume": "active", "archive": "archived"}[action]
    program, errors = attempt(referrals.set_status, g.ws_id, program_id, status)
    if program:
        flash(f"Referral program “{program.name}” {_DONE[status]}.", "success")
    return redirect(url_for("referrals.show", program_id=program_id))


@bp.route("/<int:program_id>/invite", methods=["POST"])
@workspace_view
def invite(program_id):
    """Email a subscriber (the form's subscriber_id) their link in the program."""
    sub = contacts.get_subscriber(g.ws_id, _subscriber_id())
    message, errors = attempt(referrals.send_invite, g.ws_id, program_id, sub.id)
    if message is not None:
        flash(f"Referral invite sent to {sub.email}, with their personal link.", "success")
    return redirect(url_for("subscribers.show", subscriber_id=sub.id) + "#referrals")


def _subscriber_id() -> int:
    return as_id(request.form.get("subscriber_id")) or 0


def _reward(prefix: str) -> dict:
    f = request.form
    kind = f.get(f"{prefix}_type", "")
    if not kind:
        return {}
    return {"type": kind, "value": f.get(f"{prefix}_value", "").strip(), "currency": f.get(f"{prefix}_currency", "")}


def _posted() -> dict:
    """The form's inputs as the service's values."""
    f = request.form
    return {
        "name": f.get("name", ""),
        "referrer_reward": _reward("referrer") or None,
        "friend_reward": _reward("friend") or None,
        "min_order_amount": f.get("min_order_amount", "").strip() or None,
        "currency": f.get("currency", ""),
        "expiry_days": f.get("expiry_days", "").strip(),
        "list_id": f.get("list_id") or None,
        "landing": {"title": f.get("landing_title", ""), "text": f.get("landing_text", "")},
    }


def _form_page(program, values: dict, errors: dict):
    return render_template(
        "referrals/form.html",
        program=program,
        values=values,
        errors=errors,
        lists=contacts.lists_with_counts(g.ws_id),
        reward_labels=REWARD_LABELS,
    ), (422 if errors else 200)
