"""SMS campaigns through the JSON API: drafted, checked field by field, estimated (GSM-7 against
UCS-2), moved through their lifecycle, scoped to their workspace; previews, texts received and
the SMS settings. Sending itself is the send job's (tested with a Twilio server elsewhere)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import Provider, SmsCampaign
from app.services.sms import campaigns, inbound
from tests.roles_support import api_client
from tests.sms_support import add_twilio, texting_audience
from tests.twilio_support import segments

GSM_BODY = (
    "Big weekend sale at Acme: 20% off everything in store and online, today and tomorrow. Reply STOP to opt out."
)
QUOTED_BODY = GSM_BODY.replace("Big weekend sale", "“Big weekend” sale")
EMOJI_BODY = GSM_BODY + " 🎉"


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**(delta or {"days": 1}))).isoformat()


def patch(api, path: str, body: dict):
    return api.c.patch("/api/v1" + path, json=body, headers=api.h)


@pytest.fixture
def setup(api, workspace):
    """A Twilio provider, a list of four people (two textable) and a draft to it."""
    provider_id = add_twilio(api)
    list_id = texting_audience(workspace.id)
    created = api.post("/sms-campaigns", json={"name": "Weekend", "body": GSM_BODY, "list_ids": [list_id]})
    assert created.status_code == 201, created.json
    return {"provider_id": provider_id, "list_id": list_id, "campaign_id": created.json["id"]}


def fields_of(resp, status: int = 422) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    error = resp.json["error"]
    assert set(error) >= {"code", "message", "fields"}
    return error["fields"]


def test_a_campaign_is_drafted_listed_shown_changed_and_deleted(api, conforms, setup):
    cid = setup["campaign_id"]
    shown = conforms(api.get(f"/sms-campaigns/{cid}"), "SmsCampaign")
    assert shown["status"] == "draft" and shown["provider_id"] == setup["provider_id"]
    assert shown["list_ids"] == [setup["list_id"]] and shown["quiet_hours"] is True
    assert shown["figures"]["total"] == 0 and shown["figures"]["cost"] == "0.00"
    listed = conforms(api.get("/sms-campaigns"), "SmsCampaignSummaryPage")
    assert [c["id"] for c in listed["items"]] == [cid] and listed["total"] == 1
    assert api.get("/sms-campaigns?status=sent").json["total"] == 0
    changed = conforms(patch(api, f"/sms-campaigns/{cid}", {"name": "Sunday", "quiet_hours": False}), "SmsCampaign")
    assert (changed["name"], changed["quiet_hours"], changed["body"]) == ("Sunday", False, GSM_BODY)
    assert api.delete(f"/sms-campaigns/{cid}").status_code == 204
    assert fields_of(api.get(f"/sms-campaigns/{cid}"), 404) == {}


def test_bad_campaigns_are_refused_naming_every_field(api, setup, make_workspace):
    outbox = db.session.scalar(db.select(Provider.id).where(Provider.provider_type != "twilio"))
    foreign_list = texting_audience(make_workspace("Other").id, "Theirs")
    good = {"name": "Weekend", "body": GSM_BODY, "list_ids": [setup["list_id"]]}
    cases = {
        "body": [{**good, "body": ""}, {**good, "body": "x" * 1601}, {**good, "body": "Hi {{ subscriber.name "},
                 {**good, "body": "{% for x in y %}no end"}],
        "provider_id": [{**good, "provider_id": outbox}, {**good, "provider_id": 999999}],
        "list_ids": [{**good, "list_ids": [foreign_list]}, {**good, "list_ids": []}],
        "name": [{**good, "name": "   "}],
    }  # fmt: skip
    for field, bodies in cases.items():
        for body in bodies:
            assert field in fields_of(api.post("/sms-campaigns", json=body)), body
    everything = fields_of(
        api.post("/sms-campaigns", json={"body": "", "provider_id": outbox, "list_ids": [foreign_list]})
    )
    assert set(everything) >= {"name", "body", "provider_id", "list_ids"}
    assert "quiet_hours" in fields_of(api.post("/sms-campaigns", json={**good, "quiet_hours": "yes"}))
    assert "colour" in fields_of(api.post("/sms-campaigns", json={**good, "colour": "red"}))
    cid = setup["campaign_id"]
    assert "body" in fields_of(patch(api, f"/sms-campaigns/{cid}", {"body": "x" * 1601}))
    assert "exclude_list_ids" in fields_of(patch(api, f"/sms-campaigns/{cid}", {"exclude_list_ids": [foreign_list]}))
    assert api.get(f"/sms-campaigns/{cid}").json["body"] == GSM_BODY
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsCampaign)) == 1


def test_a_campaign_is_refused_until_the_workspace_has_a_twilio_provider(api, workspace):
    list_id = texting_audience(workspace.id)
    fields = fields_of(api.post("/sms-campaigns", json={"name": "W", "body": GSM_BODY, "list_ids": [list_id]}))
    assert fields == {"provider_id": "No Twilio provider."}


@pytest.mark.parametrize("body", [GSM_BODY, QUOTED_BODY, EMOJI_BODY], ids=["gsm7", "smart-quotes", "emoji"])
def test_the_estimate_counts_people_skipped_reasons_segments_and_price(api, conforms, setup, body):
    assert api.put("/sms-settings", json={"price_per_segment": "0.05", "currency": "EUR"}).status_code == 200
    cid = setup["campaign_id"]
    assert patch(api, f"/sms-campaigns/{cid}", {"body": body}).status_code == 200
    estimate = conforms(api.get(f"/sms-campaigns/{cid}/estimate"), "SmsEstimate")
    each = segments(body)
    assert estimate["encoding"] == ("GSM-7" if body == GSM_BODY else "UCS-2")
    assert (estimate["recipients"], estimate["segments_each"], estimate["segments"]) == (2, each, 2 * each)
    assert estimate["skipped"] == {"no_consent": 1, "no_phone": 1}
    assert Decimal(estimate["price"]) == Decimal("0.05") * 2 * each and estimate["currency"] == "EUR"
    assert each == (1 if body == GSM_BODY else 2)  # the same words cost twice as much once Unicode


def test_the_preview_measures_the_text_for_a_sample_person(api, conforms, workspace):
    shown = conforms(api.post("/sms-preview", json={"body": "Hi {{ subscriber.name }} 🎉 {{ 7*7 }}"}), "SmsPreview")
    assert shown["encoding"] == "UCS-2" and shown["unicode_chars"] == ["🎉"] and "49" in shown["text"]
    assert shown["problem"] is None and any("STOP" in w for w in shown["warnings"])
    plain = api.post("/sms-preview", json={"body": "Hi. Reply STOP to opt out."}).json
    assert (plain["encoding"], plain["segments"], plain["warnings"]) == ("GSM-7", 1, [])
    broken = api.post("/sms-preview", json={"body": "{% for x in range(3) %}x"}).json
    assert broken["problem"] and broken["text"] == "" and broken["segments"] == 0
    loop = api.post("/sms-preview", json={"body": "{% for i in range(3) %}ab{% endfor %} STOP"}).json
    assert loop["text"] == "ababab STOP"
    assert "body" in fields_of(api.post("/sms-preview", json={}))


def test_schedule_unschedule_pause_resume_and_cancel_follow_the_lifecycle(api, conforms, setup):
    cid = setup["campaign_id"]
    base = f"/sms-campaigns/{cid}"
    for action in ("unschedule", "pause", "resume", "cancel"):  # a draft can do none of these
        assert fields_of(api.post(f"{base}/{action}"), 409) == {"status": "draft"}, action
    assert "scheduled_at" in fields_of(api.post(f"{base}/schedule", json={"scheduled_at": later(seconds=5)}))
    assert "scheduled_at" in fields_of(api.post(f"{base}/schedule", json={"scheduled_at": "next tuesday"}))
    scheduled = conforms(api.post(f"{base}/schedule", json={"scheduled_at": later()}), "SmsCampaign")
    assert scheduled["status"] == "scheduled" and scheduled["scheduled_at"]
    assert conforms(api.post(f"{base}/unschedule"), "SmsCampaign")["status"] == "draft"
    api.post(f"{base}/schedule", json={"scheduled_at": later(hours=2)})
    assert api.post(f"{base}/pause").json["status"] == "paused"
    assert fields_of(patch(api, base, {"name": "Late change"}), 409) == {}
    assert api.post(f"{base}/resume").json["status"] == "scheduled"  # its time has not come yet
    api.post(f"{base}/pause")
    cancelled = api.post(f"{base}/cancel").json
    assert cancelled["status"] == "cancelled" and cancelled["completed_at"]
    for action in ("pause", "resume", "unschedule", "cancel"):
        assert fields_of(api.post(f"{base}/{action}"), 409) == {"status": "cancelled"}, action
    assert api.delete(base).status_code == 204


def test_send_now_writes_recipients_and_records_the_estimate(api, conforms, setup):
    base = f"/sms-campaigns/{setup['campaign_id']}"
    sending = conforms(api.post(f"{base}/send"), "SmsCampaign", 202)
    assert sending["status"] == "sending" and sending["total_recipients"] == 3  # everyone with a number
    assert sending["estimate"]["recipients"] == 2 and sending["estimate"]["encoding"] == "GSM-7"
    assert sending["figures"]["skipped"] == {"no_consent": 1}
    assert fields_of(api.post(f"{base}/send"), 409) == {"status": "sending"}
    assert fields_of(api.delete(base), 409) == {}
    assert fields_of(patch(api, base, {"body": "Changed. STOP"}), 409) == {}
    page = conforms(api.get(f"{base}/recipients?status=pending"), "SmsRecipientPage")
    assert sorted(r["phone"] for r in page["items"]) == ["+12125550199", "+14155550123"] and page["per_page"] == 50
    skipped = api.get(f"{base}/recipients?status=skipped").json["items"]
    assert [(r["email"], r["skip_reason"]) for r in skipped] == [("cy@example.com", "no_consent")]
    assert "status" in fields_of(api.get(f"{base}/recipients?status=lost"))
    assert api.post(f"{base}/pause").json["status"] == "paused"
    figures = api.post(f"{base}/cancel").json["figures"]
    assert figures["skipped"] == {"no_consent": 1, "cancelled": 2} and figures["progress"] == 100.0


def test_send_now_refuses_an_audience_nobody_can_be_texted_in(api, setup, workspace):
    nobody = texting_audience(workspace.id, "No numbers", {"eve@example.com": (None, "none")})
    cid = api.post("/sms-campaigns", json={"name": "Nobody", "body": GSM_BODY, "list_ids": [nobody]}).json["id"]
    assert "list_ids" in fields_of(api.post(f"/sms-campaigns/{cid}/send"))
    assert api.get(f"/sms-campaigns/{cid}").json["status"] == "draft"


def test_another_workspaces_campaigns_answer_404_everywhere(api, setup, make_workspace):
    other = make_workspace("Other")
    theirs = SmsCampaign(workspace_id=other.id, name="Theirs", body="Secret. STOP", audience={}, status="draft")
    db.session.add(theirs)
    db.session.commit()
    base = f"/sms-campaigns/{theirs.id}"
    calls = [("get", base, None), ("patch", base, {"name": "Mine"}), ("delete", base, None),
             ("post", f"{base}/send", None), ("post", f"{base}/schedule", {"scheduled_at": later()}),
             ("post", f"{base}/unschedule", None), ("post", f"{base}/pause", None), ("post", f"{base}/resume", None),
             ("post", f"{base}/cancel", None), ("get", f"{base}/recipients", None), ("get", f"{base}/estimate", None)]  # fmt: skip
    for method, path, body in calls:
        resp = patch(api, path, body) if method == "patch" else getattr(api, method)(path, json=body)
        assert resp.status_code == 404, (method, path, resp.status_code)
        assert "Secret" not in resp.get_data(as_text=True)
    assert db.session.get(SmsCampaign, theirs.id).name == "Theirs"
    assert [c["id"] for c in api.get("/sms-campaigns").json["items"]] == [setup["campaign_id"]]


def test_texts_received_are_listed_newest_first_and_filtered_by_keyword(api, conforms, setup):
    provider = db.session.get(Provider, setup["provider_id"])
    for n, body in enumerate(["What time do you open?", "STOP", "help", "<script>alert(1)</script>"]):
        inbound.receive(provider, {"MessageSid": [f"SM{n:032d}"], "From": ["+14155550123"],
                                   "To": ["+14155550100"], "Body": [body]})  # fmt: skip
    db.session.commit()
    everything = conforms(api.get("/sms-inbound"), "SmsInboundPage")
    assert everything["total"] == 4 and everything["items"][0]["body"] == "<script>alert(1)</script>"
    assert everything["items"][0]["email"] == "ana@example.com"
    stop = api.get("/sms-inbound?keyword=stop").json["items"]
    assert [(m["body"], m["keyword"]) for m in stop] == [("STOP", "stop")]
    assert api.get("/sms-inbound?keyword=help").json["items"][0]["answer"].startswith("Acme")
    assert api.get("/sms-inbound?keyword=reply").json["total"] == 2
    assert "keyword" in fields_of(api.get("/sms-inbound?keyword=maybe"))


def test_sms_settings_are_read_replaced_and_checked_by_field(api, conforms, app, workspace):
    shown = conforms(api.get("/sms-settings"), "SmsSettings")
    assert (shown["quiet_start"], shown["quiet_end"], shown["currency"]) == ("21:00", "08:00", "USD")
    bad = fields_of(api.put("/sms-settings", json={"quiet_start": "25:00", "price_per_segment": "-1",
                                                   "currency": "dollars", "default_region": "XX"}))  # fmt: skip
    assert set(bad) == {"quiet_start", "price_per_segment", "currency", "default_region"}
    assert "help_text" in fields_of(api.put("/sms-settings", json={"help_text": "x" * 400}))
    saved = conforms(api.put("/sms-settings", json={"quiet_start": "22:30", "price_per_segment": 0.04,
                                                    "default_region": "gb", "help_text": "Acme: reply STOP."}),
                     "SmsSettings")  # fmt: skip
    assert (saved["quiet_start"], saved["price_per_segment"], saved["default_region"]) == ("22:30", "0.04", "GB")
    assert saved["currency"] == "USD" and saved["quiet_end"] == "08:00"  # left out: the default
    marketer = api_client(app, workspace.id, "marketer")
    assert marketer("PUT", "/sms-settings", json={"quiet_start": "20:00"}).status_code == 403
    assert marketer("GET", "/sms-settings").json["quiet_start"] == "22:30"
    analyst = api_client(app, workspace.id, "analyst")
    assert analyst("POST", "/sms-preview", json={"body": "Hi. STOP"}).status_code == 200
    assert analyst("POST", "/sms-campaigns", json={"name": "No"}).status_code == 403


def test_markup_and_personalization_in_a_body_are_stored_verbatim(api, setup, workspace):
    body = "<script>alert(1)</script> {{ 7*7 }} {% for i in range(2) %}x{% endfor %} '; DROP TABLE sms_campaigns; --"
    created = api.post("/sms-campaigns", json={"name": "<b>Bold</b>", "body": body, "list_ids": [setup["list_id"]]})
    assert created.status_code == 201 and created.json["body"] == body and created.json["name"] == "<b>Bold</b>"
    assert created.mimetype == "application/json"
    shown = campaigns.preview(workspace.id, body)
    assert shown.text.startswith("<script>alert(1)</script> 49 xx")
    huge = api.post("/sms-campaigns", json={"name": "Huge", "body": "y" * 1_000_000, "list_ids": [setup["list_id"]]})
    assert "body" in fields_of(huge) and len(json.dumps(huge.json)) < 2000
