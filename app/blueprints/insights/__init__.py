"""Insights across the workspace: the last 30 days against the 30 before, the best and worst campaigns,
and every campaign's figures over time (a chart, a table per group, CSV)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, render_template, request

from app.blueprints.figures import insights_figure, shares_figure
from app.blueprints.helpers import csv_response, workspace_view
from app.services.audience import suppression
from app.services.errors import ValidationError
from app.services.events import insights, performance
from app.services.platform.workspaces import workspace_timezone

bp = Blueprint("insights", __name__, url_prefix="/insights")


@bp.route("/")
@workspace_view
def index():
    args, error = _args()
    try:
        result = insights.workspace_series(g.ws_id, args["interval"], args["group_by"], args["start"], args["end"])
    except ValidationError as exc:  # a range the form let through but the figures refuse
        error, result = exc.message, insights.workspace_series(g.ws_id, "day")
    summary = [(s, insights.totals_of([s])) for s in result["series"]]
    export_args = {k: v for k, v in request.args.items() if k in ("interval", "group_by", "from", "to") and v}
    return render_template(
        "insights/index.html", o=performance.overview(g.ws_id), result=result,
        figure=insights_figure(result, result.get("from"), result.get("to")), shares=shares_figure(result["totals"]),
        summary=summary, export_args=export_args, groups=insights.WORKSPACE_GROUPS, error=error, **args,
        sources=suppression.unsubscribe_sources(g.ws_id, start=result.get("from"), end=result.get("to")),
    ), (422 if error else 200)  # fmt: skip


@bp.route("/insights.csv")
@workspace_view
def export():
    args, error = _args()
    if error:
        return Response(error, status=422, mimetype="text/plain")
    result = insights.workspace_series(g.ws_id, args["interval"], args["group_by"], args["start"], args["end"])
    name = f"insights-{args['interval']}{'-by-' + args['group_by'] if args['group_by'] else ''}.csv"
    return csv_response(insights.csv_rows(result), name)


@bp.route("/campaigns.csv")
@workspace_view
def ranked_csv():
    """The best and worst campaigns of the last 30 days, as the page lists them."""
    return csv_response(performance.ranked_csv_rows(performance.overview(g.ws_id)), "insights-best-and-worst.csv")


def _args() -> tuple[dict, str | None]:
    """The form's choices; dates are days in the workspace's timezone (`to` included). Anything unknown
    falls back to the default; a date that is not one is said so."""
    interval = request.args.get("interval") if request.args.get("interval") in insights.INTERVALS else "day"
    group_by = request.args.get("group_by") if request.args.get("group_by") in insights.WORKSPACE_GROUPS else None
    zone, error = ZoneInfo(workspace_timezone(g.ws_id)), None
    days = {}
    for field in ("from", "to"):
        raw = (request.args.get(field) or "").strip()
        try:
            days[field] = date.fromisoformat(raw) if raw else None
        except ValueError:
            error, days[field] = f"“{raw[:40]}” is not a date: use the date picker (YYYY-MM-DD).", None
    if days["from"] and days["to"] and days["to"] < days["from"]:
        error, days["to"] = "The end comes before the start.", None
    start = datetime.combine(days["from"], time(0), zone) if days["from"] else None
    end = datetime.combine(days["to"] + timedelta(days=1), time(0), zone) if days["to"] else None
    return {"interval": interval, "group_by": group_by, "start": start, "end": end,
            "from_day": days["from"], "to_day": days["to"]}, error  # fmt: skip
