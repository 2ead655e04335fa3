"""Sending pools: lanes of providers (and domains, identities, IPs) that campaigns go through —
the named pool's providers carry the mail, a default lane takes campaigns that name nothing, and
failover never leaves the lane."""

import re

from app.extensions import db
from app.models import Campaign
from app.services.campaigns import lifecycle
from app.services.delivery import pools
from tests.factories import create_signing_domain, create_smtp_provider, people, smtp_campaign
from tests.support import free_port


def _received(sink) -> int:
    return sum(len(m["rcpt_tos"]) for m in sink.messages)


def test_a_pool_through_the_api(api, workspace, make_workspace):
    a = create_smtp_provider(workspace.id, 2525, name="Relay A")
    b = create_smtp_provider(workspace.id, 2526, name="Relay B", is_default=False)
    domain, _ = create_signing_domain(workspace, "news.example.com")
    theirs = create_smtp_provider(make_workspace("Other").id, 2527, name="Theirs")
    db.session.commit()

    made = api.post("/pools", json={"name": "Marketing", "provider_ids": [b.id, a.id], "domain_ids": [domain.id],
                                    "strategy": "weighted", "weights": {str(b.id): 3}, "default_for": "marketing"})  # fmt: skip
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["provider_ids"] == [b.id, a.id] and body["domain_ids"] == [domain.id]
    assert body["weights"] == {str(b.id): 3, str(a.id): 1} and body["default_for"] == "marketing"

    # A second default for marketing takes over; the first stops being one.
    other = api.post("/pools", json={"name": "Bulk", "provider_ids": [a.id], "default_for": "marketing"}).get_json()
    assert api.get(f"/pools/{body['id']}").get_json()["default_for"] is None
    assert other["default_for"] == "marketing"

    for bad in (
        {"name": ""},
        {"name": "Marketing"},  # taken
        {"name": "X", "strategy": "random"},
        {"name": "X", "provider_ids": [theirs.id]},  # another workspace's provider
        {"name": "X", "provider_ids": "1"},
        {"name": "X", "default_for": "everything"},
        {"name": "X", "strategy": "weighted", "provider_ids": [a.id], "weights": {str(a.id): 0}},
    ):
        assert api.post("/pools", json=bad).status_code == 422, bad
    assert api.get("/pools/999999").status_code == 404
    assert api.put(f"/pools/{body['id']}", json={"name": "Renamed", "provider_ids": [a.id]}).status_code == 200
    assert api.delete(f"/pools/{body['id']}").status_code == 204
    assert [p["name"] for p in api.get("/pools").get_json()["items"]] == ["Bulk"]


def test_a_campaign_naming_a_pool_goes_through_its_providers(workspace, smtp_sink, second_sink, worker):
    camp = smtp_campaign(workspace, smtp_sink, people(6, email="p{i}@example.com"))
    lane = create_smtp_provider(workspace.id, second_sink.port, name="Lane relay", is_default=False)
    pool = pools.create_pool(workspace.id, {"name": "Lane", "provider_ids": [lane.id]})
    db.session.get(Campaign, camp.id).pool_id = pool.id
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert (_received(smtp_sink), _received(second_sink)) == (0, 6)


def test_a_default_marketing_lane_takes_campaigns_that_name_no_provider(workspace, smtp_sink, second_sink, worker):
    camp = smtp_campaign(workspace, smtp_sink, people(4, email="d{i}@example.com"))
    lane = create_smtp_provider(workspace.id, second_sink.port, name="Lane relay", is_default=False)
    pools.create_pool(workspace.id, {"name": "Marketing", "provider_ids": [lane.id], "default_for": "marketing"})
    db.session.get(Campaign, camp.id).provider_id = None
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert (_received(smtp_sink), _received(second_sink)) == (0, 4)


def test_failover_stays_inside_the_lane(workspace, smtp_sink, second_sink, worker):
    """The lane's first relay is down: its second carries the mail, never the workspace's default."""
    camp = smtp_campaign(workspace, smtp_sink, people(5, email="f{i}@example.com"))  # smtp_sink: the default
    down = create_smtp_provider(workspace.id, free_port(), name="Down relay", is_default=False)
    backup = create_smtp_provider(workspace.id, second_sink.port, name="Backup relay", is_default=False)
    pool = pools.create_pool(workspace.id, {"name": "Lane", "provider_ids": [down.id, backup.id]})
    db.session.get(Campaign, camp.id).pool_id = pool.id
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    assert (_received(smtp_sink), _received(second_sink)) == (0, 5)


def test_the_pools_page(client, workspace):
    relay = create_smtp_provider(workspace.id, 2525, name="Relay <b>A</b>")
    db.session.commit()
    page = client.get("/pools/").get_data(as_text=True)
    assert "No pools yet" in page and "Relay &lt;b&gt;A&lt;/b&gt;" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bad = client.post("/pools/", data={"name": "", "csrf_token": token})
    assert bad.status_code == 422
    made = client.post(
        "/pools/",
        data={"name": "Transactional", "strategy": "priority", "default_for": "transactional",
              "provider_ids": [str(relay.id)], "csrf_token": token},
    )  # fmt: skip
    assert made.status_code == 302
    listing = client.get("/pools/").get_data(as_text=True)
    assert "Transactional" in listing and 'data-default="transactional"' in listing
    assert 'href="/pools/"' in client.get("/").get_data(as_text=True)  # Deliverability → Pools


def test_transactional_mail_takes_its_own_lane(workspace, smtp_sink, second_sink, worker):
    """Marketing goes through the default relay; the transactional lane's relay carries the codes."""
    from app.services.delivery import transactional
    from tests.factories import create_template

    create_smtp_provider(workspace.id, smtp_sink.port, name="Bulk relay")
    lane = create_smtp_provider(workspace.id, second_sink.port, name="Transactional relay", is_default=False)
    pools.create_pool(
        workspace.id, {"name": "Transactional", "provider_ids": [lane.id], "default_for": "transactional"}
    )
    tpl = create_template(workspace.id, "Your code", "<p>{{ code }}</p>", "Code", category="transactional")
    db.session.commit()
    transactional.create_message(
        workspace.id, tpl.id, "ann@example.org", {"code": "1"}, from_email="shop@shop.example.com"
    )
    db.session.commit()
    worker()
    assert (_received(smtp_sink), _received(second_sink)) == (0, 1)


def test_campaigns_and_templates_name_a_pool_through_the_api(api, workspace, make_workspace):
    from tests.factories import create_list, create_template

    relay = create_smtp_provider(workspace.id, 2525)
    mine = pools.create_pool(workspace.id, {"name": "Lane", "provider_ids": [relay.id]})
    theirs = pools.create_pool(make_workspace("Other").id, {"name": "Theirs"})
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    db.session.commit()
    body = {"name": "Spring", "template_id": tpl.id, "list_ids": [lst.id], "from_name": "Acme",
            "from_email": "news@shop.example.com"}  # fmt: skip
    made = api.post("/campaigns", json={**body, "pool_id": mine.id})
    assert made.status_code == 201 and made.get_json()["pool_id"] == mine.id
    refused = api.post("/campaigns", json={**body, "pool_id": theirs.id})
    assert refused.status_code == 422 and "pool_id" in refused.get_json()["error"]["fields"]

    code = api.post("/templates", json={"name": "Code", "subject": "Code", "body_html": "<p>1</p>",
                                        "category": "transactional", "pool_id": mine.id})  # fmt: skip
    assert code.status_code == 201 and code.get_json()["pool_id"] == mine.id
    bad = api.post("/templates", json={"name": "Code 2", "subject": "Code", "body_html": "<p>1</p>",
                                       "category": "transactional", "pool_id": theirs.id})  # fmt: skip
    assert bad.status_code == 422 and "pool_id" in bad.get_json()["error"]["fields"]


def _history(workspace, provider_id: int, group: str, sent: int, bounced: int) -> None:
    """An earlier campaign's last hours through `provider_id` to `group`: `bounced` of `sent` bounced."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from app.models import CampaignRecipient
    from app.services.campaigns import recipients
    from tests.factories import create_campaign, create_list, create_subscribers, create_template

    lst = create_list(workspace.id, f"History {provider_id} {group}")
    create_subscribers(workspace.id, people(sent, email=f"h{provider_id}{group}{{i}}@example.net"), lst.id)
    camp = create_campaign(workspace.id, create_template(workspace.id, name=f"T {provider_id}{group}").id, [lst.id],
                           provider_id, name=f"Earlier {provider_id} {group}")  # fmt: skip
    camp.status = "sending"
    recipients.materialize_recipients(camp)
    ago = datetime.now(timezone.utc) - timedelta(hours=2)
    rows = CampaignRecipient.__table__
    db.session.execute(update(rows).where(rows.c.campaign_id == camp.id)
                       .values(status="sent", sent_at=ago, provider_id=provider_id, mailbox_provider=group))  # fmt: skip
    ids = [r.id for r in db.session.query(CampaignRecipient.id).filter_by(campaign_id=camp.id).limit(bounced)]
    db.session.execute(update(rows).where(rows.c.id.in_(ids)).values(status="bounced"))
    camp.status = "sent"
    db.session.commit()


def test_routing_prefers_the_route_that_serves_a_mailbox_provider_well(workspace, smtp_sink, second_sink, worker):
    """Round-robin between two relays, but the first bounced 30% of Gmail's mail in the last hours:
    Gmail's recipients go through the second (the first stays their fallback); Microsoft's, with no
    history, are shared."""
    from sqlalchemy import update

    from app.models import CampaignRecipient

    a = create_smtp_provider(workspace.id, smtp_sink.port, name="Relay A")
    b = create_smtp_provider(workspace.id, second_sink.port, name="Relay B", is_default=False)
    _history(workspace, a.id, "gmail", 40, 12)
    _history(workspace, b.id, "gmail", 40, 0)
    lane = pools.create_pool(workspace.id, {"name": "Lane", "provider_ids": [a.id, b.id], "strategy": "round_robin"})
    camp = smtp_campaign(workspace, smtp_sink, people(20, email="r{i}@example.org"), name="Now")
    db.session.get(Campaign, camp.id).pool_id = lane.id
    db.session.commit()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    # Half of the audience is at Gmail, half at Microsoft (as the MX cache would have said).
    from app.services.campaigns import recipients

    recipients.prepare_campaign(camp.id)
    rows = CampaignRecipient.__table__
    db.session.execute(update(rows).where(rows.c.campaign_id == camp.id).values(mailbox_provider="microsoft"))
    db.session.execute(update(rows).where(rows.c.campaign_id == camp.id, rows.c.email.like("r_@%"))
                       .values(mailbox_provider="gmail"))  # r0..r9  # fmt: skip
    db.session.commit()
    worker()
    to_a = {r for m in smtp_sink.messages for r in m["rcpt_tos"]}
    to_b = {r for m in second_sink.messages for r in m["rcpt_tos"]}
    gmail = {f"r{i}@example.org" for i in range(10)}
    assert gmail <= to_b and not gmail & to_a  # the healthy route for Gmail carried all of Gmail's
    microsoft = {f"r{i}@example.org" for i in range(10, 20)}
    assert microsoft & to_a and microsoft & to_b  # no history for Microsoft: round-robin as before
    assert len(to_a | to_b) == 20


def test_affinity_orders_routes_and_keeps_the_worse_one_as_fallback(workspace):
    """Router.order for one recipient: the strategy picks among the routes that serve its mailbox
    provider well; a route far below the best comes last, never dropped (failover still reaches it)."""
    from app.services.delivery import routing

    a = create_smtp_provider(workspace.id, 2525, name="A")
    b = create_smtp_provider(workspace.id, 2526, name="B", is_default=False)
    camp = Campaign(workspace_id=workspace.id, from_email="news@shop.example.com", provider_id=None,
                    routing_config={"strategy": "round_robin", "providers": [a.id, b.id], "fallback": True})  # fmt: skip
    routes = [routing.Route(p, None, {}, None) for p in (a, b)]
    router = routing.Router(camp, routes, camp.routing_config, {(a.id, "gmail"): 0.55, (b.id, "gmail"): 0.98})
    for _ in range(4):
        assert [r.provider.name for r in router.order("gmail")] == ["B", "A"]
    firsts = {router.order("microsoft")[0].provider.name for _ in range(4)}
    assert firsts == {"A", "B"}  # no scores for Microsoft: the strategy alone
