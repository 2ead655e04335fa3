"""Sending domains: the records to publish, verification, DKIM keys and their rotation.

A domain moves pending -> verifying -> verified | failed as "Verify" looks its records up (the
same checks run daily); warming and active follow once warming exists; paused holds it until a
person resumes. Required for `verified`: the signing DKIM key, SPF and DMARC on the domain. The
return-path records (MX and SPF on the bounce subdomain) make SPF align and bring bounces back by
VERP; without them mail still goes, unaligned for SPF, so they are shown but not required.

A DKIM key: new (shown, not yet seen in DNS) -> verified -> signing -> retiring (still
published while mail signed with it may be in flight) -> retired. Rotation adds a new key
beside the signing one; switching makes it sign and starts the old one's grace period.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import idna
from flask import current_app
from sqlalchemy import delete, select

from app.dns import DnsUnavailable, fresh_resolver
from app.extensions import db
from app.models import DkimKey, HealthScore, Provider, SendingDomain
from app.services.crypto import encrypt_text
from app.services.delivery import dkim, dns_checks, domain_blocklists, verp
from app.services.delivery.providers import EMAIL_TYPES, spec_of
from app.services.errors import InvalidState, NotFound, ValidationError
from app.services.platform import alerts, audit
from app.transactions import on_commit

PURPOSES = ("spf", "dkim", "dmarc", "return_path_mx", "return_path_spf")
REQUIRED = frozenset({"spf", "dkim", "dmarc"})
PUBLISHED_KEYS = ("new", "verified", "signing", "retiring")  # keys whose record stays published
RETIRE_GRACE = timedelta(days=7)  # mail signed with the old key may still be read (or re-verified) this long
_RECHECK_KIND = "dns_record_failed"


@dataclass(frozen=True)
class Record:
    """One DNS record Herald asks the operator to publish."""

    purpose: str
    type: str
    name: str
    value: str
    required: bool = True
    selector: str | None = None  # DKIM: which key

    def as_dict(self) -> dict:
        return {"purpose": self.purpose, "type": self.type, "name": self.name, "value": self.value}


def _keys_changed(workspace_id: int) -> None:
    """Signers cached in this process forget the workspace now and once the change is committed
    (a send in another thread could cache the old state in between)."""
    dkim.forget(workspace_id)
    on_commit(lambda: dkim.forget(workspace_id))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def clean_domain(name) -> str:
    """`News.Acme.com.` -> `news.acme.com`; an internationalized name in its IDNA (xn--) form."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("Enter the domain you send from, such as news.example.com.", {"domain": "Required."})
    name = name.strip().rstrip(".").lower()
    if "@" in name:
        name = name.rpartition("@")[2]  # someone pasted an address: the domain is what they meant
    try:
        ascii_name = idna.encode(name, uts46=True).decode()
    except idna.IDNAError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if (
        len(labels) < 2
        or len(ascii_name) > 253
        or labels[-1].isdigit()
        or not all(0 < len(label) <= 63 for label in labels)
    ):
        raise ValidationError(
            f"“{name[:100]}” is not a domain name. Enter one such as news.example.com.", {"domain": "Not a domain."}
        )
    return ascii_name


def _clean_subdomain(label) -> str:
    label = (label or "bounces").strip().lower().rstrip(".")
    if not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label) or label[0] == "-":
        raise ValidationError(
            "The return-path subdomain is one label of letters, digits and hyphens, such as bounces.",
            {"return_path_subdomain": "One label, such as bounces."},
        )
    return label


def _new_key(domain: SendingDomain) -> DkimKey:
    used = {k.selector for k in domain.keys}
    n = len(used) + 1
    while f"herald{n}" in used:
        n += 1
    private_pem, public_b64 = dkim.generate_key()
    key = DkimKey(
        selector=f"herald{n}",
        private_key_encrypted=encrypt_text(private_pem),
        public_key=public_b64,
        status="new",
    )
    domain.keys.append(key)
    return key


def create_domain(workspace_id: int, name, return_path_subdomain=None) -> SendingDomain:
    domain_name = clean_domain(name)
    sub = _clean_subdomain(return_path_subdomain)
    exists = db.session.scalar(
        select(SendingDomain.id).where(SendingDomain.workspace_id == workspace_id, SendingDomain.domain == domain_name)
    )
    if exists:
        raise ValidationError(
            f"{domain_name} is already one of this workspace's domains.", {"domain": "Added already."}
        )
    domain = SendingDomain(
        workspace_id=workspace_id, domain=domain_name, return_path_subdomain=sub, status="pending", checks=[]
    )
    db.session.add(domain)
    _new_key(domain)
    db.session.flush()
    return domain


def get_domain(workspace_id: int, domain_id) -> SendingDomain:
    domain = db.session.get(SendingDomain, domain_id) if isinstance(domain_id, int) else None
    if domain is None or domain.workspace_id != workspace_id:
        raise NotFound("No such domain.")
    return domain


def list_domains(workspace_id: int) -> list[SendingDomain]:
    return list(
        db.session.scalars(
            select(SendingDomain).where(SendingDomain.workspace_id == workspace_id).order_by(SendingDomain.domain)
        )
    )


def delete_domain(workspace_id: int, domain_id: int) -> None:
    domain = get_domain(workspace_id, domain_id)
    audit.record(workspace_id, "domain.delete", "domain", domain.id, {"domain": domain.domain})
    db.session.delete(domain)
    # Its history goes too (no foreign key: a subject is a domain or an IP); SQLite may reuse the id.
    db.session.execute(
        delete(HealthScore).where(HealthScore.subject_type == "domain", HealthScore.subject_id == domain_id)
    )
    db.session.flush()
    _keys_changed(workspace_id)


# ---- what to publish -------------------------------------------------------------------------


def return_path_domain(domain: SendingDomain) -> str:
    return f"{domain.return_path_subdomain}.{domain.domain}"


def mailin_hostname() -> str:
    """The MX Herald's bounce subdomains point at: where `flask mailin` listens, by name."""
    return current_app.config["MAILIN_HOSTNAME"]


def dmarc_rua() -> str:
    return current_app.config["DMARC_RUA"]


def spf_terms(workspace_id: int) -> list[str]:
    """What the workspace's email providers need in SPF (their includes), in a stable order."""
    providers = db.session.scalars(
        select(Provider)
        .where(Provider.workspace_id == workspace_id, Provider.provider_type.in_(EMAIL_TYPES))
        .order_by(Provider.priority, Provider.id)
    )
    terms = []
    for provider in providers:
        spec = spec_of(provider)
        term = spec.spf(provider.settings or {}) if spec.spf else None
        if term and term not in terms:
            terms.append(term)
    return terms


def _spf_value(terms: list[str]) -> str:
    return " ".join(["v=spf1", *terms, "~all"])


def dns_records(domain: SendingDomain) -> list[Record]:
    """Every record to publish, in the order an operator adds them."""
    terms = spf_terms(domain.workspace_id)
    bounce = return_path_domain(domain)
    records = [Record("spf", "TXT", domain.domain, _spf_value(terms))]
    for key in domain.keys:
        if key.status in PUBLISHED_KEYS:
            records.append(
                Record(
                    "dkim",
                    "TXT",
                    f"{key.selector}._domainkey.{domain.domain}",
                    dkim.record_value(key.public_key),
                    selector=key.selector,
                )
            )
    records += [
        Record(
            "dmarc", "TXT", f"_dmarc.{domain.domain}", f"v=DMARC1; p=none; rua=mailto:{dmarc_rua()}; adkim=r; aspf=r"
        ),
        Record("return_path_mx", "MX", bounce, f"10 {mailin_hostname()}", required=False),
        Record("return_path_spf", "TXT", bounce, _spf_value(terms), required=False),
    ]
    return records


# ---- verification --------------------------------------------------------------------------


def _check(record: Record, terms: list[str], public_keys: dict[str, str], using) -> dns_checks.Check:
    if record.purpose in ("spf", "return_path_spf"):
        return dns_checks.check_spf(record.purpose, record.name, terms, record.value, using=using)
    if record.purpose == "dkim":
        return dns_checks.check_dkim(record.name, public_keys[record.selector], record.value, using=using)
    if record.purpose == "dmarc":
        domain = record.name.removeprefix("_dmarc.")
        return dns_checks.check_dmarc(domain, record.value, rua_required=dmarc_rua(), using=using)
    return dns_checks.check_mx(record.purpose, record.name, mailin_hostname(), record.value, using=using)


def run_checks(domain: SendingDomain) -> list[dict]:
    """Look every record up, now (no earlier answer is reused); raises DnsUnavailable when the
    resolver gave no answer, so nothing is judged on an outage."""
    terms = spf_terms(domain.workspace_id)
    public_keys = {k.selector: k.public_key for k in domain.keys}
    using = fresh_resolver()
    results = []
    for record in dns_records(domain):
        check = _check(record, terms, public_keys, using).as_dict()
        check.update(required=record.required, name=record.name, type=record.type)
        if record.selector:
            check["selector"] = record.selector
        results.append(check)
    return results


def verify_domain(workspace_id: int, domain_id: int) -> SendingDomain:
    """Look the records up now and move the domain (and its keys) on from what was found."""
    domain = get_domain(workspace_id, domain_id)
    try:
        checks = run_checks(domain)
    except DnsUnavailable as exc:
        raise InvalidState(f"DNS did not answer ({exc}); nothing was changed. Try again in a minute.") from None
    _apply(domain, checks)
    domain_blocklists.check(domain)
    return domain


def _apply(domain: SendingDomain, checks: list[dict]) -> list[dict]:
    """Record a verification; returns the required checks that passed before and fail now."""
    before = {_check_key(c): c["ok"] for c in domain.checks or []}
    now = _now()
    domain.checks = checks
    domain.checked_at = now
    dmarc = next((c for c in checks if c["purpose"] == "dmarc"), None)
    domain.dmarc_policy = (dmarc or {}).get("policy")
    by_selector = {c.get("selector"): c for c in checks if c["purpose"] == "dkim"}
    for key in domain.keys:
        check = by_selector.get(key.selector)
        if check and check["ok"] and key.status == "new":
            key.status, key.verified_at = "verified", now
    signing = next((k for k in domain.keys if k.status == "signing"), None)
    if signing is None:  # the first key to verify starts signing
        first = next((k for k in domain.keys if k.status == "verified"), None)
        if first is not None:
            first.status, first.signing_since = "signing", now
            signing = first
    signing_ok = signing is not None and by_selector.get(signing.selector, {}).get("ok")
    required_ok = signing_ok and all(c["ok"] for c in checks if c["purpose"] in REQUIRED - {"dkim"})
    if domain.status in ("pending", "verifying", "failed"):
        if required_ok:
            domain.status, domain.verified_at, domain.status_reason = "verified", now, None
        else:
            domain.status = "failed"
            domain.status_reason = _failure_summary(checks, signing)
    _keys_changed(domain.workspace_id)
    db.session.flush()
    return [c for c in checks if c["required"] and not c["ok"] and before.get(_check_key(c))]


def _check_key(check: dict) -> str:
    return f"{check['purpose']}:{check.get('selector') or ''}"


def _failure_summary(checks: list[dict], signing) -> str:
    failing = [c for c in checks if c["required"] and not c["ok"]]
    if signing is None and not failing:
        return "No DKIM key is published yet."
    return "; ".join(f"{c['purpose'].upper()}: {c['detail']}" for c in failing) or "Verification failed."


def reverify_all() -> int:
    """The daily job: every domain that was verified once is looked up again. A required record
    that stopped passing raises an alert with what was found; when all pass again it is resolved.
    Retiring keys past their grace period are retired. Safe to run twice."""
    done = 0
    ids = db.session.scalars(select(SendingDomain.id).where(SendingDomain.verified_at.is_not(None))).all()
    for domain_id in ids:
        domain = db.session.get(SendingDomain, domain_id)
        _retire_expired(domain)
        try:
            checks = run_checks(domain)
        except DnsUnavailable as exc:
            current_app.logger.warning("re-verifying %s: DNS did not answer (%s)", domain.domain, exc)
            db.session.rollback()
            continue
        broke = _apply(domain, checks)
        failing = [c for c in checks if c["required"] and not c["ok"]]
        if failing:
            _raise_dns_alert(domain, failing, newly=bool(broke))
        else:
            alerts.resolve_alert(domain.workspace_id, _RECHECK_KIND, "domain", domain.id)
        db.session.commit()
        done += 1
    return done


def _raise_dns_alert(domain: SendingDomain, failing: list[dict], newly: bool) -> None:
    key_mismatch = any(c["purpose"] == "dkim" and c.get("found") for c in failing)
    names = ", ".join(f"{c['purpose'].upper()} ({c['name']})" for c in failing)
    message = f"{domain.domain}: {names} no longer {'passes' if len(failing) == 1 else 'pass'} verification."
    if key_mismatch:
        message += " The published DKIM key is not the one Herald signs with."
    alerts.raise_alert(
        domain.workspace_id,
        _RECHECK_KIND,
        "critical" if key_mismatch or any(c["purpose"] == "dkim" for c in failing) else "warning",
        "domain",
        domain.id,
        message,
        evidence={c["purpose"] + (f" {c['selector']}" if c.get("selector") else ""): c["detail"] for c in failing},
        action_label="Show the records",
        action_url=f"/domains/{domain.id}",
    )


# ---- DKIM rotation -------------------------------------------------------------------------


def rotate_key(workspace_id: int, domain_id: int) -> DkimKey:
    """A new selector and key beside the signing one, to publish and verify before switching."""
    domain = get_domain(workspace_id, domain_id)
    if any(k.status in ("new", "verified") for k in domain.keys):
        raise InvalidState("A new key is already waiting: publish and verify it, then switch signing to it.")
    key = _new_key(domain)
    db.session.flush()
    return key


def switch_signing(workspace_id: int, domain_id: int, key_id: int) -> DkimKey:
    """Sign with a verified key from now on; the old key retires after a grace period."""
    domain = get_domain(workspace_id, domain_id)
    key = next((k for k in domain.keys if k.id == key_id), None)
    if key is None:
        raise NotFound("No such key.")
    if key.status != "verified":
        raise InvalidState(f"Key {key.selector} is not verified: publish its record and press Verify first.")
    now = _now()
    for old in domain.keys:
        if old.status == "signing":
            old.status, old.retire_after = "retiring", now + RETIRE_GRACE
    key.status, key.signing_since = "signing", now
    db.session.flush()
    _keys_changed(workspace_id)
    return key


def _retire_expired(domain: SendingDomain) -> None:
    now = _now()
    for key in domain.keys:
        if key.status == "retiring" and key.retire_after and key.retire_after <= now:
            key.status = "retired"


def bounce_domain(workspace_id: int, from_email: str) -> str | None:
    """The envelope (bounce) domain for mail from `from_email`: its sending domain's return-path
    subdomain once the latest verification found its MX pointing at Herald; None otherwise."""
    name = dkim.from_domain(from_email)
    if name is None:
        return None
    domain = db.session.scalar(
        select(SendingDomain).where(
            SendingDomain.workspace_id == workspace_id,
            SendingDomain.domain == name,
            SendingDomain.status.in_(dkim.SIGNING_DOMAIN_STATES),
        )
    )
    if domain is None or not any(c["purpose"] == "return_path_mx" and c["ok"] for c in domain.checks or []):
        return None
    return return_path_domain(domain)


def alignment(from_email: str, dkim_domain: str | None, envelope_domain: str | None) -> dict:
    """{from_domain, dkim_domain, envelope_domain, dkim_aligned, spf_aligned}: DMARC passes when
    either aligns (relaxed: the same organizational domain as the From)."""
    from_domain = dkim.from_domain(from_email)
    return {
        "from_domain": from_domain,
        "dkim_domain": dkim_domain,
        "envelope_domain": envelope_domain,
        "dkim_aligned": bool(dkim_domain and from_domain and dns_checks.aligned(from_domain, dkim_domain)),
        "spf_aligned": bool(envelope_domain and from_domain and dns_checks.aligned(from_domain, envelope_domain)),
    }


def authentication(workspace_id: int, from_email: str, provider) -> dict:
    """How mail from `from_email` through `provider` authenticates now (the campaign page). A None
    `dkim_domain`: Herald does not sign (an API provider may sign with its own domain setup); a None
    `envelope_domain`: the provider's own bounce domain, which does not align."""
    signer = dkim.signer_for(workspace_id, from_email)
    envelope = None
    if provider is not None and spec_of(provider).verp:
        # No return-path domain at all: the From address itself is the envelope sender.
        bounce = verp.envelope_domain(provider, bounce_domain(workspace_id, from_email))
        envelope = bounce or dkim.from_domain(from_email)
    return alignment(from_email, signer.domain if signer else None, envelope)


def signing_key(domain: SendingDomain) -> DkimKey | None:
    return next((k for k in domain.keys if k.status == "signing"), None)
