"""The hourly rollups are kept as things happen, and always agree with the rows they count: whatever
mix of sends, people, machines, honeypots, provider events, replays, unsubscribes, reclassification
and resends a campaign goes through, the upkeep equals a recount from scratch."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import CampaignRecipient, InsightHour
from app.providers import ProviderEvent
from app.services.campaigns import drafts
from app.services.events import insights, provider_events, rollups, tracking
from app.services.events.provider_events import campaign_ref
from tests.integration.test_engagement import GMAIL_PROXY, _delivered, _hit, _sent, _urls


def _recounted(campaign_id: int) -> tuple[dict, dict]:
    """(the rollups as kept, the rollups recounted from the rows)."""
    kept = rollups.table_rows([campaign_id])
    rollups.rebuild([campaign_id])
    again = rollups.table_rows([campaign_id])
    db.session.rollback()
    return kept, again


def _event(camp_id, row, event_type, key, **fields):
    return ProviderEvent(event_id=key, event_type=event_type, raw_type=event_type, email=row.email,
                         occurred_at=datetime.now(timezone.utc), ref=campaign_ref(camp_id, row.id), **fields)  # fmt: skip


def test_the_upkeep_equals_a_recount_whatever_happens(workspace, smtp_sink, worker, app):
    camp, html = _sent(workspace, smtp_sink, worker, 8)
    kept, again = _recounted(camp.id)
    split = [v for (_, _, _, identity), v in kept.items() if identity != rollups.TOTAL[1]]
    totals = [v for (_, _, _, identity), v in kept.items() if identity == rollups.TOTAL[1]]
    assert kept == again and sum(v.get("sent", 0) for v in split) == sum(v.get("sent", 0) for v in totals) == 8

    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    urls = {email: _urls(body) for email, body in html.items()}
    _hit(web, urls["e0@example.org"][0])  # a person opens, twice
    _hit(web, urls["e0@example.org"][0])
    _hit(web, urls["e1@example.org"][0], ua="Mozilla/5.0", ip="17.58.0.9")  # Apple prefetches
    _hit(web, urls["e2@example.org"][0], ua=GMAIL_PROXY, ip="66.249.84.10")  # Gmail's proxy
    _hit(web, urls["e3@example.org"][1][0])  # a click (and so an open)
    _hit(web, urls["e4@example.org"][1][1])  # a click that a honeypot in the next batch takes back
    tracking.process_hits()
    _hit(web, urls["e4@example.org"][1][3])
    _hit(web, urls["e5@example.org"][1][0], method="HEAD")  # a gateway's check
    tracking.process_hits()

    rows = {r.email: r for r in db.session.scalars(select(CampaignRecipient).filter_by(campaign_id=camp.id))}
    pid = rows["e0@example.org"].provider_id
    events = [
        _event(camp.id, rows["e0@example.org"], "delivery", "d0"),
        _event(camp.id, rows["e3@example.org"], "delivery", "d3"),
        _event(camp.id, rows["e6@example.org"], "bounce", "b6", bounce_type="hard", smtp_code=550,
               enhanced="5.1.1", diagnostic="550 5.1.1 No such user"),
        _event(camp.id, rows["e7@example.org"], "bounce", "b7", bounce_type="soft", smtp_code=452,
               enhanced="4.2.2", diagnostic="452 4.2.2 Mailbox full"),
        _event(camp.id, rows["e3@example.org"], "complaint", "c3"),
        _event(camp.id, rows["e0@example.org"], "delivery_delay", "w0"),
    ]  # fmt: skip
    provider_events.ingest(workspace.id, pid, events, source="test")
    db.session.commit()
    provider_events.ingest(workspace.id, pid, events, source="test")  # the provider posts it all again
    db.session.commit()
    tracking.unsubscribe_recipient(rows["e2@example.org"], "one-click")
    db.session.commit()
    out = app.test_cli_runner().invoke(args=["reclassify-engagement", "--days", "1"])
    assert out.exit_code == 0, out.output
    tracking.process_hits()

    kept, again = _recounted(camp.id)
    assert kept == again
    totals = insights.campaign_series(camp)["totals"]
    stats = drafts.campaign_stats(camp.id)
    for name in ("sent", "unique_opens", "human_unique_opens", "unique_clicks", "human_unique_clicks"):
        assert totals[name] == stats[name], name
    assert (totals["delivered"], totals["bounced"], totals["hard_bounced"], totals["soft_bounced"]) == (2, 2, 1, 1)
    assert (totals["complaints"], totals["deferred"], totals["unsubscribes"]) == (1, 1, 1)
    assert (totals["human_unique_opens"], totals["human_unique_clicks"]) == (3, 1)  # e0, e2 (proxy), e3


def test_a_deleted_campaign_takes_its_rollups_with_it(workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 2)
    assert db.session.scalar(select(InsightHour.id).filter_by(campaign_id=camp.id))
    db.session.delete(camp)
    db.session.commit()
    assert db.session.scalar(select(InsightHour.id).filter_by(campaign_id=camp.id)) is None
