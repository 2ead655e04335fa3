"""Who a campaign goes to: lists and segments, minus excluded lists and segments.

"Everyone on Newsletter who clicked in 90 days, minus Customers" is list_ids=[Newsletter],
segment_ids=[clicked in 90 days], exclude_list_ids=[Customers]. A person on several of them is in
the audience once. `member_ids` is one SELECT (segments are evaluated when it runs), so a campaign's
materialization stays one INSERT … SELECT.
"""

from dataclasses import dataclass, fields

from sqlalchemy import and_, delete, exists, false, func, insert, literal, not_, or_, select

from app.extensions import db
from app.models import CampaignList, CampaignSegment, ListSubscriber, MailingList, Segment, Subscriber
from app.services.audience import segments
from app.services.errors import ValidationError
from app.services.ids import as_ids

_s = Subscriber.__table__
TARGETS = ("list_ids", "segment_ids", "exclude_list_ids", "exclude_segment_ids")
NO_AUDIENCE = "Choose at least one list or segment to send to."


@dataclass(frozen=True)
class Audience:
    list_ids: tuple[int, ...] = ()
    segment_ids: tuple[int, ...] = ()
    exclude_list_ids: tuple[int, ...] = ()
    exclude_segment_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, values: dict) -> "Audience":
        return cls(**{f.name: tuple(sorted(set(values.get(f.name) or ()))) for f in fields(cls)})

    def as_dict(self) -> dict:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @property
    def empty(self) -> bool:
        return not self.list_ids and not self.segment_ids


def clean_ids(workspace_id: int, name: str, value) -> list[int]:
    """The ids of one target setting, each one of the workspace's lists or segments."""
    ids = as_ids(value or [])
    if ids is None:
        raise ValidationError("Give them by their ids.")
    model = Segment if "segment" in name else MailingList
    found = set(db.session.scalars(select(model.id).where(model.workspace_id == workspace_id, model.id.in_(ids))))
    if found != set(ids):
        raise ValidationError(f"Choose {'segments' if model is Segment else 'lists'} of this workspace.")
    return ids


def check(audience: Audience) -> None:
    """Something to send to, and nothing both in and out."""
    if audience.empty:
        raise ValidationError(NO_AUDIENCE, {"list_ids": NO_AUDIENCE})
    if set(audience.list_ids) & set(audience.exclude_list_ids):
        raise ValidationError("A list cannot be both sent to and excluded.", {"exclude_list_ids": "Also a target."})
    if set(audience.segment_ids) & set(audience.exclude_segment_ids):
        message = "A segment cannot be both sent to and excluded."
        raise ValidationError(message, {"exclude_segment_ids": "Also a target."})


def of_campaign(campaign_id: int) -> Audience:
    lists = db.session.execute(
        select(CampaignList.list_id, CampaignList.exclude).where(CampaignList.campaign_id == campaign_id)
    )
    segs = db.session.execute(
        select(CampaignSegment.segment_id, CampaignSegment.exclude).where(CampaignSegment.campaign_id == campaign_id)
    )
    values: dict[str, list[int]] = {name: [] for name in TARGETS}
    for list_id, excluded in lists:
        values["exclude_list_ids" if excluded else "list_ids"].append(list_id)
    for segment_id, excluded in segs:
        values["exclude_segment_ids" if excluded else "segment_ids"].append(segment_id)
    return Audience.of(values)


def save(campaign_id: int, audience: Audience) -> None:
    """The campaign's targets, replaced by these."""
    db.session.execute(delete(CampaignList).where(CampaignList.campaign_id == campaign_id))
    db.session.execute(delete(CampaignSegment).where(CampaignSegment.campaign_id == campaign_id))
    lists = [{"campaign_id": campaign_id, "list_id": i, "exclude": False} for i in audience.list_ids]
    lists += [{"campaign_id": campaign_id, "list_id": i, "exclude": True} for i in audience.exclude_list_ids]
    segs = [{"campaign_id": campaign_id, "segment_id": i, "exclude": False} for i in audience.segment_ids]
    segs += [{"campaign_id": campaign_id, "segment_id": i, "exclude": True} for i in audience.exclude_segment_ids]
    if lists:
        db.session.execute(insert(CampaignList), lists)
    if segs:
        db.session.execute(insert(CampaignSegment), segs)


def copy(from_campaign_id: int, to_campaign_id: int) -> None:
    """A recurring series' run targets what its parent targets (segments evaluated at each run)."""
    cl, cs = CampaignList, CampaignSegment
    db.session.execute(
        insert(cl).from_select(
            ["campaign_id", "list_id", "exclude"],
            select(literal(to_campaign_id), cl.list_id, cl.exclude).where(cl.campaign_id == from_campaign_id),
        )
    )
    db.session.execute(
        insert(cs).from_select(
            ["campaign_id", "segment_id", "exclude"],
            select(literal(to_campaign_id), cs.segment_id, cs.exclude).where(cs.campaign_id == from_campaign_id),
        )
    )


def _on_lists(list_ids) -> object:
    ls = ListSubscriber.__table__
    return exists().where(ls.c.subscriber_id == _s.c.id, ls.c.list_id.in_(list_ids))


def _in_segments(workspace_id: int, segment_ids) -> list:
    rules = db.session.scalars(
        select(Segment.rules).where(Segment.workspace_id == workspace_id, Segment.id.in_(segment_ids))
    )
    return [segments.condition(workspace_id, segments.clean(workspace_id, r)) for r in rules]


def condition(workspace_id: int, audience: Audience):
    """The condition on `subscribers` of being in the audience (before suppression): put it in the
    WHERE of a query over subscribers itself (as an IN subquery it would correlate with it)."""
    wanted = _in_segments(workspace_id, audience.segment_ids) if audience.segment_ids else []
    if audience.list_ids:
        wanted.append(_on_lists(audience.list_ids))
    unwanted = _in_segments(workspace_id, audience.exclude_segment_ids) if audience.exclude_segment_ids else []
    if audience.exclude_list_ids:
        unwanted.append(_on_lists(audience.exclude_list_ids))
    return and_(
        _s.c.workspace_id == workspace_id,
        _s.c.erased_at.is_(None),
        or_(false(), *wanted),
        not_(or_(false(), *unwanted)),
    )


def member_ids(workspace_id: int, audience: Audience):
    """SELECT subscribers.id of everyone in the audience (before suppression), each once."""
    return select(_s.c.id).where(condition(workspace_id, audience))


def size(workspace_id: int, audience: Audience) -> int:
    """Distinct people in the audience (before suppression)."""
    if audience.empty:
        return 0
    return db.session.scalar(select(func.count()).select_from(member_ids(workspace_id, audience).subquery())) or 0


def campaign_size(workspace_id: int, campaign_id: int) -> int:
    return size(workspace_id, of_campaign(campaign_id))


def names(workspace_id: int, audience: Audience) -> dict[str, list[tuple[int, str]]]:
    """Each target's (id, name) pairs by name, for pages: two queries."""
    list_names = dict(
        db.session.execute(
            select(MailingList.id, MailingList.name).where(
                MailingList.workspace_id == workspace_id,
                MailingList.id.in_(audience.list_ids + audience.exclude_list_ids),
            )
        ).all()
    )
    segment_names = dict(
        db.session.execute(
            select(Segment.id, Segment.name).where(
                Segment.workspace_id == workspace_id,
                Segment.id.in_(audience.segment_ids + audience.exclude_segment_ids),
            )
        ).all()
    )
    out = {}
    for name in TARGETS:
        known = segment_names if "segment" in name else list_names
        out[name] = sorted(((i, known[i]) for i in getattr(audience, name) if i in known), key=lambda p: p[1].lower())
    return out
