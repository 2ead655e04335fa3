"""RQ entry points: open an app context, call one service function, commit.

Periodic jobs (app.queueing.PERIODIC) note their latest run in Redis for `flask jobs list`.
"""

import functools
import time
from functools import lru_cache

from rq import get_current_job


@lru_cache(maxsize=1)
def _app():
    from app import create_app

    return create_app()


def _run(fn, *args):
    from app.extensions import db

    app = _app()
    with app.app_context():
        try:
            result = fn(*args)
            db.session.commit()
            return result
        except BaseException:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def _periodic(job):
    """Note each run of a periodic job (when, how long, the error if it failed)."""

    @functools.wraps(job)
    def run(*args, **kwargs):
        from app.queueing import record_run
        from app.redis_client import redis_for

        started, error = time.time(), None
        try:
            return job(*args, **kwargs)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            url = _app().config["REDIS_URL"]
            record_run(redis_for(url), job.__name__, started, time.time() - started, error)

    return run


def prepare_campaign(campaign_id: int) -> int:
    """Materialize a campaign's recipients and queue its batches; returns the batch count."""
    from app.services.campaigns import dispatch

    return _run(dispatch.prepare_and_queue, campaign_id)


def send_batch(campaign_id: int, first_id: int, last_id: int) -> dict:
    """Send one batch of at most 500 recipients."""
    from app.services.campaigns import sending

    result = _run(sending.send_batch, campaign_id, first_id, last_id)
    job = get_current_job()
    if job is not None:
        job.meta.update(result)
        job.save_meta()
    return result


def send_message(message_id: int) -> str:
    """Send one transactional message (queue `transactional`); RQ retries it while nothing was handed off."""
    from app.services.delivery import transactional

    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    return _run(transactional.deliver_message, message_id, final_attempt)


def send_alert_email(alert_id: int) -> dict:
    """Mail a new alert to its workspace's owners (queue `transactional`); each owner once, however often it runs."""
    from app.services.platform import alerts

    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    return _run(alerts.mail_owners, alert_id, final_attempt)


def send_invitation_email(invitation_id: int, url: str) -> dict:
    """Mail a teammate's invitation link (queue `transactional`); skipped once it is no longer pending."""
    from app.services.platform import team

    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    return _run(team.mail_invitation, invitation_id, url, final_attempt)


@_periodic
def requeue_lost_messages() -> list[int]:
    """Queue again the transactional messages whose job Redis lost (periodic)."""
    from app.services.delivery import transactional

    return _run(transactional.requeue_lost_messages)


@_periodic
def recover_stale_messages() -> int:
    """Transactional messages claimed by a worker that died mid-hand-off become 'unknown' (periodic)."""
    from app.services.delivery import transactional

    return _run(transactional.recover_stale_messages)


@_periodic
def start_due_campaigns() -> list[int]:
    """Start the scheduled campaigns whose time has come (periodic)."""
    from app.services.campaigns import lifecycle

    return _run(lifecycle.start_due_campaigns)


@_periodic
def run_recurring_campaigns() -> list[int]:
    """Start one run of every recurring campaign whose next run is due (periodic); safe to run twice."""
    from app.services.campaigns import recurring

    return _run(recurring.run_due)


@_periodic
def decide_ab_tests() -> list[int]:
    """Send the winner of every A/B test whose wait is over, to the rest of its audience (periodic)."""
    from app.services.campaigns import ab_winner

    return _run(ab_winner.decide_due_tests)


@_periodic
def recover_stale_claims() -> int:
    """Recipients claimed by a worker that died mid-hand-off become 'unknown' (periodic)."""
    from app.services.campaigns import recipients

    return _run(recipients.recover_stale_claims)


@_periodic
def requeue_stalled_campaigns() -> list[int]:
    """Queue again the work of sending campaigns whose jobs were lost (periodic)."""
    from app.services.campaigns import dispatch

    return _run(dispatch.requeue_stalled_campaigns)


@_periodic
def requeue_due_retries() -> int:
    """Queue again the recipients a server refused for now, once their wait is over (periodic)."""
    from app.services.campaigns import dispatch

    return _run(dispatch.requeue_due_retries)


@_periodic
def process_tracking_hits() -> int:
    """Move queued opens and clicks into the event log (periodic)."""
    from app.services.events import tracking

    total = 0
    for _ in range(20):
        n = _run(tracking.process_hits)
        total += n
        if n == 0:
            break
    return total


def process_webhook_payload(payload_id: int) -> dict | None:
    """Parse one stored provider webhook and apply its events (queue `webhooks`); safe to run twice."""
    from app.services.events import webhook_intake

    def run():
        payload = webhook_intake.process(payload_id)
        return None if payload is None else {"status": payload.status, "new": payload.events_new}

    return _run(run)


@_periodic
def requeue_stuck_webhooks() -> int:
    """Queue again stored provider webhooks nobody processed (periodic)."""
    from app.services.events import webhook_intake

    return _run(webhook_intake.requeue_stuck)


@_periodic
def reverify_domains() -> int:
    """Every verified sending domain's records looked up again; what broke raises an alert."""
    from app.services.delivery import domains

    return _run(domains.reverify_all)


@_periodic
def check_ips() -> dict:
    """Every dedicated IP's PTR, FCrDNS and blocklists looked up again; a listing raises an alert."""
    from app.services.delivery import ips

    return _run(ips.check_all)


@_periodic
def advance_flows() -> dict:
    """Every flow enrollment whose step is due moves on (emails queued, waits ended, branches taken)."""
    from app.services.automation import flow_engine

    return _run(flow_engine.advance)


@_periodic
def scan_flow_triggers() -> dict:
    """People who joined a flow's list, entered its segment, or whose date is today enter the flow."""
    from app.services.automation import enrollment

    return _run(enrollment.scan)


def flow_webhook(enrollment_id: int, step_id: str) -> dict:
    """A flow's webhook step for one person: POST their details and the flow's context (retried)."""
    from app.services.automation import flow_webhooks

    return _run(flow_webhooks.call, enrollment_id, step_id)


@_periodic
def check_domain_blocklists() -> dict:
    """Every sending domain looked up on Spamhaus DBL, SURBL and URIBL; a listing raises an alert."""
    from app.services.delivery import domain_blocklists

    return _run(domain_blocklists.check_all)


@_periodic
def release_warming() -> dict:
    """Each warming domain lets out what today's cap allows; their campaigns' batches are queued."""
    from app.services.campaigns import dispatch

    return _run(dispatch.release_warming)


@_periodic
def check_warming_thresholds() -> list[int]:
    """Pause (with an alert) every warming domain whose bounce, complaint or delivery rate crosses a threshold."""
    from app.services.delivery import warming

    return _run(warming.check_thresholds)


@_periodic
def score_health() -> dict:
    """Every sending domain's 7-day health for the last complete UTC day, kept as history; a drop to POOR alerts."""
    from app.services.delivery import health

    return _run(health.record_daily)


@_periodic
def refresh_machine_ranges() -> dict:
    """Download the configured Apple relay and scanner address lists that tell machine opens apart."""
    from app.services.events import engagement

    return _run(engagement.refresh_ranges)


@_periodic
def ensure_event_partitions() -> list:
    """Make the event log's monthly partitions of this month and the next two (PostgreSQL)."""
    from app.services.events import partitions

    return _run(partitions.ensure)


@_periodic
def purge_unconfirmed_subscribers() -> int:
    """Delete double opt-in subscribers pending longer than their workspace's unconfirmed_purge_days."""
    from app.services.audience import double_opt_in

    return _run(double_opt_in.purge_unconfirmed)


@_periodic
def advise_finished_campaigns() -> int:
    """The advisor's checks of every campaign that finished in the last 15 minutes."""
    from app.services.advisor import engine

    return _run(engine.review_finished_campaigns)


@_periodic
def advise_workspaces() -> int:
    """The advisor's daily checks of every workspace."""
    from app.services.advisor import engine

    return _run(engine.review_all_workspaces)


@_periodic
def probe_providers() -> dict:
    """Check every provider's connection and credentials, as "Test" does (periodic)."""
    from app.services.delivery import providers

    return _run(providers.probe_all)


@_periodic
def expire_loyalty_points() -> int:
    """Earned loyalty points past their expiry become `expired` entries (daily), committed batch by batch."""
    from app.extensions import db
    from app.services.growth import loyalty

    return _run(lambda: loyalty.expire_points(commit=db.session.commit))


@_periodic
def expire_gift_cards() -> int:
    """Gift cards past their date expire, what they held leaving in an expiry entry (daily)."""
    from app.extensions import db
    from app.services.growth import gift_cards

    return _run(lambda: gift_cards.expire_cards(commit=db.session.commit))


@_periodic
def expire_referrals() -> int:
    """Pending referrals past their expiry become expired (daily), in one UPDATE."""
    from app.services.growth import referrals

    return _run(referrals.expire_referrals)


def run_import(import_id: str, workspace_id: int, list_ids: list[int]) -> dict:
    """Import a large CSV in chunks, with progress the dashboard polls."""
    from app.extensions import db
    from app.services.audience import imports

    return _run(imports.run_import, import_id, workspace_id, list_ids, db.session.commit)


@_periodic
def deliver_webhooks() -> dict:
    """POST due outbound webhook deliveries (queue `webhooks`; periodic, and queued after a fan-out).

    Runs while it keeps finding a full batch, for up to about 25 s, so a backlog drains without
    waiting for the next tick; deliver_due commits each claim itself, so runs in parallel share work.
    """
    from app.services import outbound_webhooks

    limit, started = 200, time.monotonic()
    totals: dict = {}
    while True:
        result = _run(outbound_webhooks.deliver_due, limit)
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
        if result["claimed"] < limit or time.monotonic() - started > 25:
            return totals


def send_sms_campaign(campaign_id: int) -> dict:
    """Text an SMS campaign's due recipients for a few minutes, within each sender's rate."""
    from app.services.sms import dispatch

    return _run(dispatch.send_campaign, campaign_id)


@_periodic
def tick_sms_campaigns() -> dict:
    """Start due SMS campaigns, queue texts held for quiet hours, heal lost jobs, finish campaigns."""
    from app.services.sms import lifecycle

    return _run(lifecycle.tick)
