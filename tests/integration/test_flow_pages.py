"""The flows in the dashboard, as plain form posts (no JavaScript): the index, the gallery, a flow
started from scratch, its steps added, edited, moved and deleted in the editor, a refused value shown
on its own step, activate and pause, the flow's page; tenancy, escaping and roles."""

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import CampaignRecipient, Flow, FlowEnrollment, FlowStepRun, InsightHour, Order, Subscriber
from app.services.automation import flow_sends, flows, recipes
from tests.factories import create_list, create_subscribers, create_template, people
from tests.roles_support import member_client

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(client, path="/flows/") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _flow(workspace_id: int, **data) -> Flow:
    flow = flows.create_flow(workspace_id, {"name": "Nurture", "trigger": {"type": "api"}, "steps": [], **data})
    db.session.commit()
    return flow


def _steps(flow_id: int) -> list[dict]:
    db.session.expire_all()
    return db.session.get(Flow, flow_id).steps


def _card(html: str, step_id: str) -> str:
    """The markup of one step's card (up to the next step's)."""
    start = html.index(f'id="step-{step_id}"')
    following = re.search(r'<li class="flow-node"', html[start + 10 :])
    return html[start : start + 10 + following.start()] if following else html[start:]


def test_the_index_lists_flows_with_their_trigger_and_figures_and_offers_a_new_one(client, workspace):
    lst = create_list(workspace.id, "Newsletter")
    _flow(workspace.id, name="Welcome aboard", trigger={"type": "list", "list_id": lst.id})
    page = client.get("/flows/")
    assert page.status_code == 200
    assert "Welcome aboard" in page.text and "When someone joins the list “Newsletter”" in page.text
    assert 'href="/flows/new"' in page.text and 'data-status="draft"' in page.text
    nav = re.search(r'<nav aria-label="Main navigation".*?</nav>', page.text, re.S).group(0)
    assert nav.index("Flows") < nav.index(">Events<") < nav.index(">Products<")
    assert client.get("/flows/?status=active").status_code == 200


def test_a_flow_from_scratch_opens_its_editor_and_settings_save(client, workspace):
    gallery = client.get("/flows/new")
    assert gallery.status_code == 200 and "Start from scratch" in gallery.text
    token = TOKEN.search(gallery.text).group(1)
    created = client.post("/flows/new", data={"csrf_token": token, "name": "Trial nurture"})
    assert created.status_code == 302
    flow = db.session.scalar(select(Flow).where(Flow.workspace_id == workspace.id))
    assert created.headers["Location"].endswith(f"/flows/{flow.id}/edit") and flow.status == "draft"
    editor = client.get(f"/flows/{flow.id}/edit")
    assert editor.status_code == 200 and "No steps yet" in editor.text and 'id="flow-settings"' in editor.text

    settings = {"csrf_token": token, "name": "Trial nurture", "trigger.type": "event", "trigger.event": "cart_updated",
                "trigger.filters.0.property": "total", "trigger.filters.0.op": "gte", "trigger.filters.0.value": "50",
                "goals": "order_placed", "reentry.mode": "again", "reentry.after_days": "30",
                "quiet_hours.on": "on", "quiet_hours.start": "21", "quiet_hours.end": "8"}  # fmt: skip
    assert client.post(f"/flows/{flow.id}/settings", data=settings).status_code == 302
    db.session.expire_all()
    flow = db.session.get(Flow, flow.id)
    assert flow.trigger == {"type": "event", "event": "cart_updated", "restart": False,
                            "filters": [{"property": "total", "op": "gte", "value": 50}]}  # fmt: skip
    assert flow.goals == [{"event": "order_placed"}] and flow.reentry == {"mode": "again", "after_days": 30}
    assert flow.quiet_hours == {"start": 21, "end": 8}

    bad = client.post(f"/flows/{flow.id}/settings", data={**settings, "trigger.filters.0.value": "lots"})
    assert bad.status_code == 422
    field = re.search(r'<input[^>]*name="trigger.filters.0.value"[^>]*>', bad.text).group(0)
    assert "is-invalid" in field and 'value="lots"' in field and "A number." in bad.text


def test_steps_are_added_edited_moved_and_deleted_with_plain_posts(client, workspace):
    tpl = create_template(workspace.id, name="Day one")
    flow = _flow(workspace.id)
    token = _token(client)
    # "Add a step" → Wait: a form for the new step where it goes, saved when it is sent.
    form = client.get(f"/flows/{flow.id}/edit?add=wait&at=start")
    assert 'id="step-new"' in form.text and 'name="at" value="start"' in form.text
    added = client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "wait", "at": "start",
                                                              "id": "s1", "mode": "duration", "days": "2"})  # fmt: skip
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/flows/{flow.id}/edit#step-s1")
    client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "email", "at": "after:s1",
                                                     "template_id": str(tpl.id), "subject": "Welcome in"})  # fmt: skip
    steps = _steps(flow.id)
    assert [(s["id"], s["type"]) for s in steps] == [("s1", "wait"), ("s2", "email")]
    assert steps[0]["minutes"] == 2 * 1440 and steps[1]["subject"] == "Welcome in"

    # A condition, and a step at the top of its "yes" branch.
    client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "condition", "at": "after:s2",
                                                     "if_mode": "event", "if.event": "order_placed"})  # fmt: skip
    client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "exit", "at": "start:s3.yes"})
    steps = _steps(flow.id)
    assert steps[2]["if"] == {"event": "order_placed"} and steps[2]["yes"] == [{"id": "s4", "type": "exit"}]
    page = client.get(f"/flows/{flow.id}/edit").text
    assert 'data-branch="yes"' in page and 'data-branch="no"' in page and "Did they do order_placed" in page

    # Edit the wait in place: its id stays.
    edited = client.post(f"/flows/{flow.id}/steps/s1", data={"csrf_token": token, "type": "wait", "mode": "until",
                                                             "until": "09:30"})  # fmt: skip
    assert edited.status_code == 302 and _steps(flow.id)[0] == {"id": "s1", "type": "wait", "until": "09:30"}

    # Move the email up (the condition's branch goes with it when it moves), then drag it to the end.
    assert client.post(f"/flows/{flow.id}/steps/s2/move", data={"csrf_token": token, "dir": "up"}).status_code == 302
    assert [s["id"] for s in _steps(flow.id)] == ["s2", "s1", "s3"]
    client.post(f"/flows/{flow.id}/steps/s2/move", data={"csrf_token": token, "to": "2"})
    assert [s["id"] for s in _steps(flow.id)] == ["s1", "s3", "s2"]
    client.post(f"/flows/{flow.id}/steps/s3/move", data={"csrf_token": token, "dir": "down"})
    steps = _steps(flow.id)
    assert [s["id"] for s in steps] == ["s1", "s2", "s3"] and steps[2]["yes"][0]["id"] == "s4"

    # With HTMX the same post answers with the steps alone, naming the step to focus.
    fragment = client.post(f"/flows/{flow.id}/steps/s2/move", data={"csrf_token": token, "dir": "up"},
                           headers={"HX-Request": "true"})  # fmt: skip
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="flow-steps"')
    assert 'data-focus="s2"' in fragment.text and "<html" not in fragment.text

    deleted = client.post(f"/flows/{flow.id}/steps/s3/delete", data={"csrf_token": token})
    assert deleted.status_code == 302 and [s["id"] for s in _steps(flow.id)] == ["s2", "s1"]
    assert client.post(f"/flows/{flow.id}/steps/s99/delete", data={"csrf_token": token}).status_code == 302
    assert client.post(f"/flows/{flow.id}/steps/x;1/move", data={"csrf_token": token, "dir": "up"}).status_code == 404


def test_a_refused_value_is_shown_on_its_own_step_and_nothing_is_saved(client, workspace):
    tpl = create_template(workspace.id)
    flow = _flow(workspace.id, steps=[{"type": "email", "template_id": tpl.id},
                                      {"type": "condition", "if": {"event": "order_placed"},
                                       "yes": [{"type": "wait", "days": 1}], "no": []}])  # fmt: skip
    token = _token(client)
    bad = client.post(f"/flows/{flow.id}/steps/s3", data={"csrf_token": token, "type": "wait", "mode": "duration",
                                                          "days": "0", "hours": "0", "minutes": "0"})  # fmt: skip
    assert bad.status_code == 422
    card = _card(bad.text, "s3")
    assert (
        "Wait at least a minute" in card and "border-danger" in card and '<details class="flow-edit mt-2" open' in card
    )
    assert re.search(r'<input[^>]*is-invalid[^>]*name="days"', card)
    assert "Wait at least a minute" not in _card(bad.text, "s1")
    assert _steps(flow.id)[1]["yes"][0]["minutes"] == 1440  # unchanged

    # A new step refused keeps its form open where it was going, with what was typed.
    new = client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "webhook", "at": "after:s1",
                                                           "id": "s4", "url": "ftp://nope"})  # fmt: skip
    assert new.status_code == 422
    card = _card(new.text, "new")
    assert 'name="at" value="after:s1"' in card and 'value="ftp://nope"' in card and "alert-danger" in card
    assert len(_steps(flow.id)) == 2


def test_activate_pause_and_the_new_version_message(client, workspace):
    tpl = create_template(workspace.id)
    flow = _flow(workspace.id, steps=[{"type": "email", "template_id": tpl.id}])
    token = _token(client)
    # No campaign shows a usual sender yet: not started, said on the email's card, never a 500.
    refused = client.post(f"/flows/{flow.id}/activate", data={"csrf_token": token})
    assert refused.status_code == 422 and "Not started" in refused.text
    assert "Say who this email is from" in _card(refused.text, "s1")
    client.post(f"/flows/{flow.id}/steps/s1", data={"csrf_token": token, "type": "email", "template_id": str(tpl.id),
                                                    "from_email": "hello@shop.example.com"})  # fmt: skip
    started = client.post(f"/flows/{flow.id}/activate", data={"csrf_token": token, "next": "show"})
    assert started.status_code == 302 and started.headers["Location"].endswith(f"/flows/{flow.id}")
    db.session.expire_all()
    assert db.session.get(Flow, flow.id).status == "active"
    page = client.get(f"/flows/{flow.id}")
    assert page.status_code == 200 and "The flow is live" in page.text and 'id="flow-figure"' in page.text
    assert "Version 1" in page.text and 'data-action="pause"' in page.text and "flow-secret" not in page.text

    client.post(f"/flows/{flow.id}/steps/add", data={"csrf_token": token, "type": "wait", "at": "start", "days": "1"})
    editor = client.get(f"/flows/{flow.id}/edit").text
    assert 'id="flow-changed"' in editor and "people inside finish theirs" in editor and "Publish changes" in editor
    client.post(f"/flows/{flow.id}/activate", data={"csrf_token": token})
    shown = client.get(f"/flows/{flow.id}/edit").text
    assert "Version 2 is live: new entrants follow the new version; people inside finish theirs." in shown

    assert client.post(f"/flows/{flow.id}/pause", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Flow, flow.id).status == "paused"
    assert "Resume" in client.get(f"/flows/{flow.id}").text


def test_the_flow_page_shows_its_webhook_secret_and_escapes_names(client, workspace):
    flow = _flow(workspace.id, name='<img src=x onerror="alert(1)">',
                 steps=[{"type": "webhook", "url": "https://hooks.example.com/in", "label": "<b>CRM</b>"}])  # fmt: skip
    for path in ("/flows/", f"/flows/{flow.id}", f"/flows/{flow.id}/edit"):
        html = client.get(path).text
        assert '<img src=x onerror="alert(1)">' not in html and "&lt;img src=x" in html
    page = client.get(f"/flows/{flow.id}").text
    assert 'id="flow-secret"' in page and "<b>CRM</b>" not in page and "&lt;b&gt;CRM&lt;/b&gt;" in page


def test_another_workspaces_flow_is_not_found(client, make_workspace):
    other = make_workspace("Other", "other@example.com")
    theirs = _flow(other.id, steps=[{"type": "wait", "days": 1}])
    token = _token(client)
    for path in (f"/flows/{theirs.id}", f"/flows/{theirs.id}/edit"):
        assert client.get(path).status_code == 404
    for path in (f"/flows/{theirs.id}/steps/s1/delete", f"/flows/{theirs.id}/activate", f"/flows/{theirs.id}/settings"):
        assert client.post(path, data={"csrf_token": token, "dir": "up"}).status_code == 404
    assert len(_steps(theirs.id)) == 1


def test_an_analyst_reads_a_flow_but_cannot_change_it(app, workspace):
    flow = _flow(workspace.id, steps=[{"type": "wait", "days": 1}])
    analyst = member_client(app, workspace.id, "analyst")
    for path in ("/flows/", f"/flows/{flow.id}", f"/flows/{flow.id}/edit"):
        assert analyst.get(path).status_code == 200
    editor = analyst.get(f"/flows/{flow.id}/edit").text
    assert "data-editable" not in editor and "/steps/s1/move" not in editor and 'data-action="activate"' not in editor
    assert "New flow" not in analyst.get("/flows/").text
    token = _token(analyst)
    for path in (f"/flows/{flow.id}/steps/s1/delete", f"/flows/{flow.id}/activate", "/flows/new"):
        assert analyst.post(path, data={"csrf_token": token, "name": "x"}).status_code == 403
    assert len(_steps(flow.id)) == 1


def _ran(workspace) -> Flow:
    """A live flow three people went through: one waiting, one who ordered (a goal), one done; its email
    sent to all three (opened by two people, clicked by one), and an order an hour after it."""
    tpl = create_template(workspace.id, name="Come back")
    lst = create_list(workspace.id)
    create_subscribers(workspace.id, people(3, email="buyer{i}@example.org"), lst.id)
    flow = _flow(workspace.id, name="Cart", goals=[{"event": "order_placed"}],
                 steps=[{"type": "email", "template_id": tpl.id, "from_email": "shop@example.com"},
                        {"type": "wait", "days": 1}])  # fmt: skip
    flows.activate(workspace.id, flow.id)
    version = flows.current_version(flow)
    campaign = flow_sends.step_campaign(flow, version.id, flow.steps[0], 1)
    now = datetime.now(timezone.utc)
    buyers = db.session.scalars(select(Subscriber).where(Subscriber.workspace_id == workspace.id)).all()
    for person, status in zip(buyers, ("active", "goal", "completed"), strict=True):
        row = FlowEnrollment(workspace_id=workspace.id, flow_id=flow.id, version_id=version.id, subscriber_id=person.id,
                             status=status, step_id="s2" if status == "active" else None,
                             entered_at=now - timedelta(hours=3))  # fmt: skip
        db.session.add(row)
        db.session.flush()
        db.session.add(FlowStepRun(enrollment_id=row.id, flow_id=flow.id, step_id="s1", outcome="queued"))
        db.session.add(CampaignRecipient(campaign_id=campaign.id, subscriber_id=person.id, email=person.email,
                                         status="sent", sent_at=now - timedelta(hours=2)))  # fmt: skip
    db.session.add(InsightHour(workspace_id=workspace.id, campaign_id=campaign.id, hour=now.replace(minute=0, second=0,
                               microsecond=0), mailbox_provider="*", identity_id=-1, sent=3, delivered=3,
                               human_unique_opens=2, human_unique_clicks=1))  # fmt: skip
    db.session.add(Order(workspace_id=workspace.id, external_id="o-1", email=buyers[1].email, subscriber_id=buyers[1].id,
                         amount=Decimal("42.50"), currency="EUR", placed_at=now - timedelta(hours=1)))  # fmt: skip
    db.session.commit()
    return flow


def test_a_flow_that_ran_shows_its_people_emails_and_recovered_revenue(client, workspace):
    flow = _ran(workspace)
    row = re.search(rf'<tr data-flow="{flow.id}">.*?</tr>', client.get("/flows/").text, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[3:] == ["1", "3", "3", "42.50 EUR"]  # in it now, entered, emails sent, recovered

    page = client.get(f"/flows/{flow.id}").text
    assert "66.7% · 2 of 3" in page and "33.3% · 1 of 3" in page  # opened and clicked by people, of delivered
    assert "42.50 EUR" in page and "1 order within 7 days" in page
    step = re.search(r'<tr data-step="s1">.*?</tr>', page, re.S).group(0)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", step, re.S)][1:6] == [
        "0", "3", "3", "2", "1"]  # fmt: skip
    assert 'data-counts="s2"' in page and "1 waiting" in page
    sends = re.search(r'id="flow-sends".*?</table>', page, re.S).group(0)
    assert sends.count("buyer") == 3 and "s1" in sends
    entries = re.search(r'id="flow-enrollments".*?</table>', page, re.S).group(0)
    assert "at s2" in entries and 'data-status="goal"' in entries


def test_the_index_runs_the_same_queries_for_more_flows(client, workspace, count_queries):
    _ran(workspace)
    client.get("/flows/")
    with count_queries() as few:
        assert client.get("/flows/").status_code == 200
    for n in range(5):
        _flow(workspace.id, name=f"More {n}", steps=[{"type": "wait", "days": 1}])
    with count_queries() as many:
        assert client.get("/flows/").status_code == 200
    assert many() == few()


def test_the_gallery_makes_a_ready_made_flow_in_one_click_and_asks_what_it_needs(client, workspace):
    lst = create_list(workspace.id, "Newsletter")
    db.session.commit()
    gallery = client.get("/flows/new")
    assert gallery.text.count("data-recipe=") == len(recipes.list_recipes()) and "Start from scratch" in gallery.text
    token = TOKEN.search(gallery.text).group(1)
    # The welcome series needs its list: asked on its card, said there when missing.
    missing = client.post("/flows/new/welcome", data={"csrf_token": token})
    assert missing.status_code == 422
    card = re.search(r'data-recipe="welcome".*?</form>', missing.text, re.S).group(0)
    assert "alert-danger" in card and "is-invalid" in card and 'name="list_id"' in card
    assert db.session.scalar(select(Flow.id).where(Flow.workspace_id == workspace.id)) is None

    made = client.post("/flows/new/welcome", data={"csrf_token": token, "list_id": str(lst.id)})
    assert made.status_code == 302 and made.headers["Location"].endswith("/edit")
    flow = db.session.scalar(select(Flow).where(Flow.recipe == "welcome"))
    assert flow.status == "draft" and flow.trigger == {"type": "list", "list_id": lst.id}
    editor = client.get(made.headers["Location"]).text
    assert "When someone joins the list “Newsletter”" in editor and editor.count('class="flow-node"') == 5

    cart = client.post("/flows/new/abandoned_cart", data={"csrf_token": token, "idle_minutes": "90"})
    assert cart.status_code == 302
    flow = db.session.scalar(select(Flow).where(Flow.recipe == "abandoned_cart"))
    assert flow.steps[0]["minutes"] == 90 and flow.goals == [{"event": "order_placed"}]
    assert client.post("/flows/new/nope", data={"csrf_token": token}).status_code == 404
