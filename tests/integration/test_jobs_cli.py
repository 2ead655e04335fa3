"""`flask jobs list` and `flask jobs run NAME`: an operator sees what runs when, and runs one now."""

import subprocess
import sys
import time

from app.queueing import PERIODIC, record_run
from app.redis_client import redis_for


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_list_names_every_periodic_job_with_its_interval_and_no_run_yet(app):
    result = _cli(app, "jobs", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["job", "queue", "every", "latest", "run"]
    assert len(lines) == 1 + len(PERIODIC)
    by_job = {line.split()[0]: line for line in lines[1:]}
    assert "5 s" in by_job["process_tracking_hits"] and "15 min" in by_job["probe_providers"]
    assert "webhooks" in by_job["deliver_webhooks"] and "1 min" in by_job["requeue_stalled_campaigns"]
    assert all("never" in line for line in by_job.values())


def test_running_a_job_now_does_its_work_and_the_list_shows_the_run(app, ctx):
    result = _cli(app, "jobs", "run", "process_tracking_hits")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "process_tracking_hits: 0"  # nothing was queued: no hits moved
    listed = _cli(app, "jobs", "list").output
    line = next(x for x in listed.splitlines() if x.startswith("process_tracking_hits"))
    assert "s ago, ok in" in line
    others = [x for x in listed.splitlines()[1:] if not x.startswith("process_tracking_hits")]
    assert all("never" in x for x in others)


def test_a_failed_run_is_listed_with_its_error(app, redis_url):
    record_run(
        redis_for(redis_url), "probe_providers", time.time() - 600, 1.5, "OperationalError: the database is away"
    )
    line = next(x for x in _cli(app, "jobs", "list").output.splitlines() if x.startswith("probe_providers"))
    assert "10 min ago, failed: OperationalError: the database is away" in line


def test_an_unknown_job_is_a_clear_error_naming_the_jobs(app):
    for name in ("nope", "send_batch", "_run", "../jobs"):
        result = _cli(app, "jobs", "run", name)
        assert result.exit_code != 0
        assert f"No periodic job is called {name!r}" in result.output
        assert "process_tracking_hits" in result.output  # the jobs it could have been


def test_the_scheduler_registers_exactly_the_listed_jobs():
    code = (
        "from rq import cron\n"
        "import workers.schedule\n"
        "for d in cron._job_data_registry: print(d['func'].__name__, d['queue_name'], d['interval'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:-1] == [f"{p.job} {p.queue} {p.interval}" for p in PERIODIC]
