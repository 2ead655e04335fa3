"""The MX cache (`mailbox_domains`): each recipient domain's mailbox provider, looked up once per TTL
for every workspace, so a campaign's materialization writes each recipient's provider group with a
join instead of a lookup per person.

    email_domain     the SQL expression of an address's domain (PostgreSQL and SQLite), for the
                     audience's distinct domains and for the join
    refresh_domains  look up, concurrently and within MX_LOOKUP_BUDGET seconds, the domains with no
                     unexpired row, and store the answers in one batched upsert

A lookup that failed (no DNS answer, a name DNS cannot ask about, the budget ran out) stores nothing:
recipients of a domain never answered stay unknown (NULL), never guessed, and the next campaign asks
again. An expired row is still joined while its refresh fails (a last known answer, as resolvers
serve stale data, RFC 8767). The caller owns the commit.
"""

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone

import dns.exception
from flask import current_app
from sqlalchemy import String, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app import dns as herald_dns
from app.extensions import db
from app.models import MailboxDomain
from app.services.delivery import mailbox_providers

log = logging.getLogger(__name__)

MIN_TTL = timedelta(hours=1)  # no MX (TTL 0) or a short TTL: MX records rarely change within the hour
MAX_TTL = timedelta(days=7)
LOOKUP_THREADS = 16  # lookups wait on the network, not the CPU
SELECT_CHUNK = 5_000  # domains per `IN (…)`, under every driver's parameter limit
_FAILED = (herald_dns.DnsUnavailable, ValueError, UnicodeError, dns.exception.DNSException)


class email_domain(FunctionElement):  # noqa: N801 (an SQL function, named like SQLAlchemy's own)
    """`email_domain(col)`: the lower-cased part of an address after its first `@` (validated addresses
    have one; email_validator refuses quoted local parts)."""

    type = String()
    name = "email_domain"
    inherit_cache = True


@compiles(email_domain)
def _email_domain(element, compiler, **kw):
    email = compiler.process(element.clauses, **kw)
    return f"lower(substr({email}, strpos({email}, '@') + 1))"


@compiles(email_domain, "sqlite")
def _email_domain_sqlite(element, compiler, **kw):
    email = compiler.process(element.clauses, **kw)
    return f"lower(substr({email}, instr({email}, '@') + 1))"


def refresh_domains(domains: Iterable[str], budget_seconds: float | None = None) -> int:
    """Look up the MX of every domain without an unexpired row, in the order given (the budget may not
    reach the last), and store the answers; returns how many were stored."""
    budget = current_app.config.get("MX_LOOKUP_BUDGET", 3.0) if budget_seconds is None else budget_seconds
    wanted = list(dict.fromkeys(d for d in domains if d and len(d) <= 255))
    if budget <= 0 or not wanted:
        return 0
    now = datetime.now(timezone.utc)
    fresh = set()
    for i in range(0, len(wanted), SELECT_CHUNK):
        chunk = wanted[i : i + SELECT_CHUNK]
        fresh.update(
            db.session.scalars(
                select(MailboxDomain.domain).where(MailboxDomain.domain.in_(chunk), MailboxDomain.expires_at > now)
            )
        )
    todo = [d for d in wanted if d not in fresh]
    if not todo:
        return 0
    rows = _look_up(todo, budget, now)
    _upsert(rows)
    return len(rows)


def _look_up(domains: list[str], budget: float, now: datetime) -> list[dict]:
    """The rows of the domains answered within `budget` seconds. Lookups still running then are left
    to finish on their own (each ends within DNS_TIMEOUT) and their answers dropped."""
    resolver = herald_dns.resolver()  # read here: the pool's threads have no app context
    pool = ThreadPoolExecutor(max_workers=min(LOOKUP_THREADS, len(domains)), thread_name_prefix="mx-lookup")
    futures = [pool.submit(_detect, domain, resolver) for domain in domains]
    done, _ = wait(futures, timeout=budget)
    pool.shutdown(wait=False, cancel_futures=True)
    rows = []
    for domain, future in zip(domains, futures, strict=True):
        found = future.result() if future in done else None
        if found is not None:
            ttl = min(max(timedelta(seconds=found.ttl), MIN_TTL), MAX_TTL)
            rows.append(
                {
                    "domain": domain,  # as the SQL expression spells it: the join's key
                    "provider": found.provider.key,
                    "group": found.provider.group,
                    "mx": found.exchange,
                    "expires_at": now + ttl,
                }
            )
    log.info(
        "MX lookups: %d asked, %d answered, %d failed or past the %.1f s budget",
        len(domains),
        len(rows),
        len(domains) - len(rows),
        budget,
    )
    return rows


def _detect(domain: str, resolver) -> mailbox_providers.Detected | None:
    try:
        return mailbox_providers.detect(domain, using=resolver)
    except _FAILED as exc:
        log.debug("MX lookup of %r failed: %s", domain, exc)
    except Exception:  # a recipient's provider is worth a campaign's send: never let it fail one
        log.exception("MX lookup of %r failed unexpectedly", domain)
    return None


def _upsert(rows: list[dict]) -> None:
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(MailboxDomain.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["domain"], set_={c: stmt.excluded[c] for c in ("provider", "group", "mx", "expires_at")}
    )
    # In key order: two campaigns refreshing the same domains lock their rows in the same order.
    db.session.execute(stmt, sorted(rows, key=lambda r: r["domain"]))
