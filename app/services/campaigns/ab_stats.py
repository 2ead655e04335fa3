"""The statistics of an A/B test, as pure functions (no database, no Flask): which variant
leads on a metric, and whether its lead over each other variant is more than chance.

The test is the two-proportion z-test, two-sided, with the pooled proportion: the standard
way to compare two rates such as "opened / delivered". Its normal approximation only holds
when each group expects at least a few successes and a few failures, so below that it
answers "not enough data" rather than a p-value nobody should trust.
"""

import math
from dataclasses import dataclass

ALPHA = 0.05  # 95% confidence
MIN_EXPECTED = 5  # successes and failures each group must expect under the pooled rate


@dataclass(frozen=True)
class Comparison:
    """The leader against one other variant."""

    enough_data: bool
    z: float | None = None
    p_value: float | None = None

    @property
    def significant(self) -> bool:
        return self.enough_data and self.p_value is not None and self.p_value < ALPHA


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|). erfc keeps precision for large |z|, where 1 - erf(...) would round to 0."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> Comparison:
    """Is rate a = successes_a / n_a different from rate b? (pooled, two-sided, 95%)."""
    if n_a <= 0 or n_b <= 0:
        return Comparison(False)
    pooled = (successes_a + successes_b) / (n_a + n_b)
    for n in (n_a, n_b):
        if n * pooled < MIN_EXPECTED or n * (1 - pooled) < MIN_EXPECTED:
            return Comparison(False)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (successes_a / n_a - successes_b / n_b) / se
    return Comparison(True, z, two_sided_p(z))


def rate(successes: int, n: int) -> float:
    return successes / n if n > 0 else 0.0


def leader(rows: list[dict], metric_key: str) -> dict | None:
    """The row with the best rate of `metric_key` over `delivered`; a tie goes to the earliest label."""
    if not rows:
        return None
    return min(rows, key=lambda r: (-rate(r[metric_key], r["delivered"]), r["label"]))


def compare_to_leader(rows: list[dict], metric_key: str) -> tuple[dict | None, dict[str, Comparison]]:
    """The leader, and for every other row (by label) how the leader's lead over it tests."""
    best = leader(rows, metric_key)
    if best is None:
        return None, {}
    return best, {
        r["label"]: two_proportion_z_test(best[metric_key], best["delivered"], r[metric_key], r["delivered"])
        for r in rows
        if r is not best
    }
