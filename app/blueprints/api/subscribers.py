"""Subscribers: one at a time, or imported in bulk from JSON rows or a CSV file."""

import json

from flask import request

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, check_values, operation, schema_errors
from app.blueprints.api.schemas import ID, text
from app.blueprints.api.serializers import page_json, subscriber_json
from app.blueprints.helpers import commit
from app.models.audience import SUBSCRIBER_STATUSES
from app.services.audience import contacts, imports, preferences, privacy, signups, subscriber_changes
from app.services.audience import tags as tagging
from app.services.errors import ValidationError
from app.services.ids import parse_int
from app.services.pagination import paginate
from app.services.platform import audit

TAG = "Subscribers"


@operation(
    "POST",
    "/subscribers",
    "Add a subscriber",
    tag=TAG,
    body="SubscriberCreate",
    response="Subscriber",
    status=201,
    errors=(409,),
)
def create_subscriber(body: dict):
    """409 when the address is already in the workspace (`fields.id` names the existing subscriber). The source is
    `api`; on a list that requires double opt-in the subscriber is `pending` and gets the confirmation email.
    `phone` is read with the workspace's default country (422 naming phone when it is no number); `sms_status`
    subscribed records their consent to texts (method api), and answers 409 for a number that replied STOP."""
    sub = signups.subscribe(
        workspace_id(),
        body["email"],
        body.get("name"),
        body.get("attributes"),
        body.get("list_ids"),
        body.get("timezone"),
        source="api",
        tags=body.get("tags"),
        sms={k: body[k] for k in ("phone", "sms_status") if k in body},
    )
    commit()
    return subscriber_json(sub, contacts.subscriber_list_ids(sub.id))


@operation(
    "GET",
    "/subscribers",
    "List subscribers",
    tag=TAG,
    response="SubscriberSummary",
    paginated=True,
    query=(
        Param("email", text(320), "Exactly this address."),
        Param("status", {"enum": list(SUBSCRIBER_STATUSES)}),
        Param("list_id", ID, "Only people on this list."),
        Param("tag", text(100), "Only people with this tag (compared as stored: trimmed, lower-case)."),
    ),
)
def list_subscribers(query: dict):
    """Newest first, filtered by address, status, list or tag."""
    ws = workspace_id()
    if "list_id" in query:
        contacts.get_list(ws, query["list_id"])  # another workspace's list answers 404
    tag = " ".join(query["tag"].split()).lower() if query.get("tag") else None
    stmt = contacts.search_subscribers(
        ws, status=query.get("status"), list_id=query.get("list_id"), email=query.get("email"), tag=tag
    )
    items, total = paginate(stmt, query["page"], query["per_page"])
    tags = tagging.tags_by_subscriber([s.id for s in items])
    return page_json([subscriber_json(s, tags=tags[s.id]) for s in items], total, query)


@operation("GET", "/subscribers/{subscriber_id}", "Show a subscriber", tag=TAG, response="Subscriber")
def show_subscriber(subscriber_id: int):
    """One subscriber with the ids of the lists they are on."""
    sub = contacts.get_subscriber(workspace_id(), subscriber_id)
    return subscriber_json(sub, contacts.subscriber_list_ids(sub.id))


@operation(
    "POST",
    "/subscribers/import",
    "Import subscribers",
    tag=TAG,
    body="ImportRequest",
    multipart="ImportUpload",
    response="ImportSummary",
    errors=(413,),
)
def import_subscribers(body: dict | None):
    """JSON rows or a CSV upload (field `file`, optional `list_ids` and `mapping`); new people are created,
    known ones updated; every row that cannot be imported is listed in `errors` by its row number, as is a
    row imported without its timezone because the value is not one."""
    if body is None:
        rows, list_ids, first_row = contacts.parse_csv(_upload(), _form_mapping()), _form_list_ids(), 2
    else:
        rows, list_ids, first_row = body["rows"], body.get("list_ids"), 1
    rows, row_errors = _checked_rows(rows, first_row)
    result = contacts.import_subscribers(workspace_id(), rows, list_ids, first_row_number=first_row)
    audit.record(
        workspace_id(), "subscriber.import", detail=imports.import_detail(_upload_name(body), list_ids, result)
    )
    commit()
    summary = result.as_dict()
    summary["errors"] = sorted(summary["errors"] + row_errors, key=lambda e: e["row"])
    return summary


def _upload_name(body: dict | None) -> str | None:
    """The uploaded file's name (None for JSON rows), for the audit log."""
    upload = request.files.get("file") if body is None else None
    return (upload.filename or "upload.csv")[:200] if upload is not None else None


def _upload() -> bytes:
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("file: Upload a CSV file in the field 'file'.", {"file": "Required."})
    return upload.read()


def _form_mapping() -> dict | None:
    """The upload's `mapping` field: a JSON object of column names and targets, or None to guess."""
    raw = request.form.get("mapping")
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict):
        message = 'Give a JSON object of column names and what each becomes, e.g. {"E-Mail": "email"}.'
        raise ValidationError(f"mapping: {message}", {"mapping": message})
    check_values(mapping)
    return mapping


def _form_list_ids() -> list[int]:
    values = [v.strip() for raw in request.form.getlist("list_ids") for v in raw.split(",") if v.strip()]
    ids = [parse_int(v) for v in values]
    if not all(i is not None and i >= 0 for i in ids):
        raise ValidationError("list_ids: Give list ids separated by commas, e.g. 3,7.", {"list_ids": "Not ids."})
    fields = schema_errors("ImportRequest", {"rows": [], "list_ids": ids})
    if fields:
        raise ValidationError("list_ids: " + next(iter(fields.values())), fields)
    return ids


def _checked_rows(rows: list, first_row: int) -> tuple[list, list[dict]]:
    """Rows that do not match ImportRow become gaps (keeping everyone's row number) and errors."""
    checked, errors = [], []
    for number, row in enumerate(rows, first_row):
        if isinstance(row, dict):
            row = {k: v for k, v in row.items() if k != "_extra"}
            try:
                check_values(row)  # a CSV cell may hold a NUL, which PostgreSQL cannot store
            except ValidationError as exc:
                problems = exc.fields
            else:
                problems = schema_errors("ImportRow", row)
            if problems:
                errors.append({"row": number, "error": "; ".join(f"{k}: {v}" for k, v in problems.items())})
                row = None
        elif row is not None:
            errors.append({"row": number, "error": "Each row must be an object with an email."})
            row = None
        checked.append(row)
    return checked, errors


# One person: change, unsubscribe, delete; their data: export and erase ----------------------------


@operation(
    "PATCH",
    "/subscribers/{subscriber_id}",
    "Change a subscriber",
    tag=TAG,
    body="SubscriberPatch",
    response="Subscriber",
    errors=(409,),
)
def patch_subscriber(subscriber_id: int, body: dict):
    """Only the fields given change: name, attributes (merged; null removes one), timezone, list_ids (exactly
    these lists), status (unsubscribed, or active to undo an unsubscribe the person asked to undo), preferences
    (per category id; what is left out stays), tags (exactly these), phone (empty or null takes it away) and
    sms_status (opted_out also stops their number; subscribed answers 409 for a number that replied STOP)."""
    subscriber_changes.patch_subscriber(workspace_id(), subscriber_id, body)
    if "tags" in body:
        tagging.set_tags(workspace_id(), subscriber_id, body["tags"])
    if "preferences" in body:
        preferences.set_preferences(workspace_id(), subscriber_id, body["preferences"])
    commit()
    return show_subscriber(subscriber_id)


@operation("DELETE", "/subscribers/{subscriber_id}", "Delete a subscriber", tag=TAG, status=204)
def delete_subscriber(subscriber_id: int):
    """The subscriber and their history go (campaign figures lose them too): to honour a request to be
    forgotten while keeping the figures, erase instead."""
    contacts.delete_subscriber(workspace_id(), subscriber_id)
    commit()
    return ""


@operation(
    "POST", "/subscribers/{subscriber_id}/unsubscribe", "Unsubscribe a subscriber", tag=TAG, response="Subscriber"
)
def unsubscribe_subscriber(subscriber_id: int):
    """At once, recorded with source `api`; a bounced or complained subscriber stays as they are."""
    subscriber_changes.unsubscribe_subscriber(workspace_id(), subscriber_id, source="api", detail="through the API")
    commit()
    return show_subscriber(subscriber_id)


@operation(
    "GET", "/subscribers/{subscriber_id}/export", "Export a subscriber's data", tag=TAG, response="SubscriberExport"
)
def export_subscriber(subscriber_id: int):
    """Everything Herald holds about the person as one JSON document (audit-logged)."""
    document = privacy.export_subscriber(workspace_id(), subscriber_id)
    commit()
    return document


@operation("POST", "/subscribers/{subscriber_id}/erase", "Erase a subscriber", tag=TAG, response="Subscriber")
def erase_subscriber(subscriber_id: int):
    """Removes the person's data but keeps the counts: the row stays as `erased-<id>@erased.invalid`,
    unsubscribed, with no name or attributes; their campaigns, events, orders and messages lose the address,
    IP, user agent and anything naming them; a hash of the address stays on the suppression list, so adding
    or importing the address later is refused. Audit-logged; erasing twice changes nothing."""
    privacy.erase_subscriber(workspace_id(), subscriber_id)
    commit()
    return show_subscriber(subscriber_id)
