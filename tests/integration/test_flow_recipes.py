"""Ready-made flows: each recipe makes a draft with its emails (visual templates from the builder's
starters, rendering the flow's event) that activates as it is; the abandoned cart reminds exactly the
people who did not order, twice, with their own items, through a real SMTP server; the re-engagement
sunset unsubscribes those who still do not engage; a wrong option is named and leaves nothing behind."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    CampaignRecipient,
    CustomerEvent,
    Flow,
    FlowEnrollment,
    Segment,
    Subscriber,
    Suppression,
    Template,
)
from app.services import designs
from app.services.audience import segments, tags
from app.services.automation import enrollment, flow_engine, flow_plan, flows, recipes
from app.services.content import templates
from app.services.errors import ValidationError
from tests.factories import create_campaign, create_list, create_smtp_provider, create_subscribers, people

# The event each recipe's emails are rendered with (as its trigger would carry it).
EVENTS = {
    "abandoned_cart": {"type": "cart_updated", "properties": {
        "items": [{"sku": "TB-1", "name": "Crème brûlée torch", "price": 24.5, "quantity": 2,
                   "url": "https://shop.example.com/p/torch", "image_url": "https://shop.example.com/torch.png"}],
        "cart_url": "https://shop.example.com/cart/7", "total": 49, "currency": "EUR"}},
    "abandoned_wishlist": {"type": "wishlist_added", "properties": {
        "sku": "BW-2", "name": "Café au lait bowl", "price": "18.00", "currency": "EUR",
        "url": "https://shop.example.com/p/bowl", "image_url": "https://shop.example.com/bowl.png"}},
    "price_drop": {"type": "price_dropped", "properties": {
        "sku": "BW-2", "name": "Café au lait bowl", "old_price": "24.00", "new_price": "18.00", "currency": "EUR",
        "url": "https://shop.example.com/p/bowl", "image_url": "https://shop.example.com/bowl.png"}},
    "back_in_stock": {"type": "back_in_stock", "properties": {
        "sku": "BW-2", "name": "Café au lait bowl", "price": "18.00", "currency": "EUR",
        "url": "https://shop.example.com/p/bowl", "image_url": "https://shop.example.com/bowl.png"}},
    "post_purchase": {"type": "order_placed", "occurred_at": "2026-05-04T10:00:00+00:00", "properties": {
        "order_id": "A-1042", "total": "49.00", "currency": "EUR",
        "items": [{"sku": "TB-1", "name": "Crème brûlée torch", "price": 24.5, "quantity": 2}]}},
}  # fmt: skip
# What each recipe's first email must show of its event.
SHOWN = {
    "abandoned_cart": ("Crème brûlée torch", "EUR 49.00"),
    "abandoned_wishlist": ("Café au lait bowl", "EUR 18.00"),
    "price_drop": ("EUR 24.00", "EUR 18.00"),
    "back_in_stock": ("Café au lait bowl", "EUR 18.00"),
    "post_purchase": ("#A-1042", "Crème brûlée torch"),
}


def _email_steps(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        if step["type"] == "email":
            out.append(step)
        out += _email_steps(step.get("yes", [])) + _email_steps(step.get("no", []))
    return out


def _usual_sender(workspace) -> int:
    """A campaign (a draft is enough) that shows the workspace's usual sender, and a list."""
    lst = create_list(workspace.id, "Newsletter")
    tpl = templates.create_template(
        workspace.id,
        {"name": "News", "subject": "News", "body_html": '<p>Hi</p><a href="{{ unsubscribe_url }}">Leave</a>'},
    )
    create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.commit()
    return lst.id


@pytest.mark.parametrize("key", recipes.KEYS)
def test_each_recipe_makes_a_draft_with_its_emails_that_activates(workspace, key):
    list_id = _usual_sender(workspace)
    flow = recipes.create_from_recipe(workspace.id, key, {"list_id": list_id} if key == "welcome" else None)
    db.session.commit()
    assert (flow.status, flow.recipe, flow.version_id) == ("draft", key, None)
    recipe = recipes.get_recipe(key)
    assert flow.name == recipe.title and flow.trigger["type"] == recipe.trigger
    assert flow_plan.clean_steps(workspace.id, flow.steps) == flow.steps  # stored as the checks make them

    emails = _email_steps(flow.steps)
    assert emails and all("from_email" not in s and "identity_id" not in s for s in emails)  # the usual sender
    for step in emails:
        tpl = db.session.get(Template, step["template_id"])
        assert (tpl.workspace_id, tpl.template_type, tpl.category) == (workspace.id, "visual", "marketing")
        assert designs.has_unsubscribe_link(tpl.design), tpl.name
        context = {"event": EVENTS.get(key, {"properties": {}}), "flow": {"entered_at": "2026-05-04T10:00:00+00:00"},
                   "subscriber": {"name": "Zoë Ærøe"}}  # fmt: skip
        out = templates.preview("https://herald.example", tpl.subject, tpl.body_html, tpl.body_text, None, context)
        assert "Zoë Ærøe" in out["html"] + out["subject"], tpl.name
        assert "https://herald.example/u/sample" in out["html"]  # the unsubscribe link, for every recipient
    first = db.session.get(Template, emails[0]["template_id"])
    out = templates.preview("https://herald.example", first.subject, first.body_html, first.body_text, None,
                            {"event": EVENTS.get(key, {"properties": {}})})  # fmt: skip
    for shown in SHOWN.get(key, ()):
        assert shown in out["html"] + out["subject"], (key, shown)

    flows.activate(workspace.id, flow.id)
    db.session.commit()
    assert flow.status == "active" and flows.current_version(flow).number == 1


def test_the_sender_options_go_on_every_email_step(workspace):
    flow = recipes.create_from_recipe(
        workspace.id, "onboarding", {"from_email": "Team@Example.com", "from_name": "Zoë from Herald", "name": "Hi"}
    )
    emails = _email_steps(flow.steps)
    assert len(emails) == 3 and flow.name == "Hi"
    assert {(s["from_email"], s["from_name"]) for s in emails} == {("team@example.com", "Zoë from Herald")}
    flows.activate(workspace.id, flow.id)  # no campaign yet: the steps' own sender is enough
    assert flow.status == "active"


BAD_OPTIONS = [
    ("welcome", None, "options.list_id", "Required"),
    ("welcome", {"list_id": 99_999_999}, "options.list_id", "No such list"),
    ("welcome", {"list_id": "seven"}, "options.list_id", "lists"),
    ("abandoned_cart", {"idle_minutes": 4}, "options.idle_minutes", "between 5 and 10,080"),
    ("abandoned_cart", {"idle_minutes": 10_081}, "options.idle_minutes", "between 5 and 10,080"),
    ("abandoned_cart", {"idle_minutes": True}, "options.idle_minutes", "whole number"),
    ("abandoned_cart", {"idle_minutes": 60, "idle": 5}, "options.idle", "Not an option"),
    ("abandoned_cart", {"from_name": "Shop"}, "options.from_email", "Required with from_name"),
    ("abandoned_cart", {"from_email": "not an address"}, "options.from_email", ""),
    ("abandoned_cart", {"identity_id": 12345}, "options.identity_id", "No such sending identity"),
    ("reengagement", {"sunset": "yes"}, "options.sunset", "true or false"),
    ("birthday", {"code": "<b>20%</b>"}, "options.code", "Letters, digits"),
    ("onboarding", {"milestone": "Profile Completed"}, "options.milestone", "Lower-case"),
    ("no_such_recipe", None, "recipe", "One of welcome"),
]


@pytest.mark.parametrize(("key", "options", "place", "words"), BAD_OPTIONS)
def test_a_wrong_option_is_named_and_nothing_is_made(workspace, make_workspace, key, options, place, words):
    if options and options.get("list_id") == 99_999_999:
        theirs = create_list(make_workspace("Other").id, "Theirs")  # another workspace's list is no better
        db.session.commit()
        with pytest.raises(ValidationError) as refused:
            recipes.create_from_recipe(workspace.id, key, {"list_id": theirs.id})
        assert "No such list" in refused.value.fields[place]
    with pytest.raises(ValidationError) as refused:
        recipes.create_from_recipe(workspace.id, key, options)
    assert list(refused.value.fields) == [place] and words in refused.value.fields[place]
    assert refused.value.message.startswith(place)
    for model in (Flow, Template, Segment):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def _shoppers(workspace, n=3) -> list[Subscriber]:
    lst = create_list(workspace.id, "Shoppers")
    create_subscribers(workspace.id, people(n, email="shopper{i}@example.org", name="Zoë {i}"), lst.id)
    db.session.commit()
    return list(db.session.scalars(select(Subscriber).order_by(Subscriber.email)))


def _event(workspace, person, kind, at, **properties) -> enrollment.Event:
    row = CustomerEvent(workspace_id=workspace.id, subscriber_id=person.id, type=kind, properties=properties,
                        occurred_at=at, source="api")  # fmt: skip
    db.session.add(row)
    db.session.flush()
    return enrollment.Event(row.id, person.id, kind, properties, at)


CART_ITEMS = {
    0: [("Crème brûlée torch", 2, 24.5), ("Espresso cups, set of 4", 1, 32.0)],
    1: [("Linen apron", 1, 29.0)],
    2: [("Café au lait bowl", 3, 12.0)],
}


def _cart(i: int) -> dict:
    items = [{"sku": f"SKU-{i}-{n}", "name": name, "quantity": q, "price": p,
              "url": f"https://shop.example.com/p/{i}-{n}", "image_url": f"https://shop.example.com/{i}-{n}.png"}
             for n, (name, q, p) in enumerate(CART_ITEMS[i])]  # fmt: skip
    total = sum(q * p for _name, q, p in CART_ITEMS[i])
    return {"items": items, "cart_url": f"https://shop.example.com/cart/{i}", "total": total, "currency": "EUR"}


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def test_the_abandoned_cart_recipe_reminds_the_two_who_did_not_order_twice_with_their_items(
    workspace, smtp_sink, worker
):
    create_smtp_provider(workspace.id, smtp_sink.port)
    options = {"idle_minutes": 30, "from_email": "hello@hearth.example", "from_name": "Hearth & Co."}
    flow = recipes.create_from_recipe(workspace.id, "abandoned_cart", options)
    flows.activate(workspace.id, flow.id)
    db.session.commit()
    a, b, c = _shoppers(workspace)
    start = datetime.now(timezone.utc)
    carts = [_event(workspace, p, "cart_updated", start, **_cart(i)) for i, p in enumerate((a, b, c))]
    assert enrollment.on_events(workspace.id, carts)["entered"] == 3
    db.session.commit()
    order = _event(workspace, b, "order_placed", start + timedelta(minutes=10), order_id="o-1", total=29,
                   currency="EUR")  # fmt: skip
    assert enrollment.on_events(workspace.id, [order])["goals"] == 1
    db.session.commit()

    assert flow_engine.advance(now=start + timedelta(minutes=29)) == {}  # idle for 30 minutes: not yet
    assert flow_engine.advance(now=start + timedelta(minutes=31)) == {"waited": 2, "queued": 2}
    worker()
    first = {m["rcpt_tos"][0]: m["message"] for m in smtp_sink.messages}
    assert set(first) == {a.email, c.email}
    assert all(m["Subject"] == "You left something in your cart" for m in first.values())
    assert first[a.email]["From"].addresses[0].addr_spec == "hello@hearth.example"
    html_a, html_c = _html(first[a.email]), _html(first[c.email])
    assert "Crème brûlée torch" in html_a and "Espresso cups, set of 4" in html_a and "Café au lait bowl" not in html_a
    assert "Quantity: 2" in html_a and "EUR 24.50" in html_a and "EUR 81.00" in html_a and "Zoë 0" in html_a
    assert "Café au lait bowl" in html_c and "Quantity: 3" in html_c and "Crème brûlée" not in html_c
    assert "Linen apron" not in html_a + html_c

    assert flow_engine.advance(now=start + timedelta(hours=24, minutes=30)) == {}  # the day's wait is not over
    assert flow_engine.advance(now=start + timedelta(hours=24, minutes=32)) == {"waited": 2, "queued": 2}
    worker()
    second = [m for m in smtp_sink.messages[2:]]
    assert sorted(m["rcpt_tos"][0] for m in second) == [a.email, c.email]
    assert all(m["message"]["Subject"] == "Still thinking it over? Your cart is waiting" for m in second)
    again = {m["rcpt_tos"][0]: _html(m["message"]) for m in second}
    assert "Still thinking it over?" in again[c.email] and "Café au lait bowl" in again[c.email]

    assert flow_engine.advance(now=start + timedelta(days=5)) == {}
    worker()
    assert len(smtp_sink.messages) == 4 and b.email not in {m["rcpt_tos"][0] for m in smtp_sink.messages}
    statuses = dict(db.session.execute(select(FlowEnrollment.subscriber_id, FlowEnrollment.status)).all())
    assert statuses == {a.id: "completed", b.id: "goal", c.id: "completed"}
    counts = flows.step_counts(flow)
    assert counts["s2"]["outcomes"] == {"queued": 2} and counts["s4"]["outcomes"] == {"queued": 2}


def test_the_reengagement_segment_finds_people_who_stopped_opening(workspace):
    flow = recipes.create_from_recipe(workspace.id, "reengagement", {"inactive_days": 90, "from_email": "a@b.example"})
    segment = db.session.get(Segment, flow.trigger["segment_id"])
    assert segment.workspace_id == workspace.id and segment.rules == recipes.inactive_rules(90)
    create_subscribers(workspace.id, people(3, email="r{i}@example.org"))
    old, new, opener = db.session.scalars(select(Subscriber).order_by(Subscriber.email)).all()
    long_ago = datetime.now(timezone.utc) - timedelta(days=200)
    db.session.execute(update(Subscriber).where(Subscriber.id.in_([old.id, opener.id])).values(created_at=long_ago))
    _opened(workspace, opener, datetime.now(timezone.utc) - timedelta(days=3))
    members = set(db.session.scalars(segments.segment_members(workspace.id, segment.id)))
    assert members == {old.id}


def _opened(workspace, person, at) -> None:
    """A person's open (a human verdict) of some campaign's message."""
    lst = create_list(workspace.id, f"Once {person.id}")
    tpl = templates.create_template(
        workspace.id, {"name": "N", "subject": "N", "body_html": '<a href="{{ unsubscribe_url }}">x</a>'}
    )
    campaign = create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.add(CampaignRecipient(campaign_id=campaign.id, subscriber_id=person.id, email=person.email,
                                     status="sent", sent_at=at, human_opened_at=at))  # fmt: skip
    db.session.flush()


def test_the_sunset_unsubscribes_those_who_still_do_not_engage(workspace, smtp_sink):
    create_smtp_provider(workspace.id, smtp_sink.port)
    flow = recipes.create_from_recipe(workspace.id, "reengagement", {"sunset": True, "from_email": "hi@shop.example"})
    steps = flow.steps
    assert steps[-1]["no"][0] == {"id": steps[-1]["no"][0]["id"], "type": "update", "add_tags": ["sunset"],
                                  "unsubscribe": True, "label": "Sunset: unsubscribe"}  # fmt: skip
    flows.update_flow(workspace.id, flow.id, {"trigger": {"type": "api"}})  # to enroll them now, by hand
    flows.activate(workspace.id, flow.id)
    create_subscribers(workspace.id, people(2, email="quiet{i}@example.org"))
    db.session.commit()
    stays, goes = db.session.scalars(select(Subscriber).order_by(Subscriber.email)).all()
    for person in (stays, goes):
        assert enrollment.enroll_api(workspace.id, flow, person.id, None)
    db.session.commit()
    start = datetime.now(timezone.utc)
    assert flow_engine.advance(now=start + timedelta(minutes=1)) == {"queued": 2}
    assert flow_engine.advance(now=start + timedelta(days=7, minutes=2)) == {"waited": 2, "queued": 2}
    _opened(workspace, stays, datetime.now(timezone.utc))  # the "last note" worked for one of them
    db.session.commit()
    assert flow_engine.advance(now=start + timedelta(days=14, minutes=1)) == {}  # a week after the last note
    moved = flow_engine.advance(now=start + timedelta(days=14, minutes=3))
    assert moved == {"waited": 2, "yes": 1, "no": 1, "updated": 2}
    db.session.expire_all()
    assert db.session.get(Subscriber, stays.id).status == "active" and tags.tags_of(stays.id) == ["re-engaged"]
    gone = db.session.get(Subscriber, goes.id)
    assert gone.status == "unsubscribed" and tags.tags_of(goes.id) == ["sunset"]
    suppression = db.session.scalar(select(Suppression).where(Suppression.email == goes.email))
    assert suppression.reason == "unsubscribed" and "Sunset by the flow “Re-engagement”" in suppression.detail


def test_a_price_drop_and_a_restock_mail_exactly_the_people_who_wished_or_asked(api, workspace, smtp_sink, worker):
    create_smtp_provider(workspace.id, smtp_sink.port)
    sender = {"from_email": "shop@hearth.example"}
    for key in ("price_drop", "back_in_stock"):
        flows.activate(workspace.id, recipes.create_from_recipe(workspace.id, key, sender).id)
    create_subscribers(workspace.id, people(4, email="w{i}@example.org", name="Zoë {i}"))
    db.session.commit()
    lamp = {"name": "Lampe à poser", "price": "100.00", "currency": "EUR", "in_stock": False, "inventory": 0}
    assert api.put("/products/LAMP", json=lamp).status_code == 201
    wishes = [("w0@example.org", {}), ("w1@example.org", {"price": "60"})]  # w1 saw it at 60
    events = [{"type": "wishlist_added", "email": e, "properties": {"sku": "LAMP", **p}} for e, p in wishes]
    events.append({"type": "back_in_stock_requested", "email": "w2@example.org", "properties": {"sku": "LAMP"}})
    assert api.post("/events", json={"events": events}).status_code == 202

    assert api.put("/products/LAMP", json=lamp | {"price": "80.00"}).status_code == 200  # w0 wished it dearer
    assert (
        api.put("/products/LAMP", json=lamp | {"price": "80.00", "in_stock": True, "inventory": 5}).status_code == 200
    )
    flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(minutes=5))
    worker()
    got = sorted((m["rcpt_tos"][0], m["message"]["Subject"]) for m in smtp_sink.messages)
    to = [email for email, _subject in got]
    assert to.count("w0@example.org") == 2  # the drop, and the restock of what they wish for
    assert to.count("w2@example.org") == 1 and to.count("w1@example.org") == 1  # w1: the restock only
    assert "w3@example.org" not in to
