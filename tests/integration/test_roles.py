"""Roles on every page and every API call: the lists below come from app.url_map and
registry.OPERATIONS, so a route added tomorrow is walked too."""

import pytest

from app.blueprints.api.registry import OPERATIONS
from app.extensions import db
from app.models import Campaign, Provider, Subscriber
from app.services.platform import roles
from app.services.platform.workspaces import create_api_key
from tests import factories
from tests.roles_support import api_client, csrf, member_client

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# The only changes an analyst makes: their own account, accepting an invitation, and POSTs that
# only read (checking a typed value, previewing what is on the page). Anything new here is a choice.
ANALYST_MAY_POST = {
    "settings.account",
    "team.accept",
    "validation.check",
    "email_templates.preview",
    "email_templates.builder_preview",
    "segments.preview",
    "segments.builder",
    "sms.preview",
    "sms.estimate",
}
ANALYST_MAY_CALL = {
    "preview_template",
    "validate_design",
    "render_design",
    "preview_design",
    "count_rules",
    "spam_check",
    "preview_sms",
}
# What a GET may answer an analyst: the page, a polled fragment that is done (286), a redirect to
# where it lives, or "no such thing".
READ_STATUSES = {200, 286, 302, 404}


@pytest.fixture
def things(ctx, workspace):
    """One of each thing the pages show, so most URLs name something that exists."""
    lst = factories.create_list(workspace.id)
    factories.create_subscribers(workspace.id, factories.people(2), lst.id)
    tpl = factories.create_template(workspace.id)
    campaign = factories.create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.commit()
    provider = db.session.scalar(db.select(Provider).where(Provider.workspace_id == workspace.id))
    sub = db.session.scalar(db.select(Subscriber).where(Subscriber.workspace_id == workspace.id))
    return {
        "campaign_id": campaign.id,
        "template_id": tpl.id,
        "list_id": lst.id,
        "subscriber_id": sub.id,
        "provider_id": provider.id,
    }


def dashboard_requests(app, ids: dict):
    """(endpoint, method, url) for every dashboard rule and method (public pages, sign-in and the API
    are not the dashboard)."""
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if roles.dashboard_permission(rule.endpoint, "GET") is None:
            continue
        for method in sorted(rule.methods - SKIPPED_METHODS):
            values = {}
            for name in rule.arguments:
                converter = rule._converters[name]
                items = getattr(converter, "items", None)
                values[name] = sorted(items)[0] if items else ids.get(name, 1)
            yield rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)


def api_requests(ids: dict):
    for op in OPERATIONS:
        if op.public:
            continue
        path = op.path.format(**{name: ids.get(name, 1) for name in op.path_params})
        yield op, path


def test_the_policy_table(app):
    assert roles.allows("analyst", "read") and not roles.allows("analyst", "write")
    assert roles.allows("marketer", "write") and not roles.allows("marketer", "admin")
    assert roles.allows("admin", "admin") and not roles.allows("admin", "owner")
    assert roles.allows("owner", "owner") and all(roles.allows(r, "self") for r in roles.RANK)
    assert not roles.allows(None, "read") and not roles.allows("superuser", "read")
    assert roles.may_grant("admin", "admin") and not roles.may_grant("admin", "owner")
    assert not roles.may_grant("marketer", "admin") and roles.may_grant("marketer", "analyst")


def test_an_analyst_reads_every_page_and_changes_nothing(app, workspace, things):
    client = member_client(app, workspace.id, "analyst")
    token = csrf(client)
    allowed_posts, refused, wrong = set(), set(), []
    for endpoint, method, url in dashboard_requests(app, things):
        if method == "GET":
            resp = client.get(url)
            if resp.status_code not in READ_STATUSES:
                wrong.append((method, url, resp.status_code))
            continue
        resp = client.open(url, method=method, data={"csrf_token": token})
        if resp.status_code == 403:
            refused.add(endpoint)
            assert "Analysts can read everything but change nothing" in resp.get_data(as_text=True)
        else:
            allowed_posts.add(endpoint)
    assert not wrong, wrong
    assert allowed_posts == ANALYST_MAY_POST
    # The walk saw the areas that matter, so an empty url_map cannot pass.
    assert {"campaigns.send", "lists.delete", "api_keys.create", "team.invite", "settings.workspace"} <= refused


def test_the_403_page_keeps_the_navigation(app, workspace, things):
    client = member_client(app, workspace.id, "analyst")
    resp = client.post(f"/campaigns/{things['campaign_id']}/send", data={"csrf_token": csrf(client)})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 403
    assert "Not allowed for your role" in page and 'aria-label="Main navigation"' in page
    assert db.session.get(Campaign, things["campaign_id"]).status == "draft"


def test_a_marketer_builds_and_sends_but_cannot_touch_the_admins_areas(app, workspace, things):
    client = member_client(app, workspace.id, "marketer")
    token = csrf(client)
    admin_only = [
        (endpoint, method, url)
        for endpoint, method, url in dashboard_requests(app, things)
        if roles.dashboard_permission(endpoint, method) in ("admin", "owner")
    ]
    assert {"api_keys.create", "providers.new", "domains.delete", "webhook_endpoints.new", "team.invite"} <= {
        e for e, _, _ in admin_only
    }
    for endpoint, method, url in admin_only:
        resp = client.open(url, method=method, data={"csrf_token": token})
        assert resp.status_code == 403, (endpoint, resp.status_code)
        assert "Marketers build and send" in resp.get_data(as_text=True)
    # ...and does build: a new list.
    resp = client.post("/lists/", data={"name": "From the marketer", "csrf_token": token})
    assert resp.status_code in (200, 302), resp.status_code
    assert client.get("/lists/").get_data(as_text=True).count("From the marketer") >= 1


def test_pages_hide_what_the_role_cannot_use(app, workspace, things):
    analyst = member_client(app, workspace.id, "analyst")
    page = analyst.get(f"/campaigns/{things['campaign_id']}").get_data(as_text=True)
    assert "Send now" not in page and "Send a test" not in page and "/delete" not in page
    nav = analyst.get("/campaigns/").get_data(as_text=True)
    assert "New campaign" not in nav and "/settings/api-keys/" not in nav and ">Team<" in nav
    owner_page = (
        member_client(app, workspace.id, "owner", "second-owner@example.com")
        .get(f"/campaigns/{things['campaign_id']}")
        .get_data(as_text=True)
    )
    assert "Send now" in owner_page and "Send a test" in owner_page


def test_an_analyst_key_reads_every_operation_and_changes_nothing(app, workspace, things):
    call = api_client(app, workspace.id, "analyst")
    refused, allowed, wrong = set(), set(), []
    for op, path in api_requests(things):
        resp = call(op.method, path, json={} if op.body else None)
        if op.method == "GET":
            if resp.status_code == 403 or resp.status_code >= 500:
                wrong.append((op.method, path, resp.status_code))
            continue
        if resp.status_code == 403:
            refused.add(op.endpoint)
            assert resp.json["error"]["code"] == "forbidden"
            assert resp.json["error"]["message"].startswith("Analysts can read everything but change nothing")
            assert resp.json["error"]["fields"] == {}
        else:
            allowed.add(op.endpoint)
    assert not wrong, wrong
    assert allowed == ANALYST_MAY_CALL
    assert {"send_campaign", "create_subscriber", "create_provider", "create_webhook_endpoint"} <= refused


def test_a_marketer_key_is_refused_the_admin_operations(app, workspace, things):
    call = api_client(app, workspace.id, "marketer")
    admin_ops = [(op, path) for op, path in api_requests(things) if op.required_permission in ("admin", "owner")]
    assert {"create_provider", "delete_domain", "create_webhook_endpoint", "start_warming"} <= {
        op.endpoint for op, _ in admin_ops
    }
    for op, path in admin_ops:
        resp = call(op.method, path, json={} if op.body else None)
        assert resp.status_code == 403, (op.endpoint, resp.status_code)
        assert resp.json["error"]["code"] == "forbidden"
    created = call("POST", "/lists", json={"name": "Marketer's list"})
    assert created.status_code == 201


def test_every_refusable_operation_documents_its_403(document):
    for op in OPERATIONS:
        if op.public:
            continue
        documented = document["paths"][op.path][op.method.lower()]["responses"]
        assert ("403" in documented) == (op.required_permission not in ("read", "self")), op.endpoint


def test_another_workspaces_id_is_still_404_for_every_role(app, make_workspace, workspace, things):
    other = make_workspace("Other")
    lst = factories.create_list(other.id, "Theirs")
    db.session.commit()
    analyst = member_client(app, workspace.id, "analyst")
    assert analyst.get(f"/lists/{lst.id}").status_code == 404
    assert api_client(app, workspace.id, "analyst")("GET", f"/lists/{lst.id}").status_code == 404


def test_an_api_key_never_outranks_its_creator(app, ctx, workspace):
    from app.services.errors import Forbidden, ValidationError

    with pytest.raises(Forbidden):
        create_api_key(workspace.id, "too much", role="owner", creator_role="admin")
    with pytest.raises(ValidationError):
        create_api_key(workspace.id, "what", role="superuser")
    key, _ = create_api_key(workspace.id, "fine", role="marketer", creator_role="admin")
    assert key.role == "marketer"


def test_the_api_keys_page_creates_a_key_with_a_role_no_higher_than_the_creators(app, workspace):
    admin = member_client(app, workspace.id, "admin")
    token = csrf(admin, "/settings/api-keys/")
    page = admin.get("/settings/api-keys/").get_data(as_text=True)
    assert '<option value="admin"' in page and '<option value="owner"' not in page
    refused = admin.post("/settings/api-keys/", data={"name": "Sneaky", "role": "owner", "csrf_token": token})
    assert refused.status_code == 422 and "higher role than yours" in refused.get_data(as_text=True)
    made = admin.post("/settings/api-keys/", data={"name": "Reporting", "role": "analyst", "csrf_token": token})
    assert made.status_code == 201
    body = made.get_data(as_text=True)
    assert "Reporting" in body and 'data-role="analyst"' in body
    plain = body.split('id="new-key-value">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {plain}"}
    assert app.test_client().get("/api/v1/lists", headers=headers).status_code == 200
    assert app.test_client().post("/api/v1/lists", json={"name": "x"}, headers=headers).status_code == 403


def test_create_api_key_command_takes_a_role(app, workspace):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-api-key", "--workspace", workspace.slug, "--role", "analyst"])
    assert result.exit_code == 0, result.output
    plain = result.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {plain}"}
    assert app.test_client().post("/api/v1/lists", json={"name": "x"}, headers=headers).status_code == 403
    bad = runner.invoke(args=["create-api-key", "--workspace", workspace.slug, "--role", "root"])
    assert bad.exit_code != 0 and "root" in bad.output
