"""The A/B test statistics against values published for the same data, and the rules a
test's settings must follow."""

import math

import pytest

from app.services.campaigns import ab_stats
from app.services.campaigns.ab_tests import clean_settings


def test_z_test_matches_a_chi_square_test_of_the_same_table():
    # R: prop.test(c(250, 200), c(1000, 1000), correct = FALSE) -> X-squared = 7.1685, p-value = 0.007419
    c = ab_stats.two_proportion_z_test(250, 1000, 200, 1000)
    assert c.enough_data and c.significant
    assert c.z**2 == pytest.approx(7.1685, abs=1e-4)
    assert c.p_value == pytest.approx(0.007419, abs=1e-6)
    # R: prop.test(c(60, 40), c(500, 500), correct = FALSE) -> X-squared = 4.4444, p-value = 0.03501
    c = ab_stats.two_proportion_z_test(60, 500, 40, 500)
    assert c.z == pytest.approx(math.sqrt(4.4444), abs=1e-4)
    assert c.p_value == pytest.approx(0.03501, abs=1e-5) and c.significant


def test_the_test_is_two_sided_and_symmetric():
    ahead = ab_stats.two_proportion_z_test(250, 1000, 200, 1000)
    behind = ab_stats.two_proportion_z_test(200, 1000, 250, 1000)
    assert behind.z == pytest.approx(-ahead.z) and behind.p_value == pytest.approx(ahead.p_value)


def test_normal_tails_at_the_usual_critical_values():
    assert ab_stats.two_sided_p(1.959963984540054) == pytest.approx(0.05, abs=1e-12)
    assert ab_stats.two_sided_p(2.5758293035489) == pytest.approx(0.01, abs=1e-12)
    assert ab_stats.normal_cdf(1.6448536269514722) == pytest.approx(0.95, abs=1e-12)
    assert ab_stats.normal_cdf(0) == 0.5
    assert 0 < ab_stats.two_sided_p(12) < 1e-30  # far tails keep their precision (erfc, not 1 - erf)


def test_a_small_difference_on_a_large_sample_is_not_significant():
    # R: prop.test(c(205, 200), c(1000, 1000), correct = FALSE) -> X-squared = 0.077403, p-value = 0.7808
    c = ab_stats.two_proportion_z_test(205, 1000, 200, 1000)
    assert c.enough_data and not c.significant and c.p_value == pytest.approx(0.7808, abs=1e-4)


def test_equal_rates_give_p_one():
    c = ab_stats.two_proportion_z_test(100, 1000, 100, 1000)
    assert c.z == 0 and c.p_value == 1.0 and not c.significant


@pytest.mark.parametrize(
    "a, n_a, b, n_b",
    [
        (4, 40, 1, 40),  # too few successes expected
        (3, 10, 0, 10),  # tiny groups
        (10, 10, 10, 10),  # no failures at all
        (0, 0, 5, 100),  # nothing delivered to one side
        (0, 1000, 0, 1000),  # nobody opened yet
    ],
)
def test_small_samples_say_not_enough_data(a, n_a, b, n_b):
    c = ab_stats.two_proportion_z_test(a, n_a, b, n_b)
    assert not c.enough_data and not c.significant and c.p_value is None


def _row(label, delivered, opens, clicks=0):
    return {"label": label, "delivered": delivered, "unique_opens": opens, "unique_clicks": clicks}


def test_the_leader_has_the_best_rate_not_the_most_opens_and_ties_go_to_the_earliest_label():
    rows = [_row("A", 1000, 150), _row("B", 500, 100), _row("C", 1000, 120)]
    assert ab_stats.leader(rows, "unique_opens")["label"] == "B"  # 20% beats 15% despite fewer opens
    tied = [_row("A", 100, 10), _row("B", 100, 20), _row("C", 100, 20)]
    assert ab_stats.leader(tied, "unique_opens")["label"] == "B"
    assert ab_stats.leader([_row("A", 0, 0), _row("B", 0, 0)], "unique_opens")["label"] == "A"
    assert ab_stats.leader([], "unique_opens") is None


def test_the_leader_is_compared_with_every_other_variant():
    rows = [_row("A", 1000, 200), _row("B", 1000, 250), _row("C", 1000, 245)]
    best, comparisons = ab_stats.compare_to_leader(rows, "unique_opens")
    assert best["label"] == "B" and set(comparisons) == {"A", "C"}
    assert comparisons["A"].significant and comparisons["A"].p_value == pytest.approx(0.007419, abs=1e-6)
    assert not comparisons["C"].significant


# Settings --------------------------------------------------------------------------------------


def _settings(**overrides):
    errors = {}
    raw = {"test_percent": 20, "metric": "opens", "wait_minutes": 240, "auto_pick": True, **overrides}
    cleaned = clean_settings(raw, True, True, errors)
    return cleaned, errors


def test_good_settings_are_kept_and_missing_ones_take_the_defaults():
    assert _settings() == ({"test_percent": 20, "metric": "opens", "wait_minutes": 240, "auto_pick": True}, {})
    errors = {}
    assert clean_settings({}, True, True, errors)["wait_minutes"] == 240 and not errors
    assert _settings(test_percent="10", wait_minutes="60", auto_pick="off")[0]["auto_pick"] is False


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"test_percent": 1}, "ab_test.test_percent"),
        ({"test_percent": 51}, "ab_test.test_percent"),  # nothing would be left for the winner
        ({"test_percent": "lots"}, "ab_test.test_percent"),
        ({"test_percent": True}, "ab_test.test_percent"),
        ({"wait_minutes": 4}, "ab_test.wait_minutes"),
        ({"wait_minutes": 7 * 24 * 60 + 1}, "ab_test.wait_minutes"),
        ({"metric": "revenue"}, "ab_test.metric"),
        ({"auto_pick": "perhaps"}, "ab_test.auto_pick"),
    ],
)
def test_bad_settings_name_the_field(overrides, field):
    _, errors = _settings(**overrides)
    assert list(errors) == [field] and errors[field]


def test_the_metric_must_be_tracked():
    errors = {}
    clean_settings({"metric": "opens"}, False, True, errors)
    assert "open tracking" in errors["ab_test.metric"]
    errors = {}
    clean_settings({"metric": "clicks"}, True, False, errors)
    assert "click tracking" in errors["ab_test.metric"]
    errors = {}
    clean_settings("20%", True, True, errors)
    assert list(errors) == ["ab_test"]
