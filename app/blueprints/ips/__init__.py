"""Deliverability → Dedicated IPs: add an address, bind it to a provider, check its PTR, FCrDNS and blocklists."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints import warming_views
from app.blueprints.helpers import attempt, workspace_view
from app.services.delivery import ips

bp = Blueprint("ips", __name__, url_prefix="/ips")
FIELDS = ("ip_address", "hostname", "provider_id", "pool_name")


@bp.route("/", methods=["GET", "POST"])
@workspace_view
def index():
    form, errors = {}, {}
    if request.method == "POST":
        form = {name: request.form.get(name, "") for name in FIELDS}
        ip, errors = attempt(ips.add_ip, g.ws_id, *(form[name] or None for name in FIELDS))
        if ip:
            flash(f"{ip.ip_address} added. Press “Check now” to look its PTR and the blocklists up.", "success")
            return redirect(url_for("ips.show", ip_id=ip.id))
    choices = ips.provider_choices(g.ws_id)
    return render_template(
        "ips/index.html",
        items=ips.list_ips(g.ws_id),
        choices=choices,
        provider_names={c.id: c.name for c in choices},
        form=form,
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/<int:ip_id>", methods=["GET", "POST"])
@workspace_view
def show(ip_id: int):
    ip, errors = ips.get_ip(g.ws_id, ip_id), {}
    if request.method == "POST":
        changes = {name: request.form.get(name, "").strip() or None for name in FIELDS[1:]}
        updated, errors = attempt(ips.update_ip, g.ws_id, ip_id, **changes)
        if updated:
            flash(f"{ip.ip_address} saved.", "success")
            return redirect(url_for("ips.show", ip_id=ip_id))
        ip = ips.get_ip(g.ws_id, ip_id)  # the failed change was rolled back
    choices = ips.provider_choices(g.ws_id)
    return render_template(
        "ips/show.html",
        ip=ip,
        rows=ips.blocklist_rows(ip),
        choices=choices,
        provider=next((c for c in choices if c.id == ip.provider_id), None),
        ptr_matches=ips.ptr_matches(ip),
        errors=errors,
        form=request.form if errors else {},
    ), (422 if errors else 200)


@bp.route("/<int:ip_id>/check", methods=["POST"])
@workspace_view
def check(ip_id: int):
    ips.get_ip(g.ws_id, ip_id)  # another workspace's id: 404, not a flashed message
    ip, _ = attempt(ips.check_ip, g.ws_id, ip_id)
    if ip:
        silent = [e for e in ip.blocklists if e["status"] in ("refused", "unknown") and not e["listed"]]
        if ips.is_listed(ip):
            flash(f"{ip.ip_address} is listed: see each list below for what it means and how to get removed.", "danger")
        elif silent:
            flash(
                f"{ip.ip_address} checked, but {len(silent)} of the lists gave no usable answer: see below.", "warning"
            )
        else:
            flash(f"{ip.ip_address} checked: no list lists it.", "success")
    return redirect(url_for("ips.show", ip_id=ip_id))


@bp.route("/<int:ip_id>/delete", methods=["POST"])
@workspace_view
def delete(ip_id: int):
    address = ips.get_ip(g.ws_id, ip_id).ip_address
    _, errors = attempt(ips.delete_ip, g.ws_id, ip_id)
    if not errors:
        flash(f"{address} removed: no provider sends from it through Herald any more.", "success")
    return redirect(url_for("ips.index"))


# ---- warming (the page is shared with sending domains: app/blueprints/warming_views.py) ----------


@bp.route("/<int:ip_id>/warming", methods=["GET", "POST"])
@workspace_view
def warming_page(ip_id: int):
    return warming_views.page(ips.get_ip(g.ws_id, ip_id))


@bp.route("/<int:ip_id>/warming/progress")
@workspace_view
def warming_progress(ip_id: int):
    return warming_views.progress(ips.get_ip(g.ws_id, ip_id))


@bp.route("/<int:ip_id>/warming/pause", methods=["POST"])
@workspace_view
def warming_pause(ip_id: int):
    return warming_views.pause(ips.get_ip(g.ws_id, ip_id))


@bp.route("/<int:ip_id>/warming/resume", methods=["POST"])
@workspace_view
def warming_resume(ip_id: int):
    return warming_views.resume(ips.get_ip(g.ws_id, ip_id))
