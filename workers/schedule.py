"""Periodic jobs, run by `rq cron workers/schedule.py` (the Procfile's scheduler).

The table is app.queueing.PERIODIC (so `flask jobs list` reads the same one); each entry names a
function of workers/jobs.py.
"""

from rq import cron

from app.queueing import PERIODIC
from workers import jobs

for periodic in PERIODIC:
    cron.register(getattr(jobs, periodic.job), queue_name=periodic.queue, interval=periodic.interval)
