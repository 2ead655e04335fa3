"""Insights benchmark: millions of events, and every insights page and API call timed against them.

    python -m bench.insights_bench --events 20000000 [--campaigns 200] [--repeat 20] [--budget-ms 150] [--json]

Setup (PostgreSQL; set-based: generate_series in SQL, no Python loop per row): a workspace with two lists,
two sending identities and --campaigns sent campaigns spread over the last 90 days, each to the same
audience of events / (8 × campaigns) subscribers on five mailbox providers. Every recipient row has 8
events after its send: a delivery, five opens (people, Gmail's proxy, Apple's prefetches, scanners), a
click on one of the campaign's 10 links, and a bounce, complaint, unsubscribe or deferral. Then the
hourly rollups are recounted from it all (what the migration does on upgrade), timed.

Run: each call through the Flask app in this process (the dashboard signed in, the API with a key),
once to warm up and then --repeat times; p50 and p95 per call.

Proof: the p95 of every call is within --budget-ms, and the workspace's totals from the rollups equal a
count over the event log. Exit 1 otherwise.
"""

import argparse
import re
import sys
import time
from datetime import datetime, timedelta, timezone

from bench.common import Isolated, Terminated, install_signal_handlers, make_app, print_json, print_table

EVENTS_PER_RECIPIENT = 8
LINKS = 10
PROVIDERS = ("gmail", "microsoft", "yahoo", "apple", "other")


def build(campaigns: int, per_campaign: int) -> dict:
    """The workspace, its campaigns, recipients, links and events (inside an app context; commits)."""
    from sqlalchemy import text

    from app.extensions import db
    from app.models import SendingDomain, SendingIdentity
    from app.services.audience import contacts
    from app.services.campaigns import drafts
    from app.services.content import templates
    from app.services.delivery import providers
    from app.services.platform.workspaces import create_api_key, create_workspace

    ws = create_workspace("Bench Outfitters", "owner@bench.example.com", "correct horse battery staple")
    lists = [contacts.create_list(ws.id, name) for name in ("Newsletter", "Customers")]
    rows = [{"email": f"reader{i}@{PROVIDERS[i % 5]}.bench.example.com", "name": f"Reader {i}"}
            for i in range(per_campaign)]  # fmt: skip
    for i in range(0, per_campaign, 5000):
        contacts.import_subscribers(ws.id, rows[i : i + 5000], [lists[0].id, lists[1].id])
    prov = providers.create_provider(ws.id, "Sink", "smtp", {"host": "127.0.0.1", "port": 2525}, {}, is_default=True)
    html = '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    tpl = templates.create_template(ws.id, {"name": "News", "subject": "News", "body_html": html})
    domain = SendingDomain(workspace_id=ws.id, domain="news.bench.example.com", status="verified")
    db.session.add(domain)
    db.session.flush()
    identities = [SendingIdentity(workspace_id=ws.id, sending_domain_id=domain.id, email=f"{n}@news.bench.example.com",
                                  display_name="Bench") for n in ("news", "offers")]  # fmt: skip
    db.session.add_all(identities)
    ids = []
    for n in range(campaigns):
        camp = drafts.create_campaign(ws.id, {"name": f"Campaign {n + 1}", "template_id": tpl.id,
                                              "list_ids": [lists[n % 2].id], "from_name": "Bench",
                                              "from_email": "news@news.bench.example.com", "provider_id": prov.id})  # fmt: skip
        ids.append(camp.id)
    db.session.flush()
    _, key = create_api_key(ws.id, "bench")
    now = datetime.now(timezone.utc)
    params = {"ws": ws.id, "now": now, "n": campaigns, "i1": identities[0].id, "i2": identities[1].id}
    for sql in _SQL:
        db.session.execute(text(sql), params)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return {"workspace_id": ws.id, "campaign_ids": ids, "key": key, "email": rows[len(rows) // 2]["email"]}


# Campaign n (0-based by id) was sent n × 90 / campaigns days before the newest, all within 90 days.
_SQL = [
    """UPDATE campaigns c SET status = 'sent', started_at = CAST(:now AS timestamptz) - (o.k * interval '90 days' / :n),
       completed_at = CAST(:now AS timestamptz) - (o.k * interval '90 days' / :n) + interval '1 hour'
       FROM (SELECT id, row_number() OVER (ORDER BY id DESC) - 1 AS k FROM campaigns WHERE workspace_id = :ws) o
       WHERE c.id = o.id""",
    """INSERT INTO links (campaign_id, position, url)
       SELECT c.id, p, 'https://shop.bench.example.com/p/' || p FROM campaigns c, generate_series(0, 10) p
       WHERE c.workspace_id = :ws""",
    """INSERT INTO campaign_recipients (campaign_id, subscriber_id, email, status, attempts, sent_at, delivered_at,
         opened_at, human_opened_at, clicked_at, human_clicked_at, created_at, mailbox_provider, identity_id)
       SELECT c.id, s.id, s.email, 'delivered', 1, t.sent, t.sent + interval '20 seconds',
         t.sent + interval '5 minutes', CASE WHEN s.id % 3 = 0 THEN t.sent + interval '2 hours' END,
         t.sent + interval '3 hours', CASE WHEN s.id % 6 = 0 THEN t.sent + interval '3 hours' END, c.started_at,
         (ARRAY['gmail','microsoft','yahoo','apple','other'])[1 + s.id % 5], CASE WHEN s.id % 2 = 0 THEN :i1 ELSE :i2 END
       FROM campaigns c JOIN subscribers s ON s.workspace_id = c.workspace_id
       CROSS JOIN LATERAL (SELECT c.started_at + (s.id % 7200) * interval '1 second' AS sent) t
       WHERE c.workspace_id = :ws""",
    """INSERT INTO events (workspace_id, event_key, event_type, campaign_id, recipient_id, subscriber_id, email, link_id,
         user_agent, ip, verdict, data, occurred_at, created_at)
       SELECT :ws, 'bench:' || cr.id || ':' || k,
         CASE WHEN k = 1 THEN 'delivery' WHEN k <= 6 THEN 'open' WHEN k = 7 THEN 'click'
              WHEN cr.id % 50 = 0 THEN 'bounce' WHEN cr.id % 997 = 0 THEN 'complaint'
              WHEN cr.id % 331 = 0 THEN 'unsubscribe' ELSE 'delivery_delay' END,
         cr.campaign_id, cr.id, cr.subscriber_id, cr.email,
         CASE WHEN k = 7 THEN l.first + 1 + cr.id % 10 END,
         CASE WHEN k BETWEEN 2 AND 7 THEN (ARRAY[
           'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
           'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
           'Mozilla/5.0', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0',
           'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)'])[1 + (cr.id + k) % 5] END,
         CASE WHEN k BETWEEN 2 AND 7 THEN '198.51.100.' || (cr.id % 250) END,
         CASE WHEN k BETWEEN 2 AND 7 THEN (ARRAY['human','proxy','apple_mpp','scanner','human'])[1 + (cr.id + k) % 5] END,
         CASE WHEN k = 8 AND cr.id % 50 = 0 THEN
           CAST('{"bounce_type": "' || (CASE WHEN cr.id % 100 = 0 THEN 'hard' ELSE 'soft' END) || '"}' AS jsonb) END,
         cr.sent_at + k * interval '37 minutes' + (cr.id % 72) * interval '1 hour',
         cr.sent_at + k * interval '37 minutes' + (cr.id % 72) * interval '1 hour'
       FROM campaign_recipients cr
       JOIN (SELECT campaign_id, min(id) AS first FROM links GROUP BY campaign_id) l ON l.campaign_id = cr.campaign_id
       CROSS JOIN generate_series(1, 8) k""",
]


def calls(ids: dict) -> list[tuple[str, str]]:
    """(name, path): every insights page and API call, on the newest campaign and the workspace."""
    c = ids["campaign_ids"][-1]
    week = (datetime.now(timezone.utc) - timedelta(days=7)).strftime("%Y-%m-%dT%H:00:00Z")
    api = [
        ("api overview", "/api/v1/overview"),
        ("api insights (30 days)", "/api/v1/insights"),
        ("api insights by campaign", "/api/v1/insights?group_by=campaign"),
        ("api insights by list", "/api/v1/insights?group_by=list"),
        ("api insights by provider", "/api/v1/insights?group_by=mailbox_provider"),
        ("api insights by domain", "/api/v1/insights?group_by=domain"),
        ("api insights hourly, 7 days", f"/api/v1/insights?interval=hour&from={week}&group_by=identity"),
        ("api insights 90 days by campaign", "/api/v1/insights?group_by=campaign&from=2000-01-01"),
        ("api campaign insights", f"/api/v1/campaigns/{c}/insights"),
        ("api campaign by provider", f"/api/v1/campaigns/{c}/insights?interval=day&group_by=mailbox_provider"),
        ("api campaign links", f"/api/v1/campaigns/{c}/links"),
        ("api campaign devices", f"/api/v1/campaigns/{c}/devices"),
        ("api campaign (stats)", f"/api/v1/campaigns/{c}"),
        ("api message search", f"/api/v1/deliveries?email={ids['email']}"),
    ]
    pages = [
        ("page insights", "/insights/"),
        ("page insights by campaign", "/insights/?group_by=campaign"),
        ("page campaign insights", f"/campaigns/{c}/insights"),
        ("page campaign", f"/campaigns/{c}"),
        ("page message search", f"/deliveries/?q={ids['email']}"),
    ]
    return api + pages


def time_calls(app, ids: dict, repeat: int) -> dict:
    web = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").get_data(as_text=True)).group(1)
    web.post("/login", data={"email": "owner@bench.example.com", "password": "correct horse battery staple",
                             "csrf_token": token})  # fmt: skip
    headers = {"Authorization": f"Bearer {ids['key']}"}
    out = {}
    for name, path in calls(ids):
        kw = {"headers": headers} if path.startswith("/api/") else {}
        first = web.get(path, **kw)
        if first.status_code != 200:
            raise RuntimeError(f"{name}: {path} answered {first.status_code}: {first.get_data(as_text=True)[:300]}")
        took = []
        for _ in range(repeat):
            t = time.perf_counter()
            web.get(path, **kw)
            took.append((time.perf_counter() - t) * 1000)
        took.sort()
        out[name] = {"p50": took[len(took) // 2], "p95": took[min(len(took) - 1, int(len(took) * 0.95))]}
    return out


def check_totals(workspace_id: int) -> tuple[dict, dict]:
    """(the rollups' totals, the event log's counts) of the event metrics."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Event, InsightHour
    from app.services.events import rollups

    kept = db.session.execute(
        select(func.sum(InsightHour.opens), func.sum(InsightHour.human_opens), func.sum(InsightHour.clicks),
               func.sum(InsightHour.bounced), func.sum(InsightHour.sent))
        .where(InsightHour.workspace_id == workspace_id, rollups.SPLIT)
    ).one()  # fmt: skip
    counted = dict(db.session.execute(
        select(Event.event_type, func.count()).where(Event.workspace_id == workspace_id).group_by(Event.event_type)
    ).all())  # fmt: skip
    human = db.session.scalar(
        select(func.count()).where(Event.event_type == "open", Event.verdict.in_(("human", "proxy")))
    )
    return (
        {"opens": kept[0], "human_opens": kept[1], "clicks": kept[2], "bounced": kept[3]},
        {"opens": counted.get("open", 0), "human_opens": human, "clicks": counted.get("click", 0),
         "bounced": counted.get("bounce", 0)},
    )  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=20_000_000, help="events in the log (default 20,000,000)")
    p.add_argument("--campaigns", type=int, default=200, help="campaigns over 90 days (default 200)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls of each page and API call (default 20)")
    p.add_argument("--budget-ms", type=float, default=150.0, help="the p95 every call must keep (default 150)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    a = p.parse_args()
    per_campaign = max(5, a.events // (EVENTS_PER_RECIPIENT * a.campaigns))
    install_signal_handlers()
    try:
        with Isolated("insights") as iso:
            if iso.sqlite:
                print("the insights benchmark needs PostgreSQL (generate_series); skipped")
                return 0
            app = make_app()
            with app.app_context():
                from app.extensions import db
                from app.services.events import rollups

                t = time.perf_counter()
                ids = build(a.campaigns, per_campaign)
                build_s = time.perf_counter() - t
                t = time.perf_counter()
                written = rollups.rebuild()
                db.session.commit()
                rebuild_s = time.perf_counter() - t
                events = db.session.execute(db.text("SELECT count(*) FROM events")).scalar()
                kept, counted = check_totals(ids["workspace_id"])
                db.session.remove()
            timings = time_calls(app, ids, a.repeat)
    except Terminated as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    slow = {n: round(t["p95"], 1) for n, t in timings.items() if t["p95"] > a.budget_ms}
    print(f"{events:,} events, {a.campaigns} campaigns × {per_campaign:,} recipients; built in {build_s:.1f} s; "
          f"rollups recounted in {rebuild_s:.1f} s ({written:,} rows)")  # fmt: skip
    print_table("insights calls", ["call", "p50 ms", "p95 ms"],
                [[n, round(t["p50"], 1), round(t["p95"], 1)] for n, t in timings.items()])  # fmt: skip
    ok = not slow and kept == counted
    if kept != counted:
        print(f"FAILED: the rollups say {kept}, the event log {counted}", file=sys.stderr)
    if slow:
        print(f"FAILED: over {a.budget_ms:.0f} ms at p95: {slow}", file=sys.stderr)
    if a.json:
        print_json({"bench": "insights", "ok": ok, "events": events, "campaigns": a.campaigns,
                    "recipients": a.campaigns * per_campaign, "build_seconds": round(build_s, 1),
                    "rebuild_seconds": round(rebuild_s, 1), "rollup_rows": written,
                    "max_p95_ms": round(max(t["p95"] for t in timings.values()), 1),
                    "p95_ms": {n: round(t["p95"], 1) for n, t in timings.items()}, "slow": slow})  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
