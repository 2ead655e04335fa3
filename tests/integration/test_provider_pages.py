"""Deliverability → Providers through the browser session: every type's form, its errors, its page."""

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from app.extensions import db
from app.models import Provider, WebhookPayload
from app.services.crypto import decrypt_json
from app.services.delivery import delivery_stats, providers
from app.services.events import webhook_intake
from tests.factories import create_provider

PUBLIC_KEY = base64.b64encode(
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
ARN = "arn:aws:sns:eu-west-1:123456789012:ses-events"

# Per type: a valid form, and the secrets in it (which must never come back in a page).
VALID = {
    "smtp": (
        {"name": "Relay", "host": "smtp.example.com", "port": "587", "use_tls": "starttls", "username": "relay-user",
         "password": "smtp-secret-pw-1", "return_path_domain": "bounces.example.com"},
        ["smtp-secret-pw-1"],
    ),
    "ses": (
        {"name": "SES", "region": "eu-west-1", "configuration_set": "herald-events", "topic_arns": ARN,
         "access_key_id": "AKIAEXAMPLE123", "secret_access_key": "ses-secret-key-2"},
        ["ses-secret-key-2"],
    ),
    "sendgrid": (
        {"name": "SendGrid", "api_key": "SG.sendgrid-secret-3", "webhook_public_key": PUBLIC_KEY,
         "api_base_url": "https://api.sendgrid.com"},
        ["SG.sendgrid-secret-3"],
    ),
    "mailgun": (
        {"name": "Mailgun EU", "domain": "mg.example.com", "api_base_url": "https://api.eu.mailgun.net",
         "api_key": "key-mailgun-secret-4", "webhook_signing_key": "mailgun-signing-secret-5"},
        ["key-mailgun-secret-4", "mailgun-signing-secret-5"],
    ),
    "postmark": (
        {"name": "Postmark", "server_token": "postmark-token-secret-6", "message_stream": "broadcast",
         "webhook_username": "hooks", "webhook_password": "postmark-hook-secret-7"},
        ["postmark-token-secret-6", "postmark-hook-secret-7"],
    ),
}  # fmt: skip


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/providers/").get_data(as_text=True)).group(1)


def post(client, path, data):
    return client.post(path, data={"csrf_token": csrf(client), **data})


def provider_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Provider).where(Provider.provider_type != "outbox"))


def field_error(html: str, field: str) -> str:
    m = re.search(rf'id="fb-{field}" aria-live="polite">(.*?)</div>', html, re.S)
    return m.group(1) if m else ""


def sendgrid(workspace, **settings) -> Provider:
    p = create_provider(workspace.id, "sendgrid", settings, {"api_key": "SG.stored-key-x"})
    db.session.commit()
    return p


@pytest.mark.parametrize("provider_type", list(VALID))
def test_each_type_is_added_through_its_form_and_its_secrets_never_come_back(client, workspace, provider_type):
    data, secrets = VALID[provider_type]
    form = client.get(f"/providers/new?type={provider_type}")
    assert form.status_code == 200
    for name in data:
        assert f'name="{name}"' in form.get_data(as_text=True), name

    r = post(client, f"/providers/new?type={provider_type}", data)
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "name") or r.get_data(as_text=True)[:3000]
    db.session.expire_all()
    p = db.session.scalar(select(Provider).where(Provider.provider_type == provider_type))
    assert r.headers["Location"].endswith(f"/providers/{p.id}")
    stored = decrypt_json(p.credentials_encrypted)
    assert all(s in stored.values() for s in secrets)

    pages = [client.get(f"/providers/{p.id}"), client.get("/providers/")]
    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for s in secrets:
            assert s not in html
    html = pages[0].get_data(as_text=True)
    assert "Stored — leave empty to keep" in html
    hook = f"http://herald.test/webhooks/{provider_type}/{p.id}"
    if provider_type == "smtp":
        assert "herald.test/webhooks/" not in html and 'id="webhook-card"' not in html
        assert 'id="verp-card"' in html and "bounces.example.com" in html
    else:
        assert f'id="webhook-url" value="{hook}"' in html and 'data-copy="#webhook-url"' in html
        assert 'id="webhook-log"' in html
    assert providers.TYPE_LABELS[provider_type] in pages[1].get_data(as_text=True)


BAD = [
    ("smtp", {"host": ""}, "host", "host name"),
    ("smtp", {"port": "70000"}, "port", "between 1 and 65535"),
    ("smtp", {"return_path_domain": "not a domain"}, "return_path_domain", "MX points at"),
    ("smtp", {"name": "x" * 10_000}, "name", "At most 200 characters"),
    ("smtp", {"name": "   "}, "name", "Required."),
    ("smtp", {"priority": "first"}, "priority", "A whole number."),
    ("smtp", {"priority": "99999"}, "priority", "Out of range."),
    ("smtp", {"max_sends_per_day": "0"}, "max_sends_per_day", "Out of range."),
    ("ses", {"region": "moon-1"}, "region", "An AWS region"),
    ("ses", {"region": ""}, "region", "An AWS region"),
    ("ses", {"topic_arns": f"{ARN}\nnot-an-arn <b>"}, "topic_arns", "SNS topic ARNs"),
    ("ses", {"endpoint_url": "javascript:alert(1)"}, "endpoint_url", "An https:// URL"),
    ("ses", {"access_key_id": ""}, "access_key_id", "Required."),
    ("ses", {"secret_access_key": ""}, "secret_access_key", "Required."),
    ("sendgrid", {"webhook_public_key": "garbage-not-a-key"}, "webhook_public_key", "verification key"),
    ("sendgrid", {"api_key": ""}, "api_key", "Required."),
    ("sendgrid", {"api_base_url": "ftp://api.sendgrid.com"}, "api_base_url", "An https:// URL"),
    ("mailgun", {"domain": ""}, "domain", "sending domain"),
    ("mailgun", {"api_base_url": "https://u:p@api.eu.mailgun.net"}, "api_base_url", "user or password out of the URL"),
    ("mailgun", {"api_key": ""}, "api_key", "Required."),
    ("postmark", {"server_token": ""}, "server_token", "Required."),
    ("postmark", {"message_stream": "Bad Stream!"}, "message_stream", "message stream"),
    ("postmark", {"webhook_password": ""}, "webhook_password", "both the webhook username and password"),
]


@pytest.mark.parametrize("provider_type", list(VALID))
def test_bad_input_answers_422_with_the_message_under_its_field(client, workspace, provider_type):
    data, secrets = VALID[provider_type]
    # One session for a type's cases: each case is one POST (a test each would mostly time fixtures).
    for change, field, message in [(c, f, m) for t, c, f, m in BAD if t == provider_type]:
        r = post(client, f"/providers/new?type={provider_type}", {**data, **change})
        html = r.get_data(as_text=True)
        assert r.status_code == 422, field
        assert message in field_error(html, field), (field, html[:3000])
        assert provider_count() == 0
        for s in secrets:  # a secret typed is never sent back, even to the person who typed it
            assert s not in html
        if field != "name":  # what was typed stays
            assert f'value="{data["name"]}"' in html


def test_markup_in_the_name_is_shown_as_text(client, workspace):
    # An expression whose result cannot turn up by chance (a random key in the page may hold "49").
    name = "<script>alert(1)</script> {{ 'jinja' ~ 'ran' }} <b>bold</b>"
    data = {**VALID["sendgrid"][0], "name": name}
    r = post(client, "/providers/new?type=sendgrid", {**data, "api_base_url": "nope"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "<script>alert(1)" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ &#39;jinja&#39; ~ &#39;ran&#39; }}" in html
    assert "jinjaran" not in html

    r = post(client, "/providers/new?type=sendgrid", data)
    assert r.status_code == 302
    for page in (client.get(r.headers["Location"]), client.get("/providers/")):
        html = page.get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<b>bold" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "jinjaran" not in html


def test_the_chooser_offers_every_type_and_an_unknown_type_is_404(client, workspace):
    html = client.get("/providers/new").get_data(as_text=True)
    for t in providers.CREATABLE_TYPES:
        assert f'href="/providers/new?type={t}"' in html
    assert client.get("/providers/new?type=outbox").status_code == 404
    assert client.get("/providers/new?type=<x>").status_code == 404
    assert post(client, "/providers/new?type=carrier-pigeon", {"name": "x"}).status_code == 404
    index = client.get("/providers/").get_data(as_text=True)
    assert "later release" not in index and 'href="/providers/new"' in index


def test_the_index_shows_type_priority_check_limits_today_and_sandbox(client, workspace):
    from app.redis_client import get_redis
    from app.services.delivery.ratelimit import provider_day_key

    p = sendgrid(workspace)
    p.max_sends_per_day, p.priority, p.sandbox_mode = 50_000, 7, True
    p.last_check_status, p.last_error = "failed", 'SendGrid answered 401: "bad key" <i>'
    p.last_check_at = db.func.now()
    db.session.commit()
    get_redis().set(f"{provider_day_key(p.id)}:{int(time.time() // 86400) * 86400}", 1204)
    html = client.get("/providers/").get_data(as_text=True)
    row = re.search(rf'<tr data-provider="{p.id}">(.*?)</tr>', html, re.S).group(1)
    assert "SendGrid" in row and "<td>7</td>" in row and 'data-badge="sandbox"' in row
    assert "1,204 / 50,000 today" in " ".join(row.split())
    assert 'data-status="failed"' in row and 'title="SendGrid answered 401: &#34;bad key&#34; &lt;i&gt;"' in row


def test_editing_with_empty_secrets_keeps_the_stored_ones(client, workspace):
    p = providers.create_provider(
        workspace.id,
        "Postmark",
        "postmark",
        {"message_stream": "outbound"},
        {"server_token": "tok-old", "webhook_username": "hooks", "webhook_password": "pw-old"},
    )
    db.session.commit()
    page = client.get(f"/providers/{p.id}").get_data(as_text=True)
    assert "tok-old" not in page and "pw-old" not in page
    assert 'value="hooks"' in page  # a user name is not a secret: it shows, so it can be changed

    data = {"name": "Postmark broadcast", "message_stream": "broadcast", "webhook_username": "hooks",
            "server_token": "", "webhook_password": "", "priority": "5", "provider_tracking": "on"}  # fmt: skip
    r = post(client, f"/providers/{p.id}", data)
    assert r.status_code == 302
    db.session.expire_all()
    p = db.session.get(Provider, p.id)
    assert (p.name, p.settings["message_stream"], p.priority, p.provider_tracking) == (
        "Postmark broadcast", "broadcast", 5, True)  # fmt: skip
    assert decrypt_json(p.credentials_encrypted) == {
        "server_token": "tok-old", "webhook_username": "hooks", "webhook_password": "pw-old"}  # fmt: skip

    r = post(client, f"/providers/{p.id}", {**data, "server_token": "tok-new", "message_stream": "No Good"})
    assert r.status_code == 422 and "message stream" in field_error(r.get_data(as_text=True), "message_stream")
    assert "tok-new" not in r.get_data(as_text=True)
    r = post(client, f"/providers/{p.id}", {**data, "server_token": "tok-new"})
    assert r.status_code == 302
    db.session.expire_all()
    assert decrypt_json(db.session.get(Provider, p.id).credentials_encrypted)["server_token"] == "tok-new"


def test_another_workspaces_provider_and_payloads_are_404(client, workspace, make_workspace):
    other = make_workspace("Other", "other@example.com")
    p = sendgrid(other)
    wp = WebhookPayload(workspace_id=other.id, provider_id=p.id, provider_type="sendgrid", body=b"[]", status="failed")
    db.session.add(wp)
    db.session.commit()
    assert client.get(f"/providers/{p.id}").status_code == 404
    assert post(client, f"/providers/{p.id}", {"name": "mine now"}).status_code == 404
    assert post(client, f"/providers/{p.id}/test", {}).status_code == 404
    assert post(client, f"/providers/{p.id}/default", {}).status_code == 404
    assert client.get(f"/providers/{p.id}/webhooks/{wp.id}").status_code == 404
    assert post(client, f"/providers/{p.id}/webhooks/{wp.id}/reprocess", {}).status_code == 404
    # Our own provider, with the other workspace's payload id: still 404.
    mine = sendgrid(workspace)
    assert client.get(f"/providers/{mine.id}/webhooks/{wp.id}").status_code == 404
    # "Make default" pressed on the provider's own page stays there; from the list, back to the list.
    r = post(client, f"/providers/{mine.id}/default?back=provider", {})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/providers/{mine.id}")
    assert post(client, f"/providers/{mine.id}/default", {}).headers["Location"].endswith("/providers/")
    db.session.expire_all()
    assert db.session.get(Provider, p.id).name == "SendGrid"


HOSTILE_BODY = json.dumps([{"event": "<script>alert(1)</script>", "email": "a@example.com", "sg_event_id": "e1"}])


def test_the_webhook_log_lists_payloads_and_shows_one_escaped(client, workspace):
    p = sendgrid(workspace)
    wp = WebhookPayload(
        workspace_id=workspace.id,
        provider_id=p.id,
        provider_type="sendgrid",
        content_type="application/json",
        headers={"content-type": "application/json", "user-agent": "<img src=x onerror=alert(1)>"},
        body=HOSTILE_BODY.encode(),
        status="processed",
        events_total=3,
        events_new=2,
        events_unmatched=1,
        summary={"delivery": 2, "<bounce>": 1},
    )
    text = WebhookPayload(workspace_id=workspace.id, provider_id=p.id, provider_type="sendgrid",
                          body=b"not json </pre><script>x()</script>", status="failed", error="<b>bad</b> body")  # fmt: skip
    db.session.add_all([wp, text])
    db.session.commit()

    html = client.get(f"/providers/{p.id}").get_data(as_text=True)
    log = html[html.index('id="webhook-log"') :]
    assert f'data-payload="{wp.id}"' in log and f'data-payload="{text.id}"' in log
    assert 'data-count="processed">1<' in log and 'data-count="failed">1<' in log
    assert "delivery 2" in log and "&lt;bounce&gt; 1" in log and "&lt;b&gt;bad&lt;/b&gt; body" in log
    assert "<b>bad" not in html and "<bounce>" not in html

    page = client.get(f"/providers/{p.id}/webhooks/{wp.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'class="page-title"' in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "[\n  {\n    &#34;event&#34;" in html  # pretty-printed
    assert "Process again" not in html  # only a failed payload offers it

    partial = client.get(f"/providers/{p.id}/webhooks/{text.id}", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert "<html" not in html and 'id="payload-modal-title"' in html
    assert "not json &lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;" in html and "<script>x()" not in html
    assert "Process again" in html and 'name="csrf_token"' in html

    other = sendgrid(workspace)  # the same workspace's other provider does not show this payload
    assert client.get(f"/providers/{other.id}/webhooks/{wp.id}").status_code == 404


def test_a_large_body_is_cut_at_200_kb(client, workspace):
    p = sendgrid(workspace)
    wp = WebhookPayload(workspace_id=workspace.id, provider_id=p.id, provider_type="sendgrid",
                        body=b"y" * 300_000, status="failed")  # fmt: skip
    db.session.add(wp)
    db.session.commit()
    html = client.get(f"/providers/{p.id}/webhooks/{wp.id}").get_data(as_text=True)
    assert "y" * 200 * 1024 in html and "y" * (200 * 1024 + 1) not in html and "the first 200 KB" in html


def test_process_again_turns_a_failed_payload_into_events(client, workspace):
    p = sendgrid(workspace)
    body = json.dumps(
        [{"event": "delivered", "email": "a@example.com", "sg_event_id": "ev-1", "timestamp": 1700000000}]
    )
    wp = WebhookPayload(workspace_id=workspace.id, provider_id=p.id, provider_type="sendgrid", body=body.encode(),
                        status="failed", error="OperationalError: the database was away")  # fmt: skip
    db.session.add(wp)
    db.session.commit()
    r = post(client, f"/providers/{p.id}/webhooks/{wp.id}/reprocess", {})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/providers/{p.id}#webhook-log")
    db.session.expire_all()
    wp = db.session.get(WebhookPayload, wp.id)
    assert (wp.status, wp.events_total, wp.events_new, wp.error) == ("processed", 1, 1, None)
    assert "processed: 1 new of 1 events" in client.get(f"/providers/{p.id}").get_data(as_text=True)


def test_refused_requests_and_the_30_day_figures_show_on_the_page(client, workspace, ctx):
    from collections import Counter
    from datetime import datetime, timezone

    p = sendgrid(workspace)
    html = client.get(f"/providers/{p.id}").get_data(as_text=True)
    assert 'id="webhook-rejections"' not in html  # only when there are some
    webhook_intake.record_rejection(p.id, "signature does not verify <x>", "203.0.113.9")
    today = datetime.now(timezone.utc).date()
    delivery_stats.add(workspace.id, {(today, p.id, "example.com"): Counter(
        sent=1000, delivered=950, bounced_hard=30, bounced_soft=10, blocked=5, complained=2)})  # fmt: skip
    delivery_stats.add(workspace.id, {(today, 0, "example.com"): Counter(sent=99999)})  # not this provider's
    db.session.commit()
    html = " ".join(client.get(f"/providers/{p.id}").get_data(as_text=True).split())
    rejections = html[html.index('id="webhook-rejections"') :]
    assert "203.0.113.9" in rejections and "signature does not verify &lt;x&gt;" in rejections
    assert 'data-stat="sent">1,000<' in html and 'data-stat="blocked">5<' in html
    assert 'data-stat="bounce_rate">4.0% · 40 of 1,000<' in html
    assert 'data-stat="complaint_rate">0.2% · 2 of 950<' in html


def test_test_button_records_the_check_and_the_page_shows_it(client, workspace, smtp_sink):
    p = providers.create_provider(workspace.id, "Relay", "smtp", {"host": "127.0.0.1", "port": smtp_sink.port}, {})
    db.session.commit()
    r = post(client, f"/providers/{p.id}/test", {})
    assert r.status_code == 302
    html = client.get(f"/providers/{p.id}").get_data(as_text=True)
    last = html[html.index('id="last-check"') :]
    assert 'data-status="ok"' in last[:600] and "connected and authenticated" in last[:800]
