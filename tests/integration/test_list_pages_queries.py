"""List pages run the same number of queries for 3 rows as for 60 (no N+1)."""

import pytest

from app.extensions import db
from app.services.campaigns import drafts
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people


def _fill(workspace, n):
    lst = create_list(workspace.id, f"List {n}")
    create_subscribers(workspace.id, people(n, f"p{n}-{{i}}@example.com", name=None), lst.id)
    tpl = create_template(workspace.id, "s", name=f"T{n}")
    for i in range(n):
        create_campaign(workspace.id, tpl.id, [lst.id], name=f"C{n}-{i}", from_name="A", from_email="a@example.com")
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
