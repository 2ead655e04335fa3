"""The pre-send panel of a draft, on its page and in its editor: loaded after the page (the checks render
the message as it would go out), it shows what the gate would stop — with the owner's "send anyway" on
the page, never in the editor — and the advisor's findings about the content, each fix returning to
the page it was pressed on."""

import re

from app.extensions import db
from app.services.advisor import gate
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people

NO_ALT = '<p>Spring is here, and so is our sale: everything half off.</p><img src="https://cdn.example.com/hero.png"><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _draft(workspace):
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, people(2), lst.id)
    template = create_template(workspace.id, subject="Our spring sale", html=NO_ALT)
    camp = create_campaign(workspace.id, template.id, [lst.id])
    db.session.commit()
    return camp


def test_the_drafts_page_loads_the_panel_which_runs_the_checks(client, workspace, monkeypatch):
    monkeypatch.setattr(gate, "BULK_AUDIENCE", 1)  # two people make a bulk send here
    camp = _draft(workspace)
    page = client.get(f"/campaigns/{camp.id}")
    assert page.status_code == 200 and 'id="presend"' in page.text
    assert 'data-check="content_image_alt_text"' not in page.text  # not on the page itself: it loads after

    panel = client.get(f"/campaigns/{camp.id}/presend", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert 'data-blocking="from_domain_unverified"' in panel.text and 'id="override-reason"' in panel.text
    assert 'data-check="content_image_alt_text"' in panel.text and 'id="spam-score"' in panel.text
    assert f'name="next" value="/campaigns/{camp.id}"' in panel.text


def test_the_editor_shows_the_same_checks_without_sending_from_there(client, workspace, monkeypatch):
    monkeypatch.setattr(gate, "BULK_AUDIENCE", 1)
    camp = _draft(workspace)
    editor = client.get(f"/campaigns/{camp.id}/edit")
    assert editor.status_code == 200 and f"/campaigns/{camp.id}/presend?in=editor" in editor.text

    panel = client.get(f"/campaigns/{camp.id}/presend?in=editor", headers={"HX-Request": "true"})
    assert 'data-blocking="from_domain_unverified"' in panel.text and 'id="override-reason"' not in panel.text
    assert "checks of the saved draft" in panel.text
    assert f'name="next" value="/campaigns/{camp.id}/edit"' in panel.text

    # Dismissing a finding from the editor comes back to the editor.
    rec_id = re.search(r'data-recommendation="(\d+)" data-check="content_image_alt_text"', panel.text).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', editor.text).group(1)
    back = client.post(f"/advisor/{rec_id}/dismiss", data={"csrf_token": token, "reason": "A decorative image",
                                                          "next": f"/campaigns/{camp.id}/edit"})  # fmt: skip
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/campaigns/{camp.id}/edit")


def test_another_workspaces_draft_has_no_panel(client, workspace, make_workspace):
    other = make_workspace("Other")
    camp = _draft(other)
    assert client.get(f"/campaigns/{camp.id}/presend").status_code == 404
