"""Statistics for the measurement report (docs/measurement.md states each method).

- conversion rate with a 95% Wilson score interval (good coverage at small rates and counts);
- relative lift p1/p0 - 1 with a 95% interval from the delta method on log(p1/p0);
- a two-sided two-proportion z-test (pooled variance) for the difference;
- a chi-square goodness-of-fit test of the exposure split against the configured weights
  (sample-ratio mismatch; flagged below p = 0.001, the usual SRM threshold).
Pure Python (math.erfc and a regularised incomplete gamma), no SciPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
SRM_ALPHA = 0.001


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson interval of the rate ``x / n``. More conversions than visits (counters of part of
    a fleet, or forged) give the interval of a rate of 1, not an error.

    >>> wilson(0, 0), wilson(12, 10) == wilson(10, 10)
    ((0.0, 1.0), True)
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(x / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Comparison:
    lift: float | None  # relative, e.g. 0.25 = +25%
    low: float | None
    high: float | None
    p_value: float | None


def compare(x1: int, n1: int, x0: int, n0: int) -> Comparison:
    """Treatment (x1/n1) against baseline (x0/n0); none when either rate is above 1 (more
    conversions than visits: counters of part of a fleet, or forged)."""
    if n1 <= 0 or n0 <= 0 or x1 > n1 or x0 > n0:
        return Comparison(None, None, None, None)
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = math.erfc(abs(p1 - p0) / se / math.sqrt(2)) if se > 0 else (1.0 if p1 == p0 else 0.0)
    if x1 == 0 or x0 == 0:
        return Comparison((p1 / p0 - 1) if p0 > 0 else None, None, None, p_value)
    rr = p1 / p0
    se_log = math.sqrt((1 - p1) / x1 + (1 - p0) / x0)
    return Comparison(rr - 1, math.exp(math.log(rr) - Z95 * se_log) - 1, math.exp(math.log(rr) + Z95 * se_log) - 1, p_value)


def _gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (Numerical Recipes: series or continued fraction)."""
    if x <= 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    b = x + 1 - a
    c = 1 / 1e-300
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - lg) * h)


def chi_square_p(chi2: float, df: int) -> float:
    return _gammaincc(df / 2, chi2 / 2) if df > 0 else 1.0


def srm(observed: list[int], weights: list[float]) -> tuple[float, float]:
    """(chi-square, p-value) of observed counts against expected proportions ``weights``."""
    total = sum(observed)
    wsum = sum(weights)
    if total == 0 or wsum <= 0:
        return 0.0, 1.0
    chi2 = 0.0
    for o, w in zip(observed, weights):
        e = total * w / wsum
        if e > 0:
            chi2 += (o - e) ** 2 / e
    return chi2, chi_square_p(chi2, len(observed) - 1)


def mantel_haenszel(strata: list[tuple[int, int, int, int]]) -> Comparison:
    """Risk ratio of treatment against baseline over strata ``(x1, n1, x0, n0)`` (one per
    allocation period), by the **Mantel-Haenszel** estimator, as a relative lift with a 95%
    interval from the Greenland-Robins variance of its logarithm and a Wald p-value.

    Within a stratum the arms were randomised with the same weights at the same time, so each
    stratum's comparison is fair; pooling the raw counts across strata whose weights differ is not
    (Simpson's paradox: an arm given more traffic in a period of higher base rate looks better).
    MH weights strata by their information and stays defined when a stratum has no conversion in
    one arm (unlike averaging per-stratum log ratios by inverse variance).
    """
    r_sum = s_sum = v_sum = 0.0
    for x1, n1, x0, n0 in strata:
        n = n1 + n0
        if n1 <= 0 or n0 <= 0:
            continue  # a stratum with one arm only says nothing about the comparison
        r_sum += x1 * n0 / n
        s_sum += x0 * n1 / n
        v_sum += (n1 * n0 * (x1 + x0) - x1 * x0 * n) / (n * n)
    if r_sum <= 0 or s_sum <= 0:
        return Comparison(None, None, None, None)
    rr = r_sum / s_sum
    se = math.sqrt(max(v_sum, 0.0) / (r_sum * s_sum))
    if se == 0:
        return Comparison(rr - 1, rr - 1, rr - 1, 1.0 if rr == 1 else 0.0)
    log_rr = math.log(rr)
    p_value = math.erfc(abs(log_rr) / se / math.sqrt(2))
    return Comparison(rr - 1, math.exp(log_rr - Z95 * se) - 1, math.exp(log_rr + Z95 * se) - 1, p_value)


def prob_best(arms: list[tuple[int, int]], draws: int, seed: int) -> list[float]:
    """Probability that each arm ``(conversions, visits)`` has the highest conversion rate, under
    independent Beta(1 + conversions, 1 + visits - conversions) posteriors (uniform priors):
    the share of ``draws`` Monte Carlo draws in which it is the largest (ties to the first).
    Deterministic for a seed."""
    import random

    rng = random.Random(seed)
    wins = [0] * len(arms)
    params = [(1.0 + x, 1.0 + max(n - x, 0)) for x, n in arms]
    beta = rng.betavariate
    for _ in range(draws):
        best, top = 0, -1.0
        for i, (a, b) in enumerate(params):
            v = beta(a, b)
            if v > top:
                best, top = i, v
        wins[best] += 1
    return [w / draws for w in wins] if draws > 0 else [1 / len(arms)] * len(arms)


def floored_weights(p: list[float], min_share: float) -> list[int]:
    """Integer percentage weights summing to 100 from probabilities ``p``: every arm gets at least
    ``ceil(100 * min_share)``, the rest is shared in proportion to ``p`` and rounded by largest
    remainder (ties to the earlier arm). ValueError when the floors alone exceed 100.

    >>> floored_weights([0.9, 0.1], 0.05), floored_weights([1.0, 0.0, 0.0], 0.05)
    ([86, 14], [90, 5, 5])
    """
    k = len(p)
    floor = math.ceil(round(100 * min_share, 9))
    free = 100 - k * floor
    if k == 0 or free < 0:
        raise ValueError(f"a minimum share of {min_share:g} for {k} arms is more than 100%")
    total = sum(p) or 1.0
    raw = [floor + free * q / total for q in p]
    out = [math.floor(r) for r in raw]
    order = sorted(range(k), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[: 100 - sum(out)]:
        out[i] += 1
    return out
