"""The SMS pages as a marketer uses them: the list, the form with its live counter and estimate, the
campaign page and its lifecycle buttons, replies and settings; posts carry CSRF, errors show on
their field, and what the marketer (or a texter) wrote is shown escaped."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Provider, SmsCampaign, SmsRecipient
from app.services.sms import inbound
from tests.roles_support import csrf, member_client
from tests.sms_support import add_twilio, texting_audience

BODY = "Weekend sale: 20% off at Acme. Reply STOP to opt out."
HOSTILE = "<script>alert(1)</script> {{ 7*7 }} {% for i in range(3) %}x{% endfor %} STOP"


def text(resp) -> str:
    return resp.get_data(as_text=True)


def local_time(**delta) -> str:
    """A datetime-local value in the workspace's timezone (UTC for the tests' workspace)."""
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def marketer(app, workspace):
    return member_client(app, workspace.id, "marketer")


@pytest.fixture
def ready(api, workspace):
    """A Twilio provider and a list of four people, two of whom can be texted."""
    return {"provider_id": add_twilio(api), "list_id": texting_audience(workspace.id)}


def create(client, token: str, list_id: int, **fields) -> int:
    data = {"csrf_token": token, "name": "Weekend", "body": BODY, "list_ids": [list_id], "quiet_hours": "on", **fields}
    resp = client.post("/sms/new", data=data)
    assert resp.status_code == 302, text(resp)[-2000:]
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def test_without_a_twilio_provider_the_pages_say_so_and_link_to_adding_one(client, marketer):
    for path in ("/sms/", "/sms/new", "/sms/replies", "/sms/settings"):
        page = text(client.get(path))
        assert 'id="sms-no-provider"' in page and 'href="/providers/new?type=twilio"' in page, path
    page = text(marketer.get("/sms/new"))
    assert "Ask an owner or admin" in page and "/providers/new?type=twilio" not in page


def test_every_sms_page_renders_for_a_marketer(marketer, ready, workspace):
    token = csrf(marketer, "/sms/new")
    cid = create(marketer, token, ready["list_id"])
    for path in ("/sms/", "/sms/new", f"/sms/{cid}", f"/sms/{cid}/edit", "/sms/replies", "/sms/settings"):
        resp = marketer.get(path)
        assert resp.status_code == 200, path
        assert 'aria-label="Main navigation"' in text(resp) and ">SMS campaigns<" in text(resp)
    listed = text(marketer.get("/sms/"))
    assert f'href="/sms/{cid}"' in listed and 'data-status="draft"' in listed and ">Customers</a>" in listed


def test_the_form_shows_each_error_on_its_field_and_saves_with_csrf(marketer, ready, make_workspace):
    foreign = texting_audience(make_workspace("Other").id, "Theirs")
    token = csrf(marketer, "/sms/new")
    assert marketer.post("/sms/new", data={"name": "No token", "body": BODY}).status_code == 400
    resp = marketer.post("/sms/new", data={"csrf_token": token, "name": "", "body": "", "list_ids": [foreign]})
    page = text(resp)
    assert resp.status_code == 422
    assert 'id="f-name"' in page and re.search(r'id="f-body" name="body"[^>]*', page)
    assert 'class="form-control is-invalid" id="f-body"' in page and 'id="err-body">Required.' in page
    assert 'id="err-audience">Choose lists of this workspace.' in page
    long_body = marketer.post("/sms/new", data={"csrf_token": token, "name": "Long", "body": "x" * 1601,
                                                "list_ids": [ready["list_id"]]})  # fmt: skip
    assert long_body.status_code == 422 and 'id="err-body">Too long.' in text(long_body)
    assert 'data-segments="11"' in text(long_body)  # the counter still measures what was typed
    jinja = marketer.post("/sms/new", data={"csrf_token": token, "name": "J", "body": "Hi {{ subscriber.name ",
                                            "list_ids": [ready["list_id"]]})  # fmt: skip
    assert jinja.status_code == 422 and 'id="err-body"' in text(jinja) and "{{ subscriber.name " in text(jinja)
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsCampaign)) == 0
    cid = create(marketer, token, ready["list_id"])
    page = text(marketer.get(f"/sms/{cid}"))
    assert 'id="est-recipients" data-value="2"' in page and 'data-reason="no_consent"' in page
    assert "about 0.02 USD" in page and "Text “Weekend” now to 2 people for about 0.02 USD (2 segments)?" in page


def test_edit_changes_a_draft_and_shows_errors_in_place(marketer, ready):
    token = csrf(marketer, "/sms/new")
    cid = create(marketer, token, ready["list_id"])
    form = text(marketer.get(f"/sms/{cid}/edit"))
    assert ">Weekend sale: 20% off at Acme. Reply STOP to opt out.</textarea>" in form and 'value="Weekend"' in form
    bad = marketer.post(f"/sms/{cid}/edit", data={"csrf_token": token, "name": "Renamed", "body": "",
                                                  "list_ids": [ready["list_id"]]})  # fmt: skip
    assert bad.status_code == 422 and 'value="Renamed"' in text(bad)
    saved = marketer.post(f"/sms/{cid}/edit", data={"csrf_token": token, "name": "Renamed", "body": BODY + " 🎉",
                                                    "list_ids": [ready["list_id"]]})  # fmt: skip
    assert saved.status_code == 302
    campaign = db.session.get(SmsCampaign, cid)
    db.session.refresh(campaign)
    assert (campaign.name, campaign.quiet_hours) == ("Renamed", False)  # the switch was not posted: off
    assert 'data-encoding="UCS-2"' in text(marketer.get(f"/sms/{cid}"))


def test_the_counter_switches_to_unicode_and_the_estimate_follows_the_form(marketer, ready, workspace):
    token = csrf(marketer, "/sms/new")
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    gsm = text(marketer.post("/sms/preview", data={"body": BODY}, headers=headers))
    assert 'data-encoding="GSM-7"' in gsm and 'data-segments="1"' in gsm and "sms-unicode-chars" not in gsm
    emoji = text(marketer.post("/sms/preview", data={"body": BODY * 2 + " 🎉"}, headers=headers))
    assert 'data-encoding="UCS-2"' in emoji and 'data-segments="2"' in emoji
    assert '<code class="me-1">🎉</code>' in emoji
    personal = text(marketer.post("/sms/preview", data={"body": "Hi {{ subscriber.name }}"}, headers=headers))
    assert "Jane" in personal and "Say how to stop" in personal
    assert marketer.post("/sms/preview", data={"body": BODY}).status_code == 400  # no CSRF token
    none = text(marketer.post("/sms/estimate", data={"body": BODY}, headers=headers))
    assert "Choose lists or segments" in none
    estimate = text(marketer.post("/sms/estimate", data={"body": BODY * 2 + " 🎉", "list_ids": [ready["list_id"]]},
                                  headers=headers))  # fmt: skip
    assert 'id="est-recipients" data-value="2"' in estimate and 'id="est-segments" data-value="4"' in estimate
    assert "Never agreed to texts" in estimate and "No phone number" in estimate


def test_schedule_errors_show_on_the_field_and_the_lifecycle_buttons_work(marketer, ready):
    token = csrf(marketer, "/sms/new")
    cid = create(marketer, token, ready["list_id"])
    base = f"/sms/{cid}"
    soon = marketer.post(f"{base}/schedule", data={"csrf_token": token, "scheduled_at": local_time(seconds=10)})
    assert soon.status_code == 422 and 'id="err-scheduled_at"' in text(soon)
    assert 'class="form-control is-invalid" id="scheduled_at"' in text(soon)
    when = local_time(days=2)
    assert marketer.post(f"{base}/schedule", data={"csrf_token": token, "scheduled_at": when}).status_code == 302
    page = text(marketer.get(base))
    assert 'data-status="scheduled"' in page and f'value="{when}"' in page and "/unschedule" in page
    marketer.post(f"{base}/unschedule", data={"csrf_token": token})
    assert db.session.scalar(db.select(SmsCampaign.status).where(SmsCampaign.id == cid)) == "draft"
    refused = marketer.post(f"{base}/pause", data={"csrf_token": token}, follow_redirects=True)
    assert "This campaign is draft: only a scheduled or sending campaign can be paused." in text(refused)
    assert marketer.post(f"{base}/send", data={"csrf_token": token}).status_code == 302
    page = text(marketer.get(base))
    assert f'hx-get="/sms/{cid}/progress"' in page and 'id="recipients-table"' in page and "+1 415-555-0123" in page
    assert marketer.get(f"{base}/progress").status_code == 200  # still sending: keep polling
    marketer.post(f"{base}/pause", data={"csrf_token": token})
    done = marketer.get(f"{base}/progress")
    assert done.status_code == 286 and done.headers["HX-Refresh"] == "true"
    marketer.post(f"{base}/cancel", data={"csrf_token": token})
    page = text(marketer.get(f"{base}?rstatus=skipped"))
    assert "The campaign was cancelled" in page and "Never agreed to texts" in page
    assert marketer.post(f"{base}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.get(SmsCampaign, cid) is None


def test_the_campaign_page_shows_texts_held_for_quiet_hours_and_twilios_errors_in_words(marketer, api, ready):
    token = csrf(marketer, "/sms/new")
    cid = create(marketer, token, ready["list_id"])
    marketer.post(f"/sms/{cid}/send", data={"csrf_token": token})
    held_until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=9)
    held, failed = db.session.scalars(
        db.select(SmsRecipient).where(SmsRecipient.campaign_id == cid, SmsRecipient.status == "pending")
        .order_by(SmsRecipient.phone)
    ).all()  # fmt: skip
    held.not_before = held_until
    failed.status, failed.error_code, failed.error_message, failed.segments = "failed", 30007, "30007: filtered", 1
    db.session.commit()
    live = marketer.get(f"/sms/{cid}/progress")
    page = text(live)
    assert live.status_code == 200 and 'id="sms-held"' in page
    assert f'<time datetime="{held_until.isoformat()}"' in page
    assert "30007: Filtered by the carrier as spam" in page and 'id="stat-failed"' in page
    figures = api.get(f"/sms-campaigns/{cid}").json["figures"]
    assert figures["held_until"] == held_until.isoformat() and figures["failed"] == 1
    assert figures["errors"] == [{"error": "30007: Filtered by the carrier as spam", "count": 1}]


def test_a_hostile_body_and_name_are_shown_escaped(marketer, ready):
    token = csrf(marketer, "/sms/new")
    cid = create(marketer, token, ready["list_id"], name="<img src=x onerror=alert(1)>", body=HOSTILE)
    for path in (f"/sms/{cid}", "/sms/", f"/sms/{cid}/edit"):
        page = text(marketer.get(path))
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, path
    page = text(marketer.get(f"/sms/{cid}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 49 xxx STOP" in page  # rendered for the sample person, escaped
    assert "{{ 7*7 }} {% for i in range(3) %}" in page  # and as written
    counter = text(marketer.post("/sms/preview", data={"body": HOSTILE}, headers={"X-CSRFToken": token}))
    assert "&lt;script&gt;" in counter and "<script>" not in counter
    runaway = text(marketer.post("/sms/preview", data={"body": "{% for i in range(10**9) %}x{% endfor %}"},
                                 headers={"X-CSRFToken": token}))  # fmt: skip
    assert 'id="sms-problem"' in runaway


def test_replies_are_listed_escaped_with_their_person_and_filtered(client, ready):
    provider = db.session.get(Provider, ready["provider_id"])
    for n, (sender, body) in enumerate([("+14155550123", "<b>Open sunday?</b>"), ("+12125550199", "STOP"),
                                        ("+15005550006", "HELP")]):  # fmt: skip
        inbound.receive(provider, {"MessageSid": [f"SM{n:032d}"], "From": [sender], "To": ["+14155550100"],
                                   "Body": [body]})  # fmt: skip
    db.session.commit()
    page = text(client.get("/sms/replies"))
    assert "&lt;b&gt;Open sunday?&lt;/b&gt;" in page and "<b>Open sunday?" not in page
    assert ">Ana</a>" in page and 'data-keyword="stop"' in page and "unknown number" in page
    stops = text(client.get("/sms/replies?keyword=stop"))
    assert 'data-keyword="stop"' in stops and "Open sunday" not in stops and 'data-keyword="help"' not in stops
    assert "Open sunday" in text(client.get("/sms/replies?keyword=reply"))


def test_sms_settings_are_saved_by_an_admin_with_errors_on_their_fields(client, marketer, ready):
    page = text(client.get("/sms/settings"))
    assert f"http://herald.test/webhooks/twilio/{ready['provider_id']}/inbound" in page
    assert 'placeholder="Acme: texts about your orders' in page
    token = csrf(client, "/sms/settings")
    bad = client.post("/sms/settings", data={"csrf_token": token, "quiet_start": "9pm", "quiet_end": "08:00",
                                             "price_per_segment": "cheap", "currency": "USD", "default_region": "US"})  # fmt: skip
    assert bad.status_code == 422 and 'value="9pm"' in text(bad)
    assert text(bad).count("invalid-feedback d-block") == 2 and "A time as HH:MM" in text(bad)
    good = client.post("/sms/settings", data={"csrf_token": token, "quiet_start": "22:00", "quiet_end": "07:30",
                                              "price_per_segment": "0.01", "currency": "eur", "default_region": "de"})  # fmt: skip
    assert good.status_code == 302
    page = text(client.get("/sms/settings"))
    assert 'value="22:00"' in page and 'value="EUR"' in page and 'value="DE"' in page
    assert marketer.post("/sms/settings", data={"csrf_token": csrf(marketer, "/sms/new")}).status_code == 403
    assert "Only owners and admins" in text(marketer.get("/sms/settings"))


def test_the_campaign_list_runs_the_same_queries_for_one_campaign_or_twenty(client, ready, workspace, count_queries):
    def add(n):
        for i in range(n):
            db.session.add(SmsCampaign(workspace_id=workspace.id, name=f"C{i}", body=BODY, status="draft",
                                       audience={"list_ids": [ready["list_id"]]}, provider_id=ready["provider_id"]))  # fmt: skip
        db.session.commit()

    add(1)
    with count_queries() as one:
        assert client.get("/sms/").status_code == 200
    add(19)
    with count_queries() as twenty:
        assert client.get("/sms/").status_code == 200
    assert twenty() == one()
