"""A Twilio (SMS) provider: added through the API and the dashboard, tested against the local Twilio REST
API, handing texts off through the service's transport, and never carrying a workspace's email."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Provider
from app.providers import TransportUnavailable
from app.providers.twilio import TwilioClient
from app.services.campaigns import test_sends
from app.services.delivery import domains, ips, pools, providers, routing
from app.services.errors import ValidationError
from tests.factories import create_campaign, create_list, create_provider, create_smtp_provider, create_template
from tests.twilio_support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID

NUMBERS = ["+15557650001", "+15557650002"]


def twilio_body(server, **changes) -> dict:
    body = {"name": "Twilio", "provider_type": "twilio", "settings": server.settings(NUMBERS),
            "credentials": server.credentials()}  # fmt: skip
    return {**body, **changes}


def add_twilio(workspace, server, **options) -> Provider:
    p = create_provider(workspace.id, "twilio", server.settings(NUMBERS), server.credentials(), **options)
    db.session.commit()
    return p


# The API -----------------------------------------------------------------------------------------


def test_a_twilio_provider_is_created_through_the_api_and_its_token_never_comes_back(api, conforms, twilio_server):
    body = twilio_body(twilio_server)
    body["settings"] = {**body["settings"], "from_numbers": "+1 555 765 0001\n+15557650002", "rate_per_second": 2,
                        "price_per_segment": "0.0079", "sender_type": "toll_free"}  # fmt: skip
    created = conforms(api.post("/providers", json=body), "Provider", 201)
    assert created["provider_type"] == "twilio" and created["webhook_url"] is None and created["is_default"] is False
    assert created["settings"] == {"api_base_url": twilio_server.base_url, "from_numbers": NUMBERS,
                                   "sender_type": "toll_free", "rate_per_second": 2,
                                   "price_per_segment": "0.0079"}  # fmt: skip
    assert created["credentials"]["account_sid"] == ACCOUNT_SID and created["credentials"]["auth_token_set"] is True
    shown = api.get(f"/providers/{created['id']}").get_data(as_text=True)
    assert twilio_server.auth_token not in shown

    service = twilio_body(twilio_server, settings={"messaging_service_sid": SERVICE_SID})
    assert conforms(api.post("/providers", json=service), "Provider", 201)["settings"]["messaging_service_sid"]


@pytest.mark.parametrize(
    "settings, credentials, fields",
    [
        ({"from_numbers": NUMBERS}, {"account_sid": "AC123", "auth_token": "t"}, {"credentials.account_sid"}),
        ({"from_numbers": NUMBERS}, {"account_sid": ACCOUNT_SID}, {"credentials.auth_token"}),
        ({}, {"account_sid": ACCOUNT_SID, "auth_token": "t"},
         {"settings.messaging_service_sid", "settings.from_numbers"}),
        ({"from_numbers": NUMBERS, "messaging_service_sid": SERVICE_SID}, {"account_sid": ACCOUNT_SID, "auth_token": "t"},
         {"settings.messaging_service_sid", "settings.from_numbers"}),
        ({"from_numbers": ["+15557650001", "555-0102"]}, {"account_sid": ACCOUNT_SID, "auth_token": "t"},
         {"settings.from_numbers"}),
        ({"messaging_service_sid": "MG-nope"}, {"account_sid": ACCOUNT_SID, "auth_token": "t"},
         {"settings.messaging_service_sid"}),
        ({"from_numbers": NUMBERS, "rate_per_second": 5000, "sender_type": "pager"},
         {"account_sid": ACCOUNT_SID, "auth_token": "t"}, {"settings.rate_per_second", "settings.sender_type"}),
    ],
)  # fmt: skip
def test_bad_settings_answer_422_naming_the_fields(api, settings, credentials, fields):
    body = {"name": "Twilio", "provider_type": "twilio", "settings": settings, "credentials": credentials}
    resp = api.post("/providers", json=body)
    assert resp.status_code == 422, resp.get_data(as_text=True)[:500]
    assert fields <= set(resp.json["error"]["fields"]), resp.json
    assert api.get("/providers").json["total"] == 1  # the development outbox only


def test_the_test_passes_against_twilio_and_fails_on_wrong_credentials_with_the_reason(api, twilio_server):
    good = api.post("/providers", json=twilio_body(twilio_server)).json
    result = api.post(f"/providers/{good['id']}/test").json
    assert result["ok"] is True and result["provider"]["last_check_status"] == "ok"

    wrong = twilio_body(twilio_server, name="Wrong token", credentials={"account_sid": ACCOUNT_SID, "auth_token": "x"})
    bad = api.post("/providers", json=wrong).json
    result = api.post(f"/providers/{bad['id']}/test").json
    assert result["ok"] is False and "Twilio refused the credentials" in result["error"]
    assert "20003" in result["error"]  # the local server's answers are shown, as Twilio's own would be


def test_being_the_default_is_refused_and_nothing_is_created(api, twilio_server):
    resp = api.post("/providers", json=twilio_body(twilio_server, is_default=True))
    assert resp.status_code == 422 and resp.json["error"]["message"] == "A Twilio provider sends texts, not email."
    assert api.get("/providers").json["total"] == 1


# The service's transport -----------------------------------------------------------------------------


def test_the_service_builds_a_client_that_hands_texts_off(workspace, twilio_server):
    p = add_twilio(workspace, twilio_server)
    client, headers = providers.transport_for(p)
    assert isinstance(client, TwilioClient) and headers == {}
    try:
        ok = client.send_sms("+15550001111", "Your code is 1234", NUMBERS[0], "http://herald.test/cb")
        twilio_server.fail("+15550000009", code=21610)
        opted_out = client.send_sms("+15550000009", "Hi", NUMBERS[0], None)
        twilio_server.throttle(1)
        with pytest.raises(TransportUnavailable, match="throttled"):
            client.send_sms("+15550001111", "Hi again", NUMBERS[0], None)
    finally:
        client.close()
    assert ok.ok and twilio_server.message(ok.sid)["body"] == "Your code is 1234"
    assert (opted_out.failure, opted_out.error_code) == ("permanent", 21610)
    assert len(twilio_server.messages) == 1
    assert providers.sms_providers(workspace.id) == [p]


# Email never goes through it -------------------------------------------------------------------------


def test_email_never_routes_through_twilio_even_as_the_only_or_first_provider(workspace, twilio_server, smtp_sink):
    outbox = providers.default_provider(workspace.id)
    texts = add_twilio(workspace, twilio_server, priority=0)
    db.session.delete(outbox)
    db.session.commit()
    assert providers.default_provider(workspace.id) is None and providers.email_providers(workspace.id) == []
    assert [p.id for p in providers.list_providers(workspace.id)] == [texts.id]  # the Providers page lists it
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    campaign = create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.commit()
    assert routing.providers_for(campaign) == []
    with pytest.raises(TransportUnavailable, match="No sending provider"):
        routing.Router.for_campaign(campaign)

    relay = create_smtp_provider(workspace.id, smtp_sink.port, is_default=False, priority=500)
    db.session.commit()
    assert providers.default_provider(workspace.id) == relay
    cfg = {"strategy": "priority", "providers": [], "fallback": True}
    assert routing.providers_for(campaign, cfg) == [relay]
    assert domains.spf_terms(workspace.id) == []


def test_naming_twilio_for_email_is_refused_everywhere(workspace, twilio_server):
    texts = add_twilio(workspace, twilio_server)
    lst, tpl = create_list(workspace.id), create_template(workspace.id)
    sent_as = "“Twilio” sends texts, not email"
    with pytest.raises(ValidationError, match=sent_as):
        routing.clean_routing(workspace.id, {"strategy": "priority", "providers": [texts.id]})
    with pytest.raises(ValidationError, match="A Twilio provider sends texts, not email."):
        create_campaign(workspace.id, tpl.id, [lst.id], provider_id=texts.id)
    with pytest.raises(ValidationError, match="sends texts, not email"):
        test_sends.send_test(workspace.id, tpl.id, "me@example.com", "news@shop.example.com", provider_id=texts.id)
    with pytest.raises(ValidationError, match=sent_as) as caught:
        pools.create_pool(workspace.id, {"name": "Lane", "provider_ids": [texts.id]})
    assert caught.value.fields == {"provider_ids": caught.value.message}
    with pytest.raises(ValidationError, match="sends texts, not email"):
        ips.add_ip(workspace.id, "5.45.67.90", "mail.shop.example.com", texts.id, "pool")
    assert texts.id not in [c.id for c in ips.provider_choices(workspace.id)]
    with pytest.raises(ValidationError, match="A Twilio provider sends texts, not email."):
        providers.make_default(workspace.id, texts.id)
    db.session.rollback()
    assert db.session.get(Provider, texts.id).is_default is False


def test_the_email_event_webhook_url_is_not_twilios(app, workspace, twilio_server):
    texts = add_twilio(workspace, twilio_server)
    assert app.test_client().post(f"/webhooks/twilio/{texts.id}", data={"MessageSid": "SM1"}).status_code == 404


# The dashboard ---------------------------------------------------------------------------------------


def csrf(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/providers/").get_data(as_text=True)).group(1)


def test_the_form_renders_and_adds_a_twilio_provider(client, workspace, twilio_server):
    assert 'href="/providers/new?type=twilio"' in client.get("/providers/new").get_data(as_text=True)
    page = client.get("/providers/new?type=twilio")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for name in ("account_sid", "auth_token", "messaging_service_sid", "from_numbers", "sender_type",
                 "rate_per_second", "price_per_segment", "api_base_url"):  # fmt: skip
        assert f'name="{name}"' in html, name
    assert '<option value="long_code" selected>Long code (1 message/s)</option>' in html
    assert 'name="is_default"' not in html and 'name="sandbox_mode"' not in html

    form = {"csrf_token": csrf(client), "name": "Texts", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
            "messaging_service_sid": "", "from_numbers": "+15557650001, +15557650002", "sender_type": "short_code",
            "rate_per_second": "", "price_per_segment": "0.0083", "api_base_url": twilio_server.base_url}  # fmt: skip
    bad = client.post("/providers/new?type=twilio", data={**form, "messaging_service_sid": SERVICE_SID})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and html.count("not both") >= 2 and AUTH_TOKEN not in html

    resp = client.post("/providers/new?type=twilio", data=form)
    assert resp.status_code == 302
    p = db.session.scalar(select(Provider).where(Provider.provider_type == "twilio"))
    assert p.settings == {"api_base_url": twilio_server.base_url, "from_numbers": NUMBERS,
                          "sender_type": "short_code", "price_per_segment": "0.0083"}  # fmt: skip
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "+15557650001\n+15557650002</textarea>" in page and AUTH_TOKEN not in page
    assert f"/providers/{p.id}/default" not in page
    assert f"/providers/{p.id}/default" not in client.get("/providers/").get_data(as_text=True)

    tested = client.post(f"/providers/{p.id}/test", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "answered and accepted the credentials" in tested.get_data(as_text=True)
    refused = client.post(f"/providers/{p.id}/default", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "A Twilio provider sends texts, not email." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Provider, p.id).is_default is False
