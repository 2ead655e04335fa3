"""Segments: the compiled SQL agrees with a plain-Python reading of the same rules, over generated
subscribers and random rule trees, on PostgreSQL and SQLite; values are bound, never spliced."""

import random
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from app.extensions import db
from app.models import (
    Campaign,
    CampaignRecipient,
    ListSubscriber,
    MailboxDomain,
    Order,
    Subscriber,
    SubscriberTag,
)
from app.services.audience import segments
from app.services.audience.segment_sql import Clock
from app.services.errors import ValidationError
from tests.factories import create_list, create_template

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)
TZ = "America/New_York"
DOMAINS = {"gmail.com": "gmail", "yahoo.com": "yahoo", "example.org": "other", "corp.io": None}
PLANS = ["pro", "Free", "team", "", None, "pro plus"]
SCORES = [1, 2.5, 10, -3, None, "7", 0]
SIGNUPS = ["2026-01-05", "2025-12-31T10:00:00Z", "2026-12-01", None]
VIPS = [True, False, None, "true"]
NAMES = ["Ana", "josé", "bob", None, "élodie", "Zoë_100%"]
TAGS = ["vip", "beta", "churned"]
MISSING = object()


class Person:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _population(ws_id: int, n: int, seed: int = 7) -> tuple[list[Person], dict]:
    """`n` varied subscribers written straight to the tables, and the same people in memory."""
    rnd = random.Random(seed)
    lists = [create_list(ws_id, "Newsletter").id, create_list(ws_id, "Customers").id]
    tpl = create_template(ws_id)
    campaigns = []
    for name in ("Spring", "Summer"):
        c = Campaign(
            workspace_id=ws_id, name=name, template_id=tpl.id, from_name="A", from_email="a@x.org", status="sent"
        )
        db.session.add(c)
        campaigns.append(c)
    db.session.flush()
    for domain, group in DOMAINS.items():
        if group:
            db.session.add(
                MailboxDomain(domain=domain, provider=group, group=group, expires_at=NOW + timedelta(days=9))
            )
    people = []
    for i in range(n):
        attrs = {}
        for key, values in (("plan", PLANS), ("score", SCORES), ("signup", SIGNUPS), ("vip", VIPS)):
            v = rnd.choice(values + [MISSING])
            if v is not MISSING:
                attrs[key] = v
        p = Person(
            email=f"p{i}@{rnd.choice(list(DOMAINS))}",
            name=rnd.choice(NAMES),
            status=rnd.choice(["active", "active", "unsubscribed", "bounced", "pending"]),
            source=rnd.choice(["form", "import", "api", None]),
            timezone=rnd.choice(["Europe/Paris", None, "America/New_York"]),
            created_at=NOW - timedelta(hours=rnd.randrange(0, 24 * 400)),
            attributes=attrs,
            tags=set(rnd.sample(TAGS, rnd.randrange(0, 3))),
            lists=set(rnd.sample(lists, rnd.randrange(0, 3))),
            received=[],
            orders=[],
        )
        sub = Subscriber(
            workspace_id=ws_id,
            email=p.email,
            name=p.name,
            status=p.status,
            source=p.source,
            timezone=p.timezone,
            created_at=p.created_at,
            attributes=p.attributes,
        )
        db.session.add(sub)
        db.session.flush()
        p.id = sub.id
        for tag in p.tags:
            db.session.add(SubscriberTag(subscriber_id=sub.id, tag=tag))
        for list_id in p.lists:
            db.session.add(ListSubscriber(list_id=list_id, subscriber_id=sub.id))
        for c in campaigns:
            if rnd.random() < 0.6:
                sent = NOW - timedelta(days=rnd.randrange(1, 200))
                opened = sent + timedelta(hours=2) if rnd.random() < 0.5 else None
                clicked = opened + timedelta(minutes=5) if opened and rnd.random() < 0.5 else None
                p.received.append({"campaign_id": c.id, "sent_at": sent, "opened_at": opened, "clicked_at": clicked})
                db.session.execute(
                    insert(CampaignRecipient).values(
                        campaign_id=c.id,
                        subscriber_id=sub.id,
                        email=p.email,
                        status="sent",
                        sent_at=sent,
                        human_opened_at=opened,
                        human_clicked_at=clicked,
                    )
                )
        for k in range(rnd.choice([0, 0, 1, 3])):
            placed = NOW - timedelta(days=rnd.randrange(0, 300))
            amount = Decimal(rnd.choice(["9.99", "120.00", "35.50"]))
            p.orders.append((placed, amount))
            db.session.add(
                Order(
                    workspace_id=ws_id,
                    external_id=f"o{i}-{k}",
                    email=p.email,
                    subscriber_id=sub.id,
                    amount=amount,
                    currency="EUR",
                    placed_at=placed,
                )  # fmt: skip
            )
        people.append(p)
    db.session.flush()
    return people, {"lists": lists, "campaigns": [c.id for c in campaigns]}


# The reference: the same rules read in plain Python ------------------------------------------------

_NUMERIC = re.compile(r"\s*-?[0-9]+(\.[0-9]+)?\s*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _kind(v):
    if v is MISSING:
        return None
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return "string"


def _typed(v, kind):
    k = _kind(v)
    if kind == "number":
        if k == "number":
            return float(v)
        if k == "string" and _NUMERIC.fullmatch(v):
            return float(v.strip())
        return None
    if kind == "date":
        return v[:10] if k == "string" and _DATE.match(v) else None
    if kind == "boolean":
        if k == "boolean":
            return "true" if v else "false"
        return v.lower() if k == "string" else None
    return v if k == "string" else None


def _cmp(x, op, value):
    if x is None:
        return False
    return {
        "eq": lambda: x == value,
        "gt": lambda: x > value,
        "gte": lambda: x >= value,
        "lt": lambda: x < value,
        "lte": lambda: x <= value,
        "before": lambda: x < value,
        "after": lambda: x > value,
        "between": lambda: value[0] <= x <= value[1],
        "in": lambda: x in value,
    }[op]()


def _text(x, op, value):
    if op == "is_set":
        return x is not None and x != ""
    if op == "not_set":
        return not _text(x, "is_set", value)
    if op == "ne":
        return not _text(x, "eq", value)
    if x is None:
        return False
    low = x.lower()
    return {
        "eq": lambda: low == value.lower(),
        "contains": lambda: value.lower() in low,
        "starts_with": lambda: low.startswith(value.lower()),
        "ends_with": lambda: low.endswith(value.lower()),
        "in": lambda: low in [v.lower() for v in value],
    }[op]()


def _stamp(x, op, value, clock):
    if op == "is_set":
        return x is not None
    if op == "not_set":
        return x is None
    if op == "ne":
        return not _stamp(x, "eq", value, clock)
    if x is None:
        return False
    return {
        "eq": lambda: clock.start(value) <= x < clock.end(value),
        "before": lambda: x < clock.start(value),
        "after": lambda: x >= clock.end(value),
        "between": lambda: clock.start(value[0]) <= x < clock.end(value[1]),
        "within_days": lambda: x >= clock.now - timedelta(days=value),
    }[op]()


def evaluate(p: Person, tree: dict, clock: Clock) -> bool:
    if "all" in tree:
        return all(evaluate(p, n, clock) for n in tree["all"])
    if "any" in tree:
        return any(evaluate(p, n, clock) for n in tree["any"])
    if "not" in tree:
        return not evaluate(p, tree["not"], clock)
    if "event" in tree:
        key = {"opened": "opened_at", "clicked": "clicked_at", "received": "sent_at"}[tree["event"]]
        hits = [
            r for r in p.received
            if r[key] is not None
            and ("campaign_id" not in tree or r["campaign_id"] == tree["campaign_id"])
            and ("within_days" not in tree or r[key] >= clock.now - timedelta(days=tree["within_days"]))
        ]  # fmt: skip
        return (len(hits) >= tree["count_gte"]) != tree["negate"]
    field, op, value = tree["field"], tree["op"], tree.get("value")
    if field.startswith("attributes."):
        raw = p.attributes.get(field[11:], MISSING)
        kind = tree["type"]
        present = _kind(raw) not in (None, "null") and raw != ""
        if op in ("is_set", "not_set"):
            return present == (op == "is_set")
        if op == "ne":
            return not evaluate(p, {**tree, "op": "eq"}, clock)
        if kind == "text":
            return _text(_typed(raw, "text"), op, value)
        if kind == "boolean":
            return _typed(raw, "boolean") == ("true" if value else "false")
        x = _typed(raw, kind)
        if op == "within_days":
            today = clock.today()
            return x is not None and (today - timedelta(days=value)).isoformat() <= x <= today.isoformat()
        return _cmp(x, op, value)
    if field in ("email", "name", "timezone"):
        return _text(getattr(p, field), op, value)
    if field in ("status", "source", "mailbox_provider"):
        x = DOMAINS[p.email.split("@")[1]] if field == "mailbox_provider" else getattr(p, field)
        if op in ("is_set", "not_set"):
            return (x is not None) == (op == "is_set")
        hit = x in value if op == "in" else x == value
        return not hit if op == "ne" else hit
    if field == "created_at":
        return _stamp(p.created_at, op, value, clock)
    if field == "tags":
        if op in ("is_set", "not_set"):
            return bool(p.tags) == (op == "is_set")
        if op == "in":
            return bool(p.tags & set(value))
        return (value in p.tags) == (op == "contains")
    if field == "list":
        ids = set(value) if op == "in" else {value}
        return not (p.lists & ids) if op == "ne" else bool(p.lists & ids)
    if field == "last_order_at":
        return _stamp(max((o[0] for o in p.orders), default=None), op, value, clock)
    figure = float(len(p.orders) if field == "order_count" else sum(o[1] for o in p.orders))
    return not _cmp(figure, "eq", value) if op == "ne" else _cmp(figure, op, value)


# Random rule trees -------------------------------------------------------------------------------

DAYS = st.sampled_from(["2026-01-05", "2025-12-31", "2026-12-01", "2026-06-15", "2026-12-07"])


def _conditions(meta):
    texts = st.sampled_from(["pro", "PRO", "free", "team", "pro plus", "o", "%", "_", "x"])
    numbers = st.sampled_from([-3, 0, 1, 2.5, 7, 10, 100])
    field_op = [
        (
            "email",
            ["eq", "ne", "contains", "starts_with", "ends_with", "in", "is_set"],
            st.sampled_from(["gmail", "p1", "p3@yahoo.com", "@corp.io"]),
        ),
        (
            "name",
            ["eq", "ne", "contains", "starts_with", "is_set", "not_set", "in"],
            st.sampled_from(["ana", "JOSÉ", "élodie", "o", "100%", "_"]),
        ),
        ("status", ["eq", "ne", "in"], st.sampled_from(["active", "unsubscribed", "bounced", "pending"])),
        ("source", ["eq", "ne", "is_set", "not_set", "in"], st.sampled_from(["form", "import", "api"])),
        ("timezone", ["eq", "ne", "is_set", "not_set"], st.sampled_from(["europe/paris", "America/New_York"])),
        ("mailbox_provider", ["eq", "ne", "in", "is_set", "not_set"], st.sampled_from(["gmail", "yahoo", "other"])),
        ("created_at", ["eq", "ne", "before", "after", "between", "within_days"], DAYS),
        ("tags", ["contains", "ne", "in", "is_set", "not_set"], st.sampled_from(TAGS)),
        ("list", ["eq", "ne", "in"], st.sampled_from(meta["lists"])),
        ("attributes.plan", ["eq", "ne", "contains", "starts_with", "in", "is_set", "not_set"], texts),
        ("attributes.score", ["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "is_set", "not_set"], numbers),
        ("attributes.signup", ["eq", "ne", "before", "after", "between", "within_days", "is_set"], DAYS),
        ("attributes.vip", ["eq", "ne", "is_set", "not_set"], st.booleans()),
        ("order_count", ["eq", "ne", "gt", "gte", "lt", "lte", "between"], st.sampled_from([0, 1, 3])),
        ("lifetime_value", ["gt", "gte", "lt", "lte", "between", "eq"], st.sampled_from([0, 9.99, 35.5, 100, 300])),
        ("last_order_at", ["before", "after", "within_days", "is_set", "not_set", "between"], DAYS),
    ]

    @st.composite
    def condition(draw):
        field, ops, values = draw(st.sampled_from(field_op))
        op = draw(st.sampled_from(ops))
        node = {"field": field, "op": op}
        if op in ("is_set", "not_set"):
            return node
        if op == "within_days":
            node["value"] = draw(st.sampled_from([0, 1, 30, 90, 365]))
        elif op == "in":
            node["value"] = draw(st.lists(values, min_size=1, max_size=3))
        elif op == "between":
            node["value"] = draw(st.lists(values, min_size=2, max_size=2))
        else:
            node["value"] = draw(values)
        return node

    @st.composite
    def event(draw):
        node = {"event": draw(st.sampled_from(["opened", "clicked", "received"]))}
        if draw(st.booleans()):
            node["campaign_id"] = draw(st.sampled_from(meta["campaigns"]))
        if draw(st.booleans()):
            node["within_days"] = draw(st.sampled_from([7, 30, 90, 365]))
        if draw(st.booleans()):
            node["count_gte"] = draw(st.sampled_from([1, 2]))
        if draw(st.booleans()):
            node["negate"] = True
        return node

    return st.one_of(condition(), event())


def _trees(meta):
    leaves = _conditions(meta)
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.builds(lambda xs: {"all": xs}, st.lists(kids, min_size=1, max_size=3)),
            st.builds(lambda xs: {"any": xs}, st.lists(kids, min_size=1, max_size=3)),
            st.builds(lambda x: {"not": x}, kids),
        ),
        max_leaves=8,
    ).filter(lambda t: _depth(t) <= 5)


def _depth(t, d=0):
    if "all" in t or "any" in t:
        return max(_depth(c, d + 1) for c in t.get("all", t.get("any")))
    if "not" in t:
        return _depth(t["not"], d + 1)
    return d


def test_segment_counts_equal_a_plain_python_reading_of_random_rules(ctx, workspace):
    workspace.timezone = TZ
    people, meta = _population(workspace.id, 160)
    db.session.commit()
    clock = Clock(TZ, NOW)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_trees(meta))
    def check(rules):
        tree = segments.clean(workspace.id, rules)
        ids = set(db.session.scalars(segments.members(workspace.id, tree, now=NOW)))
        expected = {p.id for p in people if evaluate(p, tree, clock)}
        assert ids == expected, (rules, tree, sorted(ids ^ expected)[:5])

    check()


def test_attribute_types_come_from_the_values_stored_unless_declared(ctx, workspace):
    people, _ = _population(workspace.id, 40)
    assert segments.stored_type(workspace.id, "score") == "number"
    assert segments.stored_type(workspace.id, "vip") == "boolean"
    assert segments.stored_type(workspace.id, "plan") == "text"
    assert segments.stored_type(workspace.id, "nobody") is None
    # "10" > "9" as text is false; as a number it is true: the number reading wins for scores.
    tree = segments.clean(workspace.id, {"field": "attributes.score", "op": "gt", "value": "9"})
    assert tree["type"] == "number" and tree["value"] == 9.0
    segments.declare_field(workspace.id, "score", "text")
    assert segments.clean(workspace.id, {"field": "attributes.score", "op": "eq", "value": "7"})["type"] == "text"


def test_a_hostile_value_is_bound_and_cannot_change_the_statement(ctx, workspace):
    people, _ = _population(workspace.id, 30)
    hostile = "x' OR '1'='1'; DROP TABLE subscribers; --"
    rules = {"any": [{"field": "email", "op": "eq", "value": hostile},
                     {"field": "attributes.plan", "op": "contains", "value": hostile}]}  # fmt: skip
    tree = segments.clean(workspace.id, rules)
    stmt = segments.members(workspace.id, tree)
    compiled = stmt.compile(db.session.get_bind())
    assert hostile not in str(compiled) and "DROP" not in str(compiled)
    assert hostile in compiled.params.values() or hostile.lower() in compiled.params.values()
    assert db.session.scalars(stmt).all() == []
    assert db.session.scalar(select(Subscriber.id).limit(1)) is not None  # the table is still there
    # A key with a quote cannot break out of the JSON path either: it is refused.
    with pytest.raises(ValidationError):
        segments.clean(workspace.id, {"field": "attributes.a\"]'); --", "op": "is_set"})


@pytest.mark.parametrize(
    "rules, where",
    [
        ([], "rules"),
        ({"all": []}, "rules.all"),
        ({"all": [{"field": "shoe_size", "op": "eq", "value": 1}]}, "rules.all.0.field"),
        ({"field": "email", "op": "gt", "value": "a"}, "rules.op"),
        ({"field": "attributes.score", "op": "between", "value": [1]}, "rules.value"),
        ({"field": "created_at", "op": "before", "value": "yesterday"}, "rules.value"),
        ({"field": "list", "op": "eq", "value": 999999}, "rules.value"),
        ({"event": "opened", "campaign_id": 999999}, "rules.campaign_id"),
        ({"event": "bought"}, "rules.event"),
        (
            {"not": {"not": {"not": {"not": {"not": {"all": [{"field": "email", "op": "is_set"}]}}}}}},
            "rules.not.not.not.not.not",
        ),
        ({"all": [{"field": "email", "op": "is_set"}] * 51}, "rules.all.50"),
    ],
)
def test_bad_rules_say_what_and_where(ctx, workspace, rules, where):
    with pytest.raises(ValidationError) as err:
        segments.clean(workspace.id, rules)
    assert where in err.value.fields, err.value.fields


def test_another_workspaces_list_or_campaign_is_refused(ctx, workspace, make_workspace):
    other = make_workspace("Other", "other@example.com")
    their_list = create_list(other.id, "Theirs")
    with pytest.raises(ValidationError):
        segments.clean(workspace.id, {"field": "list", "op": "in", "value": [their_list.id]})


def test_fifty_lists_are_checked_in_one_question_and_another_workspaces_is_named(
    app, ctx, workspace, make_workspace, count_queries
):
    ours = [create_list(workspace.id, f"List {i}").id for i in range(49)]
    theirs = create_list(make_workspace("Other", "other@example.com").id, "Theirs").id
    ws = workspace.id
    db.session.commit()
    rules = {"all": [{"field": "email", "op": "is_set"}, {"event": "received"},
                     {"field": "list", "op": "in", "value": ours[:20] + [theirs] + ours[20:]}]}  # fmt: skip
    with app.app_context():
        db.session.scalar(select(1))  # the connection checked out (and pinged) before counting
        with count_queries() as refusing, pytest.raises(ValidationError) as err:
            segments.clean(ws, rules)
        with count_queries() as accepting:
            accepted = segments.clean(ws, {"all": rules["all"][:2] + [{**rules["all"][2], "value": ours}]})
    assert refusing() == 1 and accepting() == 1, (refusing(), accepting())
    assert list(err.value.fields) == ["rules.all.2.value"]
    assert f"lists: {theirs} is not (rules.all.2.value)" in err.value.message
    assert accepted["all"][2]["value"] == ours
    missing = {"field": "list", "op": "in", "value": [ours[0], 999998, 999999]}
    with pytest.raises(ValidationError, match="999998, 999999 are not"):
        segments.clean(workspace.id, missing)


def test_a_count_past_its_time_limit_is_an_estimate(ctx, workspace):
    people, _ = _population(workspace.id, 120)
    db.session.commit()
    rules = {"field": "status", "op": "eq", "value": "active"}
    exact = segments.count(workspace.id, rules)
    assert not exact.estimated and exact.count == sum(p.status == "active" for p in people)
    estimate = segments.count(workspace.id, rules, timeout_ms=0)
    assert estimate.estimated and estimate.count == exact.count  # fewer than 50,000: the sample is everyone
