"""The RQ worker class Herald runs: the app is built once, and sending jobs run in the worker.

RQ forks a work-horse per job. Without building the app first, each job would build the
Flask app anew (~0.7 s), which dominated small jobs such as the tracking drain.

The jobs of the `sends`, `transactional` and `webhooks` queues run in the worker process itself, as
rq's SimpleWorker runs every job. A forked horse starts with none of what the last job
learnt, so each batch of 500 would pay again for:
- compiling the campaign's templates (~50 ms for a 25 KB newsletter);
- a database connection, a Redis connection and an SMTP session;
- the copy-on-write faults of the fork.

That came to ~0.2 ms a message, a fifth of a worker's time (bench/send_bench.py). For a
transactional message it was most of its latency.

What these jobs keep between runs is bounded: the last 32 compiled messages, and pooled
connections. A crash of one of them is recovered like any crash: stale claims expire, RQ
retries the job, and the process manager restarts the worker. Every other job (imports,
scheduled maintenance) still gets a horse of its own.
"""

from rq import Worker
from rq.defaults import DEFAULT_WORKER_TTL
from rq.worker import WorkerStatus

from app.queueing import SENDS, TRANSACTIONAL, WEBHOOKS
from workers.jobs import _app

# Webhook payloads too: a provider posts thousands of small requests (Mailgun and Postmark one
# event each), and a horse per payload would pay a fork and a new database connection each time.
IN_PROCESS = frozenset({SENDS, TRANSACTIONAL, WEBHOOKS})


class HeraldWorker(Worker):
    def work(self, *args, **kwargs):
        _app()  # no database or Redis connection is opened here, so nothing is shared across the fork
        return super().work(*args, **kwargs)

    def execute_job(self, job, queue):
        if queue.name not in IN_PROCESS:
            return super().execute_job(job, queue)
        # SimpleWorker.execute_job: no horse, the job runs here (its timeout still applies).
        self.prepare_execution(job)
        self.perform_job(job, queue)
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job) -> int:
        if job.origin not in IN_PROCESS:
            return super().get_heartbeat_ttl(job)
        # Nobody beats the heart while the job runs in this process (a horse's parent would):
        # the worker must stay registered for as long as the job may run, as SimpleWorker's does.
        if job.timeout == -1:
            return DEFAULT_WORKER_TTL
        return int(job.timeout or DEFAULT_WORKER_TTL) + 60
