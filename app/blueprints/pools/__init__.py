"""Deliverability → Pools: lanes of domains, identities, IPs and providers."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.blueprints.helpers import attempt, workspace_view
from app.extensions import db
from app.models import DedicatedIP, SendingIdentity
from app.services.delivery import domains, pools, providers
from app.services.ids import as_id

bp = Blueprint("pools", __name__, url_prefix="/pools")


def _choices() -> dict:
    ws = g.ws_id
    return {
        "domain": [(d.id, d.domain) for d in domains.list_domains(ws)],
        "identity": [
            (i.id, f"{i.display_name} <{i.email}>")
            for i in db.session.scalars(
                select(SendingIdentity).where(SendingIdentity.workspace_id == ws).order_by(SendingIdentity.email)
            )
        ],
        "ip": [
            (ip.id, ip.ip_address + (f" ({ip.hostname})" if ip.hostname else ""))
            for ip in db.session.scalars(
                select(DedicatedIP).where(DedicatedIP.workspace_id == ws).order_by(DedicatedIP.ip_address)
            )
        ],
        "provider": [(p.id, p.name) for p in providers.email_providers(ws)],
    }


def _posted() -> dict:
    """The form as the service takes it: ids from checkboxes, weights from number inputs."""
    data = {
        "name": request.form.get("name", ""),
        "strategy": request.form.get("strategy") or "priority",
        "default_for": request.form.get("default_for") or None,
        "weights": {},
    }
    for field in pools.FIELDS.values():
        data[field] = [i for i in (as_id(v) for v in request.form.getlist(field)) if i]
    for pid in data["provider_ids"]:
        raw = (request.form.get(f"weight_{pid}") or "1").strip()
        data["weights"][str(pid)] = int(raw) if raw.isdigit() and len(raw) < 5 else -1
    return data


def _form_of(pool) -> dict:
    m = pools.members(pool)
    return {"name": pool.name, "strategy": pool.strategy, "default_for": pool.default_for,
            "weights": pools.weights(pool), **{f: m[t] for t, f in pools.FIELDS.items()}}  # fmt: skip


@bp.route("/", methods=["GET", "POST"])
@workspace_view
def index():
    form, errors = {"strategy": "priority", "weights": {}}, {}
    if request.method == "POST":
        form = _posted()
        pool, errors = attempt(pools.create_pool, g.ws_id, form)
        if pool:
            flash(f"Pool “{pool.name}” added.", "success")
            return redirect(url_for("pools.index"))
    items = [(p, pools.members(p)) for p in pools.list_pools(g.ws_id)]
    return render_template(
        "pools/index.html", items=items, form=form, errors=errors, choices=_choices(), strategies=pools.STRATEGIES
    ), (422 if errors else 200)


@bp.route("/<int:pool_id>", methods=["GET", "POST"])
@workspace_view
def edit(pool_id: int):
    pool = pools.get_pool(g.ws_id, pool_id)
    form, errors = _form_of(pool), {}
    if request.method == "POST":
        form = _posted()
        saved, errors = attempt(pools.update_pool, g.ws_id, pool_id, form)
        if saved:
            flash(f"Pool “{saved.name}” saved.", "success")
            return redirect(url_for("pools.index"))
    return render_template(
        "pools/edit.html", pool=pool, form=form, errors=errors, choices=_choices(), strategies=pools.STRATEGIES
    ), (422 if errors else 200)


@bp.route("/<int:pool_id>/delete", methods=["POST"])
@workspace_view
def delete(pool_id: int):
    name = pools.get_pool(g.ws_id, pool_id).name
    _, errors = attempt(pools.delete_pool, g.ws_id, pool_id)
    if not errors:
        flash(f"Pool “{name}” removed.", "success")
    return redirect(url_for("pools.index"))
