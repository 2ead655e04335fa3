"""SpamAssassin's score of a campaign: a real spamd (offline config of deploy/spamassassin) on a
free port when it is installed (make test installs it as root), and a dead port's honest answer."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from app.extensions import db
from app.services.advisor import content_checks, spamassassin
from tests.factories import create_campaign, create_list, create_subscribers, create_template, people
from tests.support import stop_process

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "spamassassin"
CLEAN = (
    "<!doctype html><html><body><h1>Hello {{ subscriber.name }}</h1>"
    "<p>Our spring collection has arrived: linen shirts, light jackets and the canvas bags you asked for. "
    "Everything is made in small batches in our Porto workshop, and every order ships the next day.</p>"
    '<p><a href="https://shop.example.com/spring">See the collection</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
SPAMMY = (
    '<html><body><img src="https://cdn.example.com/win.png"><a href="https://bit.ly/3xYz">CLICK</a> '
    'FREE MONEY 100% GUARANTEED!!! ACT NOW $$$ <a href="{{ unsubscribe_url }}">u</a></body></html>'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def spamd():
    if not shutil.which("spamd"):
        pytest.skip("spamd is not installed (apt-get install spamassassin)")
    port = free_port()
    cmd = ["spamd", f"--siteconfigpath={CONFIG}", f"--listen=127.0.0.1:{port}", "--nouser-config", "--local"]
    cmd += ["--max-children=1", "--syslog=stderr"] + (["--username=nobody"] if _root() else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("spamd exited: " + proc.stderr.read().decode()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("spamd did not start listening within 60 s")
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.fixture
def use_spamd(app):
    """Point the API's app and the services' app (tests call services in their own context) at `address`."""
    from flask import current_app

    configs = [app.config, current_app.config]

    def point(address):
        for cfg in configs:
            cfg["SPAMD_ADDRESS"] = address

    yield point
    point(spamassassin.DEFAULT_ADDRESS)


def campaign(workspace, html, subject):
    lst = create_list(workspace.id, f"L {subject}")
    create_subscribers(workspace.id, people(1, email="s{i}@example.org"), lst.id)
    tpl = create_template(workspace.id, subject=subject, html=html, name=f"T {subject}")
    camp = create_campaign(workspace.id, tpl.id, [lst.id])
    db.session.commit()
    return camp


def test_spammy_scores_higher_than_clean_and_the_api_conforms(workspace, api, conforms, spamd, use_spamd):
    use_spamd(spamd)
    clean = campaign(workspace, CLEAN, "Spring is here")
    spammy = campaign(workspace, SPAMMY, "FREE MONEY WINNER!!!")
    good = conforms(api.post(f"/campaigns/{clean.id}/spam-check"), "SpamCheck")
    bad = conforms(api.post(f"/campaigns/{spammy.id}/spam-check"), "SpamCheck")
    assert good["available"] and bad["available"]
    assert bad["score"] > good["score"]
    assert good["threshold"] == 5.0
    names = {r["name"] for r in bad["rules"]}
    assert "SUBJ_ALL_CAPS" in names and any(n.startswith("HTML_IMAGE_ONLY") for n in names)
    assert all(r["description"] for r in bad["rules"])
    assert not {"NO_RELAYS", "NO_RECEIVED"} & {r["name"] for r in good["rules"]}
    # The same score, as the advisor's finding.
    found = [f for f in content_checks.check_campaign(workspace.id, spammy.id) if f["check"] == "spamassassin"]
    if bad["score"] >= bad["threshold"] / 2:
        assert found and found[0]["evidence"]["rules"]
    assert not [f for f in content_checks.check_campaign(workspace.id, clean.id) if f["check"] == "spamassassin"]


def test_dead_port_says_spamd_is_not_running(workspace, api, conforms, use_spamd):
    address = f"127.0.0.1:{free_port()}"
    use_spamd(address)
    camp = campaign(workspace, CLEAN, "Spring is here")
    out = conforms(api.post(f"/campaigns/{camp.id}/spam-check"), "SpamCheck")
    assert out["available"] is False and out["rules"] == [] and out["score"] is None
    assert f"spamd) is not running at {address}" in out["message"]
    (info,) = [f for f in content_checks.check_campaign(workspace.id, camp.id) if f["check"] == "spamassassin"]
    assert info["severity"] == "info" and "not running" in info["message"]


def test_each_ab_variant_is_scored_and_spamd_away_is_said_once(workspace, spamd, use_spamd):
    spammy = create_template(workspace.id, subject="Unused", html=SPAMMY, name="T spammy variant")
    lst = create_list(workspace.id, "L variants")
    create_subscribers(workspace.id, people(1, email="v{i}@example.org"), lst.id)
    clean = create_template(workspace.id, subject="Spring is here", html=CLEAN, name="T clean main")
    ab_test = {"test_percent": 20, "metric": "opens", "wait_minutes": 60, "auto_pick": True}
    variants = [{}, {"subject": "FREE MONEY WINNER!!!", "template_id": spammy.id}]
    camp = create_campaign(workspace.id, clean.id, [lst.id], ab_test=ab_test, variants=variants)
    db.session.commit()

    use_spamd(spamd)
    scores = [f for f in content_checks.check_campaign(workspace.id, camp.id) if f["check"].startswith("spamassassin")]
    alone = spamassassin.check_campaign_spam(workspace.id, campaign(workspace, SPAMMY, "FREE MONEY WINNER!!!").id)
    if alone.score >= alone.threshold / 2:  # variant B's message is that one: it scores as it does
        (b,) = scores
        assert b["check"] == "spamassassin:b" and b["message"].startswith("Variant B: SpamAssassin gives it")
        assert b["evidence"]["variant"] == "B" and b["evidence"]["score"] == alone.score
    else:
        assert scores == []

    use_spamd(f"127.0.0.1:{free_port()}")
    (away,) = [f for f in content_checks.check_campaign(workspace.id, camp.id) if "spamassassin" in f["check"]]
    assert away["check"] == "spamassassin" and "not running" in away["message"]


def test_another_workspace_campaign_is_404(app, workspace, api, make_workspace):
    other = make_workspace()
    camp = campaign(other, CLEAN, "Theirs")
    assert api.post(f"/campaigns/{camp.id}/spam-check").status_code == 404


def test_report_parsing_reads_wrapped_descriptions():
    reply = (
        "SPAMD/1.1 0 EX_OK\r\nContent-length: 10\r\nSpam: True ; 7.7 / 5.0\r\n\r\n"
        "Content analysis details:   (7.7 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        " 1.7 HTML_IMAGE_ONLY_04     BODY: HTML: images with 0-400 bytes of words\n"
        " 0.1 MIME_HEADER_CTYPE_ONLY 'Content-Type' found without required MIME\n"
        "                            headers\n"
        "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\n\n"
    )
    out = spamassassin.parse_report(reply)
    assert (out.available, out.score, out.threshold) == (True, 7.7, 5.0)
    assert [(r.name, r.score) for r in out.rules] == [
        ("HTML_IMAGE_ONLY_04", 1.7),
        ("MIME_HEADER_CTYPE_ONLY", 0.1),
        ("NO_RELAYS", -0.0),
    ]
    assert out.rules[1].description.endswith("MIME headers")
    assert spamassassin.explain("HTML_IMAGE_RATIO_06").startswith("There is little text")
    assert not spamassassin.parse_report("SPAMD/1.0 76 Bad header line").available


def test_the_campaign_page_scores_the_message_and_says_when_spamd_is_away(client, workspace, app, monkeypatch):
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, people(1), lst.id)
    camp = create_campaign(workspace.id, create_template(workspace.id).id, [lst.id])
    db.session.commit()
    monkeypatch.setitem(app.config, "SPAMD_ADDRESS", "127.0.0.1:1")  # nothing listens there
    page = client.get(f"/campaigns/{camp.id}")
    assert 'id="presend"' in page.text and 'hx-trigger="load"' in page.text  # the panel loads after the page
    panel = client.get(f"/campaigns/{camp.id}/presend", headers={"HX-Request": "true"})
    assert 'id="spam-score"' in panel.text
    away = client.get(f"/campaigns/{camp.id}/spam-score", headers={"HX-Request": "true"})
    assert away.status_code == 200 and 'data-spam="unavailable"' in away.text and "spamd" in away.text


def test_the_campaign_page_shows_the_score_and_its_top_rules(client, workspace, spamd, use_spamd):
    use_spamd(spamd)
    lst = create_list(workspace.id, "All")
    create_subscribers(workspace.id, people(1), lst.id)
    camp = create_campaign(workspace.id, create_template(workspace.id).id, [lst.id])
    db.session.commit()
    shown = client.get(f"/campaigns/{camp.id}/spam-score", headers={"HX-Request": "true"})
    assert shown.status_code == 200 and "data-spam-score=" in shown.text and "SpamAssassin" in shown.text
