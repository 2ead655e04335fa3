"""A provider that errors mid-campaign: the send fails over, and nobody is lost or sent twice."""

import json
import threading
import time
from collections import Counter

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import CampaignRecipient
from app.services.campaigns import drafts, lifecycle
from app.services.delivery import routing
from tests.factories import create_campaign, create_list, create_provider, create_subscribers, create_template, people
from tests.support import free_port


class FakeSendGrid:
    """SendGrid's v3 mail/send as documented: 202 and X-Message-Id; or a 500 / no answer once `fail_after` is spent."""

    def __init__(self, fail_after: int | None = None, failure: str = "500"):
        self.server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
        self.accepted: list[str] = []  # recipients it took (a timed-out request may still be taken)
        self.requests = 0
        self.fail_after, self.failure = fail_after, failure
        self.lock = threading.Lock()
        self.server.expect_request("/v3/mail/send", method="POST").respond_with_handler(self.handle)
        self.server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def handle(self, request):
        with self.lock:
            self.requests += 1
            n = self.requests
        rcpt = json.loads(request.data)["personalizations"][0]["to"][0]["email"]
        if self.fail_after is not None and n > self.fail_after:
            if self.failure == "500":
                return Response(json.dumps({"errors": [{"message": "Internal server error"}]}), 500)
            with self.lock:
                self.accepted.append(rcpt)  # it took the message, but answers too late
            time.sleep(1.5)
        else:
            with self.lock:
                self.accepted.append(rcpt)
        return Response("", 202, headers={"X-Message-Id": f"sg{n}"})

    def stop(self):
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


@pytest.fixture
def sendgrids():
    made = []

    def make(**kw):
        fake = FakeSendGrid(**kw)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.stop()


def _campaign(workspace, primary, backup, n):
    """A draft to p0…p{n-1}, routed by priority through SendGrid "Primary" then "Backup" (two fakes)."""
    lst = create_list(workspace.id)
    create_subscribers(workspace.id, people(n, name=None), lst.id)
    ids = [
        create_provider(workspace.id, "sendgrid", {"api_base_url": fake.url}, {"api_key": f"SG.{name}"}, name).id
        for name, fake in (("Primary", primary), ("Backup", backup))
    ]
    tpl = create_template(workspace.id, "Hi", name="T")
    routing_config = {"strategy": "priority", "providers": ids, "fallback": True}
    camp = create_campaign(workspace.id, tpl.id, [lst.id], name="Failover", routing_config=routing_config)
    db.session.commit()
    return camp, ids


def _rows(camp_id):
    db.session.expire_all()
    return db.session.query(CampaignRecipient).filter_by(campaign_id=camp_id).all()


def test_a_provider_answering_500_mid_campaign_fails_over_with_nobody_lost_or_sent_twice(workspace, worker, sendgrids):
    primary, backup = sendgrids(fail_after=12), sendgrids()
    camp, (pid_a, pid_b) = _campaign(workspace, primary, backup, 40)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    rows = _rows(camp.id)
    assert {r.status for r in rows} == {"sent"}
    received = Counter(primary.accepted + backup.accepted)
    assert len(received) == 40 and max(received.values()) == 1  # everybody, once
    by_provider = Counter(r.provider_id for r in rows)
    assert by_provider == {pid_a: 12, pid_b: 28}
    assert all(r.provider_message_id for r in rows)
    note = routing.failover_note(camp.id)
    assert note["from"] == "Primary" and note["to"] == "Backup" and "500" in note["reason"]
    assert dict(routing.sent_by_provider(camp.id)) == {"Primary": 12, "Backup": 28}


def test_a_provider_that_stops_answering_fails_over_and_the_unanswered_message_is_never_resent(
    workspace, worker, sendgrids
):
    from workers.jobs import _app

    primary, backup = sendgrids(fail_after=5, failure="timeout"), sendgrids()
    camp, (pid_a, pid_b) = _campaign(workspace, primary, backup, 20)
    config = _app().config
    old = config["PROVIDER_HTTP_TIMEOUT"]
    config["PROVIDER_HTTP_TIMEOUT"] = 0.4
    try:
        lifecycle.send_now(workspace.id, camp.id)
        db.session.commit()
        worker()
    finally:
        config["PROVIDER_HTTP_TIMEOUT"] = old
    rows = _rows(camp.id)
    statuses = Counter(r.status for r in rows)
    assert statuses == {"sent": 19, "unknown": 1}
    unknown = next(r for r in rows if r.status == "unknown")
    assert "may have accepted" in unknown.reason
    # The provider did take it: had Herald resent it elsewhere, this person would have it twice.
    received = Counter(primary.accepted + backup.accepted)
    assert len(received) == 20 and max(received.values()) == 1
    assert Counter(r.provider_id for r in rows if r.status == "sent") == {pid_a: 5, pid_b: 14}


def test_without_fallback_a_failing_provider_holds_the_campaign_and_nothing_goes_elsewhere(
    workspace, worker, sendgrids
):
    primary, backup = sendgrids(fail_after=3), sendgrids()
    camp, (pid_a, _) = _campaign(workspace, primary, backup, 10)
    camp.routing_config = {"strategy": "priority", "providers": [pid_a], "fallback": False}
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    rows = _rows(camp.id)
    assert Counter(r.status for r in rows) == {"sent": 3, "pending": 7}  # retried later, not lost
    assert backup.accepted == [] and len(primary.accepted) == 3
    db.session.expire_all()
    assert "Cannot reach" in drafts.get_campaign(workspace.id, camp.id).last_error
