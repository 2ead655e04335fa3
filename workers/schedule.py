"""Periodic jobs, run by `rq cron workers/schedule.py` (the Procfile's scheduler)."""

from rq import cron

from workers.jobs import (
    decide_ab_tests,
    process_tracking_hits,
    recover_stale_claims,
    recover_stale_messages,
    requeue_due_retries,
    requeue_lost_messages,
    requeue_stalled_campaigns,
    run_recurring_campaigns,
    start_due_campaigns,
)
from workers.queues import DEFAULT

cron.register(process_tracking_hits, queue_name=DEFAULT, interval=5)
cron.register(start_due_campaigns, queue_name=DEFAULT, interval=15)
cron.register(run_recurring_campaigns, queue_name=DEFAULT, interval=15)
cron.register(recover_stale_claims, queue_name=DEFAULT, interval=60)
cron.register(requeue_due_retries, queue_name=DEFAULT, interval=30)
cron.register(requeue_stalled_campaigns, queue_name=DEFAULT, interval=60)
cron.register(decide_ab_tests, queue_name=DEFAULT, interval=30)
cron.register(recover_stale_messages, queue_name=DEFAULT, interval=60)
cron.register(requeue_lost_messages, queue_name=DEFAULT, interval=30)
