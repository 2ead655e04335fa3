"""DMARC aggregate reports (RFC 7489 appendix C, RFC 9990): read, stored per sending domain, summed
per source IP for the marketer and for the advisor's "who sends as this domain" check.

A report arrives gzipped (Google, Microsoft), zipped (Yahoo) or as plain XML, uploaded in the
dashboard, posted to the API or mailed to the domain's rua address (events/mailin.py). The XML
comes from strangers, so it is read with defusedxml (no DOCTYPE, no entities) under size caps on
the compressed bytes, the uncompressed XML and the number of rows. A report that cannot be read
is kept with its error and the first bytes as received: nothing mailed to us is silently lost.
"""

import io
import ipaddress
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import SendingDomain
from app.models.advisor import DmarcRecord, DmarcReport
from app.models.deliverability import DedicatedIP
from app.services.errors import NotFound, ValidationError

MAX_FILE_BYTES = 10 * 1024 * 1024  # what we accept as sent (compressed or not)
MAX_XML_BYTES = 50 * 1024 * 1024  # the XML once unpacked: a zip bomb stops here
MAX_RECORDS = 50_000  # rows in one report; Google's largest real reports have a few thousand
KEEP_RAW_BYTES = 1024 * 1024  # what a report that failed keeps of its bytes
SOURCES = ("upload", "api", "mailin")
NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0"  # RFC 9990; RFC 7489 reports have none
_TEXT_CAP = 255
_DOMAIN = re.compile(r"^[a-z0-9._-]{1,253}$")


class ReportError(ValueError):
    """A file that is not a readable DMARC aggregate report; the message says why, for a person."""


@dataclass
class ParsedReport:
    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    domain: str  # policy_published/domain
    policy: dict
    records: list[dict] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(r["count"] for r in self.records)


# Reading -----------------------------------------------------------------------------------------


def unpack(data: bytes) -> bytes:
    """The report's XML from gzip, zip (its first .xml member) or plain bytes, judged by the bytes
    themselves (names and Content-Types lie), never unpacked past MAX_XML_BYTES."""
    if len(data) > MAX_FILE_BYTES:
        raise ReportError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    if not data.strip():
        raise ReportError("The file is empty.")
    if data[:2] == b"\x1f\x8b":
        return _gunzip(data)
    if data[:4] == b"PK\x03\x04":
        return _unzip(data)
    return data


def _too_big() -> ReportError:
    return ReportError(f"The report unpacks to more than {MAX_XML_BYTES // (1024 * 1024)} MB of XML.")


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(data, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        raise ReportError(f"The gzip file is damaged: {exc}.") from None
    if len(xml) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise _too_big()
    if not inflater.eof:
        raise ReportError("The gzip file is damaged or cut short.")
    return xml


def _unzip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            member = next((m for m in members if m.filename.lower().endswith(".xml")), None)
            if member is None:
                raise ReportError("The zip file holds no .xml file.")
            if member.file_size > MAX_XML_BYTES:
                raise _too_big()
            with archive.open(member) as f:  # the declared size may lie: read no further than the cap
                xml = f.read(MAX_XML_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise ReportError(f"The zip file is damaged: {str(exc)[:200]}.") from None
    if len(xml) > MAX_XML_BYTES:
        raise _too_big()
    return xml


def parse(data: bytes) -> ParsedReport:
    """A report file read into its metadata, published policy and rows; ReportError otherwise."""
    xml = unpack(data)
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ReportError("The XML declares a DOCTYPE or entities, which a DMARC report never does: refused.") from None
    except ParseError as exc:
        raise ReportError(f"The file is not well-formed XML ({exc}).") from None
    _strip_namespaces(root)
    if root.tag != "feedback":
        raise ReportError(f"This is XML but not a DMARC aggregate report (its root is <{root.tag[:50]}>).")
    meta = _required(root, "report_metadata")
    published = _required(root, "policy_published")
    rows = root.findall("record")
    if len(rows) > MAX_RECORDS:
        raise ReportError(f"The report has {len(rows)} rows; at most {MAX_RECORDS} are read.")
    domain = _text(_required(published, "domain")).lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise ReportError("policy_published names no valid domain.")
    return ParsedReport(
        org_name=_need_text(meta, "org_name"),
        report_id=_need_text(meta, "report_id"),
        begin=_timestamp(meta, "date_range/begin"),
        end=_timestamp(meta, "date_range/end"),
        domain=domain,
        policy={child.tag: _text(child) for child in published if len(child) == 0},
        records=[_record(row) for row in rows],
    )


def _strip_namespaces(root: Element) -> None:
    """RFC 9990's namespace (and the odd draft one) read the same as RFC 7489's bare names."""
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]


def _text(el: Element | None) -> str:
    return (el.text or "").strip()[:_TEXT_CAP] if el is not None else ""


def _required(parent: Element, path: str) -> Element:
    el = parent.find(path)
    if el is None:
        raise ReportError(f"The report has no <{path}>.")
    return el


def _need_text(parent: Element, path: str) -> str:
    value = _text(_required(parent, path))
    if not value:
        raise ReportError(f"The report's <{path}> is empty.")
    return value


def _timestamp(parent: Element, path: str) -> datetime:
    raw = _text(_required(parent, path))
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (ValueError, OverflowError, OSError):
        raise ReportError(f"<{path}> is not a Unix time: {raw[:40]!r}.") from None


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ReportError(f"A row's <count> is not a number: {raw[:40]!r}.") from None
    if not 0 <= value < 2**31:
        raise ReportError(f"A row's <count> is out of range: {value}.")
    return value


def _source_ip(raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))  # one spelling per address (IPv6 is written many ways)
    except ValueError:
        raise ReportError(f"A row's <source_ip> is not an IP address: {raw[:64]!r}.") from None


def _record(el: Element) -> dict:
    row = _required(el, "row")
    evaluated = row.find("policy_evaluated")
    dkim, spf = _text(row.find("policy_evaluated/dkim")), _text(row.find("policy_evaluated/spf"))
    auth = el.find("auth_results")
    return {
        "source_ip": _source_ip(_need_text(row, "source_ip")),
        "count": _count(_need_text(row, "count")),
        "disposition": _text(row.find("policy_evaluated/disposition"))[:20] or None,
        "dkim": dkim[:10] or None,
        "spf": spf[:10] or None,
        "header_from": _text(el.find("identifiers/header_from")).lower() or None,
        "aligned": dkim == "pass" or spf == "pass",
        "auth": {
            "dkim": [_fields(d, ("domain", "selector", "result", "human_result")) for d in _all(auth, "dkim")],
            "spf": [_fields(s, ("domain", "scope", "result", "human_result")) for s in _all(auth, "spf")],
            "reasons": [_fields(r, ("type", "comment")) for r in _all(evaluated, "reason")],
            "envelope_from": _text(el.find("identifiers/envelope_from")) or None,
        },
    }


def _all(parent: Element | None, tag: str) -> list[Element]:
    return parent.findall(tag)[:20] if parent is not None else []


def _fields(el: Element, names: tuple[str, ...]) -> dict:
    return {n: _text(el.find(n)) for n in names if el.find(n) is not None}


# Storing -----------------------------------------------------------------------------------------


@dataclass
class Stored:
    report: DmarcReport
    created: bool  # False: the same report was stored before (answer that one)


def ingest(workspace_id: int, domain_id: int, data: bytes, *, source: str, filename: str | None = None) -> Stored:
    """A report file for one of the workspace's domains (upload, API): stored parsed, or with its
    error when it cannot be read. A report about another domain is refused (ValidationError) and
    not kept: it is not this domain's. Flushes."""
    domain = get_domain(workspace_id, domain_id)
    try:
        parsed = parse(data)
    except ReportError as exc:
        return Stored(_store_error(workspace_id, domain.id, data, str(exc), source, filename), True)
    if not _about(parsed, domain.domain):
        why = f"This report is about {parsed.domain}, not {domain.domain}: add it on that domain's page."
        raise ValidationError(f"file: {why}", {"file": why})
    return _store(workspace_id, domain.id, parsed, source, filename)


def ingest_mailed(data: bytes, filename: str | None) -> list[Stored]:
    """A report attachment mailed to the rua address: stored for every workspace whose sending
    domain it is about (each keeps its own copy). One no workspace owns, or that cannot be read
    (and so names no domain), is dropped and answered with []: the reporter needs no bounce."""
    try:
        parsed = parse(data)
    except ReportError:
        return []
    candidates = {parsed.domain, *(r["header_from"] for r in parsed.records if r["header_from"])}
    domains = db.session.scalars(select(SendingDomain).where(SendingDomain.domain.in_(sorted(candidates)[:50])))
    chosen: dict[int, SendingDomain] = {}
    for d in domains:  # a workspace with both the policy domain and a header_from domain: the policy's
        if d.workspace_id not in chosen or d.domain == parsed.domain:
            chosen[d.workspace_id] = d
    return [_store(d.workspace_id, d.id, parsed, "mailin", filename) for d in chosen.values()]


def _about(parsed: ParsedReport, domain: str) -> bool:
    return parsed.domain == domain or any(r["header_from"] == domain for r in parsed.records)


def _store(workspace_id: int, domain_id: int, parsed: ParsedReport, source: str, filename: str | None) -> Stored:
    existing = _stored_before(workspace_id, domain_id, parsed)
    if existing is not None:  # a reporter resending, or a person uploading the mailed copy too
        return Stored(existing, False)
    report = DmarcReport(
        workspace_id=workspace_id,
        domain_id=domain_id,
        org_name=parsed.org_name,
        report_id=parsed.report_id,
        begin=parsed.begin,
        end=parsed.end,
        policy=parsed.policy,
        records=len(parsed.records),
        messages=parsed.messages,
        status="parsed",
        source=source,
        filename=_filename(filename),
    )
    ours = dedicated_ips(workspace_id)
    try:
        # The mailed copy and an upload (or two resends) at once: both pass the look above, the unique
        # index (uq_dmarc_reports_domain_report) stops the second, which answers with the first's row.
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()
            db.session.add_all(
                DmarcRecord(report_id=report.id, known_source=r["source_ip"] in ours, **_columns(r))
                for r in parsed.records
            )
            db.session.flush()
    except IntegrityError:
        existing = _stored_before(workspace_id, domain_id, parsed)
        if existing is None:
            raise
        return Stored(existing, False)
    return Stored(report, True)


def _stored_before(workspace_id: int, domain_id: int, parsed: ParsedReport) -> DmarcReport | None:
    return db.session.scalar(
        select(DmarcReport).where(
            DmarcReport.workspace_id == workspace_id,
            DmarcReport.domain_id == domain_id,
            DmarcReport.org_name == parsed.org_name,
            DmarcReport.report_id == parsed.report_id,
            DmarcReport.status == "parsed",
        )
    )


def _columns(r: dict) -> dict:
    keys = ("source_ip", "count", "disposition", "dkim", "spf", "header_from", "auth", "aligned")
    return {k: r[k] for k in keys}


def _store_error(workspace_id, domain_id, data: bytes, error: str, source: str, filename) -> DmarcReport:
    report = DmarcReport(
        workspace_id=workspace_id,
        domain_id=domain_id,
        status="error",
        error=error,
        source=source,
        filename=_filename(filename),
        raw=bytes(data[:KEEP_RAW_BYTES]),
    )
    db.session.add(report)
    db.session.flush()
    return report


def _filename(name: str | None) -> str | None:
    return (name or "").replace("\x00", "").strip()[:255] or None


def dedicated_ips(workspace_id: int) -> set[str]:
    """The workspace's dedicated IPs, spelled as source_ip is stored (IPv6 has many spellings)."""
    rows = db.session.scalars(select(DedicatedIP.ip_address).where(DedicatedIP.workspace_id == workspace_id))
    out = set()
    for ip in rows:
        try:
            out.add(str(ipaddress.ip_address(ip)))
        except ValueError:
            out.add(ip)
    return out


def get_domain(workspace_id: int, domain_id: int) -> SendingDomain:
    domain = db.session.get(SendingDomain, domain_id)
    if domain is None or domain.workspace_id != workspace_id:
        raise NotFound("No such sending domain.")
    return domain


# Reading back ------------------------------------------------------------------------------------


def list_reports(workspace_id: int, domain_id: int, limit: int = 100) -> list[DmarcReport]:
    """Newest period first; reports that failed are listed too, with their error."""
    return list(
        db.session.scalars(
            select(DmarcReport)
            .where(DmarcReport.workspace_id == workspace_id, DmarcReport.domain_id == domain_id)
            .order_by(DmarcReport.end.desc().nulls_first(), DmarcReport.id.desc())
            .limit(limit)
        )
    )


def sources(workspace_id: int, domain_id: int, days: int = 30, now: datetime | None = None) -> list[dict]:
    """Per source IP, over the reports whose period ends within `days`: messages, SPF and DKIM
    pass/fail (DMARC's evaluated results), the aligned share, dispositions, the reporters, and
    whether it is one of the workspace's dedicated IPs (`known`: None when the workspace has none,
    since the shared IPs of a provider cannot be told from anyone else's). Most messages first."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    rows = db.session.execute(
        select(
            DmarcRecord.source_ip,
            DmarcRecord.disposition,
            DmarcRecord.dkim,
            DmarcRecord.spf,
            DmarcRecord.aligned,
            DmarcReport.org_name,
            func.sum(DmarcRecord.count),
        )
        .join(DmarcReport, DmarcReport.id == DmarcRecord.report_id)
        .where(
            DmarcReport.workspace_id == workspace_id,
            DmarcReport.domain_id == domain_id,
            DmarcReport.status == "parsed",
            DmarcReport.end >= since,
        )
        .group_by(
            DmarcRecord.source_ip,
            DmarcRecord.disposition,
            DmarcRecord.dkim,
            DmarcRecord.spf,
            DmarcRecord.aligned,
            DmarcReport.org_name,
        )
    ).all()
    ours = dedicated_ips(workspace_id)
    by_ip: dict[str, dict] = {}
    for ip, disposition, dkim, spf, aligned, org, n in rows:
        n = int(n or 0)
        s = by_ip.setdefault(ip, _empty_source(ip, ours))
        s["count"] += n
        s["spf"]["pass" if spf == "pass" else "fail"] += n
        s["dkim"]["pass" if dkim == "pass" else "fail"] += n
        s["aligned_count"] += n if aligned else 0
        s["disposition"][disposition or "none"] = s["disposition"].get(disposition or "none", 0) + n
        if org not in s["reporters"]:
            s["reporters"].append(org)
    for s in by_ip.values():
        s["aligned"] = round(s["aligned_count"] / s["count"], 4) if s["count"] else 0.0
        s["reporters"].sort()
    return sorted(by_ip.values(), key=lambda s: (-s["count"], s["source_ip"]))


def _empty_source(ip: str, ours: set[str]) -> dict:
    return {
        "source_ip": ip,
        "count": 0,
        "spf": {"pass": 0, "fail": 0},
        "dkim": {"pass": 0, "fail": 0},
        "aligned": 0.0,
        "aligned_count": 0,
        "disposition": {},
        "reporters": [],
        "known": (ip in ours) if ours else None,
    }


def summary(workspace_id: int, domain_id: int, days: int = 30) -> dict:
    """What the domain's page shows: the sources, their totals, and the reports (errors too)."""
    get_domain(workspace_id, domain_id)
    rows = sources(workspace_id, domain_id, days)
    total = sum(s["count"] for s in rows)
    aligned = sum(s["aligned_count"] for s in rows)
    return {
        "days": days,
        "sources": rows,
        "messages": total,
        "aligned": round(aligned / total, 4) if total else None,
        "unknown": sum(1 for s in rows if s["known"] is False),
        "failing": sum(1 for s in rows if s["aligned"] < 1),
        "reports": list_reports(workspace_id, domain_id),
    }


def failing_sources(workspace_id: int, domain_id: int, days: int = 30) -> list[dict]:
    """For the advisor: the source IPs sending as this domain whose mail does not all align, or that
    are not one of the workspace's dedicated IPs (only said when it has some). Each
    {source_ip, count, failing (messages not aligned), aligned (share 0..1), known (bool|None),
    reporters}; the most unaligned messages first."""
    out = []
    for s in sources(workspace_id, domain_id, days):
        if s["aligned"] < 1 or s["known"] is False:
            failing = s["count"] - s["aligned_count"]
            keys = ("source_ip", "count", "aligned", "known", "reporters")
            out.append({**{k: s[k] for k in keys}, "failing": failing})
    return sorted(out, key=lambda s: (-s["failing"], -s["count"], s["source_ip"]))


def is_report_attachment(filename: str | None) -> bool:
    """An attachment a reporter names like a DMARC aggregate report (checked again by parsing)."""
    name = (filename or "").lower()
    return name.endswith((".xml", ".xml.gz", ".gz", ".zip"))


# Mailed to the rua address (events/mailin.py) ------------------------------------------------------

MAX_ATTACHMENTS = 10


def receive_mail(raw: bytes) -> list[Stored]:
    """A message to the DMARC_RUA address: each attachment named like a report (.xml, .xml.gz,
    .gz, .zip) that reads as one is stored for the workspaces with its domain. Flushes.
    Anything else in the message is ignored; a reporter is never bounced."""
    msg = message_from_bytes(raw, policy=default)
    stored: list[Stored] = []
    parts = [p for p in msg.walk() if not p.is_multipart()]
    for part in parts[: MAX_ATTACHMENTS * 5]:
        name = part.get_filename()
        if not is_report_attachment(name) and part.get_content_type() not in _REPORT_TYPES:
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # a broken transfer encoding: not a report we can read
            continue
        stored.extend(ingest_mailed(data, name))
        if len(stored) >= MAX_ATTACHMENTS:
            break
    return stored


_REPORT_TYPES = frozenset({"application/gzip", "application/x-gzip", "application/zip", "application/xml", "text/xml"})
