"""API keys: list, create (shown once), revoke."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, workspace_view
from app.extensions import db
from app.models import ApiKey
from app.services.errors import DomainError
from app.services.platform.workspaces import create_api_key, revoke_api_key

bp = Blueprint("api_keys", __name__, url_prefix="/settings/api-keys")


def _keys():
    return list(db.session.scalars(db.select(ApiKey).where(ApiKey.workspace_id == g.ws_id).order_by(ApiKey.id.desc())))


@bp.route("/")
@workspace_view
def index():
    return render_template("api_keys/index.html", keys=_keys(), new_key=None)


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    key, plain = create_api_key(g.ws_id, request.form.get("name"))
    commit()
    # Rendered, not redirected: the plain key exists only in this response.
    return render_template("api_keys/index.html", keys=_keys(), new_key=plain, new_key_name=key.name), 201


@bp.route("/<int:key_id>/revoke", methods=["POST"])
@workspace_view
def revoke(key_id):
    try:
        revoke_api_key(g.ws_id, key_id)
        commit()
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash("Key revoked: requests with it are refused from now on.", "success")
    return redirect(url_for("api_keys.index"))
