"""Alerts: what needs a person is one open alert per kind and subject, under the bell of every page,
mailed to the workspace's owners and sent as the `alert.raised` webhook, once per alert. Real parts:
the outbound webhook goes to a real HTTP server, the email through a real SMTP server (or the
development outbox's catcher), both sent by a burst RQ worker."""

import email
import json
import re
from email import policy

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, CaughtMessage, Membership, Provider, User
from app.services import outbound_webhooks as ow
from app.services.errors import ValidationError
from app.services.platform import alerts
from tests.factories import create_smtp_provider

# Helpers ------------------------------------------------------------------------------------------


def raise_dns_alert(workspace_id: int, domain_id: int = 3, **changes) -> Alert:
    """The alert the daily re-verification raises for a broken record; committed."""
    values = {
        "message": "shop.example.com: DKIM (h1._domainkey) no longer passes verification.",
        "evidence": {"dkim h1": "found p=MIIB...old, expected p=MIIB...new"},
        "action_label": "Show the records",
        "action_url": f"/domains/{domain_id}",
        **changes,
    }
    alert = alerts.raise_alert(
        workspace_id, "dns_record_failed", values.pop("severity", "critical"), "domain", domain_id, **values
    )
    db.session.commit()
    return alert


def receiver(httpserver, workspace_id: int, event_types=None) -> str:
    """A webhook endpoint of the workspace on a real HTTP server; answers its secret."""
    httpserver.expect_request("/hooks", method="POST").respond_with_data("thanks")
    _, secret = ow.create_endpoint(workspace_id, httpserver.url_for("/hooks"), event_types=event_types)
    db.session.commit()
    return secret


def received(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def add_member(workspace_id: int, address: str, role: str) -> None:
    user = User(email=address, password_hash="unused")
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=role))
    db.session.commit()


def text_part(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def open_alerts(workspace_id: int) -> list[Alert]:
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).where(Alert.workspace_id == workspace_id, Alert.status == "open")))


def csrf(client, path: str = "/alerts/") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def bell_count(page: str) -> int:
    """The number on the bell's badge (0 when it shows none)."""
    bell = re.search(r'<a href="/alerts/" id="nav-alerts".*?</a>', page, re.S)
    assert bell, "the top bar has no bell"
    badge = re.search(r'badge-notification[^>]*data-count="(\d+)"', bell.group(0))
    return int(badge.group(1)) if badge else 0


# Raising and notifying ----------------------------------------------------------------------------


def test_raising_an_alert_twice_keeps_one_open_alert_and_notifies_once(ctx, workspace, smtp_sink, httpserver, worker):
    create_smtp_provider(workspace.id, smtp_sink.port)
    add_member(workspace.id, "second-owner@example.com", "owner")
    add_member(workspace.id, "marketer@example.com", "marketer")
    secret = receiver(httpserver, workspace.id)

    first = raise_dns_alert(workspace.id)
    again = raise_dns_alert(
        workspace.id, message="shop.example.com: DKIM still fails.", evidence={"dkim h1": "no record"}
    )
    worker()

    assert again.id == first.id
    (alert,) = open_alerts(workspace.id)
    assert alert.message == "shop.example.com: DKIM still fails." and alert.evidence == {"dkim h1": "no record"}
    assert alert.updated_at > alert.created_at

    (request, _), *more = httpserver.log
    assert not more, "the second raise must not ring again"
    raw = request.get_data()
    assert ow.verify_signature(secret, request.headers["X-Herald-Signature"], raw)
    assert request.headers["X-Herald-Event"] == "alert.raised"
    payload = json.loads(raw)
    assert list(payload) == list(ow.PAYLOAD_KEYS)
    assert payload["id"] == f"evt_alert_{alert.id}" and payload["type"] == "alert.raised"
    assert payload["data"] == {
        "alert_id": alert.id,
        "kind": "dns_record_failed",
        "severity": "critical",
        "subject": {"type": "domain", "id": 3},
        "message": "shop.example.com: DKIM (h1._domainkey) no longer passes verification.",
        "evidence": {"dkim h1": "found p=MIIB...old, expected p=MIIB...new"},
        "action": {"label": "Show the records", "url": "http://herald.test/domains/3"},
        "url": "http://herald.test/alerts",
    }

    # The owners, and only they, get one short email each.
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["owner@example.com", "second-owner@example.com"]
    # The mail went after the second raise: it says how things stand now.
    message = smtp_sink.messages[0]["message"]
    assert message["Subject"] == "[Acme] Critical: shop.example.com: DKIM still fails."
    body = text_part(message)
    assert "shop.example.com: DKIM still fails.\n\ndkim h1: no record\n" in body
    assert "http://herald.test/alerts" in body and "Show the records: http://herald.test/domains/3" in body

    # The job is safe to run twice: nobody is mailed again.
    alerts.enqueue_owner_mail(alert.id)
    worker()
    assert len(smtp_sink.messages) == 2


def test_a_resolved_alert_raised_again_is_a_new_alert_that_notifies_again(
    ctx, workspace, mail_catcher, httpserver, worker
):
    receiver(httpserver, workspace.id, event_types=["alert.raised"])
    first = raise_dns_alert(workspace.id)
    worker()

    assert alerts.resolve_alert(workspace.id, "dns_record_failed", "domain", 3).id == first.id
    assert alerts.resolve_alert(workspace.id, "dns_record_failed", "domain", 3) is None  # nothing open any more
    db.session.commit()
    assert alerts.open_count(workspace.id) == 0
    second = raise_dns_alert(workspace.id, message="shop.example.com: DKIM broke again.")
    worker()

    assert second.id != first.id
    assert [a.id for a in open_alerts(workspace.id)] == [second.id]
    assert db.session.get(Alert, first.id).status == "resolved" and db.session.get(Alert, first.id).resolved_at
    assert [p["id"] for p in received(httpserver)] == [f"evt_alert_{first.id}", f"evt_alert_{second.id}"]
    # Mailed through the workspace's default provider: here, the development outbox.
    caught = db.session.scalars(select(CaughtMessage).order_by(CaughtMessage.id)).all()
    assert [c.rcpt_to for c in caught] == ["owner@example.com", "owner@example.com"]
    assert "DKIM broke again" in email.message_from_bytes(caught[1].raw, policy=policy.default)["Subject"]


def test_a_raise_that_is_rolled_back_sends_nothing(ctx, workspace, mail_catcher, httpserver, worker):
    receiver(httpserver, workspace.id)
    alerts.raise_alert(workspace.id, "warming_paused", "warning", "domain", 5, "Warming paused: bounces at 6%.")
    db.session.rollback()
    worker()

    assert open_alerts(workspace.id) == [] and httpserver.log == []
    assert db.session.scalars(select(CaughtMessage)).all() == []


def test_without_a_provider_the_mail_is_skipped_and_the_raiser_never_fails(ctx, workspace, httpserver, worker):
    db.session.execute(Provider.__table__.delete())
    db.session.commit()
    receiver(httpserver, workspace.id)

    alert = raise_dns_alert(workspace.id)
    worker()

    assert [a.id for a in open_alerts(workspace.id)] == [alert.id]
    assert [p["type"] for p in received(httpserver)] == ["alert.raised"]  # the webhook still goes
    assert alerts.mail_owners(alert.id) == {"sent": 0, "skipped": "no provider"}


def test_raisers_get_a_clear_error_for_values_an_alert_cannot_hold(ctx, workspace):
    raise_ = alerts.raise_alert
    with pytest.raises(ValidationError, match="action_url"):
        raise_(workspace.id, "dns_record_failed", "critical", "domain", 1, "x", action_url="javascript:alert(1)")
    with pytest.raises(ValidationError, match="severity"):
        raise_(workspace.id, "dns_record_failed", "urgent", "domain", 1, "x")
    with pytest.raises(ValidationError, match="subject_type"):
        raise_(workspace.id, "dns_record_failed", "info", "planet", 1, "x")
    with pytest.raises(ValidationError, match="message"):
        raise_(workspace.id, "dns_record_failed", "info", "domain", 1, "   ")
    db.session.rollback()
    assert alerts.open_count(workspace.id) == 0


# The bell and the page ----------------------------------------------------------------------------


def test_the_bell_shows_the_workspaces_open_count_on_every_dashboard_page(client, ctx, workspace, make_workspace):
    assert bell_count(client.get("/").get_data(as_text=True)) == 0

    other = make_workspace("Other")
    raise_dns_alert(other.id)
    raise_dns_alert(workspace.id, domain_id=1)
    raise_dns_alert(workspace.id, domain_id=2)
    alerts.raise_alert(workspace.id, "warming_paused", "warning", "domain", 1, "Warming paused.")
    alerts.resolve_alert(workspace.id, "dns_record_failed", "domain", 2)
    db.session.commit()

    for path in ("/", "/campaigns/", "/suppressions/", "/settings/webhooks/"):
        resp = client.get(path)
        assert resp.status_code == 200 and bell_count(resp.get_data(as_text=True)) == 2, path
    page = resp.get_data(as_text=True)
    assert 'href="/alerts/"' in page and ">Alerts<" in page  # in the sidebar too


def test_the_page_lists_resolves_and_keeps_to_its_workspace(client, ctx, workspace, make_workspace, count_queries):
    page = client.get("/alerts/").get_data(as_text=True)
    assert "Nothing needs you" in page and 'href="/settings/webhooks/new"' in page

    other = raise_dns_alert(make_workspace("Other").id, message="Other workspace's secret domain broke.")
    mine = raise_dns_alert(workspace.id)
    info = alerts.raise_alert(workspace.id, "warming_paused", "info", "domain", 4, "Warming waits for tomorrow.")
    db.session.commit()
    with count_queries() as queries:
        page = client.get("/alerts/").get_data(as_text=True)
    few = queries()

    assert "Other workspace" not in page
    assert page.index(f'id="alert-{mine.id}"') < page.index(f'id="alert-{info.id}"')  # critical first
    assert 'data-severity="critical"' in page and 'data-severity="info"' in page
    assert "<dt" in page and "found p=MIIB...old, expected p=MIIB...new" in page
    assert 'href="/domains/3">Show the records</a>' in page
    assert f'action="/alerts/{mine.id}/resolve"' in page and bell_count(page) == 2

    for n in range(5, 10):  # more alerts, not more queries
        alerts.raise_alert(workspace.id, "blocklist_listed", "warning", "ip", n, f"Listed on zone {n}.")
    db.session.commit()
    with count_queries() as queries:
        assert client.get("/alerts/").status_code == 200
    assert queries() == few

    # Resolving is a POST with the form's token; another workspace's alert is not found.
    assert client.post(f"/alerts/{mine.id}/resolve").status_code == 400
    token = csrf(client)
    assert client.post(f"/alerts/{other.id}/resolve", data={"csrf_token": token}).status_code == 404
    assert client.post("/alerts/999999/resolve", data={"csrf_token": token}).status_code == 404
    resp = client.post(f"/alerts/{mine.id}/resolve", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/alerts/")
    db.session.expire_all()
    assert db.session.get(Alert, mine.id).status == "resolved"
    assert db.session.get(Alert, other.id).status == "open"

    page = client.get("/alerts/").get_data(as_text=True)
    assert f'id="alert-{mine.id}"' not in page and "Resolved:" in page and bell_count(page) == 6
    resolved = client.get("/alerts/?status=resolved").get_data(as_text=True)
    assert f'id="alert-{mine.id}"' in resolved and f'id="alert-{info.id}"' not in resolved
    assert f'action="/alerts/{mine.id}/resolve"' not in resolved  # nothing left to resolve
    assert "resolved <time" in resolved
    assert client.get("/alerts/?status=nonsense").status_code == 200  # an unknown tab shows the open ones


def test_hostile_message_and_evidence_are_shown_as_text(client, ctx, workspace, mail_catcher, worker):
    raise_dns_alert(
        workspace.id,
        message="<script>alert('message')</script> & co",
        evidence={"<b>name</b>": "<img src=x onerror=alert(1)>", "nested": {"a": "<svg onload=alert(2)>"}},
        action_label='<i>Fix</i>" onclick="alert(3)',
        action_url='/domains/3?x="><script>alert(4)</script>',
    )
    page = client.get("/alerts/").get_data(as_text=True)
    for raw in ("<script>alert(", "<img src=x", "<svg onload", "<b>name</b>", "<i>Fix</i>", 'onclick="alert'):
        assert raw not in page
    assert "&lt;script&gt;alert(&#39;message&#39;)&lt;/script&gt; &amp; co" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b&gt;name&lt;/b&gt;" in page

    worker()  # the owners' email, as HTML, escapes them too
    (caught,) = db.session.scalars(select(CaughtMessage)).all()
    html = email.message_from_bytes(caught.raw, policy=policy.default).get_body(("html",)).get_content()
    for raw in ("<script>alert(", "<img src=x", "<svg onload", "<b>name</b>", "<i>Fix</i>", '"><script>'):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# The API ------------------------------------------------------------------------------------------


def test_the_api_lists_filters_and_resolves_alerts_of_the_keys_workspace_only(
    api, ctx, workspace, make_workspace, conforms
):
    other = raise_dns_alert(make_workspace("Other").id)
    mine = raise_dns_alert(workspace.id)
    plain = alerts.raise_alert(workspace.id, "warming_paused", "warning", "campaign", 8, "Warming paused.")
    db.session.commit()

    listed = conforms(api.get("/alerts"), "AlertPage")
    assert listed["total"] == 2 and [a["id"] for a in listed["items"]] == [mine.id, plain.id]
    first = listed["items"][0]
    assert first["kind"] == "dns_record_failed" and first["severity"] == "critical"
    assert first["subject"] == {"type": "domain", "id": 3} and first["status"] == "open"
    assert first["action"] == {"label": "Show the records", "url": "http://herald.test/domains/3"}
    assert first["evidence"] == {"dkim h1": "found p=MIIB...old, expected p=MIIB...new"}
    assert listed["items"][1]["action"] is None and listed["items"][1]["subject"] == {"type": "campaign", "id": 8}
    assert conforms(api.get("/alerts?per_page=1&page=2"), "AlertPage")["items"][0]["id"] == plain.id
    assert conforms(api.get("/alerts?status=resolved"), "AlertPage")["total"] == 0

    resolved = conforms(api.post(f"/alerts/{mine.id}/resolve"), "Alert")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert conforms(api.post(f"/alerts/{mine.id}/resolve"), "Alert")["resolved_at"] == resolved["resolved_at"]
    assert [a["id"] for a in api.get("/alerts?status=resolved").json["items"]] == [mine.id]
    assert [a["id"] for a in api.get("/alerts?status=open").json["items"]] == [plain.id]

    assert api.post(f"/alerts/{other.id}/resolve").status_code == 404
    assert api.get("/alerts?status=closed").status_code == 422
    db.session.expire_all()
    assert db.session.get(Alert, other.id).status == "open"


def test_alert_raised_is_an_event_type_endpoints_can_subscribe_to(api, app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/alerts" in document["paths"] and "/alerts/{alert_id}/resolve" in document["paths"]
    resp = api.post("/webhook-endpoints", json={"url": "https://example.com/hooks", "event_types": ["alert.raised"]})
    assert resp.status_code == 201 and resp.json["event_types"] == ["alert.raised"]
