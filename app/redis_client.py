"""One Redis connection pool per URL, shared by services, jobs and views."""

from functools import lru_cache

import redis
from flask import current_app


@lru_cache(maxsize=8)
def redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    return redis_for(current_app.config["REDIS_URL"])
