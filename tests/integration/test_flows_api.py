"""The flows API: a flow created, listed, shown with its counts, changed (a live flow's change waits for
the next activation as a new version), activated, paused, archived and deleted only when it never ran;
people enrolled through the API (only into an API-triggered flow); its emails and people listed; the
ready-made flows; another workspace's flow is 404; hostile definitions are refused by their place."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Subscriber
from app.services.audience import contacts
from app.services.automation import flow_engine, recipes
from tests.factories import create_list, create_smtp_provider, create_subscribers, create_template, people


def patch(api, path, json=None):
    return api.c.patch("/api/v1" + path, json=json, headers=api.h)


def error_of(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:800])
    error = resp.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    if code:
        assert error["code"] == code, error
    return error


@pytest.fixture
def setup(workspace):
    """A template, a list with three people, committed (the API's session must see them on SQLite)."""
    tpl = create_template(workspace.id, subject="Hello {{ subscriber.name }}", name="Flow hello")
    lst = create_list(workspace.id, "Members")
    create_subscribers(workspace.id, people(3, email="m{i}@example.org", name="Zoë {i}"), lst.id)
    db.session.commit()
    return {"template_id": tpl.id, "list_id": lst.id}


def _api_flow(setup, **changes) -> dict:
    return {
        "name": "Onboarding",
        "trigger": {"type": "api"},
        "steps": [
            {"type": "email", "template_id": setup["template_id"], "from_email": "team@example.com"},
            {"type": "wait", "days": 1},
            {"type": "update", "add_tags": ["onboarded"]},
        ],
    } | changes


def test_a_flow_is_created_listed_shown_changed_activated_paused_and_archived(api, conforms, setup):
    created = conforms(api.post("/flows", json=_api_flow(setup)), "Flow", 201)
    fid = created["id"]
    assert created["status"] == "draft" and created["version"] is None and created["recipe"] is None
    assert [s["id"] for s in created["steps"]] == ["s1", "s2", "s3"] and created["steps"][1]["minutes"] == 1440
    assert created["people"] == {"entered": 0, "active": 0, "completed": 0, "goal": 0, "exited": 0}
    assert created["reentry"] == {"mode": "once"} and created["step_counts"] == {}

    listed = conforms(api.get("/flows?status=draft"), "FlowSummaryPage")
    assert [f["id"] for f in listed["items"]] == [fid] and listed["total"] == 1
    assert conforms(api.get("/flows?status=active"), "FlowSummaryPage")["total"] == 0
    assert list(error_of(api.get("/flows?status=running"), 422, "invalid")["fields"]) == ["status"]

    renamed = conforms(patch(api, f"/flows/{fid}", {"name": "Onboarding · new users"}), "Flow")
    assert renamed["name"] == "Onboarding · new users" and renamed["steps"] == created["steps"]
    live = conforms(api.post(f"/flows/{fid}/activate"), "Flow")
    assert (live["status"], live["version"], live["draft_changed"]) == ("active", 1, False)
    assert conforms(api.get("/flows?status=active"), "FlowSummaryPage")["items"][0]["version"] == 1

    steps = created["steps"][:2] + [{"type": "update", "add_tags": ["onboarded", "v2"]}]
    changed = conforms(patch(api, f"/flows/{fid}", {"steps": steps}), "Flow")
    assert (changed["version"], changed["draft_changed"], changed["status"]) == (1, True, "active")
    again = conforms(api.post(f"/flows/{fid}/activate"), "Flow")
    assert (again["version"], again["draft_changed"]) == (2, False)

    paused = conforms(api.post(f"/flows/{fid}/pause"), "Flow")
    assert paused["status"] == "paused"
    assert error_of(api.post(f"/flows/{fid}/pause"), 409, "invalid_state")
    assert error_of(api.delete(f"/flows/{fid}"), 409, "invalid_state")["message"].startswith("This flow has run")
    archived = conforms(api.post(f"/flows/{fid}/archive"), "Flow")
    assert archived["status"] == "archived"
    assert error_of(patch(api, f"/flows/{fid}", {"name": "Again"}), 409, "invalid_state")
    assert error_of(api.post(f"/flows/{fid}/activate"), 409, "invalid_state")

    draft = conforms(api.post("/flows", json=_api_flow(setup, name="Scratch")), "Flow", 201)
    assert api.delete(f"/flows/{draft['id']}").status_code == 204
    error_of(api.get(f"/flows/{draft['id']}"), 404, "not_found")


def test_activation_needs_a_step_and_a_sender(api, setup):
    empty = api.post("/flows", json={"name": "Empty", "trigger": {"type": "api"}, "steps": []}).get_json()
    assert error_of(api.post(f"/flows/{empty['id']}/activate"), 422, "invalid")["fields"] == {"steps": "Add a step."}
    step = {"type": "email", "template_id": setup["template_id"]}  # no From, and no campaign shows a usual one
    silent = api.post("/flows", json=_api_flow(setup, steps=[step])).get_json()
    error = error_of(api.post(f"/flows/{silent['id']}/activate"), 422, "invalid")
    assert list(error["fields"]) == ["steps.s1.from_email"]


def test_people_are_enrolled_through_the_api_once_and_listed(api, conforms, setup, workspace):
    fid = api.post("/flows", json=_api_flow(setup)).get_json()["id"]
    error_of(api.post(f"/flows/{fid}/enroll", json={"email": "m0@example.org"}), 409, "invalid_state")  # a draft
    api.post(f"/flows/{fid}/activate")
    first = conforms(api.post(f"/flows/{fid}/enroll", json={"email": "M0@Example.org", "context": {"plan": "pro"}}),
                     "FlowEnrolled")  # fmt: skip
    assert first["enrolled"] is True
    assert conforms(api.post(f"/flows/{fid}/enroll", json={"email": "m0@example.org"}), "FlowEnrolled") == {
        "enrolled": False, "subscriber_id": first["subscriber_id"]}  # fmt: skip
    m1 = db.session.scalar(select(Subscriber.id).where(Subscriber.email == "m1@example.org"))
    assert api.post(f"/flows/{fid}/enroll", json={"subscriber_id": m1}).get_json()["enrolled"] is True

    unknown = error_of(api.post(f"/flows/{fid}/enroll", json={"email": "nobody@example.org"}), 422, "invalid")
    assert list(unknown["fields"]) == ["email"]
    both = error_of(api.post(f"/flows/{fid}/enroll", json={"email": "m2@example.org", "subscriber_id": m1}), 422)
    assert "one of the two" in both["message"]
    huge = {"email": "m2@example.org", "context": {"blob": "x" * 20_000}}
    assert list(error_of(api.post(f"/flows/{fid}/enroll", json=huge), 422)["fields"]) == ["context"]

    shown = conforms(api.get(f"/flows/{fid}"), "Flow")
    assert shown["people"]["entered"] == 2 and shown["step_counts"]["s1"]["waiting"] == 2
    listed = conforms(api.get(f"/flows/{fid}/enrollments?status=active"), "FlowEnrollmentPage")
    assert [e["email"] for e in listed["items"]] == ["m1@example.org", "m0@example.org"]
    assert listed["items"][1]["step_id"] == "s1" and listed["items"][1]["version"] == 1
    assert conforms(api.get(f"/flows/{fid}/enrollments?status=goal"), "FlowEnrollmentPage")["total"] == 0

    on_a_list = api.post("/flows", json=_api_flow(setup, trigger={"type": "list", "list_id": setup["list_id"]}))
    lid = on_a_list.get_json()["id"]
    api.post(f"/flows/{lid}/activate")
    refused = error_of(api.post(f"/flows/{lid}/enroll", json={"email": "m2@example.org"}), 409, "invalid_state")
    assert "trigger is the API" in refused["message"]


def test_a_flows_emails_are_listed_newest_first_with_what_happened(api, conforms, setup, workspace, smtp_sink, worker):
    create_smtp_provider(workspace.id, smtp_sink.port)
    contacts.suppress_address(workspace.id, "m2@example.org", "bounced")
    db.session.commit()
    fid = api.post("/flows", json=_api_flow(setup)).get_json()["id"]
    api.post(f"/flows/{fid}/activate")
    for i in range(3):
        assert api.post(f"/flows/{fid}/enroll", json={"email": f"m{i}@example.org"}).status_code == 200
    flow_engine.advance(now=datetime.now(timezone.utc) + timedelta(seconds=5))
    worker()
    assert sorted(m["rcpt_tos"][0] for m in smtp_sink.messages) == ["m0@example.org", "m1@example.org"]
    sends = conforms(api.get(f"/flows/{fid}/sends"), "FlowSendPage")
    assert [s["email"] for s in sends["items"]] == ["m2@example.org", "m1@example.org", "m0@example.org"]
    assert {s["step_id"] for s in sends["items"]} == {"s1"}
    skipped, sent = sends["items"][0], sends["items"][2]
    assert (skipped["status"], skipped["reason"], skipped["sent_at"]) == ("failed", "suppressed:bounced", None)
    assert sent["status"] == "sent" and sent["sent_at"] and sent["opened_at"] is None
    assert conforms(api.get(f"/flows/{fid}/sends?per_page=1&page=3"), "FlowSendPage")["items"][0]["email"] == (
        "m0@example.org"
    )
    counts = api.get(f"/flows/{fid}").get_json()["step_counts"]["s1"]["outcomes"]
    assert counts == {"queued": 2, "skipped: suppressed:bounced": 1}


def test_a_ready_made_flow_is_made_in_one_call(api, conforms, setup):
    gallery = conforms(api.get("/flow-recipes"), "FlowRecipePage")
    assert [r["key"] for r in gallery["items"]] == list(recipes.KEYS) and gallery["total"] == 9
    cart = next(r for r in gallery["items"] if r["key"] == "abandoned_cart")
    idle = next(o for o in cart["options"] if o["name"] == "idle_minutes")
    assert (idle["default"], idle["minimum"], idle["maximum"]) == (60, 5, 10080)

    made = conforms(api.post("/flows/from-recipe", json={"recipe": "abandoned_cart", "options": {"idle_minutes": 90}}),
                    "Flow", 201)  # fmt: skip
    assert (made["status"], made["recipe"], made["name"]) == ("draft", "abandoned_cart", "Abandoned cart")
    assert made["trigger"] == {"type": "event", "event": "cart_updated", "filters": [], "restart": True}
    assert made["steps"][0]["minutes"] == 90 and made["goals"] == [{"event": "order_placed"}]
    template = api.get(f"/templates/{made['steps'][1]['template_id']}").get_json()
    assert template["name"] == "Abandoned cart · 1 · Reminder"

    bad = error_of(api.post("/flows/from-recipe", json={"recipe": "abandoned_cart", "options": {"idle_minutes": 2}}),
                   422, "invalid")  # fmt: skip
    assert list(bad["fields"]) == ["options.idle_minutes"]
    welcome = error_of(api.post("/flows/from-recipe", json={"recipe": "welcome"}), 422)
    assert list(welcome["fields"]) == ["options.list_id"]
    assert list(error_of(api.post("/flows/from-recipe", json={"recipe": "newsletter"}), 422)["fields"]) == ["recipe"]
    made = api.post("/flows/from-recipe", json={"recipe": "welcome", "options": {"list_id": setup["list_id"]}})
    assert made.status_code == 201 and made.get_json()["trigger"] == {"type": "list", "list_id": setup["list_id"]}


def test_another_workspaces_flow_answers_404_everywhere(api, make_workspace, setup):
    other = make_workspace("Other", "other@example.com")
    tpl = create_template(other.id, name="Theirs")
    db.session.commit()
    from app.services.automation import flows

    theirs = flows.create_flow(other.id, {"name": "Theirs", "trigger": {"type": "api"},
                                          "steps": [{"type": "email", "template_id": tpl.id,
                                                     "from_email": "o@example.com"}]})  # fmt: skip
    flows.activate(other.id, theirs.id)
    db.session.commit()
    fid = theirs.id
    calls = [
        api.get(f"/flows/{fid}"),
        patch(api, f"/flows/{fid}", {"name": "Mine"}),
        api.delete(f"/flows/{fid}"),
        api.post(f"/flows/{fid}/activate"),
        api.post(f"/flows/{fid}/pause"),
        api.post(f"/flows/{fid}/archive"),
        api.post(f"/flows/{fid}/enroll", json={"email": "m0@example.org"}),
        api.get(f"/flows/{fid}/sends"),
        api.get(f"/flows/{fid}/enrollments"),
    ]
    for resp in calls:
        assert "Theirs" not in resp.get_data(as_text=True)
        error_of(resp, 404, "not_found")
    assert api.get("/flows").get_json()["total"] == 0
    db.session.expire_all()
    assert flows.get_flow(other.id, fid).status == "active" and flows.get_flow(other.id, fid).name == "Theirs"


def _nested(depth: int) -> list[dict]:
    steps: list[dict] = [{"type": "exit"}]
    for _ in range(depth):
        steps = [{"type": "condition", "if": {"event": "order_placed"}, "yes": steps, "no": []}]
    return steps


def test_hostile_definitions_are_refused_by_their_place(api, setup, make_workspace, client):
    other = make_workspace("Other", "other@example.com")
    their_template, their_list = create_template(other.id, name="Theirs"), create_list(other.id, "Theirs")
    db.session.commit()
    wait = {"type": "wait", "minutes": 5}
    cases = [
        ({"steps": [wait] * 101}, "steps"),
        ({"steps": [wait] * 60 + [{"type": "condition", "if": {"event": "x"}, "yes": [wait] * 45, "no": []}]},
         "steps.60.yes"),
        ({"steps": _nested(6)}, "steps.0.yes.0.yes.0.yes.0.yes.0.yes.0.yes"),
        ({"steps": [{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data/"}]}, "steps.0.url"),
        ({"steps": [{"type": "webhook", "url": "http://[::ffff:169.254.169.254]/"}]}, "steps.0.url"),
        ({"steps": [{"type": "email", "template_id": their_template.id}]}, "steps.0.template_id"),
        ({"trigger": {"type": "list", "list_id": their_list.id}}, "trigger.list_id"),
        ({"steps": [{"type": "wait", "days": 400}]}, "steps.0.days"),
        ({"steps": [{"type": "update", "unsubscribe": "yes"}]}, "steps.0.unsubscribe"),
        ({"trigger": {"type": "event", "event": "Robert'); DROP TABLE flows; --"}}, "trigger.event"),
        ({"steps": "everything"}, "steps"),
        ({"trigger": {"type": "cron"}}, "trigger.type"),
    ]  # fmt: skip
    for changes, place in cases:
        error = error_of(api.post("/flows", json=_api_flow(setup, **changes)), 422, "invalid")
        assert place in error["fields"], (place, error)
        assert "Theirs" not in str(error) and len(str(error)) < 2000
    assert api.get("/flows").get_json()["total"] == 0
    assert api.post("/flows", json=_api_flow(setup, steps=_nested(5))).status_code == 201  # conditions 5 deep

    name = "<script>alert(1)</script>{{ 7*7 }} Crème"
    made = api.post("/flows", json=_api_flow(setup, name=name))
    assert made.status_code == 201 and made.get_json()["name"] == name
    assert made.mimetype == "application/json" and made.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get(f"/flows/{made.get_json()['id']}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }} Crème" in page and "<script>alert(1)" not in page
