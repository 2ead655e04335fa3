"""The one door to RQ: queue names, retry policies and the Redis connection the queues use.

Services, jobs, the worker and the scheduler all import this module (DESIGN.md §2); nothing
in `app/` imports `workers/`. Jobs are named by their path (`"workers.jobs.send_batch"`), so
enqueueing one never imports the worker code.
"""

import json
from dataclasses import dataclass

import redis
from flask import current_app
from rq import Queue, Retry

from app.redis_client import redis_for
from app.transactions import on_commit

TRANSACTIONAL = "transactional"  # one message at once (POST /messages): first, and with a worker of its own
SENDS = "sends"
WEBHOOKS = "webhooks"
DEFAULT = "default"
ALL = (TRANSACTIONAL, SENDS, WEBHOOKS, DEFAULT)

SEND_RETRY = Retry(max=5, interval=[10, 30, 60, 120, 300])
# A password reset is worth little an hour late: retry sooner, give up sooner (then the message fails).
TRANSACTIONAL_RETRY = Retry(max=4, interval=[5, 15, 30, 60])


def connection(url: str) -> redis.Redis:
    """The shared client for `url` (one connection pool per URL and process)."""
    return redis_for(url)


def get_queue(name: str, url: str | None = None) -> Queue:
    """Queue `name` on `url` (default: the app's REDIS_URL); jobs may run for up to 30 minutes."""
    if url is None:
        url = current_app.config["REDIS_URL"]
    return Queue(name, connection=connection(url), default_timeout=1800)


def enqueue(
    job: str,
    *args,
    queue: str = DEFAULT,
    job_id: str | None = None,
    retry: Retry | None = None,
    after_commit: bool = True,
    **options,
) -> None:
    """Queue `workers.jobs.<job>(*args)` on `queue`.

    By default the job is put on the queue once the current transaction commits, and dropped
    if it rolls back: a fast worker must find the rows the job is about, and a job must never
    run for rows that were not written. A job id makes a second enqueue of the same work a no-op.
    `options` go to RQ as they are (`unique`, `result_ttl`, `failure_ttl`).
    """
    url = current_app.config["REDIS_URL"]  # read now: the commit hook may run after the request

    def put() -> None:
        get_queue(queue, url).enqueue(f"workers.jobs.{job}", *args, job_id=job_id, retry=retry, **options)

    if after_commit:
        on_commit(put)
    else:
        put()


@dataclass(frozen=True)
class Periodic:
    """A job the scheduler runs every `interval` seconds (`rq cron workers/schedule.py`)."""

    job: str
    queue: str
    interval: int
    purpose: str


# Every periodic job is safe to run twice and at any time: `flask jobs run NAME` runs one now.
PERIODIC = (
    Periodic("process_tracking_hits", DEFAULT, 5, "opens and clicks from Redis into the event log"),
    Periodic("start_due_campaigns", DEFAULT, 15, "start scheduled campaigns whose time has come"),
    Periodic("run_recurring_campaigns", DEFAULT, 15, "start the due run of each recurring series"),
    Periodic("recover_stale_claims", DEFAULT, 60, "rows a dead worker had claimed become 'unknown'"),
    Periodic("requeue_due_retries", DEFAULT, 30, "recipients refused for now, once their wait is over"),
    Periodic("requeue_stalled_campaigns", DEFAULT, 60, "queue again the work of campaigns whose jobs were lost"),
    Periodic("decide_ab_tests", DEFAULT, 30, "send the winner of A/B tests whose wait is over"),
    Periodic("recover_stale_messages", DEFAULT, 60, "transactional messages a dead worker had claimed"),
    Periodic("requeue_lost_messages", DEFAULT, 30, "transactional messages whose job Redis lost"),
    Periodic("requeue_stuck_webhooks", WEBHOOKS, 60, "stored provider webhooks nobody processed"),
    # A provider that stopped answering or whose key was revoked shows on its page within 15 minutes.
    Periodic("probe_providers", DEFAULT, 900, "check every provider's connection and credentials"),
    # fan_out's caller also queues a run at once; this catches retries and lost enqueues.
    Periodic("deliver_webhooks", WEBHOOKS, 10, "POST due outbound webhook deliveries"),
    # A record that disappeared or a DKIM key that no longer matches raises an alert within a day.
    Periodic("reverify_domains", DEFAULT, 86_400, "look every verified sending domain's DNS records up again"),
    # A blocklist listing of a dedicated IP raises an alert within a day (the page's "Check now" at once).
    Periodic("check_ips", DEFAULT, 86_400, "look every dedicated IP's PTR, FCrDNS and blocklist listings up"),
    Periodic("check_domain_blocklists", DEFAULT, 86_400, "look every sending domain up on the domain blocklists"),
    # A new day's capacity opens at the workspace's midnight: within a minute its recipients go.
    Periodic("release_warming", DEFAULT, 60, "let out what each warming domain's daily cap allows"),
    Periodic("check_warming_thresholds", DEFAULT, 3_600, "pause warming domains over a bounce or complaint threshold"),
    # Yesterday (UTC) is complete: each domain's 7-day score becomes that day's point of its history.
    Periodic("score_health", DEFAULT, 86_400, "score every sending domain's health for the last complete day"),
    # Apple rotates its relay ranges: a day-old copy tells MPP prefetches from people (when a URL is set).
    Periodic("refresh_machine_ranges", DEFAULT, 86_400, "download the Apple relay and scanner address lists"),
    # The event log's next months exist before their first event (PostgreSQL; nothing to do on SQLite).
    Periodic("ensure_event_partitions", DEFAULT, 86_400, "make the event log's partitions of the coming months"),
    # Double opt-in: who never confirmed is deleted after the workspace's unconfirmed_purge_days.
    Periodic("purge_unconfirmed_subscribers", DEFAULT, 3_600, "delete subscribers who never confirmed their signup"),
    # The advisor looks at each campaign within five minutes of its end, and at every workspace daily.
    Periodic("advise_finished_campaigns", DEFAULT, 300, "check campaigns that finished in the last 15 minutes"),
    Periodic("advise_workspaces", DEFAULT, 86_400, "check every workspace's rates, lists and domains"),
    # Flows: a due step starts within 15 seconds; list, segment and date triggers are looked at each minute.
    Periodic("advance_flows", DEFAULT, 10, "move every flow enrollment whose step is due"),
    Periodic(
        "scan_flow_triggers", DEFAULT, 60, "enroll people who joined a flow's list or segment, or whose date is today"
    ),
    # Growth: what is past its date leaves the balances within a day (a redemption checks the date itself).
    Periodic("expire_loyalty_points", DEFAULT, 86_400, "earned loyalty points past their expiry leave the balances"),
    Periodic("expire_gift_cards", DEFAULT, 86_400, "gift cards past their date expire, with what they held"),
    # An order placed in time still counts whenever this runs (on_order checks the order's date itself).
    Periodic("expire_referrals", DEFAULT, 86_400, "pending referrals past their expiry become expired"),
    # SMS: a scheduled campaign starts within 15 seconds; a text held for quiet hours goes when they end.
    Periodic("tick_sms_campaigns", DEFAULT, 15, "start due SMS campaigns, queue held texts, finish sent ones"),
)
PERIODIC_BY_NAME = {p.job: p for p in PERIODIC}
_LAST_RUN = "herald:jobs:last-run"  # a hash: job name -> JSON of its latest run


def record_run(conn: redis.Redis, job: str, started: float, seconds: float, error: str | None) -> None:
    """Note a periodic job's latest run, for `flask jobs list`; best effort (Redis may be away)."""
    run = {"at": started, "seconds": round(seconds, 3), "error": error}
    try:
        conn.hset(_LAST_RUN, job, json.dumps(run))
    except redis.RedisError:
        pass


def last_runs(conn: redis.Redis) -> dict[str, dict]:
    """Each periodic job's latest run: {"at": unix time, "seconds", "error": None or the error}."""
    return {k.decode(): json.loads(v) for k, v in conn.hgetall(_LAST_RUN).items()}
