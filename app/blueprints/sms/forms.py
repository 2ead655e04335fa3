"""The SMS campaign form <-> the values app/services/sms/campaigns.py takes, as pure functions."""

from app.blueprints.helpers import int_list
from app.services.campaigns.audience import TARGETS


def campaign_data(f) -> dict:
    """The posted form (templates/sms/form.html) as create_campaign and update_campaign take it."""
    return {
        "name": f.get("name", ""),
        "body": f.get("body", ""),
        "provider_id": f.get("provider_id") or None,
        "quiet_hours": f.get("quiet_hours") == "on",
        **{name: int_list(f.getlist(name)) for name in TARGETS},
    }


def new_values(args) -> dict:
    """A new campaign's form: quiet hours on, and a list or segment chosen in the link."""
    return {
        "name": "",
        "body": "",
        "provider_id": None,
        "quiet_hours": True,
        "list_ids": int_list([args.get("list_id")]),
        "segment_ids": int_list([args.get("segment_id")]),
        "exclude_list_ids": [],
        "exclude_segment_ids": [],
    }


def edit_values(campaign) -> dict:
    """A saved campaign's form."""
    audience = campaign.audience or {}
    return {
        "name": campaign.name,
        "body": campaign.body,
        "provider_id": campaign.provider_id,
        "quiet_hours": campaign.quiet_hours,
        **{name: list(audience.get(name) or []) for name in TARGETS},
    }
