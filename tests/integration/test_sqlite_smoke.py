"""The embedded default keeps working: SQLite, the CLI commands, and a campaign sent end to end."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.sqlite

SCRIPT = r"""
import os, sys
from app import create_app
from app.extensions import db
from app.services.audience import contacts as audience
from app.services.campaigns import drafts as campaigns, lifecycle
from app.services.content import templates
from app.services.delivery import providers
from app.services.platform import workspaces
from tests.support import run_worker

app = create_app()
with app.app_context():
    ws = workspaces.workspace_by_slug(sys.argv[1])
    lst = audience.create_list(ws.id, "Smoke")
    audience.import_subscribers(ws.id, audience.parse_csv(b"email,name\na@example.com,A\nB@example.com,B\n"), [lst.id])
    prov = providers.create_provider(ws.id, "Sink", "smtp", {"host": "127.0.0.1", "port": int(sys.argv[2])}, {}, is_default=True)
    tpl = templates.create_template(ws.id, {"name": "T", "subject": "Hi {{ subscriber.name }}",
        "body_html": "<p>Hello <a href='https://example.com/x'>x</a> <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>"})
    c = campaigns.create_campaign(ws.id, {"name": "C", "template_id": tpl.id, "list_ids": [lst.id],
        "from_name": "Smoke", "from_email": "smoke@example.com"})
    db.session.commit()
    lifecycle.send_now(ws.id, c.id)
    db.session.commit()
    run_worker(os.environ["REDIS_URL"])
    db.session.expire_all()
    print("STATUS", campaigns.get_campaign(ws.id, c.id).status, campaigns.campaign_stats(c.id)["sent"])
"""


def _env(tmp: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp}/herald.db",
            "HERALD_INSTANCE": tmp,
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _flask(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sqlite_cli_and_campaign_end_to_end(smtp_sink, redis_url):
    tmp = tempfile.mkdtemp(prefix="herald-sqlite-")
    env = _env(tmp, redis_url)
    r = _flask(env, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    r = _flask(env, "create-workspace", "Smoke Shop", "--owner", "owner@example.com", "--password", "long password 123")
    assert r.returncode == 0, r.stderr
    slug = r.stdout.strip().splitlines()[-1]
    assert slug == "smoke-shop"
    r = _flask(env, "create-api-key", "--workspace", slug, "--name", "ci")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("hk_")
    r = _flask(env, "create-api-key", "--workspace", "no-such-workspace")
    assert r.returncode != 0 and "No workspace" in r.stderr
    r = _flask(env, "create-workspace", "Again", "--owner", "owner@example.com", "--password", "long password 123")
    assert r.returncode != 0 and "already exists" in r.stderr
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, slug, str(smtp_sink.port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "STATUS sent 2" in r.stdout
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["a@example.com", "b@example.com"]
    # WAL mode: web, worker and scheduler can write at the same time.
    import sqlite3

    assert sqlite3.connect(f"{tmp}/herald.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
