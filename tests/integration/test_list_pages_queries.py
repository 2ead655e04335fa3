"""List pages run the same number of queries for 3 rows as for 60 (no N+1)."""

import pytest

from app.extensions import db
from app.services.audience import contacts
from app.services.campaigns import drafts
from app.services.content import templates
from tests.conftest import TEMPLATE_HTML


def _fill(workspace, n):
    lst = contacts.create_list(workspace.id, f"List {n}")
    contacts.import_subscribers(workspace.id, [{"email": f"p{n}-{i}@example.com"} for i in range(n)], [lst.id])
    tpl = templates.create_template(workspace.id, {"name": f"T{n}", "subject": "s", "body_html": TEMPLATE_HTML})
    for i in range(n):
        drafts.create_campaign(
            workspace.id,
            {
                "name": f"C{n}-{i}",
                "template_id": tpl.id,
                "list_ids": [lst.id],
                "from_name": "A",
                "from_email": "a@example.com",
            },
        )
    db.session.commit()


@pytest.mark.parametrize("path", ["/subscribers/", "/lists/", "/campaigns/", "/templates/", "/"])
def test_list_page_queries_do_not_grow_with_rows(client, workspace, count_queries, path):
    _fill(workspace, 3)
    with count_queries() as few:
        assert client.get(path).status_code == 200
    _fill(workspace, 60)
    with count_queries() as many:
        assert client.get(path).status_code == 200
    assert many() == few(), f"{path}: {few()} queries with few rows, {many()} with many"


def test_the_progress_poll_does_not_grow_with_the_workspace(client, workspace, count_queries):
    _fill(workspace, 3)
    campaign = db.session.scalar(db.select(drafts.Campaign).limit(1))
    url = f"/campaigns/{campaign.id}/progress"
    with count_queries() as few:
        client.get(url)
    _fill(workspace, 60)  # more lists, subscribers and campaigns in the workspace
    with count_queries() as many:
        client.get(url)
    assert many() == few()
