"""Odd input that once answered 500: non-ASCII and garbage tokens on every public recipient route
(hmac.compare_digest raises TypeError on non-ASCII text), a huge or unreadable ?page= on the
dashboard's lists (an SQL offset out of range), and digits such as '²' that str.isdigit()
accepts but int() refuses. Nothing a visitor types may answer 500, and the pixel always answers
its GIF."""

import io
import re
from urllib.parse import quote

import pytest

from app.blueprints.public.pixel import PIXEL
from app.extensions import db
from app.services.audience import contacts
from app.services.campaigns import drafts, lifecycle
from app.services.delivery import providers
from app.services.ids import parse_int
from app.services.pagination import MAX_PAGE, page_from
from app.services.tokens import make_token, read_token
from tests.factories import smtp_campaign

ODD_TOKENS = [
    "é",
    "müller.ÄÖÜ",
    "²",
    "1.²²²²²²²²²²²²²²²²",
    "１.ＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡＡ",  # fullwidth
    "١.٢٣",  # Arabic-Indic digits: int() reads them, the signature is not ours
    "\u200b",
    "\ufffd\ufffd",
    "x" * 500,
    ".",
    "..",
    "1.",
    "-1.AAAAAAAAAAAAAAAA",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.AAAAAAAAAAAAAAAA",
    "1.AAAAAAAAAAAAAAAA.é",
    "%00",
    "<script>",
]
ODD_NUMBERS = ["1" + "0" * 30, "-1", "0", "abc", "²", "١٢", "1e3", " ", "", "9" * 5000, "12.5", "0x10", "+3"]

PAGES = [
    "/campaigns/",
    "/campaigns/{campaign}",
    "/lists/{list}",
    "/subscribers/",
    "/suppressions/",
    "/messages/",
    "/outbox/",
    "/images/",
    "/settings/webhooks/{endpoint}/log",
]


def _sent_campaign(workspace, sink, worker):
    """A campaign sent to one person: the links of the message they received."""
    rows = [{"email": "ann@example.com", "name": "Ann"}]
    camp = smtp_campaign(workspace, sink, rows, {"name": "News", "subject": "News"}, {"name": "Relay"})
    [lst] = drafts.campaign_lists(camp.id)
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    html = sink.messages[0]["message"].get_body(("html",)).get_content()
    links = {m.group(1): m.group(0) for m in re.finditer(r"http://herald\.test/(u|v|t/c|t/o)/[^\"']+", html)}
    return lst, camp, {k: v.removeprefix("http://herald.test") for k, v in links.items()}


def _public_requests(token: str) -> list[tuple[str, str, dict]]:
    t = quote(token, safe="")
    return [
        ("GET", f"/t/c/{t}", {}),
        ("GET", f"/t/m/c/{t}", {}),
        ("GET", f"/u/{t}", {}),
        ("POST", f"/u/{t}", {}),
        ("POST", f"/u/{t}", {"List-Unsubscribe": "One-Click"}),  # RFC 8058, as a mailbox provider posts
        ("GET", f"/u/{t}/resubscribe", {}),
        ("POST", f"/u/{t}/resubscribe", {}),
        ("GET", f"/preferences/{t}", {}),
        ("POST", f"/preferences/{t}", {"list_ids": ["1"], "subscribed": "yes"}),
        ("POST", f"/preferences/{t}/unsubscribe", {}),
        ("GET", f"/v/{t}", {}),
        ("GET", f"/media/{t}", {}),
    ]


def _assert_gif(resp, what):
    assert resp.status_code == 200, what
    assert resp.mimetype == "image/gif", what
    assert resp.data == PIXEL, what


@pytest.mark.parametrize("token", ODD_TOKENS, ids=range(len(ODD_TOKENS)))
def test_odd_tokens_on_every_public_recipient_route_answer_not_found_never_500(app, token):
    web = app.test_client()
    for method, path, form in _public_requests(token):
        resp = web.open(path, method=method, data=form)
        assert resp.status_code in (404, 405), (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
        assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("token", ODD_TOKENS, ids=range(len(ODD_TOKENS)))
def test_the_open_pixels_always_answer_their_gif_whatever_the_token(app, token):
    web = app.test_client()
    t = quote(token, safe="")
    _assert_gif(web.get(f"/t/o/{t}.gif"), token)
    _assert_gif(web.get(f"/t/m/o/{t}.gif"), token)
    head = web.head(f"/t/o/{t}.gif")
    assert head.status_code == 200 and head.mimetype == "image/gif"


def test_a_real_link_spoiled_by_one_odd_character_is_not_found_and_the_real_one_still_works(
    app, workspace, smtp_sink, worker
):
    _, _, links = _sent_campaign(workspace, smtp_sink, worker)
    web = app.test_client()
    for kind in ("u", "v", "t/c"):
        real = links[kind]
        assert web.get(real).status_code in (200, 302), real
        for spoiled in (real + "é", real[:-1] + "é", real[:-1] + "²", real + quote("\u200b")):
            resp = web.get(spoiled)
            assert resp.status_code == 404, (spoiled, resp.status_code)
    _assert_gif(web.get(links["t/o"][:-5] + "ü.gif"), "spoiled pixel")
    _assert_gif(web.get(links["t/o"]), "real pixel")


def test_odd_list_ids_on_the_public_preferences_page_are_ignored_not_a_500(app, workspace, smtp_sink, worker):
    lst, _, links = _sent_campaign(workspace, smtp_sink, worker)
    web = app.test_client()
    page = web.get(links["u"]).get_data(as_text=True)
    prefs = re.search(r'href="(/preferences/[^"]+)"', page).group(1)
    resp = web.post(prefs, data={"list_ids": [*ODD_NUMBERS, str(lst.id)]})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert "Your preferences are saved" in resp.get_data(as_text=True)
    assert contacts.subscriber_list_ids(db.session.scalar(db.select(contacts.Subscriber.id))) == [lst.id]


def test_odd_page_numbers_on_every_dashboard_list_show_a_page_never_a_500(client, workspace, smtp_sink, worker):
    from app.services import outbound_webhooks

    lst, camp, _ = _sent_campaign(workspace, smtp_sink, worker)
    endpoint, _ = outbound_webhooks.create_endpoint(workspace.id, "https://hooks.example.com/herald")
    db.session.commit()
    ids = {"campaign": camp.id, "list": lst.id, "endpoint": endpoint.id}
    for page in PAGES:
        path = page.format(**ids)
        for value in ODD_NUMBERS:
            resp = client.get(path, query_string={"page": value})
            assert resp.status_code == 200, (path, value[:40], resp.status_code)
            assert "Traceback" not in resp.get_data(as_text=True)


def test_a_page_number_is_read_from_ascii_digits_and_clamped():
    assert page_from("3") == 3
    assert page_from("1" + "0" * 30) == MAX_PAGE
    assert page_from("9" * 5000) == 1  # too long to be a number anyone typed: the first page
    for value in ("-1", "0", "abc", "²", "١٢", "", None, "1e3"):
        assert page_from(value) == 1, value


def test_digits_str_isdigit_accepts_but_int_refuses_are_not_numbers():
    assert "²".isdigit()  # the trap: True, yet int("²") raises ValueError
    assert parse_int("²") is None and parse_int("١٢") is None and parse_int("1²") is None
    assert parse_int(" 42 ") == 42 and parse_int("-7") == -7 and parse_int(7) == 7
    assert parse_int("1" * 19) is None and parse_int(True) is None and parse_int(None) is None


def test_a_token_with_non_ascii_text_is_not_a_token(app):
    with app.app_context():
        good = make_token("view", 12)
        assert read_token("view", good, 1) == (12,)
        for odd in (good + "é", good[:-1] + "é", "é" + good, "é", "\ud800", 12, None):
            assert read_token("view", odd, 1) is None, odd


@pytest.mark.parametrize("value", ["²", "١", "9" * 5000, "-²"])
def test_odd_digits_in_campaign_form_fields_are_refused_with_a_sentence_not_a_500(client, value):
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    form = {
        "csrf_token": token,
        "name": "Odd",
        "window_enabled": "on",
        "window_days": [value, "1"],
        "window_start": "09:00",
        "window_end": "17:00",
        "ab_enabled": "on",
        "ab_test_percent": value,
        "ab_wait_minutes": value,
        f"variants-{value}-subject": "A",
        "variants-0-subject": "B",
        "repeat": "on",
        "recurrence_frequency": "monthly",
        "recurrence_days": [value],
        "recurrence_day_of_month": value,
    }
    resp = client.post("/campaigns/new", data=form)
    assert resp.status_code == 422, resp.status_code
    assert "Give a day of the month from 1 to 31" in resp.get_data(as_text=True)
    variants = client.post("/campaigns/ab-variants", data={**form, "ab_action": f"remove-{value}"})
    assert variants.status_code == 200


def test_odd_digits_in_api_values_are_refused_with_a_sentence_not_a_500(api):
    resp = api.post(
        "/subscribers/import",
        data={"list_ids": "²,3", "file": (io.BytesIO(b"email\nann@example.com\n"), "people.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)[:300]
    assert "list ids" in resp.get_data(as_text=True)


ODD_SIGNATURE_TEXT = ["\ud800", "é", "²", "\x00", "ÿ" * 300]


def test_odd_text_in_provider_webhook_signatures_is_refused_never_a_500(app, workspace):
    """The webhook URLs are public too: what a caller puts where a signature goes is refused with 403."""
    import base64
    import json

    from tests.webhook_support import MAILGUN_KEY, SENDGRID_KEY, public_key_b64

    sg = providers.create_provider(
        workspace.id, "SendGrid", "sendgrid", {"webhook_public_key": public_key_b64(SENDGRID_KEY)}, {"api_key": "SG.x"}
    )
    mg = providers.create_provider(
        workspace.id,
        "Mailgun",
        "mailgun",
        {"domain": "mg.example.com"},
        {"api_key": "k", "webhook_signing_key": MAILGUN_KEY},
    )
    pm = providers.create_provider(
        workspace.id,
        "Postmark",
        "postmark",
        {"message_stream": "broadcast"},
        {"server_token": "t", "webhook_username": "user", "webhook_password": "secret"},
    )
    db.session.commit()
    web = app.test_client()
    for odd in ODD_SIGNATURE_TEXT:
        body = json.dumps({"signature": {"timestamp": "1700000000", "token": odd, "signature": odd}}).encode()
        answers = [
            web.post(f"/webhooks/mailgun/{mg.id}", data=body, content_type="application/json"),
            web.post(
                f"/webhooks/sendgrid/{sg.id}",
                data=b"[]",
                content_type="application/json",
                headers={
                    "X-Twilio-Email-Event-Webhook-Signature": odd.encode("utf-8", "surrogatepass").decode("latin-1"),
                    "X-Twilio-Email-Event-Webhook-Timestamp": "1700000000",
                },
            ),
            web.post(
                f"/webhooks/postmark/{pm.id}",
                data=b"{}",
                content_type="application/json",
                headers={"Authorization": "Basic " + base64.b64encode(odd.encode("utf-8", "surrogatepass")).decode()},
            ),
        ]
        for resp in answers:
            assert resp.status_code in (400, 401, 403), (odd[:5], resp.status_code, resp.get_data(as_text=True)[:300])


def test_a_receivers_signature_check_says_no_to_non_ascii_rather_than_raising():
    import time

    from app.services.outbound_webhooks import sign, verify_signature

    now = int(time.time())
    assert verify_signature("secret", sign("secret", now, b"{}"), b"{}")
    for odd in ("é", "\ud800", "²" * 64):
        assert verify_signature("secret", f"t={now},v1={odd}", b"{}") is False
