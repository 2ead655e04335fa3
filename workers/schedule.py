"""Periodic jobs, run by `rq cron workers/schedule.py` (the Procfile's scheduler)."""

from rq import cron

from workers.jobs import process_tracking_hits, recover_stale_claims, requeue_due_retries, start_due_campaigns
from workers.queues import DEFAULT

cron.register(process_tracking_hits, queue_name=DEFAULT, interval=5)
cron.register(start_due_campaigns, queue_name=DEFAULT, interval=15)
cron.register(recover_stale_claims, queue_name=DEFAULT, interval=60)
cron.register(requeue_due_retries, queue_name=DEFAULT, interval=30)
