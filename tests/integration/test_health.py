"""Health scores: the 0–100 score of a sending domain over 7 days from its delivery counters and its
recipients' opens, kept once a day as history (the daily job, run twice, changes nothing), an alert when
it drops to POOR that resolves when it recovers, the 24-hour score per destination mailbox provider, and
what the domain page, the domains list and the API show. Real PostgreSQL; counters and recipient rows
are written as the send pipeline and the event cascade write them."""

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import Alert, CampaignRecipient, HealthScore, Subscriber
from app.services.delivery import delivery_stats, health
from app.services.delivery.health import Sample, compute, tier_of
from app.services.platform import alerts
from tests.factories import (
    create_campaign,
    create_list,
    create_provider,
    create_signing_domain,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)

DOMAIN = "shop.example.com"  # the factories' campaigns come from news@shop.example.com
DAY = date(2026, 3, 10)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


# ---- the scoring itself --------------------------------------------------------------------


def _score(**counts) -> tuple[int, str] | None:
    """A sample of 10,000 perfect messages, changed by `counts`."""
    base = {"sent": 10_000, "delivered": 10_000, "tracked": 10_000, "engaged": 1_500} | counts
    result = compute(Sample(**base))
    return (result.score, result.tier) if result else None


def test_the_tiers_change_exactly_at_90_70_50_and_30():
    scores = (100, 90, 89, 70, 69, 50, 49, 30, 29, 0)
    assert [tier_of(s) for s in scores] == [
        "EXCELLENT", "EXCELLENT", "GOOD", "GOOD", "FAIR", "FAIR", "POOR", "POOR", "CRITICAL", "CRITICAL",
    ]  # fmt: skip


def test_each_part_is_whole_when_perfect_half_at_heralds_thresholds_and_empty_at_twice_them():
    assert [health.bounce_component(r) for r in (0, 0.05, 0.10, 0.4)] == [1, 0.5, 0, 0]
    assert [health.complaint_component(r) for r in (0, 0.001, 0.002, 0.01)] == [1, 0.5, 0, 0]
    assert [health.delivery_component(r) for r in (1, 0.9, 0.8, 0.5)] == [1, 0.5, 0, 0]
    assert [health.engagement_component(r) for r in (0, 0.075, 0.15, 0.6)] == [0, 0.5, 1, 1]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, (100, "EXCELLENT")),
        # Opens at 5%: a third of 15 points -> exactly 90.
        ({"engaged": 500}, (90, "EXCELLENT")),
        ({"engaged": 450}, (90, "EXCELLENT")),  # 89.5 rounds half up
        ({"engaged": 449}, (89, "GOOD")),  # 89.49
        # Bounces at 5% and opens at 2.5%: 17.5 + 12.5 points lost.
        ({"bounced": 500, "engaged": 250}, (70, "GOOD")),
        ({"bounced": 520, "engaged": 250}, (69, "FAIR")),
        # Every part exactly at its threshold: 50, the line between FAIR and POOR.
        ({"bounced": 500, "complained": 10, "delivered": 9_000, "engaged": 750}, (50, "FAIR")),
        ({"bounced": 520, "complained": 10, "delivered": 9_000, "engaged": 750}, (49, "POOR")),
        ({"bounced": 1_000, "complained": 10, "delivered": 9_000, "engaged": 500}, (30, "POOR")),
        ({"bounced": 1_000, "complained": 10, "delivered": 9_000, "engaged": 449}, (29, "CRITICAL")),
        ({"bounced": 3_000, "complained": 50, "delivered": 7_000, "engaged": 0}, (0, "CRITICAL")),
    ],
)
def test_scores_and_tiers_at_the_boundaries(counts, expected):
    assert _score(**counts) == expected


def test_fewer_than_100_sent_is_no_score_and_too_few_tracked_opens_leave_engagement_out():
    assert _score(sent=99, delivered=99) is None
    assert _score(sent=100, delivered=100, tracked=100, engaged=15) == (100, "EXCELLENT")
    # 5% bounced (so 95% delivered), 99 tracked messages: the other three parts share engagement's 15 points.
    result = compute(Sample(sent=1_000, delivered=950, bounced=50, tracked=99, engaged=0))
    assert (result.score, result.tier) == (75, "GOOD")  # 17.5 + 35 + 11.25 = 63.75 of 85
    assert result.components["engagement"] == {"rate": None, "count": 0, "of": 99, "value": None, "weight": 0}
    assert result.components["bounce"]["weight"] == pytest.approx(0.35 / 0.85, abs=1e-6)


def test_the_pair_score_is_delivery_less_ten_times_bounces_less_a_hundred_times_complaints():
    assert health.pair_score(100, 90, 1, 0) == 0.8
    assert health.pair_score(100, 100, 0, 1) == 0.0
    assert health.pair_score(19, 19, 0, 0) is None  # too few to say


# ---- a domain's window, from the database ---------------------------------------------------


@pytest.fixture
def audience(workspace):
    """300 subscribers to give campaign recipient rows (returns their ids)."""
    create_subscribers(workspace.id, people(300, email="r{i}@example.com"))
    db.session.flush()
    return list(db.session.scalars(select(Subscriber.id).where(Subscriber.workspace_id == workspace.id)))


def _campaign(workspace, name: str, domain: str = DOMAIN, **fields):
    """A sent campaign from news@<domain>."""
    tpl = create_template(workspace.id, name=f"{name} template")
    lst = create_list(workspace.id, f"{name} list")
    camp = create_campaign(workspace.id, tpl.id, [lst.id], name=name, from_email=f"news@{domain}", **fields)
    camp.status, camp.started_at, camp.completed_at = "sent", _now() - timedelta(days=60), None
    db.session.flush()
    return camp


def _opened(at: datetime) -> dict:
    """A person opened it (a machine's prefetch would set only opened_at)."""
    return {"opened_at": at, "human_opened_at": at}


def _recipients(camp, subscriber_ids: list[int], *groups: tuple[int, dict]) -> None:
    """Rows for `camp`: each group is (how many, column values), on the next subscribers of the list."""
    rows, ids = [], iter(subscriber_ids)
    for n, values in groups:
        for _ in range(n):
            rows.append({"campaign_id": camp.id, "subscriber_id": next(ids), "email": "x@example.com",
                         "status": "sent", "attempts": 1, "created_at": _now(), **values})  # fmt: skip
    db.session.execute(insert(CampaignRecipient), rows)


def _stats(workspace, day: date, provider_id: int = 0, domain: str = DOMAIN, **counts) -> None:
    delivery_stats.add(workspace.id, {(day, provider_id, domain): Counter(counts)})


def test_a_domains_score_reads_its_7_days_of_counters_and_its_campaigns_opens(workspace, audience):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    webhooks = create_provider(workspace.id, "sendgrid")  # reports deliveries
    relay = create_smtp_provider(workspace.id, 2525)  # reports none: delivered unless it came back
    _stats(workspace, DAY, webhooks.id, sent=600, delivered=588, bounced_hard=6)
    _stats(workspace, DAY - timedelta(days=3), webhooks.id, sent=400, delivered=392, bounced_soft=4, complained=1)
    _stats(workspace, DAY - timedelta(days=6), relay.id, sent=100, bounced_hard=2, blocked=3)
    _stats(workspace, DAY - timedelta(days=7), relay.id, sent=5_000, bounced_hard=2_500)  # before the window
    _stats(workspace, DAY + timedelta(days=1), relay.id, sent=5_000, bounced_hard=2_500)  # after it
    _stats(workspace, DAY, webhooks.id, domain="other.example.com", sent=1_000, complained=500)  # another domain
    spring = _campaign(workspace, "Spring")
    _recipients(spring, audience,
                (170, {"sent_at": _at(DAY - timedelta(days=2))}),
                (20, {"sent_at": _at(DAY - timedelta(days=2)), "status": "opened", **_opened(_at(DAY))}),
                (10, {"sent_at": _at(DAY), "status": "clicked", **_opened(_at(DAY)), "clicked_at": _at(DAY),
                      "human_clicked_at": _at(DAY)}),
                (50, {"sent_at": _at(DAY - timedelta(days=7), 23), "status": "opened", **_opened(_at(DAY))}))  # fmt: skip
    untracked = _campaign(workspace, "Untracked", track_opens=False, track_clicks=False)
    _recipients(untracked, audience, (100, {"sent_at": _at(DAY)}))
    elsewhere = _campaign(workspace, "Elsewhere", domain="other.example.com")
    _recipients(elsewhere, audience, (100, {"sent_at": _at(DAY), "status": "opened", **_opened(_at(DAY))}))
    db.session.commit()

    result = health.score_domain(domain, DAY)

    c = result.components
    assert c["sent"] == 1_100 and c["window"] == {"from": "2026-03-04", "to": "2026-03-10"}
    assert (c["bounce"]["count"], c["bounce"]["of"]) == (12, 1_100)  # 6 hard + 4 soft + 2 hard
    assert (c["complaint"]["count"], c["complaint"]["of"]) == (1, 1_100)
    # 588 + 392 reported; the relay's 100 less 2 bounced and 3 blocked.
    assert (c["delivery"]["count"], c["delivery"]["reported"]) == (1_075, True)
    assert (c["engagement"]["count"], c["engagement"]["of"], c["engagement"]["rate"]) == (30, 200, 0.15)
    # 35 × 0.8909 + 35 × 0.5455 + 15 × 0.8864 + 15 × 1 = 78.57
    assert (result.score, result.tier) == (79, "GOOD")
    assert health.score_domain(domain, DAY - timedelta(days=30)) is None  # nothing sent then


def test_the_daily_job_keeps_one_score_a_day_and_running_it_twice_changes_nothing(workspace, audience):
    from workers import jobs

    domain, _ = create_signing_domain(workspace, DOMAIN)
    quiet, _ = create_signing_domain(workspace, "quiet.example.com", selector="q1")
    yesterday = _now().date() - timedelta(days=1)
    _stats(workspace, yesterday - timedelta(days=1), sent=500, bounced_hard=10)
    _stats(workspace, yesterday, sent=500, bounced_hard=40, complained=1)
    _stats(workspace, yesterday, domain="quiet.example.com", sent=99)  # too few to score
    db.session.commit()

    earlier = health.record_daily(yesterday - timedelta(days=1))
    db.session.commit()
    first = jobs.score_health()  # the periodic job: yesterday (UTC), the last complete day
    again = jobs.score_health()
    db.session.expire_all()

    assert earlier == {"day": (yesterday - timedelta(days=1)).isoformat(), "scored": 1, "too_few": 1}
    assert first == again == {"day": yesterday.isoformat(), "scored": 1, "too_few": 1}
    rows = db.session.scalars(select(HealthScore).order_by(HealthScore.day)).all()
    assert [(r.subject_type, r.subject_id, r.day) for r in rows] == [
        ("domain", domain.id, yesterday - timedelta(days=1)),
        ("domain", domain.id, yesterday),
    ]
    # 500 sent, 2% bounced: 35 × 0.8 + 35 + 15 × 0.9 over 85 (no campaign opens) -> 90.
    assert (rows[0].score, rows[0].tier, rows[0].components["sent"]) == (90, "EXCELLENT", 500)
    # 1,000 sent, 5% bounced, 0.1% complained, 95% delivered: (17.5 + 17.5 + 11.25) / 0.85 -> 54.
    assert (rows[1].score, rows[1].tier, rows[1].components["bounce"]["count"]) == (54, "FAIR", 50)
    assert quiet.id not in {r.subject_id for r in rows}
    assert [h.score for h in health.history("domain", domain.id)] == [90, 54]


def _open_health_alerts(workspace_id: int) -> list[Alert]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Alert).where(
                Alert.workspace_id == workspace_id, Alert.kind == "health_dropped", Alert.status == "open"
            )
        )
    )


def test_a_drop_to_poor_raises_one_alert_and_the_recovery_resolves_it(workspace):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    good, poor, still_poor, critical, back = (DAY + timedelta(days=n) for n in (0, 10, 11, 20, 30))
    _stats(workspace, good, sent=1_000, bounced_hard=10)  # 95: EXCELLENT
    _stats(workspace, poor, sent=1_000, bounced_hard=60, complained=1)  # 6% bounced: 49, POOR
    _stats(workspace, critical, sent=1_000, bounced_hard=90, complained=2)  # CRITICAL
    _stats(workspace, back, sent=1_000, bounced_hard=10)
    db.session.commit()

    health.record_daily(good)
    assert _open_health_alerts(workspace.id) == []

    health.record_daily(poor)
    (alert,) = _open_health_alerts(workspace.id)
    assert (alert.severity, alert.subject_type, alert.subject_id) == ("warning", "domain", domain.id)
    assert alert.message == f"{DOMAIN}: health dropped from EXCELLENT (95) to POOR (49) over the last 7 days."
    assert alert.evidence["bounce"] == "6.00% (60 of 1,000)" and alert.evidence["engagement"] == "not measured"
    assert alert.action_url == f"/domains/{domain.id}#health"

    # A person dismissed it; the next day is POOR again (the same window): no new alert.
    alerts.resolve(workspace.id, alert.id)
    db.session.commit()
    _stats(workspace, still_poor, sent=1_000, bounced_hard=60, complained=1)
    db.session.commit()
    health.record_daily(still_poor)
    assert _open_health_alerts(workspace.id) == []

    health.record_daily(critical)  # worse again: a new alert, critical
    (worse,) = _open_health_alerts(workspace.id)
    assert worse.severity == "critical" and "to CRITICAL" in worse.message

    health.record_daily(back)
    assert _open_health_alerts(workspace.id) == []
    assert db.session.get(Alert, worse.id).resolved_at is not None


def test_the_24_hour_score_per_mailbox_provider_counts_what_each_status_says(workspace, audience):
    create_signing_domain(workspace, DOMAIN)
    webhooks = create_provider(workspace.id, "sendgrid")
    relay = create_smtp_provider(workspace.id, 2525)
    now = _now()
    sent = {"sent_at": now - timedelta(hours=2)}
    spring = _campaign(workspace, "Spring")
    _recipients(spring, audience,
        # Gmail through the provider that reports deliveries: 47 arrived, 2 bounced, 1 not confirmed yet.
        (44, {**sent, "status": "delivered", "delivered_at": now, "provider_id": webhooks.id, "mailbox_provider": "gmail"}),
        (3, {**sent, "status": "opened", "delivered_at": now, **_opened(now), "provider_id": webhooks.id,
             "mailbox_provider": "gmail"}),
        (2, {**sent, "status": "bounced", "provider_id": webhooks.id, "mailbox_provider": "gmail"}),
        (1, {**sent, "provider_id": webhooks.id, "mailbox_provider": "gmail"}),
        # Microsoft through the relay (no delivery reports): 22 sent, one complained, one bounced later,
        # one refused at hand-off (no sent_at, no provider: as the send pipeline records it).
        (22, {**sent, "provider_id": relay.id, "mailbox_provider": "microsoft"}),
        (1, {**sent, "status": "complained", "provider_id": relay.id, "mailbox_provider": "microsoft"}),
        (1, {**sent, "status": "bounced", "provider_id": relay.id, "mailbox_provider": "microsoft"}),
        (1, {"claimed_at": now - timedelta(hours=1), "status": "bounced", "reason": "smtp rejected: 550 5.1.1 no such user",
             "mailbox_provider": "microsoft"}),
        # Not tried, or not in the last 24 hours: left out.
        (5, {"status": "failed", "reason": "suppressed: bounced", "mailbox_provider": "microsoft"}),
        (7, {"status": "pending", "mailbox_provider": "microsoft"}),
        (9, {"sent_at": now - timedelta(hours=30), "provider_id": relay.id, "mailbox_provider": "yahoo"}),
        # Too few to score, and one whose MX was not known.
        (10, {**sent, "provider_id": relay.id, "mailbox_provider": "yahoo"}),
        (4, {**sent, "provider_id": relay.id, "mailbox_provider": None}),
    )  # fmt: skip
    _recipients(_campaign(workspace, "Elsewhere", domain="other.example.com"), audience,
                (30, {**sent, "provider_id": relay.id, "mailbox_provider": "gmail"}))  # fmt: skip
    db.session.commit()

    pairs = health.pair_scores(workspace.id, DOMAIN)

    assert [(p.label, p.sent, p.delivered, p.bounced, p.complained, p.score) for p in pairs] == [
        ("Gmail", 50, 47, 2, 0, 0.54),  # 0.94 − 10 × 0.04
        ("Microsoft", 25, 23, 2, 1, -3.88),  # 0.92 − 10 × 0.08 − 100 × 0.04
        ("Yahoo", 10, 10, 0, 0, None),
        ("Unknown", 4, 4, 0, 0, None),
    ]
    later = now + timedelta(hours=23, minutes=30)
    assert health.pair_scores(workspace.id, DOMAIN, now=later) == []  # all older than 24 hours by then


def test_an_ip_is_scored_from_the_provider_that_sends_from_it_and_a_pool_ip_is_not(workspace):
    from app.services.delivery import ips

    relay = create_smtp_provider(workspace.id, 2525)  # binds its connections to its one address
    webhooks = create_provider(workspace.id, "sendgrid")  # sends from its own pool
    bound = ips.add_ip(workspace.id, "93.184.216.34", provider_id=relay.id)
    pooled = ips.add_ip(workspace.id, "93.184.216.35", provider_id=webhooks.id, pool_name="marketing")
    _stats(workspace, DAY, relay.id, sent=300, bounced_hard=3)
    _stats(workspace, DAY, relay.id, domain="other.example.com", sent=200)  # every domain it carried
    _stats(workspace, DAY, webhooks.id, sent=1_000, bounced_hard=500)  # not the bound IP's mail
    db.session.commit()

    assert health.record_daily(DAY) == {"day": DAY.isoformat(), "scored": 1, "too_few": 1}

    report = health.ip_health(bound)
    # 500 sent, 0.6% bounced, 99.4% delivered: (35 × 0.94 + 35 + 15 × 0.97) / 0.85 -> 97.
    assert (report.latest.score, report.latest.tier, report.latest.components["sent"]) == (97, "EXCELLENT", 500)
    assert health.ip_health(pooled).latest is None and health.ip_scope(pooled) is None


# ---- what people see --------------------------------------------------------------------------


def _scored_domain(workspace, audience):
    """A domain with two days of history (yesterday FAIR) and some mail to Gmail today."""
    domain, _ = create_signing_domain(workspace, DOMAIN)
    yesterday = _now().date() - timedelta(days=1)
    _stats(workspace, yesterday - timedelta(days=1), sent=500, bounced_hard=10)
    _stats(workspace, yesterday, sent=500, bounced_hard=40, complained=1)
    _recipients(_campaign(workspace, "Spring"), audience,
                (25, {"sent_at": _now() - timedelta(hours=1), "mailbox_provider": "gmail"}))  # fmt: skip
    db.session.commit()
    health.record_daily(yesterday - timedelta(days=1))
    health.record_daily(yesterday)
    db.session.commit()
    return domain, yesterday


def test_the_domain_page_shows_the_score_its_parts_the_chart_and_the_mailbox_providers(client, workspace, audience):
    domain, yesterday = _scored_domain(workspace, audience)

    page = client.get(f"/domains/{domain.id}").get_data(as_text=True)

    card = page[page.index('id="health"') :]
    assert 'data-score="54"' in card and 'data-tier="FAIR"' in card
    assert "5.0% · 50 of 1,000" in card  # bounces, with their denominator
    assert "0.10% · 1 of 1,000" in card  # complaints, to the hundredth
    assert "not bounced, blocked or rejected" in card  # the relay reported no deliveries
    assert "not measured" in card  # no tracked campaign mail in the window
    assert "vendor/plotly.min.js" in page and "js/charts.js" in page
    figure = json.loads(re.search(r'<script type="application/json" id="health-figure">(.*?)</script>', page, re.S)[1])
    line = figure["data"][0]
    assert line["x"] == [(yesterday - timedelta(days=1)).isoformat(), yesterday.isoformat()] and line["y"] == [90, 54]
    bands = {(s["y0"], s["y1"]) for s in figure["layout"]["shapes"]}
    assert bands == {(90, 100), (70, 90), (50, 70), (30, 50), (0, 30)}
    assert 'data-group="gmail"' in card and 'data-count="25"' in card and "under 20 sent" not in card

    listing = client.get("/domains/").get_data(as_text=True)
    row = re.search(rf'<tr data-domain="{domain.id}">.*?</tr>', listing, re.S)[0]
    assert 'data-tier="FAIR"' in row and "54 · Fair" in row


def test_a_domain_without_mail_says_it_has_no_score_yet(client, workspace):
    domain, _ = create_signing_domain(workspace, DOMAIN)
    db.session.commit()
    page = client.get(f"/domains/{domain.id}").get_data(as_text=True)
    assert 'id="health-empty"' in page and 'id="health-pairs-empty"' in page
    assert "plotly" not in page  # nothing to draw
    assert "not scored" in client.get("/domains/").get_data(as_text=True)


@pytest.fixture
def conforms(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()

    def check(body, schema_name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(body)]
        assert not errors, errors

    return check


def test_the_api_carries_the_latest_health_and_null_before_there_is_any(api, workspace, audience, conforms):
    domain, yesterday = _scored_domain(workspace, audience)
    fresh, _ = create_signing_domain(workspace, "fresh.example.com", selector="f1")
    db.session.commit()

    shown = api.get(f"/domains/{domain.id}")
    assert shown.status_code == 200
    assert shown.json["health"] == {"score": 54, "tier": "FAIR", "day": yesterday.isoformat()}
    conforms(shown.json, "Domain")
    empty = api.get(f"/domains/{fresh.id}").json
    assert empty["health"] is None
    conforms(empty, "Domain")
    listed = {d["domain"]: d["health"] for d in api.get("/domains").json["items"]}
    assert listed == {DOMAIN: shown.json["health"], "fresh.example.com": None}


def test_removing_a_domain_removes_its_history(workspace, audience):
    from app.services.delivery import domains

    domain, _ = _scored_domain(workspace, audience)
    domains.delete_domain(workspace.id, domain.id)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(HealthScore)) == 0
