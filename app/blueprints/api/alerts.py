"""Alerts: what needs a person (a DNS record that broke, a paused warming plan), open or resolved."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import alert_json, page_json
from app.blueprints.helpers import commit
from app.services.platform import alerts

TAG = "Alerts"


@operation(
    "GET",
    "/alerts",
    "List alerts",
    tag=TAG,
    response="Alert",
    paginated=True,
    query=(Param("status", {"enum": list(alerts.STATUSES), "default": "open"}),),
)
def list_alerts(query: dict):
    """Open alerts (the default) most severe and most recent first; `status=resolved` for the ones
    resolved, latest first. A new alert is also sent as the `alert.raised` webhook event."""
    per_page = query["per_page"]
    items, total = alerts.list_alerts(workspace_id(), query["status"], per_page, (query["page"] - 1) * per_page)
    return page_json([alert_json(a) for a in items], total, query)


@operation("POST", "/alerts/{alert_id}/resolve", "Resolve an alert", tag=TAG, response="Alert")
def resolve_alert(alert_id: int):
    """Marks it resolved (a resolved one stays as it is). Should the problem still be there, the next
    check raises a new alert."""
    alert = alerts.resolve(workspace_id(), alert_id)
    commit()
    return alert_json(alert)
