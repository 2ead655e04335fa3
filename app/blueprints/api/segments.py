"""Segments: saved rule trees with a live count, frozen into lists on demand; the field registry."""

from flask import Response
from sqlalchemy import select

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import operation
from app.blueprints.api.serializers import iso, page_json, subscriber_json
from app.blueprints.helpers import commit
from app.models import Subscriber
from app.services.audience import segments
from app.services.audience import tags as tagging
from app.services.pagination import paginate
from app.services.platform import audit

TAG = "Segments"


def segment_json(segment, counted: segments.Count | None = None) -> dict:
    counted = counted or segments.count(segment.workspace_id, segment.rules)
    return {
        "id": segment.id,
        "name": segment.name,
        "rules": segment.rules,
        "count": counted.count,
        "estimated": counted.estimated,
        "created_at": iso(segment.created_at),
        "updated_at": iso(segment.updated_at),
    }


@operation("POST", "/segments", "Create a segment", tag=TAG, body="SegmentInput", response="Segment", status=201)
def create_segment(body: dict):
    """A saved rule tree; the answer carries how many subscribers match it now."""
    segment = segments.create_segment(workspace_id(), body["name"], body["rules"])
    commit()
    return segment_json(segment)


@operation("GET", "/segments", "List segments", tag=TAG, response="Segment", paginated=True)
def list_segments(query: dict):
    """By name, each with its count now (an estimate past the time limit)."""
    items, total = paginate(segments.list_segments(workspace_id()), query["page"], query["per_page"])
    return page_json([segment_json(s) for s in items], total, query)


@operation("GET", "/segments/{segment_id}", "Show a segment", tag=TAG, response="Segment")
def show_segment(segment_id: int):
    return segment_json(segments.get_segment(workspace_id(), segment_id))


@operation("PATCH", "/segments/{segment_id}", "Change a segment", tag=TAG, body="SegmentPatch", response="Segment")
def update_segment(segment_id: int, body: dict):
    segment = segments.update_segment(workspace_id(), segment_id, body.get("name"), body.get("rules"))
    commit()
    return segment_json(segment)


@operation("DELETE", "/segments/{segment_id}", "Delete a segment", tag=TAG, status=204, errors=(409,))
def delete_segment(segment_id: int):
    """Refused (409) while a draft or scheduled campaign targets it."""
    ws = workspace_id()
    name = segments.get_segment(ws, segment_id).name
    segments.delete_segment(ws, segment_id)
    audit.record(ws, "segment.delete", "segment", segment_id, {"name": name})
    commit()
    return Response(status=204)


@operation(
    "POST", "/segments/count", "Count a rule tree", tag=TAG, body="SegmentCountInput", response="SegmentCount",
    permission="read",  # a question, not a change: analysts may ask it
)  # fmt: skip
def count_rules(body: dict):
    """How many subscribers match, without saving: exact within the time limit (2 s unless
    SEGMENT_COUNT_TIMEOUT_MS says otherwise), else an estimate with `estimated: true`."""
    counted = segments.count(workspace_id(), body["rules"])
    return {"count": counted.count, "estimated": counted.estimated}


@operation(
    "GET", "/segments/{segment_id}/subscribers", "List a segment's subscribers", tag=TAG,
    response="SubscriberSummary", paginated=True,
)  # fmt: skip
def segment_subscribers(segment_id: int, query: dict):
    """The members now, newest first."""
    ws = workspace_id()
    ids = segments.segment_members(ws, segment_id).subquery()
    stmt = select(Subscriber).join(ids, ids.c.id == Subscriber.id).order_by(Subscriber.id.desc())
    items, total = paginate(stmt, query["page"], query["per_page"])
    tags = tagging.tags_by_subscriber([s.id for s in items])
    return page_json([subscriber_json(s, tags=tags[s.id]) for s in items], total, query)


@operation(
    "POST", "/segments/{segment_id}/freeze", "Freeze a segment into a list", tag=TAG,
    body="SegmentFreezeInput", body_required=False, response="FrozenList", status=201,
)  # fmt: skip
def freeze_segment(segment_id: int, body: dict | None = None):
    """A new static list holding today's members (the segment stays dynamic)."""
    lst, added = segments.freeze(workspace_id(), segment_id, (body or {}).get("list_name"))
    commit()
    return {"list_id": lst.id, "name": lst.name, "subscribers": added}


@operation("POST", "/fields", "Declare an attribute's type", tag=TAG, body="FieldInput", response="Field", status=201)
def declare_field(body: dict):
    """Segments then compare attributes.<key> as this type (text, number, date or boolean), whatever
    the values stored look like; declaring a key again changes its type."""
    field = segments.declare_field(workspace_id(), body["key"], body["type"])
    commit()
    return field_json(field)


@operation("GET", "/fields", "List declared fields", tag=TAG, response="Field", paginated=True)
def list_fields(query: dict):
    items = [field_json(f) for f in segments.list_fields(workspace_id())]
    start = (query["page"] - 1) * query["per_page"]
    return page_json(items[start : start + query["per_page"]], len(items), query)


@operation("DELETE", "/fields/{field_id}", "Forget a declared field", tag=TAG, status=204)
def delete_field(field_id: int):
    segments.delete_field(workspace_id(), field_id)
    commit()
    return Response(status=204)


def field_json(field) -> dict:
    return {"id": field.id, "key": field.key, "type": field.type, "created_at": iso(field.created_at)}
