"""`make run`'s process set for real: web, worker, scheduler and mail catcher under honcho.

A campaign sent through the running processes lands in the outbox, and every link in it
points at the web process (honcho gives each process its own PORT, so this once broke).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support import free_port, port_answers

ROOT = Path(__file__).resolve().parents[2]

SEND = r"""
from app import create_app
from app.extensions import db
from app.services.audience import contacts as audience
from app.services.campaigns import drafts as campaigns, lifecycle
from app.services.content import templates
from app.services.platform import workspaces
app = create_app()
with app.app_context():
    ws = workspaces.create_workspace("Run Shop", "owner@example.com", "long password 123")
    lst = audience.create_list(ws.id, "L")
    audience.import_subscribers(ws.id, [{"email": "ann@example.com", "name": "Ann"}], [lst.id])
    tpl = templates.create_template(ws.id, {"name": "T", "subject": "Hello {{ subscriber.name }}",
        "body_html": "<p><a href='https://example.com/a'>a</a> <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>"})
    c = campaigns.create_campaign(ws.id, {"name": "C", "template_id": tpl.id, "list_ids": [lst.id],
        "from_name": "Shop", "from_email": "shop@example.com"})
    db.session.commit()
    lifecycle.send_now(ws.id, c.id)
    db.session.commit()
    print("CAMPAIGN", c.id)
"""

CAUGHT = r"""
from app import create_app
from app.extensions import db
from app.models import CaughtMessage
app = create_app()
with app.app_context():
    m = db.session.scalar(db.select(CaughtMessage))
    print("CAUGHT", m.raw.decode() if m else "")
"""


def test_make_run_processes_send_a_campaign_with_links_to_the_web_process(redis_url):
    tmp = tempfile.mkdtemp(prefix="herald-run-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BASE_URL", "PORT")}
    env.update(
        {
            "PORT": str(port),
            "MAILCATCHER_PORT": str(free_port()),
            "HERALD_INSTANCE": tmp,
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
        }
    )
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not port_answers("127.0.0.1", port) or not port_answers("127.0.0.1", int(env["MAILCATCHER_PORT"])):
            assert proc.poll() is None and time.time() < deadline, "make run's processes did not start"
            time.sleep(0.3)
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/login").status == 200
        sent = subprocess.run(
            [sys.executable, "-c", SEND], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert sent.returncode == 0, sent.stderr[-2000:]
        raw = ""
        while time.time() < deadline + 30 and "List-Unsubscribe" not in raw:
            out = subprocess.run(
                [sys.executable, "-c", CAUGHT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            raw = out.stdout
            time.sleep(0.5)
        assert "Subject: Hello Ann" in raw
        origins = set(re.findall(r"https?://127\.0\.0\.1:\d+", raw))
        assert origins == {f"http://127.0.0.1:{port}"}, origins
        unsub = re.search(r"List-Unsubscribe: <(http://[^>]+)>", raw).group(1)
        assert "Unsubscribe from Run Shop?" in urllib.request.urlopen(unsub).read().decode()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
