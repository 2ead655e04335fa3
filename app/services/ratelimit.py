"""Send-rate limits shared by every worker on every machine, kept in Redis."""

import time

import redis


class PerSecondLimiter:
    """At most `limit` tokens per wall-clock second across all processes.

    Tokens are reserved from Redis in blocks, so a worker makes one round trip per block
    rather than one per message; an unused remainder simply expires with its second.
    """

    def __init__(self, r: redis.Redis, key: str, limit: int | None, block: int = 10):
        self.r = r
        self.key = key
        self.limit = limit
        self.block = max(1, min(block, limit or 1))
        self.second = None
        self.available = 0

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        if not self.limit:
            return 0.0
        waited = 0.0
        while True:
            now = time.time()
            sec = int(now)
            if sec != self.second:
                self.second, self.available = sec, 0
            if self.available > 0:
                self.available -= 1
                return waited
            key = f"{self.key}:{sec}"
            pipe = self.r.pipeline()
            pipe.incrby(key, self.block)
            pipe.expire(key, 3)
            total, _ = pipe.execute()
            granted = min(self.block, max(0, self.limit - (total - self.block)))
            if granted > 0:
                self.available = granted - 1
                return waited
            pause = sec + 1 - now + 0.001
            time.sleep(pause)
            waited += pause
