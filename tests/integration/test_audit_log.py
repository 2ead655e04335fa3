"""The audit log: what writes entries (from the dashboard and the API, with who did it), and the page,
its filters, pages and CSV, and the API that read it."""

import csv
import io
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Campaign, Subscriber, Workspace
from app.services.platform import audit
from tests import factories
from tests.import_support import import_through_pages
from tests.roles_support import api_client, csrf, member_client

OWNER = "owner@example.com"
API_ACTOR = "API key 'tests'"


def logged(workspace_id: int) -> list[tuple[str, str, str | None, int | None]]:
    """The workspace's entries, but the `api` fixture's key (made by the tests, as the system)."""
    entries = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.workspace_id == workspace_id, AuditEntry.actor != "system")
        .order_by(AuditEntry.id)
    )
    return [(e.actor, e.action, e.subject_type, e.subject_id) for e in entries]


def forget_setup(workspace_id: int) -> None:
    """Drop what setting the test up logged (the `api` fixture's key)."""
    db.session.execute(AuditEntry.__table__.delete().where(AuditEntry.workspace_id == workspace_id))
    db.session.commit()


def audience(workspace_id: int, n: int = 2):
    lst = factories.create_list(workspace_id, "Newsletter")
    factories.create_subscribers(workspace_id, factories.people(n), lst.id)
    tpl = factories.create_template(workspace_id)
    db.session.commit()
    return lst, tpl


def test_dashboard_actions_are_logged_with_the_person(client, ctx, workspace, httpserver):
    lst, tpl = audience(workspace.id)
    spare_tpl = factories.create_template(workspace.id, name="Spare")
    sending = factories.create_campaign(workspace.id, tpl.id, [lst.id], name="Spring sale")
    draft = factories.create_campaign(workspace.id, tpl.id, [lst.id], name="Draft to drop")
    scheduled = factories.create_campaign(workspace.id, tpl.id, [lst.id], name="Later")
    doomed = factories.create_list(workspace.id, "Doomed")
    db.session.commit()
    sub_id = db.session.scalar(select(Subscriber.id).where(Subscriber.workspace_id == workspace.id).limit(1))
    t = csrf(client, "/")
    soon = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    steps = [
        (f"/campaigns/{sending.id}/send", {}),
        (f"/campaigns/{scheduled.id}/schedule", {"scheduled_at": soon}),
        (f"/campaigns/{scheduled.id}/cancel", {}),
        (f"/campaigns/{draft.id}/delete", {}),
        (f"/templates/{spare_tpl.id}/delete", {}),
        (f"/lists/{doomed.id}/delete", {}),
        (f"/subscribers/{sub_id}/delete", {}),
        ("/settings/workspace", {"name": "Acme Inc", "timezone": "Europe/Paris"}),
        ("/settings/api-keys/", {"name": "Shop", "role": "marketer"}),
        ("/settings/api-keys/1/revoke", {}),
    ]
    for path, data in steps:
        resp = client.post(path, data=data | {"csrf_token": t})
        assert resp.status_code in (200, 201, 302), (path, resp.status_code)
    import_through_pages(client, t, b"email,name\nnew@example.com,New\n", "people.csv")

    entries = logged(workspace.id)
    assert {actor for actor, *_ in entries} == {OWNER}
    assert [(a, s, i) for _, a, s, i in entries] == [
        ("campaign.send", "campaign", sending.id),
        ("campaign.schedule", "campaign", scheduled.id),
        ("campaign.cancel", "campaign", scheduled.id),
        ("campaign.delete", "campaign", draft.id),
        ("template.delete", "template", spare_tpl.id),
        ("list.delete", "list", doomed.id),
        ("subscriber.delete", "subscriber", sub_id),
        ("workspace.settings", "workspace", workspace.id),
        ("api_key.create", "api_key", 1),
        ("api_key.revoke", "api_key", 1),
        ("subscriber.import", None, None),
    ]
    settings = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "workspace.settings"))
    assert settings.detail == {"changed": {"name": ["Acme", "Acme Inc"], "timezone": ["UTC", "Europe/Paris"]}}
    imported = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subscriber.import"))
    assert imported.detail["file"] == "people.csv" and imported.detail["created"] == 1
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.delete")).detail == {
        "name": "Draft to drop"
    }
    assert all(e.ip == "127.0.0.1" for e in db.session.scalars(select(AuditEntry)))


def test_api_actions_are_logged_with_the_key(api, ctx, workspace, httpserver):
    lst, tpl = audience(workspace.id)
    campaign = factories.create_campaign(workspace.id, tpl.id, [lst.id])
    domain, _ = factories.create_signing_domain(workspace)
    db.session.commit()
    soon = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    assert api.post(f"/campaigns/{campaign.id}/schedule", json={"scheduled_at": soon}).status_code == 200
    assert api.post(f"/campaigns/{campaign.id}/cancel").status_code == 200
    smtp = {"name": "Relay", "provider_type": "smtp", "settings": {"host": "127.0.0.1", "port": 2525}}
    provider = api.post("/providers", json=smtp | {"credentials": {}})
    assert provider.status_code == 201, provider.json
    hook = api.post("/webhook-endpoints", json={"url": httpserver.url_for("/hook")})
    assert hook.status_code == 201, hook.json
    assert api.delete(f"/webhook-endpoints/{hook.json['id']}").status_code == 204
    assert api.delete(f"/domains/{domain.id}").status_code == 204
    imported = api.post("/subscribers/import", json={"rows": [{"email": "rows@example.com"}], "list_ids": [lst.id]})
    assert imported.status_code == 200

    entries = logged(workspace.id)
    assert {actor for actor, *_ in entries} == {API_ACTOR}
    assert [(a, s) for _, a, s, _ in entries] == [
        ("campaign.schedule", "campaign"),
        ("campaign.cancel", "campaign"),
        ("provider.create", "provider"),
        ("webhook_endpoint.create", "webhook_endpoint"),
        ("webhook_endpoint.delete", "webhook_endpoint"),
        ("domain.delete", "domain"),
        ("subscriber.import", None),
    ]
    row = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subscriber.import"))
    assert row.api_key_id is not None and row.user_id is None
    assert row.detail == {
        "file": None, "list_ids": [lst.id], "created": 1, "updated": 0, "skipped": 0, "added_to_lists": 1, "errors": 0
    }  # fmt: skip


def test_a_failed_change_leaves_no_entry(client, ctx, workspace):
    lst, tpl = audience(workspace.id)
    campaign = factories.create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.commit()
    # A campaign uses the template: the delete is refused, and nothing is logged.
    client.post(f"/templates/{tpl.id}/delete", data={"csrf_token": csrf(client, "/")})
    client.post(f"/campaigns/{campaign.id}/cancel", data={"csrf_token": csrf(client, "/")})  # a draft: refused
    assert logged(workspace.id) == []


def seed(workspace_id: int, n: int, action="campaign.send", actor="a@example.com", at=None, **kw) -> None:
    """`n` entries, one a minute back from `at`."""
    at = at or datetime.now(timezone.utc)
    for i in range(n):
        entry = audit.record(workspace_id, action, actor=audit.Actor(actor), **kw)
        entry.created_at = at - timedelta(minutes=i)
    db.session.commit()


def test_the_page_shows_times_in_the_workspaces_timezone_and_links_subjects_that_exist(client, ctx, workspace):
    ws = db.session.get(Workspace, workspace.id)
    ws.timezone = "Asia/Tokyo"
    lst, tpl = audience(workspace.id)
    kept = factories.create_campaign(workspace.id, tpl.id, [lst.id], name="Kept")
    db.session.commit()
    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)  # 2 March, 08:30 in Tokyo
    seed(workspace.id, 1, subject_type="campaign", subject_id=kept.id, detail={"name": "Kept"}, at=at)
    seed(workspace.id, 1, action="campaign.delete", subject_type="campaign", subject_id=999, at=at)
    page = client.get("/settings/audit-log/").get_data(as_text=True)
    assert "02 Mar 2026, 08:30:00" in page and "2026-03-01 23:30 UTC" in page
    assert f'href="/campaigns/{kept.id}"' in page and "Campaign sent" in page and "name: Kept" in page
    assert 'href="/campaigns/999"' not in page and "campaign #999" in page


def test_filters_by_action_actor_and_days_and_pages(client, ctx, workspace):
    ws = db.session.get(Workspace, workspace.id)
    ws.timezone = "America/New_York"
    db.session.commit()
    now = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)
    seed(workspace.id, 60, at=now)
    seed(workspace.id, 3, action="list.delete", actor="b@example.com", at=now - timedelta(days=3))
    # 02:00 UTC on 7 May is still 6 May in New York.
    seed(workspace.id, 1, action="template.delete", at=datetime(2026, 5, 7, 2, 0, tzinfo=timezone.utc))

    def rows(query: str) -> int:
        return client.get("/settings/audit-log/" + query).get_data(as_text=True).count("<tr data-action=")

    assert rows("") == 50 and rows("?page=2") == 14
    assert "Showing 1–50 of 64" in client.get("/settings/audit-log/").get_data(as_text=True)
    assert rows("?action=list.delete") == 3
    assert rows("?actor=b%40example.com") == 3
    assert rows("?from=2026-05-07&to=2026-05-07") == 3  # the list deletes, not the 6 May (local) one
    assert rows("?from=2026-05-06&to=2026-05-06") == 1
    bad = client.get("/settings/audit-log/?from=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert "Nothing matches" in client.get("/settings/audit-log/?action=member.role").get_data(as_text=True)


def test_the_csv_holds_the_filtered_entries_and_is_formula_safe(client, ctx, workspace):
    seed(workspace.id, 2, actor='=HYPERLINK("http://evil")', detail={"name": "=1+2"})
    seed(workspace.id, 1, action="list.delete", actor="+cmd|calc")
    resp = client.get("/settings/audit-log/audit-log.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["time", "time_utc", "actor", "action", "subject_type", "subject_id", "detail", "ip"]
    assert len(rows) == 4
    for row in rows[1:]:
        assert all(cell[:1] not in "=+-@" or cell == "" for cell in row), row
    assert {row[2] for row in rows[1:]} == {'\'=HYPERLINK("http://evil")', "'+cmd|calc"}
    only = list(
        csv.reader(
            io.StringIO(client.get("/settings/audit-log/audit-log.csv?action=list.delete").get_data(as_text=True))
        )
    )
    assert len(only) == 2 and only[1][3] == "list.delete"


def test_everyone_in_the_workspace_reads_the_log_and_nobody_changes_it(app, ctx, workspace):
    seed(workspace.id, 1)
    analyst = member_client(app, workspace.id, "analyst")
    assert analyst.get("/settings/audit-log/").status_code == 200
    assert analyst.get("/settings/audit-log/audit-log.csv").status_code == 200
    assert analyst.post("/settings/audit-log/", data={"csrf_token": csrf(analyst)}).status_code == 405


def test_the_api_pages_and_filters_the_log(app, api, conforms, ctx, workspace):
    forget_setup(workspace.id)
    now = datetime.now(timezone.utc)
    seed(workspace.id, 5, at=now, subject_type="campaign", subject_id=7, detail={"name": "Spring"})
    seed(workspace.id, 2, action="list.delete", actor="b@example.com", at=now - timedelta(days=10))
    body = conforms(api.get("/audit-log?per_page=3"), "AuditEntryPage")
    assert body["total"] == 7 and len(body["items"]) == 3
    first = body["items"][0]
    assert first["action"] == "campaign.send" and first["subject"] == {"type": "campaign", "id": 7}
    assert first["detail"] == {"name": "Spring"} and first["actor"] == "a@example.com"
    assert conforms(api.get("/audit-log?action=list.delete"), "AuditEntryPage")["total"] == 2
    assert conforms(api.get("/audit-log?actor=b@example.com"), "AuditEntryPage")["total"] == 2
    day = (now - timedelta(days=10)).date().isoformat()
    assert conforms(api.get(f"/audit-log?from={day}&to={day}"), "AuditEntryPage")["total"] == 2
    bad = api.get("/audit-log?from=31/12/2026")
    assert bad.status_code == 422 and bad.json["error"]["fields"] == {"from": "A date like 2026-03-31."}
    # An analyst's key reads it too (and its making is logged, by the system here).
    assert api_client(app, workspace.id, "analyst")("GET", "/audit-log").json["total"] == 8


def test_another_workspaces_entries_never_show(client, api, ctx, workspace, make_workspace):
    forget_setup(workspace.id)
    other = make_workspace("Other")
    seed(other.id, 3, actor="them@example.com")
    assert "them@example.com" not in client.get("/settings/audit-log/").get_data(as_text=True)
    assert api.get("/audit-log").json["total"] == 0
    assert db.session.scalar(select(Campaign.id)) is None
