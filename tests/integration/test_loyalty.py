"""Loyalty points: a program, orders that earn once, redemptions that never take a balance below zero —
even twenty at once — points that expire oldest first, tiers, segments and templates that read them."""

import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import LoyaltyAccount, LoyaltyTransaction, Subscriber
from app.services.audience import segments
from app.services.errors import InsufficientBalance
from app.services.growth import loyalty
from tests.factories import create_subscribers, people

GOLD = [{"name": "Silver", "min_points": 100}, {"name": "Gold", "min_points": 500}]


def _program(api, **fields):
    body = {"points_per_unit": 1, "redemption_rate": 100, "currency": "EUR"} | fields
    r = api.put("/loyalty/program", json=body)
    assert r.status_code in (200, 201), r.get_data(as_text=True)
    return r.json


def _order(api, external_id, email, amount, currency="EUR", **extra):
    body = {"external_id": external_id, "email": email, "amount": amount, "currency": currency} | extra
    return api.post("/orders", json=body)


def _people(workspace, n=2):
    create_subscribers(workspace.id, people(n, email="buyer{i}@example.com"))
    db.session.commit()
    return {
        s.email: s.id for s in db.session.scalars(select(Subscriber).where(Subscriber.workspace_id == workspace.id))
    }


def _account(subscriber_id) -> LoyaltyAccount:
    db.session.expire_all()
    return db.session.scalar(select(LoyaltyAccount).where(LoyaltyAccount.subscriber_id == subscriber_id))


def _ledger_sum(account_id) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(LoyaltyTransaction.points), 0)).where(LoyaltyTransaction.account_id == account_id)
    )


def _remaining(account_id) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(LoyaltyTransaction.remaining), 0)).where(
            LoyaltyTransaction.account_id == account_id
        )
    )


# -- The program ------------------------------------------------------------------------------------


def test_a_program_is_set_up_read_and_changed_with_its_tiers_sorted(api, conforms):
    assert api.get("/loyalty/program").status_code == 404
    r = api.put("/loyalty/program", json={"points_per_unit": "1.5", "currency": "eur", "expiry_days": 365,
                                          "tiers": [{"name": "Gold", "min_points": 500}, {"name": "Silver", "min_points": 100}]})  # fmt: skip
    conforms(r, "LoyaltyProgram", 201)
    assert r.json["tiers"] == [{"name": "Silver", "min_points": 100}, {"name": "Gold", "min_points": 500}]
    assert (r.json["points_per_unit"], r.json["currency"], r.json["redemption_rate"]) == (1.5, "EUR", 100)
    changed = api.put("/loyalty/program", json={"status": "paused", "expiry_days": None})
    conforms(changed, "LoyaltyProgram", 200)
    assert changed.json["status"] == "paused" and changed.json["expiry_days"] is None
    assert changed.json["points_per_unit"] == 1.5 and len(changed.json["tiers"]) == 2  # what was left out stays
    conforms(api.get("/loyalty/program"), "LoyaltyProgram")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"points_per_unit": 0}, "points_per_unit"),
        ({"points_per_unit": -1}, "points_per_unit"),
        ({"redemption_rate": "1e15"}, "redemption_rate"),
        ({"currency": "EURO"}, "currency"),
        ({"expiry_days": 0}, "expiry_days"),
        ({"expiry_days": 3651}, "expiry_days"),
        ({"tiers": [{"name": "Gold", "min_points": 5}, {"name": "gold", "min_points": 9}]}, "tiers.1.name"),
        ({"tiers": [{"name": "A", "min_points": 5}, {"name": "B", "min_points": 5}]}, "tiers.1.min_points"),
        ({"tiers": [{"name": "A", "min_points": -5}]}, "tiers.0.min_points"),
    ],
)
def test_a_bad_program_is_refused_by_field(api, body, field):
    r = api.put("/loyalty/program", json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert api.get("/loyalty/program").status_code == 404


# -- Earning --------------------------------------------------------------------------------------


def test_an_order_earns_its_points_once_even_when_it_is_posted_twice(api, conforms, workspace):
    ids = _people(workspace)
    _program(api, points_per_unit="2", tiers=GOLD)
    assert _order(api, "A-1", "buyer0@example.com", "49.99").status_code == 201
    assert _order(api, "A-1", "buyer0@example.com", "49.99").status_code == 200  # the shop's retry
    r = api.get(f"/subscribers/{ids['buyer0@example.com']}/loyalty")
    conforms(r, "LoyaltyAccount")
    assert r.json["balance"] == 99 and r.json["lifetime_points"] == 99  # floor(49.99 × 2)
    assert [(e["kind"], e["points"]) for e in r.json["ledger"]] == [("earned", 99)]
    assert r.json["tier"] is None and r.json["next_tier"] == {"name": "Silver", "min_points": 100, "points_to_go": 1}
    assert r.json["value"] == "0.99" and r.json["currency"] == "EUR"


def test_orders_in_another_currency_from_strangers_or_while_paused_earn_nothing(api, workspace):
    ids = _people(workspace)
    _program(api)
    assert _order(api, "B-1", "buyer0@example.com", "80", currency="USD").status_code == 201
    assert _order(api, "B-2", "nobody@example.com", "80").status_code == 201
    _program(api, status="paused")
    assert _order(api, "B-3", "buyer0@example.com", "80").status_code == 201
    assert api.get(f"/subscribers/{ids['buyer0@example.com']}/loyalty").json["balance"] == 0
    assert db.session.scalar(select(func.count()).select_from(LoyaltyAccount)) == 0


def test_an_order_placed_event_earns_points_once(api, workspace):
    ids = _people(workspace)
    _program(api)
    event = {"type": "order_placed", "email": "buyer1@example.com", "idempotency_key": "ev-1",
             "properties": {"order_id": "E-1", "total": "120.50", "currency": "EUR"}}  # fmt: skip
    assert api.post("/events", json=event).status_code == 202
    assert api.post("/events", json=event | {"idempotency_key": "ev-2"}).status_code == 202  # same order, new key
    assert api.get(f"/subscribers/{ids['buyer1@example.com']}/loyalty").json["balance"] == 120


def test_tiers_follow_lifetime_points_and_a_new_ladder_is_given_to_everyone(api, workspace):
    ids = _people(workspace)
    _program(api, tiers=GOLD)
    _order(api, "T-1", "buyer0@example.com", "150")
    _order(api, "T-2", "buyer1@example.com", "600")
    assert _account(ids["buyer0@example.com"]).tier == "Silver" and _account(ids["buyer1@example.com"]).tier == "Gold"
    api.post("/loyalty/redeem", json={"email": "buyer1@example.com", "points": 550})
    assert _account(ids["buyer1@example.com"]).tier == "Gold"  # spending keeps the tier: it is by lifetime points
    _program(api, tiers=[{"name": "Bronze", "min_points": 0}, {"name": "Platinum", "min_points": 160}])
    assert (
        _account(ids["buyer0@example.com"]).tier == "Bronze" and _account(ids["buyer1@example.com"]).tier == "Platinum"
    )


# -- Redeeming and adjusting ------------------------------------------------------------------------


def test_redeeming_takes_points_and_a_short_balance_answers_409_and_takes_nothing(api, conforms, workspace):
    ids = _people(workspace)
    _program(api)
    _order(api, "R-1", "buyer0@example.com", "250")
    r = api.post("/loyalty/redeem", json={"email": "buyer0@example.com", "points": 200, "idempotency_key": "cart-9"})
    conforms(r, "LoyaltyChange", 201)
    assert (r.json["balance"], r.json["entry"]["points"], r.json["value"]) == (50, -200, "2.00")
    again = api.post(
        "/loyalty/redeem", json={"email": "buyer0@example.com", "points": 200, "idempotency_key": "cart-9"}
    )
    conforms(again, "LoyaltyChange", 200)
    assert again.json["entry"]["id"] == r.json["entry"]["id"] and again.json["balance"] == 50
    short = api.post("/loyalty/redeem", json={"subscriber_id": ids["buyer0@example.com"], "points": 51})
    assert short.status_code == 409 and short.json["error"]["code"] == "insufficient_balance"
    assert "short" in short.json["error"]["message"]
    nobody = api.post("/loyalty/redeem", json={"email": "buyer1@example.com", "points": 1})
    assert nobody.status_code == 409  # no account yet: 0 points
    account = _account(ids["buyer0@example.com"])
    assert account.balance == 50 == _ledger_sum(account.id)


def test_adjustments_give_and_take_with_a_note_and_never_below_zero(api, conforms, workspace):
    ids = _people(workspace)
    _program(api)
    given = api.post(
        "/loyalty/adjust", json={"email": "buyer0@example.com", "points": 40, "note": "Sorry for the delay"}
    )
    conforms(given, "LoyaltyChange", 201)
    assert given.json["balance"] == 40 and given.json["entry"]["note"] == "Sorry for the delay"
    taken = api.post("/loyalty/adjust", json={"email": "buyer0@example.com", "points": -41, "note": "Typo"})
    assert taken.status_code == 409
    assert (
        api.post("/loyalty/adjust", json={"email": "buyer0@example.com", "points": -40, "note": "Typo"}).json["balance"]
        == 0
    )
    assert api.post("/loyalty/adjust", json={"email": "buyer0@example.com", "points": 5}).status_code == 422  # no note
    account = _account(ids["buyer0@example.com"])
    assert account.balance == 0 == _ledger_sum(account.id) and account.lifetime_points == 40


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": "buyer0@example.com", "points": -5}, 422),
        ({"email": "buyer0@example.com", "points": 0}, 422),
        ({"email": "buyer0@example.com", "points": 10**15}, 422),
        ({"email": "buyer0@example.com", "points": "5"}, 422),
        ({"email": "buyer0@example.com", "points": 1.5}, 422),
        ({"points": 5}, 422),
        ({"email": "buyer0@example.com", "subscriber_id": 1, "points": 5}, 422),
        ({"email": "not an address", "points": 5}, 422),
        ({"email": "stranger@example.com", "points": 5}, 404),
        ({"subscriber_id": 2_000_000_000, "points": 5}, 404),
    ],
)
def test_hostile_redemptions_get_a_clear_4xx(api, workspace, body, status):
    _people(workspace)
    _program(api)
    r = api.post("/loyalty/redeem", json=body)
    assert r.status_code == status, r.json
    assert set(r.json["error"]) == {"code", "message", "fields"}


def test_another_workspaces_person_is_not_found(api, make_workspace):
    other = make_workspace("Other")
    create_subscribers(other.id, [{"email": "them@example.com"}])
    db.session.commit()
    theirs = db.session.scalar(select(Subscriber.id).where(Subscriber.workspace_id == other.id))
    _program(api)
    assert api.get(f"/subscribers/{theirs}/loyalty").status_code == 404
    assert api.post("/loyalty/redeem", json={"subscriber_id": theirs, "points": 1}).status_code == 404
    assert api.post("/loyalty/adjust", json={"email": "them@example.com", "points": 9, "note": "x"}).status_code == 404


def _seed_300(api, workspace):
    ids = _people(workspace, 1)
    _program(api)
    _order(api, "C-1", "buyer0@example.com", "100")
    _order(api, "C-2", "buyer0@example.com", "200")
    return ids["buyer0@example.com"]


def test_twenty_concurrent_redemptions_of_30_against_300_exactly_ten_succeed(api, workspace, app):
    """Real threads, each with its own app context, session and connection, released at once."""
    subscriber_id = _seed_300(api, workspace)
    ws_id = workspace.id
    start, outcomes = threading.Barrier(20), []

    def redeem():
        with app.app_context():
            start.wait()
            try:
                loyalty.redeem(ws_id, subscriber_id, 30)
                db.session.commit()
                outcomes.append("ok")
            except InsufficientBalance:
                db.session.rollback()
                outcomes.append("short")
            except Exception as exc:  # anything else is a failure of the test's claim
                db.session.rollback()
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=redeem) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["ok"] * 10 + ["short"] * 10, outcomes
    account = _account(subscriber_id)
    assert account.balance == 0 == _ledger_sum(account.id) == _remaining(account.id)


def test_redemptions_one_after_another_stop_at_zero(api, workspace):
    subscriber_id = _seed_300(api, workspace)
    outcomes = []
    for n in range(12):
        r = api.post("/loyalty/redeem", json={"subscriber_id": subscriber_id, "points": 30, "idempotency_key": f"k{n}"})
        outcomes.append(r.status_code)
    assert outcomes == [201] * 10 + [409] * 2
    account = _account(subscriber_id)
    assert account.balance == 0 == _ledger_sum(account.id) == _remaining(account.id)


# -- Expiry ---------------------------------------------------------------------------------------


def _age(account_id, days_ago: dict[int, int], expiry_days: int = 30):
    """Move earned entries (by points) into the past, with their expiry."""
    now = datetime.now(timezone.utc)
    for points, ago in days_ago.items():
        db.session.execute(
            update(LoyaltyTransaction)
            .where(LoyaltyTransaction.account_id == account_id, LoyaltyTransaction.points == points)
            .values(created_at=now - timedelta(days=ago), expires_at=now - timedelta(days=ago - expiry_days))
        )
    db.session.commit()


def test_points_expire_oldest_first_after_redemptions_used_the_oldest(api, workspace):
    ids = _people(workspace, 1)
    _program(api, expiry_days=30)
    _order(api, "X-1", "buyer0@example.com", "100")
    _order(api, "X-2", "buyer0@example.com", "70")
    _order(api, "X-3", "buyer0@example.com", "50")
    account_id = _account(ids["buyer0@example.com"]).id
    _age(account_id, {100: 40, 70: 35, 50: 5})  # 100 and 70 are past their 30 days; 50 is not
    api.post("/loyalty/redeem", json={"email": "buyer0@example.com", "points": 120})  # all of 100, then 20 of 70
    assert loyalty.expire_points() == 1  # the 50 left of the 70
    db.session.commit()
    assert loyalty.expire_points() == 0  # a second run finds nothing
    account = _account(ids["buyer0@example.com"])
    assert account.balance == 50 == _ledger_sum(account_id) == _remaining(account_id)
    expired = db.session.scalars(select(LoyaltyTransaction).where(LoyaltyTransaction.kind == "expired")).all()
    assert [e.points for e in expired] == [-50]
    assert account.lifetime_points == 220  # expiry takes points, not history


def test_the_daily_job_expires_points_through_the_worker(api, workspace, app):
    ids = _people(workspace, 1)
    _program(api, expiry_days=10)
    _order(api, "J-1", "buyer0@example.com", "30")
    account_id = _account(ids["buyer0@example.com"]).id
    _age(account_id, {30: 11}, expiry_days=10)
    result = app.test_cli_runner().invoke(args=["jobs", "run", "expire_loyalty_points"])
    assert result.exit_code == 0, result.output
    assert _account(ids["buyer0@example.com"]).balance == 0 == _ledger_sum(account_id)


# -- Segments and templates -----------------------------------------------------------------------


def test_segments_read_points_and_tiers(api, workspace):
    _people(workspace, 3)
    _program(api, tiers=GOLD)
    _order(api, "S-1", "buyer0@example.com", "600")
    _order(api, "S-2", "buyer1@example.com", "120")

    names = iter(range(100))

    def who(rules):
        r = api.post("/segments", json={"name": f"Segment {next(names)}", "rules": rules})
        assert r.status_code == 201, r.json
        return sorted(s["email"] for s in api.get(f"/segments/{r.json['id']}/subscribers").json["items"])

    assert who({"all": [{"field": "loyalty_points", "op": "gte", "value": 100}]}) == [
        "buyer0@example.com", "buyer1@example.com"]  # fmt: skip
    assert who({"all": [{"field": "loyalty_points", "op": "lt", "value": 100}]}) == ["buyer2@example.com"]
    assert who({"all": [{"field": "loyalty_tier", "op": "eq", "value": "gold"}]}) == ["buyer0@example.com"]
    assert who({"all": [{"field": "loyalty_tier", "op": "not_set"}]}) == ["buyer2@example.com"]
    assert who({"not": {"field": "loyalty_tier", "op": "eq", "value": "Silver"}}) == [
        "buyer0@example.com", "buyer2@example.com"]  # fmt: skip


def test_a_campaign_shows_each_person_their_points(api, workspace, smtp_sink, worker):
    from app.services.campaigns import lifecycle
    from tests.factories import smtp_campaign

    html = "<p>{{ subscriber.loyalty.points }} points · {{ subscriber.loyalty.tier or 'no tier' }}</p>" \
           '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'  # fmt: skip
    camp = smtp_campaign(workspace, smtp_sink, people(2, email="reader{i}@example.com"), template={"html": html})
    _program(api, tiers=GOLD)
    _order(api, "L-1", "reader0@example.com", "512.40")
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    bodies = {m["rcpt_tos"][0]: m["message"].get_body(("html",)).get_content() for m in smtp_sink.messages}
    assert "512 points · Gold" in bodies["reader0@example.com"]
    assert "0 points · no tier" in bodies["reader1@example.com"]


def test_segment_counts_do_not_need_an_account_row(ctx, workspace):
    """A workspace without a program: every person has 0 points."""
    _people(workspace, 2)
    assert segments.count(workspace.id, {"all": [{"field": "loyalty_points", "op": "gt", "value": 0}]}).count == 0
    assert segments.count(workspace.id, {"all": [{"field": "loyalty_points", "op": "eq", "value": 0}]}).count == 2


# -- Pages ----------------------------------------------------------------------------------------


def _csrf(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_a_marketer_starts_the_program_and_runs_a_persons_points_from_the_pages(client, api, workspace):
    ids = _people(workspace, 2)
    page = client.get("/loyalty/").get_data(as_text=True)
    assert "Start a loyalty program" in page and 'href="/loyalty/"' in page  # in the Growth navigation
    form = {"csrf_token": _csrf(client, "/loyalty/"), "points_per_unit": "2", "redemption_rate": "50", "currency": "eur",
            "expiry_days": "", "tier_name": ["Gold", "", "Silver"], "tier_points": ["400", "", "100"]}  # fmt: skip
    bad = client.post("/loyalty/program", data=form | {"points_per_unit": "-1"})
    assert bad.status_code == 422 and "points_per_unit" in bad.get_data(as_text=True)
    assert client.post("/loyalty/program", data=form).status_code == 302
    assert loyalty.get_program(workspace.id).tiers == [
        {"name": "Silver", "min_points": 100},
        {"name": "Gold", "min_points": 400},
    ]
    _order(api, "P-1", "buyer0@example.com", "100")
    index = client.get("/loyalty/").get_data(as_text=True)
    assert "buyer0@example.com" in index and "Program settings" in index and 'value="Gold"' in index
    person = f"/loyalty/people/{ids['buyer0@example.com']}"
    assert "200" in client.get(person).get_data(as_text=True)
    token = _csrf(client, person)
    short = client.post(f"{person}/redeem", data={"csrf_token": token, "points": "201"})
    assert short.status_code == 422 and "short" in short.get_data(as_text=True)
    assert (
        client.post(f"{person}/redeem", data={"csrf_token": token, "points": "150", "note": "Order 12"}).status_code
        == 302
    )
    assert (
        client.post(
            f"{person}/adjust", data={"csrf_token": token, "adjust_points": "-10", "adjust_note": "Typo"}
        ).status_code
        == 302
    )
    assert client.post(f"{person}/adjust", data={"csrf_token": token, "adjust_points": "5"}).status_code == 422
    account = _account(ids["buyer0@example.com"])
    assert account.balance == 40 == _ledger_sum(account.id) and account.tier == "Silver"
    shown = client.get(f"/subscribers/{ids['buyer0@example.com']}").get_data(as_text=True)
    assert 'id="subscriber-loyalty"' in shown and "40 points" in shown
    assert client.get(f"/loyalty/people/{ids['buyer1@example.com']}").status_code == 200  # no account yet: 0


def test_the_loyalty_page_does_not_grow_in_queries_with_people(client, api, workspace, count_queries):
    _people(workspace, 30)
    _program(api)
    for n in range(3):
        _order(api, f"Q-{n}", f"buyer{n}@example.com", "10")
    with count_queries() as few:
        client.get("/loyalty/")
    for n in range(3, 30):
        _order(api, f"Q-{n}", f"buyer{n}@example.com", "10")
    with count_queries() as many:
        client.get("/loyalty/")
    assert many() == few()
