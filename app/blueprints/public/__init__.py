"""Public pages for recipients: tracking, unsubscribe, preferences, view in browser.

No login and no CSRF: the signed token in the URL is the capability (RFC 8058 requires
one-click unsubscribe to work with a bare POST from the mailbox provider).
"""

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for

from app.blueprints.helpers import commit
from app.extensions import csrf, db, limiter
from app.models import Campaign, Subscriber, Workspace
from app.services.audience import contacts
from app.services.campaigns.messages import recipient_view
from app.services.events import tracking
from app.services.platform.branding import Brand

bp = Blueprint("public", __name__)
csrf.exempt(bp)
limiter.exempt(bp)

_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


def _client_ip() -> str | None:
    return request.remote_addr


@bp.route("/t/c/<token>")
def click(token):
    url = tracking.record_click(token, request.user_agent.string, _client_ip(), request.method)
    if url is None:
        abort(404)
    return redirect(url, code=302, Response=Response)


@bp.route("/t/trap")
def honeypot():
    """Where the hidden honeypot link of each message leads: nobody sees the link, only machines follow it."""
    return Response("", 204, headers=_NO_STORE)


@bp.route("/t/m/o/<token>.gif")
def message_open(token):
    """A transactional message's pixel (few, so written straight to the database): always the GIF."""
    from app.blueprints.public.pixel import PIXEL
    from app.services.events import message_tracking

    try:
        if message_tracking.record_message_open(token, request.user_agent.string, _client_ip(), request.method):
            commit()
    except Exception:  # the open is lost, but an inbox never shows a broken image for it
        db.session.rollback()
        current_app.logger.exception("message open not recorded")
    return Response(PIXEL, mimetype="image/gif", headers=_NO_STORE)


@bp.route("/t/m/c/<token>")
def message_click(token):
    """A transactional message's tracked link: only to the URL recorded for that link of that message."""
    from app.services.events import message_tracking

    url = message_tracking.record_message_click(token, request.user_agent.string, _client_ip(), request.method)
    if url is None:
        abort(404)
    commit()
    return redirect(url, code=302, Response=Response)


def _recipient_or_404(purpose: str, token: str):
    rec = tracking.recipient_for_token(purpose, token)
    if rec is None:
        abort(404)
    return rec


def _brand(workspace_id: int) -> Workspace:
    return db.session.get(Workspace, workspace_id)


@bp.app_template_global("brand_of")
def brand_of(workspace: Workspace | None) -> Brand:
    """The name, logo and colours public/base.html draws a workspace's pages with."""
    return Brand.of(workspace)


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token):
    """What the person's subscription is now; nothing on a GET changes it (link scanners open pages too)."""
    rec = _recipient_or_404("unsubscribe", token)
    sub = db.session.get(Subscriber, rec.subscriber_id)
    if sub is None:
        abort(404)
    ctx = dict(
        token=token,
        email=sub.email,
        workspace=_brand(sub.workspace_id),
        preferences_token=tracking.preferences_token(rec.id),
    )
    if sub.status == "unsubscribed":
        return render_template("public/unsubscribed.html", **ctx)
    if request.args.get("resubscribed") and sub.status == "active":
        return render_template("public/resubscribed.html", **ctx)
    return render_template(
        "public/unsubscribe.html", status=sub.status, campaign=db.session.get(Campaign, rec.campaign_id), **ctx
    )


@bp.route("/u/<token>", methods=["POST"])
def unsubscribe(token):
    rec = _recipient_or_404("unsubscribe", token)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    tracking.unsubscribe_recipient(rec, "one-click" if one_click else "link")
    commit()
    if one_click:  # RFC 8058: the mailbox provider posts; a short 200 is all it needs
        return Response("Unsubscribed.\n", mimetype="text/plain", headers=_NO_STORE)
    return redirect(url_for("public.unsubscribe_page", token=token), code=303)


@bp.route("/u/<token>/resubscribe", methods=["GET", "POST"])
def resubscribe(token):
    rec = _recipient_or_404("unsubscribe", token)
    if request.method == "GET":  # a reloaded or bookmarked result page: show the current state
        return redirect(url_for("public.unsubscribe_page", token=token))
    sub = db.session.get(Subscriber, rec.subscriber_id)
    if sub is None:
        abort(404)
    contacts.resubscribe(sub)
    commit()
    return redirect(url_for("public.unsubscribe_page", token=token, resubscribed=1), code=303)


@bp.route("/v/<token>")
def view_in_browser(token):
    rec = _recipient_or_404("view", token)
    found = recipient_view(rec.id)
    if found is None:
        abort(404)
    html, _ = found
    if 'name="viewport"' not in html and "name='viewport'" not in html:
        html = _VIEWPORT + html
    # Marketer HTML on our origin: a sandboxed, script-free document.
    return Response(
        html,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; "
            "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'",
            **_NO_STORE,
        },
    )


# Routes of this blueprint kept in modules of their own: the preference center; signup forms and
# double opt-in confirmations; referral links' landing pages.
from app.blueprints.public import preference_center, referrals, signups  # noqa: E402, F401
