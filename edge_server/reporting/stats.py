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
    if n <= 0:
        return 0.0, 1.0
    p = x / n
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
    """Treatment (x1/n1) against baseline (x0/n0)."""
    if n1 <= 0 or n0 <= 0:
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
