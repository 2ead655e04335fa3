"""DMARC aggregate reports of a sending domain: posted as files, read back per source IP."""

from flask import make_response, request

from app.blueprints.api.auth import workspace_id
from app.blueprints.api.registry import Param, operation
from app.blueprints.api.serializers import iso, page_slice
from app.blueprints.helpers import commit
from app.models.advisor import DmarcReport
from app.services.advisor import dmarc, dmarc_timeline
from app.services.errors import ValidationError

TAG = "Domains"
RAW_TYPES = ("application/gzip", "application/x-gzip", "application/zip", "application/xml", "text/xml")
DAYS = Param("days", {"type": "integer", "minimum": 1, "maximum": 400, "default": 30}, "Reports ending this recently.")
TIMELINE_DAYS = Param(
    "days",
    {"type": "integer", "minimum": 1, "maximum": dmarc_timeline.MAX_DAYS, "default": dmarc_timeline.DEFAULT_DAYS},
    "Days to answer for, today (UTC) the last.",
)


def report_json(r: DmarcReport) -> dict:
    return {
        "id": r.id,
        "status": r.status,
        "error": r.error,
        "org_name": r.org_name,
        "report_id": r.report_id,
        "begin": iso(r.begin),
        "end": iso(r.end),
        "records": r.records or 0,
        "messages": r.messages or 0,
        "policy": r.policy,
        "source": r.source,
        "filename": r.filename,
        "created_at": iso(r.created_at),
    }


@operation(
    "POST",
    "/domains/{domain_id}/dmarc-reports",
    "Add a DMARC aggregate report",
    tag=TAG,
    multipart="DmarcReportUpload",
    raw_types=RAW_TYPES,
    response="DmarcReport",
    status=201,
    also=(200,),
    permission="write",  # reading who sends as the domain is the marketer's too
)
def upload_dmarc_report(domain_id: int):
    """The report file as a multipart upload in the field `file`, or as the raw body (Content-Type
    application/gzip, application/zip, application/xml or text/xml). gzip, zip (its first .xml file)
    and plain XML, RFC 7489 or RFC 9990 (namespaced). A report already stored (same reporter,
    report id and domain) answers 200 with that one. A report about another domain answers 422 and
    is not kept; one that cannot be read (not XML, not DMARC, too large, a DOCTYPE or entities)
    answers 422 with the reason and is kept with its error, listed with the domain's reports."""
    data, filename = _read_file()
    stored = dmarc.ingest(workspace_id(), domain_id, data, source="api", filename=filename)
    commit()
    if stored.report.status == "error":
        raise ValidationError(f"file: {stored.report.error}", {"file": stored.report.error})
    return make_response(report_json(stored.report), 201 if stored.created else 200)


def _read_file() -> tuple[bytes, str | None]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError("file: Upload the report in the field 'file'.", {"file": "Required."})
        return upload.read(dmarc.MAX_FILE_BYTES + 1), upload.filename
    return request.get_data(cache=False)[: dmarc.MAX_FILE_BYTES + 1], None


@operation(
    "GET",
    "/domains/{domain_id}/dmarc-reports",
    "List a domain's DMARC reports",
    tag=TAG,
    response="DmarcReport",
    paginated=True,
)
def list_dmarc_reports(domain_id: int, query: dict):
    """Newest period first (the latest 100), including the ones that could not be read, with their error."""
    dmarc.get_domain(workspace_id(), domain_id)
    return page_slice([report_json(r) for r in dmarc.list_reports(workspace_id(), domain_id)], query)


@operation(
    "GET",
    "/domains/{domain_id}/dmarc",
    "Who sends as a domain (DMARC)",
    tag=TAG,
    response="DmarcSource",
    paginated=True,
    query=(DAYS,),
)
def dmarc_sources(domain_id: int, query: dict):
    """Per source IP over the reports of the last `days` (30): messages, SPF and DKIM pass/fail as
    DMARC evaluated them, the aligned share, the receivers' dispositions, the reporters, and
    whether it is one of the workspace's dedicated IPs. Most messages first."""
    dmarc.get_domain(workspace_id(), domain_id)
    return page_slice(dmarc.sources(workspace_id(), domain_id, query["days"]), query)


@operation(
    "GET",
    "/domains/{domain_id}/dmarc-timeline",
    "A domain's DMARC results per day",
    tag=TAG,
    response="DmarcTimeline",
    query=(TIMELINE_DAYS,),
)
def domain_dmarc_timeline(domain_id: int, query: dict):
    """Per UTC day over the last `days` (90), from the reports whose period begins that day: messages,
    those that passed DMARC, those that failed from the workspace's dedicated IPs and from anyone else
    (not split, null, when it has none), and those the receivers quarantined or rejected, with the pass
    rate. Every day is listed, a day without reports with zeros."""
    result = dmarc_timeline.timeline(workspace_id(), domain_id, query["days"])
    for p in result["points"]:
        p["day"] = p["day"].isoformat()
    return {**result, "from": result["from"].isoformat(), "to": result["to"].isoformat()}
