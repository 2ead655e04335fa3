"""Deliverability → Domains: add a sending domain, publish its records, verify, rotate DKIM keys, and
the identities (From addresses) that send from it."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from app.blueprints import warming_views
from app.blueprints.figures import dmarc_messages_figure, dmarc_rate_figure
from app.blueprints.helpers import attempt, attempt_quietly, workspace_view
from app.services.advisor import dmarc, dmarc_timeline
from app.services.advisor import engine as advisor
from app.services.advisor.fixes import LINKS as fix_links
from app.services.delivery import domain_blocklists, domains, health, identities

bp = Blueprint("domains", __name__, url_prefix="/domains")


@bp.route("/", methods=["GET", "POST"])
@workspace_view
def index():
    form, errors = {}, {}
    if request.method == "POST":
        form = {
            "domain": request.form.get("domain", ""),
            "return_path_subdomain": request.form.get("return_path_subdomain", ""),
        }
        domain, errors = attempt(domains.create_domain, g.ws_id, form["domain"], form["return_path_subdomain"] or None)
        if domain:
            flash(f"{domain.domain} added. Publish the records below, then press Verify.", "success")
            return redirect(url_for("domains.show", domain_id=domain.id))
    listing = {"items": domains.list_domains(g.ws_id), "scores": health.latest_scores(g.ws_id)}
    return render_template("domains/index.html", form=form, errors=errors, **listing), (422 if errors else 200)


def _domain_or_404(domain_id: int):
    return domains.get_domain(g.ws_id, domain_id)


@bp.route("/<int:domain_id>")
@workspace_view
def show(domain_id: int):
    return _render_show(_domain_or_404(domain_id))


def _render_show(domain, identity_form: dict | None = None, identity_errors: dict | None = None):
    checks = {(c["purpose"], c.get("selector")): c for c in domain.checks or []}
    report = health.domain_health(domain)
    return render_template(
        "domains/show.html",
        domain=domain,
        records=domains.dns_records(domain),
        checks=checks,
        return_path=domains.return_path_domain(domain),
        health=report,
        health_figure=_health_figure(report.history),
        blocklist_rows=domain_blocklists.blocklist_rows(domain),
        identities=identities.list_identities(g.ws_id, domain.id),
        signed=identities.signs(domain),
        identity_form=identity_form or {},
        identity_errors=identity_errors or {},
        advice=[r for r in advisor.recommendations(g.ws_id, None, ("domain", domain.id)) if r.status != "resolved"],
        links=fix_links,
    ), (422 if identity_errors else 200)


@bp.route("/<int:domain_id>/identities", methods=["POST"])
@workspace_view
def add_identity(domain_id: int):
    domain = _domain_or_404(domain_id)
    form = {k: request.form.get(k, "") for k in ("email", "display_name", "reply_to")}
    identity, errors = attempt(
        identities.create_identity, g.ws_id, domain.id, form["email"], form["display_name"], form["reply_to"]
    )
    if not identity:
        return _render_show(domain, form, errors)
    flash(f"{identity.display_name} <{identity.email}> added: campaigns and templates can send as it.", "success")
    return redirect(url_for("domains.show", domain_id=domain.id, _anchor="identities"))


@bp.route("/<int:domain_id>/identities/<int:identity_id>/delete", methods=["POST"])
@workspace_view
def delete_identity(domain_id: int, identity_id: int):
    domain = _domain_or_404(domain_id)
    email = identities.get_identity(g.ws_id, identity_id).email
    _, errors = attempt(identities.delete_identity, g.ws_id, identity_id)
    if not errors:
        flash(f"{email} removed: campaigns that used it keep their From.", "success")
    return redirect(url_for("domains.show", domain_id=domain.id, _anchor="identities"))


@bp.route("/<int:domain_id>/verify", methods=["POST"])
@workspace_view
def verify(domain_id: int):
    domain, _ = attempt(domains.verify_domain, g.ws_id, domain_id)
    if domain:
        if domain.status == "failed":
            flash(f"Some records are not right yet: {domain.status_reason}", "warning")
        else:
            flash(f"{domain.domain} is {domain.status}.", "success")
    return redirect(url_for("domains.show", domain_id=domain_id))


@bp.route("/<int:domain_id>/rotate", methods=["POST"])
@workspace_view
def rotate(domain_id: int):
    key, _ = attempt(domains.rotate_key, g.ws_id, domain_id)
    if key:
        flash(f"New key {key.selector}: publish its record, press Verify, then switch signing to it.", "success")
    return redirect(url_for("domains.show", domain_id=domain_id))


@bp.route("/<int:domain_id>/keys/<int:key_id>/sign", methods=["POST"])
@workspace_view
def switch(domain_id: int, key_id: int):
    key, _ = attempt(domains.switch_signing, g.ws_id, domain_id, key_id)
    if key:
        flash(f"Mail is signed with {key.selector} from now on; the old key retires in 7 days.", "success")
    return redirect(url_for("domains.show", domain_id=domain_id))


@bp.route("/<int:domain_id>/delete", methods=["POST"])
@workspace_view
def delete(domain_id: int):
    domain = _domain_or_404(domain_id)
    name = domain.domain
    _, errors = attempt(domains.delete_domain, g.ws_id, domain_id)
    if not errors:
        flash(f"{name} removed: mail from it is no longer signed.", "success")
    return redirect(url_for("domains.index"))


# Tier bands behind the health chart, worst to best (the same colours as the tier badges).
_TIER_COLORS = {"CRITICAL": "#d63939", "POOR": "#f76707", "FAIR": "#f59f00", "GOOD": "#74b816", "EXCELLENT": "#2fb344"}


def _health_figure(history: list) -> dict:
    """The daily 7-day score as a line over the five tier bands."""
    tops = [100] + [lowest for _, lowest in health.TIERS[:-1]]
    bands = [
        {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": lowest, "y1": top, "layer": "below",
         "fillcolor": _TIER_COLORS[tier], "opacity": 0.12, "line": {"width": 0}}
        for (tier, lowest), top in zip(health.TIERS, tops, strict=True)
    ]  # fmt: skip
    labels = [
        {"xref": "paper", "x": 1, "xanchor": "right", "yref": "y", "y": (lowest + top) / 2, "showarrow": False,
         "text": tier.capitalize(), "font": {"size": 10, "color": _TIER_COLORS[tier]}}
        for (tier, lowest), top in zip(health.TIERS, tops, strict=True)
    ]  # fmt: skip
    line = {"type": "scatter", "mode": "lines+markers", "name": "Health", "x": [h.day.isoformat() for h in history],
            "y": [h.score for h in history], "text": [h.tier.capitalize() for h in history],
            "hovertemplate": "%{x|%d %b}: %{y} (%{text})<extra></extra>", "line": {"color": "#206bc4"}}  # fmt: skip
    return {
        "data": [line],
        "layout": {"yaxis": {"range": [0, 100], "fixedrange": True}, "xaxis": {"type": "date", "tickformat": "%d %b"},
                   "shapes": bands, "annotations": labels, "showlegend": False, "height": 260},
    }  # fmt: skip


# ---- DMARC aggregate reports (app/services/advisor/dmarc.py) --------------------------------------


@bp.route("/<int:domain_id>/dmarc")
@workspace_view
def dmarc_page(domain_id: int):
    """Who sends as the domain, from the receivers' reports, and the reports themselves."""
    return _render_dmarc(_domain_or_404(domain_id))


@bp.route("/<int:domain_id>/dmarc", methods=["POST"])
@workspace_view
def dmarc_upload(domain_id: int):
    """A report file added by hand (kept with its error when it cannot be read)."""
    domain = _domain_or_404(domain_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_dmarc(domain, "Choose a report file (.xml, .xml.gz or .zip).")
    data = upload.read(dmarc.MAX_FILE_BYTES + 1)
    stored, errors = attempt_quietly(dmarc.ingest, g.ws_id, domain.id, data, source="upload", filename=upload.filename)
    if errors:
        return _render_dmarc(domain, next(iter(errors.values()), None) or "This report could not be added.")
    report = stored.report
    if report.status == "error":
        flash(f"{upload.filename} could not be read: {report.error} It is kept in the list below.", "danger")
    elif not stored.created:
        flash(f"This report from {report.org_name} was added before.", "info")
    else:
        flash(f"Report from {report.org_name} added: {report.records} rows, {report.messages} messages.", "success")
    return redirect(url_for("domains.dmarc_page", domain_id=domain.id))


DMARC_RANGES = (30, 90, 365)  # the page's range links; any days from 1 to 400 reads too


def _render_dmarc(domain, error: str | None = None):
    days = min(max(request.args.get("days", type=int) or 30, 1), dmarc_timeline.MAX_DAYS)
    summary = dmarc.summary(g.ws_id, domain.id, days)
    timeline = dmarc_timeline.timeline(g.ws_id, domain.id, days)
    charts = (
        {"messages": dmarc_messages_figure(timeline), "rate": dmarc_rate_figure(timeline)}
        if timeline["totals"]["messages"]
        else None
    )
    page = {"summary": summary, "timeline": timeline, "charts": charts, "ranges": DMARC_RANGES}
    return render_template("domains/dmarc.html", domain=domain, error=error, **page), (422 if error else 200)


# ---- warming (the page is shared with dedicated IPs: app/blueprints/warming_views.py) ----------


@bp.route("/<int:domain_id>/warming", methods=["GET", "POST"])
@workspace_view
def warming_page(domain_id: int):
    return warming_views.page(_domain_or_404(domain_id))


@bp.route("/<int:domain_id>/warming/progress")
@workspace_view
def warming_progress(domain_id: int):
    return warming_views.progress(_domain_or_404(domain_id))


@bp.route("/<int:domain_id>/warming/pause", methods=["POST"])
@workspace_view
def warming_pause(domain_id: int):
    return warming_views.pause(_domain_or_404(domain_id))


@bp.route("/<int:domain_id>/warming/resume", methods=["POST"])
@workspace_view
def warming_resume(domain_id: int):
    return warming_views.resume(_domain_or_404(domain_id))
