"""Large CSV imports as a background job with progress the dashboard can poll.

The file waits in Redis (not on local disk) so any worker on any machine can take the job.
"""

import json
import uuid

from flask import current_app

from app.redis_client import get_redis
from app.services.audience import ImportResult, import_subscribers, parse_csv

CHUNK = 5000
TTL = 24 * 3600


def _key(import_id: str, part: str) -> str:
    return f"herald:import:{import_id}:{part}"


def start_import(workspace_id: int, data: bytes, list_ids: list[int], filename: str) -> str:
    """Park the file and queue its import; returns the import's id."""
    from workers.queues import DEFAULT, get_queue

    parse_csv(data[:65536] if len(data) > 65536 else data)  # a file without an email column fails now, not later
    import_id = uuid.uuid4().hex
    r = get_redis()
    r.set(_key(import_id, "file"), data, ex=TTL)
    write_status(
        import_id,
        {
            "workspace_id": workspace_id,
            "filename": filename[:200],
            "state": "queued",
            "done": 0,
            "total": None,
            "result": None,
            "error": None,
        },
    )
    get_queue(DEFAULT).enqueue(
        "workers.jobs.run_import", import_id, workspace_id, list_ids, job_id=f"import-{import_id}", job_timeout=3600
    )
    return import_id


def write_status(import_id: str, status: dict) -> None:
    get_redis().set(_key(import_id, "status"), json.dumps(status), ex=TTL)


def import_status(workspace_id: int, import_id: str) -> dict | None:
    """The import's progress, or None when it is unknown or another workspace's."""
    if not import_id.isalnum() or len(import_id) != 32:
        return None
    raw = get_redis().get(_key(import_id, "status"))
    status = json.loads(raw) if raw else None
    return status if status and status["workspace_id"] == workspace_id else None


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
        rows = parse_csv(data)
    except Exception as exc:  # reported on the page, never a silent failure
        status.update(state="failed", error=getattr(exc, "message", str(exc)))
        write_status(import_id, status)
        return status
    total = ImportResult()
    status.update(state="running", total=len(rows))
    for start in range(0, len(rows), CHUNK):
        part = import_subscribers(workspace_id, rows[start : start + CHUNK], list_ids, first_row_number=2 + start)
        commit()
        total.created += part.created
        total.updated += part.updated
        total.skipped += part.skipped
        total.added_to_lists += part.added_to_lists
        total.errors.extend(part.errors)
        status.update(done=min(start + CHUNK, len(rows)))
        write_status(import_id, status)
    status.update(state="done", result=total.as_dict())
    write_status(import_id, status)
    r.delete(_key(import_id, "file"))
    current_app.logger.info("import %s: %s", import_id, total.as_dict() | {"errors": len(total.errors)})
    return status
