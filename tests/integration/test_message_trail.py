"""The message trail: search a person's address (or a Message-ID) and see every message to them
and what happened to each — the hand-off's exact reply, bounces with the diagnostic, each open and
click with who made it."""

from datetime import timedelta

from app.extensions import db
from app.services.campaigns import lifecycle
from app.services.events import tracking
from tests.factories import people, smtp_campaign
from tests.integration.test_engagement import HTML, _delivered, _hit, _urls
from tests.integration.test_transactional import _provider, _reset_template, _send
from tests.webhook_support import SENDGRID_KEY, carried_by, post_sendgrid, public_key_b64, recipients_of, sendgrid_event


def _campaign(workspace, smtp_sink, worker):
    camp = smtp_campaign(workspace, smtp_sink, people(2, email="t{i}@example.org"), template={"html": HTML})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    return camp, {m["rcpt_tos"][0]: m for m in smtp_sink.messages}


def _steps(delivery) -> list[str]:
    return [s["type"] for s in delivery["trail"]]


def test_a_recipients_trail_from_queued_to_a_person_clicking(api, conforms, workspace, smtp_sink, worker, app):
    camp, sent = _campaign(workspace, smtp_sink, worker)
    html = sent["t0@example.org"]["message"].get_body(("html",)).get_content()
    _delivered(camp.id, timedelta(minutes=10))
    web = app.test_client()
    _hit(web, _urls(html)[0], ua="Mozilla/5.0", ip="17.2.3.4")  # Apple prefetches
    _hit(web, _urls(html)[1][0])  # she clicks
    tracking.process_hits()

    [d] = conforms(api.get("/deliveries?email=T0@Example.org"), "DeliveryList")["items"]
    assert d["kind"] == "campaign" and d["campaign_id"] == camp.id and d["to"] == "t0@example.org"
    assert _steps(d) == ["queued", "handed off", "opened", "clicked"]
    handoff = d["trail"][1]
    assert handoff["smtp_code"] == 250 and handoff["smtp_reply"].startswith("250")  # the sink's own words
    opened, clicked = d["trail"][2], d["trail"][3]
    assert (opened["verdict"], opened["signals"]["rule"]) == ("apple_mpp", "apple_ip")
    assert clicked["verdict"] == "human" and clicked["detail"] == "https://shop.example.com/shoes"
    assert d["message_id"] == sent["t0@example.org"]["message"]["Message-ID"]

    # By Message-ID, with or without the brackets: the same one message.
    for form in (d["message_id"], d["message_id"].strip("<>")):
        found = api.get("/deliveries", query_string={"message_id": form}).get_json()["items"]
        assert [x["id"] for x in found] == [d["id"]], form


def test_a_bounce_shows_its_diagnostic(api, workspace, smtp_sink, worker, client, app):
    camp, _ = _campaign(workspace, smtp_sink, worker)
    from tests.factories import create_provider

    sendgrid = create_provider(workspace.id, "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)},
                               {"api_key": "SG.x.y"})  # fmt: skip
    db.session.commit()
    carried_by(camp.id, sendgrid.id)
    rec = recipients_of(camp.id)[1]
    event = sendgrid_event("bounce", rec, camp.id, type="bounce", status="5.1.1",
                           reason="550 5.1.1 <t1@example.org>: Recipient address rejected: User unknown")  # fmt: skip
    assert post_sendgrid(app.test_client(), sendgrid.id, [event]).status_code == 200
    worker()
    [d] = api.get("/deliveries?email=t1@example.org").get_json()["items"]
    bounce = d["trail"][-1]
    assert bounce["type"] == "bounced" and bounce["smtp_code"] == 550 and "User unknown" in bounce["smtp_reply"]
    page = client.get("/deliveries/?q=t1@example.org").get_data(as_text=True)
    assert 'data-step="bounced"' in page and "Recipient address rejected: User unknown" in page


def test_transactional_messages_are_in_the_trail_too(api, workspace, smtp_sink, worker):
    _provider(workspace, smtp_sink)
    _reset_template(workspace)
    accepted = _send(api, template="password-reset", to="ann@example.com", context={"code": "1", "reset_url": "https://x.example.com"}).get_json()  # fmt: skip
    worker()
    [d] = api.get("/deliveries?email=ann@example.com").get_json()["items"]
    assert d["kind"] == "transactional" and d["id"] == accepted["id"]
    assert _steps(d)[:2] == ["queued", "handed off"] and d["trail"][1]["smtp_reply"].startswith("250")


def test_nothing_of_another_workspace_and_bad_searches_get_a_clear_answer(
    api, workspace, smtp_sink, worker, make_workspace, client
):
    _campaign(workspace, smtp_sink, worker)
    from app.services.platform.workspaces import create_api_key

    other = make_workspace()
    key = create_api_key(other.id, "theirs")[1]
    db.session.commit()
    theirs = client.get("/api/v1/deliveries?email=t0@example.org", headers={"Authorization": f"Bearer {key}"})
    assert theirs.status_code == 200 and theirs.get_json()["items"] == []

    assert api.get("/deliveries").status_code == 422  # neither an address nor an id
    assert api.get("/deliveries?email=" + "a" * 400).status_code == 422
    for hostile in ("' OR 1=1 --", "<script>alert(1)</script>", "{{ 7*7 }}", "%", "ünïcødé@exämple.org"):
        assert api.get("/deliveries", query_string={"email": hostile}).get_json()["items"] == []
        page = client.get("/deliveries/", query_string={"q": hostile})
        assert page.status_code == 200 and "<script>alert(1)</script>" not in page.get_data(as_text=True)
        assert "No message found" in page.get_data(as_text=True)
    assert client.get("/deliveries/", query_string={"q": "x" * 400}).status_code == 422
    nav = client.get("/deliveries/").get_data(as_text=True)
    assert 'href="/deliveries/"' in nav and "Message search" in nav
