"""The one door to RQ: queue names, retry policies and the Redis connection the queues use.

Services, jobs, the worker and the scheduler all import this module (DESIGN.md §2); nothing
in `app/` imports `workers/`. Jobs are named by their path (`"workers.jobs.send_batch"`), so
enqueueing one never imports the worker code.
"""

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
