"""Routing a campaign through several providers from the dashboard: the form's Delivery section, the
campaign page's Delivery card (who carried how many, the routing, a failover), and bad input.

Sends go through a real RQ worker into real SMTP servers (aiosmtpd)."""

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Campaign
from app.services.delivery import providers
from tests.factories import create_list, create_smtp_provider, create_subscribers, create_template, people
from tests.support import free_port

PEOPLE = 6


def _shop(workspace):
    lst = create_list(workspace.id)
    create_subscribers(workspace.id, people(PEOPLE), lst.id)
    tpl = create_template(workspace.id)
    db.session.commit()
    return lst, tpl


def _relay(workspace, name, port, **kw):
    p = create_smtp_provider(workspace.id, port, name, **{"is_default": False, **kw})
    db.session.commit()
    return p


def _token(client, path) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _form(client, lst, tpl, first, second, **routing) -> dict:
    return {
        "csrf_token": _token(client, "/campaigns/new"),
        "name": "Spring sale",
        "template_id": str(tpl.id),
        "list_ids": [str(lst.id)],
        "from_name": "Acme",
        "from_email": "news@shop.example.com",
        "track_opens": "on",
        "routing_mode": "several",
        "routing_providers": [str(first), str(second)],
        f"routing_order-{first}": "1",
        f"routing_order-{second}": "2",
        "routing_fallback": "on",
        **routing,
    }


def _create_and_send(client, worker, form) -> int:
    r = client.post("/campaigns/new", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    camp_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    path = f"/campaigns/{camp_id}"
    assert client.post(f"{path}/send", data={"csrf_token": _token(client, path)}).status_code == 302
    worker()
    return camp_id


def _sent_through(page: str) -> dict[str, int]:
    block = page.split('id="sent-through"')[1].split("</dd>")[0]
    return {name: int(n) for name, n in re.findall(r'data-provider="([^"]+)" data-count="(\d+)"', block)}


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_round_robin_through_two_relays_shows_each_ones_count(client, workspace, smtp_sink, second_sink, worker):
    lst, tpl = _shop(workspace)
    a = _relay(workspace, "Relay A", smtp_sink.port, is_default=True)
    b = _relay(workspace, "Relay B", second_sink.port)
    camp_id = _create_and_send(client, worker, _form(client, lst, tpl, a.id, b.id, routing_strategy="round_robin"))

    db.session.expire_all()
    camp = db.session.get(Campaign, camp_id)
    assert camp.status == "sent"
    assert camp.routing_config == {
        "strategy": "round_robin",
        "providers": [a.id, b.id],
        "weights": {},
        "fallback": True,
    }
    page = client.get(f"/campaigns/{camp_id}").get_data(as_text=True)
    counts = _sent_through(page)
    assert set(counts) == {"Relay A", "Relay B"} and sum(counts.values()) == PEOPLE
    assert counts == {"Relay A": len(smtp_sink.messages), "Relay B": len(second_sink.messages)}
    assert smtp_sink.messages and second_sink.messages
    summary = _text(page.split('id="routing-summary"')[1].split("</dd>")[0])
    assert "Round-robin · Relay A, Relay B · failover on" in summary
    assert 'id="failover-note"' not in page
    live = client.get(f"/campaigns/{camp_id}/progress")  # the fragment that refreshes while sending
    assert live.status_code == 286 and _sent_through(live.get_data(as_text=True)) == counts


def test_a_relay_that_refuses_connections_fails_over_to_the_next_and_the_page_says_so(
    client, workspace, smtp_sink, worker
):
    lst, tpl = _shop(workspace)
    broken = _relay(workspace, "Broken relay", free_port(), is_default=True)  # nobody listens there
    backup = _relay(workspace, "Backup relay", smtp_sink.port)
    form = _form(client, lst, tpl, broken.id, backup.id, routing_strategy="priority")
    camp_id = _create_and_send(client, worker, form)

    got = Counter(m["rcpt_tos"][0] for m in smtp_sink.messages)
    assert got == Counter({f"p{i}@example.com": 1 for i in range(PEOPLE)})  # everyone, exactly once
    page = client.get(f"/campaigns/{camp_id}").get_data(as_text=True)
    assert _sent_through(page) == {"Backup relay": PEOPLE}
    note = _text(page.split('id="failover-note"')[1].split("</div>")[0])
    assert re.search(
        r"Failed over from Broken relay to Backup relay at \d\d \w{3} \d{4}, \d\d:\d\d ?: cannot connect to 127\.0\.0\.1:",
        note,
    ), note
    assert "Priority · Broken relay, Backup relay · failover on" in _text(page)


@pytest.mark.parametrize("case", ["negative weight", "unknown provider", "another workspace's provider"])
def test_bad_routing_is_refused_with_its_reason_and_nothing_is_saved(client, workspace, make_workspace, case):
    lst, tpl = _shop(workspace)
    a = _relay(workspace, "Relay A", 2525)
    b = _relay(workspace, "Relay B", 2526)
    if case == "negative weight":
        form = _form(client, lst, tpl, a.id, b.id, routing_strategy="weighted", **{f"routing_weight-{a.id}": "-1"})
        expected = "is a number from 0 to 1000"
    else:
        stranger = (
            99_999
            if case == "unknown provider"
            else providers.create_provider(
                make_workspace("Other", "other@example.com").id, "Theirs", "smtp", {"host": "127.0.0.1", "port": 25}, {}
            ).id
        )
        db.session.commit()
        form = _form(client, lst, tpl, a.id, stranger, routing_strategy="round_robin")
        expected = "is not one of this workspace&#39;s providers"

    r = client.post("/campaigns/new", data=form)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert expected in _text(page.split('id="routing-errors"')[1].split("</div>")[0])
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    # What was typed is all still there.
    assert 'value="Spring sale"' in page
    assert re.search(r'name="routing_mode" value="several" id="[^"]+" checked', page)
    assert re.search(rf'name="routing_providers" value="{a.id}" id="[^"]+" checked', page)
    if case == "negative weight":
        assert f'name="routing_weight-{a.id}" value="-1"' in page
        assert re.search(r'<option value="weighted" selected>', page)


def test_editing_shows_the_saved_routing_and_default_provider_clears_it(client, workspace, smtp_sink, second_sink):
    lst, tpl = _shop(workspace)
    a = _relay(workspace, "Relay A", smtp_sink.port)
    b = _relay(workspace, "Relay B", second_sink.port)
    form = _form(
        client,
        lst,
        tpl,
        a.id,
        b.id,
        routing_strategy="weighted",
        **{f"routing_order-{a.id}": "2", f"routing_order-{b.id}": "1", f"routing_weight-{a.id}": "1"},
        **{f"routing_weight-{b.id}": "3"},
    )
    r = client.post("/campaigns/new", data=form)
    assert r.status_code == 302
    camp = db.session.scalar(select(Campaign))
    assert camp.routing_config == {
        "strategy": "weighted",
        "providers": [b.id, a.id],  # by the order typed
        "weights": {str(b.id): 3, str(a.id): 1},
        "fallback": True,
    }
    page = client.get(f"/campaigns/{camp.id}/edit").get_data(as_text=True)
    assert re.search(r'name="routing_mode" value="several" id="[^"]+" checked', page)
    assert f'name="routing_weight-{b.id}" value="3"' in page
    assert page.index(f'name="routing_order-{b.id}" value="1"') < page.index(f'name="routing_order-{a.id}" value="2"')

    edit = {k: v for k, v in form.items() if not k.startswith("routing_")}
    edit.update(csrf_token=_token(client, f"/campaigns/{camp.id}/edit"), routing_mode="default")
    assert client.post(f"/campaigns/{camp.id}/edit", data=edit).status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, camp.id).routing_config is None
