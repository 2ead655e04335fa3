"""Campaigns to segments send exactly to the members; exclusions, categories and frequencies skip
people with their reason; the segments API answers as its document says."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from app.extensions import db
from app.models import CampaignRecipient, SubscriberPreference, Workspace
from app.services.audience import contacts, segments, suppression
from app.services.campaigns import lifecycle
from tests.factories import (
    create_campaign,
    create_list,
    create_smtp_provider,
    create_subscribers,
    create_template,
    people,
)


def _received(sink) -> set[str]:
    return {m["rcpt_tos"][0] for m in sink.messages}


def _reasons(campaign_id: int) -> dict[str, str | None]:
    rows = db.session.query(CampaignRecipient).filter_by(campaign_id=campaign_id)
    return {r.email: r.reason for r in rows}


def _send(workspace, campaign, worker):
    lifecycle.send_now(workspace.id, campaign.id)
    db.session.commit()
    worker()
    db.session.expire_all()


def test_newsletter_clickers_minus_customers_get_it_once_and_nobody_else(workspace, smtp_sink, worker):
    news, customers = create_list(workspace.id, "Newsletter"), create_list(workspace.id, "Customers")
    create_subscribers(workspace.id, people(30, email="n{i}@example.org", plan="pro"), news.id)
    create_subscribers(workspace.id, people(10, email="n{i}@example.org"), customers.id)  # n0..n9 bought
    create_subscribers(workspace.id, people(5, email="vip{i}@example.org", plan="pro"))  # on no list
    pros = segments.create_segment(workspace.id, "Pros", {"field": "attributes.plan", "op": "eq", "value": "PRO"})
    provider = create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(workspace.id)
    camp = create_campaign(
        workspace.id, tpl.id, [news.id], provider.id, segment_ids=[pros.id], exclude_list_ids=[customers.id]
    )
    db.session.commit()
    _send(workspace, camp, worker)

    expected = {f"n{i}@example.org" for i in range(10, 30)} | {f"vip{i}@example.org" for i in range(5)}
    assert _received(smtp_sink) == expected
    assert len(smtp_sink.messages) == len(expected)  # on the list and in the segment: once


def test_category_opt_outs_and_frequencies_are_skipped_with_their_reason(api, workspace, smtp_sink, worker):
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, people(6, email="c{i}@example.org"), lst.id)
    db.session.commit()
    cat = api.post("/categories", json={"name": "Promotions"}).json
    subs = {s.email: s for s in db.session.scalars(contacts.search_subscribers(workspace.id, list_id=lst.id))}
    choose = {"c0@example.org": (False, "immediate"), "c1@example.org": (True, "weekly"),
              "c2@example.org": (True, "daily"), "c3@example.org": (True, "monthly")}  # fmt: skip
    for email, (subscribed, frequency) in choose.items():
        db.session.add(SubscriberPreference(subscriber_id=subs[email].id, category_id=cat["id"],
                                            subscribed=subscribed, frequency=frequency))  # fmt: skip
    provider = create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(workspace.id)
    first = create_campaign(workspace.id, tpl.id, [lst.id], provider.id, category_id=cat["id"], name="Sale 1")
    db.session.commit()
    _send(workspace, first, worker)
    assert _reasons(first.id)["c0@example.org"] == "suppressed:category"
    assert len(smtp_sink.messages) == 5

    # Two days later: the daily person may have another, the weekly and monthly ones not yet.
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == first.id)
        .values(sent_at=datetime.now(timezone.utc) - timedelta(days=2))
    )
    second = create_campaign(workspace.id, tpl.id, [lst.id], provider.id, category_id=cat["id"], name="Sale 2")
    other = create_campaign(workspace.id, tpl.id, [lst.id], provider.id, name="Newsletter")  # no category
    db.session.commit()
    smtp_sink.messages.clear()
    _send(workspace, second, worker)
    reasons = _reasons(second.id)
    assert reasons["c0@example.org"] == "suppressed:category"
    assert reasons["c1@example.org"] == reasons["c3@example.org"] == "frequency"
    assert reasons["c2@example.org"] is None and reasons["c4@example.org"] is None
    assert _received(smtp_sink) == {"c2@example.org", "c4@example.org", "c5@example.org"}
    shown = api.get(f"/campaigns/{second.id}/recipients?status=failed").json["items"]
    assert {r["email"]: r["reason"] for r in shown} == {
        "c0@example.org": "suppressed:category", "c1@example.org": "frequency", "c3@example.org": "frequency"}  # fmt: skip
    smtp_sink.messages.clear()
    _send(workspace, other, worker)
    assert len(smtp_sink.messages) == 6  # a campaign without a category goes to everyone


def test_domain_and_role_suppression_skip_with_their_reason(workspace, smtp_sink, worker):
    lst = create_list(workspace.id, "All")
    rows = [{"email": e} for e in ("ann@rival.com", "abuse@shop.org", "bob@shop.org", "postmaster@shop.org")]
    create_subscribers(workspace.id, rows, lst.id)
    suppression.add_suppression(workspace.id, "@rival.com", "manual")
    db.session.execute(update(Workspace).where(Workspace.id == workspace.id).values(suppress_role_addresses=True))
    provider = create_smtp_provider(workspace.id, smtp_sink.port)
    camp = create_campaign(workspace.id, create_template(workspace.id).id, [lst.id], provider.id)
    db.session.commit()
    _send(workspace, camp, worker)
    assert _reasons(camp.id) == {"ann@rival.com": "suppressed:domain", "abuse@shop.org": "suppressed:role",
                                 "postmaster@shop.org": "suppressed:role", "bob@shop.org": None}  # fmt: skip
    assert _received(smtp_sink) == {"bob@shop.org"}


def test_the_segments_api_counts_lists_and_freezes(api, conforms, workspace, make_workspace):
    lst = api.post("/lists", json={"name": "All"}).json
    rows = [
        {"email": f"s{i}@example.org", "attributes": {"score": i, "joined": f"2026-0{1 + i % 9}-15"}} for i in range(20)
    ]
    assert api.post("/subscribers/import", json={"rows": rows, "list_ids": [lst["id"]]}).status_code in (200, 202)
    rules = {
        "all": [
            {"field": "attributes.score", "op": "gte", "value": 10},
            {"field": "list", "op": "eq", "value": lst["id"]},
        ]
    }
    counted = conforms(api.post("/segments/count", json={"rules": rules}), "SegmentCount")
    assert counted == {"count": 10, "estimated": False}
    made = conforms(api.post("/segments", json={"name": "High scores", "rules": rules}), "Segment", 201)
    assert made["count"] == 10
    members = conforms(api.get(f"/segments/{made['id']}/subscribers?per_page=5"), "SubscriberSummaryPage")
    assert members["total"] == 10 and len(members["items"]) == 5
    frozen = conforms(api.post(f"/segments/{made['id']}/freeze", json={"list_name": "Frozen"}), "FrozenList", 201)
    assert frozen["subscribers"] == 10
    assert api.get(f"/lists/{frozen['list_id']}").json["name"] == "Frozen"
    field = conforms(api.post("/fields", json={"key": "joined", "type": "date"}), "Field", 201)
    assert field["type"] == "date"
    after = api.post(
        "/segments/count", json={"rules": {"field": "attributes.joined", "op": "after", "value": "2026-05-01"}}
    )
    assert after.json["count"] == sum(1 + i % 9 >= 5 for i in range(20))
    bad = api.post(
        "/segments/count", json={"rules": {"all": [{"field": "attributes.score", "op": "between", "value": 3}]}}
    )
    assert bad.status_code == 422 and "rules.all.0.value" in bad.json["error"]["fields"]
    # Another workspace's segment answers 404, and its list cannot be named in a rule.
    other = make_workspace("Other", "other@example.com")
    theirs = segments.create_segment(other.id, "Theirs", {"field": "email", "op": "is_set"})
    db.session.commit()
    assert api.get(f"/segments/{theirs.id}").status_code == 404
    camp = api.post("/campaigns", json={"name": "X", "template_id": 1, "segment_ids": [theirs.id],
                                        "from_name": "A", "from_email": "a@example.com"})  # fmt: skip
    assert camp.status_code == 422 and "segment_ids" in camp.json["error"]["fields"]
    # A segment a draft targets cannot be deleted from under it.
    assert api.delete(f"/segments/{made['id']}").status_code == 204
