"""A flow's guarantee with a real process: the engine SIGKILLed while it moves hundreds of people
through an email step, then run again, leaves every step done once and every person sent the email
once (recipient rows and step runs are unique; each batch commits whole or not at all; rows whose
send job was lost with the process are queued again by the periodic requeue)."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import CampaignRecipient, FlowEnrollment, FlowStepRun, Subscriber
from app.services.automation import enrollment, flow_engine, flows
from app.services.campaigns import dispatch
from tests.factories import create_list, create_smtp_provider, create_subscribers, create_template, people

ROOT = Path(__file__).resolve().parents[2]
ENGINE = """
from datetime import datetime, timedelta, timezone
from app import create_app
from app.services.automation import flow_engine
with create_app().app_context():
    while flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(minutes=5), batch=40, budget=120):
        pass
"""
# 600 people are 1,200 step runs: each kill below lands after 300 more, well before the end.
N = 600


def _runs() -> int:
    db.session.rollback()  # see what the other process committed
    return db.session.scalar(select(func.count()).select_from(FlowStepRun)) or 0


def test_a_killed_engine_leaves_no_step_done_twice_and_nobody_mailed_twice(workspace, smtp_sink, worker):
    create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(workspace.id, subject="Welcome, {{ subscriber.email }}", name="Welcome")
    flow = flows.create_flow(workspace.id, {
        "name": "Welcome", "trigger": {"type": "api"},
        "steps": [{"type": "email", "template_id": tpl.id, "from_email": "hello@example.com"},
                  {"type": "update", "add_tags": ["welcomed"]}],
    })  # fmt: skip
    flows.activate(workspace.id, flow.id)
    lst = create_list(workspace.id, "Everyone")
    create_subscribers(workspace.id, people(N, email="w{i}@example.org", name=None), lst.id)
    db.session.commit()
    ids = list(db.session.scalars(select(Subscriber.id)))
    assert len(enrollment.enroll(flow, {sid: {} for sid in ids})) == N
    db.session.commit()

    for _ in range(2):  # killed twice, at whatever point it had reached
        proc = subprocess.Popen([sys.executable, "-c", ENGINE], cwd=ROOT, env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline, before = time.monotonic() + 60, _runs()
        while _runs() < before + 300 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the engine finished before it could be killed mid-way"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert 0 < _runs() < 2 * N, "the kills should land mid-way"

    while flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(minutes=5)):
        pass
    # A kill between a batch's commit and its queueing leaves rows pending with no job: the periodic
    # requeue_stalled_campaigns queues them (after 10 minutes in production; at once here).
    dispatch.requeue_stalled_campaigns(stall_seconds=0)
    db.session.commit()
    worker()
    assert _runs() == 2 * N
    to = [m["rcpt_tos"][0] for m in smtp_sink.messages]
    assert len(to) == N and len(set(to)) == N
    rows = db.session.scalar(select(func.count()).select_from(CampaignRecipient))
    assert rows == N
    done = db.session.scalar(select(func.count()).where(FlowEnrollment.status == "completed"))
    assert done == N
