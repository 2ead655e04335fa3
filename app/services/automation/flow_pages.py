"""What the dashboard's flow pages read, as read models (the figures themselves are flow_metrics'):

list_rows(ws, page, per_page, status)   the flows index: each flow with its people, emails sent and
                                        recovered revenue, in a fixed number of grouped queries
editor_choices(ws)                      what an editor's selects offer: templates, lists, segments,
                                        identities, Twilio providers, and the sender used when a step
                                        names none
recent_sends(flow) / recent_enrollments(flow)   the last rows of the flow's page tables
live_changed(flow)                      does the draft differ from the version people follow?
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Campaign,
    CampaignRecipient,
    Flow,
    FlowEnrollment,
    FlowVersion,
    InsightHour,
    MailingList,
    Segment,
    Subscriber,
    Template,
)
from app.services.automation import flow_metrics, flow_sends, flows
from app.services.delivery import identities
from app.services.errors import ValidationError
from app.services.events import rollups
from app.services.pagination import paginate
from app.services.sms import campaigns as sms_campaigns

RECENT = 20


@dataclass
class FlowRow:
    flow: Flow
    people: dict  # entered, active, completed, goal, exited
    sent: int = 0
    recovered: dict = field(default_factory=lambda: {"orders": 0, "revenue": 0.0, "currency": None})


@dataclass
class EditorChoices:
    templates: list  # Template rows, newest first
    lists: dict  # {id: name}
    segments: dict  # {id: name}
    identities: list  # [(domain, [identity…])], as identities.identity_choices
    usual_sender: str | None  # "Name <address>" of the newest campaign, the From of a step that names none
    sms_providers: dict = field(default_factory=dict)  # {id: name} of the Twilio providers, the first the default


def names(workspace_id: int) -> tuple[dict, dict]:
    """{list id: name} and {segment id: name}, for triggers and steps said in words."""
    lists = dict(db.session.execute(select(MailingList.id, MailingList.name).where(MailingList.workspace_id == workspace_id)).all())  # fmt: skip
    segs = dict(db.session.execute(select(Segment.id, Segment.name).where(Segment.workspace_id == workspace_id)).all())
    return lists, segs


def list_rows(workspace_id: int, page: int, per_page: int, status: str | None = None) -> tuple[list[FlowRow], int]:
    """One page of the flows index with their figures: four queries whatever the number of rows."""
    items, total = paginate(flows.list_flows(workspace_id, status), page, per_page)
    rows = {f.id: FlowRow(f, dict.fromkeys(("entered", "active", "completed", "goal", "exited"), 0)) for f in items}
    if not rows:
        return [], total
    fe = FlowEnrollment
    counted = select(fe.flow_id, fe.status, func.count()).where(fe.flow_id.in_(rows)).group_by(fe.flow_id, fe.status)
    for flow_id, state, n in db.session.execute(counted):
        people = rows[flow_id].people
        people["entered"] += n
        if state in people:
            people[state] += n
    ih = InsightHour
    sent = (
        select(Campaign.flow_id, func.coalesce(func.sum(ih.sent), 0))
        .join(Campaign, Campaign.id == ih.campaign_id)
        .where(Campaign.flow_id.in_(rows), rollups.TOTALS)
        .group_by(Campaign.flow_id)
    )
    for flow_id, n in db.session.execute(sent):
        rows[flow_id].sent = int(n)
    for flow_id, money in flow_metrics.recovered_by_flow(workspace_id, list(rows)).items():
        rows[flow_id].recovered = money
    return list(rows.values()), total


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def editor_choices(workspace_id: int) -> EditorChoices:
    templates = list(
        db.session.scalars(
            select(Template).where(Template.workspace_id == workspace_id).order_by(Template.updated_at.desc())
        )
    )
    lists, segs = names(workspace_id)
    try:
        usual = flow_sends.sender_of(workspace_id, {})
        sender = f"{usual['from_name']} <{usual['from_email']}>" if usual["from_name"] else usual["from_email"]
    except ValidationError:
        sender = None
    texts = {p.id: p.name for p in sms_campaigns.sms_providers(workspace_id)}
    return EditorChoices(templates, lists, segs, identities.identity_choices(workspace_id), sender, texts)


def recent_sends(flow: Flow, limit: int = RECENT) -> list:
    """The flow's last emails: (recipient row, step id), newest first."""
    cr = CampaignRecipient
    return db.session.execute(
        select(cr, Campaign.flow_step_id)
        .join(Campaign, Campaign.id == cr.campaign_id)
        .where(Campaign.flow_id == flow.id)
        .order_by(cr.id.desc())
        .limit(limit)
    ).all()


def recent_enrollments(flow: Flow, limit: int = RECENT) -> list:
    """The last people who entered: (enrollment, email, version number), newest first."""
    fe = FlowEnrollment
    return db.session.execute(
        select(fe, Subscriber.email, FlowVersion.number)
        .join(Subscriber, Subscriber.id == fe.subscriber_id)
        .join(FlowVersion, FlowVersion.id == fe.version_id)
        .where(fe.flow_id == flow.id)
        .order_by(fe.id.desc())
        .limit(limit)
    ).all()


def live_changed(flow: Flow) -> bool:
    """A live (or paused) flow whose draft steps or trigger differ from the version people follow:
    activating again makes a new version."""
    live = flows.current_version(flow)
    return live is not None and (live.steps != flow.steps or live.trigger != flow.trigger)
