"""A share link's landing page (/r/<code>), for the friend who opens it (growth/referral_landing.py).

The GET shows the program's title, text and the friend's reward, and counts a visit (a person's GET only).
The POST signs the friend up: a CSRF token (the page is our own, never embedded elsewhere, unlike signup
forms), the honeypot, and SIGNUP_RATE_LIMIT per program and IP address. An unknown code, or one of an
archived program, answers a friendly 404 page. No JavaScript anywhere.
"""

from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError

from app.blueprints.helpers import commit
from app.blueprints.public import bp
from app.extensions import csrf, db
from app.services.growth import referral_landing
from app.services.growth.referral_landing import Landing
from app.services.growth.referral_rewards import describe_reward, qualifying_order

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


def _not_found(code: str):
    workspace = referral_landing.archived_workspace(code)
    return render_template("public/referral_not_found.html", workspace=workspace), 404, NO_STORE


def _page(page: Landing, values: dict | None = None, errors: dict | None = None, status: int = 200):
    program = page.program
    body = render_template(
        "public/referral.html",
        page=page,
        workspace=page.workspace,
        landing=program.landing or {},
        friend_reward=describe_reward(program.friend_reward),
        qualifying_order=qualifying_order(program),
        honeypot=referral_landing.HONEYPOT,
        values=values or {},
        errors=errors or {},
    )
    return body, status, NO_STORE


@bp.route("/r/<code>", methods=["GET"])
def referral_landing_page(code):
    page = referral_landing.landing(code)
    if page is None:
        return _not_found(code)
    try:
        if referral_landing.record_visit(page.code.id, request.method, request.user_agent.string):
            commit()
    except Exception:  # a visit not counted never costs the friend the page
        db.session.rollback()
        current_app.logger.exception("referral visit not counted")
    return _page(page)


@bp.route("/r/<code>", methods=["POST"])
def referral_signup(code):
    """The thank-you page (the same for every well-formed address); the page again with its errors."""
    page = referral_landing.landing(code)
    if page is None:
        return _not_found(code)
    if not page.open:
        return _page(page, status=409)
    try:
        csrf.protect()
    except CSRFError:
        return _page(page, request.form, {"form": "This page was open too long: please try again."}, 400)
    limit = current_app.config["SIGNUP_RATE_LIMIT"]
    if not referral_landing.take_signup_slot(page.program.id, request.remote_addr, limit):
        return render_template("public/signup_limited.html", workspace=page.workspace), 429, NO_STORE
    result = referral_landing.sign_up(page, request.form, request.remote_addr)
    if not result.ok:
        db.session.rollback()
        return _page(page, result.values, result.errors, 422)
    commit()
    return render_template(
        "public/referral_thanks.html",
        page=page,
        workspace=page.workspace,
        friend_reward=describe_reward(page.program.friend_reward),
        qualifying_order=qualifying_order(page.program),
        confirm=referral_landing.asks_confirmation(page),
    ), 200, NO_STORE  # fmt: skip
