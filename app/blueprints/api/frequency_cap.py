"""The workspace's frequency cap: at most N marketing emails per person per H hours, campaigns and flows together."""

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.helpers import commit
from app.extensions import db
from app.models import Workspace
from app.services.campaigns import frequency_cap

TAG = "Frequency cap"


def _cap_json(cap: dict | None) -> dict:
    return {"frequency_cap": cap}


@operation("GET", "/frequency-cap", "Show the frequency cap", tag=TAG, response="FrequencyCap")
def show_cap():
    """null: no cap."""
    return _cap_json(frequency_cap.cap_of(workspace_id()))


@operation(
    "PUT", "/frequency-cap", "Set the frequency cap", tag=TAG, body="FrequencyCap", response="FrequencyCap",
    permission="admin",
)  # fmt: skip
def set_cap(body: dict):
    """`{"frequency_cap": {"max": 1, "hours": 24}}`: a person over it is skipped with the reason
    `frequency_cap` by campaigns and flows' emails alike (transactional mail is exempt and not counted);
    `{"frequency_cap": null}` removes it."""
    workspace = db.session.get(Workspace, workspace_id())
    cap = frequency_cap.set_cap(workspace, body.get("frequency_cap"))
    commit()
    return _cap_json(cap)
