"""CSV imports from the dashboard: the file is parked, its columns mapped, then imported now or by a job.

    park_upload  -> the file waits in Redis (state "mapping") while the person checks its columns
    preview      -> each column with sample values and the guessed mapping (and the tool it came from)
    import_now   -> a small file is imported in the request; the caller commits
    start_import -> a large one is queued; `run_import` (the job) imports it in chunks with progress

The file waits in Redis, not on local disk, so any worker on any machine can take the job; it is
deleted when the import ends or is discarded, and expires after a day if it is abandoned.
"""

import json
import uuid
from dataclasses import dataclass

from flask import current_app

from app.queueing import DEFAULT, enqueue
from app.redis_client import get_redis
from app.services.audience import import_columns
from app.services.audience.contacts import ImportResult, import_subscribers, parse_csv
from app.services.errors import NotFound, ValidationError
from app.services.platform import audit

CHUNK = 5000
TTL = 24 * 3600
PREVIEW_BYTES = 65536
PREVIEW_ROWS = 50


@dataclass(frozen=True)
class Preview:
    """What the column-mapping step shows: per column its header, sample values and guessed target."""

    filename: str
    source: str | None  # "Mailchimp" when it looks like a Mailchimp export
    header: list[str]
    samples: list[str]
    columns: list[str]
    list_ids: list[int]


def _key(import_id: str, part: str) -> str:
    return f"herald:import:{import_id}:{part}"


def park_upload(workspace_id: int, data: bytes, filename: str, list_ids: list[int]) -> str:
    """Keep an uploaded CSV for its mapping step; returns the import's id. A file that is not a CSV fails now."""
    import_columns.read_table(_head(data), limit_rows=PREVIEW_ROWS)
    import_id = uuid.uuid4().hex
    get_redis().set(_key(import_id, "file"), data, ex=TTL)
    status = {"workspace_id": workspace_id, "filename": filename[:200], "state": "mapping", "list_ids": list_ids}
    write_status(import_id, status | {"done": 0, "total": None, "result": None, "error": None, "size": len(data)})
    return import_id


def preview(workspace_id: int, import_id: str) -> Preview:
    """The parked file's columns with samples and the guessed mapping."""
    status = _waiting_status(workspace_id, import_id)
    table = import_columns.read_table(_head(_parked_file(import_id)), limit_rows=PREVIEW_ROWS)
    guess = import_columns.guess_columns(table.header)
    samples = import_columns.samples(table)
    return Preview(status["filename"], guess.source, table.header, samples, guess.columns, status["list_ids"])


def import_now(workspace_id: int, import_id: str, columns: list[str], list_ids: list[int]) -> ImportResult:
    """Import the parked file in this request by the chosen mapping; the caller commits."""
    status = _waiting_status(workspace_id, import_id)
    rows = parse_csv(_parked_file(import_id), columns)
    result = import_subscribers(workspace_id, rows, list_ids)
    audit.record(workspace_id, "subscriber.import", detail=import_detail(status.get("filename"), list_ids, result))
    status.update(state="done", done=len(rows), total=len(rows), result=result.as_status())
    write_status(import_id, status)
    get_redis().delete(_key(import_id, "file"))
    return result


def start_import(workspace_id: int, import_id: str, columns: list[str], list_ids: list[int]) -> None:
    """Queue the parked file's import by the chosen mapping (checked now against its header)."""
    status = _waiting_status(workspace_id, import_id)
    header = import_columns.read_table(_head(_parked_file(import_id)), limit_rows=1).header
    import_columns.check_columns(header, columns)
    status.update(state="queued", columns=columns, list_ids=list_ids)
    write_status(import_id, status)
    # Logged as it starts, by whoever started it (the job that follows acts as the system).
    audit.record(
        workspace_id,
        "subscriber.import",
        detail=import_detail(status.get("filename"), list_ids) | {"in_background": True},
    )
    # The status lives in Redis, not in the transaction: the job may go now.
    enqueue(
        "run_import",
        import_id,
        workspace_id,
        list_ids,
        queue=DEFAULT,
        job_id=f"import-{import_id}",
        after_commit=False,
        job_timeout=3600,
    )


def import_detail(filename, list_ids, result: ImportResult | None = None) -> dict:
    """What the audit log keeps of an import: the file, the lists, and the counts once known."""
    detail = {"file": filename, "list_ids": list(list_ids or [])}
    if result is not None:
        detail |= {k: v for k, v in result.as_dict().items() if k != "errors"} | {"errors": len(result.errors)}
    return detail


def discard_upload(workspace_id: int, import_id: str) -> None:
    """Forget a parked file whose import was not started."""
    _waiting_status(workspace_id, import_id)
    r = get_redis()
    r.delete(_key(import_id, "file"), _key(import_id, "status"))


def parked_size(workspace_id: int, import_id: str) -> int:
    """The parked file's size in bytes (it decides between importing now and in the background)."""
    return _waiting_status(workspace_id, import_id).get("size", 0)


def write_status(import_id: str, status: dict) -> None:
    get_redis().set(_key(import_id, "status"), json.dumps(status), ex=TTL)


def import_status(workspace_id: int, import_id: str) -> dict | None:
    """The import's progress, or None when it is unknown or another workspace's."""
    if not import_id.isalnum() or len(import_id) != 32:
        return None
    raw = get_redis().get(_key(import_id, "status"))
    status = json.loads(raw) if raw else None
    return status if status and status["workspace_id"] == workspace_id else None


def _waiting_status(workspace_id: int, import_id: str) -> dict:
    status = import_status(workspace_id, import_id)
    if status is None:
        raise NotFound("That upload has expired or is not yours: upload the file again.")
    if status["state"] != "mapping":
        raise ValidationError("This file's import has already started.", {"file": "Already started."})
    return status


def _parked_file(import_id: str) -> bytes:
    data = get_redis().get(_key(import_id, "file"))
    if data is None:
        raise NotFound("That upload has expired: upload the file again.")
    return data


def _head(data: bytes) -> bytes:
    """The start of the file, cut at a line end so a preview never reads half a row."""
    if len(data) <= PREVIEW_BYTES:
        return data
    head = data[:PREVIEW_BYTES]
    return head[: head.rfind(b"\n") + 1] or head


def run_import(import_id: str, workspace_id: int, list_ids: list[int], commit) -> dict:
    """Import the parked file in chunks, committing and reporting progress after each."""
    r = get_redis()
    status = json.loads(r.get(_key(import_id, "status")))
    data = r.get(_key(import_id, "file"))
    if data is None:
        status.update(state="failed", error="The uploaded file expired before it could be imported.")
        write_status(import_id, status)
        return status
    try:
        rows = parse_csv(data, status.get("columns"))
    except ValidationError as exc:  # reported on the page, never a silent failure
        status.update(state="failed", error=exc.message)
        write_status(import_id, status)
        return status
    total = ImportResult()
    status.update(state="running", total=len(rows))
    for start in range(0, len(rows), CHUNK):
        total.add(import_subscribers(workspace_id, rows[start : start + CHUNK], list_ids, first_row_number=2 + start))
        commit()
        status.update(done=min(start + CHUNK, len(rows)))
        write_status(import_id, status)
    status.update(state="done", result=total.as_status())
    write_status(import_id, status)
    r.delete(_key(import_id, "file"))
    current_app.logger.info("import %s: %s", import_id, total.as_dict() | {"errors": len(total.errors)})
    return status
