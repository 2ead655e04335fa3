"""Flows from the engine's side: people enter on an event, waits end when time moves on, an email step
sends through the campaign pipeline (to a real SMTP server) with the cart's items, a goal ends the
flow, conditions branch, milestones wait, re-entry and a second tick never repeat a step."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign, CampaignRecipient, CustomerEvent, FlowEnrollment, FlowStepRun, Subscriber
from app.services.automation import enrollment, flow_engine, flows
from tests.factories import create_list, create_smtp_provider, create_subscribers, create_template, people

CART_HTML = (
    "<p>Hi {{ subscriber.name }}, you left these:</p><ul>{% for item in event.properties['items'] %}"
    "<li>{{ item.name }} × {{ item.quantity }}</li>{% endfor %}</ul>"
    '<p><a href="{{ event.properties.cart_url }}">Back to your cart</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


def _people(workspace, n=3):
    lst = create_list(workspace.id, "Shoppers")
    create_subscribers(workspace.id, people(n, email="shopper{i}@example.org", name="Zoë {i}"), lst.id)
    db.session.commit()
    return {s.email: s for s in db.session.scalars(select(Subscriber).where(Subscriber.workspace_id == workspace.id))}


def _event(workspace, person, kind, at, **properties) -> enrollment.Event:
    row = CustomerEvent(workspace_id=workspace.id, subscriber_id=person.id, type=kind, properties=properties,
                        occurred_at=at, source="api")  # fmt: skip
    db.session.add(row)
    db.session.flush()
    return enrollment.Event(row.id, person.id, kind, properties, at)


def _cart_flow(workspace, smtp_sink, **changes):
    create_smtp_provider(workspace.id, smtp_sink.port)
    tpl = create_template(workspace.id, subject="Your cart misses you", html=CART_HTML, name="Cart reminder")
    data = {
        "name": "Abandoned cart",
        "trigger": {"type": "event", "event": "cart_updated", "restart": True},
        "steps": [
            {"type": "wait", "minutes": 60},
            {"type": "email", "template_id": tpl.id, "from_email": "shop@example.com", "from_name": "Shop"},
        ],
        "goals": [{"event": "order_placed"}],
    } | changes
    flow = flows.create_flow(workspace.id, data)
    flows.activate(workspace.id, flow.id)
    db.session.commit()
    return flow


def _cart(n: int) -> dict:
    return {"items": [{"sku": f"SKU-{n}", "name": f"Crème brûlée set {n}", "quantity": n, "price": 12.5}],
            "cart_url": f"https://shop.example.com/cart/{n}"}  # fmt: skip


def test_an_abandoned_cart_reminds_the_two_who_did_not_order_with_their_items(workspace, smtp_sink, worker):
    flow = _cart_flow(workspace, smtp_sink)
    by_email = _people(workspace)
    a, b, c = (by_email[f"shopper{i}@example.org"] for i in range(3))
    start = datetime.now(timezone.utc)
    events = [_event(workspace, p, "cart_updated", start, **_cart(i + 1)) for i, p in enumerate((a, b, c))]
    assert enrollment.on_events(workspace.id, events)["entered"] == 3
    db.session.commit()

    order = _event(workspace, b, "order_placed", start + timedelta(minutes=30), order_id="o-1", total=25)
    assert enrollment.on_events(workspace.id, [order])["goals"] == 1
    db.session.commit()

    assert flow_engine.advance(now=start + timedelta(minutes=30)) == {}  # nobody is due yet
    moved = flow_engine.advance(now=start + timedelta(minutes=61))
    assert moved["waited"] == 2 and moved["queued"] == 2
    worker()
    sent = {m["rcpt_tos"][0]: m["message"] for m in smtp_sink.messages}
    assert set(sent) == {a.email, c.email}
    html = sent[c.email].get_body(("html",)).get_content()
    assert "Crème brûlée set 3 × 3" in html and "Zoë 2" in html

    # The flow is done for them; a second tick repeats nothing and sends nothing more.
    assert flow_engine.advance(now=start + timedelta(days=2)) == {}
    worker()
    assert len(smtp_sink.messages) == 2
    statuses = dict(db.session.execute(select(FlowEnrollment.subscriber_id, FlowEnrollment.status)).all())
    assert statuses == {a.id: "completed", b.id: "goal", c.id: "completed"}
    counts = flows.step_counts(flow)
    assert counts["s2"]["outcomes"] == {"queued": 2}
    campaign = db.session.scalar(select(Campaign).where(Campaign.flow_id == flow.id))
    assert campaign.status == "sending" and campaign.flow_step_id == "s2"


def test_a_new_cart_event_restarts_the_idle_wait_and_shows_the_newest_cart(workspace, smtp_sink, worker):
    _cart_flow(workspace, smtp_sink)
    person = _people(workspace, 1)["shopper0@example.org"]
    start = datetime.now(timezone.utc)
    enrollment.on_events(workspace.id, [_event(workspace, person, "cart_updated", start, **_cart(1))])
    db.session.commit()
    later = _event(workspace, person, "cart_updated", start + timedelta(minutes=50), **_cart(4))
    enrollment.on_events(workspace.id, [later])
    db.session.commit()
    row = db.session.scalar(select(FlowEnrollment))
    assert row.context["event"]["properties"]["items"][0]["quantity"] == 4
    assert flow_engine.advance(now=start + timedelta(minutes=61)) == {}  # idle since its last change: not yet
    assert flow_engine.advance(now=start + timedelta(minutes=200))["queued"] == 1
    worker()
    assert "Crème brûlée set 4 × 4" in smtp_sink.messages[0]["message"].get_body(("html",)).get_content()


def test_a_suppressed_person_is_skipped_with_the_reason_and_the_flow_goes_on(workspace, smtp_sink, worker):
    from app.services.audience import contacts

    flow = _cart_flow(workspace, smtp_sink)
    person = _people(workspace, 1)["shopper0@example.org"]
    contacts.suppress_address(workspace.id, person.email, "complained")
    start = datetime.now(timezone.utc)
    enrollment.on_events(workspace.id, [_event(workspace, person, "cart_updated", start, **_cart(1))])
    db.session.commit()
    flow_engine.advance(now=start + timedelta(minutes=61))
    run = db.session.scalar(select(FlowStepRun).where(FlowStepRun.step_id == "s2"))
    assert run.outcome == "skipped: suppressed:complained"
    row = db.session.scalar(select(CampaignRecipient))
    assert row.status == "failed" and row.reason == "suppressed:complained"
    assert db.session.scalar(select(FlowEnrollment.status)) == "completed"
    assert flows.enrollment_counts(flow)["completed"] == 1


def test_conditions_branch_and_updates_change_the_person(workspace, smtp_sink):
    create_smtp_provider(workspace.id, smtp_sink.port)
    vip = create_list(workspace.id, "VIP")
    data = {
        "name": "Big spenders",
        "trigger": {"type": "event", "event": "order_placed", "filters": [{"property": "total", "op": "gte", "value": 100}]},
        "steps": [
            {"type": "condition", "if": {"rules": {"all": [{"field": "attributes.country", "op": "eq", "value": "FR"}]}},
             "yes": [{"type": "update", "add_tags": ["vip-fr"], "add_to_list": vip.id}],
             "no": [{"type": "update", "attributes": {"tier": "gold"}}]},
            {"type": "update", "add_tags": ["big-spender"]},
        ],
    }  # fmt: skip
    flow = flows.create_flow(workspace.id, data)
    flows.activate(workspace.id, flow.id)
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, [{"email": "fr@example.org", "attributes": {"country": "FR"}},
                                      {"email": "de@example.org", "attributes": {"country": "DE"}},
                                      {"email": "small@example.org", "attributes": {"country": "FR"}}], lst.id)  # fmt: skip
    db.session.commit()
    who = {s.email: s for s in db.session.scalars(select(Subscriber))}
    now = datetime.now(timezone.utc)
    events = [_event(workspace, who["fr@example.org"], "order_placed", now, total=150),
              _event(workspace, who["de@example.org"], "order_placed", now, total="120.50"),
              _event(workspace, who["small@example.org"], "order_placed", now, total=20)]  # fmt: skip
    assert enrollment.on_events(workspace.id, events)["entered"] == 2
    moved = flow_engine.advance(now=now + timedelta(seconds=5))
    assert moved == {"yes": 1, "no": 1, "updated": 4}  # a branch each, then the step after both
    from app.services.audience import tags

    assert tags.tags_of(who["fr@example.org"].id) == ["big-spender", "vip-fr"]
    assert tags.tags_of(who["de@example.org"].id) == ["big-spender"]
    db.session.expire_all()
    assert db.session.get(Subscriber, who["de@example.org"].id).attributes["tier"] == "gold"
    counts = flows.step_counts(flow)
    assert counts["s1"]["outcomes"] == {"yes": 1, "no": 1}


def test_a_milestone_waits_for_its_event_and_times_out_otherwise(workspace):
    data = {"name": "Onboarding", "trigger": {"type": "api"},
            "steps": [{"type": "milestone", "name": "profile_completed", "timeout_hours": 48},
                      {"type": "condition", "if": {"event": "first_login"}, "yes": [], "no": [{"type": "exit"}]},
                      {"type": "update", "attributes": {"onboarded": True}}]}  # fmt: skip
    flow = flows.create_flow(workspace.id, data)
    flows.activate(workspace.id, flow.id)
    lst = create_list(workspace.id, "New")
    create_subscribers(workspace.id, people(2, email="new{i}@example.org"), lst.id)
    db.session.commit()
    one, two = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
    assert enrollment.enroll_api(workspace.id, flow, one.id, None) and enrollment.enroll_api(
        workspace.id, flow, two.id, {"plan": "pro"}
    )
    assert not enrollment.enroll_api(workspace.id, flow, one.id, None)  # once: never twice
    db.session.commit()
    now = datetime.now(timezone.utc)
    events = [_event(workspace, one, "milestone_reached", now + timedelta(minutes=5), name="profile_completed"),
              _event(workspace, one, "first_login", now + timedelta(minutes=6))]  # fmt: skip
    enrollment.on_events(workspace.id, events)
    db.session.commit()
    moved = flow_engine.advance(now=now + timedelta(minutes=10))
    assert moved == {"reached": 1, "yes": 1, "updated": 1}
    moved = flow_engine.advance(now=now + timedelta(hours=49))
    assert moved == {"timeout": 1, "no": 1, "exit": 1}
    statuses = dict(db.session.execute(select(FlowEnrollment.subscriber_id, FlowEnrollment.status)).all())
    assert statuses == {one.id: "completed", two.id: "exited"}


def test_reentry_again_after_days_and_the_cycle_campaign(workspace, smtp_sink, worker):
    flow = _cart_flow(workspace, smtp_sink, reentry={"mode": "again", "after_days": 1})
    person = _people(workspace, 1)["shopper0@example.org"]
    start = datetime.now(timezone.utc)
    enrollment.on_events(workspace.id, [_event(workspace, person, "cart_updated", start, **_cart(1))])
    flow_engine.advance(now=start + timedelta(minutes=61))
    db.session.commit()
    soon = enrollment.enroll(flow, {person.id: {}}, now=start + timedelta(hours=2))
    assert soon == []  # not within a day
    again = enrollment.enroll(flow, {person.id: {"event": {"properties": _cart(2)}}}, now=start + timedelta(days=2))
    assert again == [person.id]
    flow_engine.advance(now=start + timedelta(days=2, minutes=61))
    worker()
    assert len(smtp_sink.messages) == 2
    cycles = sorted(db.session.scalars(select(Campaign.flow_cycle).where(Campaign.flow_id == flow.id)))
    assert cycles == [1, 2]
    assert db.session.scalar(select(func.count()).select_from(FlowEnrollment)) == 2


def test_the_flows_figures_count_people_emails_and_the_revenue_it_recovered(workspace, smtp_sink, worker):
    from app.services.automation import flow_metrics
    from app.services.events import attribution

    flow = _cart_flow(workspace, smtp_sink)
    by_email = _people(workspace)
    a, b, c = (by_email[f"shopper{i}@example.org"] for i in range(3))
    start = datetime.now(timezone.utc)
    events = [_event(workspace, p, "cart_updated", start, **_cart(i + 1)) for i, p in enumerate((a, b, c))]
    enrollment.on_events(workspace.id, events)
    db.session.commit()
    flow_engine.advance(now=start + timedelta(minutes=61))
    worker()
    # After the reminder: c buys (recovered); a bought nothing; an order before the flow's email does not count.
    attribution.record_order(
        workspace.id, {"external_id": "c-1", "email": c.email, "amount": "42.50", "currency": "EUR"}
    )
    attribution.record_order(workspace.id, {"external_id": "b-0", "email": b.email, "amount": "10", "currency": "EUR",
                                            "placed_at": (start - timedelta(days=1)).isoformat()})  # fmt: skip
    db.session.commit()

    report = flow_metrics.report(flow)
    assert report.people == {"active": 0, "completed": 3, "goal": 0, "exited": 0, "entered": 3}
    assert report.emails["sent"] == 3 and report.steps["s2"]["sent"] == 3
    assert report.recovered == {"orders": 1, "revenue": 42.5, "currency": "EUR"}
    days = flow_metrics.daily(flow, days=2)
    assert sum(d["entered"] for d in days) == 3 and sum(d["sent"] for d in days) == 3


def test_carts_posted_to_the_events_api_start_the_flow_and_an_order_stops_it(api, workspace, smtp_sink, worker):
    _cart_flow(workspace, smtp_sink)
    start = datetime.now(timezone.utc)
    carts = [{"type": "cart_updated", "email": f"buyer{i}@example.org", "create_subscriber": True,
              "idempotency_key": f"cart-{i}", "properties": _cart(i + 1)} for i in range(3)]  # fmt: skip
    posted = api.post("/events", json={"events": carts})
    assert posted.status_code == 202 and posted.get_json()["accepted"] == 3, posted.get_json()
    assert api.post("/events", json=carts[0]).get_json()["duplicates"] == 1  # the same cart again: nothing new
    order = {"type": "order_placed", "email": "buyer1@example.org",
             "properties": {"order_id": "A-1", "total": 25, "currency": "EUR"}}  # fmt: skip
    assert api.post("/events", json=order).status_code == 202
    db.session.expire_all()
    assert flows.enrollment_counts(db.session.scalars(select(flows.Flow)).one()) == {
        "active": 2, "completed": 0, "goal": 1, "exited": 0, "entered": 3}  # fmt: skip

    flow_engine.advance(now=start + timedelta(minutes=61))
    worker()
    got = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    assert set(got) == {"buyer0@example.org", "buyer2@example.org"}
    assert "Crème brûlée set 3 × 3" in got["buyer2@example.org"]


def test_a_webhook_step_posts_the_person_and_the_flows_context_signed(workspace, httpserver, worker):
    import json

    from app.services.automation.flow_webhooks import flow_secret
    from app.services.outbound_webhooks.signing import verify_signature

    httpserver.expect_request("/crm", method="POST").respond_with_data("ok")
    flow = flows.create_flow(workspace.id, {
        "name": "Tell the CRM", "trigger": {"type": "api"},
        "steps": [{"type": "webhook", "url": httpserver.url_for("/crm")}],
    })  # fmt: skip
    flows.activate(workspace.id, flow.id)
    person = _people(workspace, 1)["shopper0@example.org"]
    assert enrollment.enroll_api(workspace.id, flow, person.id, {"plan": "pro"})
    db.session.commit()
    assert flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(seconds=5)) == {"called": 1}
    worker()
    ((request, _),) = httpserver.log
    body = json.loads(request.get_data())
    assert body["type"] == "flow.webhook" and body["email"] == person.email
    assert body["data"]["context"] == {"api": {"plan": "pro"}} and body["data"]["flow"]["name"] == "Tell the CRM"
    assert verify_signature(flow_secret(workspace.id), request.headers["X-Herald-Signature"], request.get_data())


def test_a_segment_trigger_can_take_todays_members_and_conditions_ask_for_a_milestone(workspace):
    from app.services.audience import segments

    lst = create_list(workspace.id, "Trial")
    create_subscribers(workspace.id, people(2, email="t{i}@example.org"), lst.id)
    segment = segments.create_segment(
        workspace.id, "On trial", {"all": [{"field": "list", "op": "eq", "value": lst.id}]}
    )
    flow = flows.create_flow(workspace.id, {
        "name": "Trial nudges", "trigger": {"type": "segment", "segment_id": segment.id, "include_existing": True},
        "steps": [{"type": "condition", "if": {"milestone": "first_project"},
                   "yes": [{"type": "update", "add_tags": ["activated"]}], "no": [{"type": "exit"}]}],
    })  # fmt: skip
    flows.activate(workspace.id, flow.id)
    db.session.commit()
    assert enrollment.scan()["segment"] == 2
    one = db.session.scalars(select(Subscriber).where(Subscriber.email == "t0@example.org")).one()
    now = datetime.now(timezone.utc) + timedelta(seconds=2)
    _event(workspace, one, "milestone_reached", now, name="first_project")
    assert flow_engine.advance(now=now + timedelta(seconds=5)) == {"yes": 1, "no": 1, "updated": 1, "exit": 1}


def test_an_update_step_takes_tags_and_list_memberships_off_everyone_at_once(workspace):
    from app.models import ListSubscriber
    from app.services.audience import tags

    trial = create_list(workspace.id, "Trial")
    create_subscribers(workspace.id, people(3, email="u{i}@example.org"), trial.id)
    ids = list(db.session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    tags.tag_subscribers(workspace.id, ids, ["trial", "keep"])
    flow = flows.create_flow(workspace.id, {
        "name": "Converted", "trigger": {"type": "api"},
        "steps": [{"type": "update", "remove_tags": ["trial"], "remove_from_list": trial.id}],
    })  # fmt: skip
    flows.activate(workspace.id, flow.id)
    enrollment.enroll(flow, {sid: {} for sid in ids[:2]})
    db.session.commit()
    assert flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(seconds=5)) == {"updated": 2}
    assert [tags.tags_of(sid) for sid in ids] == [["keep"], ["keep"], ["keep", "trial"]]
    members = set(db.session.scalars(select(ListSubscriber.subscriber_id).where(ListSubscriber.list_id == trial.id)))
    assert members == {ids[2]}
