"""A pool of several identities: each recipient is sent from the one on the healthiest domain, the one
that serves their mailbox provider, within warming's capacity today — and a paused domain fails over."""

from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, DeliveryStat, HealthScore, MailboxDomain, WarmingPlan
from app.services.campaigns import dispatch, lifecycle, recipients
from app.services.delivery import identity_routing, pools, warming, warming_holds
from app.services.delivery.identity_routing import Candidate, choose
from tests.factories import create_identity, create_signing_domain, people, smtp_campaign
from tests.webhook_support import SENDGRID_KEY, post_sendgrid, public_key_b64, recipients_of, sendgrid_event

# ---- the choice, alone -----------------------------------------------------------------------


def _c(i, health=None, room=None, eligible=True, **affinity):
    return Candidate(i, f"news@d{i}.example.com", f"d{i}.example.com", eligible, health, room, affinity)


def _split(share) -> dict:
    return {"capped": share.capped, "rest": share.rest}


def test_the_healthier_domain_takes_the_mail_and_an_unscored_one_is_not_judged():
    plan = choose([_c(1, health=40), _c(2, health=92), _c(3)], {"gmail": 30}, "round_robin")
    assert _split(plan["gmail"]) == {"capped": [], "rest": [2, 3]}
    # A POOR domain loses even to one with no score yet; alone, it still sends.
    assert choose([_c(1, health=30), _c(2)], {"gmail": 4}, "priority")["gmail"].rest == [2]
    assert choose([_c(1, health=30)], {"gmail": 4}, "priority")["gmail"].rest == [1]
    # Within HEALTH_MARGIN of the best, both share.
    plan = choose([_c(1, health=85), _c(2, health=92)], {"gmail": 30}, "round_robin")
    assert plan["gmail"].rest == [1, 2]


def test_a_mailbox_providers_mail_goes_to_the_domain_that_serves_it_and_others_are_shared():
    cands = [_c(1, gmail=0.55), _c(2, gmail=0.97)]
    plan = choose(cands, {"gmail": 10, "microsoft": 10, None: 3}, "round_robin")
    assert plan["gmail"].rest == [2]
    assert plan["microsoft"].rest == [1, 2] and plan[None].rest == [1, 2]
    # priority: the first in the pool's order, unless it serves that mailbox provider clearly worse.
    plan = choose(cands, {"gmail": 10, "microsoft": 10}, "priority")
    assert (plan["gmail"].rest, plan["microsoft"].rest) == ([2], [1])


def test_warming_room_caps_a_domains_share_and_the_rest_goes_to_one_without_a_cap():
    plan = choose([_c(1, room=5), _c(2)], {"gmail": 40, "yahoo": 10}, "round_robin")
    # The biggest group spends the room first: 5 most engaged of Gmail's, none left for Yahoo's.
    assert _split(plan["gmail"]) == {"capped": [(1, 5)], "rest": [2]}
    assert _split(plan["yahoo"]) == {"capped": [], "rest": [2]}
    plan = choose([_c(1, room=5), _c(2, room=None)], {"gmail": 40}, "priority")
    assert _split(plan["gmail"]) == {"capped": [(1, 5)], "rest": [2]}
    # Every identity capped: each takes its room, and the rest waits for tomorrow on the first.
    plan = choose([_c(1, room=5), _c(2, room=3)], {"gmail": 40}, "priority")
    assert _split(plan["gmail"]) == {"capped": [(1, 5), (2, 3)], "rest": [1]}


def test_two_identities_on_one_warming_domain_share_its_room():
    same = [
        Candidate(i, f"{name}@d.example.com", "d.example.com", True, None, 5, {})
        for i, name in ((1, "news"), (2, "hello"))
    ]
    plan = choose([*same, _c(3)], {"gmail": 40}, "round_robin")
    assert _split(plan["gmail"]) == {"capped": [(1, 5)], "rest": [3]}


def test_nobody_eligible_means_no_choice():
    assert choose([_c(1, eligible=False), _c(2, eligible=False)], {"gmail": 5}, "priority") == {}
    plan = choose([_c(1, eligible=False, health=99), _c(2, health=20)], {"gmail": 5}, "priority")
    assert plan["gmail"].rest == [2]  # a paused domain fails over, whatever its score


# ---- end to end --------------------------------------------------------------------------------


def _pooled_campaign(workspace, sink, rows, strategy="round_robin", domains=("a.example.com", "b.example.com")):
    """A campaign from marketing@ the first domain, through a pool holding marketing@ each domain."""
    camp = smtp_campaign(workspace, sink, rows)
    made = []
    for name in domains:
        domain, _ = create_signing_domain(workspace, name)
        made.append((domain, create_identity(workspace.id, domain.id)))
    pool = pools.create_pool(workspace.id, {"name": "Lane", "strategy": strategy, "provider_ids": [camp.provider_id],
                                            "identity_ids": [i.id for _, i in made]})  # fmt: skip
    c = db.session.get(Campaign, camp.id)
    c.pool_id, c.identity_id, c.from_email = pool.id, made[0][1].id, made[0][1].email
    db.session.commit()
    return c, made


def _score(workspace, domain, score: int, tier: str, days_ago: int = 1) -> None:
    day = datetime.now(timezone.utc).date() - timedelta(days=days_ago)
    db.session.add(HealthScore(workspace_id=workspace.id, subject_type="domain", subject_id=domain.id, day=day,
                               score=score, tier=tier, components={}))  # fmt: skip


def _froms(sink) -> dict[str, str]:
    """{recipient: the From address (and the DKIM d=) of what they received}."""
    out = {}
    for m in sink.messages:
        msg = m["message"]
        dkim_d = next(p.strip()[2:] for p in msg["DKIM-Signature"].split(";") if p.strip().startswith("d="))
        out[m["rcpt_tos"][0]] = (msg["From"].split("<")[-1].rstrip(">"), dkim_d)
    return out


def _send(workspace, camp, worker) -> None:
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()


def test_routing_prefers_the_healthy_domain_and_fails_over(workspace, smtp_sink, worker):
    camp, [(a, _), (b, _)] = _pooled_campaign(workspace, smtp_sink, people(12, email="h{i}@example.org"))
    _score(workspace, a, 41, "POOR")
    _score(workspace, b, 93, "EXCELLENT")
    _score(workspace, a, 95, "EXCELLENT", days_ago=30)  # an old score says nothing about today
    db.session.commit()
    _send(workspace, camp, worker)

    froms = _froms(smtp_sink)
    assert len(froms) == 12
    assert set(froms.values()) == {("marketing@b.example.com", "b.example.com")}  # signed as the From's domain
    stats = dict(db.session.execute(select(DeliveryStat.sending_domain, func.sum(DeliveryStat.sent))
                                    .group_by(DeliveryStat.sending_domain)).all())  # fmt: skip
    assert stats == {"b.example.com": 12}  # the day's counters (warming, health) see the real From

    # The healthy domain is paused: the next campaign through the pool fails over to the other one.
    b.status = "paused"
    later, _ = _clone(workspace, camp)
    smtp_sink.messages.clear()
    _send(workspace, later, worker)
    assert set(_froms(smtp_sink).values()) == {("marketing@a.example.com", "a.example.com")}


def _clone(workspace, camp):
    from tests.factories import create_campaign
    from tests.integration.test_warming import _list_ids

    later = create_campaign(workspace.id, camp.template_id, _list_ids(camp), camp.provider_id, name="Later")
    later.pool_id, later.identity_id, later.from_email = camp.pool_id, camp.identity_id, camp.from_email
    db.session.commit()
    return later, None


def test_gmails_recipients_go_from_the_domain_gmail_likes(workspace, smtp_sink, worker):
    rows = people(6, email="g{i}@gmail-like.example.org") + people(6, email="m{i}@outlook-like.example.org")
    camp, [(a, ia), (b, ib)] = _pooled_campaign(workspace, smtp_sink, rows)
    far = datetime.now(timezone.utc) + timedelta(days=1)
    db.session.add_all([MailboxDomain(domain="gmail-like.example.org", provider="gmail", group="gmail", expires_at=far),
                        MailboxDomain(domain="outlook-like.example.org", provider="outlook", group="microsoft",
                                      expires_at=far)])  # fmt: skip
    db.session.commit()
    from tests.integration.test_pools import _history

    _history(workspace, camp.provider_id, "gmail", 40, 0)  # recent history for the pair scores…
    # …of which a's share bounced: pair scores per domain come from the rows each identity sent.
    _from_identity(camp.provider_id, ia.id, bounced=12)
    _from_identity(camp.provider_id, ib.id, bounced=0)
    _send(workspace, camp, worker)

    froms = _froms(smtp_sink)
    gmail = {to: f for to, f in froms.items() if to.endswith("gmail-like.example.org")}
    outlook = {to: f for to, f in froms.items() if to.endswith("outlook-like.example.org")}
    assert {f for f, _ in gmail.values()} == {"marketing@b.example.com"}
    assert {f for f, _ in outlook.values()} == {"marketing@a.example.com", "marketing@b.example.com"}


def _from_identity(provider_id: int, identity_id: int, bounced: int) -> None:
    """Give the last history campaign's rows (to Gmail) to one identity: 20 rows, `bounced` of them bounced."""
    from sqlalchemy import update

    rows = CampaignRecipient.__table__
    free = select(rows.c.id).where(rows.c.mailbox_provider == "gmail", rows.c.identity_id.is_(None),
                                   rows.c.status.in_(("sent", "bounced"))).limit(20)  # fmt: skip
    ids = list(db.session.scalars(free))
    db.session.execute(update(rows).where(rows.c.id.in_(ids)).values(identity_id=identity_id, status="sent"))
    db.session.execute(update(rows).where(rows.c.id.in_(ids[:bounced])).values(status="bounced"))
    db.session.commit()


def test_a_warming_domain_takes_only_todays_room_and_a_pause_holds_only_its_own_recipients(
    workspace, smtp_sink, worker, api, client
):
    camp, [(a, ia), (b, ib)] = _pooled_campaign(workspace, smtp_sink, people(30, email="w{i}@example.org"))
    draft = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "Each recipient gets the pool's identity that serves them best" in draft
    schedule = warming.create_schedule(workspace.id, "Tiny ramp", [{"day": 1, "volume": 8}, {"day": 9, "volume": 8}])
    plan = warming.start(workspace.id, a, f"custom:{schedule.id}")
    db.session.commit()
    _send(workspace, camp, worker)

    froms = _froms(smtp_sink)
    by_from = {f: sum(1 for g, _ in froms.values() if g == f) for f, _ in froms.values()}
    assert by_from == {"marketing@a.example.com": 8, "marketing@b.example.com": 22}
    assert db.session.get(Campaign, camp.id).status == "sent"  # nobody waits: b had no cap
    spread = {row["email"]: row["recipients"] for row in identity_routing.spread_of(camp)}
    assert spread == {"marketing@a.example.com": 8, "marketing@b.example.com": 22}
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'marketing@a.example.com <span class="text-secondary">· 8 recipients' in page
    assert 'marketing@b.example.com <span class="text-secondary">· 22 recipients' in page
    items = api.get(f"/campaigns/{camp.id}/recipients?per_page=100").get_json()["items"]
    assert Counter(i["identity_id"] for i in items) == {ia.id: 8, ib.id: 22}

    # Tomorrow's campaign: a pause of a's plan holds a's recipients only; b's go out.
    later, _ = _clone(workspace, camp)
    smtp_sink.messages.clear()
    from tests.integration.test_warming import _next_day

    _next_day(plan.id)
    lifecycle.send_now(workspace.id, later.id)
    db.session.commit()
    recipients.prepare_campaign(later.id)  # as the worker's first job would: a's plan is not paused yet
    db.session.commit()
    warming.pause(db.session.get(WarmingPlan, plan.id), "Paused by a test")
    db.session.commit()
    worker()
    held = db.session.scalars(select(CampaignRecipient.identity_id).filter_by(
        campaign_id=later.id, status="pending", reason=warming_holds.PAUSED_WAIT)).all()  # fmt: skip
    assert held and set(held) == {ia.id}
    assert {f for f, _ in _froms(smtp_sink).values()} == {"marketing@b.example.com"}
    assert len(smtp_sink.messages) == 30 - len(held)
    assert api.get(f"/domains/{a.id}/warming").get_json()["waiting"] == len(held)

    resumed = api.post(f"/domains/{a.id}/warming/resume").get_json()
    assert resumed["status"] == "warming"
    dispatch.release_warming()
    db.session.commit()
    worker()
    assert len(smtp_sink.messages) == 30 and db.session.get(Campaign, later.id).status == "sent"


def test_a_bounce_counts_against_the_domain_the_message_was_sent_from(workspace, smtp_sink, worker, client):
    from tests.factories import create_provider
    from tests.webhook_support import carried_by

    camp, [(a, _), (b, _)] = _pooled_campaign(workspace, smtp_sink, people(4, email="x{i}@example.org"),
                                              strategy="priority")  # fmt: skip
    _score(workspace, a, 20, "CRITICAL")
    db.session.commit()
    _send(workspace, camp, worker)
    sendgrid = create_provider(workspace.id, "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)},
                               {"api_key": "SG.x.y"})  # fmt: skip
    db.session.commit()
    carried_by(camp.id, sendgrid.id)
    sent = recipients_of(camp.id)
    bounce = sendgrid_event("bounce", sent[0], camp.id, type="bounce", status="5.1.1", reason="550 5.1.1 no such user")
    assert post_sendgrid(client, sendgrid.id, [bounce]).status_code == 200
    worker()
    bounced = dict(db.session.execute(select(DeliveryStat.sending_domain, func.sum(DeliveryStat.bounced_hard))
                                      .group_by(DeliveryStat.sending_domain)).all())  # fmt: skip
    assert bounced.get("b.example.com") == 1 and not bounced.get("a.example.com")


def test_a_campaign_whose_identity_is_not_in_the_pool_keeps_its_own_from(workspace, smtp_sink, worker):
    camp, made = _pooled_campaign(workspace, smtp_sink, people(3, email="k{i}@example.org"))
    own, _ = create_signing_domain(workspace, "own.example.com")
    outsider = create_identity(workspace.id, own.id)
    camp.identity_id, camp.from_email = outsider.id, outsider.email
    db.session.commit()
    assert identity_routing.rotates(camp) == []
    _send(workspace, camp, worker)
    assert {f for f, _ in _froms(smtp_sink).values()} == {"marketing@own.example.com"}
    assert identity_routing.spread_of(camp) == []


def test_an_identity_deleted_mid_send_leaves_its_recipients_the_campaigns_own_from(workspace, smtp_sink, worker):
    from app.services.delivery import identities

    camp, [(a, ia), (b, ib)] = _pooled_campaign(workspace, smtp_sink, people(6, email="z{i}@example.org"))
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    recipients.prepare_campaign(camp.id)  # as the worker's first job would
    db.session.commit()
    assert identity_routing.spread_of(camp)[0]["recipients"] == 3
    identities.delete_identity(workspace.id, ib.id)
    db.session.commit()
    worker()
    froms = _froms(smtp_sink)
    assert len(froms) == 6 and {f for f, _ in froms.values()} == {"marketing@a.example.com"}
