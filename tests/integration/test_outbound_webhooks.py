"""Outbound webhooks: a workspace's events reach its endpoints signed, retried on failure, never twice
at once, and bad input gets a clear 4xx. The receiver is a real HTTP server (pytest-httpserver)."""

import hashlib
import hmac
import ipaddress
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from werkzeug import Response

from app.extensions import db
from app.models import Event, WebhookDelivery, WebhookEndpoint
from app.providers import netguard
from app.services import outbound_webhooks as ow

PAYLOAD_KEYS = {
    "id",
    "type",
    "occurred_at",
    "created_at",
    "campaign_id",
    "recipient_id",
    "message_id",
    "email",
    "subscriber_id",
    "provider_id",
    "verdict",
    "data",
}


# Helpers ------------------------------------------------------------------------------------------


def add_events(workspace_id: int, *types: str, **fields) -> list[int]:
    """Event rows as the ingestion writes them; committed."""
    events = [
        Event(
            workspace_id=workspace_id,
            event_key=uuid.uuid4().hex,
            event_type=t,
            email=fields.get("email", "ann@example.com"),
            data=fields.get("data", {"n": i}),
            provider_id=fields.get("provider_id"),
        )
        for i, t in enumerate(types)
    ]
    db.session.add_all(events)
    db.session.commit()
    return [e.id for e in events]


def endpoint(workspace_id: int, url: str, event_types=None) -> tuple[WebhookEndpoint, str]:
    ep, secret = ow.create_endpoint(workspace_id, url, event_types=event_types)
    db.session.commit()
    return ep, secret


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def received(httpserver) -> list:
    return [request for request, _ in httpserver.log]


def later(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def csrf(client, path: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


# Fan-out and a signed delivery --------------------------------------------------------------------


def test_events_reach_only_subscribed_endpoints_of_their_workspace_signed_with_the_secret(
    api, ctx, workspace, make_workspace, httpserver, conforms
):
    for path in ("/all", "/clicks", "/other"):
        httpserver.expect_request(path, method="POST").respond_with_data("thanks")
    everything = conforms(
        api.post("/webhook-endpoints", json={"url": httpserver.url_for("/all"), "description": "CRM"}),
        "WebhookEndpointCreated",
        201,
    )
    clicks = conforms(
        api.post("/webhook-endpoints", json={"url": httpserver.url_for("/clicks"), "event_types": ["click"]}),
        "WebhookEndpointCreated",
        201,
    )
    assert everything["secret"].startswith("whsec_") and everything["event_types"] is None
    assert clicks["event_types"] == ["click"] and clicks["secret"] != everything["secret"]
    # The secret is answered once: never by show or list.
    shown = conforms(api.get(f"/webhook-endpoints/{everything['id']}"), "WebhookEndpoint")
    assert "secret" not in shown and everything["secret"] not in api.get("/webhook-endpoints").get_data(as_text=True)
    stored = db.session.get(WebhookEndpoint, everything["id"]).secret_encrypted
    assert everything["secret"] not in stored

    other = make_workspace("Other")
    endpoint(other.id, httpserver.url_for("/other"))
    other_event = add_events(other.id, "bounce")
    ids = add_events(workspace.id, "bounce", "open", data={"diagnostic": "550 5.1.1 unknown"}, provider_id=3)
    ids += add_events(workspace.id, "click", data={"url": "https://example.com/offer"})

    assert ow.fan_out(workspace.id, ids + other_event) == 4  # 3 to "all", 1 to "clicks", none elsewhere
    db.session.commit()
    result = ow.deliver_due()
    assert result["claimed"] == 4 and result["delivered"] == 4

    requests = received(httpserver)
    assert sorted(r.path for r in requests) == ["/all", "/all", "/all", "/clicks"]
    for request in requests:
        secret = everything["secret"] if request.path == "/all" else clicks["secret"]
        raw = request.get_data()
        ts = request.headers["X-Herald-Timestamp"]
        expected = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
        assert request.headers["X-Herald-Signature"] == f"t={ts},v1={expected}"
        assert abs(int(ts) - time.time()) < 60
        assert ow.verify_signature(secret, request.headers["X-Herald-Signature"], raw)
        assert not ow.verify_signature("whsec_wrong", request.headers["X-Herald-Signature"], raw)
        assert not ow.verify_signature(secret, request.headers["X-Herald-Signature"], raw + b" ")
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Herald-Webhooks/1"
        payload = json.loads(raw)
        assert set(payload) == PAYLOAD_KEYS and list(payload)[:2] == ["id", "type"]
        assert request.headers["X-Herald-Event"] == payload["type"]
        assert payload["id"] == f"evt_{int(payload['id'][4:])}" and int(payload["id"][4:]) in ids
        assert payload["email"] == "ann@example.com"
        datetime.fromisoformat(payload["occurred_at"])
    bounce = next(json.loads(r.get_data()) for r in requests if json.loads(r.get_data())["type"] == "bounce")
    assert bounce["data"] == {"diagnostic": "550 5.1.1 unknown"} and bounce["provider_id"] == 3
    assert [json.loads(r.get_data())["type"] for r in requests if r.path == "/clicks"] == ["click"]
    assert len({r.headers["X-Herald-Delivery"] for r in requests}) == 4

    log = conforms(api.get(f"/webhook-endpoints/{everything['id']}/deliveries"), "WebhookDeliveryPage")
    assert log["total"] == 3 and {d["status"] for d in log["items"]} == {"delivered"}
    assert {d["response_code"] for d in log["items"]} == {200} and log["items"][0]["response_body"] == "thanks"
    health = api.get(f"/webhook-endpoints/{everything['id']}").json
    assert health["last_success_at"] and health["consecutive_failures"] == 0


def test_the_payload_built_by_postgresql_matches_the_documented_python_one(ctx, workspace, httpserver):
    endpoint(workspace.id, httpserver.url_for("/hook"))
    [event_id] = add_events(workspace.id, "complaint", data={"feedback": "abuse", "nested": {"a": [1, 2]}})
    ow.fan_out(workspace.id, [event_id])
    db.session.commit()
    [delivery] = deliveries()
    assert delivery.payload == ow.event_payload(db.session.get(Event, event_id))
    assert ow.fan_out_portable(workspace.id, [event_id]) == 1  # the SQLite path builds the same
    db.session.commit()
    assert deliveries()[1].payload == delivery.payload


def test_fan_out_of_a_flood_is_set_based_and_a_workspace_without_endpoints_costs_one_query(
    app, ctx, workspace, make_workspace, httpserver, count_queries
):
    endpoint(workspace.id, httpserver.url_for("/all"))
    endpoint(workspace.id, httpserver.url_for("/replies"), ["reply"])
    now = datetime.now(timezone.utc)
    rows = [
        {"workspace_id": workspace.id, "event_key": f"k{i}", "event_type": "open", "email": f"p{i}@example.com"}
        | {"occurred_at": now, "created_at": now, "data": {"i": i}}
        for i in range(5000)
    ]
    ids = list(db.session.scalars(insert(Event).returning(Event.id), rows))
    db.session.commit()
    quiet_id, workspace_id = make_workspace("Quiet").id, workspace.id

    with app.app_context():
        with count_queries() as statements:
            assert ow.fan_out(workspace_id, ids) == 5000
        db.session.commit()
        assert statements() < 10, statements()
        db.session.scalar(select(1))  # the connection checked out (and pinged) before counting
        with count_queries() as statements:
            assert ow.fan_out(quiet_id, ids) == 0
        assert statements() == 1
    assert db.session.scalar(select(db.func.count()).select_from(WebhookDelivery)) == 5000


# Retries ------------------------------------------------------------------------------------------


def test_a_500_is_retried_with_backoff_and_the_log_shows_both_outcomes(api, ctx, workspace, httpserver, conforms):
    httpserver.expect_oneshot_request("/hook").respond_with_data("boom", status=500)
    httpserver.expect_request("/hook").respond_with_data("ok")
    ep, _ = endpoint(workspace.id, httpserver.url_for("/hook"))
    ow.fan_out(workspace.id, add_events(workspace.id, "delivery"))
    db.session.commit()

    before = datetime.now(timezone.utc)
    assert ow.deliver_due()["retrying"] == 1
    [d] = deliveries()
    assert (d.status, d.attempts, d.response_code, d.response_body) == ("retrying", 1, 500, "boom")
    assert "HTTP 500" in d.error
    assert before + timedelta(seconds=30) <= d.next_attempt_at <= datetime.now(timezone.utc) + timedelta(seconds=33)
    first = conforms(api.get(f"/webhook-endpoints/{ep.id}/deliveries"), "WebhookDeliveryPage")["items"][0]
    assert (first["status"], first["response_code"], first["next_attempt_at"] is not None) == ("retrying", 500, True)
    assert ow.deliver_due()["claimed"] == 0  # not due yet

    assert ow.deliver_due(now=later(40))["delivered"] == 1
    [d] = deliveries()
    assert (d.status, d.attempts, d.response_code, d.response_body) == ("delivered", 2, 200, "ok")
    assert d.delivered_at and d.next_attempt_at is None
    assert "attempt 1" in d.error and "HTTP 500" in d.error  # the earlier outcome stays readable
    assert [(a["code"], a["delivered"]) for a in d.history] == [(500, False), (200, True)]
    assert "HTTP 500" in d.history[0]["error"] and d.history[1]["error"] is None
    second = api.get(f"/webhook-endpoints/{ep.id}/deliveries?status=delivered").json["items"][0]
    assert (second["attempts"], second["response_code"]) == (2, 200)
    assert [a["code"] for a in second["history"]] == [500, 200]
    assert len(received(httpserver)) == 2
    db.session.refresh(ep)
    assert ep.consecutive_failures == 0 and ep.last_success_at and ep.last_failure_at


def test_seven_failures_fail_the_delivery_on_the_documented_schedule(ctx, workspace, httpserver):
    httpserver.expect_request("/down").respond_with_data("no", status=503)
    ep, _ = endpoint(workspace.id, httpserver.url_for("/down"))
    ow.fan_out(workspace.id, add_events(workspace.id, "bounce"))
    db.session.commit()
    now = datetime.now(timezone.utc)
    for attempt in range(1, 8):
        assert ow.deliver_due(now=now)["claimed"] == 1
        [d] = deliveries()
        assert d.attempts == attempt and d.response_code == 503
        if attempt < 7:
            delay = ow.BACKOFF_SECONDS[attempt - 1]
            assert d.status == "retrying"
            assert timedelta(seconds=delay) <= d.next_attempt_at - now <= timedelta(seconds=delay * 1.1 + 1)
            assert ow.deliver_due(now=d.next_attempt_at - timedelta(seconds=1))["claimed"] == 0
            now = d.next_attempt_at
    assert (d.status, d.next_attempt_at) == ("failed", None)
    assert ow.deliver_due(now=now + timedelta(days=30))["claimed"] == 0
    assert len(received(httpserver)) == 7
    db.session.refresh(ep)
    assert ep.consecutive_failures == 7 and ep.last_success_at is None


def test_a_timeout_is_recorded_and_spares_the_endpoints_other_deliveries_the_wait(
    ctx, workspace, httpserver, monkeypatch
):
    monkeypatch.setattr(ow.http, "READ_TIMEOUT", 0.2)  # read where `post` reads it
    httpserver.expect_request("/slow").respond_with_handler(lambda request: time.sleep(0.6) or Response("late"))
    ep, _ = endpoint(workspace.id, httpserver.url_for("/slow"))
    ow.fan_out(workspace.id, add_events(workspace.id, "open", "click"))
    db.session.commit()
    started = time.monotonic()
    assert ow.deliver_due()["retrying"] == 2
    assert time.monotonic() - started < 0.6  # one wait for the endpoint, not one per delivery
    first, second = deliveries()
    assert first.status == "retrying" and first.response_code is None
    assert "Timed out" in first.error and "0.2 s" in first.error
    assert second.status == "retrying" and "unreachable" in second.error
    db.session.refresh(ep)
    assert ep.consecutive_failures == 2 and ep.last_failure_at
    time.sleep(0.5)  # let the receiver finish its slow answer before the next test uses it


def test_a_disabled_endpoint_gets_nothing_and_its_queue_fails(ctx, workspace, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    ep, _ = endpoint(workspace.id, httpserver.url_for("/hook"))
    ow.fan_out(workspace.id, add_events(workspace.id, "open"))
    ow.update_endpoint(workspace.id, ep.id, is_active=False)
    db.session.commit()
    assert ow.fan_out(workspace.id, add_events(workspace.id, "click")) == 0
    assert ow.deliver_due()["failed"] == 1
    [d] = deliveries()
    assert (d.status, d.error, d.attempts) == ("failed", "endpoint disabled", 0)
    assert received(httpserver) == []
    with pytest.raises(ow.InvalidState):
        ow.redeliver(workspace.id, d.id)


def test_metadata_addresses_are_refused_even_behind_a_name(ctx, workspace, httpserver, monkeypatch):
    httpserver.expect_request("/hook").respond_with_data("ok")
    # A row saved before the rule (or by hand): the literal address is refused without connecting.
    db.session.add(
        WebhookEndpoint(
            workspace_id=workspace.id,
            url="http://169.254.169.254/latest/meta-data/",
            secret_encrypted=ow.encrypt_json({"secret": "whsec_x"}),
        )
    )
    db.session.commit()
    ow.fan_out(workspace.id, add_events(workspace.id, "open"))
    db.session.commit()
    assert ow.deliver_due()["failed"] == 1
    assert "169.254.169.254" in deliveries()[0].error and "refused" in deliveries()[0].error
    # A name is checked on the address actually connected to: make loopback count as metadata here.
    loopback = [(ipaddress.ip_network(n), netguard.LINK_LOCAL) for n in ("127.0.0.0/8", "::1/128")]
    monkeypatch.setattr(netguard, "BLOCKED_NETWORKS", (*netguard.BLOCKED_NETWORKS, *loopback))
    ow.http_pool.cache_clear()
    ep, _ = endpoint(workspace.id, httpserver.url_for("/hook"))  # http://localhost:<port>/hook
    delivery = ow.send_test_event(workspace.id, ep.id)
    db.session.commit()
    assert delivery.status == "failed" and "link-local/metadata" in delivery.error
    assert received(httpserver) == []


# Two workers ----------------------------------------------------------------------------------------


def test_two_workers_at_once_never_send_one_delivery_twice(app, service_app, ctx, workspace, httpserver):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED claims need PostgreSQL")
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint(workspace.id, httpserver.url_for("/hook"))
    assert ow.fan_out(workspace.id, add_events(workspace.id, *["open"] * 60)) == 60
    db.session.commit()
    start, errors = threading.Barrier(2), []

    def work():
        try:
            with service_app.app_context():
                start.wait()
                while ow.deliver_due(limit=7)["claimed"]:
                    pass
                db.session.remove()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    sent = [r.headers["X-Herald-Delivery"] for r in received(httpserver)]
    assert len(sent) == 60 and len(set(sent)) == 60
    assert {d.status for d in deliveries()} == {"delivered"}


# Test events and redelivery --------------------------------------------------------------------------


def test_a_test_event_and_a_redelivery_through_the_api(api, ctx, workspace, httpserver, conforms):
    httpserver.expect_request("/hook").respond_with_data("pong")
    created = api.post("/webhook-endpoints", json={"url": httpserver.url_for("/hook")}).json
    tested = conforms(api.post(f"/webhook-endpoints/{created['id']}/test"), "WebhookDelivery")
    assert (tested["status"], tested["event_type"], tested["response_code"]) == ("delivered", "test", 200)
    [request] = received(httpserver)
    assert json.loads(request.get_data())["type"] == "test"
    assert ow.verify_signature(created["secret"], request.headers["X-Herald-Signature"], request.get_data())

    copy = ow.redeliver(workspace.id, tested["id"])
    db.session.commit()
    assert copy.status == "pending" and copy.payload == tested["payload"]
    assert ow.deliver_due()["delivered"] == 1
    assert [json.loads(r.get_data())["id"] for r in received(httpserver)] == [tested["payload"]["id"]] * 2

    new_secret = ow.rotate_secret(workspace.id, created["id"])
    db.session.commit()
    assert new_secret != created["secret"] and ow.reveal_secret(workspace.id, created["id"]) == new_secret


def test_the_job_drains_due_deliveries_and_a_run_can_be_queued_once_per_moment(
    ctx, workspace, httpserver, redis_url, worker
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    endpoint(workspace.id, httpserver.url_for("/hook"))
    ow.fan_out(workspace.id, add_events(workspace.id, "open", "click"))
    ow.run_soon_after_commit()  # what the ingestion does after fan_out
    db.session.commit()
    worker()
    assert {d.status for d in deliveries()} == {"delivered"}
    assert len(received(httpserver)) == 2

    while time.time() % 2 > 1.5:  # both calls in one 2 s bucket
        time.sleep(0.1)
    assert ow.enqueue_delivery_run() is True
    assert ow.enqueue_delivery_run() is False  # the same moment: one run is enough


# Bad input ------------------------------------------------------------------------------------------

BAD_URLS = [
    ("ftp://example.com/hook", "http"),
    ("https://user:secret@example.com/hook", "credentials"),
    ("https://example.com/" + "a" * 3000, "2000"),
    ("https:///no-host", "host"),
    ("http://169.254.169.254/latest", "metadata"),
    ("not a url", ""),
    ("http://example.com:99999/", ""),
]


@pytest.mark.parametrize("url, words", BAD_URLS)
def test_a_bad_url_is_a_clear_422_from_the_api(api, url, words):
    resp = api.post("/webhook-endpoints", json={"url": url})
    assert resp.status_code == 422, resp.json
    error = resp.json["error"]
    assert "url" in error["fields"] and words in error["message"]


def test_bad_event_types_and_updates_are_clear_4xx_from_the_api(api, make_workspace, ctx, httpserver):
    url = httpserver.url_for("/hook")
    for event_types, field in (
        (["bounce", "explosion"], "event_types.1"),
        ([], "event_types"),
        ("open", "event_types"),
    ):
        resp = api.post("/webhook-endpoints", json={"url": url, "event_types": event_types})
        assert resp.status_code == 422 and field in resp.json["error"]["fields"], resp.json
    assert api.post("/webhook-endpoints", json={"url": url, "secret": "mine"}).status_code == 422
    created = api.post("/webhook-endpoints", json={"url": url, "event_types": ["bounce", "complaint"]}).json
    path = f"/webhook-endpoints/{created['id']}"
    assert api.put(path, json={}).status_code == 422
    assert "url" in api.put(path, json={"url": "ftp://example.com"}).json["error"]["fields"]
    changed = api.put(path, json={"is_active": False, "event_types": None, "description": "  Warehouse  "}).json
    assert (changed["is_active"], changed["event_types"], changed["description"]) == (False, None, "Warehouse")
    assert api.get(path + "/deliveries?status=lost").status_code == 422

    other = make_workspace("Other")
    theirs, _ = endpoint(other.id, url)
    foreign = f"/webhook-endpoints/{theirs.id}"
    for resp in (
        api.get(foreign),
        api.put(foreign, json={"description": "mine now"}),
        api.delete(foreign),
        api.get(foreign + "/deliveries"),
        api.post(foreign + "/test"),
    ):
        assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    assert received(httpserver) == []
    assert api.delete(path).status_code == 204 and api.get(path).status_code == 404


def test_bad_input_in_the_form_is_shown_on_the_form_never_a_500(client, make_workspace, ctx, httpserver):
    token = csrf(client, "/settings/webhooks/new")
    for form, words in (
        ({"url": "ftp://example.com/hook"}, "Only http:// and https://"),
        ({"url": "https://me:pw@example.com/hook"}, "credentials"),
        ({"url": "https://example.com/" + "a" * 3000}, "2,000"),
        ({"url": httpserver.url_for("/hook"), "events": "some", "event_types": ["explosion"]}, "Unknown event type"),
        ({"url": httpserver.url_for("/hook"), "events": "some"}, "at least one event type"),
    ):
        resp = client.post("/settings/webhooks/new", data={**form, "csrf_token": token})
        assert resp.status_code == 422, (form, resp.status_code)
        assert words in resp.get_data(as_text=True), words
    assert db.session.scalar(select(db.func.count()).select_from(WebhookEndpoint)) == 0

    other = make_workspace("Other")
    theirs, _ = endpoint(other.id, httpserver.url_for("/hook"))
    assert client.get(f"/settings/webhooks/{theirs.id}").status_code == 404
    assert client.get(f"/settings/webhooks/{theirs.id}/edit").status_code == 404
    for action in ("test", "delete", "secret", "rotate", "disable"):
        resp = client.post(f"/settings/webhooks/{theirs.id}/{action}", data={"csrf_token": token})
        assert resp.status_code == 404, action
    assert received(httpserver) == []


def test_the_dashboard_adds_an_endpoint_shows_its_secret_once_and_its_log(client, ctx, workspace, httpserver):
    httpserver.expect_request("/hook").respond_with_data("received")
    page = client.get("/settings/webhooks/").get_data(as_text=True)
    assert "No webhook endpoints yet" in page
    token = csrf(client, "/settings/webhooks/new")
    resp = client.post(
        "/settings/webhooks/new",
        data={
            "url": httpserver.url_for("/hook"),
            "description": "Warehouse",
            "events": "some",
            "event_types": ["bounce", "click"],
            "csrf_token": token,
        },
    )
    assert resp.status_code == 201
    [ep] = ow.list_endpoints(workspace.id)
    secret = ow.reveal_secret(workspace.id, ep.id)
    assert secret in resp.get_data(as_text=True) and ep.event_types == ["bounce", "click"]
    show = client.get(f"/settings/webhooks/{ep.id}").get_data(as_text=True)
    assert secret not in show and "Warehouse" in show
    revealed = client.post(
        f"/settings/webhooks/{ep.id}/secret", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert secret in revealed.get_data(as_text=True)

    assert client.post(f"/settings/webhooks/{ep.id}/test", data={"csrf_token": token}).status_code == 302
    show = client.get(f"/settings/webhooks/{ep.id}").get_data(as_text=True)
    assert 'data-status="delivered"' in show and "Test event delivered" in show
    [d] = deliveries()
    detail = client.get(f"/settings/webhooks/{ep.id}/deliveries/{d.id}", headers={"HX-Request": "true"})
    assert detail.status_code == 200 and "received" in detail.get_data(as_text=True)
    assert "evt_test_" in detail.get_data(as_text=True) and "<html" not in detail.get_data(as_text=True)
    assert 'id="delivery-attempts"' in detail.get_data(as_text=True)  # each attempt, with its answer
    assert "<html" in client.get(f"/settings/webhooks/{ep.id}/deliveries/{d.id}").get_data(as_text=True)
    resp = client.post(f"/settings/webhooks/{ep.id}/deliveries/{d.id}/redeliver", data={"csrf_token": token})
    assert resp.status_code == 302 and len(deliveries()) == 2
    # While a delivery is about to go out, the log refreshes itself; the fragment alone answers the poll.
    assert 'hx-trigger="every 5s"' in client.get(f"/settings/webhooks/{ep.id}").get_data(as_text=True)
    fragment = client.get(f"/settings/webhooks/{ep.id}/log", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="delivery-log"' in fragment and "<html" not in fragment and 'data-status="pending"' in fragment
    assert client.post(f"/settings/webhooks/{ep.id}/disable", data={"csrf_token": token}).status_code == 302
    assert 'data-status="disabled"' in client.get("/settings/webhooks/").get_data(as_text=True)
    assert client.post(f"/settings/webhooks/{ep.id}/delete", data={"csrf_token": token}).status_code == 302
    assert ow.list_endpoints(workspace.id) == [] and deliveries() == []
