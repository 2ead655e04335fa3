"""Each campaign recipient's mailbox provider, written set-based when the audience is materialized, from
MX answers cached in `mailbox_domains` for every workspace; looked up through the one resolver against a
real DNS server on loopback (dnslib), shown in the API and on the campaign page."""

import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from flask import current_app
from jsonschema import Draft202012Validator
from sqlalchemy import select, update

from app import dns
from app.extensions import db
from app.models import CampaignRecipient, ListSubscriber, MailboxDomain, Subscriber
from app.services.campaigns import lifecycle, recipients
from app.services.delivery import mailbox_cache
from tests.dns_support import ZoneServer
from tests.factories import create_campaign, create_list, create_subscribers, create_template, smtp_campaign
from tests.support import free_port

# The MX sets as these providers publish them.
ZONE = (
    "gmail.com. 300 IN MX 5 gmail-smtp-in.l.google.com.",
    "gmail.com. 300 IN MX 10 alt1.gmail-smtp-in.l.google.com.",
    "contoso.example. 300 IN MX 0 contoso-example.mail.protection.outlook.com.",  # Microsoft 365
    "yahoo.com. 300 IN MX 1 mta5.am0.yahoodns.net.",
    "yahoo.com. 300 IN MX 1 mta6.am0.yahoodns.net.",
    "icloud.com. 300 IN MX 10 mx01.mail.icloud.com.",
    "icloud.com. 300 IN MX 10 mx02.mail.icloud.com.",
    "smallshop.example. 300 IN MX 10 mail.smallshop.example.",  # its own server: other
    "parked.example. 300 IN MX 0 .",  # null MX: takes no mail
)
REFUSED = "broken.example"  # the server refuses to answer: unknown, never guessed

# Address -> the group its row must hold.
EXPECTED = {
    "ann@gmail.com": "gmail",
    "amy@gmail.com": "gmail",
    "bob@contoso.example": "microsoft",
    "cat@yahoo.com": "yahoo",
    "dan@icloud.com": "apple",
    "eve@smallshop.example": "other",
    "fay@nowhere.example": "other",  # NXDOMAIN: no MX at all
    "gus@parked.example": "none",
    "hal@broken.example": None,
}


@pytest.fixture
def dns_server(app, ctx, monkeypatch):
    """A zone server every lookup goes to, from the tests' services and the RQ worker, with a budget."""
    from workers.jobs import _app

    with ZoneServer() as server:
        server.set(*ZONE)
        server.refuse(REFUSED)
        for config in (current_app.config, _app().config):
            monkeypatch.setitem(config, "DNS_NAMESERVERS", server.address)
            monkeypatch.setitem(config, "DNS_TIMEOUT", 2.0)
            monkeypatch.setitem(config, "MX_LOOKUP_BUDGET", 3.0)
        yield server


def _audience(workspace_id: int, emails, list_name: str = "Customers"):
    lst = create_list(workspace_id, list_name)
    create_subscribers(workspace_id, [{"email": e} for e in emails], lst.id)
    return lst


def _materialize(workspace_id: int, list_id: int, name: str = "Spring") -> int:
    """A campaign to the list, its audience materialized here (as the prepare job does); its id."""
    tpl = create_template(workspace_id, name=f"{name} template")
    camp = create_campaign(workspace_id, tpl.id, [list_id], name=name)
    db.session.commit()
    lifecycle.send_now(workspace_id, camp.id)
    db.session.commit()
    recipients.prepare_campaign(camp.id)
    db.session.commit()
    return camp.id


def _groups(campaign_id: int) -> dict:
    rows = db.session.execute(
        select(CampaignRecipient.email, CampaignRecipient.mailbox_provider).where(
            CampaignRecipient.campaign_id == campaign_id
        )
    )
    return dict(rows.all())


def _forget_answers() -> None:
    """Empty this process's resolver cache, as another worker process would start: only the table remembers."""
    dns.resolver().cache.flush()


def test_each_recipient_row_and_the_api_carry_the_mailbox_provider_of_its_domain(
    workspace, smtp_sink, worker, api, dns_server
):
    camp = smtp_campaign(workspace, smtp_sink, [{"email": e} for e in EXPECTED])
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()  # the real pipeline: the prepare job looks the domains up, then the batches send
    assert len(smtp_sink.messages) == len(EXPECTED)
    assert _groups(camp.id) == EXPECTED

    # One question per domain however many recipients share it; the refused one is asked, not stored.
    assert dns_server.queries[("gmail.com", "MX")] == 1
    assert dns_server.queries[(REFUSED, "MX")] >= 1
    cached = {row.domain: row for row in db.session.scalars(select(MailboxDomain))}
    assert set(cached) == {e.partition("@")[2] for e, group in EXPECTED.items() if group}
    assert (cached["contoso.example"].provider, cached["contoso.example"].group) == ("microsoft365", "microsoft")
    assert cached["gmail.com"].mx == "gmail-smtp-in.l.google.com"
    assert cached["parked.example"].mx is None and cached["nowhere.example"].mx is None
    # A TTL of 300 s is kept an hour (MX records rarely change faster); never more than a week.
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    assert all(soon - timedelta(minutes=1) < row.expires_at < soon + timedelta(minutes=1) for row in cached.values())

    document = api.get("/openapi.json").get_json()
    answer = api.get(f"/campaigns/{camp.id}/recipients?per_page=100")
    assert answer.status_code == 200
    schema = {"$ref": "#/components/schemas/RecipientPage", "components": document["components"]}
    assert not list(Draft202012Validator(schema).iter_errors(answer.json))
    assert {r["email"]: r["mailbox_provider"] for r in answer.json["items"]} == EXPECTED


def test_a_second_campaign_to_the_same_domains_asks_dns_only_about_the_one_never_answered(workspace, dns_server):
    first = _materialize(workspace.id, _audience(workspace.id, EXPECTED).id)
    assert _groups(first) == EXPECTED
    _forget_answers()
    before = Counter(dns_server.queries)

    others = [f"new.{e}" for e in EXPECTED]  # other people at the same domains, in another list
    second = _materialize(workspace.id, _audience(workspace.id, others, "Prospects").id, "Summer")
    assert _groups(second) == {f"new.{e}": group for e, group in EXPECTED.items()}
    asked_again = Counter(dns_server.queries) - before
    assert set(asked_again) == {(REFUSED, "MX")}  # the table answered for every other domain


def test_an_expired_answer_is_looked_up_again_and_an_unexpired_one_is_trusted(workspace, dns_server):
    now = datetime.now(timezone.utc)
    dns_server.set(*ZONE, "moved.example. 300 IN MX 1 smtp.google.com.")
    db.session.add_all(
        [
            # moved.example left Yahoo for Google Workspace; its cached answer ran out yesterday.
            MailboxDomain(domain="moved.example", provider="yahoo", group="yahoo", expires_at=now - timedelta(days=1)),
            # A fresh answer is used as it is, without asking (the zone has nothing for this name).
            MailboxDomain(domain="kept.example", provider="icloud", group="apple", expires_at=now + timedelta(days=2)),
        ]
    )
    db.session.commit()
    camp = _materialize(workspace.id, _audience(workspace.id, ["ivy@moved.example", "joe@kept.example"]).id)
    assert _groups(camp) == {"ivy@moved.example": "gmail", "joe@kept.example": "apple"}
    assert dns_server.queries[("moved.example", "MX")] == 1 and dns_server.queries[("kept.example", "MX")] == 0
    db.session.expire_all()
    moved = db.session.get(MailboxDomain, "moved.example")
    assert (moved.provider, moved.group, moved.mx) == ("google_workspace", "gmail", "smtp.google.com")
    assert moved.expires_at > now + timedelta(minutes=59)


def test_a_dead_dns_server_holds_materialization_no_longer_than_the_budget_and_leaves_providers_unknown(
    workspace, ctx, monkeypatch
):
    config = current_app.config
    monkeypatch.setitem(config, "DNS_NAMESERVERS", f"127.0.0.1:{free_port()}")  # nothing answers there
    monkeypatch.setitem(config, "DNS_TIMEOUT", 3.0)
    monkeypatch.setitem(config, "MX_LOOKUP_BUDGET", 0.5)
    emails = [f"p{i}@domain{i}.example" for i in range(60)]  # 60 lookups of 3 s each, 16 at a time
    lst = _audience(workspace.id, emails)
    started = time.monotonic()
    camp = _materialize(workspace.id, lst.id)
    assert time.monotonic() - started < 2.5
    assert _groups(camp) == {e: None for e in emails}
    assert db.session.scalar(select(MailboxDomain).limit(1)) is None
    assert mailbox_cache.refresh_domains(["gmail.com"], budget_seconds=0) == 0  # 0: no lookups at all


def test_accented_and_idna_domains_are_looked_up_by_their_dns_names_without_crashing(workspace, dns_server):
    dns_server.set(
        *ZONE,
        "xn--exmple-cua.com. 300 IN MX 10 mx01.mail.icloud.com.",  # exämple.com
        "xn--bcher-kva.test. 300 IN MX 1 aspmx.l.google.com.",  # bücher.test
    )
    lst = _audience(workspace.id, ["JOSÉ@Exämple.com"])  # the importer keeps the Unicode domain, lower-cased
    # Rows written as given, by older versions or straight into the database: case, a reserved name,
    # a name IDNA refuses and a label too long for DNS.
    for email in ("ZOË@BÜCHER.TEST", "snow@☃.example", f"long@{'a' * 70}.example"):
        sub = Subscriber(workspace_id=workspace.id, email=email, status="active")
        db.session.add(sub)
        db.session.flush()
        db.session.add(ListSubscriber(list_id=lst.id, subscriber_id=sub.id))
    db.session.commit()
    camp = _materialize(workspace.id, lst.id)
    assert _groups(camp) == {
        "josé@exämple.com": "apple",
        "ZOË@BÜCHER.TEST": "gmail",
        "snow@☃.example": None,
        f"long@{'a' * 70}.example": None,
    }
    assert dns_server.queries[("xn--exmple-cua.com", "MX")] == 1
    assert dns_server.queries[("xn--bcher-kva.test", "MX")] == 1


def test_the_campaign_page_shows_recipients_sent_bounced_and_opened_by_mailbox_provider(
    workspace, smtp_sink, worker, client, dns_server
):
    camp = smtp_campaign(workspace, smtp_sink, [{"email": e} for e in EXPECTED])
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    cr = CampaignRecipient
    now = datetime.now(timezone.utc)
    db.session.execute(update(cr).where(cr.email == "ann@gmail.com").values(status="bounced"))
    db.session.execute(update(cr).where(cr.email.in_(["amy@gmail.com", "dan@icloud.com"])).values(opened_at=now))
    db.session.execute(update(cr).where(cr.email == "amy@gmail.com").values(human_opened_at=now))  # Dan's: Apple's
    db.session.commit()

    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert "By mailbox provider" in page
    table = page[page.index('id="mailbox-providers-table"') :]
    table = table[: table.index("</table>")]
    rows = {}
    for group, cells in re.findall(r'<tr data-group="([^"]+)">(.*?)</tr>', table, re.S):
        label = re.search(r"<td>([^<]+)</td>", cells).group(1)
        rows[group] = (label, [int(n) for n in re.findall(r'data-count="(\d+)"', cells)])
    # recipients, sent, bounced, opened by people, opened raw; the largest group first and Unknown last
    assert rows == {
        "gmail": ("Gmail", [2, 2, 1, 1, 1]),
        "other": ("Other", [2, 2, 0, 0, 0]),
        "apple": ("Apple", [1, 1, 0, 0, 1]),
        "microsoft": ("Microsoft", [1, 1, 0, 0, 0]),
        "none": ("Accepts no mail (null MX)", [1, 1, 0, 0, 0]),
        "yahoo": ("Yahoo", [1, 1, 0, 0, 0]),
        "unknown": ("Unknown", [1, 1, 0, 0, 0]),
    }
    assert list(rows)[:2] == ["gmail", "other"] and list(rows)[-1] == "unknown"
    assert "50.0% · 1 of 2" in table  # rates with their denominators
