"""Periodic jobs, run by `rq cron workers/schedule.py` (the Procfile's scheduler)."""

from rq import cron

from workers.jobs import process_tracking_hits
from workers.queues import DEFAULT

cron.register(process_tracking_hits, queue_name=DEFAULT, interval=5)
