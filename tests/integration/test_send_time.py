"""Send-time optimization from generated history: people who open on Tuesdays at 14:00 UTC get a
campaign started Tuesday 02:10 at 14:00, those who open at 20:00 at 20:00, and someone with no history
at the workspace's best hour; a flow's best-time wait ends at the person's hour; the campaign page
shows how the send spread over the hours; a small, stable share explores other hours."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from app.extensions import db
from app.models import CampaignRecipient, Subscriber
from app.services.campaigns import recipients
from app.services.events import send_time
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people

TUESDAY = datetime(2026, 12, 1, 2, 10, tzinfo=timezone.utc)  # a Tuesday, 02:10 UTC


def _history(workspace, opens: dict[str, tuple[int, int]]):
    """A past campaign in which each person (email) opened `n` times at `hour` UTC on Tuesdays."""
    lst = create_list(workspace.id, "Everyone")
    create_subscribers(workspace.id, people(3, email="p{i}@example.org"), lst.id)
    tpl = create_template(workspace.id)
    by_email = {s.email: s for s in db.session.scalars(select(Subscriber))}
    rows = []
    for email, (hour, n) in opens.items():
        for week in range(n):
            old = create_campaign(workspace.id, tpl.id, [lst.id], name=f"Old {email} {week}")
            opened = TUESDAY.replace(hour=hour, minute=5) - timedelta(weeks=week + 1)
            rows.append({"campaign_id": old.id, "subscriber_id": by_email[email].id, "email": email, "status": "sent",
                         "sent_at": opened - timedelta(hours=1), "human_opened_at": opened,
                         "created_at": opened})  # fmt: skip
    db.session.execute(insert(CampaignRecipient), rows)
    db.session.commit()
    return lst, tpl, by_email


def test_each_person_is_scheduled_at_the_hour_their_history_implies(workspace, monkeypatch):
    monkeypatch.setattr(send_time, "EXPLORE", 0)
    lst, tpl, who = _history(workspace, {"p0@example.org": (14, 12), "p1@example.org": (20, 10)})
    camp = create_campaign(workspace.id, tpl.id, [lst.id], name="Best time", send_at_best_time=True)
    camp.status, camp.started_at = "sending", TUESDAY
    recipients.materialize_recipients(camp)
    spread = send_time.schedule_campaign(camp, now=TUESDAY)
    db.session.commit()
    at = dict(db.session.execute(select(CampaignRecipient.email, CampaignRecipient.retry_at)
                                 .where(CampaignRecipient.campaign_id == camp.id)).all())  # fmt: skip
    hours = {email: (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).hour for email, when in at.items()}
    assert hours == {"p0@example.org": 14, "p1@example.org": 20, "p2@example.org": 14}
    assert spread == {12: 2, 18: 1}  # hours from 02:00

    shown = {h["hour"][11:16]: h["scheduled"] for h in send_time.spread(camp) if h["scheduled"]}
    assert shown == {"14:00": 2, "20:00": 1}


def test_a_flow_wait_for_the_best_time_ends_at_the_persons_hour(workspace, monkeypatch):
    from app.services.automation import flow_engine

    monkeypatch.setattr(send_time, "EXPLORE", 0)
    _lst, _tpl, who = _history(workspace, {"p1@example.org": (20, 10)})
    row = flow_engine.Due(1, workspace.id, 1, 1, who["p1@example.org"].id, "s1", {}, 1, TUESDAY)
    due = flow_engine.arrival({"type": "wait", "best_time": True}, row, "UTC", TUESDAY)
    assert due == TUESDAY.replace(hour=20, minute=0)


def test_a_small_stable_share_explores():
    exploring = [sid for sid in range(1, 20_001) if send_time._explores(sid)]
    assert 0.04 < len(exploring) / 20_000 < 0.06
    assert exploring == [sid for sid in range(1, 20_001) if send_time._explores(sid)]  # the same people each time


def test_the_campaign_form_and_page_offer_and_show_it(client, workspace):
    page = client.get("/campaigns/new")
    assert 'name="send_at_best_time"' in page.text
