"""The advisor from real data: provider events make the findings, a healthy campaign makes none, fixes
do what they say in the database, dismissals wait for worse evidence, and the pre-send gate blocks a
send until an owner overrides it with a reason (logged)."""

import re

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import AuditEntry, Campaign, CampaignRecipient, Recommendation, Segment, Subscriber, Suppression
from app.services.advisor import engine, fixes, gate
from app.services.audience import suppression
from app.services.events import provider_events
from app.services.platform import workspaces
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people
from tests.integration.test_engagement import _sent
from tests.integration.test_insight_rollups import _event


def _rows(camp_id: int) -> list[CampaignRecipient]:
    return list(
        db.session.scalars(select(CampaignRecipient).filter_by(campaign_id=camp_id).order_by(CampaignRecipient.id))
    )


def _bounce_and_complain(workspace, camp, hard: int, complaints: int) -> None:
    rows = _rows(camp.id)
    events = [_event(camp.id, r, "bounce", f"b{r.id}", bounce_type="hard", smtp_code=550, enhanced="5.1.1",
                     diagnostic="550 5.1.1 No such user") for r in rows[:hard]]  # fmt: skip
    events += [_event(camp.id, r, "complaint", f"c{r.id}") for r in rows[hard : hard + complaints]]
    provider_events.ingest(workspace.id, rows[0].provider_id, events, source="test")
    db.session.commit()


def _by_check(recs) -> dict:
    return {r.check: r for r in recs}


def test_bounces_and_complaints_make_findings_and_the_fix_suppresses_them(workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=12, complaints=1)

    found = _by_check(engine.review_campaign(workspace.id, camp.id))
    db.session.commit()
    bounce, complaint = found["hard_bounce_rate"], found["complaint_rate"]
    assert bounce.severity == "warning" and bounce.evidence["hard_bounced"] == 12 and bounce.evidence["sent"] == 120
    assert "10.00% · 12 of 120" in bounce.message
    assert complaint.severity == "critical" and complaint.evidence["complaints"] == 1
    assert "from_domain_unverified" in found  # shop.example.com is no sending domain of the workspace

    applied = engine.apply(workspace.id, bounce.id)
    db.session.commit()
    bounced = {r.email for r in _rows(camp.id) if r.status == "bounced"}
    suppressed = set(db.session.scalars(select(Suppression.email).where(Suppression.workspace_id == workspace.id)))
    assert len(bounced) == 12 and bounced <= suppressed
    assert applied.status == "applied" and applied.effect["suppressed"] == 12
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "recommendation.apply"))
    assert entry.detail["fix"] == "suppress_hard_bounced"

    # Dismissed: it stays dismissed while the evidence is the same, and comes back when it is worse.
    engine.dismiss(workspace.id, complaint.id, "A colleague's test address")
    db.session.commit()
    engine.review_campaign(workspace.id, camp.id)
    assert db.session.get(Recommendation, complaint.id).status == "dismissed"
    rows = _rows(camp.id)
    provider_events.ingest(
        workspace.id, rows[0].provider_id, [_event(camp.id, rows[50], "complaint", "c-more")], source="test"
    )
    engine.review_campaign(workspace.id, camp.id)
    db.session.commit()
    assert db.session.get(Recommendation, complaint.id).status == "open"
    assert engine.open_count(workspace.id) >= 2


def test_suppressing_thousands_of_bounces_takes_a_few_statements_and_twice_changes_nothing(
    app, workspace, count_queries
):
    lst = create_list(workspace.id)
    create_subscribers(workspace.id, people(3000, email="b{i}@example.net"), lst.id)
    camp = create_campaign(workspace.id, create_template(workspace.id).id, [lst.id])
    subscribers = db.session.execute(select(Subscriber.id, Subscriber.email)).all()
    db.session.execute(insert(CampaignRecipient), [{"campaign_id": camp.id, "subscriber_id": sid, "email": email,
                                                    "status": "bounced"} for sid, email in subscribers])  # fmt: skip
    suppression.add_suppression(workspace.id, "b7@example.net", "complained")  # on the list first: keeps its reason
    rec = Recommendation(workspace_id=workspace.id, check="hard_bounce_rate", subject_type="campaign",
                         subject_id=camp.id, severity="warning", message="Hard bounces",
                         fix={"action": "suppress_hard_bounced", "label": "Suppress"})  # fmt: skip
    db.session.add(rec)
    db.session.commit()

    ws, rec_id = workspace.id, rec.id
    with app.app_context():
        db.session.scalar(select(1))  # the connection checked out (and pinged) before counting
        with count_queries() as n:
            effect = engine.apply(ws, rec_id).effect
            db.session.commit()
    assert n() < 12, n()
    assert effect["suppressed"] == 3000 and effect["addresses"] == sorted(effect["addresses"])
    assert len(effect["addresses"]) == 20
    entries = {s.email: s for s in db.session.scalars(select(Suppression).filter_by(workspace_id=workspace.id))}
    assert set(entries) == {email for _, email in subscribers}
    assert (entries["b7@example.net"].reason, entries["b7@example.net"].source) == ("complained", "dashboard")
    last = entries["b2999@example.net"]
    assert (last.reason, last.source, last.detail) == ("bounced", "bounce", "by the advisor (hard_bounce_rate)")
    assert set(db.session.scalars(select(Subscriber.status))) == {"bounced"}

    again = fixes.apply(workspace.id, db.session.get(Recommendation, rec.id))
    db.session.commit()
    assert again["suppressed"] == 3000
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 3000
    assert db.session.scalar(select(Suppression.reason).filter_by(email="b7@example.net")) == "complained"


def test_a_healthy_campaign_has_no_bounce_or_complaint_findings(workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=2, complaints=0)  # 1.7%: fine
    checks = _by_check(engine.review_campaign(workspace.id, camp.id))
    assert "hard_bounce_rate" not in checks and "complaint_rate" not in checks


def test_a_finding_that_goes_away_is_resolved(workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=0, complaints=1)
    rec = _by_check(engine.review_workspace(workspace.id))["complaint_rate"]
    db.session.commit()
    assert rec.subject_type == "workspace" and rec.severity == "blocking"
    engine.review_workspace(workspace.id)
    assert db.session.get(Recommendation, rec.id).status == "open"  # the same evidence: still open
    engine.record(workspace.id, [], scope=None)  # the checks find nothing now
    assert db.session.get(Recommendation, rec.id).status == "resolved"


def test_the_gate_blocks_a_send_until_an_owner_overrides_it(app, workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=0, complaints=1)  # 0.83% complaints over 7 days
    lst = create_list(workspace.id, "Next")
    create_subscribers(workspace.id, people(3, email="n{i}@example.org"), lst.id)
    draft = create_campaign(workspace.id, camp.template_id, [lst.id], camp.provider_id, name="Next")
    db.session.commit()
    owner = workspaces.create_api_key(workspace.id, "owner key", role="owner")[1]
    marketer = workspaces.create_api_key(workspace.id, "marketer key", role="marketer")[1]
    db.session.commit()
    c = app.test_client()

    def send(key, body=None):
        return c.post(f"/api/v1/campaigns/{draft.id}/send", json=body, headers={"Authorization": f"Bearer {key}"})

    blocked = send(owner)
    assert blocked.status_code == 409, blocked.json
    assert blocked.json["error"]["code"] == "blocked_by_advisor"
    assert [ch["check"] for ch in blocked.json["error"]["checks"]] == ["complaint_rate"]
    assert send(marketer, {"override_reason": "I know"}).status_code == 422
    passed = send(owner, {"override_reason": "The complaint was a colleague testing"})
    assert passed.status_code == 202, passed.json
    db.session.expire_all()
    sent = db.session.get(Campaign, draft.id)
    assert sent.advisor_override["reason"] == "The complaint was a colleague testing"
    assert sent.advisor_override["checks"] == ["complaint_rate"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.override"))
    assert entry.actor == "API key 'owner key'" and entry.subject_id == draft.id


def test_the_reengagement_fix_makes_a_segment_and_a_draft(workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 3)
    lst = create_list(workspace.id, "Old")
    create_subscribers(workspace.id, people(4, email="o{i}@example.org"), lst.id)
    rec = Recommendation(workspace_id=workspace.id, check="stale_list", subject_type="list", subject_id=lst.id,
                         severity="warning", message="m", evidence={}, measure=4.0, status="open",
                         fix={"action": "reengage_list", "label": "Re-engage", "list_id": lst.id})  # fmt: skip
    db.session.add(rec)
    db.session.flush()
    done = engine.apply(workspace.id, rec.id)
    segment = db.session.get(Segment, done.effect["segment_id"])
    draft = db.session.get(Campaign, done.effect["campaign_id"])
    assert segment.name == "Re-engage: Old" and draft.status == "draft" and draft.template_id == camp.template_id
    assert gate.blocking_findings(draft) == []  # three people are no bulk send


def test_the_advisor_page_shows_counts_applies_and_dismisses(client, workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=12, complaints=0)
    engine.review_campaign(workspace.id, camp.id)
    db.session.commit()
    page = client.get("/advisor/")
    assert page.status_code == 200 and 'id="nav-advisor-count"' in page.text and "Hard bounces" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    rec = db.session.scalar(select(Recommendation).where(Recommendation.check == "hard_bounce_rate"))
    assert client.post(f"/advisor/{rec.id}/apply", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Recommendation, rec.id).status == "applied"
    other = db.session.scalar(select(Recommendation).where(Recommendation.check == "from_domain_unverified"))
    refused = client.post(f"/advisor/{other.id}/dismiss", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 302 and db.session.get(Recommendation, other.id).status == "open"
    client.post(f"/advisor/{other.id}/dismiss", data={"csrf_token": token, "reason": "Moving domains next week"})
    db.session.expire_all()
    assert db.session.get(Recommendation, other.id).status == "dismissed"
    shown = client.get(f"/campaigns/{camp.id}")
    assert 'id="campaign-advisor"' in shown.text and "Moving domains next week" in shown.text
    assert client.get("/advisor/?status=applied").text.count("data-recommendation=") == 1


def test_dmarc_reports_with_failing_sources_make_a_finding(workspace):
    from datetime import datetime, timedelta, timezone

    from app.models import SendingDomain
    from app.services.advisor import dmarc

    domain = SendingDomain(workspace_id=workspace.id, domain="news.example.com", status="verified")
    db.session.add(domain)
    db.session.flush()
    end = int(datetime.now(timezone.utc).timestamp())
    begin = end - int(timedelta(days=1).total_seconds())
    row = """<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>none</disposition>
      <dkim>{r}</dkim><spf>{r}</spf></policy_evaluated></row><identifiers><header_from>news.example.com</header_from>
      </identifiers><auth_results><spf><domain>news.example.com</domain><result>{r}</result></spf></auth_results></record>"""
    xml = f"""<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name><email>noreply@google.com</email>
      <report_id>r1</report_id><date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>
      <policy_published><domain>news.example.com</domain><p>none</p></policy_published>
      {row.format(ip="192.0.2.10", n=40, r="pass")}{row.format(ip="198.51.100.7", n=7, r="fail")}</feedback>"""
    dmarc.ingest(workspace.id, domain.id, xml.encode(), source="api")
    found = _by_check(engine.review_workspace(workspace.id))
    finding = found["dmarc_sources"]
    assert finding.subject_id == domain.id and finding.evidence["failing_messages"] == 7
    assert "198.51.100.7 (7)" in finding.message


def test_a_domains_findings_show_on_its_page(client, workspace):
    from app.models import SendingDomain

    domain = SendingDomain(workspace_id=workspace.id, domain="news.example.com", status="failed",
                           checks=[{"purpose": "spf", "ok": False}])  # fmt: skip
    db.session.add(domain)
    db.session.commit()
    found = _by_check(engine.review_workspace(workspace.id))
    db.session.commit()
    assert found["domain_authentication"].fix["action"] == "reverify_domain"
    page = client.get(f"/domains/{domain.id}")
    assert 'id="domain-advisor"' in page.text and "SPF failed the last check" in page.text


def test_a_listed_ip_a_health_drop_and_a_volume_jump_are_found(workspace, smtp_sink, worker):
    from datetime import date, datetime, timedelta, timezone

    from app.models import DedicatedIP, HealthScore, SendingDomain

    ip = DedicatedIP(workspace_id=workspace.id, ip_address="192.0.2.25",
                     blocklists=[{"zone": "zen.spamhaus.org", "listed": True, "answer": "127.0.0.2"},
                                 {"zone": "b.barracudacentral.org", "listed": False}])  # fmt: skip
    domain = SendingDomain(workspace_id=workspace.id, domain="shop.example.com", status="verified")
    db.session.add_all([ip, domain])
    db.session.flush()
    today = date.today()
    db.session.add_all([
        HealthScore(workspace_id=workspace.id, subject_type="domain", subject_id=domain.id, day=today - timedelta(days=2), score=92, tier="EXCELLENT"),
        HealthScore(workspace_id=workspace.id, subject_type="domain", subject_id=domain.id, day=today - timedelta(days=1), score=61, tier="FAIR"),
    ])  # fmt: skip
    camp, _ = _sent(workspace, smtp_sink, worker, 1200)  # from news@shop.example.com, today
    ip.provider_id = camp.provider_id  # the campaign's mail leaves from this IP
    rows = CampaignRecipient.__table__
    old = [r.id for r in _rows(camp.id)][:140]  # ten a day over the two weeks before
    for k in range(14):
        day = datetime.now(timezone.utc) - timedelta(days=2 + k)
        db.session.execute(rows.update().where(rows.c.id.in_(old[k * 10 : k * 10 + 10])).values(sent_at=day))
    db.session.commit()

    found = _by_check(engine.review_workspace(workspace.id))
    assert found["ip_listed"].evidence["zones"] == ["zen.spamhaus.org"] and found["ip_listed"].severity == "blocking"
    drop = found["health_drop"]
    assert drop.evidence["from"]["tier"] == "EXCELLENT" and drop.evidence["to"]["tier"] == "FAIR"
    jump = found["volume_jump"]
    assert jump.evidence["day_volume"] == 1060 and jump.evidence["average"] == 10.0
    assert [f.check for f in gate.blocking_findings(camp)] == ["ip_listed"]


def test_an_applied_fix_shows_what_followed_on_the_next_campaign(client, workspace, smtp_sink, worker):
    camp, _ = _sent(workspace, smtp_sink, worker, 120)
    _bounce_and_complain(workspace, camp, hard=12, complaints=0)
    bounce = _by_check(engine.review_campaign(workspace.id, camp.id))["hard_bounce_rate"]
    applied = engine.apply(workspace.id, bounce.id)
    db.session.commit()
    assert applied.outcome["state"] == "waiting" and applied.outcome["before"] == 0.1
    assert engine.review_finished_campaigns() == 1 and applied.outcome["state"] == "waiting"  # no campaign since

    nxt, _ = _sent(workspace, smtp_sink, worker, 120)  # the same people: the 12 bounced are suppressed now
    engine.review_finished_campaigns()
    db.session.commit()
    db.session.expire_all()
    outcome = db.session.get(Recommendation, bounce.id).outcome
    assert outcome["state"] == "measured" and outcome["campaign_id"] == nxt.id
    assert outcome["after"] == 0 and outcome["sent"] == 108

    page = client.get("/advisor/?status=applied")
    assert 'data-outcome="measured"' in page.text
    assert "had 0.00% hard bounces (was 10.00% over the campaign)" in page.text
    api_key = workspaces.create_api_key(workspace.id, "reader", role="owner")[1]
    db.session.commit()
    listed = client.get("/api/v1/advisor?status=applied", headers={"Authorization": f"Bearer {api_key}"}).json
    assert listed["items"][0]["outcome"]["after"] == 0, listed


def test_a_domain_fix_is_judged_by_whether_its_check_still_finds_the_problem(workspace):
    from app.models import SendingDomain

    domain = SendingDomain(workspace_id=workspace.id, domain="news.example.com", status="failed",
                           checks=[{"purpose": "spf", "ok": False}])  # fmt: skip
    db.session.add(domain)
    db.session.commit()
    rec = _by_check(engine.review_workspace(workspace.id))["domain_authentication"]
    rec.status, rec.applied_at, rec.outcome = "applied", rec.updated_at, {"state": "waiting", "judged_by": "check"}
    engine.review_workspace(workspace.id)
    assert rec.outcome["state"] == "still_found"
    domain.status, domain.checks = "verified", [{"purpose": "spf", "ok": True}]
    engine.review_workspace(workspace.id)
    assert rec.outcome["state"] == "gone" and rec.status == "applied"
