"""Queue names and the Redis connection the queues use."""

import redis
from rq import Queue, Retry

TRANSACTIONAL = "transactional"  # one message at once (POST /messages): first, and with a worker of its own
SENDS = "sends"
WEBHOOKS = "webhooks"
DEFAULT = "default"
ALL = (TRANSACTIONAL, SENDS, WEBHOOKS, DEFAULT)

SEND_RETRY = Retry(max=5, interval=[10, 30, 60, 120, 300])
# A password reset is worth little an hour late: retry sooner, give up sooner (then the message fails).
TRANSACTIONAL_RETRY = Retry(max=4, interval=[5, 15, 30, 60])


def connection(url: str) -> redis.Redis:
    from app.redis_client import redis_for

    return redis_for(url)


def get_queue(name: str, url: str | None = None) -> Queue:
    if url is None:
        from flask import current_app

        url = current_app.config["REDIS_URL"]
    return Queue(name, connection=connection(url), default_timeout=1800)
