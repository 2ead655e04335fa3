"""Audience materialization benchmark: a campaign's audience written as recipient rows.

    python -m bench.audience_bench [--n 1000000] [--suppressed 50000] [--domains 300] [--rounds 2] [--json]

A workspace with `--n` subscribers on one list, spread over `--domains` email domains whose MX
answers are cached (mailbox_domains: no DNS lookup is timed), `--suppressed` of them on the
suppression list and 1% unsubscribed. Herald's `materialize_recipients` (through SQLAlchemy,
with the look for uncached domains and the count it returns) is timed against a hand-written
`INSERT … SELECT` doing the same work (the same rows, statuses, reasons, mailbox providers and
order) in the same run, alternating, best of `--rounds`. Memory: the peak RSS of this process
before and after, which must stay flat — no subscriber passes through Python on this path.
"""

import argparse
import json
import resource
import sys
import time

from bench.common import Isolated, install_signal_handlers, make_app, print_table

HAND_WRITTEN = """
INSERT INTO campaign_recipients (campaign_id, subscriber_id, email, status, reason, created_at, mailbox_provider)
SELECT :cid, s.id, s.email,
       CASE WHEN s.status <> 'active' OR sup.id IS NOT NULL OR dom.id IS NOT NULL THEN 'failed' ELSE 'pending' END,
       CASE WHEN s.status <> 'active' THEN 'suppressed:' || s.status
            WHEN sup.id IS NOT NULL THEN 'suppressed:' || sup.reason
            WHEN dom.id IS NOT NULL THEN 'suppressed:domain' END,
       CURRENT_TIMESTAMP, md."group"
FROM subscribers s
LEFT JOIN suppressions sup ON sup.workspace_id = s.workspace_id AND sup.email = s.email
LEFT JOIN suppressions dom ON dom.workspace_id = s.workspace_id
                          AND dom.email = '@' || lower(substr(s.email, {position}(s.email, '@') + 1))
LEFT JOIN mailbox_domains md ON md.domain = lower(substr(s.email, {position}(s.email, '@') + 1))
WHERE s.workspace_id = :ws AND s.erased_at IS NULL
  AND s.id IN (SELECT ls.subscriber_id FROM list_subscribers ls
               JOIN campaign_lists cl ON cl.list_id = ls.list_id WHERE cl.campaign_id = :cid AND NOT cl.exclude)
ORDER BY s.id
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def populate(n: int, suppressed: int, domains: int) -> tuple[int, int]:
    """Subscribers, list memberships, suppressions and the domains' cached MX answers (setup, not measured)."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert, text

    from app.extensions import db
    from app.models import MailboxDomain
    from app.services.audience import contacts
    from app.services.campaigns import drafts
    from app.services.content import templates
    from app.services.platform.workspaces import create_workspace

    ws = create_workspace("Bench audience", "owner@bench.example", "bench password 123")
    lst = contacts.create_list(ws.id, "Everyone")
    tpl = templates.create_template(
        ws.id,
        {"name": "News", "subject": "News", "body_html": "<p>Hi</p><a href='{{ unsubscribe_url }}'>Unsubscribe</a>"},
    )
    db.session.flush()
    postgres = db.engine.dialect.name == "postgresql"
    series = (
        "SELECT g AS i FROM generate_series(1, :n) AS g"
        if postgres
        else "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n) SELECT i FROM g"
    )
    db.session.execute(
        text(
            "INSERT INTO subscribers (workspace_id, email, name, status, attributes, created_at, updated_at) "
            f"SELECT :ws, 'user' || i || '@d' || (i % :domains) || '.bench.example', 'User ' || i, "
            "CASE WHEN i % 100 = 0 THEN 'unsubscribed' ELSE 'active' END, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
            f"FROM ({series}) AS nums"
        ),
        {"ws": ws.id, "n": n, "domains": domains},
    )
    groups = ("gmail", "microsoft", "yahoo", "apple", "other")
    expires = datetime.now(timezone.utc) + timedelta(days=7)
    db.session.execute(
        insert(MailboxDomain),
        [
            {"domain": f"d{d}.bench.example", "provider": groups[d % 5], "group": groups[d % 5], "expires_at": expires}
            for d in range(domains)
        ],
    )
    db.session.execute(
        text(
            "INSERT INTO list_subscribers (list_id, subscriber_id, created_at) "
            "SELECT :lst, id, CURRENT_TIMESTAMP FROM subscribers WHERE workspace_id = :ws"
        ),
        {"lst": lst.id, "ws": ws.id},
    )
    step = max(1, n // suppressed) if suppressed else 0
    if suppressed:
        db.session.execute(
            text(
                "INSERT INTO suppressions (workspace_id, email, reason, created_at) "
                "SELECT :ws, 'user' || (i * :step - 1) || '@d' || ((i * :step - 1) % :domains) || '.bench.example', "
                f"'bounced', CURRENT_TIMESTAMP FROM ({series}) AS nums"
            ),
            {"ws": ws.id, "n": suppressed, "step": step, "domains": domains},
        )
    camp = drafts.create_campaign(
        ws.id,
        {
            "name": "Everyone",
            "template_id": tpl.id,
            "list_ids": [lst.id],
            "from_name": "Bench",
            "from_email": "news@bench.example",
        },
    )
    db.session.commit()
    if postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return ws.id, camp.id


def clear(campaign_id: int) -> None:
    from sqlalchemy import text

    from app.extensions import db

    db.session.execute(text("DELETE FROM campaign_recipients WHERE campaign_id = :c"), {"c": campaign_id})
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM campaign_recipients")


def run_herald(campaign_id: int) -> tuple[float, int]:
    from app.extensions import db
    from app.models import Campaign
    from app.services.campaigns.recipients import materialize_recipients

    campaign = db.session.get(Campaign, campaign_id)
    t0 = time.perf_counter()
    total = materialize_recipients(campaign)
    db.session.commit()
    return time.perf_counter() - t0, total


def run_hand_written(ws_id: int, campaign_id: int) -> tuple[float, int]:
    from sqlalchemy import text

    from app.extensions import db

    position = "strpos" if db.engine.dialect.name == "postgresql" else "instr"
    t0 = time.perf_counter()
    result = db.session.execute(text(HAND_WRITTEN.format(position=position)), {"cid": campaign_id, "ws": ws_id})
    db.session.commit()
    return time.perf_counter() - t0, result.rowcount


def counts(campaign_id: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db

    rows = db.session.execute(
        text("SELECT status, count(*) FROM campaign_recipients WHERE campaign_id = :c GROUP BY status"),
        {"c": campaign_id},
    ).all()
    return {status: n for status, n in rows}


def providers(campaign_id: int) -> dict:
    from sqlalchemy import text

    from app.extensions import db

    rows = db.session.execute(
        text(
            "SELECT mailbox_provider, count(*) FROM campaign_recipients WHERE campaign_id = :c GROUP BY mailbox_provider"
        ),
        {"c": campaign_id},
    ).all()
    return {group: n for group, n in rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="subscribers (default 1,000,000)")
    p.add_argument("--suppressed", type=int, default=50_000, help="of them on the suppression list (default 50,000)")
    p.add_argument("--domains", type=int, default=300, help="email domains, their MX answers cached (default 300)")
    p.add_argument("--rounds", type=int, default=2, help="timed runs of each, alternating (default 2)")
    p.add_argument("--sqlite", action="store_true", help="SQLite file instead of a PostgreSQL database")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = p.parse_args(argv)
    if args.n < 1 or not 0 <= args.suppressed <= args.n // 2 or args.rounds < 1 or args.domains < 1:
        p.error("--n must be positive, --suppressed at most half of it, --rounds and --domains at least 1")
    install_signal_handlers()

    with Isolated("audience", sqlite=args.sqlite) as iso:
        for note in iso.notes:
            print(f"note: {note}", file=sys.stderr)
        app = make_app()
        with app.app_context():
            from app.extensions import db

            t0 = time.perf_counter()
            ws_id, campaign_id = populate(args.n, args.suppressed, args.domains)
            setup = time.perf_counter() - t0
            rss_before = _peak_rss_mb()
            herald, hand = [], []
            herald_counts = hand_counts = herald_providers = hand_providers = None
            for _ in range(args.rounds):
                clear(campaign_id)
                seconds, total = run_herald(campaign_id)
                herald.append(seconds)
                herald_counts, herald_providers = counts(campaign_id), providers(campaign_id)
                clear(campaign_id)
                seconds, written = run_hand_written(ws_id, campaign_id)
                hand.append(seconds)
                hand_counts, hand_providers = counts(campaign_id), providers(campaign_id)
            rss_after = _peak_rss_mb()
            kind = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()

    best_herald, best_hand = min(herald), min(hand)
    figures = {
        "bench": "audience",
        "database": kind,
        "n": args.n,
        "suppressed": args.suppressed,
        "recipients": total,
        "domains": args.domains,
        "counts": herald_counts,
        "mailbox_providers": herald_providers,
        "same_rows": herald_counts == hand_counts and herald_providers == hand_providers and total == written,
        "herald_seconds": round(best_herald, 3),
        "hand_written_seconds": round(best_hand, 3),
        "ratio": round(best_herald / best_hand, 3) if best_hand else None,
        "herald_rows_per_second": round(total / best_herald) if best_herald else None,
        "peak_rss_mb_before": round(rss_before, 1),
        "peak_rss_mb_after": round(rss_after, 1),
        "setup_seconds": round(setup, 1),
    }
    figures["ok"] = bool(figures["same_rows"] and total == args.n and None not in herald_providers)
    print_table(
        f"Audience materialization: {args.n:,} subscribers at {args.domains:,} domains ({args.suppressed:,} "
        f"suppressed, 1% unsubscribed), {kind}, best of {args.rounds}, setup {setup:.1f} s",
        ["path", "rows", "seconds", "rows/s", "peak RSS MB"],
        [
            ["Herald materialize_recipients", total, best_herald, total / best_herald, rss_after],
            ["hand-written INSERT … SELECT", written, best_hand, written / best_hand, rss_after],
        ],
    )
    print(
        f"\nratio Herald / hand-written: {figures['ratio']:.2f}x; statuses {herald_counts}; "
        f"peak RSS {rss_before:.0f} MB before the runs, {rss_after:.0f} MB after"
    )
    if args.json:
        print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
