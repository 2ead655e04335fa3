"""Signup forms and double opt-in confirmations, for the people who sign up.

/f/<public_id> is a signup form's hosted page; its POST also takes the posts of the form's embedded
copies on other sites (so no CSRF token: the public id is the capability), counted per IP address
against SIGNUP_RATE_LIMIT. /confirm/<token> is the link of a confirmation email: the GET shows a
button and changes nothing (mail scanners open links), the POST confirms. No JavaScript anywhere.
"""

from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask import abort, current_app, redirect, render_template, request, url_for

from app import CSP
from app.blueprints.helpers import commit
from app.blueprints.public import bp
from app.extensions import db
from app.models import SignupForm, Workspace
from app.services.audience import double_opt_in, signup_forms

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
TIMEZONES = sorted(available_timezones())


def _form_or_404(public_id: str) -> SignupForm:
    form = signup_forms.public_form(public_id)
    if form is None:
        abort(404)
    return form


def _headers(form: SignupForm) -> dict:
    """A browser follows a form's redirect only to where the page's CSP lets forms go: here, and the
    form's own redirect URL."""
    headers = dict(NO_STORE)
    if form.redirect_url:
        parts = urlsplit(form.redirect_url)
        headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
        )
    return headers


def _form_page(form: SignupForm, values: dict | None = None, errors: dict | None = None, status: int = 200):
    body = render_template(
        "public/signup_form.html",
        form=form,
        workspace=db.session.get(Workspace, form.workspace_id),
        inputs=signup_forms.inputs(form),
        honeypot=signup_forms.HONEYPOT,
        timezones=TIMEZONES,
        values=values or {},
        errors=errors or {},
    )
    return body, status, _headers(form)


@bp.route("/f/<public_id>", methods=["GET"])
def signup_form(public_id):
    return _form_page(_form_or_404(public_id))


@bp.route("/f/<public_id>", methods=["POST"])
def signup(public_id):
    """One signup: the thank-you page or the form's redirect; the form again with its errors; 429 past the limit."""
    form = _form_or_404(public_id)
    workspace = db.session.get(Workspace, form.workspace_id)
    if not signup_forms.take_submission_slot(form, request.remote_addr, current_app.config["SIGNUP_RATE_LIMIT"]):
        return render_template("public/signup_limited.html", workspace=workspace), 429, NO_STORE
    result = signup_forms.submit(form, request.form, request.remote_addr)
    if not result.ok:
        db.session.rollback()
        return _form_page(form, result.values, result.errors, 422)
    commit()
    if form.redirect_url:
        return redirect(form.redirect_url, code=303)
    return (
        render_template(
            "public/signup_thanks.html",
            form=form,
            workspace=workspace,
            confirm=signup_forms.asks_confirmation(form),
        ),
        200,
        NO_STORE,
    )


@bp.route("/confirm/<token>", methods=["GET"])
def confirm_page(token):
    """The confirmation link's page: a button to press, or what became of the subscription."""
    found = double_opt_in.look_up(token)
    if found is None:
        abort(404)
    state = "done" if found.state == "already" and request.args.get("confirmed") else found.state
    return _confirm_page(found, token, state)


@bp.route("/confirm/<token>", methods=["POST"])
def confirm(token):
    found = double_opt_in.confirm(token, request.remote_addr)
    if found is None:
        abort(404)
    commit()
    if found.state == "done":
        return redirect(url_for("public.confirm_page", token=token, confirmed=1), code=303)
    return _confirm_page(found, token, found.state)


def _confirm_page(found, token: str, state: str):
    return (
        render_template(
            "public/confirm.html",
            workspace=found.workspace,
            email=found.subscriber.email,
            state=state,
            token=token,
        ),
        200,
        NO_STORE,
    )
