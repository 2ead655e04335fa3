"""Both benchmarks run end to end at a small size, exit 0 and print sane figures.

They run as subprocesses with a clean environment: each creates (and drops) its own database
and Redis db, so the suite's DATABASE_URL and REDIS_URL must not reach them.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import port_answers

REPO = Path(__file__).resolve().parents[2]
# What conftest sets for the suite; the benchmarks set their own.
SUITE_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "BASE_URL",
    "HERALD_INSTANCE",
    "MAILCATCHER_PORT",
    "LOGIN_RATE_LIMIT",
    "HERALD_TEST_SQLITE",
    "SEND_BATCH_SIZE",
    "PORT",
)

pytestmark = pytest.mark.bench


def _run(args: list[str], timeout: float) -> tuple[int, dict, str, int]:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the benchmark cleans up its processes and database on SIGTERM
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"{' '.join(args)} took more than {timeout} s:\n{out[-4000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    figures = json.loads(lines[-1]) if lines else {}
    return proc.returncode, figures, out, proc.pid


def _database_exists(name: str) -> bool:
    if not port_answers("127.0.0.1", 5432):
        return False
    import psycopg

    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_send_bench_delivers_every_message_once_and_reports_rates():
    code, f, out, pid = _run(["bench.send_bench", "--n", "300", "--workers", "1", "--json"], timeout=90)
    assert code == 0, out[-4000:]
    assert f["bench"] == "send" and f["ok"] is True, out[-4000:]
    assert f["n"] == 300 and f["received"] == 300 and f["recorded_sent"] == 300 and f["status"] == "sent"
    assert f["missing"] == 0 and f["duplicated"] == 0 and f["unexpected"] == 0
    assert f["bare_received"] == 300 and f["bare_missing"] == 0 and f["bare_duplicated"] == 0
    assert f["pipeline_rate"] > 0 and f["bare_rate"] > 0 and 0 < f["ratio"]
    assert f["pipeline_seconds"] > 0 and f["bare_seconds"] > 0
    assert f["worker_cpu_total_ms_per_msg"] > 0 and f["bare_cpu_ms_per_msg"] > 0
    assert f["message_bytes"] > 20_000  # the realistic ~25 KB message, not a stub
    assert "messages" in out and "msg/s" in out  # the human-readable table is printed too
    assert not _database_exists(f"herald_bench_{pid}")


def test_pixel_bench_loses_no_hit_and_reports_rates():
    code, f, out, pid = _run(
        ["bench.pixel_bench", "--seconds", "2", "--connections", "4", "--recipients", "200", "--json", "--allow-skip"],
        timeout=90,
    )
    assert code == 0, out[-4000:]
    if f.get("skipped"):
        pytest.skip(f["reason"])
    assert f["bench"] == "pixel" and f["ok"] is True, out[-4000:]
    assert f["herald_rps"] > 0 and f["bare_rps"] > 0 and f["ratio"] > 0
    assert f["herald_ok"] > 0 and f["lost"] == 0 and f["duplicated"] == 0
    # Every answered request became one event; only requests in flight when wrk stopped may add to that.
    assert f["labelled_stored"] == f["herald_ok"] + f["in_flight_stored"]
    assert f["in_flight_stored"] <= f["unanswered"]
    assert f["opens_stored"] == f["queued"] == f["drained"]
    assert not _database_exists(f"herald_pixel_{pid}")


def test_design_bench_compiles_and_personalizes():
    code, f, out, _ = _run(["bench.design_bench", "--runs", "5", "--recipients", "20", "--json"], timeout=60)
    assert code == 0, out[-4000:]
    assert f["blocks"] == 30 and f["html_bytes"] > 0 and f["tracked_links"] > 0, f
    assert f["compile_median_ms"] > 0 and f["render_median_ms"] > 0, f


def test_dkim_bench_signs_messages_that_dkimpy_verifies():
    code, f, out, _ = _run(["bench.dkim_bench", "--messages", "50", "--dkimpy-messages", "2", "--json"], timeout=60)
    assert code == 0, out[-4000:]
    assert f["bench"] == "dkim" and f["ok"] is True and f["verified"] == 50 and f["failed"] == 0, f
    assert f["message_bytes"] > 20_000  # the realistic campaign message, not a stub
    assert f["sign_median_ms"] > 0 and f["rsa_median_ms"] > 0 and f["ratio_to_rsa"] >= 1, f
    assert "DkimSigner.sign" in out


def test_send_bench_with_dkim_signs_every_message():
    code, f, out, pid = _run(["bench.send_bench", "--n", "200", "--workers", "1", "--dkim", "--json"], timeout=90)
    assert code == 0, out[-4000:]
    assert f["ok"] is True and f["dkim"] is True and f["dkim_verified"] is True, out[-4000:]
    assert f["received"] == 200 and f["recorded_sent"] == 200 and f["missing"] == 0 and f["duplicated"] == 0
    assert not _database_exists(f"herald_bench_{pid}")


def test_audience_bench_writes_the_same_rows_as_the_hand_written_sql():
    code, f, out, pid = _run(["bench.audience_bench", "--n", "5000", "--suppressed", "250", "--json"], timeout=90)
    assert code == 0, out[-4000:]
    assert f["bench"] == "audience" and f["ok"] is True and f["same_rows"] is True, out[-4000:]
    # 250 suppressed and 1% unsubscribed are written as failed rows, with their reasons.
    assert f["counts"] == {"pending": 5000 - 250 - 50, "failed": 300}, f
    assert f["herald_seconds"] > 0 and f["hand_written_seconds"] > 0 and f["ratio"] > 0
    assert f["peak_rss_mb_after"] >= f["peak_rss_mb_before"] > 0
    assert "rows/s" in out
    assert not _database_exists(f"herald_audience_{pid}")


def test_webhook_bench_counts_every_event_once_and_reports_rates():
    code, f, out, pid = _run(["bench.webhook_bench", "--events", "3000", "--batch", "500", "--json"], timeout=90)
    assert code == 0, out[-4000:]
    assert f["bench"] == "webhooks" and f["ok"] is True, out[-4000:]
    assert f["events"] == f["events_stored"] == f["events_new"] == 3000
    assert f["posts"] > f["batches"] == 6  # some batches are posted twice, as SendGrid retries
    assert f["answered_2xx"] == f["processed"] == f["posts"] and f["failed"] == 0 and f["errors"] == 0
    assert f["intake_events_per_s"] > 0 and f["processing_events_per_s"] > 0 and f["ingest_events_per_s"] > 0
    assert f["ratio"] > 0 and "events/s" in out
    assert not _database_exists(f"herald_webhooks_{pid}")


def test_throttle_bench_holds_back_only_the_throttled_pair_and_reports_the_decisions_cost():
    code, f, out, _ = _run(["bench.throttle_bench", "--messages", "5000", "--json"], timeout=90)
    assert code == 0, out[-4000:]
    assert f["bench"] == "throttle" and f["ok"] is True and f["others_all_allowed"] is True, out[-4000:]
    assert 0 < f["gmail_allowed"] <= f["gmail_allowed_most"] < f["gmail_wanted"], f
    assert f["decision_ms_per_msg"] > 0 and f["naive_ms_per_msg"] > 0 and f["ratio_to_target"] > 0, f
    assert "µs/msg" in out and "Router.order" in out


def test_insights_bench_times_every_insights_call_and_the_rollups_match_the_event_log():
    if not port_answers("127.0.0.1", 5432):
        pytest.skip("the insights benchmark builds its events with PostgreSQL's generate_series")
    # The 150 ms goal is the full-size run's; at this size, on a machine busy with the rest of the suite, a
    # generous budget keeps the run honest about correctness without failing on a neighbour's load.
    args = [
        "bench.insights_bench",
        "--events",
        "40000",
        "--campaigns",
        "10",
        "--repeat",
        "2",
        "--budget-ms",
        "1000",
        "--json",
    ]
    code, f, out, pid = _run(args, timeout=120)
    assert code == 0, out[-4000:]
    assert f["bench"] == "insights" and f["ok"] is True and f["slow"] == {}, out[-4000:]
    assert f["events"] == 40000 and f["recipients"] == 5000 and f["rollup_rows"] > 10
    assert len(f["p95_ms"]) >= 19 and all(ms > 0 for ms in f["p95_ms"].values())
    assert "api overview" in out and "p95 ms" in out
    assert not _database_exists(f"herald_insights_{pid}")


def test_segment_bench_counts_the_same_as_the_hand_written_sql():
    if not port_answers("127.0.0.1", 5432):
        pytest.skip("the segment benchmark builds its subscribers with PostgreSQL's generate_series")
    code, f, out, pid = _run(
        ["bench.segment_bench", "--n", "20000", "--rounds", "2", "--max-ratio", "5", "--json"], timeout=120
    )
    assert code == 0, out[-4000:]
    assert f["bench"] == "segments" and f["ok"] is True and f["subscribers"] == 20000, out[-4000:]
    assert f["matches"] > 0 and f["herald_ms"] > 0 and f["hand_ms"] > 0
    assert "hand-written SQL" in out and "ratio" in out
    assert not _database_exists(f"herald_segments_{pid}")


def test_flow_bench_advances_every_due_step_once():
    if not port_answers("127.0.0.1", 5432):
        pytest.skip("the flow benchmark builds its people with PostgreSQL's generate_series")
    code, f, out, pid = _run(
        ["bench.flow_bench", "--n", "20000", "--due", "5000", "--min-rate", "200", "--json"], timeout=120
    )
    assert code == 0, out[-4000:]
    assert f["bench"] == "flows" and f["ok"] is True and f["runs"] == 5000 and f["rate"] >= 200, out[-4000:]
    assert "steps per second" in out
    assert not _database_exists(f"herald_flows_{pid}")


def test_sms_bench_writes_the_audience_and_texts_each_person_once_within_the_rate():
    if not port_answers("127.0.0.1", 5432):
        pytest.skip("the SMS benchmark builds its people with PostgreSQL's generate_series")
    code, f, out, pid = _run(["bench.sms_bench", "--n", "5000", "--send", "100", "--rate", "50", "--json"], timeout=120)
    assert code == 0, out[-4000:]
    assert f["bench"] == "sms" and f["ok"] is True and f["rows"] == 5000 and f["texts"] == 100, out[-4000:]
    assert f["peak_per_s"] <= 50, out[-4000:]
    assert "texts per second" in out
    assert not _database_exists(f"herald_sms_{pid}")
