"""What the overview page shows: the first-run checklist and headline figures."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CaughtMessage, MailingList, Provider, Subscriber, Template
from app.services.delivery.providers import DEVELOPMENT_TYPES, EMAIL_TYPES


def workspace_overview(workspace_id: int) -> dict:
    def count(model, *where):
        return (
            db.session.scalar(select(func.count()).select_from(model).where(model.workspace_id == workspace_id, *where))
            or 0
        )

    real_providers = count(  # an SMS provider does not send the workspace's email
        Provider, Provider.provider_type.in_(EMAIL_TYPES), Provider.provider_type.not_in(DEVELOPMENT_TYPES)
    )
    subscribers = count(Subscriber)
    active = count(Subscriber, Subscriber.status == "active")
    templates = count(Template)
    sent = count(Campaign, Campaign.status == "sent")
    checklist = [
        {
            "label": "Add a sending provider",
            "done": real_providers > 0,
            "endpoint": "providers.new",
            "hint": "Until then, mail goes to the development outbox so you can see the whole loop.",
        },
        {
            "label": "Import subscribers",
            "done": subscribers > 0,
            "endpoint": "subscribers.import_form",
            "hint": "A CSV with an email column; other columns become attributes.",
        },
        {
            "label": "Build a template",
            "done": templates > 0,
            # The visual builder's starters: a designed email to make one's own, no HTML needed.
            "endpoint": "email_templates.new_visual",
            "hint": "Pick a starter and make it yours in the visual builder.",
        },
        {
            "label": "Send a first campaign",
            "done": sent > 0,
            "endpoint": "campaigns.new",
            "hint": "Pick a template and lists, then send.",
        },
    ]
    recent = list(
        db.session.scalars(
            select(Campaign).where(Campaign.workspace_id == workspace_id).order_by(Campaign.id.desc()).limit(5)
        )
    )
    return {
        "checklist": checklist,
        "checklist_done": sum(c["done"] for c in checklist),
        "subscribers": subscribers,
        "active": active,
        "lists": count(MailingList),
        "templates": templates,
        "campaigns_sent": sent,
        "recent": recent,
        "outbox": count(CaughtMessage),
    }
