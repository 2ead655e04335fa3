"""The scheduler process: rq's cron, run by whichever scheduler holds a Redis lease.

A second scheduler (another machine, a restart overlapping the old one) waits as a
standby and takes over when the leader's lease lapses, so periodic jobs never run twice.
"""

import logging
import os
import signal
import threading
import time
import uuid

import redis
from rq.cron import CronScheduler

LEASE_KEY = "herald:scheduler:leader"
LEASE_SECONDS = 30
log = logging.getLogger("herald.scheduler")

# Extend the lease only while we still hold it (compare-and-expire).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""


class Lease:
    def __init__(self, r: redis.Redis, key: str = LEASE_KEY, seconds: int = LEASE_SECONDS):
        self.r, self.key, self.seconds = r, key, seconds
        self.token = uuid.uuid4().hex
        self._renew = r.register_script(_RENEW)

    def acquire(self) -> bool:
        return bool(self.r.set(self.key, self.token, nx=True, ex=self.seconds))

    def renew(self) -> bool:
        return bool(self._renew(keys=[self.key], args=[self.token, self.seconds]))

    def release(self) -> None:
        if self.r.get(self.key) == self.token.encode():
            self.r.delete(self.key)


def _keep_leading(lease: Lease, stop: threading.Event) -> None:
    while not stop.wait(lease.seconds / 3):
        try:
            if not lease.renew():
                log.warning("lost the scheduler lease; stepping down")
                os.kill(os.getpid(), signal.SIGTERM)
                return
        except redis.RedisError as exc:  # Redis away: keep trying until the lease would lapse
            log.warning("could not renew the scheduler lease: %s", exc)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    r = redis.Redis.from_url(url)
    lease = Lease(r)
    waiting_logged = False
    while not lease.acquire():
        if not waiting_logged:
            log.info("another scheduler leads; standing by")
            waiting_logged = True
        time.sleep(5)
    log.info("leading the schedule")
    stop = threading.Event()
    threading.Thread(target=_keep_leading, args=(lease, stop), daemon=True).start()
    cron = CronScheduler(connection=r)
    cron.load_config_from_file("workers/schedule.py")
    try:
        cron.start()
    finally:
        stop.set()
        lease.release()


if __name__ == "__main__":
    main()
