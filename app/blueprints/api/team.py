"""The team and the audit log: who is in the workspace, and who did what."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import page_json
from app.services.platform import audit, team
from app.services.platform.workspaces import workspace_timezone

TAG = "Team"
DATE = {"type": "string", "maxLength": 10, "description": "A day, YYYY-MM-DD, in the workspace's timezone."}


@operation("GET", "/team", "The team", tag=TAG, response="Team")
def show_team():
    """The members with their roles, and the invitations still waiting (invite and change roles in the
    dashboard, Settings → Team)."""
    ws = workspace_id()
    return {
        "members": [
            {"id": m.id, "user_id": m.user_id, "email": m.user.email, "name": m.user.name, "role": m.role}
            for m in team.list_members(ws)
        ],
        "invitations": [
            {
                "id": i.id,
                "email": i.email,
                "role": i.role,
                "created_at": i.created_at.isoformat(),
                "expires_at": i.expires_at.isoformat(),
            }
            for i in team.pending_invitations(ws)
        ],
    }


@operation(
    "GET",
    "/audit-log",
    "The audit log",
    tag=TAG,
    response="AuditEntry",
    paginated=True,
    query=(
        Param("action", {"type": "string", "maxLength": 60}, "Only this action, e.g. campaign.send."),
        Param("actor", {"type": "string", "maxLength": 320}, "Only what this actor did (as `actor` shows it)."),
        Param("from", DATE, "From this day on."),
        Param("to", DATE, "Up to and including this day."),
    ),
)
def list_audit_log(query: dict):
    """Sends, deletes, exports, erasures, settings and role changes, newest first, each with who did it
    (a person or an API key) and when."""
    ws = workspace_id()
    filters = audit.parse_filters(query.get("action"), query.get("actor"), query.get("from"), query.get("to"))
    result = audit.find_entries(ws, filters, query["page"], query["per_page"], workspace_timezone(ws))
    return page_json([audit.entry_json(e) for e in result.entries], result.total, query)
