"""Throttling per (From domain × mailbox provider), against real Redis, a real SMTP server and real
workers: a mailbox provider that starts deferring slows its own pair at once and lets it recover step by
step, while mail to every other mailbox provider goes on at full speed, and nobody receives twice."""

import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import redis
from aiosmtpd.controller import Controller
from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, MailboxDomain
from app.providers import ProviderEvent
from app.redis_client import get_redis
from app.services.campaigns import dispatch, lifecycle, recipients, sending
from app.services.delivery import throttle
from app.services.delivery.throttle import PairThrottle, ThrottlePolicy, held_pairs, is_throttling
from app.services.events import provider_events
from app.services.events.provider_events import campaign_ref
from tests.conftest import SMTPSink
from tests.factories import smtp_campaign
from tests.integration.test_send_guarantees import _kill, _statuses, _wait_for, _worker
from tests.support import free_port

GMAIL, MICROSOFT = "g.example.com", "m.example.org"  # domains whose MX the cache says is Google's, Microsoft's
FROM = "news@shop.example.com"
DEFERRAL = "421 4.7.0 Try again later"
FAST = ThrottlePolicy(max_rate=50, min_rate=1, backoff=0.5, cooldown=1, step=5, step_seconds=1)


@pytest.fixture
def r(redis_url):
    """The test Redis, without any pair's state (these tests use no app, whose fixtures would empty it)."""
    conn = redis.Redis.from_url(redis_url)

    def forget():
        for key in conn.scan_iter("herald:throttle:*"):
            conn.delete(key)

    forget()
    yield conn
    forget()


def _ok():
    return SimpleNamespace(failure=None, code=250, enhanced=None, detail="250 OK")


def _deferred(reply=DEFERRAL):
    code, enhanced = int(reply[:3]), reply.split()[1]
    return SimpleNamespace(failure="temporary", code=code, enhanced=enhanced, detail=reply)


@pytest.mark.parametrize(
    ("reply", "throttling"),
    [
        ("421 4.7.0 Try again later", True),
        ("421 4.7.28 Our system has detected an unusual rate of unsolicited mail", True),
        ("451 4.3.2 Please try again later", True),
        ("450 4.7.1 Client host rejected: rate limited", True),
        ("450 4.2.0 Too many messages from this sender", True),
        ("451 4.7.1 Greylisted, try again later", False),  # one (sender, recipient) triple, not the rate
        ("452 4.2.2 The email account that you tried to reach is over quota", False),
        ("450 4.2.1 Mailbox busy", False),
    ],
)
def test_replies_that_ask_the_sender_to_slow_down_are_told_from_those_about_one_recipient(reply, throttling):
    assert is_throttling(int(reply[:3]), reply.split()[1], reply) is throttling


def test_fifty_deferrals_in_one_burst_halve_the_pairs_rate_once_from_what_it_was_sending(r):
    workers = [PairThrottle(r, 1, FROM, FAST) for _ in range(4)]
    for w in workers:  # four workers sent 40 messages to the pair in the last second
        for _ in range(10):
            w.observe("gmail", _ok())
        w.refresh()
    rates = {w.signal("gmail", DEFERRAL) for w in workers for _ in range(50)}  # 200 deferrals at once
    [state] = held_pairs(r, 1, FROM, FAST)
    assert len(rates) == 1 and 10 <= state.rate <= 20, (rates, state)  # ~40/s sent in 1-2 s, halved once
    assert state.label == "Gmail" and state.reason == DEFERRAL and state.ceiling == 50
    # After the cooldown, a deferral halves it again (from where it has recovered to: +5/s a second).
    time.sleep(1.05)
    again = workers[0].signal("gmail", DEFERRAL)
    assert any(again == pytest.approx((state.rate + step) / 2) for step in (5, 10)), (state.rate, again)


def test_a_throttled_pair_is_held_back_alone_and_recovers_step_by_step_until_it_is_free(r):
    policy = ThrottlePolicy(max_rate=4, min_rate=1, backoff=0.5, cooldown=1, step=1, step_seconds=0.5)
    t = PairThrottle(r, 1, FROM, policy)
    t.observe("gmail", _deferred())  # the first message deferred: the pair was sending ~1/s
    assert [s.rate for s in held_pairs(r, 1, FROM, policy)] == [1.0]
    held = t.hold("gmail")
    assert held is not None and held.why == f"throttled: Gmail is deferring mail from shop.example.com ({DEFERRAL})"
    assert 0 < (held.at - datetime.now(timezone.utc)).total_seconds() <= 1.05
    # Nobody else waits: another mailbox provider, the same one for another From domain.
    assert t.hold("microsoft") is None and t.hold("example.net") is None
    assert PairThrottle(r, 1, "news@other.example.com", policy).hold("gmail") is None
    # Then +1/s every half second: 2/s, 3/s, and at 4/s (the ceiling) it is free again, its state dropped.
    time.sleep(0.55)
    assert [s.rate for s in held_pairs(r, 1, FROM, policy)] == [2.0]
    time.sleep(1.0)
    assert held_pairs(r, 1, FROM, policy) == []
    t.refresh()
    assert t.hold("gmail") is None and not r.hexists(throttle.state_key(1, "shop.example.com"), "b:gmail")


def test_a_throttled_pair_takes_slots_at_its_rate_shared_by_every_worker(r):
    policy = ThrottlePolicy(max_rate=100, min_rate=10, backoff=0.1, cooldown=5, step=1, step_seconds=60)
    workers = [PairThrottle(r, 1, FROM, policy) for _ in range(3)]
    workers[0].signal("gmail", DEFERRAL)  # down to the floor: 10/s
    for w in workers:
        w.refresh()
    sent, deadline = [], time.monotonic() + 2.0
    while time.monotonic() < deadline:
        for w in workers:
            w.closed.clear()  # ask Redis each time, as three separate chunks would
            if w.hold("gmail") is None:
                sent.append(time.monotonic())
        time.sleep(0.005)
    # 10/s for two seconds (a slot up to TOLERANCE_SECONDS early may go at once).
    assert 19 <= len(sent) <= 23, len(sent)


@pytest.fixture
def deferring_sink():
    """An SMTP server that takes the first `accept_first` messages to Gmail's domain, then answers 421 to the
    next `deferrals` attempts, then takes everything; it stamps every attempt to Gmail's domain."""

    class DeferringSink(SMTPSink):
        accept_first, deferrals = 30, 15
        gmail_attempts: list = []

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.lower().endswith("@" + GMAIL):
                n = len(self.gmail_attempts)
                refused = self.accept_first <= n < self.accept_first + self.deferrals
                self.gmail_attempts.append((time.time(), refused))
                if refused:
                    return DEFERRAL
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    sink = DeferringSink()
    sink.gmail_attempts = []
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


def _mailbox_cache():
    far = datetime.now(timezone.utc) + timedelta(days=1)
    db.session.add(MailboxDomain(domain=GMAIL, provider="google_workspace", group="gmail", expires_at=far))
    db.session.add(MailboxDomain(domain=MICROSOFT, provider="microsoft365", group="microsoft", expires_at=far))
    db.session.commit()


def _people(n: int) -> list[dict]:
    """n to Gmail's domain and n to Microsoft's, alternating (every chunk holds both)."""
    return [{"email": f"{'g' if i % 2 == 0 else 'm'}{i}@{GMAIL if i % 2 == 0 else MICROSOFT}"} for i in range(2 * n)]


def _arrivals(sink, domain: str) -> list[float]:
    return sorted(m["at"] for m in sink.messages if m["rcpt_tos"][0].endswith("@" + domain))


def _in(times: list[float], start: float, seconds: float) -> int:
    return sum(1 for t in times if start <= t < start + seconds)


def test_a_mailbox_provider_answering_421_slows_its_own_pair_while_the_others_finish_at_full_rate(
    workspace, deferring_sink, redis_url, client
):
    _mailbox_cache()
    n = 150
    camp = smtp_campaign(workspace, deferring_sink, _people(n), provider={"max_sends_per_second": 50}, from_email=FROM)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    redis.Redis.from_url(redis_url).delete("rq:queue:default")  # the prepare job: done here instead
    size = current_app.config["SEND_BATCH_SIZE"]
    current_app.config["SEND_BATCH_SIZE"] = 2 * n // 4  # a batch for each of the four workers
    try:
        ranges = recipients.prepare_campaign(camp.id)
    finally:
        current_app.config["SEND_BATCH_SIZE"] = size
    db.session.commit()
    assert dict(
        db.session.execute(
            select(CampaignRecipient.mailbox_provider, func.count()).group_by(CampaignRecipient.mailbox_provider)
        ).all()
    ) == {"gmail": n, "microsoft": n}
    dispatch.enqueue_batches(camp.id, ranges)
    env = dict(
        os.environ,
        THROTTLE_MAX_RATE="50",
        THROTTLE_MIN_RATE="1",
        THROTTLE_COOLDOWN_SECONDS="1",
        THROTTLE_STEP="5",
        THROTTLE_STEP_SECONDS="1",
        SEND_RETRY_BASE_SECONDS="1",
    )
    workers = [_worker(redis_url, burst=False, env=env) for _ in range(4)]
    notices = []
    try:

        def progressed():
            time.sleep(0.4)
            dispatch.requeue_due_retries()  # the scheduler's periodic job, for the refused recipients
            db.session.commit()
            page = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
            if 'id="throttle-wait"' in page:
                notices.append(page.split('id="throttle-wait"')[1].split("</div></div>")[0])
            return _statuses(camp.id) == {"sent": 2 * n}

        assert _wait_for(progressed, timeout=120), (
            _statuses(camp.id),
            len(deferring_sink.messages),
            Counter(db.session.scalars(select(CampaignRecipient.reason).where(CampaignRecipient.status != "sent"))),
        )
        _wait_for(lambda: db.session.get(Campaign, camp.id).status == "sent", timeout=20)
    finally:
        for w in workers:
            _kill(w)

    received = Counter(m["rcpt_tos"][0] for m in deferring_sink.messages)
    assert len(received) == 2 * n and max(received.values()) == 1  # everyone, once
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).status == "sent"

    gmail, microsoft = _arrivals(deferring_sink, GMAIL), _arrivals(deferring_sink, MICROSOFT)
    refusals = [t for t, refused in deferring_sink.gmail_attempts if refused]
    first_421, last_421 = refusals[0], refusals[-1]
    before = _in(gmail, first_421 - 1, 1)  # Gmail's messages in the second before it started deferring
    after = _in(gmail, first_421, 2) / 2  # ... and per second in the two seconds after
    late = max(_in(gmail, t, 1) for t in gmail if t > last_421 + 3)  # its best second once recovering
    ms_before, ms_after = _in(microsoft, first_421 - 1, 1), _in(microsoft, first_421, 2) / 2
    print(
        f"gmail/s: {before} before the 421s, {after:.1f} after, {late} recovering; microsoft/s: {ms_before} "
        f"before, {ms_after:.1f} after, all {n} in {microsoft[-1] - microsoft[0]:.1f} s; gmail done "
        f"{gmail[-1] - first_421:.1f} s after its first 421; {len(refusals)} refused"
    )
    # Gmail's pair backs off at once (the workers still sent ~25/s to it just before) ...
    assert after <= before * 0.6, (before, after)
    # ... and recovers step by step: once it stops deferring, its rate climbs past where it was cut to.
    assert late >= 2 * max(after, 1), (after, late)
    # Microsoft's recipients never wait for Gmail's: they take what Gmail leaves of the provider's 50/s
    # (the provider stays busy), faster than while the two shared it, and finish before Gmail's.
    assert ms_after + after >= 0.7 * 50 and ms_after >= ms_before, (ms_before, ms_after, after)
    assert microsoft[-1] - microsoft[0] <= n / 50 * 2 + 1, microsoft[-1] - microsoft[0]
    assert microsoft[-1] < gmail[-1]
    # The page said which pair was held back and why while it was.
    assert any(f"Gmail is deferring mail from shop.example.com ({DEFERRAL})" in notice for notice in notices), notices


def _in_process_campaign(workspace, sink, n):
    _mailbox_cache()
    camp = smtp_campaign(workspace, sink, _people(n), from_email=FROM)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    get_redis().delete("rq:queue:default")  # the prepare job: done here instead
    [batch] = recipients.prepare_campaign(camp.id)
    db.session.commit()
    return camp, batch


def test_a_chunk_holds_back_the_throttled_pairs_recipients_and_sends_the_others_at_once(
    workspace, smtp_sink, monkeypatch, client
):
    monkeypatch.setitem(current_app.config, "THROTTLE_MIN_RATE", 4)
    camp, batch = _in_process_campaign(workspace, smtp_sink, 10)
    PairThrottle(get_redis(), workspace.id, FROM, ThrottlePolicy.from_config(current_app.config)).signal(
        "gmail", DEFERRAL
    )  # Gmail deferred just now: 4/s
    monkeypatch.setattr(sending, "HELD_WAIT_SECONDS", 0)  # leave the held ones for later
    scheduled = []
    monkeypatch.setattr(dispatch, "enqueue_batch_at", lambda *args: scheduled.append(args))
    started = time.monotonic()
    sending.send_batch(camp.id, *batch)
    # Gmail's slots refill at 4/s while the batch runs: a slow machine lets a few more through.
    slots = 2 + int((time.monotonic() - started) * 4)
    sent = [m["rcpt_tos"][0] for m in smtp_sink.messages]
    assert sum(1 for a in sent if a.endswith(MICROSOFT)) == 10  # every Microsoft recipient, none waiting
    assert sum(1 for a in sent if a.endswith(GMAIL)) <= slots  # Gmail's slots, no more
    held = db.session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.status == "pending").order_by(CampaignRecipient.id)
    ).all()
    assert len(held) >= 10 - slots and all(r.email.endswith(GMAIL) and r.attempts == 0 for r in held)
    assert {r.reason for r in held} == {f"throttled: Gmail is deferring mail from shop.example.com ({DEFERRAL})"}
    waits = [(r.retry_at - datetime.now(timezone.utc)).total_seconds() for r in held]
    assert all(0 < w <= 3 for w in waits) and waits == sorted(waits)  # spaced at the pair's rate, in order
    assert scheduled and scheduled[0][:3] == (camp.id, *batch)  # a batch is queued for when they are due

    page = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
    notice = page.split('id="throttle-wait"')[1].split("</div></div>")[0]
    assert f"Held back: Gmail is deferring mail from shop.example.com ({DEFERRAL})" in notice
    assert "at 4.0 messages/s" in notice and f"{len(held)} recipients wait for it" in notice

    monkeypatch.setattr(sending, "HELD_WAIT_SECONDS", 10.0)  # nothing else to do: the batch waits for them
    sending.send_batch(camp.id, *batch)
    received = Counter(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert len(received) == 20 and max(received.values()) == 1
    assert _statuses(camp.id) == {"sent": 20}


def test_a_providers_deferred_event_slows_the_pair_as_a_421_does(workspace, smtp_sink):
    camp, batch = _in_process_campaign(workspace, smtp_sink, 2)
    sending.send_batch(camp.id, *batch)
    rows = {r.email: r.id for r in db.session.scalars(select(CampaignRecipient))}
    events = [
        ProviderEvent(
            event_id=f"delay-{i}",
            event_type="delivery_delay",
            raw_type="deferred",
            email=email,
            ref=campaign_ref(camp.id, rows[email]),
            smtp_code=int(reply[:3]),
            enhanced=reply.split()[1],
            diagnostic=reply,
        )
        for i, (email, reply) in enumerate([(f"g0@{GMAIL}", DEFERRAL), (f"m1@{MICROSOFT}", "452 4.2.2 Mailbox full")])
    ]
    provider_events.ingest(workspace.id, camp.provider_id, events, source="test")
    db.session.commit()
    pairs = held_pairs(get_redis(), workspace.id, FROM, ThrottlePolicy.from_config(current_app.config))
    assert [(p.label, p.reason) for p in pairs] == [("Gmail", DEFERRAL)]  # a full mailbox slows nobody


def test_a_relay_bound_to_a_dedicated_ip_throttles_by_the_ip(workspace, smtp_sink, monkeypatch, client):
    """A receiver judges the IP: with the relay's connections leaving from a dedicated IP, the pairs
    are (IP × mailbox provider) — a deferral of the IP's Gmail pair holds Gmail's recipients, one of
    the From domain's does not, and the campaign page names the IP."""
    from app.models import DedicatedIP

    monkeypatch.setitem(current_app.config, "THROTTLE_MIN_RATE", 4)
    camp, batch = _in_process_campaign(workspace, smtp_sink, 10)
    # 127.0.0.2, written directly: the IP service takes public addresses only, and none can be bound here.
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address="127.0.0.2", provider_id=camp.provider_id,
                               status="active", blocklists=[]))  # fmt: skip
    db.session.commit()
    policy = ThrottlePolicy.from_config(current_app.config)
    PairThrottle(get_redis(), workspace.id, FROM, policy).signal("gmail", DEFERRAL)  # the domain's: not this batch's
    PairThrottle(get_redis(), workspace.id, FROM, policy, ip="127.0.0.2").signal("gmail", DEFERRAL)
    monkeypatch.setattr(sending, "HELD_WAIT_SECONDS", 0)
    monkeypatch.setattr(dispatch, "enqueue_batch_at", lambda *args: None)
    sending.send_batch(camp.id, *batch)
    held = db.session.scalars(select(CampaignRecipient).where(CampaignRecipient.status == "pending")).all()
    assert len(held) >= 8 and all(r.email.endswith(GMAIL) for r in held)
    assert {r.reason for r in held} == {f"throttled: Gmail is deferring mail from 127.0.0.2 ({DEFERRAL})"}
    page = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
    assert f"Held back: Gmail is deferring mail from 127.0.0.2 ({DEFERRAL})" in page


def test_the_progress_poll_resolves_the_senders_once_every_few_seconds(workspace, smtp_sink, monkeypatch, client):
    """The page polls every second while sending: the route behind the held-back notice's sender (pool,
    providers, bound IP) is resolved once, then reused for a few seconds, and the notice is the same."""
    from app.models import DedicatedIP
    from app.services.campaigns import send_progress
    from app.services.delivery import routing

    camp, _ = _in_process_campaign(workspace, smtp_sink, 2)
    db.session.add(DedicatedIP(workspace_id=workspace.id, ip_address="127.0.0.2", provider_id=camp.provider_id,
                               status="active", blocklists=[]))  # fmt: skip
    db.session.commit()
    PairThrottle(
        get_redis(), workspace.id, FROM, ThrottlePolicy.from_config(current_app.config), ip="127.0.0.2"
    ).signal("gmail", DEFERRAL)
    resolved = []
    providers_for = routing.providers_for
    monkeypatch.setattr(routing, "providers_for", lambda c: resolved.append(c.id) or providers_for(c))

    pages = [client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True) for _ in range(3)]
    assert resolved == [camp.id]  # once for three polls
    assert all(f"Held back: Gmail is deferring mail from 127.0.0.2 ({DEFERRAL})" in page for page in pages)
    kept = f"herald:progress:{camp.id}:senders"
    assert 0 < get_redis().ttl(kept) <= send_progress.SENDER_SECONDS

    get_redis().delete(kept)  # the few seconds are over
    page = client.get(f"/campaigns/{camp.id}/progress").get_data(as_text=True)
    assert resolved == [camp.id, camp.id] and "deferring mail from 127.0.0.2" in page
