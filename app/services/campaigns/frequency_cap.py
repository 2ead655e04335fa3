"""The workspace's frequency cap: at most `max` marketing emails per person per `hours`, campaigns and
flows together (transactional mail is exempt, and is not counted). A person over the cap is skipped
with the reason `frequency_cap`, shown on the campaign (or the flow's step) like any skip.

What counts: the person's recipient rows of the workspace's other marketing campaigns (a flow's
email steps are campaigns too) sent within the window, or still on their way (pending or being
handed off) — so two sends prepared in the same minute do not both slip under the cap.
"""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, Workspace
from app.services.errors import ValidationError
from app.services.platform.workspaces import record_settings_change, settings_snapshot

REASON = "frequency_cap"
MAX_HOURS = 24 * 30


def clean_cap(value) -> dict | None:
    """{"max": 1–100, "hours": 1–720}, or None (no cap) for null/empty."""
    if value in (None, "", {}):
        return None
    if not isinstance(value, dict):
        raise ValidationError("frequency_cap: {max, hours}, or null for no cap.", {"frequency_cap": "{max, hours}"})
    errors = {}
    out = {}
    for key, high in (("max", 100), ("hours", MAX_HOURS)):
        raw = value.get(key)
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            number = None
        if number is None or not 1 <= number <= high or isinstance(raw, bool):
            errors[key] = f"A whole number from 1 to {high}."
        else:
            out[key] = number
    if errors:
        raise ValidationError("Please correct the highlighted fields.", errors)
    return out


def set_cap(workspace: Workspace, value) -> dict | None:
    before = settings_snapshot(workspace)
    workspace.frequency_cap = clean_cap(value)
    db.session.flush()
    record_settings_change(workspace, before)
    return workspace.frequency_cap


def cap_of(workspace_id: int) -> dict | None:
    return db.session.scalar(select(Workspace.frequency_cap).where(Workspace.id == workspace_id))


def over_cap(campaign: Campaign, subscribers):
    """SQL: the person (a row of `subscribers`) has had the cap's worth of marketing email in its window;
    None when the campaign is transactional or the workspace has no cap."""
    cap = cap_of(campaign.workspace_id)
    if not cap or campaign.category == "transactional":
        return None
    since = datetime.now(timezone.utc) - timedelta(hours=cap["hours"])
    earlier = CampaignRecipient.__table__.alias("capped")
    other = Campaign.__table__.alias("capped_campaign")
    counted = (
        select(func.count())
        .select_from(earlier.join(other, other.c.id == earlier.c.campaign_id))
        .where(
            earlier.c.subscriber_id == subscribers.c.id,
            other.c.workspace_id == campaign.workspace_id,
            other.c.category != "transactional",
            other.c.id != campaign.id,
            (earlier.c.sent_at >= since)
            | (earlier.c.status.in_(("pending", "sending")) & (earlier.c.created_at >= since)),
        )
        .scalar_subquery()
    )
    return counted >= cap["max"]
