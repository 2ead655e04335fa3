"""POST /webhooks/<provider_type>/<provider_id>: providers' events in (API.md "Public URLs"); and
Twilio's /webhooks/twilio/<provider_id>/status and /inbound (texts: app/services/sms/callbacks.py).

Verify, store, commit, queue, answer: the processing happens on the `webhooks` queue
(app/services/events/webhook_intake.py says why in that order).
"""

from flask import Blueprint, jsonify, request

from app.extensions import csrf, db
from app.services.errors import NotFound
from app.services.events import webhook_intake
from app.services.sms import callbacks as sms_callbacks
from app.services.sms import inbound as sms_inbound

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # providers post without a session: the signature is the proof


@bp.route("/webhooks/<provider_type>/<int:provider_id>", methods=["POST", "HEAD", "GET"])
def receive(provider_type: str, provider_id: int):
    try:
        provider = webhook_intake.provider_for(provider_type, provider_id)
    except NotFound:
        return jsonify(error={"code": "not_found", "message": "No such webhook."}), 404
    if request.method in ("HEAD", "GET"):
        # Some providers probe the URL when it is configured; a GET shows where to post.
        return jsonify(ok=True, message=f"Herald receives {provider_type} events here by POST."), 200
    if (request.content_length or 0) > webhook_intake.MAX_BODY:
        return jsonify(error={"code": "too_large", "message": "Payload too large."}), 413
    body = request.get_data(cache=False)
    if len(body) > webhook_intake.MAX_BODY:
        return jsonify(error={"code": "too_large", "message": "Payload too large."}), 413
    try:
        webhook_intake.verify(provider, request.headers, body)
    except webhook_intake.WebhookRejected as exc:
        webhook_intake.record_rejection(provider.id, exc.reason, request.remote_addr)
        resp = jsonify(error={"code": "rejected", "message": exc.reason})
        for k, v in exc.headers.items():
            resp.headers[k] = v
        return resp, exc.status
    if webhook_intake.seen_before(provider, request.headers, body):
        return jsonify(received=True, duplicate=True), 200
    payload = webhook_intake.store(provider, request.headers, body)
    db.session.commit()
    webhook_intake.after_commit(provider, request.headers, body, payload.id)
    return jsonify(received=True, id=payload.id), 200


def _twilio_request():
    """The provider, the form's parameters and the URLs Twilio may have signed; or an error answer."""
    from flask import current_app

    try:
        provider = sms_callbacks.twilio_provider(request.view_args["provider_id"])
    except NotFound:
        return None, None, (jsonify(error={"code": "not_found", "message": "No such webhook."}), 404)
    if (request.content_length or 0) > webhook_intake.MAX_BODY:
        return None, None, (jsonify(error={"code": "too_large", "message": "Payload too large."}), 413)
    params = {name: request.form.getlist(name) for name in request.form}
    path = request.full_path.rstrip("?")
    urls = [current_app.config["BASE_URL"].rstrip("/") + path, request.url]
    try:
        sms_callbacks.verify(provider, urls, params, request.headers.get("X-Twilio-Signature"))
    except sms_callbacks.Rejected as exc:
        webhook_intake.record_rejection(provider.id, str(exc), request.remote_addr)
        db.session.commit()
        return None, None, (jsonify(error={"code": "rejected", "message": str(exc)}), 403)
    return provider, params, None


@bp.route("/webhooks/twilio/<int:provider_id>/status", methods=["POST"])
def twilio_status(provider_id: int):
    """A text's delivery status (the StatusCallback Herald gives each message)."""
    provider, params, refused = _twilio_request()
    if refused:
        return refused
    outcome = sms_callbacks.record_status(provider, params, request.args.get("r"))
    db.session.commit()
    return jsonify(received=True, **{k: v for k, v in outcome.items() if k in ("duplicate", "applied")}), 200


@bp.route("/webhooks/twilio/<int:provider_id>/inbound", methods=["POST"])
def twilio_inbound(provider_id: int):
    """A text someone sent to the workspace's number; answered with TwiML."""
    provider, params, refused = _twilio_request()
    if refused:
        return refused
    answer = sms_inbound.receive(provider, params)
    db.session.commit()
    return answer, 200, {"Content-Type": "text/xml; charset=utf-8"}
