"""Two schedulers: one leads, the other stands by until the lease lapses."""

import time

from app.redis_client import redis_for
from workers.scheduler import Lease


def test_only_one_scheduler_leads_and_a_standby_takes_over(redis_url):
    r = redis_for(redis_url)
    leader, standby = Lease(r, "test:lease", seconds=1), Lease(r, "test:lease", seconds=1)
    assert leader.acquire()
    assert not standby.acquire()
    assert leader.renew() and not standby.renew()
    time.sleep(1.2)  # the leader died without releasing
    assert standby.acquire()
    assert not leader.renew()
    standby.release()
    assert leader.acquire()
    r.delete("test:lease")
