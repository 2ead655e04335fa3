"""Referrals: a person's link opens a landing page that counts visits and signs a new friend up; the friend's
first qualifying order completes the referral and rewards both sides exactly once, however often or however
concurrently orders arrive; expired referrals are closed by a daily job. Machines, hostile text and people
who were already known get nowhere."""

import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import LoyaltyAccount, Message, Order, Referral, ReferralCode, Subscriber
from app.services.audience import contacts
from app.services.events import attribution
from app.services.growth import loyalty, referral_landing, referral_pages, referrals
from tests.factories import create_list, create_referral_program, create_smtp_provider

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def program(workspace):
    program = create_referral_program(workspace.id)
    db.session.commit()
    return program


@pytest.fixture
def ann(workspace):
    """The referrer."""
    sub = contacts.add_subscriber(workspace.id, "ann@example.com", "Ann")
    db.session.commit()
    return sub


@pytest.fixture
def link(program, ann):
    found = referrals.code_for(program.workspace_id, program.id, ann.id)
    db.session.commit()
    return found


@pytest.fixture
def visitor(app):
    """A friend's browser: no session, no cookies from the dashboard."""
    return app.test_client()


def open_page(visitor, code: str, ua: str = BROWSER):
    return visitor.get(f"/r/{code}", headers={"User-Agent": ua})


def sign_up(visitor, code: str, ip: str = "198.51.100.7", **fields):
    page = open_page(visitor, code).get_data(as_text=True)
    data = {"csrf_token": TOKEN.search(page).group(1), **fields}
    return visitor.post(f"/r/{code}", data=data, headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": ip})


def the_referrals() -> list[Referral]:
    db.session.expire_all()
    return list(db.session.scalars(select(Referral).order_by(Referral.id)))


def visits(code: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(ReferralCode.visits).where(ReferralCode.code == code))


def record(workspace_id: int, external_id: str, email: str, amount="49.90", currency="EUR", placed_at=None):
    """An order as POST /orders records it, then what the growth hook does with it."""
    data = {"external_id": external_id, "email": email, "amount": amount, "currency": currency}
    if placed_at:
        data["placed_at"] = placed_at.isoformat()
    order, _ = attribution.record_order(workspace_id, data)
    rewarded = referrals.on_order(order)
    db.session.commit()
    return order, rewarded


# Codes ------------------------------------------------------------------------------------------


def test_a_person_gets_one_unguessable_code_per_program(program, ann, workspace):
    first = referrals.code_for(workspace.id, program.id, ann.id)
    again = referrals.code_for(workspace.id, program.id, ann.id)
    assert first.code == again.code and len(first.code) == 10
    assert set(first.code) <= set(referrals.CODE_ALPHABET) and not set(first.code) & set("01OIL")
    assert first.url == f"http://herald.test/r/{first.code}"
    other = create_referral_program(workspace.id, name="Second")
    assert referrals.code_for(workspace.id, other.id, ann.id).code != first.code
    codes = {referrals.new_code() for _ in range(2000)}
    assert len(codes) == 2000  # no repeats in a sample: ~49 bits each


# The landing page --------------------------------------------------------------------------------


def test_the_page_counts_visits_of_people_and_signs_a_new_friend_up_pending(visitor, link, program, workspace):
    page = open_page(visitor, link.code)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert "You are invited to Acme" in body and "5.00 EUR off" in body and "at least 20.00 EUR" in body
    assert "<script" not in body and 'name="website"' in body  # no JavaScript; the honeypot is there
    open_page(visitor, link.code.lower())  # typed by hand: case does not matter
    visitor.head(f"/r/{link.code}", headers={"User-Agent": BROWSER})
    for machine in ("WhatsApp/2.23.20", "Slackbot-LinkExpanding 1.0", "facebookexternalhit/1.1", "curl/8.5.0", ""):
        assert open_page(visitor, link.code, ua=machine).status_code == 200
    assert visits(link.code) == 2  # the two people's GETs; no HEAD, no link preview, no script

    resp = sign_up(visitor, link.code, email="  Bob@Example.com ", name="Bob")
    assert resp.status_code == 200 and "Thank you for signing up" in resp.get_data(as_text=True)
    [referral] = the_referrals()
    bob = db.session.get(Subscriber, referral.friend_id)
    assert (bob.email, bob.name, bob.status, bob.source) == ("bob@example.com", "Bob", "active", "referral")
    assert bob.consent["method"] == "referral" and bob.consent["ip"] == "198.51.100.7"
    assert bob.consent["program_id"] == program.id
    code_id = db.session.scalar(select(ReferralCode.id).where(ReferralCode.code == link.code))
    assert (referral.status, referral.referrer_id, referral.code_id) == ("pending", link.subscriber_id, code_id)
    assert abs(referral.expires_at - (referral.created_at + timedelta(days=30))) < timedelta(seconds=1)


def test_the_referrer_a_known_person_and_a_second_signup_are_not_referrals_and_get_the_same_answer(
    visitor, link, workspace
):
    contacts.add_subscriber(workspace.id, "carol@example.com")
    db.session.commit()
    answers = [sign_up(visitor, link.code, email=email) for email in ("ann@example.com", "carol@example.com")]
    answers.append(sign_up(visitor, link.code, email="dan@example.com"))
    answers.append(sign_up(visitor, link.code, email="DAN@example.com"))  # the same friend again
    assert {a.status_code for a in answers} == {200}
    assert len({re.sub(r'value="[^"]+"', "", a.get_data(as_text=True)) for a in answers}) == 1  # one answer for all
    [referral] = the_referrals()
    assert db.session.get(Subscriber, referral.friend_id).email == "dan@example.com"


def test_the_service_names_what_happened(link, workspace):
    page = referral_landing.landing(link.code)
    assert referral_landing.sign_up(page, {"email": "ann@example.com"}, None).outcome == "self"
    assert referral_landing.sign_up(page, {"email": "eve@example.com"}, None).outcome == "created"
    assert referral_landing.sign_up(page, {"email": "eve@example.com"}, None).outcome == "known"
    assert referral_landing.sign_up(page, {"email": "x@example.com", "website": "spam"}, None).outcome == "machine"
    assert referral_landing.sign_up(page, {"email": "not an address"}, None).errors == {
        "email": "That does not look like an email address."
    }


def test_unknown_and_archived_codes_answer_a_friendly_404(visitor, link, program, workspace):
    for code in ("NOSUCHCODE", "x" * 300, "%00", "ABC-DEF"):
        resp = open_page(visitor, code)
        assert resp.status_code == 404 and "This invitation link does not work" in resp.get_data(as_text=True)
    referrals.set_status(workspace.id, program.id, "archived")
    db.session.commit()
    gone = open_page(visitor, link.code)
    assert (
        gone.status_code == 404 and "has ended" in gone.get_data(as_text=True) and "Acme" in gone.get_data(as_text=True)
    )
    assert visitor.post(f"/r/{link.code}", data={"email": "f@example.com"}).status_code == 404
    assert the_referrals() == [] and visits(link.code) == 0


def test_a_paused_program_says_so_and_takes_no_signups(visitor, link, program, workspace):
    token = TOKEN.search(open_page(visitor, link.code).get_data(as_text=True)).group(1)
    referrals.set_status(workspace.id, program.id, "paused")
    db.session.commit()
    page = open_page(visitor, link.code).get_data(as_text=True)
    assert "not taking signups right now" in page and 'name="email"' not in page
    assert visitor.post(f"/r/{link.code}", data={"csrf_token": token, "email": "f@example.com"}).status_code == 409
    assert the_referrals() == []


def test_hostile_html_in_the_landing_text_is_shown_as_text(visitor, workspace, ann):
    hostile = create_referral_program(
        workspace.id,
        landing={"title": "<script>alert(1)</script>Join us", "text": 'Line one\n<img src=x onerror="alert(2)">'},
    )
    db.session.commit()
    code = referrals.code_for(workspace.id, hostile.id, ann.id).code
    db.session.commit()
    body = open_page(visitor, code).get_data(as_text=True)
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;Join us" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in body


def test_no_token_a_filled_honeypot_or_a_flood_stores_nothing(visitor, link, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_RATE_LIMIT", "3 per 10 minutes")
    no_token = visitor.post(f"/r/{link.code}", data={"email": "f@example.com"}, headers={"User-Agent": BROWSER})
    assert no_token.status_code == 400 and "try again" in no_token.get_data(as_text=True)
    bot = sign_up(visitor, link.code, email="bot@example.com", website="https://spam.example")
    assert bot.status_code == 200 and "Thank you" in bot.get_data(as_text=True)
    assert the_referrals() == []
    # The machine's post counted against its address too; the forged one did not get that far.
    assert [sign_up(visitor, link.code, email=f"f{i}@example.com").status_code for i in range(3)] == [200, 200, 429]
    assert sign_up(visitor, link.code, ip="203.0.113.9", email="g@example.com").status_code == 200
    assert len(the_referrals()) == 3


def test_a_friend_joins_the_programs_list_and_confirms_first_when_it_asks(visitor, workspace, ann):
    letters = create_list(workspace.id, "Letters")
    letters.double_opt_in = True
    confirmed = create_referral_program(workspace.id, list_id=letters.id)
    db.session.commit()
    code = referrals.code_for(workspace.id, confirmed.id, ann.id).code
    db.session.commit()
    resp = sign_up(visitor, code, email="fay@example.com")
    assert "we sent you an email" in resp.get_data(as_text=True)
    fay = db.session.scalar(select(Subscriber).where(Subscriber.email == "fay@example.com"))
    assert fay.status == "pending" and contacts.subscriber_list_ids(fay.id) == [letters.id]
    assert db.session.scalar(select(Message.subject).where(Message.to_email == "fay@example.com")).startswith(
        "Please confirm"
    )
    assert the_referrals()[0].status == "pending"


# Orders -----------------------------------------------------------------------------------------


def test_a_qualifying_first_order_completes_the_referral_and_rewards_both_sides_once(
    api, visitor, link, workspace, smtp_sink, worker
):
    create_smtp_provider(workspace.id, smtp_sink.port)
    db.session.commit()
    sign_up(visitor, link.code, email="bob@example.com", name="Bob")
    body = {"external_id": "SO-1", "email": "bob@example.com", "amount": "25.00", "currency": "EUR"}
    for _ in range(2):  # the shop sends the same order twice
        assert api.post("/orders", json=body).status_code in (200, 201)
        order = db.session.scalar(select(Order).where(Order.external_id == "SO-1"))
        referrals.on_order(order)  # what growth/orders.on_order does (again, when it is wired)
        db.session.commit()
    [referral] = the_referrals()
    assert referral.status == "rewarded" and referral.order_id == order.id
    assert referral.completed_at and referral.rewarded_at
    ref, friend = referral.rewards["referrer"], referral.rewards["friend"]
    assert (ref["type"], ref["value"], ref["description"], ref["status"]) == ("percent", 10, "10% off", "issued")
    assert (friend["description"], friend["status"]) == ("5.00 EUR off", "issued")
    assert re.fullmatch(r"REF-[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", ref["code"]) and ref["code"] != friend["code"]
    assert db.session.scalar(select(Message.id).where(Message.to_email == "ann@example.com").limit(1)) is not None

    worker()
    got = {m["rcpt_tos"][0]: m["message"] for m in smtp_sink.messages}
    assert set(got) == {"ann@example.com", "bob@example.com"}  # one email each, however often the order came
    assert got["ann@example.com"]["Subject"] == "You earned 10% off"
    ann_html = got["ann@example.com"].get_body(("html",)).get_content()
    assert ref["code"] in ann_html and "Hi Ann" in ann_html and link.url in ann_html
    bob_html = got["bob@example.com"].get_body(("html",)).get_content()
    assert friend["code"] in bob_html and "5.00 EUR off" in got["bob@example.com"]["Subject"]
    assert referrals.on_order(order) == [] and len(the_referrals()) == 1


def test_only_the_first_order_counts_and_a_small_one_does_not(visitor, link, workspace):
    sign_up(visitor, link.code, email="bob@example.com")
    _, rewarded = record(workspace.id, "SO-1", "bob@example.com", amount="19.99")
    assert rewarded == [] and the_referrals()[0].status == "pending"
    _, rewarded = record(workspace.id, "SO-2", "bob@example.com", amount="200")
    assert rewarded == [] and the_referrals()[0].status == "pending"  # not their first order any more


def test_an_order_in_another_currency_late_or_from_before_the_signup_does_not_count(visitor, link, workspace):
    now = datetime.now(timezone.utc)
    for n, (email, kwargs) in enumerate([
        ("b1@example.com", {"currency": "USD", "amount": "500"}),
        ("b2@example.com", {"placed_at": now - timedelta(hours=2)}),
    ]):  # fmt: skip
        sign_up(visitor, link.code, email=email)
        assert record(workspace.id, f"SO-{n}", email, **kwargs)[1] == []
    sign_up(visitor, link.code, email="b3@example.com")
    db.session.execute(update(Referral).where(Referral.status == "pending").values(expires_at=now - timedelta(days=1)))
    db.session.commit()
    assert record(workspace.id, "SO-9", "b3@example.com")[1] == []
    assert {r.status for r in the_referrals()} == {"pending"}


def test_two_orders_recorded_at_once_reward_once(visitor, link, workspace, service_app):
    sign_up(visitor, link.code, email="bob@example.com")
    start, results, workspace_id = threading.Barrier(2), [], workspace.id

    def shop(external_id: str):
        with service_app.app_context():
            start.wait(timeout=10)
            order, _ = attribution.record_order(
                workspace_id,
                {"external_id": external_id, "email": "bob@example.com", "amount": "30", "currency": "EUR"},
            )
            results.append(referrals.on_order(order))
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=shop, args=(f"SO-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(len(r) for r in results) == [0, 1]
    [referral] = the_referrals()
    assert referral.status == "rewarded"
    assert (
        db.session.scalar(select(db.func.count()).select_from(Message).where(Message.to_email == "ann@example.com"))
        == 1
    )


def test_points_go_to_the_loyalty_account_or_are_recorded_owed(visitor, workspace, ann):
    points = create_referral_program(
        workspace.id, referrer_reward={"type": "points", "value": 500}, friend_reward=None, min_order_amount=None
    )
    db.session.commit()
    code = referrals.code_for(workspace.id, points.id, ann.id).code
    db.session.commit()
    sign_up(visitor, code, email="bob@example.com")
    record(workspace.id, "SO-1", "bob@example.com", amount="1")
    [owed] = the_referrals()
    assert owed.status == "rewarded" and owed.rewards["referrer"]["status"] == "owed" and "friend" not in owed.rewards

    loyalty.save_program(workspace.id, {"points_per_unit": 1, "redemption_rate": 100, "currency": "EUR"})
    db.session.commit()
    sign_up(visitor, code, email="cat@example.com")
    record(workspace.id, "SO-2", "cat@example.com", amount="1")
    awarded = the_referrals()[1]
    assert awarded.rewards["referrer"]["status"] == "awarded"
    balance = db.session.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.subscriber_id == ann.id))
    assert balance == 500


# Expiry ---------------------------------------------------------------------------------------------


def test_the_daily_job_closes_expired_referrals_and_a_late_reported_order_placed_in_time_still_counts(
    visitor, link, workspace
):
    for email in ("b1@example.com", "b2@example.com", "b3@example.com"):
        sign_up(visitor, link.code, email=email)
    past = datetime.now(timezone.utc) - timedelta(days=31)
    b1, b2, _ = the_referrals()
    db.session.execute(update(Referral).where(Referral.id.in_([b1.id, b2.id])).values(
        created_at=past, expires_at=past + timedelta(days=30)))  # fmt: skip
    db.session.commit()
    assert referrals.expire_referrals() == 2
    db.session.commit()
    assert [r.status for r in the_referrals()] == ["expired", "expired", "pending"]
    assert referrals.expire_referrals() == 0  # safe to run twice

    _, rewarded = record(workspace.id, "SO-1", "b1@example.com", placed_at=past + timedelta(days=29))
    assert rewarded == [b1.id] and the_referrals()[0].status == "rewarded"
    assert record(workspace.id, "SO-2", "b2@example.com")[1] == [] and the_referrals()[1].status == "expired"


def test_the_job_is_scheduled_daily(app):
    from app.queueing import PERIODIC_BY_NAME

    assert PERIODIC_BY_NAME["expire_referrals"].interval == 86_400


# The API -------------------------------------------------------------------------------------------


def patch(api, path, body):
    return api.c.patch("/api/v1" + path, json=body, headers=api.h)


PROGRAM = {
    "name": "Give 10, get 5",
    "referrer_reward": {"type": "percent", "value": 10},
    "friend_reward": {"type": "fixed", "value": "5", "currency": "eur"},
    "min_order_amount": 20,
    "currency": "EUR",
    "expiry_days": 30,
    "landing": {"title": "Hello friend", "text": "Come in."},
}


def test_programs_are_created_listed_shown_changed_and_archived_through_the_api(api, conforms, workspace):
    created = conforms(api.post("/referral-programs", json=PROGRAM), "ReferralProgram", 201)
    assert created["status"] == "active" and created["friend_reward"] == {
        "type": "fixed",
        "value": 5,
        "currency": "EUR",
    }
    assert created["figures"] == {"visits": 0, "referrers": 0, "signups": 0, "pending": 0, "completed": 0,
                                  "rewarded": 0, "expired": 0}  # fmt: skip
    pid = created["id"]
    assert conforms(api.get("/referral-programs"), "ReferralProgramPage")["total"] == 1
    assert conforms(api.get(f"/referral-programs/{pid}"), "ReferralProgram")["landing"]["title"] == "Hello friend"
    paused = conforms(
        patch(api, f"/referral-programs/{pid}", {"status": "paused", "expiry_days": 14}), "ReferralProgram"
    )
    assert (paused["status"], paused["expiry_days"], paused["name"]) == ("paused", 14, "Give 10, get 5")
    assert api.get("/referral-programs?status=active").json["total"] == 0
    dropped = conforms(patch(api, f"/referral-programs/{pid}", {"friend_reward": None}), "ReferralProgram")
    assert dropped["friend_reward"] is None
    assert patch(api, f"/referral-programs/{pid}", {"status": "archived"}).json["status"] == "archived"
    again = patch(api, f"/referral-programs/{pid}", {"status": "active"})
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_state"


def test_bad_programs_are_refused_by_field(api, make_workspace):
    theirs = create_list(make_workspace("Other", "other@example.com").id, "Theirs")
    db.session.commit()
    cases = [
        ({"referrer_reward": {"type": "percent", "value": 0}}, "referrer_reward.value"),
        ({"referrer_reward": {"type": "percent", "value": 101}}, "referrer_reward.value"),
        ({"referrer_reward": {"type": "fixed", "value": 5}, "currency": None, "min_order_amount": None},
         "referrer_reward.currency"),
        ({"referrer_reward": {"type": "points", "value": 1.5}}, "referrer_reward.value"),
        ({"friend_reward": {"type": "cash", "value": 5}}, "friend_reward.type"),
        ({"min_order_amount": -1}, "min_order_amount"),
        ({"min_order_amount": 20, "currency": None}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"expiry_days": 0}, "expiry_days"),
        ({"expiry_days": 366}, "expiry_days"),
        ({"list_id": theirs.id}, "list_id"),
        ({"landing": {"title": "x" * 201}}, "landing.title"),
        ({"name": ""}, "name"),
        ({"surprise": 1}, "surprise"),
    ]  # fmt: skip
    for change, field in cases:
        resp = api.post("/referral-programs", json={**PROGRAM, **change})
        assert resp.status_code == 422, (change, resp.json)
        assert field in resp.json["error"]["fields"], (change, resp.json)
    assert api.get("/referral-programs").json["total"] == 0


def test_a_persons_link_and_a_programs_referrals_through_the_api(api, conforms, visitor, program, ann, workspace):
    path = f"/subscribers/{ann.id}/referral"
    first = conforms(api.get(f"{path}?program_id={program.id}"), "ReferralLink")
    assert first["url"] == f"http://herald.test/r/{first['code']}" and first["program_id"] == program.id
    assert api.get(path).json["code"] == first["code"]  # the one active program, and the same code ever after
    for email in ("b1@example.com", "b2@example.com"):
        sign_up(visitor, first["code"], email=email)
    page = conforms(api.get(f"/referral-programs/{program.id}/referrals?status=pending&per_page=1"), "ReferralPage")
    assert (page["total"], len(page["items"]), page["items"][0]["friend_email"]) == (2, 1, "b2@example.com")
    assert page["items"][0]["referrer_email"] == "ann@example.com"
    assert api.get(f"/referral-programs/{program.id}/referrals?status=rewarded").json["total"] == 0
    assert api.get(f"/referral-programs/{program.id}").json["figures"]["signups"] == 2

    create_referral_program(workspace.id, name="Second")
    db.session.commit()
    assert api.get(path).status_code == 422  # which one, now that two are active?
    referrals.set_status(workspace.id, program.id, "archived")
    db.session.commit()
    assert api.get(f"{path}?program_id={program.id}").status_code == 409


def test_another_workspaces_programs_and_people_answer_404(api, program, ann, make_workspace):
    ws = make_workspace("Other", "other@example.com")
    theirs = create_referral_program(ws.id, name="Theirs")
    them = contacts.add_subscriber(ws.id, "them@example.com")
    db.session.commit()
    for resp in (
        api.get(f"/referral-programs/{theirs.id}"),
        patch(api, f"/referral-programs/{theirs.id}", {"name": "Mine"}),
        api.get(f"/referral-programs/{theirs.id}/referrals"),
        api.get(f"/subscribers/{them.id}/referral?program_id={program.id}"),
        api.get(f"/subscribers/{ann.id}/referral?program_id={theirs.id}"),
    ):
        assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
        assert "Theirs" not in resp.get_data(as_text=True)
    assert api.get("/referral-programs").json["total"] == 1
    assert referrals.get_program(ws.id, theirs.id).name == "Theirs"


# The dashboard ------------------------------------------------------------------------------------


def csrf(client, path="/referrals/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_marketer_creates_a_program_and_reads_its_funnel(client, workspace, ann, visitor):
    index = client.get("/referrals/").get_data(as_text=True)
    assert "No referral programs yet" in index and ">Referrals<" in index and ">Growth<" in index
    resp = client.post("/referrals/new", data={
        "csrf_token": csrf(client), "name": "Spring friends", "referrer_type": "points", "referrer_value": "500",
        "friend_type": "percent", "friend_value": "15", "min_order_amount": "30", "currency": "eur",
        "expiry_days": "14", "landing_title": "Spring is better together", "landing_text": "Hi!",
    })  # fmt: skip
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    [program] = referrals.active_programs(workspace.id)
    assert (program.name, program.referrer_reward, program.currency) == (
        "Spring friends",
        {"type": "points", "value": 500},
        "EUR",
    )
    pid = program.id
    code = referrals.code_for(workspace.id, pid, ann.id).code
    db.session.commit()
    open_page(visitor, code)
    sign_up(visitor, code, email="bob@example.com")
    record(workspace.id, "SO-1", "bob@example.com", amount="31")

    page = client.get(f"/referrals/{pid}").get_data(as_text=True)
    assert "500 points" in page and "15% off" in page and "at least 30.00 EUR" in page
    funnel = re.sub(r"\s+", " ", page[page.index('id="program-funnel"') : page.index('id="top-referrers"')])
    assert re.search(r"Visits</div> <div class=\"stat-value\">2<", funnel), funnel  # the page and the sign-up's GET
    assert re.search(r"Rewarded</div> <div class=\"stat-value\">1<", funnel), funnel
    assert "ann@example.com" in page and "bob@example.com" in page and "owed" in page
    assert "Spring friends" in client.get("/referrals/").get_data(as_text=True)

    bad = client.post(f"/referrals/{pid}/edit", data={"csrf_token": csrf(client), "name": "Spring friends",
                                                      "referrer_type": "percent", "referrer_value": "0"})  # fmt: skip
    assert bad.status_code == 422 and "A percentage from 1 to 100." in bad.get_data(as_text=True)
    assert client.post(f"/referrals/{pid}/pause", data={"csrf_token": csrf(client)}).status_code == 302
    assert referrals.get_program(workspace.id, pid).status == "paused"
    client.post(f"/referrals/{pid}/archive", data={"csrf_token": csrf(client)})
    db.session.expire_all()
    assert referrals.get_program(workspace.id, pid).status == "archived"
    assert "Edit" not in client.get(f"/referrals/{pid}").get_data(as_text=True).split("program-terms")[0]


def test_the_subscriber_page_sends_the_referral_invite(client, workspace, program, ann, smtp_sink, worker):
    create_smtp_provider(workspace.id, smtp_sink.port)
    db.session.commit()
    page = client.get(f"/subscribers/{ann.id}").get_data(as_text=True)
    assert "Send the referral invite" in page and "No link yet" in page
    resp = client.post(f"/referrals/{program.id}/invite",
                       data={"csrf_token": csrf(client), "subscriber_id": ann.id})  # fmt: skip
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/subscribers/{ann.id}#referrals")
    worker()
    [mail] = smtp_sink.messages
    link = referrals.code_for(workspace.id, program.id, ann.id)
    html = mail["message"].get_body(("html",)).get_content()
    assert mail["rcpt_tos"] == ["ann@example.com"] and mail["message"]["Subject"] == "Invite a friend to Acme"
    assert link.url in html and "5.00 EUR off" in html and "10% off" in html
    assert link.url in client.get(f"/subscribers/{ann.id}").get_data(as_text=True)


def test_the_referral_pages_take_as_many_queries_for_many_referrals_as_for_few(
    client, workspace, program, ann, visitor, count_queries
):
    code = referrals.code_for(workspace.id, program.id, ann.id).code
    db.session.commit()

    def friends(first: int, n: int):
        page = referral_landing.landing(code)
        for i in range(first, first + n):
            referral_landing.sign_up(page, {"email": f"f{i}@example.com"}, None)
            db.session.commit()
            record(workspace.id, f"SO-{i}", f"f{i}@example.com", amount="25")

    paths = ("/referrals/", f"/referrals/{program.id}", f"/subscribers/{ann.id}")
    friends(0, 2)
    with count_queries() as few:
        assert all(client.get(path).status_code == 200 for path in paths)
    friends(2, 20)
    with count_queries() as many:
        assert all(client.get(path).status_code == 200 for path in paths)
    assert many() == few()
    figures = referral_pages.figures([program.id])[program.id]
    assert (figures.signups, figures.completed, figures.rewarded) == (22, 22, 22)


HOSTILE = ["", " ", "x" * 100_000, "<script>alert(1)</script>", "{{ 7*7 }}", "'; DROP TABLE referrals; --",
           "\x00\x01", "é" * 300, "-1", "999999999999999999999"]  # fmt: skip
PROGRAM_FIELDS = ["name", "referrer_type", "referrer_value", "referrer_currency", "friend_type", "friend_value",
                  "friend_currency", "min_order_amount", "currency", "expiry_days", "list_id", "landing_title",
                  "landing_text"]  # fmt: skip


def test_hostile_values_in_the_program_form_and_the_landing_page_never_cause_a_server_error(client, visitor, link):
    token = csrf(client)
    for value in HOSTILE:
        for path in ("/referrals/new", f"/referrals/{link.program_id}/edit"):
            resp = client.post(path, data={"csrf_token": token, **{f: value for f in PROGRAM_FIELDS}})
            assert resp.status_code in (302, 422), (path, value[:40], resp.get_data(as_text=True)[:500])
            assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
        page = sign_up(visitor, link.code, email=value, name=value, ip=f"192.0.2.{len(value) % 250}")
        assert page.status_code in (200, 422, 429), (value[:40], page.status_code)
        assert "<script>alert(1)</script>" not in page.get_data(as_text=True)
    assert the_referrals() == []
