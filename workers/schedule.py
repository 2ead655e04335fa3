"""Periodic jobs, run by `rq cron workers/schedule.py` (the Procfile's scheduler)."""

from rq import cron

from app.queueing import DEFAULT, WEBHOOKS
from workers.jobs import (
    decide_ab_tests,
    deliver_webhooks,
    probe_providers,
    process_tracking_hits,
    recover_stale_claims,
    recover_stale_messages,
    requeue_due_retries,
    requeue_lost_messages,
    requeue_stalled_campaigns,
    requeue_stuck_webhooks,
    run_recurring_campaigns,
    start_due_campaigns,
)

cron.register(process_tracking_hits, queue_name=DEFAULT, interval=5)
cron.register(start_due_campaigns, queue_name=DEFAULT, interval=15)
cron.register(run_recurring_campaigns, queue_name=DEFAULT, interval=15)
cron.register(recover_stale_claims, queue_name=DEFAULT, interval=60)
cron.register(requeue_due_retries, queue_name=DEFAULT, interval=30)
cron.register(requeue_stalled_campaigns, queue_name=DEFAULT, interval=60)
cron.register(decide_ab_tests, queue_name=DEFAULT, interval=30)
cron.register(recover_stale_messages, queue_name=DEFAULT, interval=60)
cron.register(requeue_lost_messages, queue_name=DEFAULT, interval=30)
cron.register(requeue_stuck_webhooks, queue_name=WEBHOOKS, interval=60)
# A provider that stopped answering or whose key was revoked shows on its page within 15 minutes.
cron.register(probe_providers, queue_name=DEFAULT, interval=900)
# Outbound webhooks: fan_out's caller also queues a run at once; this catches retries and lost enqueues.
cron.register(deliver_webhooks, queue_name=WEBHOOKS, interval=10)
