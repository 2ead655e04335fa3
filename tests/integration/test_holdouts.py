"""Holdouts: a share of the audience is never sent, and the campaign compares what each group bought —
the figures checked against hand-computed and published values."""

import pytest

from app.extensions import db
from app.models import CampaignRecipient
from app.services.campaigns import lifecycle
from app.services.events import attribution, holdouts
from tests.factories import people, smtp_campaign

# ---- the statistics, against published and hand-computed values ------------------------------------


def test_newcombes_interval_matches_his_paper():
    """Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 against 48/80, method 10."""
    d, low, high = holdouts.newcombe(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # Example (h), both proportions at 0: 0/10 against 0/20 gives −0.1611 to 0.2775.
    _, low, high = holdouts.newcombe(0, 10, 0, 20)
    assert (round(low, 4), round(high, 4)) == (-0.1611, 0.2775)


def test_wilson_and_the_t_quantile():
    low, high = holdouts.wilson(81, 263)  # Wilson's own worked example: 0.2553 to 0.3662 (Newcombe table I)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    for df, table in ((3, 3.182), (10, 2.228), (30, 2.042), (1000, 1.962)):
        assert holdouts.t_quantile(df) == pytest.approx(table, abs=0.01)


def test_welchs_interval_by_hand():
    # Group 1: revenue 10, 0, 0, 20 (n 4); group 2: 0, 0, 5 (n 3).
    # means 7.5 and 1.6667; variances 91.6667 and 8.3333; se = sqrt(22.9167 + 2.7778) = 5.0690;
    # df = 25.6944² / (22.9167²/3 + 2.7778²/2) = 660.2 / 178.9 = 3.69; t ≈ 2.90 → 5.8333 ± 14.7.
    d, low, high = holdouts.welch(30, 500, 4, 5, 25, 3)
    assert d == pytest.approx(5.8333, abs=1e-4)
    assert high - d == pytest.approx(d - low)
    assert (high - d) / 5.0690 == pytest.approx(2.90, abs=0.06)


# ---- a campaign with a holdout ---------------------------------------------------------------------------


def test_a_holdout_group_is_never_sent_and_the_campaign_reports_what_it_earned(api, conforms, workspace, smtp_sink, worker, client):  # fmt: skip
    camp = smtp_campaign(workspace, smtp_sink, people(1000, email="h{i}@example.org"))
    saved = api.c.patch(f"/api/v1/campaigns/{camp.id}", headers=api.h, json={"holdout_percent": 20})
    assert saved.status_code == 200, saved.get_json()
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()

    rows = {r.email: r for r in db.session.query(CampaignRecipient).filter_by(campaign_id=camp.id)}
    held = {e for e, r in rows.items() if r.status == "held_out"}
    expected = {e for e, r in rows.items() if (r.subscriber_id * 7919 + camp.id * 104_729) % 100 < 20}
    assert held == expected and 170 <= len(held) <= 230  # the same people as the hash says, about 20%
    received = {m["rcpt_tos"][0] for m in smtp_sink.messages}
    assert not received & held and len(received) == 1000 - len(held)  # never sent, everyone else once

    # Orders: 10% of those sent and 5% of those held out buy something for 40 EUR; one buys in USD.
    sent_people = sorted(set(rows) - held)
    held_people = sorted(held)
    buyers = sent_people[: len(sent_people) // 10] + held_people[: len(held_people) // 20]
    for n, email in enumerate(buyers):
        attribution.record_order(
            workspace.id, {"external_id": f"O{n}", "email": email, "amount": 40, "currency": "EUR"}
        )
    attribution.record_order(
        workspace.id, {"external_id": "USD", "email": held_people[-1], "amount": 999, "currency": "USD"}
    )
    db.session.commit()

    report = conforms(api.get(f"/campaigns/{camp.id}"), "Campaign")["holdout"]
    s, h = report["sent"], report["held_out"]
    assert (s["recipients"], h["recipients"]) == (len(sent_people), len(held_people))
    assert (s["conversions"], h["conversions"]) == (len(sent_people) // 10, len(held_people) // 20 + 1)
    assert report["currency"] == "EUR" and s["revenue"] == 40.0 * (len(sent_people) // 10)
    assert h["revenue"] == 40.0 * (len(held_people) // 20)  # the USD order converts, but is not summed in EUR
    d, low, high = holdouts.newcombe(s["conversions"], s["recipients"], h["conversions"], h["recipients"])
    assert report["conversion_rate_difference"] == pytest.approx({"value": d, "low": low, "high": high})
    assert report["verdict"] in ("the campaign brought more conversions", "no clear difference")
    page = client.get(f"/campaigns/{camp.id}").get_data(as_text=True)
    assert 'id="holdout"' in page and "Held out" in page
    assert conforms(api.get(f"/campaigns/{camp.id}"), "Campaign")["stats"]["total_recipients"] == 1000


def test_a_small_holdout_says_it_cannot_tell(api, workspace, smtp_sink, worker):
    camp = smtp_campaign(workspace, smtp_sink, people(40, email="s{i}@example.org"))
    api.c.patch(f"/api/v1/campaigns/{camp.id}", headers=api.h, json={"holdout_percent": 50})
    lifecycle.send_now(workspace.id, camp.id)
    db.session.commit()
    worker()
    report = api.get(f"/campaigns/{camp.id}").get_json()["holdout"]
    assert report["verdict"] == holdouts.TOO_FEW and report["held_out"]["recipients"] > 0


@pytest.mark.parametrize("value", [51, -1, "abc", 12.5, True])
def test_a_holdout_outside_0_to_50_is_refused(api, workspace, smtp_sink, value):
    camp = smtp_campaign(workspace, smtp_sink, people(2))
    answer = api.c.patch(f"/api/v1/campaigns/{camp.id}", headers=api.h, json={"holdout_percent": value})
    assert answer.status_code == 422 and "holdout_percent" in answer.get_json()["error"]["fields"]
