"""The suppression list: addresses and domains no campaign will send to, why and where from; add one,
remove one, import and export a CSV."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from app.blueprints.helpers import commit, csv_response, page_number, workspace_view
from app.extensions import db
from app.models.audience import SUPPRESSION_SOURCES
from app.services.audience import suppression
from app.services.errors import DomainError
from app.services.pagination import paginate

bp = Blueprint("suppressions", __name__, url_prefix="/suppressions")
PER_PAGE = 50
SHOWN_ERRORS = 100  # an import's problem rows listed on the page; the count says how many more


def _filters() -> dict:
    reason, source = request.args.get("reason"), request.args.get("source")
    return {
        "q": (request.args.get("q") or "").strip()[:200],
        "reason": reason if reason in suppression.REASONS else None,
        "source": source if source in SUPPRESSION_SOURCES else None,
    }


@bp.route("/")
@workspace_view
def index(errors=None, status=200, form=None, imported=None):
    f = _filters()
    page = page_number()
    items, total = paginate(suppression.search_suppressions(g.ws_id, **f), page, PER_PAGE)
    return render_template(
        "suppressions/index.html", items=items, total=total, page=page, per_page=PER_PAGE, f=f,
        args={k: v for k, v in f.items() if v}, reasons=suppression.REASONS,
        manual_reasons=suppression.MANUAL_REASONS, sources=SUPPRESSION_SOURCES, errors=errors or {},
        form=form or {}, imported=imported, shown_errors=SHOWN_ERRORS,
    ), status  # fmt: skip


@bp.route("/", methods=["POST"])
@workspace_view
def create():
    form = request.form
    try:
        sup, added = suppression.add_suppression(
            g.ws_id, form.get("email"), form.get("reason") or "manual", form.get("detail"), source="dashboard"
        )
        commit()
    except DomainError as exc:
        db.session.rollback()
        return index(errors=exc.fields or {"email": exc.message}, status=422, form=form)
    what = f"Every address at {sup.email[1:]}" if sup.email.startswith("@") else sup.email
    if added:
        flash(f"{what} is suppressed: no campaign will send to it.", "success")
    else:
        flash(f"{sup.email} was already suppressed ({sup.reason}).", "info")
    return redirect(url_for("suppressions.index"))


@bp.route("/<int:suppression_id>/delete", methods=["POST"])
@workspace_view
def delete(suppression_id):
    sup = suppression.remove_suppression(g.ws_id, suppression_id)
    commit()
    flash(f"{sup.email} removed from the suppression list: campaigns may send there again.", "success")
    return redirect(url_for("suppressions.index"))


@bp.route("/import", methods=["POST"])
@workspace_view
def import_csv():
    """Suppress every address or @domain of an uploaded CSV; the page shows what was added and each bad row."""
    upload, limit = request.files.get("file"), current_app.config["IMPORT_MAX_BYTES"]
    try:
        if upload is None or not upload.filename:
            raise DomainError("Choose a CSV file to import.", {"file": "Choose a CSV file to import."})
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise DomainError("The file is larger than the import limit.", {"file": "File too large."})
        result = suppression.import_suppressions(g.ws_id, data, request.form.get("reason") or "manual")
        commit()
    except DomainError as exc:
        db.session.rollback()
        return index(errors=exc.fields or {"file": exc.message}, status=422, form=request.form)
    flash(result.summary(), "success" if not result.errors else "warning")
    return index(imported=result)


@bp.route("/export.csv")
@workspace_view
def export():
    """The list (as filtered) as CSV; cells a spreadsheet would run as formulas are quoted."""
    rows = suppression.export_rows(g.ws_id, **_filters())
    commit()  # the audit entry; the rows are read next
    return csv_response(rows, "suppressions.csv")
