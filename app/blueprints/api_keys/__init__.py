"""API keys: list, create with a role (shown once), revoke."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import attempt, commit, workspace_view
from app.extensions import db
from app.models import ApiKey
from app.models.workspace import ROLES
from app.services.errors import DomainError
from app.services.platform import roles
from app.services.platform.workspaces import create_api_key, revoke_api_key

bp = Blueprint("api_keys", __name__, url_prefix="/settings/api-keys")


def _keys():
    return list(db.session.scalars(db.select(ApiKey).where(ApiKey.workspace_id == g.ws_id).order_by(ApiKey.id.desc())))


def _page(status=200, **extra):
    grantable = [r for r in ROLES if roles.may_grant(g.role, r)]
    context = {"keys": _keys(), "new_key": None, "grantable": grantable, "errors": {}, "form": {}} | extra
    return render_template("api_keys/index.html", descriptions=roles.ROLE_DESCRIPTIONS, **context), status


@bp.route("/")
@workspace_view
def index():
    return _page()


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    form = request.form
    # A key never gets a role above its creator's (an admin makes admin keys at most); a form
    # without the field (a script) gets the creator's own role, as keys did before roles.
    made, errors = attempt(create_api_key, g.ws_id, form.get("name"), form.get("role") or g.role, g.role)
    if made is None:
        return _page(422, errors=errors, form=form)
    key, plain = made
    # Rendered, not redirected: the plain key exists only in this response.
    return _page(201, new_key=plain, new_key_name=key.name, new_key_role=key.role)


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
