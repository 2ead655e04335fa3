"""Loyalty: the program's settings, its figures, top accounts and latest entries, and a person's points
(their ledger, with forms to redeem or adjust)."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, workspace_view
from app.services.audience import contacts
from app.services.growth import loyalty, loyalty_reads

bp = Blueprint("loyalty", __name__, url_prefix="/loyalty")
BLANK_TIERS = 2  # empty rows under the program's tiers, to add new ones


def _program_data(form) -> dict:
    """The settings form as save_program takes it: tier rows left empty are no tiers."""
    tiers = [
        {"name": name, "min_points": points.strip()}
        for name, points in zip(form.getlist("tier_name"), form.getlist("tier_points"), strict=False)  # a row each
        if name.strip() or points.strip()
    ]
    return {
        "status": "paused" if form.get("paused") == "on" else "active",
        "points_per_unit": form.get("points_per_unit", "").strip(),
        "redemption_rate": form.get("redemption_rate", "").strip(),
        "currency": form.get("currency", ""),
        "expiry_days": form.get("expiry_days", "").strip(),
        "tiers": tiers,
    }


def _values(program) -> dict:
    """The settings form's values for the program (the defaults before there is one)."""
    p = {k: getattr(program, k) for k in loyalty.DEFAULTS} if program else dict(loyalty.DEFAULTS)
    return p | {
        "points_per_unit": _decimal(p["points_per_unit"]),
        "redemption_rate": _decimal(p["redemption_rate"]),
        "expiry_days": p["expiry_days"] or "",
        "tiers": list(p["tiers"] or []),
    }


def _decimal(value) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _index(status=200, errors=None, form=None):
    program = loyalty.get_program(g.ws_id)
    values = form or _values(program)
    context = {"program": program, "errors": errors or {}, "values": values, "blank_tiers": BLANK_TIERS}
    if program is not None:
        context |= {
            "figures": loyalty_reads.figures(program),
            "top": loyalty_reads.top_accounts(program),
            "recent": loyalty_reads.recent_entries(program),
        }
    return render_template("loyalty/index.html", **context), status


@bp.route("/")
@workspace_view
def index():
    return _index()


@bp.route("/program", methods=["POST"])
@workspace_view
def save_program():
    data = _program_data(request.form)
    saved, errors = attempt(loyalty.save_program, g.ws_id, data)
    if saved is None:
        return _index(422, errors, data)
    program, created = saved
    flash("Loyalty program started: new orders earn points." if created else "Loyalty program saved.", "success")
    return redirect(url_for("loyalty.index"))


def _person_page(subscriber_id: int, status=200, errors=None, form=None):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    view = loyalty_reads.account_view(g.ws_id, sub, limit=loyalty_reads.MAX_LEDGER)
    program = loyalty.get_program(g.ws_id)
    return render_template(
        "loyalty/person.html", sub=sub, view=view, program=program, errors=errors or {}, form=form or {}
    ), status


@bp.route("/people/<int:subscriber_id>")
@workspace_view
def person(subscriber_id):
    return _person_page(subscriber_id)


def _points(value) -> int | str:
    text = (value or "").strip()
    return int(text) if text.lstrip("-").isdigit() and len(text) <= 12 else text


@bp.route("/people/<int:subscriber_id>/redeem", methods=["POST"])
@workspace_view
def redeem(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    form = request.form
    posted, errors = attempt(loyalty.redeem, g.ws_id, sub, _points(form.get("points")), None, form.get("note"))
    if posted is None:
        return _person_page(sub.id, 422, errors, form)
    flash(f"Redeemed {-posted.entry.points:,} points: {posted.account.balance:,} left.", "success")
    return redirect(url_for("loyalty.person", subscriber_id=sub.id))


@bp.route("/people/<int:subscriber_id>/adjust", methods=["POST"])
@workspace_view
def adjust(subscriber_id):
    sub = contacts.get_subscriber(g.ws_id, subscriber_id)
    form = request.form
    points = _points(form.get("adjust_points"))
    posted, errors = attempt(loyalty.adjust, g.ws_id, sub, points, form.get("adjust_note"))
    if posted is None:
        errors = {("adjust_" + k if k in ("points", "note") else k): v for k, v in errors.items()}
        return _person_page(sub.id, 422, errors, form)
    flash(f"Adjusted by {posted.entry.points:+,} points: {posted.account.balance:,} now.", "success")
    return redirect(url_for("loyalty.person", subscriber_id=sub.id))
