"""POST /webhooks/<provider_type>/<provider_id>: providers' events in (API.md "Public URLs").

Verify, store, commit, queue, answer: the processing happens on the `webhooks` queue
(app/services/events/webhook_intake.py says why in that order).
"""

from flask import Blueprint, jsonify, request

from app.extensions import csrf, db
from app.services.errors import NotFound
from app.services.events import webhook_intake

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
