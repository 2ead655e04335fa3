"""A person's number and consent to texts are part of the subscriber everywhere a marketer or the API
touches them: read in any usual form with the workspace's country, refused with the field named, a
STOP honoured, exported and erased with the rest of their data, and usable in segments."""

import re
from datetime import datetime, timezone

from sqlalchemy import select

from app.blueprints.segments.words import rules_words
from app.extensions import db
from app.models import SmsCampaign, SmsInbound, SmsOptOut, SmsRecipient, Subscriber
from app.services.audience import contacts
from app.services.sms import consent, settings


def patch(api, sid, body):
    return api.c.patch(f"/api/v1/subscribers/{sid}", json=body, headers=api.h)


def reload(sid: int) -> Subscriber:
    db.session.expire_all()
    return db.session.get(Subscriber, sid)


def opt_outs(workspace_id: int) -> dict[str, str]:
    db.session.expire_all()
    rows = db.session.execute(select(SmsOptOut.phone, SmsOptOut.source).where(SmsOptOut.workspace_id == workspace_id))
    return dict(rows.all())


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# The API ------------------------------------------------------------------------------------------


def test_the_api_reads_numbers_in_any_usual_form_with_the_workspaces_country(workspace, api, conforms):
    zoe = conforms(
        api.post("/subscribers", {"email": "zoe@example.com", "name": "Zoë Müller", "phone": "(415) 555-0123"}),
        "Subscriber",
        201,
    )
    assert (zoe["phone"], zoe["sms_status"], zoe["sms_consent"]) == ("+14155550123", "none", None)

    body = {"email": "siobhan@example.ie", "name": "Siobhán Ó Briain", "phone": "+44 7911 123456",
            "sms_status": "subscribed"}  # fmt: skip
    siobhan = conforms(api.post("/subscribers", body), "Subscriber", 201)
    assert (siobhan["phone"], siobhan["sms_status"]) == ("+447911123456", "subscribed")
    assert siobhan["sms_consent"]["method"] == "api" and siobhan["sms_consent"]["at"]

    settings.update_settings(workspace.id, {"default_region": "FR"})
    db.session.commit()
    jose = conforms(api.post("/subscribers", {"email": "jose@example.fr", "name": "José", "phone": "06 12 34 56 78"}),
                    "Subscriber", 201)  # fmt: skip
    assert jose["phone"] == "+33612345678" and jose["name"] == "José"
    # A number written with its country code is that country's, whatever the workspace's.
    again = conforms(patch(api, jose["id"], {"phone": "+1 (212) 555-0199"}), "Subscriber")
    assert again["phone"] == "+12125550199"

    listed = api.get("/subscribers?email=siobhan@example.ie").get_json()["items"]
    assert [(p["phone"], p["sms_status"]) for p in listed] == [("+447911123456", "subscribed")]
    assert conforms(api.get(f"/subscribers/{zoe['id']}"), "Subscriber")["phone"] == "+14155550123"


def test_a_number_that_is_no_number_answers_422_naming_phone_and_changes_nothing(workspace, api, conforms):
    refused = conforms(api.post("/subscribers", {"email": "ana@example.com", "phone": "12"}), "Error", 422)
    assert "phone" in refused["error"]["fields"] and "12" in refused["error"]["message"]
    assert api.get("/subscribers?email=ana@example.com").get_json()["items"] == []

    sid = api.post("/subscribers", {"email": "ana@example.com", "phone": "+33 6 12 34 56 78"}).get_json()["id"]
    for bad in ("call me maybe", "+1 555 0100", "4" * 41):
        answer = conforms(patch(api, sid, {"phone": bad, "name": "Ana"}), "Error", 422)
        assert list(answer["error"]["fields"]) == ["phone"], bad
    assert (reload(sid).phone, reload(sid).name) == ("+33612345678", None)

    no_number = api.post("/subscribers", {"email": "bo@example.com", "sms_status": "subscribed"})
    assert no_number.status_code == 422 and "phone" in no_number.get_json()["error"]["fields"]
    assert conforms(patch(api, sid, {"sms_status": "maybe"}), "Error", 422)["error"]["fields"]


def test_patch_sets_changes_and_clears_the_number_and_its_consent(workspace, api, conforms):
    sid = api.post("/subscribers", {"email": "lea@example.com", "name": "Léa"}).get_json()["id"]
    body = conforms(patch(api, sid, {"phone": "+33612345678", "sms_status": "subscribed"}), "Subscriber")
    assert (body["phone"], body["sms_status"], body["sms_consent"]["method"]) == ("+33612345678", "subscribed", "api")

    # The same number written otherwise keeps the consent; another number starts without it.
    kept = conforms(patch(api, sid, {"phone": "+33 6 12 34 56 78"}), "Subscriber")
    assert kept["sms_status"] == "subscribed" and kept["sms_consent"] == body["sms_consent"]
    other = conforms(patch(api, sid, {"phone": "+14155550123"}), "Subscriber")
    assert (other["phone"], other["sms_status"], other["sms_consent"]) == ("+14155550123", "none", None)

    for empty in ("", None):
        conforms(patch(api, sid, {"phone": "+14155550123", "sms_status": "subscribed"}), "Subscriber")
        cleared = conforms(patch(api, sid, {"phone": empty}), "Subscriber")
        assert (cleared["phone"], cleared["sms_status"], cleared["sms_consent"]) == (None, "none", None)


def test_an_opt_out_through_the_api_stops_the_number_and_subscribing_it_again_is_refused(
    workspace, api, conforms, make_workspace
):
    first = api.post("/subscribers", {"email": "kai@example.com", "phone": "+12125550199", "sms_status": "subscribed"})
    sid = first.get_json()["id"]
    assert conforms(patch(api, sid, {"sms_status": "opted_out"}), "Subscriber")["sms_status"] == "opted_out"
    assert opt_outs(workspace.id) == {"+12125550199": "api"}

    refused = conforms(patch(api, sid, {"sms_status": "subscribed"}), "Error", 409)
    assert refused["error"]["code"] == "invalid_state" and "sms_status" in refused["error"]["fields"]
    assert "STOP" in refused["error"]["message"] and reload(sid).sms_status == "opted_out"

    # Whoever is given the number later starts opted out, and cannot be subscribed by the API either.
    household = conforms(api.post("/subscribers", {"email": "mia@example.com", "phone": "(212) 555-0199"}),
                         "Subscriber", 201)  # fmt: skip
    assert household["sms_status"] == "opted_out"
    body = {"email": "noa@example.com", "phone": "+12125550199", "sms_status": "subscribed"}
    assert conforms(api.post("/subscribers", body), "Error", 409)["error"]["code"] == "invalid_state"
    assert api.get("/subscribers?email=noa@example.com").get_json()["items"] == []  # nothing half made

    # Another workspace's STOP is not this one's.
    other = make_workspace("Other")
    consent.opt_out_number(other.id, "+447911123456", "keyword")
    db.session.commit()
    fine = api.post("/subscribers", {"email": "ola@example.com", "phone": "+447911123456", "sms_status": "subscribed"})
    assert fine.status_code == 201 and fine.get_json()["sms_status"] == "subscribed"


# Export and erasure --------------------------------------------------------------------------------


def _texts_world(workspace_id: int) -> tuple[int, int]:
    """Two people with numbers; a campaign texted both, and the first replied."""
    zoe = contacts.add_subscriber(workspace_id, "zoe@example.com", "Zoë Müller")
    bob = contacts.add_subscriber(workspace_id, "bob@example.com", "Bob")
    consent.set_phone(zoe, "+14155550123")
    consent.set_status(zoe, "subscribed", "dashboard")
    consent.set_phone(bob, "+12125550199")
    campaign = SmsCampaign(workspace_id=workspace_id, name="Spring sale", body="Hi {{ subscriber.name }}")
    db.session.add(campaign)
    db.session.flush()
    sent = datetime(2024, 4, 2, 10, 0, tzinfo=timezone.utc)
    for sub, status in ((zoe, "undelivered"), (bob, "delivered")):
        db.session.add(SmsRecipient(campaign_id=campaign.id, workspace_id=workspace_id, subscriber_id=sub.id,
                                    phone=sub.phone, status=status, body=f"Hi {sub.name}, 20% off today",
                                    sent_at=sent, segments=1, error_code=30005 if sub is zoe else None,
                                    error_message=f"Unknown destination {sub.phone}" if sub is zoe else None))  # fmt: skip
    db.session.add(SmsInbound(workspace_id=workspace_id, message_sid="SM1", from_phone=zoe.phone,
                              to_phone="+14155550100", body="Thanks Zoë here", subscriber_id=zoe.id))  # fmt: skip
    db.session.add(SmsInbound(workspace_id=workspace_id, message_sid="SM2", from_phone=bob.phone,
                              to_phone="+14155550100", body="STOP", keyword="stop", subscriber_id=bob.id))  # fmt: skip
    db.session.commit()
    return zoe.id, bob.id


def test_the_export_holds_the_number_consent_and_texts_and_erasure_takes_them_out(workspace, api, conforms):
    zoe, bob = _texts_world(workspace.id)
    doc = conforms(api.get(f"/subscribers/{zoe}/export"), "SubscriberExport")
    profile = doc["profile"]
    assert (profile["phone"], profile["sms_status"], profile["sms_consent"]["method"]) == (
        "+14155550123", "subscribed", "dashboard"
    )  # fmt: skip
    [text] = doc["texts"]
    assert (text["campaign"], text["phone"], text["body"], text["status"]) == (
        "Spring sale", "+14155550123", "Hi Zoë Müller, 20% off today", "undelivered"
    )  # fmt: skip
    assert text["sent_at"].startswith("2024-04-02T10:00")
    assert [(m["from"], m["body"]) for m in doc["texts_received"]] == [("+14155550123", "Thanks Zoë here")]

    erased = conforms(api.post(f"/subscribers/{zoe}/erase"), "Subscriber")
    assert (erased["phone"], erased["sms_status"], erased["sms_consent"]) == (None, "none", None)
    db.session.expire_all()
    mine = db.session.scalar(select(SmsRecipient).where(SmsRecipient.subscriber_id == zoe))
    assert (mine.phone, mine.body, mine.status, mine.error_code) == ("", None, "undelivered", 30005)
    assert "4155550123" not in (mine.error_message or "")
    assert db.session.scalars(select(SmsInbound.subscriber_id)).all() == [bob]
    again = conforms(api.get(f"/subscribers/{zoe}/export"), "SubscriberExport")
    assert again["texts_received"] == [] and again["texts"][0]["body"] is None
    assert "4155550123" not in str(again) and "Zoë" not in str(again)

    # Bob's texts are his own, untouched.
    theirs = db.session.scalar(select(SmsRecipient).where(SmsRecipient.subscriber_id == bob))
    assert (theirs.phone, theirs.body) == ("+12125550199", "Hi Bob, 20% off today")
    assert reload(bob).phone == "+12125550199"


def test_an_erased_person_whose_number_said_stop_leaves_the_number_stopped(workspace, api):
    sid = api.post("/subscribers", {"email": "kai@example.com", "phone": "+12125550199"}).get_json()["id"]
    patch(api, sid, {"sms_status": "opted_out"})
    api.post(f"/subscribers/{sid}/erase")
    assert reload(sid).phone is None and opt_outs(workspace.id) == {"+12125550199": "api"}
    assert patch(api, sid, {"phone": "+14155550123"}).status_code == 409  # erased people stay as they are


# Segments ------------------------------------------------------------------------------------------


def _count(api, *conditions) -> int:
    answer = api.post("/segments/count", {"rules": {"all": list(conditions)}})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["count"]


def test_a_segment_on_consent_to_texts_counts_the_right_people(workspace, api):
    people = [
        ("ana@example.com", "+14155550123", "subscribed"),
        ("zoe@example.com", "+447911123456", "subscribed"),
        ("jose@example.com", "+33612345678", "subscribed"),
        ("kai@example.com", "+12125550199", "opted_out"),
        ("lea@example.com", "+14155550124", None),
        ("bo@example.com", None, None),
    ]
    for email, phone, status in people:
        body = {"email": email, "phone": phone} | ({"sms_status": status} if status else {})
        assert api.post("/subscribers", body).status_code == 201, email

    subscribed = {"field": "sms_status", "op": "eq", "value": "subscribed"}
    assert _count(api, subscribed) == 3
    assert _count(api, {"field": "sms_status", "op": "ne", "value": "subscribed"}) == 3
    assert _count(api, {"field": "sms_status", "op": "in", "value": ["opted_out", "none"]}) == 3
    assert _count(api, {"field": "sms_status", "op": "eq", "value": "none"}) == 2
    assert _count(api, {"field": "phone", "op": "is_set"}) == 5
    assert _count(api, {"field": "phone", "op": "not_set"}) == 1
    assert _count(api, subscribed, {"field": "phone", "op": "starts_with", "value": "+44"}) == 1
    assert _count(api, {"not": subscribed}) == 3

    wrong = api.post("/segments/count", {"rules": {"all": [{"field": "sms_status", "op": "eq", "value": "yes"}]}})
    assert wrong.status_code == 422 and "rules.all.0.value" in wrong.get_json()["error"]["fields"]
    wrong = api.post("/segments/count", {"rules": {"all": [{"field": "phone", "op": "eq", "value": "+1"}]}})
    assert wrong.status_code == 422 and "rules.all.0.op" in wrong.get_json()["error"]["fields"]


def test_the_builder_offers_consent_to_texts_and_says_it_in_words(workspace, client):
    page = client.get("/segments/new").get_data(as_text=True)
    assert 'value="sms_status"' in page and 'value="phone"' in page
    rules = {"all": [{"field": "sms_status", "op": "eq", "value": "subscribed"}, {"field": "phone", "op": "is_set"}]}
    assert rules_words(rules) == "Consent to texts is “subscribed” and Phone is set"


# The dashboard ------------------------------------------------------------------------------------


def test_the_subscriber_page_sets_a_number_and_consent_and_shows_a_bad_number_on_its_field(workspace, client):
    sub = contacts.add_subscriber(workspace.id, "zoe@example.com", "Zoë Müller-Lüdenscheidt")
    db.session.commit()
    url = f"/subscribers/{sub.id}"
    page = client.get(url).get_data(as_text=True)
    assert "No number" in page and 'id="sms-form"' in page and "Not asked" in page
    token = csrf(page)

    saved = client.post(f"{url}/sms", data={"csrf_token": token, "phone": "(415) 555-0123"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#sms")
    page = client.get(url).get_data(as_text=True)
    assert "+1 415-555-0123" in page and "Not asked" in page
    assert reload(sub.id).phone == "+14155550123"

    agreed = client.post(f"{url}/sms", data={"csrf_token": token, "phone": "+1 415-555-0123",
                                             "sms_status": "subscribed"})  # fmt: skip
    assert agreed.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Agreed to texts" in page and "through a team member" in page
    assert reload(sub.id).sms_consent["method"] == "dashboard"

    bad = client.post(f"{url}/sms", data={"csrf_token": token, "phone": "415-555-01", "sms_status": "subscribed"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'is-invalid" id="f-phone"' in page
    assert "is not a valid phone number" in page and 'value="415-555-01"' in page
    assert reload(sub.id).phone == "+14155550123"

    stopped = client.post(f"{url}/sms", data={"csrf_token": token, "phone": "+1 415-555-0123",
                                              "sms_status": "opted_out"})  # fmt: skip
    assert stopped.status_code == 302 and opt_outs(workspace.id) == {"+14155550123": "dashboard"}
    refused = client.post(f"{url}/sms", data={"csrf_token": token, "phone": "+1 415-555-0123",
                                              "sms_status": "subscribed"})  # fmt: skip
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="sms-status-error"' in page and "replied STOP" in page
    assert reload(sub.id).sms_status == "opted_out"

    assert client.post(f"{url}/sms", data={"phone": "+447911123456"}).status_code == 400  # no CSRF token
    cleared = client.post(f"{url}/sms", data={"csrf_token": token, "phone": ""})
    assert cleared.status_code == 302 and (reload(sub.id).phone, reload(sub.id).sms_status) == (None, "none")


def test_the_add_form_takes_an_optional_number_and_the_index_shows_it(workspace, client):
    page = client.get("/subscribers/new").get_data(as_text=True)
    token = csrf(page)
    assert 'name="phone"' in page
    refused = client.post("/subscribers/new", data={"csrf_token": token, "email": "siobhan@example.ie",
                                                    "name": "Siobhán", "phone": "not a number"})  # fmt: skip
    assert refused.status_code == 422 and 'is-invalid" id="f-phone"' in refused.get_data(as_text=True)
    assert db.session.scalar(select(Subscriber).where(Subscriber.email == "siobhan@example.ie")) is None

    added = client.post("/subscribers/new", data={"csrf_token": token, "email": "siobhan@example.ie",
                                                  "name": "Siobhán Ó Briain", "phone": "+44 7911 123456",
                                                  "sms_status": "subscribed"})  # fmt: skip
    assert added.status_code == 302
    sub = db.session.scalar(select(Subscriber).where(Subscriber.email == "siobhan@example.ie"))
    assert (sub.phone, sub.sms_status, sub.sms_consent["method"]) == ("+447911123456", "subscribed", "dashboard")
    assert client.post("/subscribers/new", data={"csrf_token": token, "email": "plain@example.com"}).status_code == 302

    index = client.get("/subscribers/").get_data(as_text=True)
    assert "<th>Phone</th>" in index and "+44 7911 123456" in index and 'title="Agreed to texts"' in index
